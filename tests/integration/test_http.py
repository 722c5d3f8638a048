"""HTTP/1.1 server behaviour, spoken over raw sockets and with curl."""
import json
import re
import socket
import time

import pytest

from conftest import demo_plugin, run, wait_for


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def read_response(sock, buf=b""):
    """Read one response with a Content-Length from sock; returns
    (status, headers, body, leftover)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the response head"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, headers, _ = split_response(head + b"\r\n\r\n")
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return status, headers, rest[:n], rest[n:]


@pytest.fixture
def sg(daemon):
    daemon.start(plugins=[demo_plugin()])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    return daemon


def test_keepalive_and_pipelining(sg):
    s = socket.create_connection((sg.host, sg.port), timeout=5)
    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
    status, h, body, rest = read_response(s)
    assert status == 200 and "connection" not in h
    json.loads(body)
    # two pipelined requests on the same connection
    s.sendall(b"GET /channels.m3u HTTP/1.1\r\nHost: x\r\n\r\nHEAD /channels.m3u HTTP/1.1\r\nHost: x\r\n\r\n")
    status, h, body, rest = read_response(s, rest)
    assert status == 200 and body.startswith(b"#EXTM3U")
    # HEAD: same Content-Length, no body
    status, h2, body2, rest = read_response_head_only(s, rest)
    assert status == 200 and int(h2["content-length"]) == len(body) and body2 == b""
    # Connection: close is honoured
    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, h, body, rest = read_response(s, rest)
    assert h["connection"] == "close"
    assert s.recv(10) == b""
    s.close()


def read_response_head_only(sock, buf):
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, headers, _ = split_response(head + b"\r\n\r\n")
    return status, headers, b"", rest


def test_http10_closes_unless_keepalive(sg):
    status, h, body = split_response(sg.raw(b"GET /api/status HTTP/1.0\r\n\r\n"))
    assert status == 200 and h["connection"] == "close"
    s = socket.create_connection((sg.host, sg.port), timeout=5)
    s.sendall(b"GET /api/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, h, body, rest = read_response(s)
    assert h["connection"] == "keep-alive"
    s.sendall(b"GET /api/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, h, body, rest = read_response(s, rest)
    assert status == 200
    s.close()


@pytest.mark.parametrize("req,status,reason", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request line too long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 40000 + b"\r\n\r\n", 431,
     "request head too large"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n",
     431, "too many header fields"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "only HTTP/1.x"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "without Host"),
    (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folding"),
    (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoding"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "chunked"),
    (b"POST /api/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413, "larger than"),
], ids=["414", "431-size", "431-count", "505", "no-host", "garbage", "fold", "escape", "chunked",
        "413"])
def test_bad_requests(sg, req, status, reason):
    got, h, body = split_response(sg.raw(req))
    assert got == status, body
    assert h["content-type"] == "application/json"
    assert reason in json.loads(body)["error"]
    assert h["connection"] == "close"


def test_not_found_and_method_not_allowed(sg):
    status, h, body = sg.get("/nothing/here")
    assert status == 404 and json.loads(body)["error"]
    status, h, body = sg.get("/api/unknown")
    assert status == 404 and "no such API endpoint" in json.loads(body)["error"]
    status, h, body = sg.request("DELETE", "/channels.m3u")
    assert status == 405 and h["allow"] == "GET, HEAD"
    status, h, body = sg.get("/api/reload")
    assert status == 405 and h["allow"] == "POST"


def test_slow_request_gets_408(daemon):
    daemon.start(server={"request_timeout": 1})
    s = socket.create_connection((daemon.host, daemon.port), timeout=5)
    s.sendall(b"GET /api/status HTTP/1.1\r\nHo")
    t0 = time.monotonic()
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    elapsed = time.monotonic() - t0
    status, h, body = split_response(data)
    assert status == 408 and json.loads(body)["error"] == "request not received in time"
    assert int(h["content-length"]) == len(body)
    assert 0.5 < elapsed < 4
    # an idle connection (no bytes at all) is closed silently
    s = socket.create_connection((daemon.host, daemon.port), timeout=5)
    assert s.recv(10) == b""


def test_idle_keepalive_timeout(daemon):
    daemon.start(server={"keepalive_timeout": 1})
    s = socket.create_connection((daemon.host, daemon.port), timeout=5)
    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
    read_response(s)
    t0 = time.monotonic()
    assert s.recv(10) == b""
    assert time.monotonic() - t0 < 4


def test_allow_list_forbids(daemon):
    daemon.start(server={"allow": ["10.0.0.0/8", "::1"]})
    status, h, body = daemon.get("/channels.m3u")
    assert status == 403
    assert "127.0.0.1 is not in server.allow" in json.loads(body)["error"]
    daemon.stop(check=False)
    daemon.check_log()
    daemon.start(server={"allow": ["127.0.0.0/8"]})
    assert daemon.get("/channels.m3u")[0] == 200


def test_admin_token(daemon):
    daemon.start(server={"admin_token": "s3cret"})
    status, h, body = daemon.request("POST", "/api/reload")
    assert status == 401 and "Bearer" in h["www-authenticate"]
    assert daemon.request("POST", "/api/reload", headers={"Authorization": "Bearer nope"})[0] == 401
    assert daemon.request("POST", "/api/reload", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert daemon.request("POST", "/api/reload?token=s3cret")[0] == 200
    assert daemon.request("POST", "/api/reload?token=s3cre")[0] == 401
    # reading stays open
    assert daemon.get("/api/status")[0] == 200
    # without a token configured the endpoint is open
    daemon.restart(server={})
    assert daemon.request("POST", "/api/reload")[0] == 200


def test_access_log_line(sg):
    sg.get("/channels.m3u")
    m = sg.wait_log(r"\[info\] access: 127\.0\.0\.1 GET /channels\.m3u 200 (\d+) [\d.]+ms")
    assert int(m.group(1)) > 100
    # the query string (tokens!) is not logged
    sg.get("/api/status?token=abc")
    sg.wait_log(r"access: 127\.0\.0\.1 GET /api/status 200")
    assert "token=abc" not in sg.log()


def test_curl_range_on_guide(sg):
    status, h, full = sg.get("/guide.xml")
    assert status == 200 and h["accept-ranges"] == "bytes"
    size = len(full)
    status, h, part = sg.get("/guide.xml", headers={"Range": "bytes=10-29"})
    assert status == 206 and part == full[10:30]
    assert h["content-range"] == "bytes 10-29/%d" % size
    status, h, part = sg.get("/guide.xml", headers={"Range": "bytes=-100"})
    assert status == 206 and part == full[-100:]
    status, h, body = sg.get("/guide.xml", headers={"Range": "bytes=%d-" % (size + 10)})
    assert status == 416 and h["content-range"] == "bytes */%d" % size
    # several ranges: the whole document
    status, h, body = sg.get("/guide.xml", headers={"Range": "bytes=0-1,5-6"})
    assert status == 200 and body == full
    # curl resumes a download with a range
    r = run(["curl", "-s", "-r", "100-199", "-o", "-", sg.url("/guide.xml")])
    assert r.stdout.encode() == full[100:200]


def test_max_connections(daemon):
    daemon.start(server={"max_connections": 16})
    socks = [socket.create_connection((daemon.host, daemon.port), timeout=5) for _ in range(16)]
    try:
        # this request is the 17th connection
        status, h, body = daemon.get("/api/status")
        assert status == 503 and "too many connections" in json.loads(body)["error"]
        assert h["retry-after"] == "5"
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: daemon.get("/api/status")[0] == 200, what="connections to free up")
