"""Integration test harness: the real streamgate binary, its own config and
state directory, a port chosen at run time, real clients.

Every daemon started through the `daemon` fixture is checked at teardown:
it must stop on SIGTERM with exit status 0, hold no admission slot, and its
log must contain no error-level line the test did not expect and no
sanitizer report.
"""
import html.parser
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

BUILD = os.environ.get("STREAMGATE_BUILD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.join(BUILD, "streamgate")
PLUGINS = os.path.join(BUILD, "tests", "plugins")

BAD_LINE = re.compile(r"\[(emerg|alert|crit|err)\]")
SANITIZER = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer)")


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class FakeOrigin:
    """A fake upstream of tests/fakes run as a child: started with its
    options, ready once it prints "READY <json>" (kept as info, its base URL
    as base), its knobs at /fake/set, stopped with SIGTERM."""

    def __init__(self, script, workdir, name, *args):
        os.makedirs(workdir, exist_ok=True)
        self.log = open(os.path.join(workdir, name + ".log"), "w")
        self.proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), "%s did not start: %r" % (name, line)
        self.info = json.loads(line[len("READY "):])
        self.base = self.info["base"]

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return r.read()

    def set(self, **kw):
        return json.loads(self.get("/fake/set?" + "&".join("%s=%s" % kv for kv in kw.items())))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def plugin_path(name):
    return os.path.join(PLUGINS, name + ".so")


def conf_value(v):
    """A Python value as libconfig text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, conf_value(x)) for k, x in v.items()) + " }"
    if isinstance(v, tuple):  # a list of groups
        return "( " + ", ".join(conf_value(x) for x in v) + " )"
    if isinstance(v, list):
        return "[ " + ", ".join(conf_value(x) for x in v) + " ]"
    raise TypeError(type(v))


def make_conf(state_dir, server=None, plugins=(), extra=None):
    srv = {"listen": ["127.0.0.1:0"], "state_dir": state_dir, "log_level": "info"}
    srv.update(server or {})
    text = "server = %s;\n" % conf_value(srv)
    for k, v in (extra or {}).items():
        text += "%s = %s;\n" % (k, conf_value(v))
    text += "plugins = %s;\n" % conf_value(tuple(plugins)) if plugins else "plugins = ();\n"
    return text


def demo_plugin(channels=None, **kw):
    p = {"name": "demo", "path": plugin_path("demo")}
    p["channels"] = tuple(channels if channels is not None else [
        {"id": "1", "name": "Uno HD", "number": 1, "logo": "/Logos/1.png", "groups": "TDT;HD"},
        {"id": "2", "name": "Dos", "number": 2, "catchup_days": 0},
    ])
    p.update(kw)
    return p


class Daemon:
    def __init__(self, workdir):
        self.workdir = workdir
        self.state = os.path.join(workdir, "state")
        self.conf_path = os.path.join(workdir, "streamgate.conf")
        self.log_path = os.path.join(workdir, "streamgate.log")
        self.ready = os.path.join(workdir, "ready")
        self.proc = None
        self.base = None
        self.expected = []  # regexes for error lines the test provokes
        self.log_offset = 0

    # ---- lifecycle ------------------------------------------------------
    def write_conf(self, **kw):
        with open(self.conf_path, "w") as f:
            f.write(make_conf(self.state, **kw))

    def start(self, **kw):
        if kw:
            self.write_conf(**kw)
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [BINARY, "-c", self.conf_path, "--ready-file", self.ready],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("streamgate exited with %d:\n%s" % (
                    self.proc.returncode, self.log()))
            return os.path.exists(self.ready) and open(self.ready).read().strip()
        self.base = wait_for(ready, timeout=20, what="streamgate to be ready")
        self.host, self.port = self.base[len("http://"):].rsplit(":", 1)
        self.port = int(self.port)
        return self

    def stop(self, sig=signal.SIGTERM, check=True):
        if self.proc is None:
            return 0
        if check and self.proc.poll() is None:
            # no admission slot may be left once clients are gone
            wait_for(lambda: self.status()["admission"]["clients"] == 0, timeout=10,
                     what="admission slots to be released")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("streamgate did not stop within 20 s of SIGTERM")
        self.proc = None
        if check:
            assert rc == 0, "streamgate exited with %d:\n%s" % (rc, self.log()[-4000:])
            self.check_log()
        return rc

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    # ---- log -------------------------------------------------------------
    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def expect_error(self, pattern):
        self.expected.append(re.compile(pattern))

    def check_log(self):
        text = self.log()
        assert not SANITIZER.search(text), "sanitizer report:\n" + text[-6000:]
        bad = [line for line in text.splitlines()
               if BAD_LINE.search(line) and not any(p.search(line) for p in self.expected)]
        assert not bad, "unexpected error lines:\n" + "\n".join(bad)

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout=timeout,
                        what="log line /%s/" % pattern)

    # ---- clients ------------------------------------------------------------
    def url(self, path):
        return self.base + path

    def request(self, method, path, headers=None, body=None, timeout=10):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, path, expect=200, **kw):
        status, headers, body = self.request(kw.pop("method", "GET"), path, **kw)
        assert status == expect, (path, status, body)
        assert headers["content-type"].startswith("application/json"), headers
        return json.loads(body)

    def status(self):
        return self.json("/api/status")

    def metrics(self):
        return self.get("/metrics")[2].decode()

    def metric(self, name, labels=None):
        """The value of one sample, or None."""
        want = name
        if labels:
            want += "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if labels:
                # compare label sets independent of order
                m = re.match(r"([^{]+)\{(.*)\}$", key)
                if not m or m.group(1) != name:
                    continue
                got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
                if got == {k: str(v) for k, v in labels.items()}:
                    return float(value)
            elif key == want:
                return float(value)
        return None

    def raw(self, data, timeout=5, read=True):
        """Send raw bytes, return everything the server sent until close
        or timeout."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            if not read:
                return b""
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="sgtest-")
    yield d
    if os.environ.get("SG_TEST_LEAVE"):
        print("kept", d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(workdir):
    d = Daemon(workdir)
    yield d
    if d.proc is not None:
        d.stop()


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """A short Movistar-like MPEG-TS made with ffmpeg (generated, never
    committed)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = str(tmp_path_factory.mktemp("media") / "media.ts")
    subprocess.run([
        "ffmpeg", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc=size=352x288:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000",
        "-t", "6", "-map", "0:v", "-map", "1:a", "-map", "2:a",
        "-c:v", "mpeg2video", "-b:v", "600k", "-g", "12", "-pix_fmt", "yuv420p",
        "-c:a", "mp2", "-b:a", "64k",
        "-metadata:s:a:0", "language=spa", "-metadata:s:a:1", "language=eng",
        "-mpegts_service_id", "1001", "-muxrate", "1000k", "-f", "mpegts", path,
    ], check=True)
    return path


class _Tables(html.parser.HTMLParser):
    """Rows of every <table id=...> in a document, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self.cur, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.cur = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self.cur is not None:
            self.row = []
            self.cur.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.cur = self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def browser_dom(url, home):
    """Load url in headless Chromium and return the DOM it built (after
    parsing and scripts), with its tables as {id: [[cell, ...], ...]}."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed (make test installs it)")
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--user-data-dir=" + os.path.join(home, "chromium"), "--dump-dom", url],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME=home))
    assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
    t = _Tables()
    t.feed(r.stdout)
    return r.stdout, t.tables


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)
