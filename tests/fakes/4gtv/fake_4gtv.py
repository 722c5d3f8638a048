#!/usr/bin/env python3
"""fake_4gtv: a simulated 4gtv origin (CDN, signing service, programme list).

It plays the upstream of plugins/4gtv, a buffered HLS relay that computes
segment URLs from a clock model instead of fetching every playlist
(/work/shared/reference/4gtv-ustream-hlspvr.md part A):

* four channels, one per id family: 4gtv-4gtv001 and 4gtv-4gtv002
  ("begin+seq": seq and begin seconds tied to the wall clock since
  2015-01-01Z), 4gtv-live007 (live) and litv-ftv13 (litv), whose sequence
  numbers count from an anchor at the fake's start;
* a signing step, GET /auth/{fid}?hd=N -> 302 to a signed playlist
  (token/expires/token1/expires1, HMAC-SHA256), and a token check on every
  playlist and segment (403 when missing, wrong or expired);
* real MPEG-TS segments from fake_hls's media code (a ffmpeg-made loop,
  PTS/DTS/PCR and continuity counters rewritten so consecutive segments are
  one continuous stream, an SGMARK marker packet saying fid, hd and seq);
* failure knobs (GET /fake/set?...): auth/segment status codes such as 229,
  230, 503, 216, error pages with status 200, short token lifetimes, slow
  segments; request counts in GET /fake/stats;
* the programme list, GET /proglist/{fid}.txt (JSON, Taiwan time).

Usage: fake_4gtv.py [--port 0] [--media-dir DIR] [--step 4] [options]
(see --help and README.md).  Prints one line "READY <json>" on stdout once
listening; runs until SIGTERM/SIGINT, then exits 0.  Diagnostics go to
stderr.

Python 3 standard library only (plus ffmpeg once, to make the media).
"""

import argparse
import collections
import datetime
import hashlib
import hmac
import json
import math
import os
import re
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakehttp  # noqa: E402  (the shared HTTP handler base)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hls"))
import fake_hls  # noqa: E402  (media generation, TS shifting, marker packets)

EPOCH = 1420070400                  # 2015-01-01T00:00:00Z: begin = 0
HD_LIST = (360, 480, 720, 1080)
# video bit rate in the begin+seq file names, per quality
VBW = {360: 400000, 480: 1000000, 720: 2000000, 1080: 4000000}
VARIANT = {360: "low", 480: "low", 720: "high", 1080: "high"}   # fake_hls media variant
TIER = {"begin_seq": "4gtv-live-mid", "live": "4gtv-live-high", "litv": "litv-pc"}
SEQ0 = {"live": 30000000, "litv": 5000000}                       # seq at the anchor
# fid, family, qualities offered, name, number, group
CHANNELS = (
    ("4gtv-4gtv001", "begin_seq", (360, 480, 720, 1080), "民視台灣台", 1, "綜合"),
    ("4gtv-4gtv002", "begin_seq", (360, 480, 720), "民視", 2, "綜合"),
    ("4gtv-live007", "live", (360, 480, 720, 1080), "大愛", 3, "宗教"),
    ("litv-ftv13", "litv", (360, 480, 720, 1080), "民視新聞台", 4, "新聞"),
)
DEFAULT_BEGIN_OFFSET = 12
PLAYLIST_ENTRIES = 5
STATUS_MSG = {
    216: "IP blacklisted", 229: "too frequent, try again later", 230: "daily quota exceeded",
    403: "link expired", 404: "not found", 410: "gone", 411: "please upgrade",
    429: "too many requests", 500: "internal error", 502: "bad gateway", 503: "under maintenance",
}
NO_BODY_STATUS = (204, 205, 304)
TW = datetime.timezone(datetime.timedelta(hours=8))
EPG_TITLES = (
    "晨間新聞", "大愛劇場：草山春暉", "Taiwan Outlook", "午間新聞", "台灣演義",
    "Tom & Jerry <Classic> \"Marathon\"", "綜藝大集合", "夜間新聞", "Grandma's Kitchen",
    "飛越台灣 Formosa", "民視異言堂", "深夜電影院",
)
M3U8 = "application/vnd.apple.mpegurl"
NOT_FOUND_PAGE = fake_hls.NOT_FOUND_PAGE
ERROR_PAGE = fake_hls.CDN_ERROR_PAGE


def log(msg):
    print("fake_4gtv: " + msg, file=sys.stderr, flush=True)


# ---- channels and their time model ---------------------------------------------

class Channel:
    """Segment seq covers [base + seq * step, + step); base = EPOCH +
    begin_offset (begin+seq family: begin = step * seq + begin_offset) or
    anchor - SEQ0 * step (live, litv)."""

    def __init__(self, fid, family, hds, name, number, group, step, anchor, begin_offset, ttl):
        self.fid = fid
        self.family = family
        self.hds = tuple(hds)
        self.name = name
        self.number = number
        self.group = group
        self.step = step
        self.begin_offset = begin_offset if family == "begin_seq" else None
        self.seq0 = SEQ0.get(family)
        self.base = EPOCH + begin_offset if family == "begin_seq" else anchor - self.seq0 * step
        self.templates = {hd: self.template(hd) for hd in self.hds}
        # knobs
        self.ttl = ttl
        self.auth_status = 0
        self.auth_count = 0
        self.seg_status = 0
        self.seg_count = 0
        self.errbody = 0
        self.slow = 0
        # counts
        self.auth = 0
        self.playlist = 0
        self.epg = 0
        self.segments = collections.Counter()       # (hd, seq) -> requests
        self.sent = {"auth": collections.Counter(), "playlist": collections.Counter(),
                     "segment": collections.Counter()}
        self.bad_token = 0
        self.expired = 0
        self.errbody_sent = 0
        self.bad_path = 0

    def template(self, hd):
        """The segment URL template (relative to the host) of quality hd,
        placeholders {fid} {hd} {seq} {begin}; literal bit rate and dur."""
        if self.family == "begin_seq":
            return ("/live/pool/{fid}/4gtv-live-mid/{fid}-avc1_%d=3-mp4a_131000=7-begin={begin}0666666"
                    "-dur=%d-seq={seq}.ts" % (VBW[hd], self.step * 10 ** 7))
        if self.family == "live":
            return "/live/pool/{fid}/4gtv-live-high/{fid}-{hd}{seq}.ts"
        return "/live/pool/{fid}/litv-pc/{fid}-{hd}-{seq}.ts"

    def begin(self, seq):
        return self.step * seq + self.begin_offset if self.family == "begin_seq" else 0

    def path(self, hd, seq):
        t = self.templates.get(hd) or self.template(hd)
        return (t.replace("{fid}", self.fid).replace("{hd}", str(hd))
                .replace("{seq}", str(seq)).replace("{begin}", str(self.begin(seq))))

    def start(self, seq):
        return self.base + self.step * seq

    def newest(self, now):
        """seq of the newest complete segment at now."""
        return math.floor((now - self.base) / self.step + 1e-9) - 1

    def exists(self, seq, now, history):
        s = self.start(seq)
        return s + self.step <= now and s >= now - history

    def parse(self, rest):
        """(hd, seq) from the part of a segment path after /live/pool/{fid}/,
        or None when it is not exactly one of this channel's file names
        (quality offered or not)."""
        fid = re.escape(self.fid)
        if self.family == "begin_seq":
            m = re.match(r"^4gtv-live-mid/%s-avc1_(\d+)=3-mp4a_131000=7-begin=\d+0666666-dur=\d+-seq=(\d+)\.ts$"
                          % fid, rest)
            hd = {v: k for k, v in VBW.items()}.get(int(m.group(1))) if m else None
        elif self.family == "live":
            m = re.match(r"^4gtv-live-high/%s-(360|480|720|1080)(\d+)\.ts$" % fid, rest)
            hd = int(m.group(1)) if m else None
        else:
            m = re.match(r"^litv-pc/%s-(\d+)-(\d+)\.ts$" % fid, rest)
            hd = int(m.group(1)) if m and int(m.group(1)) in HD_LIST else None
        if hd is None:
            return None
        seq = int(m.group(2))
        if "/live/pool/%s/%s" % (self.fid, rest) != self.path(hd, seq):
            return None                 # begin, dur or leading zeros do not match
        return hd, seq

    def effective_hd(self, hd):
        """The offered quality a playlist for hd lists: hd, else the nearest
        lower one, else the lowest."""
        lower = [h for h in self.hds if h <= hd]
        return max(lower) if lower else min(self.hds)


class World:
    def __init__(self, args, plan, media, anchor):
        self.args = args
        self.plan = plan
        self.media = media
        self.step = args.step
        self.anchor = anchor
        self.history = args.history
        self.secret = args.secret.encode()
        self.lock = threading.Lock()
        offsets = parse_offsets(args.begin_offset)
        self.channels = collections.OrderedDict()
        for fid, fam, hds, name, number, group in CHANNELS:
            off = offsets.get(fid, offsets.get(None, DEFAULT_BEGIN_OFFSET))
            self.channels[fid] = Channel(fid, fam, hds, name, number, group, args.step, anchor, off, args.ttl)
        self.not_found = 0

    # signing
    def _mac(self, msg):
        return hmac.new(self.secret, msg.encode(), hashlib.sha256).hexdigest()[:32]

    def token(self, fid, expires):
        return self._mac("%s|%d" % (fid, expires))

    def token1(self, fid, expires1):
        return self._mac("%s|%d|1" % (fid, expires1))

    def sign(self, ch, now):
        exp = math.ceil(now + ch.ttl)
        return "token=%s&expires=%d&token1=%s&expires1=%d" % (
            self.token(ch.fid, exp), exp, self.token1(ch.fid, exp), exp)

    def check(self, ch, q, now):
        """'ok', 'bad' (missing/invalid token) or 'expired'."""
        try:
            exp, exp1 = int(q["expires"]), int(q["expires1"])
            tok, tok1 = q["token"], q["token1"]
        except (KeyError, ValueError):
            return "bad"
        if not (hmac.compare_digest(tok.lower().encode("utf-8", "replace"), self.token(ch.fid, exp).encode())
                and hmac.compare_digest(tok1.lower().encode("utf-8", "replace"),
                                        self.token1(ch.fid, exp1).encode())):
            return "bad"
        if exp < now or exp1 < now:
            return "expired"
        return "ok"

    # media
    def k(self, ch, seq):
        """Time index of the media (shared by every channel: the same k
        is the same picture): segments starting at the anchor have k = 0."""
        return (ch.start(seq) - self.anchor) // self.step

    def segment_bytes(self, ch, hd, seq):
        k = self.k(ch, seq)
        text = "SGMARK fid=%s hd=%d seq=%d t=%d k=%d" % (ch.fid, hd, seq, ch.start(seq), k)
        return self.media.with_marker(VARIANT[hd], k, text)

    def playlist(self, ch, hd, query, now):
        eff = ch.effective_hd(hd)
        last = ch.newest(now)
        first = last - PLAYLIST_ENTRIES + 1
        prefix = "/live/pool/%s/" % ch.fid
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:%d" % self.step,
                 "#EXT-X-MEDIA-SEQUENCE:%d" % first]
        for seq in range(first, last + 1):
            lines.append("#EXTINF:%d.000," % self.step)
            lines.append(ch.path(eff, seq)[len(prefix):] + "?" + query)
        return ("\n".join(lines) + "\n").encode()

    # knobs
    def set_knobs(self, q):
        """GET /fake/set: validate everything, then apply (all or nothing)."""
        q = dict(q)
        fid = q.pop("fid", None)
        if fid is not None and fid not in self.channels:
            raise ValueError("unknown fid %r" % fid)
        chans = [self.channels[fid]] if fid else list(self.channels.values())
        ops = {}

        def as_int(k, v, lo=0, hi=10 ** 9):
            try:
                x = int(v)
            except ValueError:
                raise ValueError("bad value for %s: %r" % (k, v))
            if not lo <= x <= hi:
                raise ValueError("bad value for %s: %r" % (k, v))
            return x

        def as_status(k, v):
            x = as_int(k, v, 0, 599)
            if x and (x < 200 or x in NO_BODY_STATUS):
                raise ValueError("bad value for %s: %r (0 = off, else 200..599 but not 204/205/304)" % (k, v))
            return x

        for k, v in q.items():
            if k in ("auth_status", "seg_status"):
                ops[k] = as_status(k, v)
            elif k in ("auth_count", "seg_count", "errbody", "slow"):
                ops[k] = as_int(k, v)
            elif k == "ttl":
                ops[k] = as_int(k, v, 0, 10 ** 8)
            else:
                raise ValueError("unknown knob %r" % k)
        for kind in ("auth", "seg"):
            st, cnt = kind + "_status", kind + "_count"
            if st in ops and cnt not in ops:
                ops[cnt] = 1 if ops[st] else 0
            if ops.get(cnt) and st not in ops and any(not getattr(c, st) for c in chans):
                raise ValueError("%s needs %s" % (cnt, st))
        with self.lock:
            for ch in chans:
                for k, v in ops.items():
                    setattr(ch, k, v)
            return self.knobs()

    def knobs(self):
        return {"channels": {fid: self._knobs(ch) for fid, ch in self.channels.items()}}

    @staticmethod
    def _knobs(ch):
        return {"auth_status": ch.auth_status, "auth_count": ch.auth_count, "seg_status": ch.seg_status,
                "seg_count": ch.seg_count, "ttl": ch.ttl, "errbody": ch.errbody, "slow": ch.slow}

    def stats(self):
        now = time.time()
        with self.lock:
            chans = {}
            for fid, ch in self.channels.items():
                chans[fid] = {
                    "auth": ch.auth,
                    "playlist": ch.playlist,
                    "epg": ch.epg,
                    "segments": {"%d:%d" % hs: n for hs, n in sorted(ch.segments.items())},
                    "status_sent": {kind: {str(c): n for c, n in sorted(cnt.items())}
                                    for kind, cnt in ch.sent.items()},
                    "bad_token": ch.bad_token,
                    "expired": ch.expired,
                    "errbody": ch.errbody_sent,
                    "bad_path": ch.bad_path,
                    "newest_seq": ch.newest(now),
                    "knobs": self._knobs(ch),
                }
            return {"channels": chans, "not_found": self.not_found,
                    "media": {"shifts": self.media.shifts, "cache_hits": self.media.hits,
                              "cached": len(self.media.cache)},
                    "step": self.step, "anchor": self.anchor, "epoch": EPOCH, "time": now}

    def ready_info(self, base):
        chans = {}
        now = time.time()
        for fid, ch in self.channels.items():
            d = {"family": ch.family, "name": ch.name, "number": ch.number, "group": ch.group,
                 "qualities": list(ch.hds),
                 "auth_url": base + "/auth/{fid}?hd={hd}",
                 "templates": {str(hd): t for hd, t in ch.templates.items()},
                 "base": ch.base, "newest_seq": ch.newest(now)}
            if ch.family == "begin_seq":
                d["begin_offset"] = ch.begin_offset
            else:
                d["seq0"] = ch.seq0
            chans[fid] = d
        return chans


def parse_offsets(values):
    """--begin-offset N (every begin+seq channel) or FID=N, repeatable."""
    out = {}
    for v in values or ():
        fid, _, n = v.rpartition("=")
        if fid and fid not in dict((c[0], 1) for c in CHANNELS if c[1] == "begin_seq"):
            raise ValueError("--begin-offset: %r is not a begin+seq channel" % fid)
        try:
            out[fid or None] = int(n)
        except ValueError:
            raise ValueError("--begin-offset: bad value %r" % v)
    return out


def proglist(fid, now):
    """Hourly programmes from yesterday 00:00 to tomorrow 24:00, Taiwan time."""
    today = datetime.datetime.fromtimestamp(now, TW).date()
    start = datetime.datetime.combine(today - datetime.timedelta(days=1), datetime.time(0), tzinfo=TW)
    shift = int(hashlib.sha256(fid.encode()).hexdigest()[:4], 16) % len(EPG_TITLES)
    out = []
    for i in range(72):
        s = start + datetime.timedelta(hours=i)
        e = s + datetime.timedelta(hours=1)
        out.append({"sdate": s.strftime("%Y-%m-%d"), "stime": s.strftime("%H:%M:%S"),
                    "edate": e.strftime("%Y-%m-%d"), "etime": e.strftime("%H:%M:%S"),
                    "title": EPG_TITLES[(shift + s.hour) % len(EPG_TITLES)]})
    return out


# ---- HTTP -----------------------------------------------------------------------

RE_AUTH = re.compile(r"^/auth/([^/]+)$")
RE_POOL = re.compile(r"^/live/pool/([^/]+)/(.+)$")
RE_EPG = re.compile(r"^/proglist/([^/]+)\.txt$")


def make_handler(world):
    class Handler(fakehttp.FakeHandler):
        wbufsize = 1 << 16

        def version_string(self):
            return "fake-4gtv/1.0"

        def log_message(self, fmt, *a):
            if world.args.verbose:
                log("http: " + fmt % a)

        def reason(self, code):
            return STATUS_MSG.get(code) if code in (216, 229, 230) else None

        def _json_status(self, code, head, msg=None):
            body = json.dumps({"code": code, "msg": msg or STATUS_MSG.get(code, "error")}).encode()
            self._send(code, body, "application/json", [("Cache-Control", "no-cache")], head)

        def _not_found(self, head):
            with world.lock:
                world.not_found += 1
            self._send(404, NOT_FOUND_PAGE, "text/html", head=head)

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_GET(self, head=False):
            u = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(u.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
            try:
                self.route(path, q, head)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def route(self, path, q, head):
            m = RE_POOL.match(path)
            if m:
                ch = world.channels.get(m.group(1))
                if ch is None:
                    return self._not_found(head)
                if m.group(2) == "index.m3u8":
                    return self.playlist(ch, q, head)
                return self.segment(ch, m.group(2), q, head)
            m = RE_AUTH.match(path)
            if m:
                ch = world.channels.get(m.group(1))
                if ch is None:
                    with world.lock:
                        world.not_found += 1
                    return self._json_status(404, head, "Not found %s" % m.group(1))
                return self.auth(ch, q, head)
            m = RE_EPG.match(path)
            if m:
                return self.epg(m.group(1), head)
            if path == "/fake/stats":
                return self._send(200, json.dumps(world.stats()).encode(), "application/json", head=head)
            if path == "/fake/set":
                try:
                    knobs = world.set_knobs({k.replace("-", "_"): v for k, v in q.items()})
                except ValueError as e:
                    return self._send(400, (str(e) + "\n").encode(), "text/plain", head=head)
                return self._send(200, json.dumps(knobs).encode(), "application/json", head=head)
            if path == "/fake/segment":
                return self.fake_segment(q, head)
            self._not_found(head)

        @staticmethod
        def _hd(q):
            try:
                hd = int(q.get("hd", "720"))
            except ValueError:
                return None
            return hd if hd in HD_LIST else None

        def auth(self, ch, q, head):
            now = time.time()
            with world.lock:
                ch.auth += 1
                code = 0
                if ch.auth_count > 0:
                    ch.auth_count -= 1
                    code = ch.auth_status
                hd = self._hd(q)
                if not code:
                    code = 302 if hd is not None else 400
                ch.sent["auth"][code] += 1
                signed = world.sign(ch, now) if code == 302 else None
            if code == 400:
                return self._json_status(400, head, "hd must be one of 360, 480, 720, 1080")
            if code != 302:
                return self._json_status(code, head)
            loc = "/live/pool/%s/index.m3u8?hd=%d&%s" % (ch.fid, hd, signed)
            self._send(302, b"", "text/plain", [("Location", loc), ("Cache-Control", "no-cache")], head)

        def _token(self, ch, q, kind, now):
            """None if the token is good, else the 403 status was sent."""
            verdict = world.check(ch, q, now)
            if verdict == "ok":
                return None
            with world.lock:
                if verdict == "bad":
                    ch.bad_token += 1
                else:
                    ch.expired += 1
                ch.sent[kind][403] += 1
            return "bad token" if verdict == "bad" else "link expired"

        def playlist(self, ch, q, head):
            now = time.time()
            with world.lock:
                ch.playlist += 1
            err = self._token(ch, q, "playlist", now)
            if err:
                return self._json_status(403, head, err)
            hd = self._hd(q)
            if hd is None:
                with world.lock:
                    ch.sent["playlist"][400] += 1
                return self._json_status(400, head, "hd must be one of 360, 480, 720, 1080")
            query = "token=%s&expires=%d&token1=%s&expires1=%d" % (
                q["token"].lower(), int(q["expires"]), q["token1"].lower(), int(q["expires1"]))
            body = world.playlist(ch, hd, query, now)
            with world.lock:
                ch.sent["playlist"][200] += 1
            self._send(200, body, M3U8, [("Cache-Control", "no-cache"), ("Pragma", "no-cache")], head)

        def segment(self, ch, rest, q, head):
            parsed = ch.parse(rest)
            with world.lock:
                if parsed is None:
                    ch.bad_path += 1
                else:
                    ch.segments[parsed] += 1
                special = None
                if ch.seg_count > 0:
                    ch.seg_count -= 1
                    special = ch.seg_status
                elif ch.errbody > 0:
                    ch.errbody -= 1
                    ch.errbody_sent += 1
                    special = "errbody"
                slow = ch.slow
            if slow:
                time.sleep(slow / 1000.0)
            now = time.time()
            if special == "errbody":
                with world.lock:
                    ch.sent["segment"][200] += 1
                return self._send(200, ERROR_PAGE, "text/html; charset=utf-8",
                                  [("Cache-Control", "no-cache")], head)
            if special:
                with world.lock:
                    ch.sent["segment"][special] += 1
                return self._json_status(special, head)
            if parsed is None:
                with world.lock:
                    ch.sent["segment"][404] += 1
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            err = self._token(ch, q, "segment", now)
            if err:
                return self._json_status(403, head, err)
            hd, seq = parsed
            if hd not in ch.hds or not ch.exists(seq, now, world.history):
                with world.lock:
                    ch.sent["segment"][404] += 1
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            body = world.segment_bytes(ch, hd, seq)
            with world.lock:
                ch.sent["segment"][200] += 1
            self._send(200, body, "video/MP2T", [("Cache-Control", "max-age=600"), ("Accept-Ranges", "bytes")],
                       head)

        def epg(self, fid, head):
            ch = world.channels.get(fid)
            if ch is None:
                return self._not_found(head)
            with world.lock:
                ch.epg += 1
            body = json.dumps(proglist(fid, time.time()), ensure_ascii=False).encode("utf-8")
            self._send(200, body, "text/plain; charset=utf-8", head=head)

        def fake_segment(self, q, head):
            """GET /fake/segment?fid=&hd=&seq= : the bytes of that segment,
            no counting, no token, no knobs (404 like the real route)."""
            ch = world.channels.get(q.get("fid", ""))
            hd = self._hd(q) if "hd" in q else None
            try:
                seq = int(q.get("seq", ""))
            except ValueError:
                seq = None
            if ch is None or hd is None or seq is None:
                return self._send(400, b"need fid, hd (360|480|720|1080), seq\n", "text/plain", head=head)
            if hd not in ch.hds or not ch.exists(seq, time.time(), world.history):
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            self._send(200, world.segment_bytes(ch, hd, seq), "video/MP2T", head=head)

    return Handler


# ---- main -----------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated 4gtv origin: clock-model segment URLs, signing, "
                                             "failure knobs, programme lists")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral (the real port is in READY)")
    ap.add_argument("--media-dir", default=None,
                    help="generated media cache (default $TMPDIR/fake_hls-media, shared with fake_hls)")
    ap.add_argument("--step", type=int, default=4, metavar="S", help="segment length in whole seconds (default 4)")
    ap.add_argument("--begin-offset", action="append", metavar="[FID=]N",
                    help="begin = step*seq + N for the begin+seq channels (default 12); FID=N for one "
                         "channel; repeatable")
    ap.add_argument("--ttl", type=int, default=10800, metavar="SECONDS",
                    help="token lifetime (default 10800 = 3 h; knob ttl)")
    ap.add_argument("--history", type=int, default=3600, metavar="SECONDS",
                    help="how far back segments stay available (default 3600)")
    ap.add_argument("--secret", default="fake_4gtv-secret", help="HMAC key of the tokens")
    ap.add_argument("--video", choices=("auto", "h264", "mpeg2"), default="auto",
                    help="auto: H.264 (libx264) if ffmpeg has it, else MPEG-2 video")
    ap.add_argument("--audio", choices=("auto", "aac", "mp2"), default="auto",
                    help="auto: AAC if ffmpeg has an aac encoder, else MP2")
    ap.add_argument("--cache", type=int, default=64, metavar="N", help="shifted segments kept in memory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.step < 1 or args.ttl < 0 or args.history < 0:
        ap.error("--step must be >= 1, --ttl and --history >= 0")
    try:
        parse_offsets(args.begin_offset)
    except ValueError as e:
        ap.error(str(e))

    def on_signal(sig, frame):
        raise fake_hls.Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    httpd = None
    try:
        t0 = time.time()
        try:
            plan = fake_hls.MediaPlan(args.step, args.video, args.audio)
        except ValueError as e:
            ap.error(str(e))
        media_dir = os.path.abspath(args.media_dir or os.path.join(
            os.environ.get("TMPDIR", "/tmp"), "fake_hls-media"))
        log("media: %s" % plan.describe())
        loops = fake_hls.make_media(media_dir, plan)
        # PTS base: the oldest segment served (history back) still starts
        # after PTS 0; wraps (2^33) some 26 h - history later.
        media = fake_hls.Media(plan, loops, max(16, args.cache), int((args.history + 600) * 90000))
        anchor = int(time.time()) // args.step * args.step
        world = World(args, plan, media, anchor)
        httpd = fake_hls.HttpServer((args.host, args.port), make_handler(world))
        port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()
        host = args.host if ":" not in args.host else "[%s]" % args.host
        base = "http://%s:%d" % (host, port)
        ready = {"base": base, "port": port, "step": args.step, "epoch": EPOCH, "anchor": anchor,
                 "history": args.history, "ttl": args.ttl,
                 "epg_url": base + "/proglist/{fid}.txt",
                 "channels": world.ready_info(base),
                 "loop_segments": plan.k, "video": plan.vcodec, "audio": plan.acodec, "fps": plan.fps,
                 "pid": os.getpid()}
        log("ready in %.1f s on %s: step %d s, %s" % (time.time() - t0, base, args.step, plan.describe()))
        print("READY " + json.dumps(ready), flush=True)
        while True:
            time.sleep(3600)
    except fake_hls.Stop:
        return 0
    finally:
        if httpd is not None:
            try:
                httpd.shutdown()
                httpd.server_close()
            except fake_hls.Stop:
                pass


if __name__ == "__main__":
    sys.exit(main())
