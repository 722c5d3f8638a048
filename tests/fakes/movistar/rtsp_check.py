#!/usr/bin/env python3
"""rtsp_check: end-to-end check of fake_movistar's U7D RTSP catchup server.

Starts two fakes of its own (unicast only, no namespace needed):

* A, with --rtsp-session-timeout 2: getCatchUpUrl for a past programme of a
  channel with media (an encrypted one if any: catchup must be clear);
  request framing (split reads, pipelining), 400/401/404/457/461/501/454;
  SETUP + PLAY at npt = duration - 5 with GET_PARAMETER keep-alives every
  second; the UDP stream is saved, its SGMARK markers checked (pid, channel,
  t >= offset, consecutive), it must stop at the programme end (~5 s) while
  the session stays open; TEARDOWN closes it; a session whose TCP connection
  was closed survives, then expires after 2 s and its stream stops; ffprobe
  reads the saved stream (MPEG-2 video + 2 MP2 audio, no errors); SIGTERM
  stops the fake and its mcsend children.
* B, with --rtsp-fail 454 --rtsp-setup-delay-ms 300 --rtsp-play-fail 503
  --rtsp-stop-after 1: SETUP is slow and answers 454; then, changing knobs
  through GET /fake/set: PLAY answers 503, the stream stops after 1 s,
  rtsp_garbage answers SETUP with HTTP bytes and closes.

Usage: rtsp_check.py [--mcsend PATH] [--media-dir DIR] [--workdir DIR]
Exit 0 when every check passed.  Python 3 standard library (+ ffprobe).
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MARK_PID = 0x1FF0
failures = []


def say(msg):
    print(msg, flush=True)


def check(cond, what):
    say(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def poll(fn, timeout, step=0.05):
    """fn() until truthy or timeout; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Fake:
    def __init__(self, workdir, opts):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.out = open(os.path.join(workdir, "out"), "w")
        self.err = open(os.path.join(workdir, "err"), "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_movistar.py"),
                                      "--workdir", workdir] + opts,
                                     stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)
        self.ready = None

    def wait_ready(self, timeout=120):
        path = os.path.join(self.dir, "out")

        def ready():
            if self.proc.poll() is not None:
                return "dead"
            with open(path) as f:
                for line in f:
                    if line.startswith("READY "):
                        return json.loads(line[6:])
            return None

        r = poll(ready, timeout, 0.1)
        if not isinstance(r, dict):
            with open(os.path.join(self.dir, "err")) as f:
                sys.stderr.write(f.read())
            raise SystemExit("fake in %s did not get ready" % self.dir)
        self.ready = r
        self.base = r["appserver"]
        self.port = r["rtsp"]
        return r

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as f:
            return json.loads(f.read())

    def rtsp_stats(self):
        return self.get("/fake/stats")["rtsp"]

    def session(self, sid):
        return next((s for s in self.rtsp_stats()["sessions"] if s["id"] == sid), None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()
        return self.proc.returncode


class Rtsp:
    """A minimal RTSP/1.0 client: one TCP connection, CSeq counting."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.cseq = 0

    def build(self, method, url, headers=(), body=b"", cseq=True):
        self.cseq += 1
        lines = ["%s %s RTSP/1.0" % (method, url)]
        if cseq:
            lines.append("CSeq: %d" % self.cseq)
        lines.append("User-Agent: MICA-IP-STB")
        lines.extend("%s: %s" % kv for kv in headers)
        if body:
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def read_reply(self):
        """(code, {lower header: value}, body, raw head); code None at EOF."""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raw, self.buf = self.buf, b""
                return None, {}, b"", raw
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("utf-8", "replace").split("\r\n")
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self.buf += self.sock.recv(4096)
        body, self.buf = self.buf[:n], self.buf[n:]
        m = re.match(r"RTSP/1\.0 (\d{3}) ", lines[0] + " ")
        return (int(m.group(1)) if m else -1), hdrs, body, head

    def request(self, method, url, headers=(), body=b"", cseq=True):
        self.sock.sendall(self.build(method, url, headers, body, cseq))
        return self.read_reply()

    def close(self):
        self.sock.close()


def catchup_url(fake, ch, pid):
    r = fake.get("/appserver/mvtv.do?action=getCatchUpUrl&extInfoID=%d&channelID=%d&mode=1" % (pid, ch))
    if r["resultCode"] != 0:
        raise SystemExit("getCatchUpUrl %d/%d: %r" % (ch, pid, r))
    return r["resultData"]["url"], r["resultData"]["duration"]


def pick_programme(fake):
    """(channel id, media kind, programme) of a past programme on a channel
    with media: an encrypted channel if there is one."""
    r = fake.ready
    with open(r["truth"]) as f:
        truth = json.load(f)
    chans = [c for c in r["channels"] if c["media"]]
    chans.sort(key=lambda c: (not c["encrypted"], c["media"] != "mpeg2", c["lcn"]))
    now = time.time()
    for c in chans:
        progs = truth.get(str(c["replacement"] or c["id"]), [])
        ok = [p for p in progs if p["start"] + p["duration"] < now - 60 and p["start"] > now - 5 * 86400
              and 600 <= p["duration"]]
        if ok:
            return c, ok[-1]
    raise SystemExit("no past programme on a channel with media")


def udp_socket():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    u.bind(("127.0.0.1", 0))
    return u


def markers(data):
    """[(text, t)] of the SGMARK packets in a datagram."""
    out = []
    for i in range(0, len(data) - 187, 188):
        p = data[i:i + 188]
        if p[0] == 0x47 and ((p[1] & 0x1F) << 8 | p[2]) == MARK_PID:
            m = re.match(rb"SGMARK (.*) t=(\d+)\xff*$", p[4:])
            if m:
                out.append((m.group(1).decode(), int(m.group(2))))
    return out


def receive(u, seconds, idle=None, tick=None, save=None):
    """Read datagrams for at most `seconds`, or until `idle` s without one
    (once some came).  tick() is called about once a second.  Returns
    (datagrams, bytes, markers, time of the first, time of the last)."""
    t0 = time.monotonic()
    n = nbytes = 0
    marks = []
    first = last = None
    next_tick = t0 + 1.0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds or (idle and last is not None and now - last >= idle):
            break
        if tick and now >= next_tick:
            tick()
            next_tick += 1.0
        r, _, _ = select.select([u], [], [], 0.05)
        if not r:
            continue
        d = u.recv(65536)
        now = time.monotonic()
        first = first or now
        last = now
        n += 1
        nbytes += len(d)
        marks.extend(markers(d))
        if save:
            save.write(d)
    return n, nbytes, marks, first, last


def drained(u, quiet):
    """True once `quiet` seconds pass without a datagram (stream stopped)."""
    u.setblocking(False)
    last = time.monotonic()
    end = last + 15
    while time.monotonic() < end:
        try:
            u.recv(65536)
            last = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last >= quiet:
                u.setblocking(True)
                return True
            time.sleep(0.02)
    u.setblocking(True)
    return False


def transport(port):
    return ("Transport", "MP2T/H2221/UDP;unicast;client_port=%d" % port)


def play_headers(sid, off):
    return [("Session", sid), ("Range", "npt=%d.000-end" % off), ("Scale", "1.000"),
            ("x-playNow", ""), ("x-noFlush", "")]


def test_a(fake, workdir):
    r = fake.wait_ready()
    check(isinstance(r.get("rtsp"), int) and r["rtsp"] > 0, "READY has the RTSP port (%s)" % r.get("rtsp"))
    chan, prog = pick_programme(fake)
    ch, pid, dur = chan["id"], prog["pid"], prog["duration"]
    url, d2 = catchup_url(fake, ch, pid)
    say("programme %d on channel %d (%s%s), %d s: %s" % (pid, ch, chan["media"],
                                                          ", encrypted" if chan["encrypted"] else "", dur, url))
    check(url.startswith("rtsp://127.0.0.1:%d/%d/%d?" % (fake.port, ch, pid)) and d2 == dur,
          "getCatchUpUrl URL carries the real RTSP port")

    c = Rtsp(fake.port)
    code, h, _, _ = c.request("OPTIONS", "*")
    check(code == 200 and "SETUP" in h.get("public", "") and h.get("server") == "fake-u7d"
          and h.get("cseq") == "1", "OPTIONS: 200, Public, Server, CSeq echoed")
    code, h, _, _ = c.request("OPTIONS", "*", cseq=False)
    check(code == 400 and "cseq" not in h, "no CSeq: 400")
    code, _, _, _ = c.request("DESCRIBE", url, [("Accept", "application/sdp")])
    check(code == 501, "DESCRIBE: 501")
    code, _, _, _ = c.request("SETUP", re.sub(r"token=\w+", "token=0123456789abcdef", url), [transport(5000)])
    check(code == 401, "wrong token: 401")
    code, _, _, _ = c.request("SETUP", url.replace("/%d?" % pid, "/1?"), [transport(5000)])
    check(code == 404, "unknown programme: 404")
    code, _, _, _ = c.request("SETUP", url, [("Transport", "RTP/AVP;unicast;client_port=5000-5001")])
    check(code == 461, "RTP/AVP transport: 461")
    code, _, _, _ = c.request("SETUP", url, [("Transport", "MP2T/H2221/UDP;unicast")])
    check(code == 461, "no client_port: 461")
    code, _, _, _ = c.request("PLAY", url, play_headers("999", 0))
    check(code == 454, "PLAY with an unknown session: 454")

    # SETUP split across reads at awkward places.
    u = udp_socket()
    uport = u.getsockname()[1]
    req = c.build("SETUP", url, [transport(uport)])
    for part in (req[:5], req[5:40], req[40:-3], req[-3:]):
        c.sock.sendall(part)
        time.sleep(0.03)
    code, h, _, _ = c.read_reply()
    sid = h.get("session", "").split(";")[0]
    check(code == 200 and re.fullmatch(r"\d+;timeout=2", h.get("session", "")) is not None,
          "SETUP (split): 200, Session %s" % h.get("session"))
    check(h.get("transport") == "MP2T/H2221/UDP;unicast;client_port=%d;source=127.0.0.1" % uport,
          "SETUP: Transport echoed with source")
    code, _, _, _ = c.request("PLAY", url, play_headers(sid, dur))
    check(code == 457, "PLAY at npt = duration: 457")

    # PLAY 5 s before the end; keep-alives every second (session timeout 2 s).
    off = dur - 5
    code, h, _, _ = c.request("PLAY", url, play_headers(sid, off))
    t_play = time.monotonic()
    check(code == 200 and h.get("range") == "npt=%d.000-%d.000" % (off, dur) and h.get("session") == sid,
          "PLAY: 200, Range %s" % h.get("range"))
    ka = []

    def keepalive():
        ka.append(c.request("GET_PARAMETER", url, [("Session", sid)])[0])

    tsfile = os.path.join(workdir, "catchup-%d.ts" % pid)
    with open(tsfile, "wb") as f:
        n, nbytes, marks, first, last = receive(u, 12, idle=1.5, tick=keepalive, save=f)
    say("received %d datagrams, %d bytes, %d markers %s..%s" % (
        n, nbytes, len(marks), marks[0] if marks else None, marks[-1] if marks else None))
    check(n > 100 and first is not None and first - t_play < 1.0, "stream starts within 1 s")
    check(last is not None and 4.0 <= last - t_play <= 7.0,
          "stream stops at the programme end (%.2f s after PLAY)" % ((last or t_play) - t_play))
    text = "pid=%d ch=%d" % (pid, ch)
    ts = [t for x, t in marks]
    check(marks and all(x == text for x, _ in marks), "markers say \"%s\"" % text)
    check(ts and ts[0] == off and ts == list(range(off, off + len(ts))) and len(ts) >= 5,
          "marker t from the offset, consecutive (%s)" % ts)
    check(ka and all(k == 200 for k in ka), "GET_PARAMETER keep-alives: %s" % ka)
    code, h, body, _ = c.request("GET_PARAMETER", url, [("Session", sid), ("Content-Type", "text/parameters")],
                                 b"position\r\n")
    check(code == 200 and body.startswith(b"position: "), "GET_PARAMETER position: %r" % body)
    st = fake.rtsp_stats()
    s = fake.session(sid)
    check(st["open"] == 1 and st["playing"] == 0 and s and s["state"] == "ended",
          "after the end: session open, not playing (open %d, playing %d, state %s)" % (
              st["open"], st["playing"], s and s["state"]))
    check(s and s["scale"] == "1.000" and s["play_now"] and s["no_flush"] and s["offset"] == off
          and s["client_port"] == uport and s["user_agent"] == "MICA-IP-STB" and s["keepalives"] >= 4
          and s["pid"] == pid and s["channel"] == ch, "session stats: %s" % json.dumps(s))

    # Pipelined: two requests in one write.
    c.sock.sendall(c.build("GET_PARAMETER", url, [("Session", sid)]) + c.build("OPTIONS", "*"))
    r1, r2 = c.read_reply(), c.read_reply()
    check(r1[0] == 200 and r2[0] == 200 and r1[1]["cseq"] == str(c.cseq - 1) and r2[1]["cseq"] == str(c.cseq),
          "two pipelined requests answered in order")
    code, _, _, _ = c.request("TEARDOWN", url, [("Session", sid)])
    st = fake.rtsp_stats()
    check(code == 200 and st["open"] == 0 and st["teardowns"] == 1, "TEARDOWN: 200, open 0")
    code, _, _, _ = c.request("GET_PARAMETER", url, [("Session", sid)])
    check(code == 454, "GET_PARAMETER after TEARDOWN: 454")
    c.close()

    # The saved stream.
    if shutil.which("ffprobe"):
        p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name",
                            "-of", "json", tsfile], capture_output=True, text=True, timeout=60)
        streams = sorted("%s:%s" % (x.get("codec_type"), x.get("codec_name"))
                         for x in json.loads(p.stdout or "{}").get("streams", []))
        check(p.returncode == 0 and not p.stderr.strip()
              and streams == ["audio:mp2", "audio:mp2", "video:mpeg2video"],
              "ffprobe: %s, errors: %r" % (streams, p.stderr.strip()[:200]))
        p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", tsfile, "-map", "0", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and not p.stderr.strip(), "ffmpeg decodes it without errors %r"
              % p.stderr.strip()[:200])
    else:
        say("skip ffprobe (not installed)")

    # Closing the connection does not end a session; expiry does.
    u2 = udp_socket()
    c = Rtsp(fake.port)
    code, h, _, _ = c.request("SETUP", url, [transport(u2.getsockname()[1])])
    sid2 = h.get("session", "").split(";")[0]
    c.close()
    c = Rtsp(fake.port)
    code, _, _, _ = c.request("PLAY", url, play_headers(sid2, 0))
    check(code == 200, "PLAY on a new connection after the SETUP one closed: 200")
    c.close()
    n, _, marks, first, _ = receive(u2, 1.0)
    check(n > 20 and marks and marks[0][1] == 0, "stream from npt 0 (%d datagrams)" % n)
    exp = poll(lambda: fake.rtsp_stats()["expired"] == 1, 5)
    t_exp = time.monotonic() - (first or time.monotonic())
    check(exp and fake.rtsp_stats()["open"] == 0, "no keep-alive: expired after %.1f s, open 0" % t_exp)
    check(drained(u2, 1.0), "expired session's stream stopped")
    s = fake.session(sid2)
    check(s and s["state"] == "expired", "expired session state: %s" % (s and s["state"]))

    # SIGTERM with a stream running: the fake exits 0, mcsend goes too.
    u3 = udp_socket()
    c = Rtsp(fake.port)
    sid3 = c.request("SETUP", url, [transport(u3.getsockname()[1])])[1].get("session", "").split(";")[0]
    c.request("PLAY", url, play_headers(sid3, 0))
    n, _, _, _, _ = receive(u3, 0.5)
    check(n > 5 and poll(lambda: fake.rtsp_stats()["playing"] == 1, 2), "third stream playing")
    rc = fake.stop()
    check(rc == 0, "SIGTERM: fake exit status %s" % rc)
    check(drained(u3, 1.0), "mcsend stopped with the fake")
    c.close()
    for x in (u, u2, u3):
        x.close()


def test_b(fake):
    r = fake.wait_ready()
    chan, prog = pick_programme(fake)
    ch, pid, dur = chan["id"], prog["pid"], prog["duration"]
    url, _ = catchup_url(fake, ch, pid)
    k = fake.rtsp_stats()["knobs"]
    check(k == {"rtsp_session_timeout": 60, "rtsp_setup_delay_ms": 300, "rtsp_fail": 454, "rtsp_stop_after": 1,
                "rtsp_garbage": False, "rtsp_play_fail": 503}, "B: knobs from the command line %s" % k)
    u = udp_socket()
    c = Rtsp(fake.port)
    t0 = time.monotonic()
    code, _, _, _ = c.request("SETUP", url, [transport(u.getsockname()[1])])
    dt = time.monotonic() - t0
    check(code == 454 and dt >= 0.3, "B: --rtsp-fail 454 after --rtsp-setup-delay-ms 300 (%.2f s)" % dt)
    try:
        fake.get("/fake/set?rtsp_fail=0&no_such_knob=1")
        bad = None
    except urllib.error.HTTPError as e:
        bad = e.code
    check(bad == 400 and fake.rtsp_stats()["knobs"]["rtsp_fail"] == 454, "B: /fake/set with an unknown knob: 400")
    k = fake.get("/fake/set?rtsp_fail=0&rtsp-setup-delay-ms=0")
    check(k["rtsp_fail"] == 0 and k["rtsp_setup_delay_ms"] == 0 and "appserver_fail" in k,
          "B: /fake/set answers the knobs")
    code, h, _, _ = c.request("SETUP", url, [transport(u.getsockname()[1])])
    sid = h.get("session", "").split(";")[0]
    check(code == 200 and h.get("session", "").endswith(";timeout=60"), "B: SETUP 200 once fail=0")
    code, _, _, _ = c.request("PLAY", url, play_headers(sid, 100))
    check(code == 503, "B: --rtsp-play-fail 503")
    fake.get("/fake/set?rtsp_play_fail=0")
    code, _, _, _ = c.request("PLAY", url, play_headers(sid, 100))
    t_play = time.monotonic()
    n, _, marks, first, last = receive(u, 4, idle=1.0)
    check(code == 200 and n > 20 and last and 0.8 <= last - t_play <= 1.8
          and marks and marks[0][1] == 100,
          "B: --rtsp-stop-after 1: %d datagrams, stopped %.2f s after PLAY" % (n, (last or t_play) - t_play))
    s = fake.session(sid)
    check(fake.rtsp_stats()["open"] == 1 and s["state"] == "playing", "B: silent session stays open")
    fake.get("/fake/set?rtsp_garbage=1")
    c2 = Rtsp(fake.port)
    code, _, _, raw = c2.request("SETUP", url, [transport(5000)])
    eof = c2.sock.recv(100) == b"" if code is not None else True
    check(code in (None, -1) and raw.startswith(b"HTTP/1.1 200 OK") and eof,
          "B: --rtsp-garbage: %r, then closed" % raw[:30])
    c2.close()
    c.request("TEARDOWN", url, [("Session", sid)])
    st = fake.rtsp_stats()
    check(st["open"] == 0 and st["playing"] == 0 and st["methods"].get("SETUP") == 3,
          "B: stats %s" % json.dumps({k: st[k] for k in ("open", "playing", "methods", "expired", "teardowns")}))
    c.close()
    u.close()
    check(fake.stop() == 0, "B: SIGTERM, exit 0")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mcsend", default=None)
    ap.add_argument("--media-dir", default=None)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    t0 = time.monotonic()
    workdir = args.workdir or tempfile.mkdtemp(prefix="rtsp-check.")
    common = ["--days", "2", "--origin-days", "-1", "--rate-kbps", "500"]
    if args.mcsend:
        common += ["--mcsend", args.mcsend]
    if args.media_dir:
        common += ["--media-dir", args.media_dir]
    else:
        common += ["--media-dir", os.path.join(workdir, "media")]
        # one fake generates the media first, the other reuses it
    a = Fake(os.path.join(workdir, "a"), common + ["--rtsp-session-timeout", "2"])
    if not args.media_dir:
        a.wait_ready()
    b = Fake(os.path.join(workdir, "b"), common + ["--rtsp-fail", "454", "--rtsp-setup-delay-ms", "300",
                                                   "--rtsp-play-fail", "503", "--rtsp-stop-after", "1"])
    try:
        test_a(a, workdir)
        test_b(b)
    finally:
        a.stop()
        b.stop()
    say("work files in %s" % workdir)
    say("%s in %.1f s" % ("rtsp check OK" if not failures else "rtsp check FAILED (%d)" % len(failures),
                          time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
