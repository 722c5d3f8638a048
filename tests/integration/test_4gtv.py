"""plugins/4gtv end to end against the fake 4gtv origin (tests/fakes/4gtv):
the clock model (one signed playlist per channel, then the live edge from
the clock), the buffered relay (online.m3u8 + call.ts) and /{fid}/mpegts
playing in ffprobe, one upstream fetch per segment however many clients,
token expiry -> one refresh, a quota status resting one channel only,
quality fallback, the seed's other endpoints, the guide."""
import concurrent.futures
import json
import os
import re
import time

import pytest

from conftest import Daemon, FakeOrigin, run, wait_for
from test_hls_pvr import stream_for

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fakes", "4gtv", "fake_4gtv.py")
STEP = 2


class Fake4gtv(FakeOrigin):
    def __init__(self, workdir, media_dir, *args):
        super().__init__(FAKE, workdir, "fake_4gtv", "--media-dir", media_dir, "--step", str(STEP),
                         *args)

    def stats(self, fid):
        return json.loads(self.get("/fake/stats"))["channels"][fid]

    def segment(self, fid, hd, seq):
        return self.get("/fake/segment?fid=%s&hd=%d&seq=%d" % (fid, hd, seq))


def plugin_conf(fake, **kw):
    chans = []
    for fid, c in fake.info["channels"].items():
        ch = {"fid": fid, "name": c["name"], "number": c["number"], "group": c["group"],
              "family": c["family"], "step": float(STEP), "auth_url": c["auth_url"],
              "templates": tuple({"hd": int(hd), "url": u} for hd, u in sorted(c["templates"].items()))}
        if c["family"] == "begin_seq":
            ch["begin_offset"] = c["begin_offset"]
        chans.append(ch)
    p = {"name": "4gtv", "host": fake.base, "epg_url": fake.info["epg_url"], "vbuffer": 3,
         "refresh_min_seconds": 2, "channels": tuple(chans)}
    p.update(kw)
    return p


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("4gtv"))
    fake = Fake4gtv(os.path.join(work, "fake"), str(tmp_path_factory.mktemp("tvmedia")))
    d = Daemon(work)
    d.conf = dict(plugins=[plugin_conf(fake)])
    d.start(**d.conf)
    try:
        yield d, fake
    finally:
        d.stop()
        fake.stop()


def marks(body):
    return [(m[0].decode(), int(m[1]), int(m[2]))
            for m in re.findall(rb"SGMARK fid=(\S+) hd=(\d+) seq=(\d+)", body)]


def entries(text):
    return [l for l in text.splitlines() if l and not l.startswith("#")]


def test_online_relay_plays_and_fetches_each_segment_once(env):
    d, fake = env
    fid = "4gtv-4gtv001"
    st, h, body = d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % fid)
    assert st == 200, body
    text = body.decode()
    assert "#EXT-X-MEDIA-SEQUENCE:" in text and "#EXT-X-ENDLIST" not in text
    urls = entries(text)
    assert len(urls) == 3 and all("/4gtv/call.ts?fid=%s&seq=" % fid in u for u in urls), text
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
             d.url("/4gtv/online.m3u8?fid=%s&hd=720" % fid)], timeout=60)
    assert r.returncode == 0 and '"video"' in r.stdout and '"audio"' in r.stdout, r.stderr
    # 50 clients on one segment: one upstream fetch, the exact bytes for all
    seq = int(re.search(r"seq=(\d+)", urls[-1]).group(1))
    path = "/4gtv/call.ts?fid=%s&seq=%d&hd=720" % (fid, seq)
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        got = list(pool.map(lambda _: d.request("GET", path, timeout=30), range(50)))
    want = fake.segment(fid, 720, seq)
    assert all(st == 200 and b == want for st, _, b in got), [st for st, _, _ in got]
    assert fake.stats(fid)["segments"]["720:%d" % seq] == 1
    assert marks(want)[0] == (fid, 720, seq)
    # the playlist came from the clock: one signing for all of it
    assert fake.stats(fid)["auth"] == 1
    assert fake.stats(fid)["playlist"] == 1


def test_mpegts_is_a_continuous_stream(env):
    d, fake = env
    fid = "4gtv-live007"
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
             d.url("/%s/mpegts" % fid)], timeout=60)
    assert r.returncode == 0 and '"video"' in r.stdout and '"audio"' in r.stdout, r.stderr
    # the bytes themselves: each segment once, in order (the markers say which)
    head, body = stream_for(d, "/%s/mpegts" % fid, 7)
    assert head.startswith("HTTP/1.1 200"), head
    seqs = [m[2] for m in marks(body)]
    assert len(seqs) >= 3 and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert all(m[0] == fid and m[1] == 720 for m in marks(body))
    # ten viewers at once: still one upstream fetch per segment
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        bodies = list(pool.map(lambda _: stream_for(d, "/%s/mpegts" % fid, 6)[1], range(10)))
    seen = {m[2] for b in bodies for m in marks(b)}
    counts = fake.stats(fid)["segments"]
    assert seen and all(counts["720:%d" % q] == 1 for q in seen), \
        {q: counts.get("720:%d" % q) for q in seen}


def test_expiry_refreshes_once_and_quota_rests_one_channel(env):
    d, fake = env
    a, b = "4gtv-4gtv002", "litv-ftv13"
    # a short token: the expiry passes, segments answer 403, one refresh follows
    fake.set(ttl=6)
    wait_for(lambda: d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % a)[0] == 200, timeout=30,
             what="channel a signed")
    n0 = fake.stats(a)["auth"]
    time.sleep(7)  # the token's whole life: what is tested is what comes after
    fake.set(ttl=10800)

    def segment_ok():
        st, h, body = d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % a)
        if st != 200:
            return False
        u = entries(body.decode())[-1]
        return d.request("GET", u[len(d.base):], timeout=30)[0] == 200
    wait_for(segment_ok, timeout=30, interval=0.5, what="segments again after the expiry")
    assert fake.stats(a)["auth"] - n0 == 1, "exactly one refresh"
    # quality fallback: 4gtv-4gtv002 has no 1080; 720 is served
    st, h, body = d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=1080" % a)
    u = entries(body.decode())[-1]
    st, h, seg = d.request("GET", u[len(d.base):], timeout=30)
    assert st == 200 and marks(seg)[0][1] == 720
    # a daily-quota status on one channel: it rests, the other plays
    assert d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % b)[0] == 200
    fake.set(fid=a, seg_status=230, seg_count=1)
    seq = int(re.search(r"seq=(\d+)", u).group(1)) + 1
    wait_for(lambda: d.request("GET", "/4gtv/call.ts?fid=%s&seq=%d&hd=720" % (a, seq),
                               timeout=30)[0] == 503, timeout=20, interval=0.5,
             what="the quota status")
    st, h, body = d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % a)
    assert st == 503 and int(h["retry-after"]) > 3000, (st, h, body)
    st, h, body = d.request("GET", "/4gtv/online.m3u8?fid=%s&hd=720" % b)
    assert st == 200
    u = entries(body.decode())[-1]
    assert d.request("GET", u[len(d.base):], timeout=30)[0] == 200
    assert d.metric("streamgate_4gtv_cooldowns_total", {"channel": a, "status": "230"}) == 1


def test_seed_endpoints_and_guide(env, tmp_path):
    d, fake = env
    fid = "4gtv-4gtv001"
    # channel.m3u8: segment URLs on a given host, or through /4gtv/live/
    st, h, body = d.request("GET", "/4gtv/channel.m3u8?fid=%s&hd=720&host=http://cdn.example" % fid)
    assert st == 200
    urls = entries(body.decode())
    assert len(urls) == 5 and all(u.startswith("http://cdn.example/live/pool/%s/" % fid) for u in urls)
    assert all("begin=" in u and "token=" in u for u in urls)
    st, h, body = d.request("GET", "/4gtv/channel.m3u8?fid=%s&hd=720" % fid)
    u = entries(body.decode())[-1]
    assert u.startswith(d.base + "/4gtv/live/live/pool/%s/" % fid), u
    st, h, seg = d.request("GET", u[len(d.base):], timeout=30)
    seq = int(re.search(r"seq=(\d+)\.ts", u).group(1))
    assert st == 200 and seg == fake.segment(fid, 720, seq)
    st, h, _ = d.request("GET", "/4gtv/channel2.m3u8?fid=%s" % fid)
    assert st == 302 and h["location"].startswith(fake.base + "/live/pool/%s/index.m3u8?" % fid)
    # program.m3u in the seed's shape
    st, h, body = d.request("GET", "/4gtv/program.m3u?name=online&hd=480")
    text = body.decode()
    assert st == 200 and text.startswith("#EXTM3U")
    assert '/4gtv/online.m3u8?fid=4gtv-live007&hd=480' in text and 'tvg-id="litv-ftv13"' in text
    # errors
    assert d.request("GET", "/4gtv/online.m3u8")[0] == 400
    assert d.request("GET", "/4gtv/online.m3u8?fid=nope")[0] == 404
    assert d.request("GET", "/4gtv/call.ts?fid=%s&seq=x" % fid)[0] == 400
    assert d.request("GET", "/4gtv/live/../../etc/passwd")[0] == 404
    # the guide: XMLTV of the programme lists, and the unified catalog
    wait_for(lambda: b"<programme" in d.request("GET", "/4gtv/epg.xml")[2], timeout=30,
             what="the programme lists")
    xml = str(tmp_path / "epg.xml")
    open(xml, "wb").write(d.request("GET", "/4gtv/epg.xml")[2])
    r = run(["xmllint", "--noout", xml], timeout=30)
    assert r.returncode == 0, r.stderr
    text = open(xml, encoding="utf-8").read()
    assert "+0000" in text and "+0800" not in text, "times normalised to UTC"
    assert "&amp;" in text and "&lt;Classic&gt;" in text
    # the fake's first programme: yesterday 00:00 +0800 is 16:00 UTC the day before
    first = re.search(r'<programme start="(\d{14}) \+0000"', text).group(1)
    assert first.endswith("160000"), first
    m3u = d.get("/channels.m3u")[2].decode()
    assert 'tvg-id="4gtv-4gtv001"' in m3u and "/4gtv-4gtv001/mpegts" in m3u
    wait_for(lambda: b"<programme" in d.get("/guide.xml")[2], timeout=30, what="the unified guide")


def test_two_nodes_one_redis_one_fetch(env, tmp_path):
    """The seed's multi-server distribution: two streamgate nodes sharing one
    Redis; the second node's clients cost the upstream nothing."""
    from test_segcache import Redis
    d0, fake = env
    redis = Redis(str(tmp_path))
    nodes = []
    try:
        for i in range(2):
            os.makedirs(str(tmp_path / ("n%d" % i)))
            n = Daemon(str(tmp_path / ("n%d" % i)))
            n.start(plugins=[plugin_conf(fake)],
                    extra={"cache": {"backend": "redis", "redis": "unix:" + redis.sock}})
            nodes.append(n)
        fid = "litv-ftv13"
        st, h, body = nodes[0].request("GET", "/4gtv/online.m3u8?fid=%s&hd=480" % fid)
        assert st == 200
        seq = int(re.search(r"seq=(\d+)", entries(body.decode())[-1]).group(1))
        key = "480:%d" % seq
        path = "/4gtv/call.ts?fid=%s&seq=%d&hd=480" % (fid, seq)
        st, h, a = nodes[0].request("GET", path, timeout=30)
        assert st == 200 and fake.stats(fid)["segments"][key] == 1
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            got = list(pool.map(lambda _: nodes[1].request("GET", path, timeout=30), range(20)))
        assert all(s == 200 and b == a for s, _, b in got)
        assert fake.stats(fid)["segments"][key] == 1, "the second node's clients: zero fetches"
    finally:
        for n in nodes:
            n.stop()
        redis.stop()
