"""Lua timer rules end to end against the fake Movistar network: the rules
see the guide after each EPG update (and after each reload of the script),
what they match is queued and recorded whole from the catchup archive at
most recordings.max_concurrent at a time, keep = N prunes, a hostile rule is
contained, MP4 recordings keep their subtitles beside them, and a viewer
pre-empts the newest recording, which is queued again.

The fake puts a 40-second "Avance informativo" at 10:00 UTC on every channel
every day (--brief), short enough to record whole in a test."""
import json
import os
import socket
import time

import pytest

from conftest import Daemon, run, wait_for
from test_catchup import ffprobe_json, knobs, no_sessions, rtsp_stats
from test_movistar import FakeNet, movistar_plugin, wait_ready

BRIEF = 10 * 3600
BRIEF_LEN = 40
NOTHING = "-- no rules yet\nfunction match(p) return nil end\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("timers"))
    media = str(tmp_path_factory.mktemp("tmmedia"))
    # groups of its own: other modules' fakes may run beside this one
    net = FakeNet(os.path.join(work, "net"), media, "--origin-days", "-6",
                  "--brief", "10:00:%d" % BRIEF_LEN, "--rtsp-session-timeout", "6",
                  "--entry", "239.253.2.129:3937", "--sp-group", "239.253.2.154:3937",
                  "--epg-base", "239.253.2.130", "--channel-net", "239.253.0.0")
    d = Daemon(work)
    d.script = os.path.join(work, "timers.lua")
    with open(d.script, "w") as f:
        f.write(NOTHING)
    d.conf = dict(plugins=[movistar_plugin(net)], server={"log_level": "info"},
                  extra={"admission": {"max_sources": 6},
                         "recordings": {"dir": os.path.join(work, "recordings"),
                                        "max_concurrent": 2},
                         "timers": {"script": d.script}})
    d.start(**d.conf)
    try:
        wait_ready(d)
        yield d, net
    finally:
        d.stop()
        net.stop()


def rules(d, text):
    """Replace the script; the daemon notices the change and runs a pass."""
    seen = d.log().count("changed: reloading")
    with open(d.script + ".new", "w") as f:
        f.write(text)
    os.replace(d.script + ".new", d.script)
    wait_for(lambda: d.log().count("changed: reloading") > seen, timeout=15,
             what="the script reloaded")


def passes(d):
    return d.log().count("timers: pass:")


def last_pass(d):
    return [l for l in d.log().splitlines() if "timers: pass:" in l][-1]


def rows(d):
    return [r for r in d.json("/api/recordings")["recordings"] if r["origin"] == "timer"]


USED = set()


def briefs(net, media, n):
    """A channel with that media, not handed to another test (whose rows,
    deleted ones included, would keep the timers away), and its n newest
    briefs that ended."""
    now = time.time()
    for c in net.info["channels"]:
        if c["encrypted"] or c.get("media") != media or not c.get("lcn") or c["id"] in USED:
            continue
        progs = net.truth.get(str(c.get("replacement") or c["id"]), [])
        got = sorted((p for p in progs if p["title"] == "Avance informativo"
                      and p["start"] + p["duration"] < now - 60), key=lambda p: p["start"])
        if len(got) >= n:
            USED.add(c["id"])
            return c, got[-n:]
    raise AssertionError("no channel with %d briefs" % n)


def rule_for(channel, since, extra=""):
    return ("function match(p)\n"
            "  if p.channel == '%s' and p.start >= %d and sg.re('^avance', p.title) then\n"
            "    return {record = true, rule = 'briefs', keep = 2, vo = true%s}\n"
            "  end\n"
            "end\n" % (channel, since, extra))


def test_timers_record_whole_programmes_within_the_cap(env):
    d, net = env
    c, progs = briefs(net, "mpeg2-sub", 3)
    knobs(net, rtsp_rate=16)
    rec_dir = os.path.join(d.workdir, "recordings")
    most = 0
    try:
        rules(d, rule_for(c["id"], progs[0]["start"]))

        def progress():
            nonlocal most
            rs = rows(d)
            most = max(most, sum(r["state"] == "recording" for r in rs))
            assert rtsp_stats(net)["playing"] <= 2
            done = [r for r in rs if r["state"] not in ("queued", "recording")]
            # keep = 2: the oldest of three goes once the third is in
            return len(done) == 2 and len(rs) == 2 and all(r["state"] == "done" for r in done)
        wait_for(progress, timeout=240, interval=0.2, what="three timer recordings")
    finally:
        knobs(net, rtsp_rate=0)
    assert most == 2, "max_concurrent 2: at most %d ran at once" % most
    got = sorted(rows(d), key=lambda r: r["start"])
    assert [r["start"] for r in got] == [p["start"] for p in progs[1:]], got
    files = [os.path.join(r, f) for r, _, fs in os.walk(rec_dir) for f in fs
             if f.startswith("Avance")]
    assert sorted(files) == sorted(os.path.join(rec_dir, r["path"]) for r in got), files
    for r in got:
        # the programme plus the 60 s margin, flowing on into the next one
        assert r["duration"] == BRIEF_LEN + 60 and r["rule"] == "briefs", r
        p = ffprobe_json(os.path.join(rec_dir, r["path"]))
        assert abs(float(p["format"]["duration"]) - r["duration"]) <= 1, p["format"]
        kinds = [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"),
                  s["disposition"]["default"]) for s in p["streams"]]
        # the source's tracks and languages; vo: English first and default
        assert kinds[0][:2] == ("video", "mpeg2video")
        assert [k[:3] for k in kinds[1:3]] == [("audio", "aac", "eng"), ("audio", "aac", "spa")]
        assert kinds[1][3] == 1 and kinds[2][3] == 0, kinds
        assert kinds[3][:2] == ("subtitle", "dvb_subtitle") and len(kinds) == 4, kinds
    no_sessions(d, net)
    # a later pass records nothing again, the pruned one included
    n = passes(d)
    rules(d, rule_for(c["id"], progs[0]["start"]) + "-- again\n")
    wait_for(lambda: passes(d) > n, timeout=30, what="another pass")
    assert last_pass(d).endswith(" 0 matched, 0 queued"), last_pass(d)
    assert sorted(r["start"] for r in rows(d)) == [p["start"] for p in progs[1:]]


def test_hostile_rules_are_contained(env):
    d, net = env
    c, progs = briefs(net, "mpeg2", 1)
    marker = os.path.join(d.workdir, "pwned")
    d.expect_error(r"ran out of its instruction budget")
    knobs(net, rtsp_rate=16)
    try:
        rules(d, "function match(p)\n"
                 "  if p.title == 'Telediario 1' then while true do end end\n"
                 "  if p.title == 'Avance informativo' and p.channel ~= '%s' then\n"
                 "    os.execute('touch %s')\n"
                 "  end\n"
                 "  if p.is_series then io.open('%s', 'w') end\n"
                 "  if p.channel == '%s' and p.start == %d then\n"
                 "    return {record = true, folder = '../../escape/Briefs'}\n"
                 "  end\n"
                 "end\n" % (c["id"], marker, marker, c["id"], progs[0]["start"]))
        # the loop stays responsive while the rules burn their budgets
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            s0 = time.monotonic()
            assert d.request("GET", "/status")[0] == 200
            assert time.monotonic() - s0 < 1.0
        d.wait_log(r"instruction budget exhausted", timeout=60)
        d.wait_log(r"global 'os'", timeout=60)
        d.wait_log(r"global 'io'", timeout=60)
        key = (str(c["id"]), progs[0]["start"])
        wait_for(lambda: any((r["channel"], r["start"]) == key and r["state"] == "done"
                             for r in rows(d)), timeout=120, what="the good rule's recording")
    finally:
        knobs(net, rtsp_rate=0)
        rules(d, NOTHING)
    assert not os.path.exists(marker)
    row = next(r for r in rows(d) if (r["channel"], r["start"]) == key)
    # a folder never leaves the recordings directory
    assert row["path"].startswith("escape/Briefs/") and ".." not in row["path"], row
    assert os.path.exists(os.path.join(d.workdir, "recordings", row["path"]))
    no_sessions(d, net)


def test_mp4_recording_keeps_subtitles_beside_and_plays_in_mpv(env):
    d, net = env
    c, progs = briefs(net, "mpeg2-sub", 4)
    t = progs[0]["start"]
    knobs(net, rtsp_rate=16)
    try:
        st, h, body = d.request("GET", "/record/%s/%d?mp4=1" % (c["id"], t))
        assert st == 200, body
        job = json.loads(body)
        wait_for(lambda: any((r["channel"], r["start"]) == (str(c["id"]), t)
                             and r["state"] == "done"
                             for r in d.json("/api/recordings")["recordings"]),
                 timeout=120, what="the MP4 recording")
    finally:
        knobs(net, rtsp_rate=0)
    path = os.path.join(d.workdir, "recordings", job["path"])
    assert path.endswith(".mp4")
    p = ffprobe_json(path)
    assert "mp4" in p["format"]["format_name"]
    assert [s["codec_type"] for s in p["streams"]] == ["video", "audio", "audio"], p
    side = ffprobe_json(path[:-4] + ".mks")
    assert [(s["codec_type"], s["codec_name"]) for s in side["streams"]] == [
        ("subtitle", "dvb_subtitle")], side
    r = run(["mpv", "--no-config", "--vo=null", "--ao=null", "--frames=50",
             "--msg-level=all=error", path], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # DELETE takes the subtitles with it
    assert d.request("DELETE", "/api/recordings/%s/%d" % (c["id"], t))[0] == 200
    assert not os.path.exists(path) and not os.path.exists(path[:-4] + ".mks")
    no_sessions(d, net)


def test_viewer_preempts_the_newest_recording(env):
    d, net = env
    c, progs = briefs(net, "mpeg2", 4)
    other, _ = briefs(net, "mpeg2-sub", 1)
    d.restart(**dict(d.conf, extra=dict(d.conf["extra"], admission={"max_sources": 2})))
    wait_ready(d)
    before = {(r["channel"], r["start"]) for r in rows(d)}
    try:
        # at the programme's own pace: both slots stay busy for 100 s
        rules(d, "function match(p)\n"
                 "  if p.channel == '%s' and p.start >= %d and p.title == 'Avance informativo'"
                 " then return {record = true} end\n"
                 "end\n" % (c["id"], progs[1]["start"]))
        wait_for(lambda: sum(r["state"] == "recording" for r in rows(d)) == 2, timeout=60,
                 what="two recordings running")
        wait_for(lambda: rtsp_stats(net)["playing"] >= 2, timeout=30, what="both playing")
        running = {(r["channel"], r["start"]) for r in rows(d) if r["state"] == "recording"}
        # a viewer needs a third source: a recording yields (the newest)
        s = socket.create_connection((d.host, d.port))
        s.sendall(("GET /%s/mpegts HTTP/1.1\r\nHost: x\r\n\r\n" % other["id"]).encode())
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        d.wait_log(r"pre-empted for a viewer; queued again", timeout=30)
        state = {(r["channel"], r["start"]): r for r in rows(d)}
        yielded = [k for k in running if state[k]["state"] == "queued"]
        assert len(yielded) == 1, state
        assert [state[k]["state"] for k in running - set(yielded)] == ["recording"], state
        assert state[yielded[0]]["attempts"] == 0, state[yielded[0]]  # not counted
        assert not os.path.exists(os.path.join(d.workdir, "recordings", state[yielded[0]]["path"]))
        s.close()
        # the viewer gone, the queue starts it again
        wait_for(lambda: next(r for r in rows(d) if (r["channel"], r["start"]) ==
                              yielded[0])["state"] == "recording",
                 timeout=60, what="the pre-empted recording restarted")
    finally:
        rules(d, NOTHING)
        # cancel what this test queued, is recording or left failed
        for r in rows(d):
            if (r["channel"], r["start"]) not in before:
                assert d.request("DELETE", "/api/recordings/%s/%d" % (
                    r["channel"], r["start"]))[0] == 200
        d.restart(**d.conf)
        wait_ready(d)
    assert all((r["channel"], r["start"]) in before for r in rows(d))
    assert not [f for r, _, fs in os.walk(os.path.join(d.workdir, "recordings")) for f in fs
                if f.startswith(".")]


def test_short_recording_retried_then_kept_incomplete(env):
    """The archive's copy stops early every time: each attempt is dropped
    (nothing under the final name) and queued again by the next pass; after
    the same shortfall three times in a row it is kept, marked incomplete."""
    d, net = env
    c, progs = briefs(net, "mpeg2", 2)
    t = progs[0]["start"]
    key = (str(c["id"]), t)
    rec_dir = os.path.join(d.workdir, "recordings")
    # one programme per response, so the copy ends where the fake stops sending
    d.restart(**dict(d.conf, plugins=[movistar_plugin(net, continuous=False)]))
    wait_ready(d)
    knobs(net, rtsp_rate=16, rtsp_stop_after=12)
    text = ("function match(p)\n"
            "  if p.channel == '%s' and p.start == %d then return {record = true} end\n"
            "end\n" % (c["id"], t))
    seen = []
    try:
        for attempt in range(1, 4):
            # each pass (here: the script changing) queues the short one again
            rules(d, text + "-- pass %d\n" % attempt)
            wait_for(lambda: any((r["channel"], r["start"]) == key and r["attempts"] == attempt
                                 and r["state"] in ("short", "incomplete", "done", "failed")
                                 for r in rows(d)), timeout=120,
                     what="attempt %d to end" % attempt)
            row = next(r for r in rows(d) if (r["channel"], r["start"]) == key)
            seen.append(row["state"])
            final = os.path.join(rec_dir, row["path"])
            if attempt < 3:
                assert row["state"] == "short", row
                assert not os.path.exists(final), row
        assert seen == ["short", "short", "incomplete"], seen
        sf = [int(x) for x in row["shortfalls"].rstrip(",").split(",")]
        assert len(sf) == 3 and max(sf) - min(sf) <= 1, row
        # the programme plus its margin, less what the archive never sent
        assert row["duration"] == BRIEF_LEN + 60 and abs(sf[0] - (row["duration"] - 12)) <= 3, row
        p = ffprobe_json(final)
        assert abs(float(p["format"]["duration"]) - row["written"]) <= 1, (p["format"], row)
        assert not [f for r, _, fs in os.walk(rec_dir) for f in fs if f.startswith(".")]
        # kept: a later pass leaves it alone
        n = passes(d)
        rules(d, text + "-- again\n")
        wait_for(lambda: passes(d) > n, timeout=30, what="another pass")
        assert last_pass(d).endswith(" 0 matched, 0 queued"), last_pass(d)
        row = next(r for r in rows(d) if (r["channel"], r["start"]) == key)
        assert row["state"] == "incomplete" and row["attempts"] == 3, row
    finally:
        knobs(net, rtsp_rate=0, rtsp_stop_after="off")
        rules(d, NOTHING)
        d.restart(**d.conf)
        wait_ready(d)
    no_sessions(d, net)
