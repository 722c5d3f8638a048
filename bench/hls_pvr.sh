#!/bin/sh
# HLS archive benchmark (plugins/hls_pvr), two parts:
#
# 1. Archiving CHANNELS live channels of 2-s segments at once from the
#    simulated HLS origin (tests/fakes/hls): streamgate's CPU over SECONDS,
#    next to the usual do-it-yourself archiver, one `ffmpeg -i <playlist>
#    -c copy -f segment` per channel, in the same run against the same origin
#    (target: streamgate <= 10 % of one core for 50 channels).
# 2. A 24-hour interval playlist (43,200 two-second segments of one channel
#    in the index): request -> whole playlist, p50 and max of 20 requests,
#    with the index's EXPLAIN QUERY PLAN, next to the original tool's way
#    (Python + sqlite3 over its unindexed `segment` table, the same rows)
#    (target: <= 50 ms).
#
#   bench/hls_pvr.sh [BUILD_DIR]     (make bench runs it; CHANNELS, default
#                                     50, and ARCHIVE_SECONDS, default 60, change part 1)
#
# Prints a table; nothing here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sghls "$@"
N=${CHANNELS:-50}
SECS=${ARCHIVE_SECONDS:-60}

echo "bench: starting the simulated HLS origin ($N channels)" >&2
bench_fake_py "$ROOT/tests/fakes/hls/fake_hls.py" --channels "$N" --segment 2 --window 6 --no-marker \
    --media-dir "$W/media"
ORIGIN=$(echo "$FAKE_READY" | field 'd["base"]')

chans=""
k=0
while [ $k -lt "$N" ]; do
    chans="$chans{ name = \"cam$k\"; source = \"$ORIGIN/live/cam$k.m3u8\"; depth_hours = 1.0; },"
    k=$((k + 1))
done
cat >"$W/sg.conf" <<EOF
server = { listen = [ "127.0.0.1:0" ]; state_dir = "$W/state"; log_level = "warn"; access_log = false; };
plugins = ( { name = "hls_pvr"; dir = "$W/archive"; channels = ( ${chans%,} ); } );
EOF
bench_start "$W/sg.conf" "$W/sg.log"
echo "bench: streamgate archiving, $SECS s measured after 10 s" >&2
sleep 10
c0=$(cpu "$SGPID")
n0=$(find "$W/archive" -name '*.ts' | wc -l)
sleep "$SECS"
c1=$(cpu "$SGPID")
n1=$(find "$W/archive" -name '*.ts' | wc -l)
SG_RSS=$(rss "$SGPID")
kill "$SGPID"
wait "$SGPID" 2>/dev/null || true

echo "bench: $N ffmpeg archivers, $SECS s measured after 10 s" >&2
mkdir -p "$W/ff"
FFPIDS=""
k=0
while [ $k -lt "$N" ]; do
    mkdir -p "$W/ff/cam$k"
    ffmpeg -nostdin -loglevel error -i "$ORIGIN/live/cam$k.m3u8" -c copy -f segment \
        -segment_time 2 "$W/ff/cam$k/%06d.ts" &
    FFPIDS="$FFPIDS $!"
    k=$((k + 1))
done
PIDS="$PIDS $FFPIDS"
sleep 10
f0=0
for p in $FFPIDS; do f0=$(python3 -c "print($f0 + $(cpu "$p"))"); done
m0=$(find "$W/ff" -name '*.ts' | wc -l)
sleep "$SECS"
f1=0
FF_RSS=0
for p in $FFPIDS; do
    f1=$(python3 -c "print($f1 + $(cpu "$p"))")
    FF_RSS=$((FF_RSS + $(rss "$p")))
done
m1=$(find "$W/ff" -name '*.ts' | wc -l)
for p in $FFPIDS; do kill "$p" 2>/dev/null || true; done

# ---- 2. the 24-hour playlist -------------------------------------------------------------------
echo "bench: a 24-hour index (43,200 segments)" >&2
cat >"$W/sg2.conf" <<EOF
server = { listen = [ "127.0.0.1:0" ]; state_dir = "$W/state2"; log_level = "warn"; access_log = false; };
plugins = ( { name = "hls_pvr"; dir = "$W/archive2"; channels = (
  { name = "day"; source = "http://127.0.0.1:9/none.m3u8"; depth_hours = 48.0; } ); } );
EOF
bench_start "$W/sg2.conf" "$W/sg2.log"
python3 - "$W/archive2/index.db" "$W/seed.db" "$BASE" >"$W/pl.txt" <<'PY'
import sqlite3, sys, time, urllib.request
idx, seed, base = sys.argv[1:4]
t0 = (int(time.time()) - 25 * 3600) // 2 * 2 * 1000
db = sqlite3.connect(idx)
rows = [("day", t0 + i * 2000, 2000, 1000 + i, 0,
         time.strftime("%Y/%m/%d/%H/%M/%S", time.gmtime((t0 + i * 2000) // 1000)) + "-02000.ts",
         400000, "seg_%d.ts" % (1000 + i), 0, 400000) for i in range(43200)]
db.executemany("INSERT INTO segments(channel, start_ms, duration_ms, seq, disc, path, bytes, uri,"
               " key_id, clear_bytes) VALUES(?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
# the statement hp_store.c prepares for a window (q_range)
plan = db.execute("EXPLAIN QUERY PLAN SELECT start_ms, duration_ms, seq, disc, bytes, key_id, path,"
                  " clear_bytes FROM segments WHERE channel=?1 AND start_ms>?2 AND start_ms<?3"
                  " ORDER BY start_ms", ("day", 0, 1)).fetchall()
db.close()
url = "%s/streamer/day.m3u8?startTimestamp=%d&endTimestamp=%d" % (base, t0 // 1000, t0 // 1000 + 86400)
times, size = [], 0
for i in range(21):
    a = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
    if i:
        times.append((time.perf_counter() - a) * 1000)
    size = len(body)
n = body.count(b"#EXTINF")
# the original tool's way: its table (no index), Python builds the playlist
sdb = sqlite3.connect(seed)
sdb.execute("CREATE TABLE segment (id INTEGER PRIMARY KEY, channel_name VARCHAR, original_filename VARCHAR,"
            " filename VARCHAR, start_datetime DATETIME, duration FLOAT, media_sequence INTEGER)")
sdb.executemany("INSERT INTO segment(channel_name, original_filename, filename, start_datetime, duration,"
                " media_sequence) VALUES(?,?,?,?,?,?)",
                [("day", r[7], r[5], time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(r[1] / 1000)),
                  2.0, r[3]) for r in rows])
sdb.commit()
lo = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 / 1000))
hi = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 / 1000 + 86400))
ptimes = []
for i in range(21):
    a = time.perf_counter()
    segs = sdb.execute("SELECT filename, start_datetime, duration, media_sequence FROM segment"
                       " WHERE channel_name=? AND start_datetime>=? AND start_datetime<=?"
                       " ORDER BY start_datetime", ("day", lo, hi)).fetchall()
    out = ["#EXTM3U", "#EXT-X-MEDIA-SEQUENCE:1", "#EXT-X-VERSION:3",
           "#EXT-X-TARGETDURATION:%d" % segs[0][2], "#EXT-X-PLAYLIST-TYPE:VOD"]
    prev = None
    for f, s, d, q in segs:
        if prev is not None and q != prev + 1:
            out.append("#EXT-X-DISCONTINUITY")
        out.append("#EXTINF:%s," % d)
        out.append("http://127.0.0.1/pvr/day/" + f)
        prev = q
    out.append("#EXT-X-ENDLIST")
    text = "\n".join(out)
    if i:
        ptimes.append((time.perf_counter() - a) * 1000)
times.sort()
ptimes.sort()
print("%.1f %.1f %d %d %.1f %.1f %s" % (times[len(times) // 2], times[-1], n, size,
                                       ptimes[len(ptimes) // 2], ptimes[-1],
                                       " / ".join(p[-1] for p in plan)))
PY
read -r P50 PMAX NSEG BYTES Q50 QMAX PLAN <"$W/pl.txt"

pct() { python3 -c "import sys; print('%.1f' % (100 * float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b) if b else '-')" "$1" "$2"; }
SGC=$(python3 -c "print('%.2f' % ($c1 - $c0))")
FFC=$(python3 -c "print('%.2f' % ($f1 - $f0))")
cat <<EOF

1. Archiving $N live channels of 2-s segments for $SECS s (after 10 s of warm-up)
                           CPU s    share of one core   segments stored   RSS
   streamgate (hls_pvr)    $SGC     $(pct "$SGC" "$SECS") %              $((n1 - n0))              $SG_RSS KiB
   $N x ffmpeg -c copy     $FFC     $(pct "$FFC" "$SECS") %              $((m1 - m0))              $FF_RSS KiB (sum)
   ratio streamgate / ffmpeg: $(ratio "$SGC" "$FFC")   (target: streamgate <= 10 % of one core)

2. A 24-hour interval playlist ($NSEG segments, $BYTES bytes), request -> whole body
   streamgate /streamer/day.m3u8      p50 $P50 ms   max $PMAX ms   (target <= 50 ms)
   the original tool's way (Python)   p50 $Q50 ms   max $QMAX ms   (query + build, no HTTP)
   ratio streamgate / original: $(ratio "$P50" "$Q50")
   EXPLAIN QUERY PLAN: $PLAN
EOF
