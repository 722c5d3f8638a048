#!/usr/bin/env python3
"""fake_ustream: a simulated IBM/ustream "recorded video" upstream.

It plays the upstream of the ustream downloader, a port of
bertrandmartel/ustream-dl (/work/shared/reference/4gtv-ustream-hlspvr.md
part B, B.1-B.3):

* the site, on HTTP: channel and video pages whose <meta
  name="ustream:channel_id"> the client scrapes, the "dumb" viewer
  registration (POST .../viewer-registration/save/...json -> a hash
  object) and the channel content (POST .../content.json, form field hash
  = that object as a JSON string -> the list of recorded videos);
* UMS, on a websocket: a "connect" frame in, then tracking, moduleInfo
  {cdnConfig} and moduleInfo {stream} out, the last one carrying the
  "flv/segmented" format (path, chunk presets, hashes every few chunks);
  rejects: cluster redirect, geo lock, unknown media, bad hash;
* the CDN, on HTTP: GET /cdn/<video>/flv/<o|m>/<n>_<hash>.flv -> chunk n,
  a whole FLV file (header, onMetaData, AVC/AAC sequence headers) whose
  timestamps continue those of chunk n-1, like the real service's;
* failure knobs (GET /fake/set?...) and counters (GET /fake/stats).

The media, H.264 + AAC made once with ffmpeg and cut with its segment
muxer, is cached in --media-dir (a folder per parameter set).

Usage: fake_ustream.py [--port 0] [--ws-port 0] [--media-dir DIR]
[--seconds 60] [--chunk 6] [--size 320x180] (see --help and README.md).
Prints one line "READY <json>" on stdout once both servers listen; runs
until SIGTERM/SIGINT, then exits 0.  Diagnostics go to stderr.

Python 3 standard library plus websockets (>= 10, asyncio API) and the
ffmpeg/ffprobe command-line tools.
"""

import argparse
import asyncio
import collections
import hashlib
import hmac
import html
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakehttp  # noqa: E402  (the shared HTTP handler base)

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
MEDIA_VERSION = 1                    # bump to make new caches (media.json records it)
FPS = 25
AUDIO_RATE = 44100
AAC_FRAME = 1024                     # samples per AAC frame

# slug: (channel id, title)
CHANNELS = {"nasa-hd": ("1001", "NASA HD"), "empty-ch": ("1002", "Empty channel")}
# video id: (channel slug, title, createdAt, chunk limit or None = all)
VIDEOS = collections.OrderedDict((
    ("v100", ("nasa-hd", "Launch day", 1700000000, None)),
    ("v200", ("nasa-hd", "Short clip", 1700100000, 3)),
))
KNOB_DEFAULTS = {
    "fail_twice": -1, "truncate": -1, "truncate_times": 1000000, "html_chunk": -1,
    "latency_ms": 0, "rate_kbps": 0, "hash_every": 4, "no_length": 0,
    "reject_redirect": 0, "geo_lock": 0, "warning": 0, "no_recordings": 0,
}
KNOB_MIN = {"fail_twice": -1, "truncate": -1, "html_chunk": -1, "hash_every": 1}   # others: 0
NOT_FOUND_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Page not found | IBM Video Streaming</title></head>\n"
                  b"<body><h1>404</h1><p>The page you are looking for does not exist.</p></body></html>\n")
CHUNK_ERROR_PAGE = b"<html>error</html>"
RE_CHANNEL = re.compile(r"^/channel/([^/]+)/?$")
RE_RECORDED = re.compile(r"^/recorded/([^/]+)/?$")
RE_REGISTER = re.compile(r"^/ajax/viewer-registration/save/([^/]+)/channel/([^/]+)\.json$")
RE_CONTENT = re.compile(r"^/ajax/viewing-experience/channel/([^/]+)/content\.json$")
RE_CHUNK = re.compile(r"^/cdn/([^/]+)/flv/([om])/([^/_]*)_([^/]*)\.flv$")


def log(msg):
    print("fake_ustream: " + msg, file=sys.stderr, flush=True)


class Stop(Exception):
    """Raised by the signal handler while the media is being made."""


# ---- media ------------------------------------------------------------------------

def _run(cmd):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    return r.stdout.decode()


def make_media(folder, seconds, chunk, size):
    """Make c00000.flv, c00001.flv ... and media.json in folder (which
    must exist); returns the media.json dict.  The AAC track is encoded
    first, to an ADTS file, so that its encoder delay does not push the
    video 23 ms late: the source then lasts exactly `seconds` and chunk k
    covers [k * chunk, (k + 1) * chunk)."""
    w, h = size
    adts = os.path.join(folder, "audio.aac")
    src = os.path.join(folder, "source.flv")
    ff = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    _run(ff + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=%d:duration=%d" % (AUDIO_RATE, seconds),
               "-ac", "2", "-c:a", "aac", "-b:a", "64k", adts])
    _run(ff + ["-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d:duration=%d" % (w, h, FPS, seconds),
               "-i", adts, "-map", "0:v", "-map", "1:a",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50",
               "-force_key_frames", "expr:gte(t,n_forced*%d)" % chunk,
               "-c:a", "copy", "-frames:a", str(seconds * AUDIO_RATE // AAC_FRAME),   # audio ends <= seconds
               "-f", "flv", src])
    os.unlink(adts)
    # Not -reset_timestamps: every chunk keeps the source's timeline.
    _run(ff + ["-i", src, "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", str(chunk),
               "-segment_format", "flv", os.path.join(folder, "c%05d.flv")])
    duration = float(_run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                           "-of", "default=noprint_wrappers=1:nokey=1", src]).strip())
    os.unlink(src)                       # the chunks are all we serve
    sizes = []
    while os.path.exists(os.path.join(folder, "c%05d.flv" % len(sizes))):
        sizes.append(os.path.getsize(os.path.join(folder, "c%05d.flv" % len(sizes))))
    if not sizes:
        raise RuntimeError("the segment muxer made no chunk")
    info = {"version": MEDIA_VERSION, "seconds": seconds, "chunk": chunk, "size": "%dx%d" % size,
            "duration": duration, "chunks": len(sizes), "sizes": sizes}
    with open(os.path.join(folder, "media.json"), "w") as f:
        json.dump(info, f)
    return info


def load_media(folder):
    """media.json of a finished cache folder, or None if it is not one."""
    try:
        with open(os.path.join(folder, "media.json")) as f:
            info = json.load(f)
        if info.get("version") == MEDIA_VERSION and all(
                os.path.getsize(os.path.join(folder, "c%05d.flv" % i)) == n for i, n in enumerate(info["sizes"])):
            return info
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def get_media(parent, seconds, chunk, size):
    """(folder, info): the cache folder of these parameters under parent,
    made (in a temporary folder, then renamed) unless already there."""
    folder = os.path.join(parent, ".media-%d-%d-%dx%d" % (seconds, chunk, size[0], size[1]))
    info = load_media(folder)
    if info:
        return folder, info
    if os.path.exists(folder):
        log("media: %s is incomplete or stale, remaking it" % folder)
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(parent, exist_ok=True)
    t0 = time.time()
    log("media: making %d s of %dx%d in %d s chunks (once) ..." % (seconds, size[0], size[1], chunk))
    tmp = tempfile.mkdtemp(prefix=os.path.basename(folder) + ".tmp-", dir=parent)
    try:
        make_media(tmp, seconds, chunk, size)
        os.chmod(tmp, 0o755)             # mkdtemp made it 0700
        try:
            os.rename(tmp, folder)
        except OSError:                  # another instance finished first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info = load_media(folder)
    if not info:
        raise RuntimeError("media cache %s unusable after making it" % folder)
    log("media: %d chunks, %.3f s, made in %.1f s" % (info["chunks"], info["duration"], time.time() - t0))
    return folder, info


# ---- state ------------------------------------------------------------------------

class World:
    def __init__(self, media_dir, info, chunk):
        self.media_dir = media_dir
        self.chunk = chunk
        self.duration = info["duration"]
        self.total = info["chunks"]
        self.secret = secrets.token_bytes(16)
        self.lock = threading.Lock()
        self.issued = []                 # registration hash objects handed out
        self.base = ""                   # set once the HTTP server listens
        self.reset()

    def reset(self):
        """Knobs to their defaults, every counter to zero (issued hashes stay)."""
        self.knobs = dict(KNOB_DEFAULTS)
        self.requests = collections.Counter()
        self.fetches = collections.defaultdict(collections.Counter)     # video -> n -> requests
        self.chunk_status = collections.Counter()
        self.chunk_bytes = 0
        self.fail_left = collections.Counter()                           # video -> 503s still to send
        self.truncated = collections.Counter()                           # video -> truncated bodies sent
        self.ws = {"connects": 0, "rejects": 0, "accepted": 0, "by_cluster": collections.Counter(main=0, c2=0),
                   "reject_reasons": collections.Counter(), "last_connect": None}

    # videos
    def chunks(self, vid):
        limit = VIDEOS[vid][3]
        return self.total if limit is None else min(limit, self.total)

    def length(self, vid):
        """Duration of the video: chunk boundaries are exact multiples of chunk."""
        return self.duration if self.chunks(vid) == self.total else float(self.chunks(vid) * self.chunk)

    def chunk_file(self, n):
        return os.path.join(self.media_dir, "c%05d.flv" % n)

    def hash_value(self, vid, key, fmt="flv"):
        return hashlib.sha1(("%s|%s|%d" % (fmt, vid, key)).encode()).hexdigest()[:32]

    def hashes(self, vid, fmt="flv"):
        every = self.knobs["hash_every"]
        return {str(k): self.hash_value(vid, k, fmt) for k in range(0, self.chunks(vid), every)}

    def right_hash(self, vid, n):
        """The hash of chunk n: that of the greatest key <= n."""
        return self.hash_value(vid, n // self.knobs["hash_every"] * self.knobs["hash_every"])

    # registration
    def register(self, cid):
        viewer = secrets.token_hex(16)
        h = {"viewer": viewer, "channel": cid,
             "sig": hmac.new(self.secret, ("%s|%s" % (viewer, cid)).encode(), hashlib.sha256).hexdigest()}
        with self.lock:
            self.issued.append(h)
        return h

    def is_issued(self, text):
        try:
            h = json.loads(text)
        except (TypeError, ValueError):
            return False
        with self.lock:
            return isinstance(h, dict) and h in self.issued

    # UMS frames
    def stream_frame(self, vid):
        with self.lock:
            length = self.length(vid)
            flv = {"contentAccess": {"accessList": [{"data": {"path": "%s/flv/" % vid}}]},
                   "chunkId": 0, "chunkTime": self.chunk * 1000, "duration": length,
                   "hashes": self.hashes(vid),
                   "streams": [{"preset": "mobile", "segmentUrl": "m/%_%.flv", "bitrate": 300},
                               {"preset": "original", "segmentUrl": "o/%_%.flv", "bitrate": 1200}]}
            if self.knobs["no_length"]:
                del flv["chunkTime"], flv["duration"]
            mp4 = {"contentAccess": {"accessList": [{"data": {"path": "%s/mp4s/" % vid}}]},
                   "chunkId": 0, "chunkTime": self.chunk * 1000, "duration": length,
                   "hashes": self.hashes(vid, "mp4"),
                   "initUrl": "o/init_%.mp4",
                   "streams": [{"preset": "original", "codec": "avc1.64001f", "segmentUrl": "o/%_%.m4v",
                                "bitrate": 1200, "width": 1280, "height": 720}]}
        return {"cmd": "moduleInfo", "args": [{"stream": {"streamFormats": {"mp4/segmented": mp4,
                                                                            "flv/segmented": flv}}}]}

    # knobs and stats
    def set_knobs(self, q):
        """GET /fake/set: validate everything, then apply (all or nothing)."""
        vals = {}
        for k, v in q.items():
            if k != "reset" and k not in KNOB_DEFAULTS:
                raise ValueError("unknown knob %r" % k)
            try:
                vals[k] = int(v)
            except ValueError:
                raise ValueError("bad value for %s: %r (integers only)" % (k, v))
            if vals[k] < KNOB_MIN.get(k, 0):
                raise ValueError("bad value for %s: %r (minimum %d)" % (k, v, KNOB_MIN.get(k, 0)))
        with self.lock:
            if vals.pop("reset", 0):
                self.reset()
            self.knobs.update(vals)
            if "fail_twice" in vals:
                self.fail_left = collections.Counter({vid: 2 for vid in VIDEOS})
            if "truncate" in vals or "truncate_times" in vals:
                self.truncated.clear()
            return dict(self.knobs)

    def stats(self):
        with self.lock:
            ws = dict(self.ws, by_cluster=dict(self.ws["by_cluster"]),
                      reject_reasons=dict(self.ws["reject_reasons"]))
            return {"requests": dict(self.requests),
                    "fetches": {v: {str(n): c for n, c in sorted(cnt.items())} for v, cnt in self.fetches.items()},
                    "chunk_status": dict(self.chunk_status),
                    "chunk_bytes": self.chunk_bytes, "registrations": len(self.issued),
                    "ws": ws, "knobs": dict(self.knobs)}

    def count(self, kind):
        with self.lock:
            self.requests[kind] += 1


# ---- pages ------------------------------------------------------------------------

def page(base, title, canonical, metas, body):
    e = html.escape
    meta = "".join('<meta %s="%s" content="%s">\n' % (attr, e(k), e(v)) for attr, k, v in metas)
    return ("""<!DOCTYPE html>
<html lang="en" class="no-js">
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(title)s | IBM Video Streaming</title>
%(meta)s<link rel="canonical" href="%(canonical)s">
<link rel="stylesheet" href="%(base)s/static/css/ustream.min.css">
<script>window.dataLayer = window.dataLayer || []; window.ustream = {"lang": "en_US", "page": "%(kind)s"};</script>
<script src="%(base)s/static/js/vendor.min.js" defer></script>
<script src="%(base)s/static/js/viewer.min.js" defer></script>
</head>
<body class="%(kind)s-page">
<header class="site-header"><a class="logo" href="%(base)s/">IBM Video Streaming</a></header>
<main id="app">
%(body)s
</main>
<footer><p>&copy; IBM Corporation</p></footer>
</body>
</html>
""" % {"title": e(title), "meta": meta, "canonical": e(canonical), "base": e(base), "body": body,
       "kind": "recorded" if "/recorded/" in canonical else "channel"}).encode()


def channel_page(base, slug):
    cid, title = CHANNELS[slug]
    url = "%s/channel/%s" % (base, slug)
    items = "".join('<li class="video"><a href="/recorded/%s">%s</a></li>\n' % (vid, html.escape(v[1]))
                    for vid, v in VIDEOS.items() if v[0] == slug)
    metas = [("name", "description", "Watch %s live and recorded videos." % title),
             ("name", "ustream:channel_id", cid), ("name", "ustream:channel_slug", slug),
             ("property", "og:title", title), ("property", "og:type", "video.other"),
             ("property", "og:url", url), ("property", "og:image", base + "/static/img/%s.jpg" % cid),
             ("property", "og:site_name", "IBM Video Streaming"), ("name", "twitter:card", "player")]
    body = '<h1 class="channel-title">%s</h1>\n<ul class="videos">\n%s</ul>' % (html.escape(title), items)
    return page(base, title, url, metas, body)


def recorded_page(base, vid):
    slug, title, created, _ = VIDEOS[vid]
    cid = CHANNELS[slug][0]
    url = "%s/recorded/%s" % (base, vid)
    metas = [("name", "description", title), ("name", "ustream:channel_id", cid),
             ("name", "ustream:video_id", vid), ("property", "og:title", title),
             ("property", "og:type", "video.other"), ("property", "og:url", url),
             ("property", "video:release_date", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))),
             ("name", "twitter:card", "player")]
    body = ('<h1 class="video-title">%s</h1>\n<p>From <a href="/channel/%s">%s</a></p>\n'
            '<div class="player" data-video-id="%s"></div>' % (html.escape(title), slug,
                                                                html.escape(CHANNELS[slug][1]), vid))
    return page(base, title, url, metas, body)


# ---- HTTP -------------------------------------------------------------------------

class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return                       # clients hang up; nothing to report
        super().handle_error(request, client_address)


def make_handler(world, verbose):
    class Handler(fakehttp.FakeHandler):

        def version_string(self):
            return "fake-ustream/1.0"

        def log_message(self, fmt, *a):
            if verbose:
                log("http: " + fmt % a)

        def _json(self, code, obj, headers=(), head=False):
            self._send(code, json.dumps(obj).encode(), "application/json", headers, head)

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_GET(self, head=False):
            self._dispatch("GET", head)

        def do_POST(self):
            self._dispatch("POST", False)

        def _dispatch(self, method, head):
            u = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(u.path)
            try:
                self.route(method, path, u.query, head)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _form(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""
            return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}

        def route(self, method, path, query, head):
            if path == "/fake/stats":
                return self._json(200, world.stats(), head=head)
            if path == "/fake/set":
                q = {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
                try:
                    return self._json(200, world.set_knobs(q), head=head)
                except ValueError as e:
                    return self._send(400, (str(e) + "\n").encode(), "text/plain", head=head)
            m = RE_CHUNK.match(path)
            if m and method == "GET":
                world.count("chunk" if not head else "chunk_head")
                return self.chunk(m.group(1), m.group(3), m.group(4), head)
            for kind, rx, meth, fn in (("channel", RE_CHANNEL, "GET", self.channel),
                                       ("recorded", RE_RECORDED, "GET", self.recorded),
                                       ("register", RE_REGISTER, "POST", self.register),
                                       ("content", RE_CONTENT, "POST", self.content)):
                m = rx.match(path)
                if m and method == meth:
                    world.count(kind)
                    return fn(*m.groups(), head=head)
            world.count("other")
            self._send(404, NOT_FOUND_PAGE, "text/html; charset=utf-8", head=head)

        def channel(self, slug, head):
            if slug not in CHANNELS:
                return self._send(404, NOT_FOUND_PAGE, "text/html; charset=utf-8", head=head)
            self._send(200, channel_page(world.base, slug), "text/html; charset=utf-8", head=head)

        def recorded(self, vid, head):
            if vid not in VIDEOS:
                return self._send(404, NOT_FOUND_PAGE, "text/html; charset=utf-8", head=head)
            self._send(200, recorded_page(world.base, vid), "text/html; charset=utf-8", head=head)

        def register(self, cid, cid2, head):
            form = self._form()
            if cid != cid2 or cid not in (c[0] for c in CHANNELS.values()):
                return self._json(404, {"success": False, "error": "channel not found"})
            if not form.get("fields[name]", "").strip() or not form.get("fields[email]", "").strip():
                return self._json(400, {"success": False, "error": "name and email are required"})
            h = world.register(cid)
            self._json(200, {"success": True, "hash": h},
                       [("Set-Cookie", "uvid=%s; Path=/" % secrets.token_hex(12))])

        def content(self, cid, head):
            form = self._form()
            slug = next((s for s, c in CHANNELS.items() if c[0] == cid), None)
            if slug is None:
                return self._json(404, {"error": "channel not found"})
            if not world.is_issued(form.get("hash")):
                return self._json(403, {"error": "registration required"})
            with world.lock:
                videos = [] if world.knobs["no_recordings"] else [
                    {"id": vid, "title": v[1], "createdAt": v[2], "length": world.length(vid)}
                    for vid, v in VIDEOS.items() if v[0] == slug]
            self._json(200, {"exposedVariables": {"videosData": {"videos": videos}}})

        def chunk(self, vid, num, hsh, head):
            """The CDN: validate, apply the knobs, send the chunk file.  HEAD
            answers like GET but consumes no knob counter (nor is a fetch)."""
            with world.lock:
                knobs = dict(world.knobs)
                status, cut = 200, False
                n = int(num) if re.fullmatch(r"0|[1-9][0-9]*", num) else None
                if vid in VIDEOS and n is not None and not head:
                    world.fetches[vid][n] += 1
                if vid not in VIDEOS or n is None or n >= world.chunks(vid):
                    status = 404
                elif hsh != world.right_hash(vid, n):
                    status = 403
                elif n == knobs["html_chunk"]:
                    status = "html"
                elif n == knobs["fail_twice"] and world.fail_left[vid] > 0:
                    status = 503
                    if not head:
                        world.fail_left[vid] -= 1
                elif n == knobs["truncate"] and world.truncated[vid] < knobs["truncate_times"]:
                    cut = True
                    if not head:
                        world.truncated[vid] += 1
                world.chunk_status[str(status)] += 1
            if knobs["latency_ms"]:
                time.sleep(knobs["latency_ms"] / 1000.0)
            if status == 404:
                return self._send(404, NOT_FOUND_PAGE, "text/html; charset=utf-8", head=head)
            if status == 403:
                return self._send(403, b"403 Forbidden: bad chunk hash\n", "text/plain", head=head)
            if status == 503:
                return self._send(503, b"503 Service Unavailable\n", "text/plain", [("Retry-After", "1")], head)
            if status == "html":
                return self._send(200, CHUNK_ERROR_PAGE, "text/html", head=head)
            with open(world.chunk_file(n), "rb") as f:
                data = f.read()
            if cut:
                data = data[:len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "video/x-flv")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "max-age=86400")
            self.end_headers()
            if not head:
                self._trickle(data, knobs["rate_kbps"] * 1024)

        def _trickle(self, data, rate):
            """Write data, at most rate bytes/s if rate (pieces of 1/20 s)."""
            piece = max(512, rate // 20) if rate else len(data)
            t0, sent = time.monotonic(), 0
            while sent < len(data):
                n = self.wfile.write(data[sent:sent + piece])
                sent += n
                with world.lock:
                    world.chunk_bytes += n
                if rate:
                    delay = t0 + sent / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

    return Handler


# ---- UMS websocket ----------------------------------------------------------------

async def ws_reject_path(path, request_headers):
    """Handshake hook: only paths ending in /1/ustream are UMS."""
    if not urllib.parse.urlsplit(path).path.endswith("/1/ustream"):
        return http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"not a UMS endpoint\n"
    return None


def make_ws_handler(world, ws_port):
    def check(frame):
        """None if the connect frame is acceptable, else the reject args."""
        if not isinstance(frame, dict) or frame.get("cmd") != "connect" or not isinstance(frame.get("args"), list) \
                or not frame["args"] or not isinstance(frame["args"][0], dict):
            return {"auth": {"message": "bad request"}}
        a = frame["args"][0]
        if a.get("type") != "viewer" or a.get("application") != "recorded":
            return {"auth": {"message": "bad request"}}
        if not isinstance(a.get("media"), str) or a["media"] not in VIDEOS:
            return {"nonexistent": True}
        if not world.is_issued(a.get("hash")):
            return {"auth": {"message": "bad hash"}}
        return None

    async def session(ws):
        cluster = "c2" if urllib.parse.urlsplit(ws.path).path.startswith("/c2/") else "main"
        try:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except (asyncio.TimeoutError, ValueError, TypeError):
                frame = None
            with world.lock:
                world.ws["connects"] += 1
                world.ws["by_cluster"][cluster] += 1
                world.ws["last_connect"] = frame
                knobs = dict(world.knobs)
            reject = check(frame)
            if reject is None and knobs["reject_redirect"] and cluster != "c2":
                reject = {"cluster": {"name": "c2", "host": "127.0.0.1:%d/c2" % ws_port}}
            if reject is None and knobs["geo_lock"]:
                reject = {"geoLock": {"countryCode": "ES", "message": "This video is not available in your country"}}
            if reject is not None:
                with world.lock:
                    world.ws["rejects"] += 1
                    world.ws["reject_reasons"][next(iter(reject))] += 1
                await ws.send(json.dumps({"cmd": "reject", "args": [reject]}))
                await ws.close()
                return
            with world.lock:
                world.ws["accepted"] += 1
            vid = frame["args"][0]["media"]
            port = urllib.parse.urlsplit(world.base).port
            frames = [{"cmd": "tracking", "args": [{"host": "127.0.0.1", "connectionId": secrets.token_hex(8)}]}]
            if knobs["warning"]:
                frames.append({"cmd": "warning", "args": [{"code": "W42", "message": "test warning"}]})
            frames.append({"cmd": "moduleInfo", "args": [{"cdnConfig": {"protocol": "http", "data": [
                {"name": "fake", "host": "127.0.0.1:%d" % port}]}}]})
            frames.append(world.stream_frame(vid))
            for f in frames:
                await ws.send(json.dumps(f))
            async for _ in ws:           # stay open until the client goes; ignore what it says
                pass
        except websockets.ConnectionClosed:
            pass

    return session


# ---- main -------------------------------------------------------------------------

async def serve(args, world):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    httpd = HttpServer(("127.0.0.1", args.port), make_handler(world, args.verbose))
    port = httpd.server_address[1]
    world.base = "http://127.0.0.1:%d" % port
    threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()
    sock = socket.socket()               # bound here: the handler needs the port
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.ws_port))
    ws_port = sock.getsockname()[1]
    # no pings: a minimal client that never answers one is not dropped
    wss = await websockets.serve(make_ws_handler(world, ws_port), sock=sock,
                                 process_request=ws_reject_path, ping_interval=None)
    ws_base = "ws://127.0.0.1:%d" % ws_port
    ready = {"base": world.base, "ws": ws_base, "site": world.base, "cdn": world.base + "/cdn/",
             "ums": ws_base + "/r{rand}-1-{video}/1/ustream",
             "channel": world.base + "/channel/nasa-hd", "channel_id": CHANNELS["nasa-hd"][0],
             "videos": list(VIDEOS), "chunks": world.total, "duration": world.duration,
             "chunk_seconds": args.chunk, "media_dir": world.media_dir, "pid": os.getpid()}
    log("ready: http %s, ws %s, %d chunks, %.3f s" % (world.base, ws_base, world.total, world.duration))
    print("READY " + json.dumps(ready), flush=True)
    try:
        await stop
    finally:
        wss.close()
        await wss.wait_closed()
        httpd.shutdown()
        httpd.server_close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated ustream recorded-video upstream: site, UMS websocket, "
                                             "FLV chunk CDN, failure knobs")
    ap.add_argument("--port", type=int, default=0, help="HTTP port, 0 = ephemeral (the real one is in READY)")
    ap.add_argument("--ws-port", type=int, default=0, help="websocket port, 0 = ephemeral")
    ap.add_argument("--media-dir", default=HERE,
                    help="parent of the media cache folders .media-SECONDS-CHUNK-WxH (default: next to the script)")
    ap.add_argument("--seconds", type=int, default=60, help="length of the recording (default 60)")
    ap.add_argument("--chunk", type=int, default=6, help="chunk length in whole seconds (default 6)")
    ap.add_argument("--size", default="320x180", help="picture size WxH (default 320x180)")
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = ap.parse_args(argv)
    m = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if not m or int(m.group(1)) % 2 or int(m.group(2)) % 2 or int(m.group(1)) < 16 or int(m.group(2)) < 16:
        ap.error("--size must be WxH, even, at least 16x16")
    if args.seconds < 1 or args.chunk < 1:
        ap.error("--seconds and --chunk must be >= 1")
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            ap.error("%s not found in PATH" % tool)

    def on_signal(sig, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        folder, info = get_media(os.path.abspath(args.media_dir), args.seconds, args.chunk,
                                 (int(m.group(1)), int(m.group(2))))
        world = World(folder, info, args.chunk)
        asyncio.run(serve(args, world))
    except Stop:
        pass
    except RuntimeError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
