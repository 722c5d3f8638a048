"""The live relay: multicast/RTP sources, shared hubs, fast start, slow
clients, source loss, IGMP, admission and the udpxy routes.

Runs inside the private network namespace of .ci/netns (239/8 routed to
lo); every test uses its own groups, since test files run in parallel in
the same namespace. The upstream is tests/fakes/mcsend pacing a generated
TS at its PCR rate, raw or RTP-wrapped like Movistar.
"""
import http.client
import json
import os
import random
import re
import socket
import subprocess
import time

import pytest

from conftest import BUILD, browser_dom, demo_plugin, run, wait_for

MCSEND = os.path.join(BUILD, "tests", "fakes", "mcsend")


def new_group():
    return "239.%d.%d.%d" % (random.randint(20, 250), random.randint(0, 255),
                             random.randint(1, 254)), random.randint(20000, 60000)


class Sender:
    def __init__(self, media, group, port, *args):
        self.group, self.port = group, port
        self.proc = subprocess.Popen([MCSEND, *args, media, "%s:%d" % (group, port)],
                                     stderr=subprocess.PIPE)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def senders(media):
    made = []

    def start(*args, group=None):
        g, p = group or new_group()
        s = Sender(media, g, p, *args)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop()


def igmp_groups():
    """Multicast groups joined in this namespace, as dotted quads."""
    out = set()
    for line in open("/proc/net/igmp"):
        m = re.match(r"\s+([0-9A-F]{8})\s", line)
        if m:
            b = bytes.fromhex(m.group(1))
            out.add("%d.%d.%d.%d" % (b[3], b[2], b[1], b[0]))
    return out


class Client:
    """A raw HTTP stream client that reads (or not) at its own pace."""

    def __init__(self, daemon, path, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((daemon.host, daemon.port))
        self.t0 = time.monotonic()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        self.buf = b""
        self.head = None
        self.body = bytearray()
        self.eof = False

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise AssertionError("closed before the head: %r" % self.buf)
            self.buf += d
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode()
        self.ttfb = None
        self.body += rest
        if rest:
            self.ttfb = time.monotonic() - self.t0
        return int(self.head.split()[1])

    def read_for(self, seconds):
        end = time.monotonic() + seconds
        self.sock.settimeout(0.2)
        while time.monotonic() < end and not self.eof:
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                continue
            if not d:
                self.eof = True
                break
            if self.ttfb is None:
                self.ttfb = time.monotonic() - self.t0
            self.body += d
        return len(self.body)

    def read_bytes(self, n, timeout=10):
        end = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while len(self.body) < n and time.monotonic() < end and not self.eof:
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                continue
            if not d:
                self.eof = True
            self.body += d
        return bytes(self.body[:n])

    def close(self):
        self.sock.close()


def ffprobe_streams(url_or_file):
    r = run(["ffprobe", "-v", "error", "-analyzeduration", "3M", "-probesize", "2M",
             "-show_entries", "stream=codec_name,codec_type:stream_tags=language",
             "-of", "json", url_or_file], timeout=30)
    assert r.returncode == 0, r.stderr
    return [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"))
            for s in json.loads(r.stdout)["streams"]]


ALL_STREAMS = [("video", "mpeg2video", None), ("audio", "mp2", "spa"), ("audio", "mp2", "eng")]


def live_conf(**live):
    base = {"linger_ms": 300, "source_timeout": 2}
    base.update(live)
    return {"live": base}


@pytest.mark.parametrize("framing", ["--raw", "--rtp", "--rtp-movistar"])
def test_udpxy_relays_every_stream(daemon, senders, framing):
    s = senders(framing)
    daemon.start(extra=live_conf())
    assert ffprobe_streams(daemon.url("/udp/%s:%d" % (s.group, s.port))) == ALL_STREAMS
    # udpxy's other spellings reach the same hub
    for path in ("/rtp/%s:%d" % (s.group, s.port), "/udp/%s%%%d/" % (s.group, s.port),
                 "/udp/%s~%d" % (s.group, s.port), "/udp/@%s:%d" % (s.group, s.port)):
        c = Client(daemon, path)
        assert c.read_head() == 200, path
        assert "Content-Type: video/mp2t" in c.head
        assert "Content-Length" not in c.head
        assert len(c.read_bytes(188 * 10)) == 1880
        c.close()
    wait_for(lambda: daemon.metric("streamgate_live_sources") == 0, what="source closed")
    joins = daemon.log().count("%s:%d: joined" % (s.group, s.port))
    assert joins == 1, daemon.log()  # every client within the linger: one join


def test_channel_live_from_plugin_source(daemon, senders):
    s = senders("--rtp-movistar")
    chans = [{"id": "1", "name": "Uno", "source": "udp://@%s:%d" % (s.group, s.port)},
             {"id": "2", "name": "Dos", "source": "rtp://%s:%d" % (s.group, s.port)}]
    daemon.start(plugins=[demo_plugin(chans)], extra=live_conf())
    wait_for(lambda: b"Dos" in daemon.get("/channels.m3u")[2], what="channels published")
    assert ffprobe_streams(daemon.url("/1/mpegts")) == ALL_STREAMS
    a, b = Client(daemon, "/1/live"), Client(daemon, "/2/live")
    assert a.read_head() == 200 and b.read_head() == 200
    a.read_bytes(100000)
    b.read_bytes(100000)
    st = daemon.status()
    assert [x["clients"] for x in st["sources"]] == [2], st["sources"]  # one hub, shared
    assert st["clients"]["live"] == 2
    a.close()
    b.close()
    # HEAD answers without joining
    daemon.stop()
    daemon.start()
    code, headers, body = daemon.request("HEAD", "/1/live")
    assert code == 200 and headers.get("content-type") == "video/mp2t" and body == b""
    assert daemon.metric("streamgate_live_sources") == 0
    assert "joined" not in daemon.log().split("ready at")[-1]


def first_video_frame(path):
    r = run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_frames",
             "-show_entries", "frame=key_frame,pict_type,pkt_pos", "-of", "json", path],
            timeout=30)
    frames = json.loads(r.stdout or "{}").get("frames", [])
    return frames[0] if frames else None


def test_late_joiner_starts_at_psi_and_keyframe(daemon, senders, workdir, media):
    s = senders("--rtp-movistar")
    daemon.start(extra=live_conf())
    first = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert first.read_head() == 200
    first.read_for(1.5)  # the hub is running
    for i in range(3):
        late = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
        assert late.read_head() == 200
        data = late.read_bytes(1316 * 24)  # ~0.25 s at 1 Mb/s
        late.close()
        assert data[0] == 0x47 and (data[1] & 0x1F, data[2]) == (0, 0)  # PAT first
        assert (((data[189] & 0x1F) << 8) | data[190]) != 0x1FFF  # then the PMT
        path = os.path.join(workdir, "late%d.ts" % i)
        open(path, "wb").write(data)
        f = first_video_frame(path)
        assert f is not None, "no decodable video frame in the first 24 datagrams"
        assert f["key_frame"] == 1 and f["pict_type"] == "I", f
        assert int(f["pkt_pos"]) <= 188 * 4, f  # right after PAT/PMT
        assert late.ttfb is not None and late.ttfb < 0.5
        time.sleep(0.3)
    # after the PAT and PMT copies, the first client got exactly the
    # source's bytes: not one packet lost, doubled or reordered in the ring
    first.read_for(1.0)
    data = bytes(first.body[188 * 2:])
    looped = open(media, "rb").read() * 8
    k = looped.find(data[:188 * 16])
    assert k >= 0, "the stream is not the source"
    n = min(len(data), len(looped) - k)
    assert n > 400000 and looped[k:k + n] == data[:n]
    first.close()


def test_slow_client_does_not_slow_others(daemon, senders):
    s = senders("--rate", "16", "--rtp")
    daemon.start(extra=live_conf(ring_seconds=1))
    slow = Client(daemon, "/udp/%s:%d" % (s.group, s.port), rcvbuf=4096)
    good = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert good.read_head() == 200
    good.read_for(1.0)
    n0, t0 = len(good.body), time.monotonic()
    good.read_for(5.0)
    rate = (len(good.body) - n0) * 8 / (time.monotonic() - t0) / 1e6
    assert rate > 16 * 0.9, rate  # TS payload of 16 Mb/s
    wait_for(lambda: daemon.metric("streamgate_stream_client_drops_total",
                                   {"reason": "slow_client"}) == 1,
             timeout=20, what="slow client dropped")
    assert "client too slow" in daemon.log()
    good.read_for(1.0)
    assert not good.eof
    good.close()
    slow.close()


def test_slow_client_resync_policy(daemon, senders):
    s = senders("--rate", "16", "--rtp")
    daemon.start(extra=live_conf(ring_seconds=1, slow_client="resync"))
    slow = Client(daemon, "/udp/%s:%d" % (s.group, s.port), rcvbuf=4096)
    wait_for(lambda: "skipping" in daemon.log(), timeout=20, what="slow client skipped")
    slow.read_head()
    slow.read_for(4.0)
    wait_for(lambda: daemon.metric("streamgate_live_client_resyncs_total") >= 1, timeout=10,
             what="resync")
    assert not slow.eof
    assert daemon.metric("streamgate_stream_client_drops_total", {"reason": "slow_client"}) is None
    slow.close()


def test_source_loss_ends_clients(daemon, senders):
    s = senders("--stop-after", "1.5")
    daemon.start(extra=live_conf(source_timeout=1))
    c = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert c.read_head() == 200
    c.read_for(6)
    assert c.eof, "the response did not end after the source went silent"
    assert len(c.body) > 100000
    assert daemon.metric("streamgate_live_source_timeouts_total") == 1
    assert daemon.metric("streamgate_stream_client_drops_total", {"reason": "source_timeout"}) == 1
    # a group nobody sends to: 504 with a reason, after source_timeout
    g, p = new_group()
    code, _, body = daemon.get("/udp/%s:%d" % (g, p), timeout=10)
    assert code == 504 and b"no data from" in body


def test_igmp_membership_follows_clients(daemon, senders):
    s = senders("--raw")
    daemon.start(extra=live_conf(linger_ms=500))
    assert s.group not in igmp_groups()
    c = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert c.read_head() == 200
    assert s.group in igmp_groups()
    c.close()
    time.sleep(0.2)
    assert s.group in igmp_groups()  # lingering: zapping back is instant
    wait_for(lambda: s.group not in igmp_groups(), timeout=5, what="IGMP leave")
    assert daemon.metric("streamgate_live_sources") == 0


def test_admission_limits_and_preemption(daemon, senders):
    a, b = senders("--raw"), senders("--raw")
    daemon.start(extra=dict(live_conf(), admission={"max_sources": 1}))
    ca = Client(daemon, "/udp/%s:%d" % (a.group, a.port))
    assert ca.read_head() == 200
    code, headers, body = daemon.get("/udp/%s:%d" % (b.group, b.port))
    assert code == 503 and headers.get("retry-after")
    assert "admission.max_sources" in json.loads(body)["error"]
    assert daemon.metric("streamgate_admission_rejections_total", {"reason": "max_sources"}) == 1
    # a second client of the open source costs nothing
    cb = Client(daemon, "/udp/%s:%d" % (a.group, a.port))
    assert cb.read_head() == 200
    ca.close()
    cb.close()
    # a low-priority client (as a recording is) yields to a viewer
    low = Client(daemon, "/udp/%s:%d?priority=10" % (a.group, a.port))
    assert low.read_head() == 200
    low.read_for(0.5)
    viewer = Client(daemon, "/udp/%s:%d" % (b.group, b.port))
    assert viewer.read_head() == 200
    low.read_for(3)
    assert low.eof
    assert daemon.metric("streamgate_admission_preemptions_total") == 1
    viewer.read_for(0.5)
    assert not viewer.eof
    viewer.close()
    low.close()
    wait_for(lambda: daemon.metric("streamgate_admission_used", {"resource": "clients"}) == 0,
             what="slots released")


def test_admission_bandwidth_budget(daemon, senders):
    a, b = senders("--raw"), senders("--raw")
    daemon.start(extra=dict(live_conf(), admission={"max_kbps": 1500}))
    ca = Client(daemon, "/udp/%s:%d" % (a.group, a.port))
    assert ca.read_head() == 200
    wait_for(lambda: (daemon.metric("streamgate_admission_used", {"resource": "kbps"}) or 0) > 800,
             what="bitrate measured")
    code, headers, body = daemon.get("/udp/%s:%d" % (b.group, b.port))
    assert code == 503 and "bandwidth budget" in json.loads(body)["error"], body
    ca.close()


def test_rtp_loss_and_reordering_counted(daemon, senders):
    lossy = senders("--rtp", "--drop-every", "10")
    shuffled = senders("--rtp", "--reorder-every", "5")
    daemon.start(extra=live_conf())
    c1 = Client(daemon, "/udp/%s:%d" % (lossy.group, lossy.port))
    c2 = Client(daemon, "/udp/%s:%d" % (shuffled.group, shuffled.port))
    assert c1.read_head() == 200 and c2.read_head() == 200
    c1.read_for(2)
    c2.read_for(0.1)
    lost = daemon.metric("streamgate_live_rtp_lost_packets_total")
    assert lost and lost >= 10
    assert daemon.metric("streamgate_live_rtp_reordered_packets_total") >= 10
    src = {x["source"]: x for x in daemon.status()["sources"]}
    assert src["udp://%s:%d" % (shuffled.group, shuffled.port)]["rtp_lost"] == 0
    c1.close()
    c2.close()


def test_udpxy_bad_urls_and_switch(daemon):
    daemon.start(extra=live_conf())
    for path, why in (("/udp/239.1.1.1", "missing :port"), ("/udp/239.1.1.1:0", "bad port"),
                      ("/udp/300.1.1.1:5000", "bad group"), ("/udp/10.0.0.1:5000", "multicast"),
                      ("/udp/x@239.1.1.1:5000", "bad source")):
        code, _, body = daemon.get(path)
        assert code == 400 and why in json.loads(body)["error"], (path, body)
    daemon.stop()
    daemon.start(server={"udpxy_routes": False})
    assert daemon.get("/udp/239.1.1.1:5000")[0] == 404


def test_status_page(daemon, senders):
    s = senders("--rtp-movistar")
    daemon.start(extra=live_conf())
    c = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert c.read_head() == 200
    c.read_for(1.2)
    code, headers, _ = daemon.get("/status")
    assert code == 200 and headers["content-type"].startswith("text/html")
    # what a browser builds from it: both tables, one row per source and client
    dom, tables = browser_dom(daemon.url("/status"), daemon.workdir)
    key = "udp://%s:%d" % (s.group, s.port)
    assert "1 clients (0 live, 0 catchup, 1 udpxy), 1 sources" in dom
    assert tables["sources"][0][:3] == ["Source", "Payload", "Clients"], tables
    (src,) = tables["sources"][1:]
    assert src[:3] == [key, "RTP", "1"] and int(src[3]) > 500 and int(src[5]) > 100000, src
    (cli,) = tables["clients"][1:]
    assert cli[0].startswith("127.0.0.1") and cli[1] == key and cli[4] == "live", cli
    assert int(cli[3]) > 100000, cli
    assert daemon.get("/status/")[0] == 200
    c.close()
    r = run(["promtool", "check", "metrics"], input=daemon.metrics(), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_zap_storm_leaks_nothing(daemon, senders):
    groups = [senders(random.choice(["--raw", "--rtp-movistar"])) for _ in range(4)]
    daemon.start(extra=dict(live_conf(linger_ms=200), admission={"max_clients": 50}))
    pid = daemon.proc.pid
    warm = Client(daemon, "/udp/%s:%d" % (groups[0].group, groups[0].port))
    warm.read_head()
    warm.close()
    wait_for(lambda: daemon.metric("streamgate_live_sources") == 0, what="idle")
    fds0, rss0 = fd_count(pid), rss_kb(pid)
    rng = random.Random(7)
    open_clients = []
    for i in range(1000):
        g = rng.choice(groups)
        c = Client(daemon, "/udp/%s:%d" % (g.group, g.port))
        how = rng.random()
        if how < 0.3:
            c.close()  # gone before the answer
            continue
        if how < 0.9:
            if c.read_head() == 200:
                c.read_bytes(rng.choice([1, 188, 20000]), timeout=2)
        open_clients.append(c)
        while len(open_clients) > rng.randint(0, 8):
            open_clients.pop(rng.randrange(len(open_clients))).close()
    for c in open_clients:
        c.close()
    wait_for(lambda: daemon.metric("streamgate_admission_used", {"resource": "clients"}) == 0,
             timeout=10, what="every slot released")
    wait_for(lambda: daemon.metric("streamgate_live_sources") == 0, timeout=10,
             what="every source closed")
    wait_for(lambda: fd_count(pid) <= fds0, timeout=10, what="fds back to %d" % fds0)
    if "ASAN_OPTIONS" not in os.environ:  # ASan's quarantine keeps freed memory resident
        assert rss_kb(pid) < rss0 + 16 * 1024, (rss0, rss_kb(pid))
    assert daemon.status()["clients"]["total"] == 0


@pytest.fixture(scope="module")
def media_h264(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("h264") / "h264.ts")
    r = run(["ffmpeg", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000",
             "-t", "6", "-map", "0:v", "-map", "1:a", "-map", "2:a",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "400k", "-g", "25",
             "-pix_fmt", "yuv420p", "-c:a", "mp2", "-b:a", "64k",
             "-metadata:s:a:0", "language=spa", "-metadata:s:a:1", "language=eng",
             "-muxrate", "800k", "-f", "mpegts", path], timeout=60)
    assert r.returncode == 0, r.stderr
    return path


def test_h264_late_joiner_decodes_at_once(daemon, media_h264, workdir):
    g, p = new_group()
    s = Sender(media_h264, g, p, "--rtp-movistar")
    try:
        daemon.start(extra=live_conf())
        url = "/udp/%s:%d" % (g, p)
        assert ffprobe_streams(daemon.url(url)) == [
            ("video", "h264", None), ("audio", "mp2", "spa"), ("audio", "mp2", "eng")]
        first = Client(daemon, url)
        assert first.read_head() == 200
        first.read_for(1.2)
        late = Client(daemon, url)
        assert late.read_head() == 200
        data = late.read_bytes(1316 * 40)
        path = os.path.join(workdir, "late.ts")
        open(path, "wb").write(data)
        f = first_video_frame(path)
        assert f is not None and f["key_frame"] == 1, f
        assert int(f["pkt_pos"]) <= 188 * 4, f
        late.close()
        first.close()
    finally:
        s.stop()


def test_source_specific_join(daemon, media):
    g, p = new_group()
    s = Sender(media, g, p, "--bind", "127.0.0.2")
    try:
        daemon.start(extra=live_conf(source_timeout=1))
        c = Client(daemon, "/udp/127.0.0.2@%s:%d" % (g, p))
        assert c.read_head() == 200
        assert len(c.read_bytes(50000)) == 50000
        c.close()
        # the same group, joined for another source: nothing arrives
        code, _, body = daemon.get("/udp/127.0.0.3@%s:%d" % (g, p), timeout=10)
        assert code == 504 and b"no data from udp://127.0.0.3@" in body, body
    finally:
        s.stop()


def test_unicast_source_and_join_interface(daemon, media):
    port = random.randint(20000, 60000)
    g, gp = new_group()
    uni = Sender(media, "127.0.0.1", port, "--rtp")
    mc = Sender(media, g, gp)
    try:
        chans = [{"id": "u", "name": "Unicast", "source": "udp://@:%d" % port},
                 {"id": "lo", "name": "By name", "source": "udp://@%s:%d?iface=lo" % (g, gp)},
                 {"id": "ad", "name": "By address",
                  "source": "udp://@%s:%d?iface=127.0.0.1" % (g, gp)},
                 {"id": "bad", "name": "Bad iface", "source": "udp://@%s:%d?iface=nope0" % (g, gp)},
                 {"id": "junk", "name": "Bad source", "source": "http://example/"}]
        daemon.start(plugins=[demo_plugin(chans)], extra=live_conf())
        wait_for(lambda: b"Bad source" in daemon.get("/channels.m3u")[2], what="channels")
        for ch in ("u", "lo", "ad"):
            c = Client(daemon, "/%s/live" % ch)
            assert c.read_head() == 200, ch
            assert len(c.read_bytes(30000)) == 30000, ch
            c.close()
        code, _, body = daemon.get("/bad/live")
        assert code == 502 and b"no such network interface" in body, body
        code, _, body = daemon.get("/junk/live")
        assert code == 502 and b"bad source" in body, body
    finally:
        uni.stop()
        mc.stop()


def test_rejoin_interval(daemon, senders):
    s = senders("--raw")
    daemon.start(server={"log_level": "debug"}, extra=live_conf(rejoin_interval=1))
    c = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert c.read_head() == 200
    daemon.wait_log(r"%s:%d: re-joined" % (re.escape(s.group), s.port), timeout=5)
    c.read_for(0.5)
    assert not c.eof and s.group in igmp_groups()
    c.close()


def test_start_behind_live(daemon, senders):
    s = senders("--raw")
    daemon.start(extra=live_conf(start_behind_live_ms=1500))
    first = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert first.read_head() == 200
    first.read_for(3.0)
    late = Client(daemon, "/udp/%s:%d" % (s.group, s.port))
    assert late.read_head() == 200
    late.read_for(0.15)
    # at least ~1.5 s of a 1 Mb/s stream arrives at once: the client starts
    # at a keyframe that far behind live
    assert len(late.body) > 150000, len(late.body)
    assert late.body[0] == 0x47 and (late.body[1] & 0x1F, late.body[2]) == (0, 0)
    late.close()
    first.close()


def test_admission_counts_interface_rate(daemon, senders):
    a, b = senders("--raw"), senders("--raw")
    daemon.start(extra=dict(live_conf(), admission={"max_kbps": 100, "iface": "lo"}))
    # the first source fits (nothing measured yet) ...
    ca = Client(daemon, "/udp/%s:%d" % (a.group, a.port))
    assert ca.read_head() == 200
    # ... then lo's rx counter of this namespace (both senders' 1 Mb/s, joined
    # or not, plus the HTTP copy) is counted, well above the one joined
    # source's measured 1 Mb/s, and over budget
    def counted():
        ca.read_for(0.2)  # keep the client draining while we poll
        return daemon.metric("streamgate_admission_used", {"resource": "kbps"}) > 2000
    wait_for(counted, what="interface rate counted")
    code, _, body = daemon.get("/udp/%s:%d" % (b.group, b.port))
    assert code == 503 and "bandwidth budget" in json.loads(body)["error"], body
    ca.close()
