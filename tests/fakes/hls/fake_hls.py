#!/usr/bin/env python3
"""fake_hls: a simulated live HLS origin plus a DRM key server, on one port.

It plays the upstream of the HLS archiver (plugins/hls_pvr) and of an HLS
relay:

* live channels cam0..cam{N-1}, each with a master playlist of two variants
  (low 320x180, high 640x360) and sliding-window media playlists whose
  segments follow the wall clock: segment n covers
  [epoch + (n - seq_start) * S, +S) and is listed once it is complete;
* real MPEG-TS segments: a loop of K segments generated once with ffmpeg
  (H.264 with libx264, else MPEG-2 video; AAC, else MP2 audio; cached in
  --media-dir), every PTS/DTS/PCR shifted by whole loops and the continuity
  counters rewritten, so consecutive segments form one continuous stream;
* failure knobs (GET /fake/set?...): gaps in the upstream, an upstream
  restart (media sequence back to 0), PROGRAM-DATE-TIME on/off, 404/500,
  CDN error pages with status 200, slow, trickled and truncated transfers;
* a DRM key server (the backend of tkvitko/hls_aes_encryptor):
  GET /drm/keys/<content_id> -> {"key", "iv"} (hex), GET
  /drm/keys/<content_id>.bin[?iv=<hex>] -> the 16 raw key bytes, with key
  rotation and failure knobs; GET /fake/drm lists every issued pair.

Usage: fake_hls.py [--port 0] [--media-dir DIR] [options]   (see --help and
README.md).  Prints one line "READY <json>" on stdout once listening; runs
until SIGTERM/SIGINT, then exits 0.  Diagnostics go to stderr.

Python 3 standard library only.
"""

import argparse
import collections
import fractions
import hashlib
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakehttp  # noqa: E402  (the shared HTTP handler base)

MEDIA_VERSION = 2           # bump to invalidate cached media files
FPS_CHOICES = (25, 50, 30, 24, 20, 10)
MIN_LOOP_S = 10             # the media loop lasts at least this long
MAX_ALIGNED_LOOP_S = 60     # longer audio-aligned loops are not worth it
PTS_MOD = 1 << 33
MARKER_PID = 0x1FF0         # one private packet per segment, not in the PMT
VARIANTS = {
    # name: (width, height, video kb/s, advertised BANDWIDTH)
    "low": (320, 180, 300, 400000),
    "high": (640, 360, 900, 1200000),
}
CDN_ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
                  b"<body><h1>502 Bad Gateway</h1><p>The origin did not answer in time.</p>\n"
                  b"<hr><address>fake-cdn (edge-cache-7)</address></body></html>\n")
ERROR_500_PAGE = (b"<html><head><title>500 Internal Server Error</title></head>"
                  b"<body><h1>500 Internal Server Error</h1></body></html>\n")
NOT_FOUND_PAGE = b"<html><body><h1>404 Not Found</h1></body></html>\n"


def log(msg):
    print("fake_hls: " + msg, file=sys.stderr, flush=True)


class Stop(Exception):
    """Raised by the signal handler in the main thread."""


# ---- MPEG-TS ----------------------------------------------------------------

def _pid(p, o=0):
    return ((p[o + 1] & 0x1F) << 8) | p[o + 2]


def _payload_off(p, o=0):
    afc = (p[o + 3] >> 4) & 3
    if not afc & 1:
        return None
    off = 4 + (1 + p[o + 4] if afc & 2 else 0)
    return off if off < 188 else None


def _section(p):
    off = _payload_off(p)
    if off is None or not p[1] & 0x40:
        return None
    start = off + 1 + p[off]
    if start + 3 > 188:
        return None
    sl = ((p[start + 1] & 0x0F) << 8) | p[start + 2]
    return bytes(p[start:start + 3 + sl])


def ts_program(data):
    """(pmt_pid, {es pid}) from the first PAT/PMT of a TS."""
    pmt_pid = None
    for i in range(0, len(data), 188):
        p = data[i:i + 188]
        if _pid(p) == 0:
            sec = _section(p)
            if sec:
                for j in range(8, len(sec) - 4, 4):
                    if (sec[j] << 8) | sec[j + 1]:
                        pmt_pid = ((sec[j + 2] & 0x1F) << 8) | sec[j + 3]
                        break
                break
    for i in range(0, len(data), 188):
        p = data[i:i + 188]
        if pmt_pid is not None and _pid(p) == pmt_pid:
            sec = _section(p)
            if sec:
                pil = ((sec[10] & 0x0F) << 8) | sec[11]
                j, end, es = 12 + pil, len(sec) - 4, set()
                while j < end:
                    es.add(((sec[j + 1] & 0x1F) << 8) | sec[j + 2])
                    j += 5 + (((sec[j + 3] & 0x0F) << 8) | sec[j + 4])
                return pmt_pid, es
    raise ValueError("no PAT/PMT in TS")


def _get_ts(b, o):
    return (((b[o] >> 1) & 7) << 30) | (b[o + 1] << 22) | ((b[o + 2] >> 1) << 15) | (b[o + 3] << 7) | (b[o + 4] >> 1)


def _put_ts(b, o, v):
    b[o] = (b[o] & 0xF1) | ((v >> 29) & 0x0E)
    b[o + 1] = (v >> 22) & 0xFF
    b[o + 2] = ((v >> 14) & 0xFE) | 1
    b[o + 3] = (v >> 7) & 0xFF
    b[o + 4] = ((v << 1) & 0xFE) | 1


def _get_pcr(b, o):
    return (b[o] << 25) | (b[o + 1] << 17) | (b[o + 2] << 9) | (b[o + 3] << 1) | (b[o + 4] >> 7)


def _put_pcr(b, o, v):
    b[o] = (v >> 25) & 0xFF
    b[o + 1] = (v >> 17) & 0xFF
    b[o + 2] = (v >> 9) & 0xFF
    b[o + 3] = (v >> 1) & 0xFF
    b[o + 4] = ((v & 1) << 7) | (b[o + 4] & 0x7F)      # keep reserved bits + extension MSB


_PES_NO_HEADER = frozenset((0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xFF, 0xF2, 0xF8))


def ts_first_pts(data, pids):
    """First PES PTS (90 kHz) of any of pids, or None."""
    for o in range(0, len(data), 188):
        if _pid(data, o) in pids and data[o + 1] & 0x40:
            off = _payload_off(data, o)
            if off is not None and data[o + off:o + off + 3] == b"\x00\x00\x01" and data[o + off + 7] & 0x80:
                return _get_ts(data, o + off + 9)
    return None


def ts_shift(data, shift, es_pids, cc_start):
    """Copy of data with every PCR/OPCR, PTS and DTS + shift (mod 2^33) and
    the continuity counters rewritten to start at cc_start[pid]."""
    b = bytearray(data)
    cc = dict(cc_start)
    n = len(b)
    bad = 0
    for o in range(0, n, 188):
        if b[o] != 0x47:
            bad += 1
            continue
        b1 = b[o + 1]
        pid = ((b1 & 0x1F) << 8) | b[o + 2]
        if pid == 0x1FFF:
            continue
        b3 = b[o + 3]
        afc = (b3 >> 4) & 3
        off = 4
        if afc & 2:
            al = b[o + 4]
            off = 5 + al
            if al >= 1 and shift:
                fl = b[o + 5]
                q = o + 6
                if fl & 0x10 and al >= 7:
                    _put_pcr(b, q, (_get_pcr(b, q) + shift) % PTS_MOD)
                    q += 6
                if fl & 0x08 and q + 6 <= o + 5 + al:
                    _put_pcr(b, q, (_get_pcr(b, q) + shift) % PTS_MOD)
        if afc & 1:
            c = cc.get(pid)
            if c is not None:
                b[o + 3] = (b3 & 0xF0) | c
                cc[pid] = (c + 1) & 0x0F
            if shift and b1 & 0x40 and pid in es_pids and off + 14 <= 188:
                q = o + off
                if b[q] == 0 and b[q + 1] == 0 and b[q + 2] == 1 and b[q + 3] not in _PES_NO_HEADER:
                    flags = b[q + 7] >> 6
                    if flags & 2:
                        _put_ts(b, q + 9, (_get_ts(b, q + 9) + shift) % PTS_MOD)
                    if flags == 3 and off + 19 <= 188:
                        _put_ts(b, q + 14, (_get_ts(b, q + 14) + shift) % PTS_MOD)
    if bad:
        raise ValueError("%d packets without sync byte" % bad)
    return bytes(b)


def marker_packet(cc, text):
    """A TS packet on MARKER_PID (not in the PMT: players ignore it)."""
    payload = text.encode("ascii")[:184]
    return (bytes([0x47, MARKER_PID >> 8, MARKER_PID & 0xFF, 0x10 | (cc & 0x0F)])
            + payload + b"\xff" * (184 - len(payload)))


# ---- media ------------------------------------------------------------------

def _atomic_write(path, data):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _encoders():
    try:
        r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
        return r.stdout
    except OSError:
        return ""


def have_libx264(enc=None):
    return " libx264 " in (enc if enc is not None else _encoders())


class MediaPlan:
    """Segment length, frame rate, codecs and loop length (all exact)."""

    def __init__(self, segment, video="auto", audio="auto"):
        s = fractions.Fraction(str(segment)).limit_denominator(1000)
        if s <= 0:
            raise ValueError("--segment must be > 0")
        self.seg = s
        self.fps = next((f for f in FPS_CHOICES if (s * f).denominator == 1), None)
        if self.fps is None:
            raise ValueError("--segment %s is not a whole number of frames at %s fps"
                             % (segment, "/".join(map(str, FPS_CHOICES))))
        enc = _encoders()
        self.vcodec = video if video != "auto" else "h264" if have_libx264(enc) else "mpeg2"
        self.acodec = audio if audio != "auto" else "aac" if re.search(r"^\s*A\S*\s+aac\s", enc, re.M) else "mp2"
        audio_frame = fractions.Fraction(1024 if self.acodec == "aac" else 1152, 48000)
        # Shortest loop that is a whole number of segments and of audio frames
        # (so the audio is seamless at the loop point), made >= MIN_LOOP_S.
        base = None
        for m in range(1, 100000):
            if ((m * s) / audio_frame).denominator == 1:
                base = m * s
                break
            if m * s > MAX_ALIGNED_LOOP_S:
                break
        self.audio_aligned = base is not None and base <= MAX_ALIGNED_LOOP_S
        if not self.audio_aligned:
            base = s
        loop = base * max(1, math.ceil(fractions.Fraction(MIN_LOOP_S) / base))
        self.loop = loop
        self.k = int(loop / s)
        self.loop_90k = int(loop * 90000)
        self.seg_90k = s * 90000
        self.gop = int(s * self.fps)

    def tag(self, variant):
        w, h, kbps, _ = VARIANTS[variant]
        return "hls-v%d-%s-%dx%d-%s-%s-%dfps-%sms-k%d" % (
            MEDIA_VERSION, variant, w, h, self.vcodec, self.acodec, self.fps,
            str(float(self.seg * 1000)).rstrip("0").rstrip("."), self.k)

    def describe(self):
        return ("%s %d fps + %s, segment %s s, loop %s s = %d segments%s" % (
            self.vcodec, self.fps, self.acodec, float(self.seg), float(self.loop), self.k,
            "" if self.audio_aligned else " (audio not frame-aligned at the loop point)"))


def _ffmpeg_cmd(plan, variant, outdir):
    w, h, kbps, _ = VARIANTS[variant]
    seconds = float(plan.seg * (plan.k + 2))
    s = float(plan.seg)
    # No B-frames: then a segment's audio starts within one audio frame of
    # its video and m concatenated segments last m x S exactly.
    if plan.vcodec == "h264":
        v = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
             "-x264-params", "open-gop=0", "-sc_threshold", "0"]
    else:
        v = ["-c:v", "mpeg2video", "-bf", "0", "-flags", "+cgop", "-sc_threshold", "1000000000"]
    v += ["-b:v", "%dk" % kbps, "-maxrate", "%dk" % kbps, "-bufsize", "%dk" % (2 * kbps),
          "-g", str(plan.gop), "-keyint_min", str(plan.gop),
          "-force_key_frames", "expr:gte(t,n_forced*%s)" % s, "-pix_fmt", "yuv420p"]
    a = (["-c:a", "aac", "-b:a", "64k"] if plan.acodec == "aac" else ["-c:a", "mp2", "-b:a", "96k"])
    return (["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d" % (w, h, plan.fps),
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-t", "%.3f" % seconds, "-map", "0:v", "-map", "1:a"] + v + a
            + ["-ar", "48000", "-ac", "2", "-threads", "2",
               "-mpegts_service_id", "1", "-metadata", "service_provider=fake_hls",
               "-metadata", "service_name=%s" % variant,
               "-f", "segment", "-segment_format", "mpegts", "-segment_time", str(s),
               "-reset_timestamps", "0", os.path.join(outdir, "seg_%04d.ts")])


def _collect(plan, variant, outdir):
    """The loop: generated segments 1..K.  Segment 0 absorbs the encoders'
    start-up (AAC priming, first PCR); segment K+1 makes the cut after K a
    regular one.  The loop is a whole number of audio frames, so audio
    frames fall on the cut at 1 and at K+1 alike and the loop is seamless."""
    names = sorted(f for f in os.listdir(outdir) if f.startswith("seg_") and f.endswith(".ts"))
    if len(names) < plan.k + 1:
        raise ValueError("ffmpeg made %d segments for %s, wanted >= %d" % (len(names), variant, plan.k + 1))
    segs = []
    for name in names[1:plan.k + 1]:
        with open(os.path.join(outdir, name), "rb") as f:
            d = f.read()
        if not d or len(d) % 188 or d[0] != 0x47:
            raise ValueError("%s: not a TS file" % name)
        segs.append(d)
    _, es = ts_program(segs[0])
    firsts = [ts_first_pts(d, es) for d in segs]
    return segs, firsts


def make_media(media_dir, plan):
    """{variant: [K segment byte strings]}, generated once into media_dir
    (one .ts of the K segments concatenated plus a .json of their sizes)."""
    os.makedirs(media_dir, exist_ok=True)
    out, todo = {}, []
    for v in VARIANTS:
        base = os.path.join(media_dir, plan.tag(v))
        try:
            with open(base + ".json") as f:
                sizes = json.load(f)["sizes"]
            with open(base + ".ts", "rb") as f:
                blob = f.read()
            if len(sizes) != plan.k or sum(sizes) != len(blob):
                raise ValueError("stale")
            segs, o = [], 0
            for n in sizes:
                segs.append(blob[o:o + n])
                o += n
            out[v] = segs
        except (OSError, ValueError, KeyError):
            todo.append(v)
    if not todo:
        return out
    t0 = time.time()
    procs = []
    try:
        for v in todo:
            d = os.path.join(media_dir, ".%s.tmp%d" % (plan.tag(v), os.getpid()))
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            log("generating %s" % os.path.join(media_dir, plan.tag(v) + ".ts"))
            procs.append((v, d, subprocess.Popen(_ffmpeg_cmd(plan, v, d), stdin=subprocess.DEVNULL)))
        for v, d, p in procs:
            if p.wait() != 0:
                raise ValueError("ffmpeg failed for %s (exit %d)" % (v, p.returncode))
            segs, firsts = _collect(plan, v, d)
            step = plan.seg_90k
            for i in range(1, len(firsts)):
                if firsts[i] is None or firsts[i - 1] is None or abs((firsts[i] - firsts[i - 1]) - step) > 1:
                    raise ValueError("%s: segment %d does not start %s s after the previous one" % (
                        v, i, float(plan.seg)))
            base = os.path.join(media_dir, plan.tag(v))
            _atomic_write(base + ".ts", b"".join(segs))
            _atomic_write(base + ".json", json.dumps({"sizes": [len(x) for x in segs],
                                                      "plan": plan.describe()}).encode())
            out[v] = segs
    finally:
        for v, d, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            shutil.rmtree(d, ignore_errors=True)
    log("media generated in %.1f s" % (time.time() - t0))
    return out


class Media:
    """The K-segment loops of both variants and the shifted-segment LRU."""

    def __init__(self, plan, loops, cache_size, pts_base=0):
        self.plan = plan
        self.pts_base = pts_base
        self.loops = loops
        self.info = {}
        for v, segs in loops.items():
            pmt_pid, es = ts_program(segs[0])
            counts = []
            for d in segs:
                c = collections.Counter()
                for o in range(0, len(d), 188):
                    pid = _pid(d, o)
                    if pid != 0x1FFF and (d[o + 3] >> 4) & 1:
                        c[pid] += 1
                counts.append(c)
            total = collections.Counter()
            prefix = []
            for c in counts:
                prefix.append(dict(total))
                total.update(c)
            # Insert the marker packet after the segment's first PMT packet.
            ins = []
            for d in segs:
                pos = 0
                for o in range(0, len(d), 188):
                    if _pid(d, o) == pmt_pid:
                        pos = o + 188
                        break
                ins.append(pos)
            self.info[v] = {"es": es, "prefix": prefix, "total": dict(total), "insert": ins,
                            "pids": sorted(total)}
        self.lock = threading.Lock()
        self.cache = collections.OrderedDict()
        self.inflight = {}
        self.cache_size = cache_size
        self.shifts = 0
        self.hits = 0

    def segment(self, variant, k):
        """The loop segment for time index k (relative to seq_start),
        shifted by whole loops; cached."""
        key = (variant, k)
        with self.lock:
            d = self.cache.get(key)
            if d is not None:
                self.cache.move_to_end(key)
                self.hits += 1
                return d
            ev = self.inflight.get(key)
            if ev is None:
                ev = self.inflight[key] = threading.Event()
                mine = True
            else:
                mine = False
        if not mine:
            ev.wait()
            with self.lock:
                d = self.cache.get(key)
                self.hits += 1
            if d is not None:
                return d
            return self._compute(variant, k)
        try:
            d = self._compute(variant, k)
            with self.lock:
                self.shifts += 1
                self.cache[key] = d
                while len(self.cache) > self.cache_size:
                    self.cache.popitem(last=False)
            return d
        finally:
            with self.lock:
                self.inflight.pop(key, None)
            ev.set()

    def _compute(self, variant, k):
        K = self.plan.k
        loops, i = divmod(k, K)
        inf = self.info[variant]
        cc = {pid: (loops * inf["total"][pid] + inf["prefix"][i].get(pid, 0)) % 16 for pid in inf["pids"]}
        shift = (loops * self.plan.loop_90k + self.pts_base) % PTS_MOD
        return ts_shift(self.loops[variant][i], shift, inf["es"], cc)

    def with_marker(self, variant, k, text):
        d = self.segment(variant, k)
        pos = self.info[variant]["insert"][k % self.plan.k]
        return d[:pos] + marker_packet(k, text) + d[pos:]


# ---- channels, time model, playlists ------------------------------------------

COUNTER_KNOBS = ("seg404", "playlist404", "seg500", "errbody", "truncate")


class Era:
    """A media sequence numbering: number = k - offset for k >= first
    (k = time index: segment k covers [epoch + k*S, +S)).  Era 0 (first
    None, offset -seq_start) is the initial numbering; each reset adds one
    (first = offset = the time index of its seg_0)."""

    def __init__(self, first, offset, requested=None):
        self.first = first
        self.offset = offset
        self.requested = requested


class Channel:
    def __init__(self, name, args):
        self.name = name
        self.pdt = not args.no_pdt
        self.counters = {k: max(0, getattr(args, k)) for k in COUNTER_KNOBS}
        self.slow = max(0, args.slow)
        self.trickle = max(0, args.trickle)
        self.missing = []                  # merged [lo, hi] time-index ranges
        self.gaps = []                     # [start, end] of the missing content
        self.gap_requests = []             # [t, t + seconds] as asked
        self.eras = [Era(None, -args.seq_start)]
        self.resets = []                   # request times
        self.playlist_fetches = 0
        self.master_fetches = 0
        self.segment_fetches = collections.Counter()
        self.variant_fetches = collections.Counter()
        self.bytes = 0
        self.sent = collections.Counter()  # error/special responses sent


class World:
    def __init__(self, args, plan, media):
        self.args = args
        self.plan = plan
        self.media = media
        self.S = float(plan.seg)
        self.W = args.window
        self.seq0 = args.seq_start
        self.epoch = 0.0
        self.lock = threading.Lock()
        self.channels = collections.OrderedDict(
            ("cam%d" % i, Channel("cam%d" % i, args)) for i in range(args.channels))
        self.marker = not args.no_marker
        self.drm = Drm(args)
        self.not_found = 0

    # time model: k = 0 is segment seq_start, starting at the epoch
    def start(self, k):
        return self.epoch + k * self.S

    def newest(self, t):
        """Time index of the newest complete segment at t."""
        return math.floor((t - self.epoch) / self.S + 1e-9) - 1

    @staticmethod
    def is_missing(ch, k):
        for lo, hi in ch.missing:
            if lo <= k <= hi:
                return True
        return False

    def first_existing(self, ch, k):
        moved = True
        while moved:
            moved = False
            for lo, hi in ch.missing:
                if lo <= k <= hi:
                    k = hi + 1
                    moved = True
        return k

    def era_at(self, ch, t):
        """(era, cap): the numbering in force at t and the last time index
        it covers (the next, not yet effective era starts after it)."""
        nw = self.newest(t)
        idx = 0
        for i in range(len(ch.eras) - 1, 0, -1):
            if self.first_existing(ch, ch.eras[i].first) <= nw:
                idx = i
                break
        cap = nw
        if idx + 1 < len(ch.eras):
            cap = min(cap, ch.eras[idx + 1].first - 1)
        return ch.eras[idx], cap

    def listing(self, ch, t):
        """(era, [k...]) of the live playlist at t."""
        era, cap = self.era_at(ch, t)
        ks = []
        k = cap
        guard = 0
        while len(ks) < self.W and (era.first is None or k >= era.first) and guard < 1000000:
            guard += 1
            jumped = False
            for lo, hi in ch.missing:
                if lo <= k <= hi:
                    k = lo - 1
                    jumped = True
                    break
            if jumped:
                continue
            ks.append(k)
            k -= 1
        ks.reverse()
        return era, ks

    def marks(self, ch, era, upto):
        """Time indexes <= upto that carry EXT-X-DISCONTINUITY in era: the
        first segment after each gap, and the era's first segment after a
        reset (like ffmpeg -hls_flags discont_start on a new packager)."""
        out = set()
        if era.first is not None:
            f = self.first_existing(ch, era.first)
            if f <= upto:
                out.add(f)
        for lo, hi in ch.missing:
            k = hi + 1
            if k <= upto and (era.first is None or hi >= era.first) and not self.is_missing(ch, k):
                out.add(k)
        return out

    def segment_ok(self, ch, n, t):
        """Time index of segment number n if it can be served at t, else None."""
        era, cap = self.era_at(ch, t)
        k = n + era.offset
        if k > cap or (era.first is not None and k < era.first) or self.is_missing(ch, k):
            return None
        return k

    @staticmethod
    def number(era, k):
        return k - era.offset

    def media_playlist(self, ch, t, prefix=""):
        with self.lock:
            era, ks = self.listing(ch, t)
            if not ks:
                return None
            marks = self.marks(ch, era, ks[-1])
            dseq = sum(1 for m in marks if m < ks[0])
            pdt = ch.pdt
        lines = ["#EXTM3U", "#EXT-X-VERSION:3",
                 "#EXT-X-TARGETDURATION:%d" % math.ceil(self.S - 1e-9),
                 "#EXT-X-MEDIA-SEQUENCE:%d" % self.number(era, ks[0])]
        if dseq:
            lines.append("#EXT-X-DISCONTINUITY-SEQUENCE:%d" % dseq)
        for k in ks:
            if k in marks:
                lines.append("#EXT-X-DISCONTINUITY")
            if pdt:
                lines.append("#EXT-X-PROGRAM-DATE-TIME:" + iso_ms(self.start(k)))
            lines.append("#EXTINF:%.3f," % self.S)
            lines.append("%sseg_%d.ts" % (prefix, self.number(era, k)))
        return ("\n".join(lines) + "\n").encode()

    def master_playlist(self):
        lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
        for v in ("low", "high"):
            w, h, _, bw = VARIANTS[v]
            lines.append("#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d" % (bw, w, h))
            lines.append("%s/index.m3u8" % v)
        return ("\n".join(lines) + "\n").encode()

    # knobs
    def set_knobs(self, q):
        """GET /fake/set: validate everything, then apply (all or nothing)."""
        q = dict(q)
        chname = q.pop("ch", None)
        if chname is not None and chname not in self.channels:
            raise ValueError("unknown channel %r" % chname)
        chans = [self.channels[chname]] if chname else list(self.channels.values())
        ch_ops, drm_ops = {}, {}

        def as_int(k, v, lo=0):
            try:
                x = int(v)
            except ValueError:
                raise ValueError("bad value for %s: %r" % (k, v))
            if x < lo:
                raise ValueError("bad value for %s: %r" % (k, v))
            return x

        def as_bool(k, v):
            if v not in ("0", "1"):
                raise ValueError("bad value for %s: %r (0 or 1)" % (k, v))
            return v == "1"

        for k, v in q.items():
            if k == "pdt":
                ch_ops[k] = as_bool(k, v)
            elif k == "reset":
                ch_ops[k] = as_bool(k, v)
            elif k == "gap":
                try:
                    g = float(v)
                except ValueError:
                    raise ValueError("bad value for gap: %r" % v)
                if not g > 0 or g > 86400 * 7:
                    raise ValueError("bad value for gap: %r" % v)
                ch_ops[k] = g
            elif k in COUNTER_KNOBS or k in ("slow", "trickle"):
                ch_ops[k] = as_int(k, v)
            elif k in ("rotate", "drm_down"):
                drm_ops[k] = as_bool(k, v)
            elif k in ("drm_fail", "drm_malformed", "bin_fail"):
                drm_ops[k] = as_int(k, v)
            else:
                raise ValueError("unknown knob %r" % k)
        now = time.time()
        with self.lock:
            for ch in chans:
                for k, v in ch_ops.items():
                    if k == "pdt":
                        ch.pdt = v
                    elif k in COUNTER_KNOBS:
                        ch.counters[k] = v
                    elif k == "slow":
                        ch.slow = v
                    elif k == "trickle":
                        ch.trickle = v
                    elif k == "gap":
                        self._gap(ch, now, v)
                    elif k == "reset" and v:
                        self._reset(ch, now)
            self.drm.set_knobs(drm_ops)
            return self.knobs()

    def _gap(self, ch, now, seconds):
        # segments whose start falls in [now, now + seconds)
        lo = math.ceil((now - self.epoch) / self.S - 1e-9)
        while self.start(lo) < now:
            lo += 1
        hi = math.ceil((now + seconds - self.epoch) / self.S - 1e-9) - 1
        while self.start(hi + 1) < now + seconds:
            hi += 1
        while hi >= lo and self.start(hi) >= now + seconds:
            hi -= 1
        ch.gap_requests.append([round(now, 3), round(now + seconds, 3)])
        if hi < lo:
            log("%s: gap of %g s covers no segment start" % (ch.name, seconds))
            return
        ch.gaps.append([round(self.start(lo), 3), round(self.start(hi) + self.S, 3)])
        rs = sorted(ch.missing + [[lo, hi]])
        merged = []
        for a, b in rs:
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        ch.missing = merged
        log("%s: gap, time indexes %d..%d (%s .. %s) never exist" % (
            ch.name, lo, hi, iso_ms(self.start(lo)), iso_ms(self.start(hi) + self.S)))

    def _reset(self, ch, now):
        first = self.newest(now) + 1
        last = ch.eras[-1]
        if last.first is not None and self.first_existing(ch, last.first) > self.newest(now):
            ch.eras.pop()                  # the previous reset has not shown yet: replace it
        ch.eras.append(Era(first, first, now))
        ch.resets.append(round(now, 3))
        log("%s: reset; seg_0 = the segment starting %s" % (ch.name, iso_ms(self.start(first))))

    def knobs(self):
        chans = {}
        for name, ch in self.channels.items():
            d = {"pdt": 1 if ch.pdt else 0, "slow": ch.slow, "trickle": ch.trickle}
            d.update(ch.counters)
            chans[name] = d
        return {"channels": chans, "drm": self.drm.knobs()}

    def stats(self):
        now = time.time()
        with self.lock:
            chans = {}
            for name, ch in self.channels.items():
                era, ks = self.listing(ch, now)
                pending = ch.eras[-1] is not era
                chans[name] = {
                    "playlist_fetches": ch.playlist_fetches,
                    "master_fetches": ch.master_fetches,
                    "segment_fetches": {str(n): c for n, c in sorted(ch.segment_fetches.items())},
                    "variant_fetches": dict(ch.variant_fetches),
                    "bytes": ch.bytes,
                    "gaps": [list(g) for g in ch.gaps],
                    "gap_requests": [list(g) for g in ch.gap_requests],
                    "resets": list(ch.resets),
                    "reset_details": [{"requested": round(e.requested, 3),
                                       "first_start": round(self.start(e.first), 3),
                                       "effective": round(self.start(self.first_existing(ch, e.first)) + self.S, 3),
                                       "offset": e.offset + self.seq0}
                                      for e in ch.eras[1:]],
                    "seq_offset": era.offset + self.seq0,
                    "reset_pending": pending,
                    "media_sequence": self.number(era, ks[0]) if ks else None,
                    "live_edge": self.number(era, ks[-1]) if ks else None,
                    "sent": dict(ch.sent),
                    "knobs": self.knobs()["channels"][name],
                }
            return {"channels": chans, "drm": self.drm.stats(),
                    "media": {"shifts": self.media.shifts, "cache_hits": self.media.hits,
                              "cached": len(self.media.cache)},
                    "not_found": self.not_found, "epoch": self.epoch, "segment": self.S,
                    "window": self.W, "seq_start": self.seq0, "time": now}


def iso_ms(t):
    ms = int(round(t * 1000))
    s, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % ms


# ---- DRM key server ------------------------------------------------------------

class Drm:
    def __init__(self, args):
        self.seed = args.seed
        self.rotate = bool(args.drm_rotate)
        self.fail = 0
        self.malformed = 0
        self.down = False
        self.bin_fail = 0
        self.issued = collections.OrderedDict()   # content_id -> [(key, iv)]
        self.log = []                             # every issued pair, in order
        self.mal_idx = 0
        self.counts = collections.Counter()

    def _derive(self, cid, gen):
        h = hashlib.sha256(("fake_hls:%s:%s:%d" % (self.seed, cid, gen)).encode()).hexdigest()
        return h[:32], h[32:64]

    def _issue(self, cid):
        lst = self.issued.setdefault(cid, [])
        key, iv = self._derive(cid, len(lst))
        lst.append((key, iv))
        self.log.append({"content_id": cid, "key": key, "iv": iv})
        return key, iv

    def newest(self, cid):
        lst = self.issued.get(cid)
        return lst[-1] if lst else self._issue(cid)

    def key_json(self, cid):
        """(kind, body): kind in ok, fail, malformed, down."""
        self.counts["key_fetches"] += 1
        if self.down:
            self.counts["dropped"] += 1
            return "down", None
        if self.fail > 0:
            self.fail -= 1
            self.counts["failed"] += 1
            return "fail", None
        if self.malformed > 0:
            self.malformed -= 1
            self.counts["malformed"] += 1
            kind = self.mal_idx % 3
            self.mal_idx += 1
            k, iv = self._derive(cid, 0)
            if kind == 0:
                body = ('{"key": "%s", "iv": "%s"' % (k, iv[:7])).encode()      # cut JSON
            elif kind == 1:
                body = json.dumps({"key": k}).encode()                            # no iv
            else:
                body = json.dumps({"key": k[:30], "iv": iv}).encode()             # 15-byte key
            return "malformed", body
        if self.rotate or cid not in self.issued:
            key, iv = self._issue(cid)
        else:
            key, iv = self.issued[cid][-1]
        return "ok", json.dumps({"key": key, "iv": iv}).encode()

    def key_bin(self, cid, iv):
        self.counts["bin_fetches"] += 1
        if self.down:
            self.counts["dropped"] += 1
            return "down", None
        if self.bin_fail > 0:
            self.bin_fail -= 1
            self.counts["bin_failed"] += 1
            return "fail", None
        if iv is None:
            key, _ = self.newest(cid)
            return "ok", bytes.fromhex(key)
        v = iv.lower()
        if v.startswith("0x"):
            v = v[2:]
        for key, i in self.issued.get(cid, []):
            if i == v:
                return "ok", bytes.fromhex(key)
        self.counts["bin_unknown_iv"] += 1
        return "unknown", None

    def set_knobs(self, ops):
        for k, v in ops.items():
            if k == "rotate":
                self.rotate = v
            elif k == "drm_down":
                self.down = v
            elif k == "drm_fail":
                self.fail = v
            elif k == "drm_malformed":
                self.malformed = v
            elif k == "bin_fail":
                self.bin_fail = v

    def knobs(self):
        return {"rotate": 1 if self.rotate else 0, "drm_fail": self.fail, "drm_malformed": self.malformed,
                "drm_down": 1 if self.down else 0, "bin_fail": self.bin_fail}

    def stats(self):
        d = {"key_fetches": 0, "bin_fetches": 0, "failed": 0, "malformed": 0, "dropped": 0,
             "bin_failed": 0, "bin_unknown_iv": 0}
        d.update(self.counts)
        d["issued"] = len(self.log)
        d["knobs"] = self.knobs()
        return d


# ---- HTTP -----------------------------------------------------------------------

RE_MASTER = re.compile(r"^/live/([^/]+)/master\.m3u8$")
RE_MEDIA = re.compile(r"^/live/([^/]+)/(low|high)/index\.m3u8$")
RE_SHORT = re.compile(r"^/live/([^/]+)\.m3u8$")
RE_SEG = re.compile(r"^/live/([^/]+)/(low|high)/seg_(-?\d+)\.ts$")
RE_BIN = re.compile(r"^/drm/keys/([^/]+)\.bin$")
RE_KEY = re.compile(r"^/drm/keys/([^/]+)$")
M3U8 = "application/vnd.apple.mpegurl"


def make_handler(world):
    class Handler(fakehttp.FakeHandler):
        wbufsize = 1 << 16

        def version_string(self):
            return "fake-hls-origin/1.0"

        def log_message(self, fmt, *a):
            if world.args.verbose:
                log("http: " + fmt % a)

        def _drop(self):
            """Close the connection without any response."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

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
            m = RE_SEG.match(path)
            if m:
                return self.segment(m.group(1), m.group(2), int(m.group(3)), head)
            m = RE_MEDIA.match(path)
            if m:
                return self.playlist(m.group(1), m.group(2), "", head)
            m = RE_MASTER.match(path)
            if m:
                return self.playlist(m.group(1), None, "", head)
            m = RE_SHORT.match(path)
            if m:
                return self.playlist(m.group(1), "high", "%s/high/" % m.group(1), head)
            m = RE_BIN.match(path)
            if m:
                return self.key_bin(m.group(1), q.get("iv"), head)
            m = RE_KEY.match(path)
            if m:
                return self.key_json(m.group(1), head)
            if path == "/fake/stats":
                return self._send(200, json.dumps(world.stats()).encode(), "application/json", head=head)
            if path == "/fake/drm":
                with world.lock:
                    body = json.dumps(world.drm.log).encode()
                return self._send(200, body, "application/json", head=head)
            if path == "/fake/set":
                try:
                    knobs = world.set_knobs({k.replace("-", "_"): v for k, v in q.items()})
                except ValueError as e:
                    return self._send(400, (str(e) + "\n").encode(), "text/plain", head=head)
                return self._send(200, json.dumps(knobs).encode(), "application/json", head=head)
            if path == "/fake/segment":
                return self.fake_segment(q, head)
            with world.lock:
                world.not_found += 1
            self._send(404, NOT_FOUND_PAGE, "text/html", head=head)

        def playlist(self, chname, variant, prefix, head):
            ch = world.channels.get(chname)
            if ch is None:
                with world.lock:
                    world.not_found += 1
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            with world.lock:
                if variant is None:
                    ch.master_fetches += 1
                else:
                    ch.playlist_fetches += 1
                fail = ch.counters["playlist404"] > 0
                if fail:
                    ch.counters["playlist404"] -= 1
                    ch.sent["playlist404"] += 1
            if fail:
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            body = world.master_playlist() if variant is None else world.media_playlist(ch, time.time(), prefix)
            if body is None:
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            self._send(200, body, M3U8, [("Cache-Control", "no-cache")], head)

        def segment(self, chname, variant, n, head):
            ch = world.channels.get(chname)
            if ch is None:
                with world.lock:
                    world.not_found += 1
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            now = time.time()
            with world.lock:
                ch.segment_fetches[n] += 1
                ch.variant_fetches[variant] += 1
                special = None
                for knob in ("seg404", "seg500", "errbody"):
                    if ch.counters[knob] > 0:
                        ch.counters[knob] -= 1
                        ch.sent[knob] += 1
                        special = knob
                        break
                k = world.segment_ok(ch, n, now) if special is None else None
                if special is None and k is None:
                    ch.sent["not_found"] += 1
                truncate = False
                if k is not None and ch.counters["truncate"] > 0:
                    ch.counters["truncate"] -= 1
                    ch.sent["truncate"] += 1
                    truncate = True
                slow, trickle = ch.slow, ch.trickle
            if slow:
                time.sleep(slow / 1000.0)
            if special == "seg404" or (special is None and k is None):
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            if special == "seg500":
                return self._send(500, ERROR_500_PAGE, "text/html", head=head)
            if special == "errbody":
                body = CDN_ERROR_PAGE
                self._count(ch, 0 if head else len(body))
                return self._send(200, body, "text/html; charset=utf-8", [("Cache-Control", "no-cache")], head)
            body = self._bytes(ch, variant, k, n)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=600")
            self.end_headers()
            if head:
                return
            if truncate:
                half = body[:len(body) // 2]
                self.wfile.write(half)
                self.wfile.flush()
                self._count(ch, len(half))
                self._drop()
                return
            if trickle:
                self.wfile.flush()
                parts = 10
                step = (len(body) + parts - 1) // parts
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    self._count(ch, len(body[i:i + step]))
                    if i + step < len(body):
                        time.sleep(trickle / 1000.0 / parts)
                return
            self.wfile.write(body)
            self._count(ch, len(body))

        def _bytes(self, ch, variant, k, n):
            if not world.marker:
                return world.media.segment(variant, k)
            text = "SGMARK ch=%s v=%s n=%d k=%d t=%.3f" % (ch.name, variant, n, k, world.start(k))
            return world.media.with_marker(variant, k, text)

        def _count(self, ch, nbytes):
            with world.lock:
                ch.bytes += nbytes

        def fake_segment(self, q, head):
            """GET /fake/segment?ch=&v=&n= : the bytes seg_<n>.ts has now, no
            stats, no knobs (tests compare stored segments with it)."""
            ch = world.channels.get(q.get("ch", "cam0"))
            v = q.get("v", "high")
            try:
                n = int(q.get("n", ""))
            except ValueError:
                n = None
            if ch is None or v not in VARIANTS or n is None:
                return self._send(400, b"need ch, v (low|high), n\n", "text/plain", head=head)
            with world.lock:
                k = world.segment_ok(ch, n, time.time())
            if k is None:
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            self._send(200, self._bytes(ch, v, k, n), "video/mp2t", head=head)

        def key_json(self, cid, head):
            with world.lock:
                kind, body = world.drm.key_json(cid)
            if kind == "down":
                return self._drop()
            if kind == "fail":
                return self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>\n",
                                  "text/html", head=head)
            self._send(200, body, "application/json", [("Cache-Control", "no-store")], head)

        def key_bin(self, cid, iv, head):
            with world.lock:
                kind, body = world.drm.key_bin(cid, iv)
            if kind == "down":
                return self._drop()
            if kind == "fail":
                return self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>\n",
                                  "text/html", head=head)
            if kind == "unknown":
                return self._send(404, NOT_FOUND_PAGE, "text/html", head=head)
            self._send(200, body, "application/octet-stream", [("Cache-Control", "no-store")], head)

    return Handler


class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, TimeoutError)):
            return                          # clients hang up; nothing to report
        super().handle_error(request, client_address)


# ---- main -----------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated live HLS origin (wall-clock segments, failure knobs) "
                                             "plus a DRM key server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral (the real port is in READY)")
    ap.add_argument("--media-dir", default=None,
                    help="generated media cache (default $TMPDIR/fake_hls-media)")
    ap.add_argument("--channels", type=int, default=2, help="channels cam0..cam{N-1} (default 2)")
    ap.add_argument("--segment", type=float, default=2.0, metavar="S", help="segment length in seconds (default 2)")
    ap.add_argument("--window", type=int, default=6, metavar="W", help="segments in a live playlist (default 6)")
    ap.add_argument("--seq-start", type=int, default=1000, metavar="N",
                    help="media sequence number of the segment starting at the epoch (default 1000)")
    ap.add_argument("--no-pdt", action="store_true", help="start with EXT-X-PROGRAM-DATE-TIME off")
    ap.add_argument("--seed", type=int, default=1, help="DRM keys derive from it")
    ap.add_argument("--video", choices=("auto", "h264", "mpeg2"), default="auto",
                    help="auto: H.264 (libx264) if ffmpeg has it, else MPEG-2 video")
    ap.add_argument("--audio", choices=("auto", "aac", "mp2"), default="auto",
                    help="auto: AAC if ffmpeg has an aac encoder, else MP2")
    ap.add_argument("--no-marker", action="store_true",
                    help="do not add the SGMARK packet (PID 0x1FF0) to the segments")
    ap.add_argument("--slow", type=int, default=0, metavar="MS", help="delay every segment response")
    ap.add_argument("--trickle", type=int, default=0, metavar="MS", help="spread every segment body over MS ms")
    for k in COUNTER_KNOBS:
        ap.add_argument("--" + k, type=int, default=0, metavar="N", help="the first N requests (see README)")
    ap.add_argument("--pts-base", type=float, default=3600.0, metavar="SECONDS",
                    help="added to every PTS/DTS/PCR (default 3600: segment seq-start starts near PTS 3600 s, "
                         "no 2^33 wrap for an hour before the epoch nor for 25 h after it; "
                         "95400 makes timestamps wrap about 40 s after the epoch)")
    ap.add_argument("--drm-rotate", action="store_true", help="every key request issues a new key and IV")
    ap.add_argument("--cache", type=int, default=0, metavar="N",
                    help="shifted segments kept in memory (default max(32, 8 x window))")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.channels < 1 or args.window < 1:
        ap.error("--channels and --window must be >= 1")

    def on_signal(sig, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    httpd = None
    try:
        t0 = time.time()
        try:
            plan = MediaPlan(args.segment, args.video, args.audio)
        except ValueError as e:
            ap.error(str(e))
        media_dir = os.path.abspath(args.media_dir or os.path.join(
            os.environ.get("TMPDIR", "/tmp"), "fake_hls-media"))
        log("media: %s" % plan.describe())
        loops = make_media(media_dir, plan)
        media = Media(plan, loops, args.cache or max(32, 8 * args.window), int(round(args.pts_base * 90000)))
        world = World(args, plan, media)
        httpd = HttpServer((args.host, args.port), make_handler(world))
        port = httpd.server_address[1]
        # The first playlist is full: W segments are complete at start.
        world.epoch = math.floor((time.time() - args.window * world.S) * 1000) / 1000.0
        threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()
        host = args.host if ":" not in args.host else "[%s]" % args.host
        ready = {"base": "http://%s:%d" % (host, port), "channels": list(world.channels),
                 "segment": world.S, "epoch": world.epoch, "window": args.window,
                 "seq_start": args.seq_start, "loop_segments": plan.k, "video": plan.vcodec,
                 "audio": plan.acodec, "fps": plan.fps, "pid": os.getpid()}
        log("ready in %.1f s on %s: %d channels, %s" % (time.time() - t0, ready["base"], args.channels,
                                                        plan.describe()))
        print("READY " + json.dumps(ready), flush=True)
        while True:
            time.sleep(3600)
    except Stop:
        return 0
    finally:
        if httpd is not None:
            try:
                httpd.shutdown()
                httpd.server_close()
            except Stop:
                pass


if __name__ == "__main__":
    sys.exit(main())
