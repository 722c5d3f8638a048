#!/usr/bin/env python3
"""Time to the first decodable frame for clients joining a live stream.

    firstframe.py URL N      -> prints "p50_ms p99_ms"

Each of N joins (one after the other, 0.2 s apart) connects, sends a GET,
and timestamps every read. ffprobe then finds the first video keyframe in
what arrived; the join's figure is the time from connect() until that
frame's last byte had arrived (a player can show a picture then).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit


def one_join(url, tmp):
    u = urlsplit(url)
    t0 = time.monotonic()
    s = socket.create_connection((u.hostname, u.port or 80), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (u.path or "/", u.netloc)).encode())
    buf, marks, body_start = b"", [], None
    while time.monotonic() - t0 < 4 and len(buf) < 8 << 20:
        d = s.recv(262144)
        if not d:
            break
        buf += d
        if body_start is None and b"\r\n\r\n" in buf:
            body_start = buf.index(b"\r\n\r\n") + 4
        marks.append((time.monotonic() - t0, len(buf)))
    s.close()
    if body_start is None:
        return None
    with open(tmp, "wb") as f:
        f.write(buf[body_start:])
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_packets",
                        "-show_entries", "packet=pos,size,flags", "-of", "json", tmp],
                       capture_output=True, text=True)
    for p in json.loads(r.stdout or "{}").get("packets", []):
        if "K" in p.get("flags", "") and p.get("pos") not in (None, "N/A"):
            end = body_start + int(p["pos"]) + int(p["size"])
            for t, n in marks:
                if n >= end:
                    return t * 1000
    return None


def main():
    url, n = sys.argv[1], int(sys.argv[2])
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(n):
            v = one_join(url, os.path.join(d, "j.ts"))
            if v is not None:
                out.append(v)
            time.sleep(0.2)
    if not out:
        print("- -")
        return
    out.sort()
    p = lambda q: out[min(len(out) - 1, int(q * len(out)))]
    print("%.0f %.0f" % (p(0.5), p(0.99)))


main()
