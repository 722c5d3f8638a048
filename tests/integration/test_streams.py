"""Stream sessions routed to plugins: live and every catchup form, error
mapping, admission, HEAD, slow and vanishing clients, ffprobe."""
import json
import socket
import time

import pytest

from conftest import demo_plugin, plugin_path, run, wait_for

TS = 188


def marker(daemon, path, headers=None):
    """Open a stream and parse the demo plugin's first (marker) packet."""
    s = socket.create_connection((daemon.host, daemon.port), timeout=10)
    req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
    for k, v in (headers or {}).items():
        req += "%s: %s\r\n" % (k, v)
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf or len(buf.partition(b"\r\n\r\n")[2]) < TS:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if status != 200:
        return status, json.loads(body)
    pkt = body[:TS]
    assert pkt[0] == 0x47 and ((pkt[1] & 0x1f) << 8 | pkt[2]) == 0x1ff0
    text = pkt[4:].split(b"\n")[0].decode()
    fields = dict(kv.split("=") for kv in text.split()[1:])
    return status, fields


@pytest.fixture
def sg(daemon):
    daemon.start(plugins=[demo_plugin(speed=4.0),
                          {"name": "demo_live", "path": plugin_path("demo_live"),
                           "channels": ({"id": "L", "name": "Live only"},)}])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 3, what="channels")
    return daemon


def test_live_and_catchup_forms_reach_the_plugin(sg):
    now = int(time.time())
    t = now - 3600
    status, f = marker(sg, "/1/mpegts")
    assert status == 200 and f == {"kind": "live", "channel": "1", "start": "0", "duration": "0",
                                   "format": "1"}
    assert marker(sg, "/1/live")[1]["kind"] == "live"
    cases = {
        "/1/%d" % t: (t, 0),
        "/1/%d.ts" % t: (t, 0),
        "/1/timeshift_abs-%d.ts" % t: (t, 0),
        "/1/archive-%d-600.ts" % t: (t, 600),
        "/1/anything-%d-30.ts" % t: (t, 30),
        "/1/archive/%d/600/mpegts" % t: (t, 600),
        "/1/timeshift_abs/%d" % t: (t, 0),
        "/1/mpegts/timeshift_abs-%d.ts" % t: (t, 0),
        "/1/mpegts?utc=%d&lutc=%d" % (t, now): (t, 0),
        "/1/%s" % time.strftime("%Y%m%d%H%M%S", time.localtime(t)): (t, 0),
    }
    for path, (start, dur) in cases.items():
        status, f = marker(sg, path)
        assert status == 200, (path, f)
        assert f["kind"] == "catchup" and int(f["start"]) == start and int(f["duration"]) == dur, path
    # timeshift_rel is relative to now
    status, f = marker(sg, "/1/timeshift_rel-600.ts")
    assert abs(int(f["start"]) - (now - 600)) <= 2


@pytest.mark.parametrize("path,status,reason", [
    ("/9/mpegts", 404, 'unknown channel "9"'),
    ("/2/timeshift_abs-%d.ts" % (int(time.time()) - 600), 404, 'channel "2" has no catchup'),
    ("/L/timeshift_abs-%d.ts" % (int(time.time()) - 600), 404, "plugin demo_live offers no catchup"),
    ("/1/timeshift_abs-1500000000.ts", 404, 'channel "1" keeps 7 days of archive (from '),
    ("/1/archive-%d-x.ts" % (int(time.time()) - 600), 400, "duration must be"),
    ("/1/202713010000", 400, "not a valid"),
    ("/1/4000000000", 400, "in the future"),
    ("/1/favicon.ico", 404, 'no such resource under channel "1"'),
    ("/1/index-%d-60.m3u8" % (int(time.time()) - 600), 404, "only MPEG-TS here"),
    ("/1/mpegts?fail=404", 404, "no programme at that time"),
    ("/1/mpegts?fail=502", 502, "the provider failed"),
], ids=["unknown", "no-catchup-channel", "no-catchup-plugin", "window", "bad-duration",
        "bad-date", "future", "not-a-form", "hls", "plugin-404", "plugin-502"])
def test_errors(sg, path, status, reason):
    got, h, body = sg.get(path)
    assert got == status, body
    assert h["content-type"] == "application/json"
    assert reason in json.loads(body)["error"]


def test_busy_plugin_gets_503_with_retry_after(sg):
    status, h, body = sg.get("/1/mpegts?fail=503")
    assert status == 503 and h["retry-after"] == "10"
    assert "busy" in json.loads(body)["error"]


def test_bounded_archive_has_exact_length(sg):
    t = int(time.time()) - 3600
    # 2 s at 2000 kbit/s: one marker packet + 500000 bytes rounded down to TS packets
    status, h, body = sg.get("/1/archive-%d-2.ts" % t, timeout=20)
    assert status == 200 and h["content-type"] == "video/mp2t"
    want = TS + (2 * 2000 * 1000 // 8) // TS * TS
    assert len(body) == want and len(body) % TS == 0
    assert all(body[i] == 0x47 for i in range(0, len(body), TS))


def test_plugin_headers_reach_the_client(sg):
    s = socket.create_connection((sg.host, sg.port), timeout=5)
    s.sendall(b"GET /1/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.close()
    assert b"\r\nX-Test-Plugin: demo\r\n" in head
    assert b"\r\nConnection: close\r\n" in head and b"Content-Length" not in head


def test_async_open(sg):
    status, f = marker(sg, "/1/mpegts?async=1")
    assert status == 200 and f["channel"] == "async"


def test_head_does_not_stream(sg):
    status, h, body = sg.request("HEAD", "/1/mpegts")
    assert status == 200 and h["content-type"] == "video/mp2t" and body == b""
    status, h, body = sg.request("HEAD", "/9/mpegts")
    assert status == 404
    wait_for(lambda: sg.metric("streamgate_demo_closes_total") ==
             sum(sg.metric("streamgate_demo_opens_total", {"kind": k}) or 0
                 for k in ("live", "catchup")), what="every open closed")


def test_client_gone_closes_the_session(sg):
    opens = sg.metric("streamgate_demo_closes_total") or 0
    s = socket.create_connection((sg.host, sg.port), timeout=5)
    s.sendall(b"GET /1/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    wait_for(lambda: sg.status()["clients"]["live"] == 1, what="one live client")
    s.close()
    wait_for(lambda: sg.status()["clients"]["total"] == 0, what="client gone")
    wait_for(lambda: (sg.metric("streamgate_demo_closes_total") or 0) == opens + 1,
             what="close() called")
    sg.wait_log(r"stream: 127\.0\.0\.1 live 1: ended after")


def slow_socket(daemon, path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((daemon.host, daemon.port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return s


def read_bytes(sock, n, timeout=20):
    got = 0
    deadline = time.monotonic() + timeout
    while got < n and time.monotonic() < deadline:
        got += len(sock.recv(1 << 20))
    return got


def test_slow_client_paces_only_itself(daemon):
    daemon.start(plugins=[demo_plugin(speed=200.0, bitrate_kbps=20000)])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    slow = slow_socket(daemon, "/1/mpegts")
    fast = socket.create_connection((daemon.host, daemon.port), timeout=10)
    fast.sendall(b"GET /2/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_bytes(fast, 30 << 20) >= 30 << 20
    # the plugin waits for the slow client (backpressure): still connected
    assert daemon.status()["clients"]["total"] == 2
    assert "client too slow" not in daemon.log()
    fast.close()
    slow.close()
    wait_for(lambda: daemon.status()["clients"]["total"] == 0, what="clients gone")


def test_slow_client_dropped_when_source_cannot_wait(daemon):
    daemon.start(plugins=[demo_plugin(speed=10.0, bitrate_kbps=20000)])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    slow = slow_socket(daemon, "/1/mpegts?nopause=1")
    fast = socket.create_connection((daemon.host, daemon.port), timeout=10)
    fast.sendall(b"GET /2/mpegts?nopause=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_bytes(fast, 30 << 20) >= 30 << 20
    daemon.wait_log(r"127\.0\.0\.1 1: client too slow \(\d+ bytes queued\), dropped", timeout=20)
    assert daemon.metric("streamgate_stream_sessions_total",
                         {"kind": "live", "result": "slow_client"}) == 1
    fast.close()
    slow.close()
    wait_for(lambda: daemon.status()["clients"]["total"] == 0, what="clients gone")


def test_admission_max_clients(daemon):
    daemon.start(plugins=[demo_plugin()], extra={"admission": {"max_clients": 2}})
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    socks = []
    for _ in range(2):
        s = socket.create_connection((daemon.host, daemon.port), timeout=5)
        s.sendall(b"GET /1/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 200")
        socks.append(s)
    status, h, body = daemon.get("/2/mpegts")
    assert status == 503 and h["retry-after"] == "5"
    assert "admission.max_clients" in json.loads(body)["error"]
    assert daemon.metric("streamgate_admission_rejections_total", {"reason": "max_clients"}) == 1
    assert daemon.status()["admission"]["clients"] == 2
    for s in socks:
        s.close()
    wait_for(lambda: daemon.status()["admission"]["clients"] == 0, what="slots released")
    assert marker(daemon, "/2/mpegts")[0] == 200


def test_zap_storm_leaks_nothing(sg):
    """Many clients opening and dropping streams at random points."""
    import random
    rnd = random.Random(7)
    t = int(time.time()) - 1800
    paths = ["/1/mpegts", "/2/mpegts", "/1/timeshift_abs-%d.ts" % t, "/1/mpegts?async=1",
             "/9/mpegts", "/1/mpegts?fail=503"]
    for i in range(200):
        s = socket.create_connection((sg.host, sg.port), timeout=5)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % rnd.choice(paths)).encode())
        if rnd.random() < 0.5:
            s.recv(rnd.choice([1, 100, 5000]))
        s.close()
    wait_for(lambda: sg.status()["clients"]["total"] == 0, what="sessions ended")
    wait_for(lambda: sg.status()["admission"]["clients"] == 0, what="slots released")
    wait_for(lambda: sg.metric("streamgate_demo_closes_total") ==
             sum(sg.metric("streamgate_demo_opens_total", {"kind": k}) or 0
                 for k in ("live", "catchup")) - (sg.metric("streamgate_stream_sessions_total",
                                                            {"kind": "live", "result": "busy"}) or 0),
             what="close() for every open()")
    wait_for(lambda: sg.status()["connections"] <= 1, what="connections closed")


def test_ffprobe_reads_live_and_catchup(daemon, media):
    daemon.start(plugins=[demo_plugin(media=media, bitrate_kbps=1000)])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    for path in ("/1/mpegts", "/1/archive-%d-4.ts" % (int(time.time()) - 600)):
        r = run(["ffprobe", "-v", "error", "-show_entries",
                 "stream=codec_name:stream_tags=language", "-of", "json", daemon.url(path)],
                timeout=30)
        assert r.returncode == 0, r.stderr
        streams = json.loads(r.stdout)["streams"]
        codecs = sorted(s["codec_name"] for s in streams)
        assert codecs == ["mp2", "mp2", "mpeg2video"], streams
        langs = sorted(s.get("tags", {}).get("language", "") for s in streams if s["codec_name"] == "mp2")
        assert langs == ["eng", "spa"]


def test_shutdown_with_active_streams(daemon):
    daemon.start(plugins=[demo_plugin()])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    socks = []
    for path in ("/1/mpegts", "/2/mpegts", "/1/mpegts?async=1", "/1/mpegts?stall=1"):
        s = socket.create_connection((daemon.host, daemon.port), timeout=5)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        socks.append(s)
    wait_for(lambda: daemon.status()["clients"]["total"] == 4, what="4 clients")
    daemon.stop(check=False)  # SIGTERM while streaming
    daemon.check_log()
    assert "core: stopped" in daemon.log()
    for s in socks:
        s.close()
