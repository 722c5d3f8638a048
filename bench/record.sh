#!/bin/sh
# Recorder benchmark: the CPU one recording costs, per second of a 10 Mb/s
# programme (MPEG-2 video, two MP2 tracks, like a Movistar channel) written
# to Matroska with both tracks transcoded to AAC: streamgate-record next to
# the ffmpeg tool doing the same job (`-map 0 -c copy -c:a aac -f matroska`,
# what movistar-u7d runs), in the same run. Both read the same file as fast
# as they can, so CPU seconds / programme seconds is the share of one core
# a real-time recording takes (target <= 15%). Then, on the simulated
# Movistar network, new live clients joining running channels, request ->
# first TS byte p50/p99, without recordings and with 4 recordings running
# (target: p99 changes by <= 5 ms).
#
#   bench/record.sh [BUILD_DIR]     (make bench runs it; SECONDS_OF_TV sets
#                                    the programme length, default 120;
#                                    LIVE_CLIENTS the joins, default 200)
#
# Prints a table; nothing here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sgrec "$@"
LEN=${SECONDS_OF_TV:-120}
REC="$ROOT/$BUILD/streamgate-record"

echo "bench: making $LEN s of a 10 Mb/s programme" >&2
ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=720x576:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -f lavfi -i "sine=frequency=660:sample_rate=48000" -t "$LEN" \
    -map 0:v -map 1:a -map 2:a -c:v mpeg2video -b:v 9400k -minrate 9400k -maxrate 9400k \
    -bufsize 1835k -g 12 -pix_fmt yuv420p -c:a mp2 -b:a 192k -ar 48000 \
    -metadata:s:a:0 language=spa -metadata:s:a:1 language=eng \
    -muxrate 10000k -f mpegts "$W/in.ts"
MBPS=$(python3 -c "import os,sys; print('%.1f' % (os.path.getsize(sys.argv[1]) * 8 / 1e6 / float(sys.argv[2])))" "$W/in.ts" "$LEN")

# run NAME CMD...: CPU seconds (user + system) of CMD and its children
run() {
    name=$1
    shift
    python3 - "$@" >"$W/$name.cpu" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.2f" % (r.ru_utime + r.ru_stime))
PY
    cat "$W/$name.cpu"
}
echo "bench: streamgate-record" >&2
SG_CPU=$(run sg "$REC" "$W/in.ts" "$W/sg.mkv")
echo "bench: the ffmpeg tool" >&2
FF_CPU=$(run ff ffmpeg -nostdin -loglevel error -y -i "$W/in.ts" -map 0 -c copy -c:a aac \
    -f matroska "$W/ff.mkv")
DUR=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$W/sg.mkv")

pct() { python3 -c "import sys; print('%.1f' % (100 * float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b) if b else '-')" "$1" "$2"; }
cat <<EOF

Recording a ${MBPS} Mb/s programme ($LEN s: MPEG-2 video copied, 2 x MP2 -> AAC, Matroska)
                         CPU s    share of one core at real time
   streamgate-record     $SG_CPU     $(pct "$SG_CPU" "$LEN") %   (written: $DUR s)
   ffmpeg tool           $FF_CPU     $(pct "$FF_CPU" "$LEN") %
   ratio streamgate / ffmpeg: $(ratio "$SG_CPU" "$FF_CPU")   (target: streamgate <= 15 %)
EOF

# ---- 2. new live clients while 4 recordings run ------------------------------------------
# The simulated Movistar network; three live channels kept open by one
# client each; then LIVE_CLIENTS new clients join them one after another
# (request -> first TS byte), without recordings and with 4 recordings of
# catchup programmes under way (streamgate-record children, real rate).
LIVE_CLIENTS=${LIVE_CLIENTS:-200}
echo "bench: starting the simulated Movistar network" >&2
bench_fake --origin-days -6
bench_streamgate warn "recordings = { dir = \"$W/rec\"; max_concurrent = 4; };"
i=0
until curl -s -m 5 "$BASE/api/status" | field 'next(p for p in d["plugins"] if p["name"]=="movistar")["status"].startswith("ready") and d["catalog"]["pending_updates"]==0' | grep -q True; do
    i=$((i + 1)); [ $i -gt 1500 ] && { echo "bench: movistar never got ready" >&2; exit 1; }
    sleep 0.2
done
python3 - "$BASE" "$INFO" "$LIVE_CLIENTS" >"$W/live.txt" <<'PY'
import json, socket, sys, time, urllib.request
base, info, n = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
truth = json.load(open(info["truth"]))
host, port = base[7:].rsplit(":", 1)
chans = [c for c in info["channels"] if not c["encrypted"] and c.get("media") and c.get("lcn")]
live = [str(c["id"]) for c in chans[:3]]

def first_byte(path, keep=False):
    t0 = time.perf_counter()
    s = socket.create_connection((host, int(port)), timeout=20)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf or not buf.split(b"\r\n\r\n", 1)[1]:
        d = s.recv(65536)
        if not d:
            raise SystemExit("no stream on %s: %r" % (path, buf[:200]))
        buf += d
    t = time.perf_counter() - t0
    if keep:
        return s
    s.close()
    return t

def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000

holders = [first_byte("/%s/mpegts" % c, keep=True) for c in live]
time.sleep(2)

def round_():
    out = []
    for i in range(n):
        out.append(first_byte("/%s/mpegts" % live[i % len(live)]))
        time.sleep(0.01)
    return out

quiet = round_()
# four recordings of past programmes on other channels, at the programme's pace
now = time.time()
started = 0
for c in chans[3:]:
    for p in truth.get(str(c.get("replacement") or c["id"]), []):
        if p["duration"] >= 1800 and now - 3 * 86400 < p["start"] and p["start"] + p["duration"] < now - 3600:
            r = urllib.request.urlopen("%s/record/%s/%d?duration=600" % (base, c["id"], p["start"] + 60))
            started += json.load(r)["status"] == "recording"
            break
    if started == 4:
        break
time.sleep(5)
st = json.load(urllib.request.urlopen(base + "/api/recordings"))["recordings"]
busy = sum(1 for r in st if r["state"] == "recording")
loaded = round_()
print("%d %.2f %.2f %.2f %.2f" % (busy, pct(quiet, .5), pct(quiet, .99), pct(loaded, .5), pct(loaded, .99)))
PY
read -r BUSY Q50 Q99 L50 L99 <"$W/live.txt"
cat <<EOF2

New live clients joining running channels ($LIVE_CLIENTS each), request -> first TS byte, ms
                              p50      p99
   no recordings              $Q50     $Q99
   $BUSY recordings running       $L50     $L99
   p99 change: $(python3 -c "print('%+.2f' % ($L99 - $Q99))") ms   (target: within 5 ms)
EOF2
