#!/bin/sh
# ustream downloader benchmark (streamgate-ustream, `streamgate ustream`):
#
# 1. Assembling + remuxing 300 chunks (6 s each, 30 min of video from the
#    simulated ustream) into one MP4, with every chunk already downloaded:
#    wall time and peak RSS, next to 30 chunks (RSS must not grow with the
#    length; target <= 32 MB), and next to the original tool's way in the
#    same run (cut 13 bytes off chunks 1..n, append, then
#    `ffmpeg -i stream.flv -c copy out.mp4`).
# 2. Download throughput from the simulated CDN (each chunk answered after
#    30 ms, like a CDN's first byte) with 1, 4 and 8 chunks at a time, next
#    to curl --parallel fetching the same URLs with the same concurrency.
#
#   bench/ustream.sh [BUILD_DIR]     (make bench runs it)
#
# Prints a table; nothing here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sgustream "$@"
US="$ROOT/$BUILD/streamgate-ustream"

echo "bench: making 30 min of media for the simulated ustream (once per run)" >&2
bench_fake_py "$ROOT/tests/fakes/ustream/fake_ustream.py" --seconds 1800 --size 160x90 \
    --media-dir "$W/media"
echo "$FAKE_READY" >"$W/ready.json"
SITE=$(field 'd["site"]' <"$W/ready.json")
UMS=$(field 'd["ums"]' <"$W/ready.json")
CDN=$(field 'd["cdn"]' <"$W/ready.json")
CHUNKS=$(field 'd["chunks"]' <"$W/ready.json")
MEDIA=$(field 'd["media_dir"]' <"$W/ready.json")

PEAK="/usr/bin/python3 $ROOT/bench/peakmem.py"
# streamgate-ustream on the channel's first video: "wall_s peak_rss_kib peak_anon_kib"
us_run() {
    $PEAK "$US" "$SITE/channel/nasa-hd" --video v100 --site "$SITE" --ums "$UMS" --cdn "$CDN" \
        "$@" 2>"$W/us.log" || {
        echo "bench: streamgate-ustream failed:" >&2
        cat "$W/us.log" >&2
        exit 1
    }
}

# ---- 1. assembling + remuxing ------------------------------------------------
# the chunks in a work folder, so the runs below only verify, join and remux
echo "bench: downloading $CHUNKS chunks once" >&2
us_run --work "$W/work300" --keep --jobs 8 -o "$W/dl.mp4" >/dev/null
echo "bench: assembling + remuxing $CHUNKS chunks" >&2
A300=$(us_run --work "$W/work300" --keep -o "$W/a300.mp4")
DUR300=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$W/a300.mp4")
# 30 chunks: the same chunks, a tenth of them
mkdir -p "$W/work30/v100"
i=0
while [ $i -lt 30 ]; do
    f=$(printf "%06d.flv" $i)
    ln "$W/work300/v100/$f" "$W/work30/v100/$f"
    i=$((i + 1))
done
# --join: only the join and the remux (no page, websocket or verification)
A30=$($PEAK "$US" --join "$W/work30/v100" -o "$W/a30.mp4" 2>"$W/us.log")
A300J=$($PEAK "$US" --join "$W/work300/v100" -o "$W/a300j.mp4" 2>"$W/us.log")
# the libraries alone: the program loaded, doing nothing
BASE0=$($PEAK "$US" --help 2>/dev/null | tail -1)
# the original's way: strip 13 bytes from chunks 1..n, append, ffmpeg -c copy
echo "bench: the original tool's way (cat + ffmpeg -c copy)" >&2
t0=$(date +%s.%N)
cp "$W/work300/v100/000000.flv" "$W/peer.flv"
for f in "$W/work300/v100"/*.flv; do
    [ "$f" = "$W/work300/v100/000000.flv" ] && continue
    tail -c +14 "$f" >>"$W/peer.flv"
done
CATS=$(python3 -c "import time; print('%.2f' % (time.time() - $t0))")
PEER=$($PEAK ffmpeg -v error -y -i "$W/peer.flv" -c copy -movflags +faststart "$W/peer.mp4" </dev/null)
PDUR=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$W/peer.mp4")

# ---- 2. download throughput ----------------------------------------------------
curl -s "$SITE/fake/set?latency_ms=30" >/dev/null
BYTES=$(du -cb "$W/work300/v100"/*.flv | tail -1 | cut -f1)
# the chunk URLs, for curl
"$US" "$SITE/channel/nasa-hd" --video v100 --site "$SITE" --ums "$UMS" --cdn "$CDN" \
    --print-urls >"$W/urls.txt" 2>/dev/null
dl() { # jobs -> seconds of the download phase (its "downloaded" event)
    rm -rf "$W/dlw"
    "$US" "$SITE/channel/nasa-hd" --video v100 --site "$SITE" --ums "$UMS" --cdn "$CDN" \
        --work "$W/dlw" --flv -o "$W/dl.flv" --jobs "$1" --json 2>"$W/us.log" |
        python3 -c 'import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "downloaded":
        print("%.2f" % e["seconds"])'
}
cdl() { # jobs -> seconds for curl --parallel
    rm -rf "$W/cw" && mkdir -p "$W/cw"
    (cd "$W/cw" && sed 's/^/url = /; s/$/\noutput = x/' "$W/urls.txt" |
        awk '/^output/ { n++; print "output = c" n ".flv"; next } { print }' >"$W/curl.cfg" &&
        /usr/bin/time -f "%e" -o "$W/time.txt" curl -s --parallel --parallel-max "$1" -K "$W/curl.cfg" 2>/dev/null)
    cat "$W/time.txt"
}
for j in 1 4 8; do
    echo "bench: downloading $CHUNKS chunks, $j at a time" >&2
    eval "S$j=\$(dl $j)"
    eval "C$j=\$(cdl $j)"
done

mb() { python3 -c "print('%.1f' % ($1 / 1e6))"; }
rate() { python3 -c "print('%.1f' % ($BYTES / 1e6 / $1))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
set -- $A300; AW=$1; AR=$2; AA=$3
set -- $A30; W30=$1; R30=$2; A30A=$3
set -- $A300J; WJ=$1; RJ=$2; AJ=$3
set -- $BASE0; BR=$2; BA=$3
set -- $PEER; PW=$(python3 -c "print('%.2f' % ($1 + $CATS))"); PR=$2; PA=$3
echo
echo "ustream downloader ($CHUNKS chunks of 6 s, $(mb "$BYTES") MB, 160x90)"
printf '%-50s %7s %13s %13s\n' "" "wall s" "peak RSS" "peak anon"
row() { printf '%-50s %7s %9d KiB %9d KiB\n' "$1" "$2" "$3" "$4"; }
row "whole run, $CHUNKS chunks kept (${DUR300%.*} s out)" "$AW" "$AR" "$AA"
row "--join + remux, $CHUNKS chunks" "$WJ" "$RJ" "$AJ"
row "--join + remux, 30 chunks" "$W30" "$R30" "$A30A"
row "the program loaded, doing nothing (--help)" "-" "$BR" "$BA"
row "original's way: cat + ffmpeg -c copy (${PDUR%.*} s)" "$PW" "$PR" "$PA"
echo "ratios (whole run / original's way): wall $(ratio "$AW" "$PW"), peak RSS $(ratio "$AR" "$PR"), peak anon $(ratio "$AA" "$PA")"
echo
printf '%-30s %14s %14s %8s\n' "download, 30 ms to each chunk" "streamgate" "curl --parallel" "ratio"
for j in 1 4 8; do
    eval "s=\$S$j; c=\$C$j"
    printf '%-30s %9s MB/s %9s MB/s %8s\n' "$j at a time" "$(rate "$s")" "$(rate "$c")" "$(ratio "$c" "$s")"
done
