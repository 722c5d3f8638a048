"""Movistar 7-day catchup end to end: the URL forms players send, getCatchUpUrl
on the fake appserver, RTSP SETUP/PLAY/GET_PARAMETER/TEARDOWN against the
fake U7D server, the unicast TS through the core, continuous playback into
the next programme, every error path, and no leaked sessions after a storm.

One simulated network and one daemon serve the whole module (discovery takes
a while); knobs of the fake are switched at run time through /fake/set."""
import concurrent.futures
import glob
import json
import os
import random
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

from conftest import BUILD, Daemon, run, wait_for
from test_live import Client
from test_movistar import FakeNet, movistar_plugin, wait_ready

MARK = re.compile(rb"SGMARK pid=(\d+) ch=(\d+) t=(\d+)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("catchup"))
    media = str(tmp_path_factory.mktemp("cumedia"))
    # groups of its own: test_movistar's fake runs beside this one
    net = FakeNet(os.path.join(work, "net"), media, "--origin-days", "-6",
                  "--rtsp-session-timeout", "6", "--entry", "239.254.2.129:3937",
                  "--sp-group", "239.254.2.154:3937", "--epg-base", "239.254.2.130",
                  "--channel-net", "239.254.0.0")
    net.media_dir = media
    d = Daemon(work)
    d.start(plugins=[movistar_plugin(net)],
            server={"log_level": "info"},
            extra={"admission": {"max_sources": 6},
                   "live": {"slow_client": "resync", "ring_seconds": 1},
                   "recordings": {"dir": os.path.join(work, "recordings"), "max_concurrent": 2}})
    try:
        wait_ready(d)
        yield d, net
    finally:
        d.stop()
        net.stop()


def knobs(net, **kw):
    q = "&".join("%s=%s" % (k, v) for k, v in kw.items())
    with urllib.request.urlopen(net.info["appserver"] + "/fake/set?" + q, timeout=5) as r:
        assert r.status == 200


def rtsp_stats(net):
    return net.stats()["rtsp"]


def no_sessions(d, net, timeout=10):
    wait_for(lambda: rtsp_stats(net)["open"] == 0, timeout=timeout, interval=0.1,
             what="every RTSP session torn down")
    wait_for(lambda: d.status()["sources"] == [] if isinstance(d.status().get("sources"), list)
             else True, timeout=timeout, what="no sources left")


def pick(net, want_media="mpeg2", min_dur=600):
    """A published clear channel with media and a programme that ended
    between 2 h and 2 days ago, plus the one after it."""
    now = time.time()
    for c in net.info["channels"]:
        if c["encrypted"] or c.get("media") != want_media or not c.get("lcn"):
            continue
        progs = net.truth.get(str(c.get("replacement") or c["id"]), [])
        progs = sorted(progs, key=lambda p: p["start"])
        for a, b in zip(progs, progs[1:]):
            if (now - 2 * 86400 < a["start"] and a["start"] + a["duration"] < now - 7200
                    and a["duration"] >= min_dur and a["start"] + a["duration"] == b["start"]):
                return c, a, b
    raise AssertionError("no suitable channel/programme in the fake's truth")


def read_stream(d, path, until=None, max_s=20, max_bytes=64 << 20):
    """GET path; read until until(data) is true, the response ends or max_s.
    Returns (status, headers, data, ended_by_server, seconds)."""
    s = socket.create_connection((d.host, d.port), timeout=max_s)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    t0 = time.monotonic()
    buf = b""
    head = None
    ended = False
    while time.monotonic() - t0 < max_s and len(buf) < max_bytes:
        s.settimeout(max(0.1, max_s - (time.monotonic() - t0)))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            ended = True
            break
        buf += chunk
        if head is None and b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
        if head is not None and until and until(buf):
            break
    s.close()
    lines = (head or b"").decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return status, headers, buf, ended, time.monotonic() - t0


def marks(data):
    return [(int(p), int(c), int(t)) for p, c, t in MARK.findall(data)]


def ffprobe_ok(data, workdir):
    path = os.path.join(workdir, "cu-%d.ts" % random.randrange(1 << 30))
    with open(path, "wb") as f:
        f.write(data)
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name",
             "-of", "json", path])
    os.unlink(path)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    return json.loads(r.stdout)["streams"]


def test_players_url_forms_play_the_right_programme_and_offset(env):
    d, net = env
    c, a, _ = pick(net)
    before = rtsp_stats(net)["methods"].get("SETUP", 0)

    # Kodi pvr.iptvsimple (catchup="flussonic-ts", stream URL .../mpegts)
    t = a["start"] + 120
    st, h, data, ended, _ = read_stream(
        d, "/%s/mpegts/timeshift_abs-%d.ts" % (c["id"], t),
        until=lambda b: len(marks(b)) >= 3 and len(b) > 400000)
    assert st == 200 and h["content-type"].startswith("video/mp2t"), (st, h, data[:200])
    m = marks(data)
    assert m and all(p == a["pid"] and ch == int(c["id"]) for p, ch, _ in m), m
    assert 120 <= m[0][2] <= 125, m  # the stream starts at the offset asked for
    streams = ffprobe_ok(data, d.workdir)
    assert {s["codec_type"] for s in streams} >= {"video", "audio"}, streams
    assert data[:4][0] == 0x47 and data[188] == 0x47  # PAT/PMT first, whole packets

    # the RTSP exchange as Movistar's STBs do it
    sess = rtsp_stats(net)["sessions"][-1]
    assert sess["pid"] == a["pid"] and sess["offset"] == 120
    assert sess["user_agent"] == "MICA-IP-STB" and sess["scale"] and sess["play_now"] \
        and sess["no_flush"], sess
    no_sessions(d, net)  # the client left: TEARDOWN

    # TiviMate: archive-T-D.ts ends after D seconds by itself
    t = a["start"] + 300
    st, h, data, ended, secs = read_stream(d, "/%s/archive-%d-6.ts" % (c["id"], t), max_s=20)
    assert st == 200 and ended, (st, secs)
    m = marks(data)
    assert m and m[0][0] == a["pid"] and 300 <= m[0][2] <= 302 and m[-1][2] <= 307, m
    assert 5 <= secs <= 10, secs
    no_sessions(d, net)

    # the other time forms reach the same programme
    for form in ("%d" % (a["start"] + 60), "%d.ts" % (a["start"] + 60),
                 time.strftime("%Y%m%d%H%M%S", time.localtime(a["start"] + 60)),
                 "video-%d.ts" % (a["start"] + 60), "mono-timeshift_abs-%d.ts" % (a["start"] + 60),
                 "mpegts?utc=%d" % (a["start"] + 60)):
        st, h, data, ended, _ = read_stream(d, "/%s/%s" % (c["id"], form),
                                            until=lambda b: len(marks(b)) >= 1, max_s=10)
        m = marks(data)
        assert st == 200 and m and m[0][0] == a["pid"] and 60 <= m[0][2] <= 63, (form, st, m)
    no_sessions(d, net)
    assert rtsp_stats(net)["methods"]["SETUP"] >= before + 8

    # HEAD: 200 without negotiating anything
    setups = rtsp_stats(net)["methods"]["SETUP"]
    cu = net.stats()["requests"].get("getCatchUpUrl", 0)
    code, h, body = d.request("HEAD", "/%s/timeshift_abs-%d.ts" % (c["id"], t))
    assert code == 200 and h["content-type"].startswith("video/mp2t")
    assert rtsp_stats(net)["methods"]["SETUP"] == setups
    assert net.stats()["requests"].get("getCatchUpUrl", 0) == cu


def test_continuous_playback_joins_the_next_programme(env):
    d, net = env
    c, a, b = pick(net)
    t = a["start"] + a["duration"] - 4
    st, h, data, ended, secs = read_stream(
        d, "/%s/timeshift_abs-%d.ts" % (c["id"], t),
        until=lambda buf: any(p == b["pid"] and tt >= 3 for p, _, tt in marks(buf)), max_s=25)
    m = marks(data)
    pids = [p for p, _, _ in m]
    assert st == 200 and a["pid"] in pids and b["pid"] in pids, m
    assert pids.index(b["pid"]) > pids.index(a["pid"])
    first_b = next(x for x in m if x[0] == b["pid"])
    assert first_b[2] == 0, m  # the next programme from its start
    # one response, readable across the join: ffprobe sees no error
    streams = ffprobe_ok(data, d.workdir)
    assert {s["codec_type"] for s in streams} >= {"video", "audio"}
    # the join is flagged: PAT and PMT again after it, discontinuity indicators set
    join = data.index(b"SGMARK pid=%d" % b["pid"])
    before = data[:join]
    disc = [i for i in range(before.rfind(b"SGMARK pid=%d" % a["pid"]) // 188 * 188,
                             len(data) - 188, 188)
            if data[i] == 0x47 and data[i + 3] & 0x20 and data[i + 4] > 0 and data[i + 5] & 0x80]
    assert disc, "no discontinuity indicator after the join"
    assert d.metric("streamgate_movistar_catchup_negotiations_total", {"result": "ok"}) >= 2
    no_sessions(d, net)


def expect_json_error(d, path, code, text):
    st, h, body = d.request("GET", path)
    assert st == code, (path, st, body[:300])
    msg = json.loads(body)
    assert re.search(text, json.dumps(msg)), (path, msg)
    return h, msg


def test_errors_map_to_clear_replies(env):
    d, net = env
    c, a, _ = pick(net)
    t = a["start"] + 60
    # unknown channel; no programme at T (the reason names the guide's window)
    expect_json_error(d, "/999999/timeshift_abs-%d.ts" % t, 404, "unknown channel")
    first = min(p["start"] for p in net.truth[str(c.get("replacement") or c["id"])])
    _, msg = expect_json_error(d, "/%s/timeshift_abs-%d.ts" % (c["id"], first - 3600), 404,
                               "no programme on channel %s at .*guide covers" % c["id"])
    # a time that has not come yet
    expect_json_error(d, "/%s/%d" % (c["id"], time.time() + 7200), 400, "in the future")

    # the appserver does not answer
    knobs(net, appserver_fail=100000)
    try:
        h, _ = expect_json_error(d, "/%s/timeshift_abs-%d.ts" % (c["id"], t), 503,
                                 "Movistar catchup service unreachable")
        assert "retry-after" in h
    finally:
        knobs(net, appserver_fail=0)

    # the RTSP server refuses: 502 with its status; garbage: 502 too
    for knob, text in ((dict(rtsp_fail=454), "SETUP answered 454"),
                       (dict(rtsp_play_fail=503), "PLAY answered 503"),
                       (dict(rtsp_garbage=1), "bad RTSP reply|closed the connection")):
        knobs(net, **knob)
        try:
            expect_json_error(d, "/%s/timeshift_abs-%d.ts" % (c["id"], t), 502, text)
        finally:
            knobs(net, rtsp_fail=0, rtsp_play_fail=0, rtsp_garbage=0)
    no_sessions(d, net)  # the refused PLAY's session was torn down too

    # admission: max_sources = 6
    conns = []
    try:
        for i in range(6):
            s = socket.create_connection((d.host, d.port))
            s.sendall(("GET /%s/timeshift_abs-%d.ts HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (c["id"], t + 10 * i)).encode())
            conns.append(s)
        wait_for(lambda: rtsp_stats(net)["playing"] == 6, timeout=15, what="6 sessions playing")
        h, _ = expect_json_error(d, "/%s/timeshift_abs-%d.ts" % (c["id"], t), 503,
                                 "max_sources")
        assert h.get("retry-after")
    finally:
        for s in conns:
            s.close()
    no_sessions(d, net)


def test_keepalive_follows_the_server_timeout(env):
    d, net = env
    c, a, _ = pick(net)
    # the fake's sessions expire after 6 s without a request: GET_PARAMETER every 3 s
    st, h, data, ended, secs = read_stream(
        d, "/%s/timeshift_abs-%d.ts" % (c["id"], a["start"] + 30), max_s=14)
    assert st == 200 and not ended and secs >= 13
    m = marks(data)
    assert m[-1][2] - m[0][2] >= 11, m  # streamed all along
    sess = rtsp_stats(net)["sessions"][-1]
    assert sess["keepalives"] >= 3 and sess["state"] != "expired", sess
    no_sessions(d, net)
    assert rtsp_stats(net)["expired"] == 0


def jumps(data, media):
    """Where the stream leaves the order of the media file the fake plays
    (over and over, SGMARK packets added): the packets that are not the
    file's next packet after the one before them (past the tables that
    open the stream)."""
    with open(media, "rb") as f:
        m = f.read()
    where = {}
    for i in range(0, len(m) - 187, 188):
        where.setdefault(m[i:i + 188], set()).add(i // 188)
    n = len(m) // 188
    out, prev = [], None
    for i in range(0, len(data) - 187, 188):
        p = data[i:i + 188]
        if ((p[1] & 0x1f) << 8 | p[2]) == 0x1ff0:
            continue
        at = where.get(p, set())
        if prev is not None and (prev + 1) % n in at:
            prev = (prev + 1) % n
            continue
        if prev is not None and i >= 16 * 188:
            out.append(p)
        prev = min(at) if at else None
    return out


def test_slow_client_is_skipped_then_restarts_at_a_keyframe(env):
    """A catchup client is live through its socket alone (no ring file):
    when it stops reading it is skipped (slow_client = resync), and once it
    reads again the stream restarts at a keyframe further on in the same
    programme. The RTSP session lives on throughout."""
    d, net = env
    c, a, _ = pick(net)
    resyncs = d.metric("streamgate_live_client_resyncs_total") or 0
    knobs(net, rtsp_rate=16)  # fills the socket buffers in seconds
    # control: a client that keeps up sees no restart
    st, h, data, ended, _ = read_stream(d, "/%s/timeshift_abs-%d.ts" % (c["id"], a["start"] + 60),
                                        until=lambda b: len(b) > (12 << 20))
    media = glob.glob(os.path.join(net.media_dir, c["media"] + "-v*.ts"))[0]
    assert st == 200 and len(data) > (12 << 20) and jumps(data, media) == []
    slow = Client(d, "/%s/timeshift_abs-%d.ts" % (c["id"], a["start"] + 60), rcvbuf=4096)
    try:
        wait_for(lambda: "skipping" in d.log(), timeout=30, what="slow catchup client skipped")
        assert slow.read_head() == 200
        slow.read_for(6.0)
        wait_for(lambda: d.metric("streamgate_live_client_resyncs_total") >= resyncs + 1,
                 timeout=10, what="resync")
        got = len(slow.body)
        slow.read_for(3.0)
        assert not slow.eof and len(slow.body) > got
        data = bytes(slow.body)
        m = marks(data)
        assert m and all(p == a["pid"] for p, _, _ in m), m
        ts = [t for _, _, t in m]
        assert ts == sorted(ts), ts
        # the skip, and the restart: PAT and PMT again, then a PES start
        j = jumps(data, media)
        assert j and j[-1][1] & 0x40, [p[:6] for p in j]
        assert "caught up, restarting at a keyframe" in d.log()
        assert rtsp_stats(net)["playing"] >= 1
        assert d.metric("streamgate_stream_client_drops_total", {"reason": "slow_client"}) is None
    finally:
        slow.close()
        knobs(net, rtsp_rate=0)
    no_sessions(d, net)


DTD = "/usr/share/xmltv/xmltv.dtd"


def test_cloud_recordings_list_guide_and_play(env):
    """recordingList + getRecordingData after the EPG update: /cloud.m3u (and
    /nube.m3u) list only the channels with recordings, catchup-days 9999;
    /cloud.xml is DTD-valid and holds only the recordings; a moment of a
    recording plays from getRecordingData's URL at the right offset, however
    old; errors are clear."""
    d, net = env
    rec = net.info["cloud_recordings"]
    st, h, m3u = d.request("GET", "/channels.m3u")
    published = set(re.findall(r"/(\d+)/mpegts", m3u.decode()))
    mine = [r for r in rec if str(r["channel"]) in published]
    assert mine, "the fake has no cloud recording on a published channel"
    wait_for(lambda: d.metric("streamgate_movistar_cloud_recordings") == len(mine), timeout=30,
             what="cloud recordings published")
    assert net.stats()["requests"].get("recordingList", 0) >= 1

    # the playlist, under both names
    for path in ("/cloud.m3u", "/nube.m3u"):
        st, h, body = d.request("GET", path)
        text = body.decode()
        assert st == 200 and h["content-type"].startswith("audio/x-mpegurl"), (st, h)
        assert text.startswith("#EXTM3U") and "/cloud.xml" in text.split("\n")[0]
        chans = re.findall(r"/cloud/(\d+)/mpegts", text)
        assert sorted(chans) == sorted({str(r["channel"]) for r in mine}), (chans, mine)
        assert text.count('catchup-days="9999"') == len(chans)

    # the guide of the recordings: valid, only them
    st, h, xml = d.request("GET", "/nube.xml")
    assert st == 200 and h["content-type"].startswith("application/xml")
    path = os.path.join(d.workdir, "cloud.xml")
    with open(path, "wb") as f:
        f.write(xml)
    if os.path.exists(DTD):
        r = run(["xmllint", "--noout", "--nonet", "--dtdvalid", DTD, path])
        assert r.returncode == 0, r.stderr[-2000:]
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    progs = root.findall("programme")
    assert len(progs) == len(mine)
    assert {c.get("id") for c in root.findall("channel")} == \
        {"%s.movistar.tv" % r["channel"] for r in mine}
    starts = sorted(time.strftime("%Y%m%d%H%M%S +0000", time.gmtime(r["start"])) for r in mine)
    assert sorted(p.get("start") for p in progs) == starts
    st, h, gz = d.request("GET", "/cloud.xml.gz")
    assert st == 200 and gz[:2] == b"\x1f\x8b"

    # play one, a minute in, however old it is
    r = sorted(mine, key=lambda x: x["start"])[0]
    got = net.stats()["requests"].get("getRecordingData", 0)
    st, h, data, ended, _ = read_stream(
        d, "/cloud/%s/timeshift_abs-%d.ts" % (r["channel"], r["start"] + 60),
        until=lambda b: len(marks(b)) >= 2, max_s=15)
    m = marks(data)
    assert st == 200 and m and m[0][0] == r["pid"] and 60 <= m[0][2] <= 63, (st, m, data[:200])
    assert net.stats()["requests"]["getRecordingData"] == got + 1
    sess = rtsp_stats(net)["sessions"][-1]
    assert sess["pid"] == r["pid"] and sess["offset"] == 60, sess
    no_sessions(d, net)

    # errors: no recording at that time; a channel without recordings; live
    # forms under /cloud/ are live
    st, h, body = d.request("GET", "/cloud/%s/timeshift_abs-%d.ts" % (r["channel"], r["start"] - 7200))
    assert st == 404 and b"no cloud recording" in body, body
    none = next(c for c in published if c not in {str(x["channel"]) for x in mine})
    st, h, body = d.request("GET", "/cloud/%s/timeshift_abs-%d.ts" % (none, r["start"]))
    assert st == 404 and b"has no cloud recordings" in body, body
    st, h, body = d.request("GET", "/cloud/99999/timeshift_abs-%d.ts" % r["start"])
    assert st == 404 and b"unknown channel" in body, body
    st, h, body = d.request("HEAD", "/cloud/%s/mpegts" % r["channel"])
    assert st == 200 and h["content-type"].startswith("video/mp2t")
    # the same moment through the 7-day catchup is out of its window
    if r["start"] < time.time() - 8 * 86400:
        st, h, body = d.request("GET", "/%s/timeshift_abs-%d.ts" % (r["channel"], r["start"] + 60))
        assert st == 404, (st, body)


def ffprobe_json(path):
    r = run(["ffprobe", "-v", "error", "-show_entries",
             "stream=codec_type,codec_name:stream_tags=language:stream_disposition=default"
             ":format=duration,format_name", "-of", "json", path])
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    return json.loads(r.stdout)


def test_recorder_records_a_catchup_session(env):
    """streamgate-record reads a catchup URL of the daemon like any viewer
    and writes Matroska: video copied, both MP2 tracks as AAC with their
    languages, the DVB subtitles kept; MP4 with vo: the English track first
    and default, no subtitles; SIGTERM closes a good, shorter file."""
    d, net = env
    c, a, _ = pick(net, want_media="mpeg2-sub")
    rec = os.path.join(BUILD, "streamgate-record")
    url = d.url("/%s/timeshift_abs-%d.ts?priority=10" % (c["id"], a["start"] + 60))
    knobs(net, rtsp_rate=16)  # twenty seconds of programme in a couple of seconds
    try:
        out = os.path.join(d.workdir, "rec.mkv")
        r = run([rec, url, out, "--seconds", "20", "--title", a["title"], "--channel", c["name"]],
                timeout=120)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["ok"] and abs(res["duration"] - 20) <= 1, res
        assert res["transcoded"] == 2 and res["subtitles"] == 1, res
        p = ffprobe_json(out)
        assert abs(float(p["format"]["duration"]) - 20) <= 1, p["format"]
        kinds = [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"))
                 for s in p["streams"]]
        assert kinds == [("video", "mpeg2video", None), ("audio", "aac", "spa"),
                         ("audio", "aac", "eng"), ("subtitle", "dvb_subtitle", kinds[3][2])], kinds

        out4 = os.path.join(d.workdir, "rec.mp4")
        r = run([rec, url, out4, "--seconds", "10", "--mp4", "--vo"], timeout=120)
        assert r.returncode == 0, r.stderr
        p = ffprobe_json(out4)
        assert "mp4" in p["format"]["format_name"]
        audio = [s for s in p["streams"] if s["codec_type"] == "audio"]
        assert [s["tags"]["language"] for s in audio] == ["eng", "spa"], audio
        assert audio[0]["disposition"]["default"] == 1 and audio[1]["disposition"]["default"] == 0
        assert not any(s["codec_type"] == "subtitle" for s in p["streams"])
    finally:
        knobs(net, rtsp_rate=0)
    no_sessions(d, net)

    # at the programme's own pace, stopped after a few seconds by SIGTERM
    out = os.path.join(d.workdir, "stopped.mkv")
    proc = subprocess.Popen([rec, url, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 200000, timeout=20,
             what="the recording under way")
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    res = json.loads(stdout)
    assert res["ok"] and res["duration"] > 1, res
    p = ffprobe_json(out)
    assert abs(float(p["format"]["duration"]) - res["duration"]) <= 1, (p, res)
    no_sessions(d, net)

    # a URL the daemon refuses: no file, a reason
    r = run([rec, d.url("/99999/timeshift_abs-%d.ts" % a["start"]),
             os.path.join(d.workdir, "none.mkv")], timeout=30)
    assert r.returncode == 1 and not json.loads(r.stdout)["ok"]
    assert "404" in json.loads(r.stdout)["error"], r.stdout
    assert not os.path.exists(os.path.join(d.workdir, "none.mkv"))
    r = run([rec, "--bogus"], timeout=10)
    assert r.returncode == 2


def recordings(d):
    return {(r["channel"], r["start"]): r for r in d.json("/api/recordings")["recordings"]}


def test_record_on_demand(env):
    """/record/{id}/{time}: the recorder child reads the catchup session and
    the file appears under its final name only when it is whole; a second
    request for the same is 409, one beyond max_concurrent 503; a killed
    recorder leaves nothing; one stopped short is dropped to be retried."""
    d, net = env
    c, a, b = pick(net, want_media="mpeg2-sub")
    rec_dir = os.path.join(d.workdir, "recordings")
    knobs(net, rtsp_rate=16)
    try:
        st, h, body = d.request("GET", "/record/%s/%d?duration=20" % (c["id"], a["start"] + 60))
        assert st == 200, body
        job = json.loads(body)
        assert job["status"] == "recording" and job["duration"] == 20 and job["id"] == str(c["id"])
        final = os.path.join(rec_dir, job["path"])
        wait_for(lambda: recordings(d)[(str(c["id"]), a["start"] + 60)]["state"] != "recording",
                 timeout=60, what="the recording to finish")
        row = recordings(d)[(str(c["id"]), a["start"] + 60)]
        assert row["state"] == "done" and abs(row["written"] - 20) <= 1, row
    finally:
        knobs(net, rtsp_rate=0)
    p = ffprobe_json(final)
    assert abs(float(p["format"]["duration"]) - 20) <= 1
    assert [s["codec_name"] for s in p["streams"]] == ["mpeg2video", "aac", "aac", "dvb_subtitle"]
    assert not [f for f in os.listdir(os.path.dirname(final)) if f.startswith(".")]
    no_sessions(d, net)

    # at the programme's pace: two at once, the same one twice is 409, a third 503
    t1, t2, t3 = b["start"] + 10, b["start"] + 300, b["start"] + 600
    st, h, body = d.request("GET", "/record/%s/%d?duration=600" % (c["id"], t1))
    assert st == 200, body
    one = json.loads(body)
    assert d.request("GET", "/record/%s/%d?duration=600" % (c["id"], t1))[0] == 409
    st, h, body = d.request("GET", "/record/%s/%d?duration=600&mp4=1" % (c["id"], t2))
    assert st == 200, body
    two = json.loads(body)
    st, h, body = d.request("GET", "/record/%s/%d?duration=600" % (c["id"], t3))
    assert st == 503 and h.get("retry-after"), (st, body)
    wait_for(lambda: rtsp_stats(net)["playing"] >= 2, timeout=15, what="both recordings playing")
    # a recorder killed outright: nothing under the final name, nothing hidden left
    os.kill(one["recorder_pid"], 9)
    wait_for(lambda: recordings(d)[(str(c["id"]), t1)]["state"] == "failed", timeout=15,
             what="the killed recording marked failed")
    assert not os.path.exists(os.path.join(rec_dir, one["path"]))
    # one stopped early (TERM: the file is closed properly) is too short: dropped, retried later
    folder, name = os.path.split(os.path.join(rec_dir, two["path"]))
    tmp = os.path.join(folder, "." + name + ".tmp")
    wait_for(lambda: os.path.exists(tmp) and os.path.getsize(tmp) > 200000, timeout=30,
             what="the second recording writing")
    os.kill(two["recorder_pid"], 15)
    wait_for(lambda: recordings(d)[(str(c["id"]), t2)]["state"] == "short", timeout=15,
             what="the short recording dropped")
    row = recordings(d)[(str(c["id"]), t2)]
    assert row["shortfalls"].endswith(",") and int(row["shortfalls"].split(",")[0]) > 500, row
    assert not os.path.exists(os.path.join(rec_dir, two["path"]))
    assert not [f for r, _, fs in os.walk(rec_dir) for f in fs if f.startswith(".")]
    no_sessions(d, net)
    # no time, or no such channel
    assert d.request("GET", "/record/%s/mpegts" % c["id"])[0] in (400, 404)
    assert d.request("GET", "/record/99999/%d" % t1)[0] == 404


def test_record_compat_and_delete(env):
    """movistar-u7d's ?record=S on a catchup URL starts a recording; DELETE
    /api/recordings/<channel>/<start> removes its file and its row."""
    d, net = env
    c, a, _ = pick(net, want_media="mpeg2", min_dur=900)
    t = a["start"] + 120
    knobs(net, rtsp_rate=16)
    try:
        st, h, body = d.request("GET", "/%s/timeshift_abs-%d.ts?record=15" % (c["id"], t))
        assert st == 200, body
        job = json.loads(body)
        assert job["status"] == "recording" and job["duration"] == 15
        wait_for(lambda: recordings(d)[(str(c["id"]), t)]["state"] == "done", timeout=60,
                 what="the recording done")
    finally:
        knobs(net, rtsp_rate=0)
    final = os.path.join(d.workdir, "recordings", job["path"])
    assert os.path.exists(final)
    assert urllib.parse.quote(job["path"]) in d.get("/recordings.m3u")[2].decode()
    assert d.request("DELETE", "/api/recordings/%s/%d" % (c["id"], t))[0] == 200
    assert not os.path.exists(final) and (str(c["id"]), t) not in recordings(d)
    assert d.request("DELETE", "/api/recordings/%s/%d" % (c["id"], t))[0] == 404
    assert d.request("DELETE", "/api/recordings/nonsense")[0] == 404
    no_sessions(d, net)


def test_seek_storm_leaks_nothing(env):
    d, net = env
    c, a, _ = pick(net)
    fds = len(os.listdir("/proc/%d/fd" % d.proc.pid))
    teardowns = rtsp_stats(net)["teardowns"]
    rnd = random.Random(5)

    def seek(i):
        t = a["start"] + rnd.randrange(0, a["duration"] - 60)
        st, h, data, ended, _ = read_stream(
            d, "/%s/timeshift_abs-%d.ts?priority=50" % (c["id"], t),
            until=lambda b: len(b) > rnd.choice([0, 2000, 50000]), max_s=10)
        return st

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        codes = list(ex.map(seek, range(200)))
    # every request got the stream or a clean admission refusal
    assert set(codes) <= {200, 503} and codes.count(200) >= 150, codes
    no_sessions(d, net, timeout=20)
    wait_for(lambda: d.status()["admission"]["clients"] == 0, timeout=10, what="slots")
    wait_for(lambda: len(os.listdir("/proc/%d/fd" % d.proc.pid)) <= fds + 2, timeout=10,
             what="descriptors back to %d" % fds)
    assert rtsp_stats(net)["expired"] == 0
    assert rtsp_stats(net)["teardowns"] >= teardowns + codes.count(200) - 5


def test_plain_mode_and_teardown_at_shutdown(env):
    d, net = env
    c, a, b = pick(net)
    conf = dict(plugins=[movistar_plugin(net, continuous=False)],
                extra={"admission": {"max_sources": 6}})
    d.restart(**conf)
    wait_for(lambda: d.status()["catalog"]["channels"] > 0 if isinstance(
        d.status()["catalog"].get("channels"), int) else True, timeout=30)
    # continuous = false: the response ends with the programme
    t = a["start"] + a["duration"] - 3
    st, h, data, ended, secs = read_stream(d, "/%s/timeshift_abs-%d.ts" % (c["id"], t), max_s=15)
    m = marks(data)
    assert st == 200 and ended and {p for p, _, _ in m} == {a["pid"]}, (st, ended, m)
    no_sessions(d, net)

    # shutdown with a session playing: TEARDOWN goes out before the daemon exits
    teardowns = rtsp_stats(net)["teardowns"]
    s = socket.create_connection((d.host, d.port))
    s.sendall(("GET /%s/timeshift_abs-%d.ts HTTP/1.1\r\nHost: x\r\n\r\n"
               % (c["id"], a["start"] + 5)).encode())
    wait_for(lambda: rtsp_stats(net)["playing"] == 1, timeout=10, what="a session playing")
    d.stop(check=False)
    s.close()
    wait_for(lambda: rtsp_stats(net)["open"] == 0, timeout=5, what="TEARDOWN at shutdown")
    assert rtsp_stats(net)["teardowns"] == teardowns + 1 and rtsp_stats(net)["expired"] == 0
    d.start()
