#!/bin/sh
# Foundation benchmark: idle memory with the four provider plugins loaded,
# and small-response HTTP throughput, each next to nginx (Debian's
# nginx-light) run in the same session on the same machine.
#
#   bench/foundation.sh [BUILD_DIR]      (make bench runs it)
#
# Prints a table; nothing here is a pass/fail test.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SG="$ROOT/$BUILD/streamgate"
W=$(mktemp -d /tmp/sgbench-XXXXXX)
chmod 755 "$W" # nginx's workers run as nobody: a 700 folder is all 403s
SGPID=""
NGPID=""
cleanup() {
    [ -n "$SGPID" ] && kill "$SGPID" 2>/dev/null && wait "$SGPID" 2>/dev/null
    [ -n "$NGPID" ] && kill "$NGPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
# user+system CPU seconds of a process (and its threads)
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

start_sg() { # config file -> base URL in $BASE, pid in $SGPID
    rm -f "$W/ready"
    "$SG" -c "$1" --ready-file "$W/ready" >>"$W/sg.log" 2>&1 &
    SGPID=$!
    i=0
    while [ ! -s "$W/ready" ]; do
        i=$((i + 1)); [ $i -gt 200 ] && { cat "$W/sg.log"; exit 1; }
        sleep 0.05
    done
    BASE=$(cat "$W/ready")
}
stop_sg() { kill "$SGPID"; wait "$SGPID" || true; SGPID=""; }

# ---- 1. idle RSS, all four plugins --------------------------------------------
cat >"$W/idle.conf" <<EOF
server = { listen = [ "127.0.0.1:0" ]; state_dir = "$W/state"; access_log = false; };
plugins = ( { name = "movistar"; }, { name = "4gtv"; }, { name = "hls_pvr"; dir = "$W/archive"; }, { name = "ustream"; } );
EOF
start_sg "$W/idle.conf"
sleep 1 # let start-up settle: this is a measurement, not a test
IDLE_RSS=$(kb "$SGPID" VmRSS); IDLE_ANON=$(kb "$SGPID" RssAnon); IDLE_FILE=$(kb "$SGPID" RssFile)
for u in /channels.m3u /guide.xml /guide.xml.gz /metrics /api/status; do
    curl -s -o /dev/null "$BASE$u"
done
sleep 0.5
USED_RSS=$(kb "$SGPID" VmRSS)
stop_sg

# nginx-light, idle: master + worker
mkdir -p "$W/www" "$W/ng"
NGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/ng/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/ng/nginx.pid;
error_log $W/ng/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    types { audio/x-mpegurl m3u; }
    client_body_temp_path $W/ng; proxy_temp_path $W/ng; fastcgi_temp_path $W/ng;
    uwsgi_temp_path $W/ng; scgi_temp_path $W/ng;
    server { listen 127.0.0.1:$NGPORT; root $W/www; }
}
EOF
nginx -c "$W/ng/nginx.conf" -p "$W/ng" &
NGPID=$!
echo ok >"$W/www/ready.txt"
i=0
while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGPORT/ready.txt")" != 200 ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { cat "$W/ng/error.log"; exit 1; }
    sleep 0.05
done
sleep 1
NG_RSS=0
for p in $NGPID $(pgrep -P "$NGPID"); do NG_RSS=$((NG_RSS + $(kb "$p" VmRSS))); done

# ---- 2. small responses: a 100-channel playlist --------------------------------
{
    echo "server = { listen = [ \"127.0.0.1:0\" ]; state_dir = \"$W/state2\"; access_log = false; };"
    echo "plugins = ( { name = \"demo\"; path = \"$ROOT/$BUILD/tests/plugins/demo.so\"; epg_hours = 2; channels = ("
    i=1
    while [ $i -le 100 ]; do
        sep=","; [ $i -eq 100 ] && sep=""
        echo "  { id = \"ch$i\"; name = \"Channel $i\"; number = $i; logo = \"/Logos/$i.png\"; groups = \"Bench\"; }$sep"
        i=$((i + 1))
    done
    echo "); } );"
} >"$W/m3u.conf"
start_sg "$W/m3u.conf"
i=0
until curl -s "$BASE/channels.m3u" | grep -q ch100; do
    i=$((i + 1)); [ $i -gt 200 ] && exit 1; sleep 0.05
done
curl -s -H "Host: 127.0.0.1:$NGPORT" "$BASE/channels.m3u" >"$W/www/channels.m3u"
M3U_BYTES=$(wc -c <"$W/www/channels.m3u")
sleep 0.5
SG_RSS_CAT=$(kb "$SGPID" VmRSS) # 100 channels and their EPG ingested

wrk_rps() { # url -> requests/s (errors are no peer figure)
    wrk -t1 -c32 -d5s "$1" >"$W/wrk.txt"
    if grep -q "Non-2xx" "$W/wrk.txt"; then cat "$W/wrk.txt" >&2; exit 1; fi
    awk '/Requests\/sec/ { print $2 }' "$W/wrk.txt"
}
c0=$(cpu "$SGPID"); SG_RPS=$(wrk_rps "$BASE/channels.m3u"); c1=$(cpu "$SGPID")
SG_CPU=$(echo "$c0 $c1" | awk '{ printf "%.2f", $2 - $1 }')
SG_RSS_LOAD=$(kb "$SGPID" VmRSS)
NG_RPS=$(wrk_rps "http://127.0.0.1:$NGPORT/channels.m3u")
stop_sg

ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
cat <<EOF

streamgate foundation benchmark  ($(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ))

| measure                                        | streamgate | nginx-light | ratio |
|------------------------------------------------|-----------:|------------:|------:|
| idle RSS, KiB (4 plugins / master+worker)      | $IDLE_RSS | $NG_RSS | $(ratio "$IDLE_RSS" "$NG_RSS") |
|   of which anonymous / file-backed, KiB        | $IDLE_ANON / $IDLE_FILE | | |
| RSS after first playlist/guide/metrics, KiB    | $USED_RSS | | |
| RSS with 100 channels + EPG ingested, KiB      | $SG_RSS_CAT | | |
| GET /channels.m3u ($M3U_BYTES B), req/s, wrk -c32 | $SG_RPS | $NG_RPS | $(ratio "$SG_RPS" "$NG_RPS") |
| RSS after 5 s of that load, KiB                | $SG_RSS_LOAD | | |
| CPU during those 5 s, s                        | $SG_CPU | | |

EOF
