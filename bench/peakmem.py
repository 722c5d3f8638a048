#!/usr/bin/env python3
"""peakmem.py CMD ARGS...: run CMD, print "wall_s peak_rss_kib peak_anon_kib".

peak_rss is the kernel's high-water mark of the child (getrusage); peak_anon
is the largest RssAnon seen while polling /proc/PID/status every 2 ms: the
memory the program itself allocated, without the file-backed pages of its
code and shared libraries (which peak_rss counts). Exits with CMD's status.
"""
import resource
import subprocess
import sys
import time

t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:])
anon = 0
while p.poll() is None:
    try:
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = max(anon, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
wall = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("%.2f %d %d" % (wall, rss, anon))
sys.exit(p.returncode)
