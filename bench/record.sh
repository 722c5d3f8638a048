#!/bin/sh
# Recorder benchmark: the CPU one recording costs, per second of a 10 Mb/s
# programme (MPEG-2 video, two MP2 tracks, like a Movistar channel) written
# to Matroska with both tracks transcoded to AAC: streamgate-record next to
# the ffmpeg tool doing the same job (`-map 0 -c copy -c:a aac -f matroska`,
# what movistar-u7d runs), in the same run. Both read the same file as fast
# as they can, so CPU seconds / programme seconds is the share of one core
# a real-time recording takes (target <= 15%).
#
#   bench/record.sh [BUILD_DIR]     (make bench runs it; SECONDS_OF_TV sets
#                                    the programme length, default 120)
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
