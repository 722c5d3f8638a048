"""plugins/movistar against the simulated Movistar network (tests/fakes/movistar):
discovery over the appserver and DVB-STP, scrambling probes, the 8-day binary
EPG, playlists and guide, live through the relay, restarts and a misbehaving
network."""
import calendar
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import run, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fakes", "movistar", "fake_movistar.py")
BUILD = os.environ.get("STREAMGATE_BUILD", os.path.join(HERE, "..", "..", "build"))
MCSEND = os.path.join(BUILD, "tests", "fakes", "mcsend")
DTD = "/usr/share/xmltv/xmltv.dtd"


class FakeNet:
    def __init__(self, workdir, media_dir, *args):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.log = open(os.path.join(workdir, "fake.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--workdir", workdir, "--media-dir", media_dir,
             "--mcsend", MCSEND, *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), "fake network did not start: %r\n%s" % (
            line, open(os.path.join(workdir, "fake.log")).read())
        self.info = json.loads(line[len("READY "):])
        self.truth = json.load(open(self.info["truth"]))

    def stats(self):
        import urllib.request
        with urllib.request.urlopen(self.info["appserver"] + "/fake/stats", timeout=5) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def fake_media(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mvmedia"))


@pytest.fixture
def fakenet(workdir, fake_media):
    made = []

    def start(*args, name="net"):
        f = FakeNet(os.path.join(workdir, name), fake_media, *args)
        made.append(f)
        return f
    yield start
    for f in made:
        f.stop()


def movistar_plugin(net, **kw):
    p = {"name": "movistar", "iptv_address": "127.0.0.1",
         "dns": "", "appserver": [net.info["appserver"]]}
    p.update(kw)
    return p


def plugin_status(daemon):
    return next(p for p in daemon.status()["plugins"] if p["name"] == "movistar")


def wait_ready(daemon, timeout=120):
    wait_for(lambda: plugin_status(daemon)["status"].startswith("ready")
             and daemon.status()["catalog"]["pending_updates"] == 0, timeout=timeout,
             interval=0.2, what="movistar discovery and EPG")


def parse_m3u(text):
    entries = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#EXTINF"):
            attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', line))
            entries.append((attrs, line.rsplit(",", 1)[1], lines[i + 1]))
    return entries


def clear_channels(net):
    return [c for c in net.info["channels"] if not c["encrypted"]]


def test_discovery_playlist_guide_and_live(daemon, fakenet, workdir):
    net = fakenet()
    assert len(net.info["channels"]) >= 100 and net.info["programmes"] >= 20000
    daemon.start(plugins=[movistar_plugin(net)])
    wait_ready(daemon)
    # extended info (epgInfov2) of what airs in the next hours, 4 requests at a time
    wait_for(lambda: plugin_status(daemon)["details"]["info_pending"] == 0
             and daemon.status()["catalog"]["pending_updates"] == 0, timeout=120,
             interval=0.2, what="extended programme info")
    stats = net.stats()
    assert stats["requests"]["epgInfov2"] > 100 and stats["inflight_peak"] <= 4, stats
    assert stats["with_cookie"] >= stats["total"] - 1  # JSESSIONID sent back

    # every unencrypted subscribed channel, none of the scrambled ones
    entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    by_tvg = {a["tvg-id"]: (a, name, url) for a, name, url in entries}
    want = clear_channels(net)
    assert sorted(by_tvg) == sorted("%s.movistar.tv" % c["id"] for c in want)
    for c in net.info["channels"]:
        if c["encrypted"]:
            assert "%s.movistar.tv" % c["id"] not in by_tvg
    sample = want[0]
    a, name, url = by_tvg["%s.movistar.tv" % sample["id"]]
    assert name == sample["name"]
    assert a["catchup"] == "flussonic-ts" and a["catchup-days"] == "8"
    assert int(a["tvg-chno"]) == (sample["lcn"] or 999)

    # logos through our caching proxy: fetched from the provider once
    with_logo = next(c for c in want if c.get("logo"))
    logo_url = by_tvg["%s.movistar.tv" % with_logo["id"]][0]["tvg-logo"]
    assert logo_url == daemon.url("/Logos/%s" % with_logo["logo"])
    images = net.stats()["images"]
    code, h, img = daemon.get("/Logos/%s" % with_logo["logo"])
    assert code == 200 and h["content-type"] in ("image/png", "image/jpeg"), (code, h)
    import urllib.request
    direct = urllib.request.urlopen(net.info["appserver"] + "/appclient/incoming/epg/channelLogo/"
                                    + with_logo["logo"], timeout=5).read()
    assert img == direct
    assert daemon.get("/Logos/%s" % with_logo["logo"])[2] == img
    assert net.stats()["images"] == images + 2  # ours once, plus the direct one above
    assert daemon.get("/Logos/../etc/passwd")[0] in (400, 404)

    # the guide: valid, and the programmes of a channel are the ones sent
    status, _, xml = daemon.get("/guide.xml")
    assert status == 200
    path = os.path.join(workdir, "guide.xml")
    with open(path, "wb") as f:
        f.write(xml)
    if os.path.exists(DTD):
        r = run(["xmllint", "--noout", "--nonet", "--dtdvalid", DTD, path])
        assert r.returncode == 0, r.stderr[-2000:]
    env = dict(os.environ, XMLTV_SUPPLEMENT="/usr/share/xmltv")
    r = run(["tv_validate_file", path], env=env, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    root = ET.fromstring(xml)
    progs = root.findall("programme")
    assert len(progs) >= 20000
    epg_id = sample["replacement"] or sample["id"]
    sent = net.truth[str(epg_id)] if str(epg_id) in net.truth else net.truth[int(epg_id)]
    mine = [p for p in progs if p.get("channel") == "%s.movistar.tv" % sample["id"]]
    assert len(mine) == len(sent)
    first = sent[0]
    got = mine[0]
    assert got.find("title").text == html.unescape(first["series"] or first["title"])
    # what airs now has its description and cover (through /Covers) from epgInfov2
    t = time.time()
    on_now = next(p for p in mine if xmltv_start(p) <= t < xmltv_stop(p))
    assert on_now.find("desc") is not None and on_now.find("desc").text
    cover = on_now.find("icon").get("src")
    assert cover.startswith(daemon.url("/Covers/")), cover
    code, h, img = daemon.get(cover[len(daemon.base):])
    assert code == 200 and h["content-type"].startswith("image/") and len(img) > 0
    # ... and its people, as XMLTV credits (the DTD check above saw their order)
    with_credits = [p for p in progs if p.find("credits") is not None]
    assert len(with_credits) > 100
    roles = {c.tag for p in with_credits for c in p.find("credits")}
    assert {"director", "actor"} <= roles, roles

    # live through the relay
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type",
             "-of", "json", daemon.url("/%s/live" % sample["id"])], timeout=60)
    assert r.returncode == 0, r.stderr
    kinds = [s["codec_type"] for s in json.loads(r.stdout)["streams"]]
    assert kinds.count("video") == 1 and kinds.count("audio") == 2

    # metrics: promtool-clean, and they say what happened
    r = run(["promtool", "check", "metrics"], input=daemon.metrics(), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert daemon.metric("streamgate_movistar_channels") == len(want)
    assert daemon.metric("streamgate_movistar_epg_programmes") >= 20000
    assert daemon.metric("streamgate_movistar_channel_probes_total",
                         {"result": "encrypted"}) == len(net.info["channels"]) - len(want)


def guide_programmes(daemon):
    status, _, xml = daemon.get("/guide.xml")
    assert status == 200
    return ET.fromstring(xml).findall("programme")


def xmltv_stop(p):
    return calendar.timegm(time.strptime(p.get("stop")[:14], "%Y%m%d%H%M%S"))


def xmltv_start(p):
    return calendar.timegm(time.strptime(p.get("start")[:14], "%Y%m%d%H%M%S"))


def test_restart_keeps_past_days_and_cache_serves_when_unreachable(daemon, fakenet):
    # yesterday's week first ...
    net = fakenet("--origin-days", "-1", name="net1")
    daemon.start(plugins=[movistar_plugin(net)])
    wait_ready(daemon)
    today = int(time.time()) // 86400 * 86400
    yesterday = {(p.get("channel"), p.get("start"), p.find("title").text)
                 for p in guide_programmes(daemon) if xmltv_start(p) < today}
    assert len(yesterday) > 2000
    oldest = min(xmltv_start(p) for p in guide_programmes(daemon))
    daemon.stop()
    net.stop()
    # ... then today's: the day that is no longer carouselled stays in the guide
    net = fakenet("--origin-days", "0", name="net2")
    daemon.start(plugins=[movistar_plugin(net)])
    wait_ready(daemon)
    progs = guide_programmes(daemon)
    assert min(xmltv_start(p) for p in progs) == oldest
    now = {(p.get("channel"), p.get("start"), p.find("title").text) for p in progs}
    assert yesterday <= now
    assert max(xmltv_start(p) for p in progs) >= today + 7 * 86400
    daemon.stop()

    # the IPTV network is gone: the daemon starts, says so once per retry,
    # and serves the cached channels, guide and live streams
    daemon.start(plugins=[movistar_plugin(net, iptv_address="", dns="10.255.255.1")])
    daemon.wait_log(r"Movistar IPTV network not reachable: no route to 10\.255\.255\.1; "
                    r"retrying in 60 s")
    assert "not reachable" in plugin_status(daemon)["status"]
    entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    assert len(entries) == len(clear_channels(net))
    assert len(guide_programmes(daemon)) == len(progs)
    sample = clear_channels(net)[1]
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
             daemon.url("/%s/live" % sample["id"])], timeout=60)
    assert r.returncode == 0, r.stderr
    assert [s["codec_type"] for s in json.loads(r.stdout)["streams"]].count("audio") == 2


def test_misbehaving_network(daemon, fakenet):
    net = fakenet("--loss", "2", "--reorder", "3", "--version-bump", "3",
                  "--appserver-fail", "3", "--truncate-epg", "5")
    dead = "http://127.0.0.1:9"  # nothing listens: the next endpoint is tried
    daemon.start(plugins=[movistar_plugin(net, appserver=[dead, net.info["appserver"]])])
    daemon.wait_log(r"Movistar appserver unreachable \(tried 2 endpoints\); retrying in 2 s")
    wait_ready(daemon, timeout=180)
    entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    assert sorted(a["tvg-id"] for a, _, _ in entries) == sorted(
        "%s.movistar.tv" % c["id"] for c in clear_channels(net))
    # lost and reordered sections never give a corrupt parse: every programme
    # in the guide is one the network sent; truncated records are dropped
    progs = guide_programmes(daemon)
    assert os.path.exists(os.path.join(net.dir, "bump.json"))  # a segment changed version
    net.truth = json.load(open(net.info["truth"]))  # the fake rewrote it then
    # one guide entry per channel and programme (channels sharing a
    # replacement service share its schedule)
    sent = sum(len(net.truth.get(str(c["replacement"] or c["id"]), []))
               for c in clear_channels(net))
    assert 0.8 * sent <= len(progs) <= sent
    titles = set()
    for v in net.truth.values():
        for p in v:
            titles.add(html.unescape(p["series"] or p["title"]))  # truth keeps entities raw
    bad = [p.find("title").text for p in progs if p.find("title").text not in titles]
    assert not bad, bad[:10]
    assert daemon.metric("streamgate_movistar_dvbstp_sections_total", {"result": "ok"}) > 0
    assert net.stats()  # the fake answered throughout


def test_names_resolved_through_the_iptv_dns(daemon, fakenet):
    # the appserver and the image host have names only the IPTV DNS knows;
    # its first answer is lost (the client retries)
    net = fakenet("--dns-port", "0", "--hostnames", "--dns-fail-first", "1", "--days", "2")
    port = net.info["appserver"].rsplit(":", 1)[1]
    unknown = "http://nowhere.example:%s" % port  # NXDOMAIN: the next endpoint is tried
    daemon.start(plugins=[movistar_plugin(net, dns=net.info["dns"], epg_days=2,
                                          appserver=[unknown, net.info["appserver_name"]])])
    daemon.wait_log(r"appserver http://nowhere\.example:\d+ getClientProfile: "
                    r"cannot resolve nowhere\.example: no such name")
    wait_ready(daemon)
    entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    assert len(entries) == len(clear_channels(net))
    # the logo host (html5-static...) is resolved the same way by the proxy
    with_logo = next(c for c in clear_channels(net) if c.get("logo"))
    code, h, img = daemon.get("/Logos/%s" % with_logo["logo"])
    assert code == 200 and h["content-type"].startswith("image/"), (code, h)
    stats = net.stats()
    assert stats["dns_dropped"] == 1  # lost once, asked again
    for name in ("portalnc.imagenio.telefonica.net", "html5-static.svc.imagenio.telefonica.net",
                 "nowhere.example"):
        assert stats["dns"].get(name, 0) >= 1, stats["dns"]
    # answers are cached by TTL: not one query per request
    assert stats["dns"]["portalnc.imagenio.telefonica.net"] <= 2, stats["dns"]


def test_channel_checks_wait_for_admission_room(daemon, fakenet):
    import socket
    import threading
    net = fakenet("--appserver-delay-ms", "1500", "--days", "1")
    daemon.start(plugins=[movistar_plugin(net, epg_days=1)],
                 extra={"admission": {"max_sources": 1}, "live": {"linger_ms": 200}})
    # a viewer takes the only source slot before the plugin gets to its checks
    group = clear_channels(net)[0]["group"]
    s = socket.create_connection((daemon.host, daemon.port), timeout=10)
    s.sendall(b"GET /udp/%s HTTP/1.1\r\nHost: x\r\n\r\n" % group.encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                s.recv(65536)
            except OSError:
                return
    t = threading.Thread(target=drain)
    t.start()
    try:
        daemon.wait_log(r"waiting for room in the admission budget to check channels", timeout=30)
        assert daemon.status()["catalog"]["channels"] == 0
        assert "waiting for admission room" in plugin_status(daemon)["status"]
        assert daemon.metric("streamgate_admission_rejections_total", {"reason": "max_sources"}) \
            in (None, 0)  # the checks asked, they did not push
    finally:
        stop.set()
        s.close()
        t.join()
    # the viewer left: the checks go on and every clear channel is published
    wait_ready(daemon)
    assert daemon.status()["catalog"]["channels"] == len(clear_channels(net))
