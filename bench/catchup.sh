#!/bin/sh
# Movistar catchup benchmark, against the simulated network and its fake U7D
# RTSP server (tests/fakes/movistar):
#
#  1. request -> first TS byte: N catchup requests through streamgate, each
#     next to the same exchange made directly against the fake (getCatchUpUrl,
#     RTSP SETUP + PLAY, first datagram): streamgate's overhead on top of the
#     fake's own answer time, p50/p99 (target p99 <= 15 ms);
#  2. 100 concurrent catchup sessions at 8 Mb/s each (sgbench clients): CPU
#     share of one core and RSS of streamgate, and of bench/u7d_relay.py (a
#     relay built the way movistar-u7d builds it: Python asyncio, datagrams
#     written one by one) in the same run (target <= 25% of one core).
#
#   bench/catchup.sh [BUILD_DIR]       (make bench runs it; SESSIONS, RUN,
#                                       REQUESTS override the sizes)
#
# Runs in a private network namespace (.ci/netns). Prints a table; nothing
# here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sgcu "$@"
SESSIONS=${SESSIONS:-100}
RUN=${RUN:-20}
REQUESTS=${REQUESTS:-200}

echo "bench: starting the simulated Movistar network (catchup at 8 Mb/s)" >&2
bench_fake --origin-days -6 --rtsp-rate 8
bench_streamgate warn
echo "bench: waiting for discovery and the guide" >&2
i=0
until curl -s -m 5 "$BASE/api/status" | field 'next(p for p in d["plugins"] if p["name"]=="movistar")["status"].startswith("ready") and d["catalog"]["pending_updates"]==0' | grep -q True; do
    i=$((i + 1)); [ $i -gt 1500 ] && { echo "bench: movistar never got ready" >&2; exit 1; }
    sleep 0.2
done
python3 "$ROOT/bench/u7d_relay.py" "$APPSERVER" >"$W/relay.txt" 2>"$W/relay.log" &
RELAYPID=$!
PIDS="$PIDS $RELAYPID"
i=0
until grep -q '^READY' "$W/relay.txt" 2>/dev/null; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done
RELAY="http://127.0.0.1:$(cut -d' ' -f2 "$W/relay.txt")"

# a clear channel with media and a long programme that ended a while ago
python3 - "$INFO" "$SESSIONS" "$RUN" >"$W/pick" <<'PY'
import json, sys, time
info = json.load(open(sys.argv[1])); truth = json.load(open(info["truth"]))
n, run = int(sys.argv[2]), int(sys.argv[3])
now = time.time()
for c in info["channels"]:
    if c["encrypted"] or not c.get("media") or not c.get("lcn"):
        continue
    for p in truth.get(str(c.get("replacement") or c["id"]), []):
        if p["duration"] >= 1800 and now - 3 * 86400 < p["start"] and p["start"] + p["duration"] < now - 3600:
            print(c["id"], p["pid"], p["start"], p["duration"])
            sys.exit(0)
sys.exit(1)
PY
read -r CH PID PSTART PDUR <"$W/pick"

# ---- 1. request -> first TS byte ------------------------------------------------------
echo "bench: $REQUESTS catchup requests, each next to the same exchange made directly" >&2
python3 - "$BASE" "$APPSERVER" "$CH" "$PID" "$PSTART" "$PDUR" "$REQUESTS" >"$W/ttfb" <<'PY'
import http.client, json, random, socket, sys, time
base, app, ch, pid, pstart, pdur, n = sys.argv[1:8]
pstart, pdur, n = int(pstart), int(pdur), int(n)
host, port = base[7:].rsplit(":", 1)

# the appserver connection is kept alive, as streamgate keeps its own
ah, ap = app[7:].split("/")[0].rsplit(":", 1)
appconn = http.client.HTTPConnection(ah, int(ap), timeout=5)

def direct(off):
    t0 = time.perf_counter()
    appconn.request("GET", "/appserver/mvtv.do?action=getCatchUpUrl&extInfoID=%s&channelID=%s&mode=1"
                    % (pid, ch))
    body = appconn.getresponse().read()
    url = json.loads(body)["resultData"]["url"]
    h, p = url[7:].split("/")[0].split(":")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    r = socket.create_connection((h, int(p)))
    f = r.makefile("rb")
    def req(lines):
        r.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        out = []
        while True:
            l = f.readline().decode().strip()
            if not l:
                return out
            out.append(l)
    rep = req(["SETUP %s RTSP/1.0" % url, "CSeq: 1", "User-Agent: MICA-IP-STB",
               "Transport: MP2T/H2221/UDP;unicast;client_port=%d" % u.getsockname()[1]])
    sess = next(l.split(":", 1)[1].split(";")[0].strip() for l in rep if l.lower().startswith("session:"))
    req(["PLAY %s RTSP/1.0" % url, "CSeq: 2", "User-Agent: MICA-IP-STB", "Session: " + sess,
         "Range: npt=%d.000-end" % off, "Scale: 1.000", "x-playNow:", "x-noFlush:"])
    u.recv(2048)
    t = time.perf_counter() - t0
    req(["TEARDOWN %s RTSP/1.0" % url, "CSeq: 3", "User-Agent: MICA-IP-STB", "Session: " + sess])
    r.close(); u.close()
    return t

def through(off):
    t0 = time.perf_counter()
    s = socket.create_connection((host, int(port)))
    s.sendall(("GET /%s/timeshift_abs-%d.ts HTTP/1.1\r\nHost: x\r\n\r\n" % (ch, pstart + off)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("no response")
        buf += d
    if not buf.startswith(b"HTTP/1.1 200"):
        raise SystemExit(buf[:200])
    body = buf.split(b"\r\n\r\n", 1)[1]
    while not body:
        body = s.recv(65536)
    t = time.perf_counter() - t0
    s.close()
    return t

rnd = random.Random(1)
d, g = [], []
for i in range(n):
    off = rnd.randrange(0, pdur - 120)
    d.append(direct(off) * 1000)
    g.append(through(off) * 1000)
    time.sleep(0.02)
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))]
print("%.2f %.2f %.2f %.2f" % (pct(d, .5), pct(d, .99), pct(g, .5), pct(g, .99)))
PY
read -r D50 D99 G50 G99 <"$W/ttfb"

# ---- 2. SESSIONS concurrent sessions at 8 Mb/s ------------------------------------------
# measure NAME PID URLFILE: SESSIONS sgbench clients over the URLs, CPU and RSS of PID
# over RUN seconds of steady state
measure() {
    name=$1 pid=$2 urls=$3
    set --
    while read -r u; do set -- "$@" -u "$u"; done <"$urls"
    ramp=$((SESSIONS / 20 + 1))
    "$SGBENCH" "$@" -c "$SESSIONS" -r 20 -d $((ramp + 3 + RUN + 1)) -k 8000 -q --json "$W/$name.json" &
    bpid=$!
    sleep $((ramp + 3))
    c0=$(cpu "$pid"); t0=$(date +%s.%N)
    sleep "$RUN"
    c1=$(cpu "$pid"); t1=$(date +%s.%N); r=$(rss "$pid")
    wait $bpid || true
    python3 - "$W/$name.json" "$c0" "$c1" "$t0" "$t1" "$r" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c0, c1, t0, t1, r = map(float, sys.argv[2:7])
print("%.1f %.1f %s %s %s" % (100 * (c1 - c0) / (t1 - t0), r / 1024, d["ok"], d["below90"],
                              d["client_mbps_p50"]))
PY
}
python3 -c "
import sys
ch, pstart, pdur, n, base, relay, pid = sys.argv[1:8]
pstart, pdur, n = int(pstart), int(pdur), int(n)
step = max(1, (pdur - 600) // n)
with open('$W/sg.urls', 'w') as a, open('$W/relay.urls', 'w') as b:
    for i in range(n):
        off = 30 + i * step
        a.write('%s/%s/timeshift_abs-%d.ts\n' % (base, ch, pstart + off))
        b.write('%s/%s/%s/%d\n' % (relay, ch, pid, off))
" "$CH" "$PSTART" "$PDUR" "$SESSIONS" "$BASE" "$RELAY" "$PID"
echo "bench: $SESSIONS sessions at 8 Mb/s through streamgate" >&2
set -- $(measure streamgate "$SGPID" "$W/sg.urls")
SG_CPU=$1 SG_RSS=$2 SG_CONN=$3 SG_LOW=$4
i=0
until [ "$(curl -s "$APPSERVER/fake/stats" | field 'd["rtsp"]["open"]')" = 0 ]; do
    i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1
done
SG_LEFT=$(curl -s "$APPSERVER/fake/stats" | field 'd["rtsp"]["open"]')
echo "bench: $SESSIONS sessions at 8 Mb/s through the asyncio relay" >&2
set -- $(measure relay "$RELAYPID" "$W/relay.urls")
PY_CPU=$1 PY_RSS=$2 PY_CONN=$3 PY_LOW=$4

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b) if b else '-')" "$1" "$2"; }
cat <<EOF

Movistar catchup (fake U7D RTSP server, channel $CH, programme $PID)
1. request -> first TS byte, $REQUESTS requests        p50 ms    p99 ms
   the fake alone (getCatchUpUrl, SETUP, PLAY, 1st datagram)  $D50    $D99
   through streamgate                                  $G50    $G99
   streamgate's overhead                               $(python3 -c "print('%.2f' % ($G50 - $D50))")    $(python3 -c "print('%.2f' % ($G99 - $D99))")   (target p99 <= 15)
2. $SESSIONS sessions x 8 Mb/s, ${RUN} s        CPU % core   RSS MB   clients   below 90% rate
   streamgate                                  $SG_CPU       $SG_RSS     $SG_CONN       $SG_LOW    (RTSP sessions left after: $SG_LEFT)
   asyncio relay (movistar-u7d's way)          $PY_CPU       $PY_RSS     $PY_CONN       $PY_LOW
   CPU ratio streamgate / relay: $(ratio "$SG_CPU" "$PY_CPU")   (target: streamgate <= 25%)
EOF
