"""The segment cache end to end (host->seg_get, through the demo plugin's
/demo/seg route) against the fake HLS origin: 50 clients asking at once for
a segment cause one upstream fetch and all get its exact bytes; later ones
are hits; an error page or a 404 is handed to no one as a segment and never
cached; a client that leaves while waiting harms nobody."""
import concurrent.futures
import os
import shutil
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import Daemon, demo_plugin, wait_for
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


class Redis:
    """redis-server on a unix socket of its own, nothing on TCP."""

    def __init__(self, workdir):
        self.sock = os.path.join(workdir, "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=open(os.path.join(workdir, "redis.log"), "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.sock), timeout=10, what="redis-server")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_two_nodes_share_one_redis(daemon, workdir, tmp_path_factory):
    """Two streamgate processes, one Redis: the second node's clients cost
    the upstream nothing; both at once, one fetch; Redis killed: each node
    goes on from its own memory."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    fake = FakeHls(os.path.join(workdir, "fake"), str(tmp_path_factory.mktemp("segmedia")),
                   "--channels", "1")
    redis = Redis(workdir)
    os.makedirs(os.path.join(workdir, "node2"))
    other = Daemon(os.path.join(workdir, "node2"))
    cache = {"backend": "redis", "redis": "unix:" + redis.sock}
    try:
        daemon.start(plugins=[demo_plugin(seg_route=True)], extra={"cache": cache})
        other.start(plugins=[demo_plugin(seg_route=True)], extra={"cache": cache})
        n = fake.stats()["channels"]["cam0"]["live_edge"]
        want = fake.segment("cam0", n)
        st, h, body = via(daemon, fake, n)
        assert st == 200 and body == want
        st, h, body = via(other, fake, n)
        assert st == 200 and body == want
        assert fetches(fake, n) == 1, "the second node took it from Redis"
        assert other.metric("streamgate_segcache_shared_total", {"result": "hit"}) == 1
        # both nodes, many clients, at the same moment: one fetch in all
        m = n - 1
        fake.set(ch="cam0", slow=1500)
        try:
            with concurrent.futures.ThreadPoolExecutor(40) as pool:
                got = list(pool.map(lambda i: via(daemon if i % 2 else other, fake, m), range(40)))
        finally:
            fake.set(ch="cam0", slow=0)
        assert all(st == 200 and b == fake.segment("cam0", m) for st, _, b in got)
        assert fetches(fake, m) == 1
        # Redis gone: both go on, each from upstream and its own memory
        redis.stop()
        daemon.expect_error(r"redis")
        other.expect_error(r"redis")
        k = n - 2
        st, h, body = via(daemon, fake, k)
        assert st == 200 and body == fake.segment("cam0", k)
        st, h, body = via(other, fake, k)
        assert st == 200 and body == fake.segment("cam0", k)
        assert fetches(fake, k) == 2
        daemon.wait_log(r"redis unix:.*the cache is this node's memory until it is back")
        assert daemon.log().count("the cache is this node's memory") == 1, "logged once"
    finally:
        other.stop()
        redis.stop()
        fake.stop()
