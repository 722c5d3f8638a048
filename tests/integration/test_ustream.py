"""plugins/ustream end to end against the fake ustream (tests/fakes/ustream):
`streamgate ustream` and the daemon's /ustream/jobs read the channel page,
register, list the recorded videos, negotiate the stream over a real
websocket (following a cluster redirect), fetch every FLV chunk (the last
hash key's trailing chunks included) with retries, and write MP4 files that
ffprobe plays with the source's duration, monotonic timestamps, video and
audio. A stopped download resumes without fetching its finished chunks
again; every failure ends in its own message and exit status, and no
partial file is left under a final name."""
import glob
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, FakeOrigin, run, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fakes", "ustream", "fake_ustream.py")


class FakeUstream(FakeOrigin):
    def __init__(self, workdir, media_dir):
        super().__init__(FAKE, workdir, "fake_ustream", "--media-dir", media_dir)

    def stats(self):
        return json.loads(self.get("/fake/stats"))

    def fetches(self, video="v100"):
        return {int(k): v for k, v in self.stats()["fetches"].get(video, {}).items()}

    def urls(self):
        return ["--site", self.info["site"], "--ums", self.info["ums"], "--cdn", self.info["cdn"]]

    def plugin(self, **kw):
        p = {"name": "ustream", "site": self.info["site"], "ums": self.info["ums"],
             "cdn": self.info["cdn"]}
        p.update(kw)
        return p


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    f = FakeUstream(str(tmp_path_factory.mktemp("usfake")), str(tmp_path_factory.mktemp("usmedia")))
    yield f
    f.stop()


@pytest.fixture
def clean(fake):
    fake.set(reset=1)
    return fake


def cli(fake, target, *args, timeout=120):
    return run([BINARY, "ustream", target, *fake.urls(), *args], timeout=timeout)


def probe(path):
    r = run(["ffprobe", "-v", "error", "-show_entries",
             "format=duration:format_tags=title,date:stream=codec_type", "-of", "json", path])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    # every packet's DTS rises within its track
    r = run(["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,dts", "-of", "csv",
             path])
    last, back = {}, 0
    for line in r.stdout.splitlines():
        _, si, dts = line.split(",")[:3]
        if dts == "N/A":
            continue
        if si in last and float(dts) <= last[si]:
            back += 1
        last[si] = float(dts)
    info["backwards"] = back
    info["kinds"] = sorted(s["codec_type"] for s in info["streams"])
    info["duration"] = float(info["format"]["duration"])
    return info


def processes_with(word):
    """The pids whose command line has word."""
    found = []
    for p in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if p.isdigit() and word.encode() in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found


def mp4s(folder):
    return sorted(glob.glob(os.path.join(folder, "*.mp4")))


def test_cli_channel_every_video(clean, tmp_path):
    out = str(tmp_path / "out")
    r = cli(clean, clean.info["channel"], "-o", out + "/")
    assert r.returncode == 0, r.stderr
    files = mp4s(out)
    assert [os.path.basename(f) for f in files] == [
        "Launch day (2023-11-14) [v100].mp4", "Short clip (2023-11-16) [v200].mp4"]
    full = probe(files[0])
    assert abs(full["duration"] - clean.info["duration"]) <= 0.5, full["duration"]
    assert full["kinds"] == ["audio", "video"] and full["backwards"] == 0
    assert full["format"]["tags"]["title"] == "Launch day"
    assert full["format"]["tags"]["date"].startswith("2023-11-14")
    short = probe(files[1])
    assert abs(short["duration"] - 3 * clean.info["chunk_seconds"]) <= 0.5
    assert short["kinds"] == ["audio", "video"] and short["backwards"] == 0
    # every chunk once: the ones after the last hash key (8) too; past the
    # end only the one probe that answered 404
    n = clean.info["chunks"]
    assert clean.fetches("v100") == {**{c: 1 for c in range(n)}, n: 1}
    # the websocket got the connect command the service expects
    c = clean.stats()["ws"]["last_connect"]
    assert c["cmd"] == "connect" and c["args"][0]["application"] == "recorded"
    assert json.loads(c["args"][0]["hash"])["channel"] == "1001"
    # nothing else is left: no work folder, no partial file
    assert sorted(os.listdir(out)) == sorted(os.path.basename(f) for f in files)


def test_cli_video_url_and_options(clean, tmp_path):
    # a video URL picks that video; -o FILE names it; --flv keeps FLV
    out = str(tmp_path / "one.mp4")
    r = cli(clean, clean.info["site"] + "/recorded/v200", "-o", out, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert abs(probe(out)["duration"] - 3 * clean.info["chunk_seconds"]) <= 0.5
    flv = str(tmp_path / "one.flv")
    r = cli(clean, "v200", "-o", flv, "--flv")
    assert r.returncode == 0, r.stderr
    with open(flv, "rb") as f:
        assert f.read(3) == b"FLV"
    assert abs(probe(flv)["duration"] - 3 * clean.info["chunk_seconds"]) <= 0.5
    # -c: the configuration's ustream entry, flags override it
    conf = tmp_path / "sg.conf"
    conf.write_text('plugins = ( { name = "ustream"; site = "%s"; ums = "%s"; cdn = "%s";\n'
                    '  out_dir = "%s"; jobs = 2; registration = { name = "Ana"; }; } );\n'
                    % (clean.info["site"], "ws://127.0.0.1:1/nowhere", clean.info["cdn"],
                       tmp_path / "fromconf"))
    r = run([BINARY, "ustream", "v200", "-c", str(conf), "--ums", clean.info["ums"]], timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(mp4s(str(tmp_path / "fromconf"))) == 1
    # a configuration error names file:line
    conf.write_text('plugins = ( { name = "ustream"; jobs = "x"; } );\n')
    r = run([BINARY, "ustream", "v200", "-c", str(conf)], timeout=30)
    assert r.returncode == 2 and "sg.conf:1: jobs must be an integer" in r.stderr
    r = run([BINARY, "ustream"], timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr

def test_cli_print_urls_keep_and_join(clean, tmp_path):
    # --print-urls: the chunk URLs, each one a chunk (the last key's too)
    r = cli(clean, "v100", "--print-urls")
    assert r.returncode == 0, r.stderr
    urls = r.stdout.split()
    assert len(urls) == clean.info["chunks"]
    with urllib.request.urlopen(urls[-1], timeout=10) as f:
        assert f.read(3) == b"FLV"
    # --keep leaves the checked chunks; --join makes the same video of them
    work = str(tmp_path / "work")
    r = cli(clean, "v200", "--work", work, "--keep", "-o", str(tmp_path / "a.mp4"))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(os.path.join(work, "v200"))) == [
        ".lock", "000000.flv", "000001.flv", "000002.flv"]
    r = run([BINARY, "ustream", "--join", os.path.join(work, "v200"), "-o",
             str(tmp_path / "b.mp4")], timeout=60)
    assert r.returncode == 0, r.stderr
    a, b = probe(str(tmp_path / "a.mp4")), probe(str(tmp_path / "b.mp4"))
    assert abs(a["duration"] - b["duration"]) < 0.05 and b["kinds"] == ["audio", "video"]
    r = run([BINARY, "ustream", "--join", str(tmp_path), "-o", str(tmp_path / "c.mp4")],
            timeout=30)
    assert r.returncode == 3 and "no NNNNNN.flv chunks" in r.stderr


@pytest.mark.parametrize("knobs,check", [
    # reject with a cluster redirect: followed once
    ({"reject_redirect": 1}, lambda s, f: s["ws"]["by_cluster"].get("c2") == 1),
    # no length in the stream: probed until the CDN says 404 (4 at a time,
    # so up to 4 requests past the end, each once)
    ({"no_length": 1}, lambda s, f: all(f[c] == 1 for c in range(10)) and
     set(f) - set(range(10)) <= {10, 11, 12, 13} and 10 in f and
     all(f[c] == 1 for c in f)),
    # a chunk failing twice, then fine: three fetches of it
    ({"fail_twice": 5}, lambda s, f: f[5] == 3),
    # one hash key only: it covers every chunk
    ({"hash_every": 100}, lambda s, f: all(f[c] == 1 for c in range(10))),
    # a warning frame is reported, not fatal
    ({"warning": 1}, lambda s, f: True),
])
def test_cli_knobs_that_succeed(clean, tmp_path, knobs, check):
    clean.set(**knobs)
    out = str(tmp_path / "out.mp4")
    r = cli(clean, clean.info["channel"], "--video", "v100", "-o", out)
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert abs(info["duration"] - clean.info["duration"]) <= 0.5
    assert info["backwards"] == 0 and info["kinds"] == ["audio", "video"]
    assert check(clean.stats(), clean.fetches()), (clean.stats(), r.stderr)
    if knobs.get("warning"):
        assert "the service warns: W42: test warning" in r.stderr


@pytest.mark.parametrize("knobs,target,code,message", [
    ({"geo_lock": 1}, "channel", 4, "geo-locked: This video is not available in your country"),
    ({"truncate": 2}, "channel", 5, "chunk 2: the chunk is truncated"),
    ({"html_chunk": 1}, "channel", 5, "chunk 1: not an FLV file"),
    ({"no_recordings": 1}, "channel", 3, "channel 1001 has no recorded videos"),
    ({}, "/channel/no-such-channel", 3, "no such channel (HTTP 404)"),
    ({}, "/channel/empty-ch", 3, "channel 1002 has no recorded videos"),
    ({}, "/recorded/v999", 3, "no such video (HTTP 404)"),
    ({}, "bad id!", 2, "neither a channel or video URL nor a video id"),
])
def test_cli_failures(clean, tmp_path, knobs, target, code, message):
    if knobs:
        clean.set(**knobs)
    if target == "channel":
        target = clean.info["channel"]
    elif target.startswith("/"):
        target = clean.info["site"] + target
    out = str(tmp_path / "out")
    r = cli(clean, target, "--video", "v200", "-o", out + "/")
    assert r.returncode == code, (r.returncode, r.stderr)
    assert message in r.stderr, r.stderr
    # nothing under a final name
    assert mp4s(out) == []


def test_cli_interrupted_then_resumed(clean, tmp_path):
    """SIGINT keeps the finished chunks; the next run fetches only the rest."""
    clean.set(rate_kbps=400)
    out = str(tmp_path / "out")
    work = os.path.join(out, ".ustream-v100.chunks")
    p = subprocess.Popen([BINARY, "ustream", clean.info["channel"], *clean.urls(), "--video",
                          "v100", "--jobs", "2", "-o", out + "/"],
                         stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(glob.glob(os.path.join(work, "*.flv"))) >= 3, timeout=60,
             what="three finished chunks")
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    assert p.returncode == 6, err
    assert "run again to resume" in err
    kept = sorted(int(os.path.basename(f)[:6]) for f in glob.glob(os.path.join(work, "*.flv")))
    assert len(kept) >= 3 and not glob.glob(os.path.join(work, "*.part"))
    assert mp4s(out) == []
    before = clean.fetches()
    clean.set(rate_kbps=0)
    r = cli(clean, clean.info["channel"], "--video", "v100", "-o", out + "/")
    assert r.returncode == 0, r.stderr
    assert "%d chunks kept from an earlier run" % len(kept) in r.stderr
    after = clean.fetches()
    for c in kept:
        assert after[c] == before[c] == 1, (c, before, after)
    assert all(after[c] >= 1 for c in range(clean.info["chunks"]))
    assert abs(probe(mp4s(out)[0])["duration"] - clean.info["duration"]) <= 0.5
    assert not os.path.exists(work)


# ---- the daemon's jobs ------------------------------------------------------

def start(daemon, fake, rec, **server):
    return daemon.start(server=server, plugins=[fake.plugin()], extra={"recordings": {"dir": rec}})


def job(daemon, jid):
    return daemon.json("/ustream/jobs/" + jid)


def test_daemon_job(daemon, clean, tmp_path):
    rec = str(tmp_path / "rec")
    start(daemon, clean, rec, admin_token="s3cret")
    auth = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}
    # the admin token guards the jobs
    assert daemon.request("POST", "/ustream/jobs", body=b'{"url": "v200"}')[0] == 401
    for body, why in ((b"", "a JSON body"), (b"{", "not a JSON object"),
                      (b'{"video": "v1"}', '"url" must be'), (b'{"url": "--help"}', '"url" must be'),
                      (b'{"url": "v1", "video": 7}', '"video" must be')):
        st, _, b = daemon.request("POST", "/ustream/jobs", headers=auth, body=body)
        assert st == 400 and why in json.loads(b)["error"], (body, b)
    j = daemon.json("/ustream/jobs", method="POST", expect=201, headers=auth,
                    body=json.dumps({"url": clean.info["channel"], "video": "v100"}).encode())
    done = wait_for(lambda: (lambda s: s if s["state"] in ("done", "failed") else None)(
        daemon.json("/ustream/jobs/" + j["id"], headers=auth)), timeout=60, what="the job")
    assert done["state"] == "done", done
    assert done["progress"]["chunks_done"] == done["progress"]["chunks_total"] == 10
    assert len(done["files"]) == 1 and done["files"][0].startswith(rec)
    info = probe(done["files"][0])
    assert abs(info["duration"] - clean.info["duration"]) <= 0.5
    assert info["backwards"] == 0 and info["kinds"] == ["audio", "video"]
    # the recordings playlist lists it, and it plays from there
    m3u = daemon.get("/recordings.m3u")[2].decode()
    assert "Launch day (2023-11-14) [v100]" in m3u
    url = [ln for ln in m3u.splitlines() if ln.startswith("http") and "v100" in ln][0]
    assert abs(probe(url)["duration"] - clean.info["duration"]) <= 0.5
    lst = daemon.json("/ustream/jobs", headers=auth)["jobs"]
    assert [x["id"] for x in lst] == [j["id"]]
    # forgotten on DELETE; the file stays
    assert daemon.json("/ustream/jobs/" + j["id"], method="DELETE", headers=auth)["deleted"]
    assert daemon.request("GET", "/ustream/jobs/" + j["id"], headers=auth)[0] == 404
    assert os.path.exists(done["files"][0])


def test_daemon_job_failure_reasons(daemon, clean, tmp_path):
    rec = str(tmp_path / "rec")
    start(daemon, clean, rec)
    clean.set(geo_lock=1)
    j = daemon.json("/ustream/jobs", method="POST", expect=201,
                    body=json.dumps({"url": clean.info["channel"], "video": "v200"}).encode())
    s = wait_for(lambda: (lambda x: x if x["state"] == "failed" else None)(job(daemon, j["id"])),
                 timeout=30, what="the job to fail")
    assert s["error"].endswith("geo-locked: This video is not available in your country")
    assert s["exit_code"] == 4
    j = daemon.json("/ustream/jobs", method="POST", expect=201,
                    body=json.dumps({"url": clean.info["site"] + "/channel/none"}).encode())
    s = wait_for(lambda: (lambda x: x if x["state"] == "failed" else None)(job(daemon, j["id"])),
                 timeout=30, what="the job to fail")
    assert "no such channel" in s["error"] and s["exit_code"] == 3
    assert mp4s(rec) == []
    assert daemon.request("GET", "/ustream/jobs/nope")[0] == 404
    daemon.expect_error(r"job \w+: failed")


def test_daemon_job_survives_a_kill(daemon, clean, tmp_path):
    """The daemon is killed mid-download (its child follows); after the
    restart the job resumes and fetches only the chunks it did not have."""
    rec = str(tmp_path / "rec")
    start(daemon, clean, rec)
    clean.set(rate_kbps=400)
    j = daemon.json("/ustream/jobs", method="POST", expect=201,
                    body=json.dumps({"url": clean.info["channel"], "video": "v100"}).encode())
    work = os.path.join(daemon.state, "ustream", "work", j["id"], "v100")
    wait_for(lambda: len(glob.glob(os.path.join(work, "*.flv"))) >= 3, timeout=60,
             what="three finished chunks")
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.proc = None
    # the downloader dies with its parent: no chunk is added after that
    def settled():
        a = sorted(glob.glob(os.path.join(work, "*")))
        time.sleep(0.3)
        return a == sorted(glob.glob(os.path.join(work, "*"))) and a
    wait_for(settled, timeout=20, what="the orphaned downloader to stop")
    kept = sorted(int(os.path.basename(f)[:6]) for f in glob.glob(os.path.join(work, "*.flv")))
    before = clean.fetches()
    clean.set(rate_kbps=0)
    start(daemon, clean, rec)
    s = wait_for(lambda: (lambda x: x if x["state"] in ("done", "failed") else None)(
        job(daemon, j["id"])), timeout=60, what="the resumed job")
    assert s["state"] == "done", s
    after = clean.fetches()
    for c in kept:
        assert after[c] == before[c] == 1, (c, before, after)
    info = probe(s["files"][0])
    assert abs(info["duration"] - clean.info["duration"]) <= 0.5 and info["backwards"] == 0
    assert not os.path.exists(os.path.dirname(work))


def test_daemon_delete_running_job(daemon, clean, tmp_path):
    """DELETE answers at once, the download stops, its chunks go, no file
    appears; the daemon's loop is never held up by the child."""
    rec = str(tmp_path / "rec")
    start(daemon, clean, rec)
    clean.set(rate_kbps=200)
    j = daemon.json("/ustream/jobs", method="POST", expect=201,
                    body=json.dumps({"url": clean.info["channel"], "video": "v100"}).encode())
    work = os.path.join(daemon.state, "ustream", "work", j["id"])
    wait_for(lambda: glob.glob(os.path.join(work, "v100", "*.flv")), timeout=60,
             what="a finished chunk")
    t0 = time.monotonic()
    assert daemon.json("/ustream/jobs/" + j["id"], method="DELETE")["deleted"]
    assert time.monotonic() - t0 < 1.0
    assert daemon.request("GET", "/ustream/jobs/" + j["id"])[0] == 404
    assert daemon.json("/ustream/jobs")["jobs"] == []
    wait_for(lambda: not os.path.exists(work), timeout=15, what="the work folder to go")
    wait_for(lambda: not processes_with(j["id"]), timeout=15, what="the downloader to exit")
    assert mp4s(rec) == [] and not os.path.exists(os.path.join(daemon.state, "ustream", "jobs",
                                                                  j["id"] + ".json"))
