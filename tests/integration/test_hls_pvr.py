"""plugins/hls_pvr end to end against the fake HLS origin (tests/fakes/hls):
the archive follows the live playlists (a master resolves to its best
variant), stores the exact upstream bytes under dated names and an SQLite
index, serves interval VOD playlists that ffprobe plays and coverage
metadata with exact gap boundaries, refuses what is not a segment, survives
404 bursts, error pages, a sequence reset and its own restart without
duplicates or avoidable holes, and ages segments out of the index and the
disk together."""
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from conftest import Daemon, FakeOrigin, run, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fakes", "hls", "fake_hls.py")
SEG = 2.0


class FakeHls(FakeOrigin):
    def __init__(self, workdir, media_dir, *args):
        super().__init__(FAKE, workdir, "fake_hls", "--media-dir", media_dir, "--segment", str(SEG),
                         *args)

    def stats(self):
        return json.loads(self.get("/fake/stats"))

    def segment(self, ch, n, v="high"):
        return self.get("/fake/segment?ch=%s&v=%s&n=%d" % (ch, v, n))

    def seg_start(self, n):
        return self.info["epoch"] + (n - self.info["seq_start"]) * SEG


def pvr_plugin(fake, archive, **chans):
    """cam0 from its master playlist (best variant), cam1 from a media
    playlist, with the given per-channel extras."""
    c0 = {"name": "cam0", "source": fake.base + "/live/cam0/master.m3u8", "depth_hours": 1.0}
    c1 = {"name": "cam1", "source": fake.base + "/live/cam1.m3u8", "depth_hours": 1.0}
    c0.update(chans.get("cam0", {}))
    c1.update(chans.get("cam1", {}))
    return {"name": "hls_pvr", "dir": archive,
            "channels": (c0, c1)}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("hlspvr"))
    fake = FakeHls(os.path.join(work, "fake"), str(tmp_path_factory.mktemp("hlsmedia")))
    d = Daemon(work)
    d.archive = os.path.join(work, "archive")
    d.conf = dict(plugins=[pvr_plugin(fake, d.archive)])
    d.start(**d.conf)
    try:
        yield d, fake
    finally:
        d.stop()
        fake.stop()


def num(r):
    """The origin's own number of an index row's segment (from its URI: after
    a gap the origin's numbers skip, while the index counts as RFC 8216 says,
    MEDIA-SEQUENCE plus position)."""
    return int(re.search(r"seg_(\d+)\.ts$", r[6]).group(1))


def index_rows(d, ch):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.archive, "index.db"), uri=True)
    try:
        return db.execute("SELECT start_ms, duration_ms, seq, disc, path, bytes, uri FROM segments"
                          " WHERE channel=? ORDER BY start_ms", (ch,)).fetchall()
    finally:
        db.close()


def archived(d, ch, n):
    wait_for(lambda: len(index_rows(d, ch)) >= n, timeout=60, interval=0.2,
             what="%d segments of %s archived" % (n, ch))
    return index_rows(d, ch)


def playlist(d, ch, t0, t1, form="ts"):
    if form == "ts":
        path = "/streamer/%s.m3u8?startTimestamp=%d&endTimestamp=%d" % (ch, t0, t1)
    else:
        path = "/streamer/GetNPVRPlayList?channel_name=%s&startTime=%s&endTime=%s" % (
            ch, dmy(t0), dmy(t1))
    st, h, body = d.request("GET", path)
    return st, body.decode()


def dmy(t):
    g = time.gmtime(t)
    # not zero-padded, as the original tool's users write them
    return "%d/%d/%dT%d:%d:%d" % (g.tm_mday, g.tm_mon, g.tm_year, g.tm_hour, g.tm_min, g.tm_sec)


def entries(text):
    """[(tags before it, duration, uri)] of a media playlist."""
    out, tags = [], []
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.startswith("#EXTINF:"):
            out.append((tags, float(l[8:].split(",")[0]), lines[i + 1]))
            tags = []
        elif l.startswith("#EXT-X-DISCONTINUITY") or l.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            tags.append(l)
    return out


def ffprobe_duration(url):
    r = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", url],
            timeout=60)
    assert r.returncode == 0, r.stderr
    return float(json.loads(r.stdout)["format"]["duration"])


def test_archive_serves_interval_playlists(env):
    d, fake = env
    rows = archived(d, "cam0", 8)
    # the exact upstream bytes of the best variant, under dated names
    start, dur, seq, disc, path, size, uri = rows[2]
    assert uri == "seg_%d.ts" % seq and dur == 2000, rows[2]
    assert abs(start / 1000 - fake.seg_start(seq)) < 0.002, "PROGRAM-DATE-TIME is the time"
    g = time.gmtime(start // 1000)
    assert path == "%04d/%02d/%02d/%02d/%02d/%02d-02000.ts" % (
        g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec), path
    stored = open(os.path.join(d.archive, "cam0", path), "rb").read()
    assert stored == fake.segment("cam0", num(rows[2]), "high") and len(stored) == size

    t0 = int(rows[1][0] / 1000) + 1
    t1 = t0 + 10
    st, text = playlist(d, "cam0", t0, t1)
    assert st == 200, text
    head = text.splitlines()[:5]
    assert head == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2",
                    "#EXT-X-MEDIA-SEQUENCE:%d" % rows[1][2], "#EXT-X-PLAYLIST-TYPE:VOD"], head
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    es = entries(text)
    # the window's segments: the one running at t0 up to the one running at t1
    assert len(es) == 6 and es[0][0][0].startswith("#EXT-X-PROGRAM-DATE-TIME:"), text
    assert all(not t for t, _, _ in es[1:]), "no gap, no discontinuity"
    assert es[0][2] == d.base + "/hls_pvr/cam0/" + rows[1][4]
    dur = ffprobe_duration(d.url("/streamer/cam0.m3u8?startTimestamp=%d&endTimestamp=%d" % (t0, t1)))
    assert abs(dur - (t1 - t0)) <= SEG, dur
    # the original tool's forms: GetNPVRPlayList, D/M/YYYYTHH:MM:SS unpadded
    st2, text2 = playlist(d, "cam0", t0, t1, form="dmy")
    assert st2 == 200 and text2 == text
    # segments with Range
    st, h, body = d.request("GET", "/hls_pvr/cam0/" + rows[1][4], headers={"Range": "bytes=0-187"})
    assert st == 206 and len(body) == 188 and body[0] == 0x47 and h["content-type"] == "video/mp2t"


def test_bad_requests_are_refused_clearly(env):
    d, fake = env
    rows = archived(d, "cam0", 2)
    t = int(rows[-1][0] / 1000)
    cases = [
        ("/streamer/cam0.m3u8", 400, "startTime"),
        ("/streamer/cam0.m3u8?startTime=32/1/2026T10:00:00", 400, "startTime"),
        ("/streamer/cam0.m3u8?startTime=29/2/2026T10:00:00", 400, "startTime"),
        ("/streamer/cam0.m3u8?startTimestamp=abc", 400, "startTimestamp"),
        ("/streamer/cam0.m3u8?startTimestamp=%d&endTimestamp=%d" % (t, t - 60), 400, "before"),
        ("/streamer/cam0.m3u8?startTimestamp=1000000000&endTimestamp=1000000600", 404, "nothing"),
        ("/streamer/nope.m3u8?startTimestamp=%d" % t, 404, "nope"),
        ("/streamer/GetNPVRPlayList?startTimestamp=%d" % t, 400, "channel_name"),
        ("/metadata?startTimestamp=%d" % t, 400, "channel_name"),
        ("/streamer/cam0/other", 404, ""),
        ("/hls_pvr/cam0/../index.db", 404, ""),
        ("/hls_pvr/cam0/%2e%2e/index.db", 404, ""),
        ("/hls_pvr/cam0/2026/01/01/00/00/00-02000.ts", 404, ""),
        ("/hls_pvr/cam9/x.ts", 404, ""),
    ]
    for path, code, word in cases:
        st, h, body = d.request("GET", path)
        assert st == code, (path, st, body)
        assert h["content-type"].startswith("application/json"), (path, h)
        assert word in json.loads(body)["error"], (path, body)
    # an empty window in coverage is [], not an error
    assert d.json("/streamer/cam0/metadata?startTimestamp=1000000000&endTimestamp=1000000600") == []


def test_coverage_over_a_gap_and_discontinuities(env):
    d, fake = env
    archived(d, "cam1", 3)
    fake.set(ch="cam1", gap=30)
    wait_for(lambda: fake.stats()["channels"]["cam1"]["gaps"]
             and index_rows(d, "cam1")[-1][0] / 1000 > fake.stats()["channels"]["cam1"]["gaps"][0][1] + 4,
             timeout=90, interval=0.5, what="segments after the gap archived")
    gap = fake.stats()["channels"]["cam1"]["gaps"][0]
    rows = index_rows(d, "cam1")
    before = [r for r in rows if r[0] / 1000 < gap[0]]
    after = [r for r in rows if r[0] / 1000 >= gap[1]]
    t0, t1 = int(rows[0][0] / 1000), int(rows[-1][0] / 1000) + 2
    cov = d.json("/streamer/cam1/metadata?startTimestamp=%d&endTimestamp=%d" % (t0, t1))
    iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    assert cov == [{"start_datetime": iso(rows[0][0]), "end_datetime": iso(before[-1][0] + before[-1][1])},
                   {"start_datetime": iso(after[0][0]), "end_datetime": iso(rows[-1][0] + rows[-1][1])}], cov
    # exactly the upstream's hole (PROGRAM-DATE-TIME gives the times)
    assert abs((before[-1][0] + before[-1][1]) / 1000 - gap[0]) < 0.002, (before[-1], gap)
    assert abs(after[0][0] / 1000 - gap[1]) < 0.002, (after[0], gap)
    # the same through the README's form and the string dates
    assert d.json("/metadata?channel_name=cam1&startTime=%s&endTime=%s" % (dmy(t0), dmy(t1))) == cov
    # the playlist marks the gap: a discontinuity and the new time
    st, text = playlist(d, "cam1", t0, t1)
    assert st == 200
    es = entries(text)
    k = next(i for i, e in enumerate(es) if e[2].endswith(after[0][4]))
    assert es[k][0][0] == "#EXT-X-DISCONTINUITY" and es[k][0][1].startswith("#EXT-X-PROGRAM-DATE-TIME:")
    assert sum(1 for t, _, _ in es if t and t[0] == "#EXT-X-DISCONTINUITY") == 1


def test_error_bodies_and_404_bursts(env):
    d, fake = env
    n = len(index_rows(d, "cam0"))
    fake.set(ch="cam0", errbody=1, seg404=2, seg500=1, truncate=1)
    wait_for(lambda: all(v == 0 for k, v in fake.stats()["channels"]["cam0"]["knobs"].items()
                         if k in ("errbody", "seg404", "seg500", "truncate")),
             timeout=60, interval=0.2, what="the knobs consumed")
    rows = archived(d, "cam0", n + 6)
    # nothing but MPEG-TS was stored, every byte the upstream's own
    for r in rows[n - 1:]:
        data = open(os.path.join(d.archive, "cam0", r[4]), "rb").read()
        assert data == fake.segment("cam0", num(r), "high"), r
    # retries filled every hole: the numbers follow on
    seqs = [r[2] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    # segments slower than their own length: the parallel downloads keep up
    fake.set(ch="cam0", slow=2500)
    try:
        n = len(index_rows(d, "cam0"))
        rows = archived(d, "cam0", n + 6)
    finally:
        fake.set(ch="cam0", slow=0)
    seqs = [r[2] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    # what the plugin counted, as Prometheus reads it
    assert d.metric("streamgate_hls_pvr_segments_total", {"channel": "cam0", "result": "stored"}) >= n
    r = subprocess.run(["promtool", "check", "metrics"], input=d.metrics(), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sequence_reset_and_own_restart(env):
    d, fake = env
    archived(d, "cam0", 4)
    fake.set(ch="cam0", reset=1)
    wait_for(lambda: fake.stats()["channels"]["cam0"]["seq_offset"] > 0 and
             any(r[2] < 100 for r in index_rows(d, "cam0")[-3:]),
             timeout=60, interval=0.2, what="segments of the new numbering archived")
    rows = index_rows(d, "cam0")
    k = next(i for i, r in enumerate(rows) if r[2] < 100)
    assert rows[k][3] == 1, "a reset starts a discontinuity"
    assert rows[k][0] >= rows[k - 1][0] + rows[k - 1][1] - 1, "no overlap across the reset"
    # our own restart: down for 5 s, within the upstream's 12 s window
    d.stop()
    time.sleep(5)  # the outage itself is what is tested
    d.start(**d.conf)
    last = index_rows(d, "cam0")[-1]
    wait_for(lambda: index_rows(d, "cam0")[-1][0] > last[0] + 8000, timeout=60, interval=0.2,
             what="archiving again")
    rows = index_rows(d, "cam0")
    after = [r for r in rows if r[2] < 100]
    seqs = [r[2] for r in after]
    # no duplicates and no hole the upstream could still give
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    starts = [r[0] for r in rows]
    assert len(starts) == len(set(starts))


def test_retention_ages_index_and_files_together(env, tmp_path):
    d0, fake = env
    d = Daemon(str(tmp_path))
    d.archive = os.path.join(str(tmp_path), "archive")
    # 0.004 h = 14.4 s kept
    d.start(plugins=[pvr_plugin(fake, d.archive, cam0={"depth_hours": 0.004},
                                cam1={"depth_hours": 0.004})])
    try:
        d.wait_log(r"cam0: \d+ segments older than the depth removed", timeout=60)
        d.wait_log(r"cam1: \d+ segments older than the depth removed", timeout=30)
        for ch in ("cam0", "cam1"):
            rows = index_rows(d, ch)
            now = time.time()
            # the cleaner runs every 10 s: nothing older than depth + 10 s (+ slack)
            assert rows and rows[0][0] / 1000 > now - 14.4 - 12, (rows[0], now)
            on_disk = set()
            for root, dirs, files in os.walk(os.path.join(d.archive, ch)):
                assert files or dirs, "an empty folder was left: " + root
                on_disk |= {os.path.relpath(os.path.join(root, f), os.path.join(d.archive, ch))
                            for f in files}
            # a file is being written while we look: compare what both had
            indexed = {r[4] for r in index_rows(d, ch)}
            assert {p for p in on_disk if p in indexed or p < min(indexed)} == \
                {p for p in indexed if p in on_disk or p < max(on_disk)}, (on_disk ^ indexed)
            assert not [p for p in on_disk if p < min(indexed)], "files outlived their rows"
    finally:
        d.stop()


def key_rows(d):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.archive, "index.db"), uri=True)
    try:
        return {r[0]: r[1:] for r in db.execute("SELECT id, key, iv, uri FROM keys")}
    finally:
        db.close()


def key_of(d, ch, path):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.archive, "index.db"), uri=True)
    try:
        return db.execute("SELECT key_id FROM segments WHERE channel=? AND path=?",
                          (ch, path)).fetchone()[0]
    finally:
        db.close()


def decrypt(data, key, iv):
    r = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key, "-iv", iv],
                       input=data, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_encrypted_archive_with_rotating_keys(env, tmp_path):
    d0, fake = env
    fake.set(drm_down=1)
    d = Daemon(str(tmp_path))
    d.archive = os.path.join(str(tmp_path), "archive")
    plugin = pvr_plugin(fake, d.archive, cam1={"encrypt": True})
    plugin.update(key_server=fake.base + "/drm/keys/", key_uri=fake.base + "/drm/keys/",
                  content_id="7", key_rotation_segments=3)
    d.start(plugins=[plugin])
    try:
        # the DRM backend away: the clear channel archives, the encrypted one
        # writes nothing at all and counts the failures
        wait_for(lambda: (d.metric("streamgate_hls_pvr_key_fetches_total",
                                   {"channel": "cam1", "result": "failed"}) or 0) >= 2,
                 timeout=30, interval=0.2, what="key failures counted")
        archived(d, "cam0", 3)
        assert index_rows(d, "cam1") == []
        assert not os.path.exists(os.path.join(d.archive, "cam1")) or \
            not [f for _, _, fs in os.walk(os.path.join(d.archive, "cam1")) for f in fs]
        d.wait_log(r"cam1: key server .*/drm/keys/7: .*nothing is archived until a key comes")
        fake.set(drm_down=0, rotate=1)
        rows = archived(d, "cam1", 9)
        keys = key_rows(d)
        assert len(keys) >= 3, keys
        issued = {(k["key"], k["iv"]) for k in json.loads(fake.get("/fake/drm"))}
        assert {(k, iv) for k, iv, _ in keys.values()} <= issued
        for r in rows[:9]:
            stored = open(os.path.join(d.archive, "cam1", r[4]), "rb").read()
            clear = fake.segment("cam1", num(r), "high")
            k, iv, uri = keys[key_of(d, "cam1", r[4])]
            assert stored != clear and stored[:4] != clear[:4], "stored in clear"
            assert len(stored) == (len(clear) // 16 + 1) * 16, "AES-128-CBC with PKCS#7"
            assert decrypt(stored, k, iv) == clear
            assert uri == fake.base + "/drm/keys/7.bin?iv=0x" + iv
        # the playlist carries the keys; ffmpeg decrypts it with them
        t0, t1 = int(rows[0][0] / 1000) + 1, int(rows[8][0] / 1000)
        st, text = playlist(d, "cam1", t0, t1)
        assert st == 200, text
        tags = [l for l in text.splitlines() if l.startswith("#EXT-X-KEY:")]
        assert len(tags) >= 2 and len(set(tags)) == len(tags), tags
        assert all(re.match(r'#EXT-X-KEY:METHOD=AES-128,URI="[^"]+",IV=0x[0-9a-f]{32}$', t)
                   for t in tags), tags
        out = os.path.join(str(tmp_path), "dec.ts")
        url = d.url("/streamer/cam1.m3u8?startTimestamp=%d&endTimestamp=%d" % (t0, t1))
        r = run(["ffmpeg", "-v", "error", "-y", "-i", url, "-c", "copy", "-f", "mpegts", out],
                timeout=120)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        assert abs(ffprobe_duration(out) - (t1 - t0)) <= SEG + 0.1
        # the encrypted live playlist (the original tool's encryptor output)
        st, h, body = d.request("GET", "/hls_pvr/cam1/live.m3u8")
        live = body.decode()
        assert st == 200 and "#EXT-X-KEY:METHOD=AES-128" in live and "#EXT-X-ENDLIST" not in live
        assert len(entries(live)) == 6, live
        r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
                 d.url("/hls_pvr/cam1/live.m3u8")], timeout=60)
        assert r.returncode == 0 and "video" in r.stdout, r.stderr
        # the catchup forms give the clear stream, decrypted on the way out,
        # with its length and Range from any byte (CBC restarts mid-segment)
        t, dur = int(rows[1][0] / 1000) + 1, 8
        want = [r for r in index_rows(d, "cam1") if r[0] < (t + dur) * 1000 and r[0] + r[1] > t * 1000]
        clear = b"".join(fake.segment("cam1", num(r), "high") for r in want)
        st, h, body = d.request("GET", "/cam1/archive-%d-%d.ts" % (t, dur))
        assert st == 200 and int(h["content-length"]) == len(clear) and body == clear
        for a, b in ((12345, 40000), (0, 15), (len(clear) - 17, len(clear) - 1)):
            st, h, part = d.request("GET", "/cam1/archive-%d-%d.ts" % (t, dur),
                                    headers={"Range": "bytes=%d-%d" % (a, b)})
            assert st == 206 and part == clear[a:b + 1], (a, b, st, len(part))
        # a malformed answer: counted, the current key stays, archiving goes on
        n = len(index_rows(d, "cam1"))
        fake.set(drm_malformed=2)
        wait_for(lambda: (d.metric("streamgate_hls_pvr_key_fetches_total",
                                   {"channel": "cam1", "result": "failed"}) or 0) >= 4 and
                 len(index_rows(d, "cam1")) > n + 4, timeout=60, interval=0.2,
                 what="malformed keys counted while archiving goes on")
    finally:
        fake.set(drm_down=0, rotate=0, drm_malformed=0)
        d.stop()


def stream_for(d, path, seconds):
    """GET path and read for that long (a stream that does not end)."""
    import socket
    s = socket.create_connection((d.host, d.port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = b""
    end = time.monotonic() + seconds
    s.settimeout(0.5)
    while time.monotonic() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def markers(body, ch):
    return [int(n) for n in re.findall(rb"SGMARK ch=" + ch.encode() + rb" v=high n=(\d+)", body)]


def test_catalog_live_and_catchup_forms(env, tmp_path):
    d, fake = env
    rows = archived(d, "cam1", 10)
    m3u = d.get("/channels.m3u")[2].decode()
    for ch in ("cam0", "cam1"):
        line = next(l for l in m3u.splitlines() if 'tvg-name="%s"' % ch in l)
        assert 'catchup="flussonic-ts"' in line and 'catchup-days="1"' in line, line
        assert "%s/%s/mpegts" % (d.base, ch) in m3u
    # archive-T-D.ts: the window's segments back to back, with a length
    t, dur = rows[2][0] // 1000 + 1, 10
    want = [r for r in index_rows(d, "cam1") if r[0] < (t + dur) * 1000 and r[0] + r[1] > t * 1000]
    data = b"".join(open(os.path.join(d.archive, "cam1", r[4]), "rb").read() for r in want)
    st, h, body = d.request("GET", "/cam1/archive-%d-%d.ts" % (t, dur))
    assert st == 200 and int(h["content-length"]) == len(data) and body == data, (st, h)
    assert h.get("accept-ranges") == "bytes"
    st, h, part = d.request("GET", "/cam1/archive-%d-%d.ts" % (t, dur),
                            headers={"Range": "bytes=1000-5999"})
    assert st == 206 and part == data[1000:6000], (st, h)
    assert h["content-range"] == "bytes 1000-5999/%d" % len(data)
    st, h, _ = d.request("GET", "/cam1/archive-%d-%d.ts" % (t, dur),
                         headers={"Range": "bytes=%d-" % (len(data) + 10)})
    assert st == 416 and h["content-range"] == "bytes */%d" % len(data)
    out = os.path.join(str(tmp_path), "window.ts")
    open(out, "wb").write(body)
    assert abs(ffprobe_duration(out) - len(want) * SEG) < 0.5
    # index-T-D.m3u8: the interval playlist (absolute-path segment URIs)
    st, h, pl = d.request("GET", "/cam1/index-%d-%d.m3u8" % (t, dur))
    assert st == 200 and h["content-type"] == "application/vnd.apple.mpegurl"
    assert "\n/hls_pvr/cam1/" in pl.decode() and pl.decode().rstrip().endswith("#EXT-X-ENDLIST")
    assert abs(ffprobe_duration(d.url("/cam1/index-%d-%d.m3u8" % (t, dur))) - dur) <= SEG
    # nothing archived then: 404
    assert d.request("GET", "/cam1/archive-%d-60.ts" % (t - 86400 // 2))[0] == 404
    # timeshift_abs-T.ts: from T on and into what is archived meanwhile
    newest = num(index_rows(d, "cam1")[-1])
    head, body = stream_for(d, "/cam1/timeshift_abs-%d.ts" % t, 7)
    assert head.startswith("HTTP/1.1 200"), head
    ns = markers(body, "cam1")
    assert ns[0] == num(want[0]) and ns[-1] > newest, (ns[:3], ns[-3:], newest)
    assert ns == sorted(set(ns)), "each segment once, in order"
    # live TS: the live HLS through the core's reader, from one behind the edge
    newest = num(index_rows(d, "cam1")[-1])
    head, body = stream_for(d, "/cam1/mpegts", 5)
    ns = markers(body, "cam1")
    assert head.startswith("HTTP/1.1 200") and ns and ns[0] >= newest - 1 and ns[-1] > ns[0], (ns, newest)
    assert ns == list(range(ns[0], ns[0] + len(ns))), ns
    # live HLS: the six newest
    st, h, pl = d.request("GET", "/cam1/index.m3u8")
    assert st == 200 and len(entries(pl.decode())) == 6


def test_times_without_program_date_time(tmp_path, tmp_path_factory):
    """No PROGRAM-DATE-TIME: the arrival clock. Consecutive segments follow
    on exactly; every start is within the publishing delay of the truth;
    after a gap the clock is re-anchored (a discontinuity) instead of
    running on from before it."""
    fake = FakeHls(str(tmp_path / "fake"), str(tmp_path_factory.getbasetemp() / "hlsmedia0"),
                   "--no-pdt", "--channels", "1")
    d = Daemon(str(tmp_path))
    d.archive = os.path.join(str(tmp_path), "archive")
    try:
        d.start(plugins=[{"name": "hls_pvr", "dir": d.archive, "channels": (
            {"name": "cam0", "source": fake.base + "/live/cam0/master.m3u8"},)}])
        rows = archived(d, "cam0", 10)
        # the first playlist's segments are anchored on arrival, then each
        # new one follows on from the one before
        for a, b in zip(rows, rows[1:]):
            assert b[0] == a[0] + a[1] and b[3] == 0, (a, b)
        late = [r[0] / 1000 - fake.seg_start(num(r)) for r in rows]
        assert all(0 <= x < 2 * SEG + 0.5 for x in late), late
        fake.set(ch="cam0", gap=10)
        wait_for(lambda: fake.stats()["channels"]["cam0"]["gaps"] and index_rows(d, "cam0")[-1][0] / 1000
                 > fake.stats()["channels"]["cam0"]["gaps"][0][1] + 6, timeout=60, interval=0.3,
                 what="segments after the gap")
        gap = fake.stats()["channels"]["cam0"]["gaps"][0]
        rows = index_rows(d, "cam0")
        first = next(r for r in rows if fake.seg_start(num(r)) >= gap[1] - 0.01)
        assert first[3] == 1, "re-anchored: a discontinuity"
        assert 0 <= first[0] / 1000 - gap[1] < 2 * SEG + 0.5, (first, gap)
        t0, t1 = int(rows[0][0] / 1000), int(rows[-1][0] / 1000) + 2
        cov = d.json("/streamer/cam0/metadata?startTimestamp=%d&endTimestamp=%d" % (t0, t1))
        assert len(cov) == 2, cov
    finally:
        d.stop()
        fake.stop()
