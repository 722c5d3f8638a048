# Sourced by the bench/*.sh scripts after they set ROOT: re-run inside a
# private network namespace (.ci/netns), a scratch directory $W that goes
# away with every process started into $PIDS, and small /proc readers.
#
#   bench_init NAME "$@"       sets BUILD (first argument, default build),
#                              SG, MCSEND, SGBENCH, W, PIDS, HZ
if [ -z "${SG_BENCH_NETNS:-}" ]; then
    SG_BENCH_NETNS=1 exec "$ROOT/.ci/netns" env SG_BENCH_NETNS=1 "$0" "$@"
fi
bench_init() {
    BUILD=${2:-build}
    SG="$ROOT/$BUILD/streamgate"
    MCSEND="$ROOT/$BUILD/tests/fakes/mcsend"
    SGBENCH="$ROOT/$BUILD/bench/sgbench"
    W=$(mktemp -d "/tmp/$1-XXXXXX")
    # readable by nginx's workers (they run as nobody): a 700 folder gives
    # them 403s, and a peer answering 403s is no peer
    chmod 755 "$W"
    PIDS=""
    HZ=$(getconf CLK_TCK)
    trap bench_cleanup EXIT INT TERM
}
bench_cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
# CPU seconds used so far by one process
cpu() { awk -v hz="$HZ" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# peak and current RSS in KiB
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
# evaluate a Python expression on the JSON object read from stdin (as d)
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
# Start the simulated Movistar network (extra fake_movistar.py options as
# arguments) and wait for it: sets INFO (its ready.json) and APPSERVER.
bench_fake() {
    python3 "$ROOT/tests/fakes/movistar/fake_movistar.py" --workdir "$W/net" --media-dir "$W/media" \
        --mcsend "$MCSEND" "$@" >"$W/ready.txt" 2>"$W/fake.log" &
    PIDS="$PIDS $!"
    i=0
    until grep -q '^READY' "$W/ready.txt" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 600 ] && { echo "bench: the fake did not start" >&2; cat "$W/fake.log" >&2; exit 1; }
        sleep 0.1
    done
    INFO="$W/net/ready.json"
    APPSERVER=$(field 'd["appserver"]' <"$INFO")
}
# Start streamgate with the movistar plugin on that network (log level as
# the argument, then optional extra configuration text) and wait until it
# accepts: sets SGPID and BASE.
bench_streamgate() {
    cat >"$W/sg.conf" <<EOF
server = { listen = [ "127.0.0.1:0" ]; state_dir = "$W/state"; log_level = "$1"; access_log = false; };
plugins = ( { name = "movistar"; iptv_address = "127.0.0.1"; dns = ""; appserver = [ "$APPSERVER" ]; } );
${2:-}
EOF
    bench_start "$W/sg.conf" "$W/sg.log"
}
# Start streamgate with a configuration file (its output to the log file)
# and wait until it accepts: sets SGPID and BASE.
bench_start() {
    rm -f "$W/ready"
    "$SG" -c "$1" --ready-file "$W/ready" >"$2" 2>&1 &
    SGPID=$!
    PIDS="$PIDS $SGPID"
    i=0
    until [ -s "$W/ready" ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done
    BASE=$(cat "$W/ready")
}
# Start a Python fake (script and its options), wait for its READY line:
# sets FAKE_READY (the JSON after READY).
# Debian's python3: python3-websockets and the like are installed for it.
bench_fake_py() {
    /usr/bin/python3 "$@" >"$W/fake.txt" 2>"$W/fake.log" &
    PIDS="$PIDS $!"
    i=0
    until grep -q '^READY' "$W/fake.txt" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 600 ] && { echo "bench: the fake did not start" >&2; cat "$W/fake.log" >&2; exit 1; }
        sleep 0.1
    done
    FAKE_READY=$(sed -n 's/^READY //p' "$W/fake.txt")
}
# nginx-light, one worker, sendfile, serving $W/www (the peer of file and
# segment serving) until the end: sets NGPORT and NGPID once $W/www/$1
# answers 200.
bench_nginx() {
    mkdir -p "$W/www" "$W/ng"
    NGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$W/ng/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $W/ng/nginx.pid;
error_log $W/ng/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    types { audio/x-mpegurl m3u; video/mp2t ts; }
    client_body_temp_path $W/ng; proxy_temp_path $W/ng; fastcgi_temp_path $W/ng;
    uwsgi_temp_path $W/ng; scgi_temp_path $W/ng;
    server { listen 127.0.0.1:$NGPORT; root $W/www; }
}
NGINX
    nginx -c "$W/ng/nginx.conf" -p "$W/ng" &
    NGPID=$!
    PIDS="$PIDS $NGPID"
    i=0
    while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGPORT/$1")" != 200 ]; do
        i=$((i + 1)); [ $i -gt 100 ] && { cat "$W/ng/error.log" >&2; exit 1; }
        sleep 0.05
    done
}
