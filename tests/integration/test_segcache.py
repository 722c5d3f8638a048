"""The segment cache end to end (host->seg_get, through the demo plugin's
/demo/seg route) against the fake HLS origin: 50 clients asking at once for
a segment cause one upstream fetch and all get its exact bytes; later ones
are hits; an error page or a 404 is handed to no one as a segment and never
cached; a client that leaves while waiting harms nobody."""
import concurrent.futures
import os
import socket
import time
import urllib.parse

import pytest

from conftest import demo_plugin, wait_for
from test_hls_pvr import FakeHls


@pytest.fixture
def env(daemon, workdir, tmp_path_factory):
    fake = FakeHls(os.path.join(workdir, "fake"), str(tmp_path_factory.mktemp("segmedia")),
                   "--channels", "1")
    daemon.start(plugins=[demo_plugin(seg_route=True)])
    try:
        yield daemon, fake
    finally:
        fake.stop()


def seg_url(fake, n):
    return "%s/live/cam0/high/seg_%d.ts" % (fake.base, n)


def via(d, fake, n, **q):
    q["url"] = seg_url(fake, n)
    return d.request("GET", "/demo/seg?" + urllib.parse.urlencode(q), timeout=30)


def fetches(fake, n):
    return fake.stats()["channels"]["cam0"]["segment_fetches"].get(str(n), 0)


def test_single_flight_hits_and_refusals(env):
    d, fake = env
    n = fake.stats()["channels"]["cam0"]["live_edge"]
    want = fake.segment("cam0", n)
    fake.set(ch="cam0", slow=1500)  # every request arrives while the fetch runs
    try:
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            got = list(pool.map(lambda _: via(d, fake, n), range(50)))
    finally:
        fake.set(ch="cam0", slow=0)
    assert all(st == 200 and body == want for st, h, body in got), \
        [(st, len(body)) for st, h, body in got if st != 200 or body != want][:3]
    assert got[0][1]["content-type"] == "video/mp2t"
    assert fetches(fake, n) == 1
    # afterwards: hits
    for _ in range(5):
        st, h, body = via(d, fake, n)
        assert st == 200 and body == want
    assert fetches(fake, n) == 1
    assert d.metric("streamgate_segcache_requests_total", {"result": "fill"}) >= 1
    assert d.metric("streamgate_segcache_requests_total", {"result": "wait"}) >= 49 - 5
    assert d.metric("streamgate_segcache_requests_total", {"result": "hit"}) >= 5

    # an error page is nobody's segment, and is not kept
    m = n - 1
    fake.set(ch="cam0", errbody=1)
    st, h, body = via(d, fake, m)
    assert st == 502 and b"text body" in body, (st, body)
    st, h, body = via(d, fake, m)
    assert st == 200 and body == fake.segment("cam0", m)
    assert fetches(fake, m) == 2
    # a 404 says so
    st, h, body = via(d, fake, n + 1000)
    assert st == 502 and b"HTTP 404" in body, body
    # a body that is not MPEG-TS is refused only when the caller asked for TS
    pl = fake.base + "/live/cam0.m3u8"
    st, h, body = d.request("GET", "/demo/seg?" + urllib.parse.urlencode({"url": pl}))
    assert st == 502, st
    st, h, body = d.request("GET", "/demo/seg?" + urllib.parse.urlencode({"url": pl, "any": 1}))
    assert st == 200 and body.startswith(b"#EXTM3U"), body[:40]


def test_client_leaving_while_waiting(env):
    d, fake = env
    n = fake.stats()["channels"]["cam0"]["live_edge"] - 2
    fake.set(ch="cam0", slow=1500)
    try:
        path = "/demo/seg?" + urllib.parse.urlencode({"url": seg_url(fake, n)})
        gone = []
        for _ in range(5):
            s = socket.create_connection((d.host, d.port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            gone.append(s)
        time.sleep(0.2)  # the requests are in; now they leave
        for s in gone:
            s.close()
        st, h, body = via(d, fake, n)
    finally:
        fake.set(ch="cam0", slow=0)
    assert st == 200 and body == fake.segment("cam0", n)
    assert fetches(fake, n) == 1
    assert d.request("GET", "/api/status")[0] == 200
