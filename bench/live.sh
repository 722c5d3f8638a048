#!/bin/sh
# Live relay benchmark: one multicast source fanned out to many HTTP clients,
# many sources with one client each, and join latency; streamgate next to
# VLC (and any peer relay you built yourself) in the same run.
#
#   bench/live.sh [BUILD_DIR]      (make bench runs it)
#
# Everything runs in a private network namespace (.ci/netns), so multicast
# never leaves the machine. Knobs (environment): CLIENTS (1000), RUN (10,
# seconds measured after the ramp), RATE (10, Mb/s of the shared source),
# WIDE_RATE (40) and WIDE (8) for the many-sources run, JOINS (200).
# Optional peers: RTP2HTTPD, MSD_LITE (+ MSD_LITE_CONF, its XML config with
# @PORT@ for the listen port and multicast on lo), UDPXY = paths to binaries
# you built from their public sources (never part of this repository).
# Each runs scenario 1 (rtp2httpd with 250 clients, its limit is 256; udpxy,
# one process per client, with 200) and rtp2httpd/udpxy scenario 2.
#
# Prints a table; nothing here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SG_BENCH_NETNS:-}" ]; then
    SG_BENCH_NETNS=1 exec "$ROOT/.ci/netns" env SG_BENCH_NETNS=1 "$0" "$@"
fi
BUILD=${1:-build}
SG="$ROOT/$BUILD/streamgate"
MCSEND="$ROOT/$BUILD/tests/fakes/mcsend"
SGBENCH="$ROOT/$BUILD/bench/sgbench"
CLIENTS=${CLIENTS:-1000}
RUN=${RUN:-10}
RATE=${RATE:-10}
WIDE=${WIDE:-8}
WIDE_RATE=${WIDE_RATE:-40}
JOINS=${JOINS:-200}
ulimit -n 20000
W=$(mktemp -d /tmp/sglive-XXXXXX)
chmod 755 "$W"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

HZ=$(getconf CLK_TCK)
# CPU seconds of a process tree: the process, its live children, and what
# its reaped children used (udpxy forks one process per client).
cpu() {
    t=0
    for p in $1 $(pgrep -P "$1" || true); do
        [ -r "/proc/$p/stat" ] || continue
        t=$(awk -v t="$t" -v hz="$HZ" '{ printf "%.3f", t + ($14 + $15 + $16 + $17) / hz }' "/proc/$p/stat")
    done
    echo "$t"
}
rss() { # KiB, the tree, plus memory-file rings (streamgate's memfd, msd_lite's)
    t=0
    for p in $1 $(pgrep -P "$1" || true); do
        v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
        for f in /proc/"$p"/fd/*; do
            case "$(readlink "$f" 2>/dev/null)" in
            /memfd:*) b=$(stat -L -c %b "$f" 2>/dev/null || echo 0); t=$((t + b / 2)) ;;
            esac
        done
    done
    echo "$t"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$@"; }
wait_http() { # url
    i=0
    until [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null || true)" = 200 ]; do
        i=$((i + 1)); [ $i -gt 100 ] && { echo "bench: $1 never answered" >&2; exit 1; }
        sleep 0.1
    done
}

# ---- media: an MPEG-2 SD channel with two MP2 tracks, CBR at RATE -----------------
echo "bench: generating ${RATE} Mb/s media" >&2
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=720x576:rate=25 \
    -f lavfi -i sine=f=440:sample_rate=48000 -f lavfi -i sine=f=880:sample_rate=48000 \
    -map 0 -map 1 -map 2 -c:v mpeg2video -b:v "$((RATE * 8 / 10))M" -maxrate "$((RATE * 8 / 10))M" \
    -bufsize 2M -g 12 -c:a mp2 -b:a 128k -muxrate "${RATE}M" -t 30 -f mpegts "$W/media.ts"
OFFERED=$(python3 -c "import sys,subprocess; \
d=float(subprocess.check_output(['ffprobe','-v','error','-show_entries','format=duration','-of','csv=p=0','$W/media.ts'])); \
import os; print('%.3f' % (os.path.getsize('$W/media.ts')*8/d/1e6))")

start_sender() { # args... -> appends pid
    "$MCSEND" "$@" 2>>"$W/mcsend.log" &
    PIDS="$PIDS $!"
}

start_sg() {
    cat >"$W/sg.conf" <<EOF
server = { listen = [ "127.0.0.1:0" ]; state_dir = "$W/state"; access_log = false; max_connections = 20000; };
EOF
    rm -f "$W/ready"
    "$SG" -c "$W/sg.conf" --ready-file "$W/ready" >>"$W/sg.log" 2>&1 &
    RELAY=$!
    PIDS="$PIDS $RELAY"
    i=0
    while [ ! -s "$W/ready" ]; do
        i=$((i + 1)); [ $i -gt 100 ] && { cat "$W/sg.log"; exit 1; }
        sleep 0.05
    done
    BASE=$(cat "$W/ready")
}

start_vlc() { # group port -> RELAY, BASE
    vp=$(free_port)
    runuser -u nobody -- cvlc -q --no-stats "udp://@$1:$2" \
        --sout "#std{access=http,mux=ts,dst=127.0.0.1:$vp/}" >>"$W/vlc.log" 2>&1 &
    RELAY=$!
    PIDS="$PIDS $RELAY"
    BASE="http://127.0.0.1:$vp"
    # runuser forks: measure the VLC process itself
    i=0
    while [ -z "$(pgrep -P "$RELAY" || true)" ]; do
        i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
    done
    RELAY=$(pgrep -P "$RELAY" || echo "$RELAY")
}

# The optional peers, each started the same way: peer_start NAME GROUP:PORT
# sets RELAY and BASE once it answers; it fails when NAME was not given.
peer_start() {
    pp=$(free_port)
    BASE="http://127.0.0.1:$pp"
    ready="$BASE/udp/$2"
    case $1 in
    rtp2httpd)
        [ -n "${RTP2HTTPD:-}" ] || return 1
        "$RTP2HTTPD" -C -q -m 256 -w 1 -r lo -l "127.0.0.1:$pp" >>"$W/peer.log" 2>&1 &
        ;;
    msd_lite)
        [ -n "${MSD_LITE:-}" ] || return 1
        sed "s/@PORT@/$pp/" "$MSD_LITE_CONF" >"$W/msd.conf"
        "$MSD_LITE" -c "$W/msd.conf" >>"$W/peer.log" 2>&1 &
        ;;
    udpxy)
        [ -n "${UDPXY:-}" ] || return 1
        "$UDPXY" -T -a 127.0.0.1 -p "$pp" -m lo -c 5000 >>"$W/peer.log" 2>&1 &
        ready="$BASE/status/"
        ;;
    esac
    RELAY=$!
    PIDS="$PIDS $RELAY"
    wait_http "$ready"
}

# Clients a peer takes: rtp2httpd refuses more than 256; udpxy forks one
# process per client.
peer_clients() {
    case $1 in
    rtp2httpd) [ "$2" -gt 250 ] && echo 250 || echo "$2" ;;
    udpxy) [ "$2" -gt 200 ] && echo 200 || echo "$2" ;;
    *) echo "$2" ;;
    esac
}

stop_relay() {
    kill "$RELAY" 2>/dev/null || true
    wait "$RELAY" 2>/dev/null || true
}

# measure NAME URL... : CLIENTS over the URLs (round robin), ramp 500/s, then
# RUN seconds of steady state measured. Sets CPU_PCT RSS_KB and $W/NAME.json
measure() {
    name=$1
    n=$2
    shift 2
    args=""
    for u in "$@"; do args="$args -u $u"; done
    ramp=$(( (n + 499) / 500 ))
    # shellcheck disable=SC2086
    "$SGBENCH" $args -c "$n" -r 500 -d $((ramp + 3 + RUN + 1)) -k "$KBPS" -q --json "$W/$name.json" &
    bp=$!
    sleep $((ramp + 3))
    c0=$(cpu "$RELAY")
    sleep "$RUN"
    c1=$(cpu "$RELAY")
    RSS_KB=$(rss "$RELAY")
    wait "$bp" || true
    CPU_PCT=$(echo "$c0 $c1 $RUN" | awk '{ printf "%.1f", ($2 - $1) * 100 / $3 }')
}

report() { # name label -> one table row for scenario 1/2
    j="$W/$1.json"
    python3 - "$j" "$2" "$CPU_PCT" "$RSS_KB" "$OFFERED_NOW" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
label, cpu, rss, offered = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ok = d["ok"]
deliv = d["client_mbps_p50"] / offered * 100 if offered else 0
low = d["client_mbps_p1"] / offered * 100 if offered else 0
print("| %-34s | %5d/%-5d | %6.1f%% | %6.1f%% | %5d | %6.1f%% | %8d |" % (
    label, ok, d["requested"], deliv, low, d["below90"], cpu, rss))
EOF
}

HEADER="| relay                              | ok/asked    | rate p50 | rate p1 | <90% | CPU/core | RSS KiB  |
|------------------------------------|-------------|---------:|--------:|-----:|---------:|---------:|"

# ---- 1. one source x RATE Mb/s -> CLIENTS clients ----------------------------------
G=239.255.0.1
P=5000
start_sender "$W/media.ts" "$G:$P"
KBPS=$(echo "$OFFERED" | awk '{ printf "%d", $1 * 1000 }')
OFFERED_NOW=$OFFERED
ROWS1=""

start_sg
wait_http "$BASE/udp/$G:$P"
measure sg1 "$CLIENTS" "$BASE/udp/$G:$P"
ROWS1="$ROWS1$(report sg1 "streamgate")
"
SG1_CPU=$CPU_PCT
SG1_RSS=$RSS_KB
# join latency against the running hub (scenario 3), before stopping
"$SGBENCH" -u "$BASE/udp/$G:$P" -c "$JOINS" -r 20 -d $((JOINS / 20 + 3)) --max-bytes 1 -s 0 -q \
    --json "$W/join.json" || true
python3 "$ROOT/bench/firstframe.py" "$BASE/udp/$G:$P" 40 >"$W/ff_sg.txt" || echo "- -" >"$W/ff_sg.txt"
stop_relay

if command -v cvlc >/dev/null 2>&1; then
    start_vlc "$G" "$P"
    wait_http "$BASE/"
    measure vlc1 "$CLIENTS" "$BASE/"
    ROWS1="$ROWS1$(report vlc1 "VLC (cvlc --sout std/http)")
"
    VLC1_CPU=$CPU_PCT
    python3 "$ROOT/bench/firstframe.py" "$BASE/" 20 >"$W/ff_vlc.txt" || echo "- -" >"$W/ff_vlc.txt"
    stop_relay
else
    VLC1_CPU=""
    echo "- -" >"$W/ff_vlc.txt"
fi

for peer in rtp2httpd msd_lite udpxy; do
    peer_start "$peer" "$G:$P" || continue
    n=$(peer_clients "$peer" "$CLIENTS")
    measure "${peer}1" "$n" "$BASE/udp/$G:$P"
    case $peer in
    rtp2httpd) label="rtp2httpd ($n clients: its limit)" ;;
    udpxy) label="udpxy ($n clients)" ;;
    *) label=$peer ;;
    esac
    ROWS1="$ROWS1$(report "${peer}1" "$label")
"
    stop_relay
done

# ---- 2. WIDE sources x WIDE_RATE Mb/s, one client each --------------------------------
URLS=""
DESTS=""
i=1
while [ $i -le "$WIDE" ]; do
    DESTS="$DESTS 239.255.1.$i:5000"
    i=$((i + 1))
done
# shellcheck disable=SC2086
start_sender --rate "$WIDE_RATE" "$W/media.ts" $DESTS
KBPS=$((WIDE_RATE * 1000))
OFFERED_NOW=$WIDE_RATE
start_sg
for d in $DESTS; do URLS="$URLS $BASE/udp/$d"; done
# shellcheck disable=SC2086
measure sg2 "$WIDE" $URLS
ROWS2="$(report sg2 "streamgate")
"
SG2_CPU=$CPU_PCT
stop_relay
for peer in rtp2httpd udpxy; do
    peer_start "$peer" "239.255.1.1:5000" || continue
    URLS=""; for d in $DESTS; do URLS="$URLS $BASE/udp/$d"; done
    # shellcheck disable=SC2086
    measure "${peer}2" "$WIDE" $URLS
    ROWS2="$ROWS2$(report "${peer}2" "$peer")
"
    stop_relay
done

# ---- the table -------------------------------------------------------------------------
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
JOIN_P50=$(json "$W/join.json" ttfb_ms_p50 2>/dev/null || echo -)
JOIN_P99=$(json "$W/join.json" ttfb_ms_p99 2>/dev/null || echo -)
read -r FF_SG50 FF_SG99 <"$W/ff_sg.txt"
read -r FF_VLC50 FF_VLC99 <"$W/ff_vlc.txt"
cat <<EOF

streamgate live relay benchmark  ($(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ))
source: MPEG-2 SD + 2 MP2, raw TS multicast on loopback, offered ${OFFERED} Mb/s (PCR-paced)
rate = per-client TS rate / offered (p50 and 1st percentile); CPU = relay process tree over ${RUN} s;
RSS = resident memory of the tree plus its in-memory ring files (memfd)

1. one source -> $CLIENTS clients (target: rate >= 99.5%, CPU <= 35%, RSS <= 8 MB + 64 KiB/client)
$HEADER
$ROWS1
   streamgate / VLC CPU ratio: $(ratio "$SG1_CPU" "${VLC1_CPU:-0}")    RSS budget: $((8192 + CLIENTS * 64)) KiB, used $SG1_RSS KiB

2. $WIDE sources x $WIDE_RATE Mb/s, one client each (target: CPU <= 10%)
$HEADER
$ROWS2
3. joining a running hub ($JOINS joins at 20/s; first decodable frame over 40 joins)
| relay      | first byte p50 | first byte p99 | first frame p50 | first frame p99 |
|------------|---------------:|---------------:|----------------:|----------------:|
| streamgate | $JOIN_P50 ms | $JOIN_P99 ms | $FF_SG50 ms | $FF_SG99 ms |
| VLC        |                |                | $FF_VLC50 ms | $FF_VLC99 ms |

EOF
