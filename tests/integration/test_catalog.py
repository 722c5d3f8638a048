"""Catalog, unified M3U and XMLTV with real validators."""
import gzip
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import demo_plugin, plugin_path, run, wait_for

DTD = "/usr/share/xmltv/xmltv.dtd"


def ready(d, channels):
    wait_for(lambda: d.status()["catalog"]["channels"] == channels, what="%d channels" % channels)
    wait_for(lambda: d.status()["catalog"]["pending_updates"] == 0, what="catalog idle")


def parse_m3u(text):
    lines = text.strip().split("\n")
    assert lines[0].startswith("#EXTM3U")
    entries = []
    for i in range(1, len(lines), 2):
        m = re.match(r"#EXTINF:-1(.*),(.*)$", lines[i])
        assert m, lines[i]
        attrs = dict(re.findall(r' ([\w-]+)="([^"]*)"', m.group(1)))
        entries.append((attrs, m.group(2), lines[i + 1]))
    return lines[0], entries


def test_m3u_from_host_header(daemon):
    daemon.start(plugins=[demo_plugin()])
    ready(daemon, 2)
    status, h, body = daemon.get("/channels.m3u", headers={"Host": "tv.example:8888"})
    assert status == 200 and h["content-type"].startswith("audio/x-mpegurl")
    head, entries = parse_m3u(body.decode())
    assert head == ('#EXTM3U url-tvg="http://tv.example:8888/guide.xml.gz" '
                    'x-tvg-url="http://tv.example:8888/guide.xml.gz"')
    a, name, url = entries[0]
    assert name == "Uno HD" and url == "http://tv.example:8888/1/mpegts"
    assert a == {"tvg-id": "1.demo", "tvg-name": "Uno HD", "tvg-logo": "http://tv.example:8888/Logos/1.png",
                 "tvg-chno": "1", "ch-number": "1", "group-title": "TDT;HD",
                 "catchup": "flussonic-ts", "catchup-days": "7"}
    a, name, url = entries[1]
    assert name == "Dos" and "catchup" not in a and "tvg-logo" not in a
    # the aliases serve the same list
    for alias in ("/canales.m3u", "/MovistarTV.m3u", "/playlist.m3u"):
        assert daemon.get(alias, headers={"Host": "tv.example:8888"})[2] == body
    # a hostile Host header never reaches the playlist
    body = daemon.get("/channels.m3u", headers={"Host": 'x"><script>'})[2].decode()
    assert "script" not in body and "http://127.0.0.1:%d/1/mpegts" % daemon.port in body


def test_m3u_public_url(daemon):
    daemon.start(server={"public_url": "https://tv.example.org/sg/"},
                 plugins=[demo_plugin()])
    ready(daemon, 2)
    body = daemon.get("/channels.m3u")[2].decode()
    assert 'url-tvg="https://tv.example.org/sg/guide.xml.gz"' in body
    assert "https://tv.example.org/sg/1/mpegts" in body


def test_guide_valid_and_matches_playlist(daemon, workdir):
    chans = [{"id": "1", "name": "Uno & <Más>", "number": 1, "logo": "/Logos/1.png",
              "tvg_id": "uno.example.tv"},
             {"id": "2", "name": "Dos", "number": 2}]
    daemon.start(plugins=[demo_plugin(channels=chans)])
    ready(daemon, 2)
    status, h, xml = daemon.get("/guide.xml")
    assert status == 200 and h["content-type"] == "application/xml; charset=utf-8"
    path = os.path.join(workdir, "guide.xml")
    with open(path, "wb") as f:
        f.write(xml)
    if os.path.exists(DTD):
        r = run(["xmllint", "--noout", "--nonet", "--dtdvalid", DTD, path])
        assert r.returncode == 0, r.stderr
    root = ET.fromstring(xml)
    ids = [c.get("id") for c in root.findall("channel")]
    assert ids == ["uno.example.tv", "2.demo"]
    assert root.find("channel/display-name").text == "Uno & <Más>"
    assert root.find("channel/icon").get("src") == "http://127.0.0.1:%d/Logos/1.png" % daemon.port
    progs = root.findall("programme")
    assert len(progs) == daemon.status()["catalog"]["programmes"] > 300
    p = progs[0]
    assert re.match(r"\d{14} \+0000$", p.get("start")) and re.match(r"\d{14} \+0000$", p.get("stop"))
    assert p.get("channel") == "uno.example.tv"
    assert p.find("title").text.startswith("Uno & <Más> show")
    assert "Ñandú, 日本語" in p.find("desc").text
    ep = [e.text for e in root.iter("episode-num")]
    assert ep and all(re.match(r"\d+\.\d+\.$", e) for e in ep)
    # the M3U tvg-id equals the XMLTV channel id
    _, entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    assert [e[0]["tvg-id"] for e in entries] == ids
    # the .gz is the same document, gzipped; both aliases work
    gz = daemon.get("/guide.xml.gz")[2]
    assert gzip.decompress(gz) == xml
    assert daemon.get("/guia.xml")[2] == xml
    assert gzip.decompress(daemon.get("/guia.xml.gz")[2]) == xml
    # gzip on the wire when the client accepts it
    status, h, body = daemon.get("/guide.xml", headers={"Accept-Encoding": "gzip, deflate"})
    assert h["content-encoding"] == "gzip" and gzip.decompress(body) == xml
    # tv_validate_file agrees (offline, with the packaged DTD)
    if shutil.which("tv_validate_file"):
        env = dict(os.environ, XMLTV_SUPPLEMENT="/usr/share/xmltv")
        r = run(["tv_validate_file", path], env=env)
        assert r.returncode == 0, r.stdout + r.stderr


def test_guide_etag_and_rendered_once(daemon):
    daemon.start(plugins=[demo_plugin()])
    ready(daemon, 2)
    status, h, body = daemon.get("/guide.xml")
    etag = h["etag"]
    for _ in range(5):
        status, h2, body2 = daemon.get("/guide.xml", headers={"If-None-Match": etag})
        assert status == 304 and body2 == b"" and h2["etag"] == etag
    assert daemon.get("/guide.xml", headers={"If-None-Match": '"other"'})[0] == 200
    # one render for all these requests: rendering is per catalog change
    assert len(re.findall(r"guide rendered", daemon.log())) == 1
    # HEAD of the guide: headers only
    status, h, body = daemon.request("HEAD", "/guide.xml")
    assert status == 200 and body == b"" and int(h["content-length"]) == len(
        daemon.get("/guide.xml")[2])


def test_catalog_survives_restart(daemon):
    daemon.start(plugins=[demo_plugin()])
    ready(daemon, 2)
    before = daemon.status()["catalog"]["programmes"]
    host = {"Host": "tv.example"}
    m3u = daemon.get("/channels.m3u", headers=host)[2]
    # restart with the plugin not publishing: the stored catalog is served
    daemon.restart(plugins=[demo_plugin(publish=False)])
    st = daemon.status()
    assert st["catalog"]["channels"] == 2 and st["catalog"]["programmes"] == before
    assert daemon.get("/channels.m3u", headers=host)[2] == m3u
    assert st["plugins"][0]["details"]["boots"] == 2


def test_channel_id_collision_between_plugins(daemon):
    a = demo_plugin(channels=[{"id": "1", "name": "From demo"}])
    b = {"name": "demo_live", "path": plugin_path("demo_live"),
         "channels": ({"id": "1", "name": "From demo_live"}, {"id": "api", "name": "Reserved"})}
    daemon.start(plugins=[a, b])
    ready(daemon, 3)
    _, entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    urls = {e[1]: e[2] for e in entries}
    base = daemon.base
    assert urls["From demo"] == base + "/1/mpegts"
    assert urls["From demo_live"] == base + "/demo_live-1/mpegts"
    # "api" is a route, so that channel is renamed too
    assert urls["Reserved"] == base + "/demo_live-api/mpegts"
    daemon.wait_log(r'plugin demo_live: channel id "1" is already taken.*published as "demo_live-1"')
    # the assignment is stable across restarts, whatever the start order
    daemon.restart(plugins=[b, a])
    ready(daemon, 3)
    _, entries = parse_m3u(daemon.get("/channels.m3u")[2].decode())
    assert {e[1]: e[2] for e in entries}["From demo_live"] == daemon.base + "/demo_live-1/mpegts"


def test_retention(daemon):
    daemon.start(plugins=[demo_plugin(channels=[{"id": "1", "name": "A", "catchup_days": 7}])],
                 extra={"catalog": {"retention_days": 1}})
    ready(daemon, 1)
    root = ET.fromstring(daemon.get("/guide.xml")[2])
    starts = [time.mktime(time.strptime(p.get("stop")[:14], "%Y%m%d%H%M%S")) - time.timezone
              for p in root.findall("programme")]
    assert starts and min(starts) >= time.time() - 86400 - 60


def test_channels_replaced_not_lost(daemon):
    daemon.start(plugins=[demo_plugin()])
    ready(daemon, 2)
    daemon.restart(plugins=[demo_plugin(channels=[{"id": "2", "name": "Dos"}])])
    ready(daemon, 1)
    assert daemon.get("/1/mpegts")[0] == 404
    # it comes back with the same id and its past programmes
    daemon.restart(plugins=[demo_plugin()])
    ready(daemon, 2)
    assert "http://127.0.0.1:%d/1/mpegts" % daemon.port in daemon.get("/channels.m3u")[2].decode()
