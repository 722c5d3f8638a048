"""/metrics passes promtool and carries what operators look at; /api/status
stays responsive; the load generator works against the daemon."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BUILD, demo_plugin, run, wait_for


def test_promtool_clean(daemon, workdir):
    daemon.start(plugins=[demo_plugin(), {"name": "movistar"}])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    daemon.get("/channels.m3u")
    daemon.get("/nothing")
    daemon.get("/1/mpegts?fail=503")
    text = daemon.metrics()
    path = os.path.join(workdir, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    r = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_expected_series(daemon):
    daemon.start(plugins=[demo_plugin()])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    daemon.get("/channels.m3u")
    daemon.get("/nothing/here")
    rss = daemon.metric("process_resident_memory_bytes")
    assert 1e6 < rss < 200e6
    assert daemon.metric("process_open_fds") > 3
    assert daemon.metric("streamgate_uptime_seconds") >= 0
    assert daemon.metric("streamgate_build_info", {"version": "0.1.0"}) == 1
    assert daemon.metric("streamgate_http_requests_total", {"route": "m3u", "status": "200"}) == 1
    assert daemon.metric("streamgate_http_requests_total", {"route": "channel_unknown",
                                                            "status": "404"}) == 1
    assert daemon.metric("streamgate_catalog_channels", {"plugin": "demo"}) == 2
    assert daemon.metric("streamgate_catalog_programmes") == daemon.status()["catalog"]["programmes"]
    assert daemon.metric("streamgate_plugins_loaded") == 1
    assert daemon.metric("streamgate_plugin_info", {"plugin": "demo", "version": "1.0.0",
                                                    "state": "running"}) == 1
    assert daemon.metric("streamgate_demo_ticks_total") >= 0
    assert daemon.metric("streamgate_log_messages_total", {"level": "err"}) == 0
    # a stream shows up in the per-kind gauges and the first-byte histogram
    s = socket.create_connection((daemon.host, daemon.port), timeout=5)
    s.sendall(b"GET /1/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(1000)
    wait_for(lambda: daemon.metric("streamgate_stream_clients", {"kind": "live"}) == 1,
             what="live gauge")
    assert daemon.metric("streamgate_stream_first_byte_seconds_count", {"kind": "live"}) == 1
    s.close()
    wait_for(lambda: daemon.metric("streamgate_stream_clients", {"kind": "live"}) == 0,
             what="gauge back to 0")


def test_status_answers_while_the_catalog_is_busy(daemon):
    # 40 channels x 8 days of 5-minute slots: a big catalog write on the
    # database thread; the status endpoint must not wait for it.
    chans = [{"id": "c%d" % i, "name": "Channel %d" % i, "catchup_days": 7} for i in range(40)]
    daemon.start(plugins=[demo_plugin(channels=chans, slot_minutes=5, epg_hours=24)])
    t0 = time.monotonic()
    st = daemon.status()
    first = time.monotonic() - t0
    assert first < 1.0, first
    wait_for(lambda: daemon.status()["catalog"]["programmes"] > 80000, timeout=60,
             what="the big commit")
    # and the guide of that catalog validates in one piece
    status, h, body = daemon.get("/guide.xml.gz", timeout=60)
    assert status == 200


def test_sgbench_against_the_daemon(daemon):
    daemon.start(plugins=[demo_plugin(bitrate_kbps=4000)])
    wait_for(lambda: daemon.status()["catalog"]["channels"] == 2, what="channels")
    r = run([os.path.join(BUILD, "bench", "sgbench"), "-u", daemon.url("/1/mpegts"),
             "-u", daemon.url("/2/mpegts"), "-c", "20", "-d", "3", "-k", "4000", "-q",
             "--json", "-"], timeout=30)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["ok"] == 20 and res["errors"] == 0 and res["closed_early"] == 0
    assert res["below90"] == 0
    assert res["ttfb_ms_p99"] < 1000
    wait_for(lambda: daemon.status()["clients"]["total"] == 0, what="clients gone")
