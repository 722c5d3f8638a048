#!/bin/sh
# 4gtv relay benchmark (plugins/4gtv and the core segment cache):
#
# 1. Serving a cached segment (a 4-s, ~1 MB segment of the simulated 4gtv
#    origin) to 200 concurrent clients with wrk: streamgate's /4gtv/call.ts
#    next to Debian's nginx-light serving the same file with sendfile, one
#    worker each, in the same run: throughput (target >= 0.8 of nginx) and
#    CPU seconds.
# 2. Upstream fetches per segment with 1, 10 and 100 clients asking for a
#    new segment at the same moment (target: exactly 1).
#
#   bench/4gtv.sh [BUILD_DIR]     (make bench runs it)
#
# Prints a table; nothing here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sg4gtv "$@"

echo "bench: starting the simulated 4gtv origin" >&2
bench_fake_py "$ROOT/tests/fakes/4gtv/fake_4gtv.py" --step 4 --media-dir "$W/media"
echo "$FAKE_READY" >"$W/ready.json"
python3 - "$W/ready.json" >"$W/sg.conf" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
W = sys.argv[1].rsplit("/", 1)[0]
chans = []
for fid, c in r["channels"].items():
    t = ", ".join('{ hd = %s; url = "%s"; }' % (hd, u) for hd, u in sorted(c["templates"].items()))
    extra = "begin_offset = %d; " % c["begin_offset"] if c["family"] == "begin_seq" else ""
    chans.append('{ fid = "%s"; family = "%s"; step = %d.0; %sauth_url = "%s"; templates = ( %s ); }'
                 % (fid, c["family"], r["step"], extra, c["auth_url"], t))
print('server = { listen = [ "127.0.0.1:0" ]; state_dir = "%s/state"; log_level = "warn"; access_log = false; };' % W)
print('plugins = ( { name = "4gtv"; host = "%s"; channels = ( %s ); } );' % (r["base"], ", ".join(chans)))
PY
bench_start "$W/sg.conf" "$W/sg.log"
ORIGIN=$(field 'd["base"]' <"$W/ready.json")

# a cached segment, and the same bytes as a file for nginx
PL=$(curl -s "$BASE/4gtv/online.m3u8?fid=4gtv-4gtv001&hd=720")
SEGURL=$(echo "$PL" | grep call.ts | tail -1)
mkdir -p "$W/www"
curl -s -o "$W/www/seg.ts" "$SEGURL"
SEGBYTES=$(wc -c <"$W/www/seg.ts")
bench_nginx seg.ts
NGW=$(pgrep -P "$NGPID" | head -1)

# wrk URL -> "requests/s MB/s"
wrk_run() {
    wrk -t2 -c200 -d10s "$1" >"$W/wrk.txt"
    if grep -q "Non-2xx" "$W/wrk.txt"; then
        echo "bench: $1 answered errors:" >&2
        cat "$W/wrk.txt" >&2
        exit 1
    fi
    awk '/Requests\/sec/ { r = $2 } /Transfer\/sec/ { t = $2 } END { print r, t }' "$W/wrk.txt"
}
echo "bench: 200 clients on a cached segment, streamgate" >&2
c0=$(cpu "$SGPID"); SG=$(wrk_run "$SEGURL"); c1=$(cpu "$SGPID")
echo "bench: 200 clients on the same file, nginx-light" >&2
n0=$(cpu "$NGW"); NG=$(wrk_run "http://127.0.0.1:$NGPORT/seg.ts"); n1=$(cpu "$NGW")

# ---- 2. fetches per segment ----------------------------------------------------------------------
echo "bench: upstream fetches per new segment with 1, 10, 100 clients" >&2
python3 - "$BASE" "$ORIGIN" >"$W/fetches.txt" <<'PY'
import concurrent.futures, json, re, sys, time, urllib.request
base, origin = sys.argv[1:3]
fid = "4gtv-live007"
def get(u):
    try:
        with urllib.request.urlopen(u, timeout=30) as r:
            return r.status, len(r.read())
    except Exception as e:
        return getattr(e, "code", 0), 0
def edge():
    with urllib.request.urlopen(origin + "/fake/stats", timeout=10) as r:
        return json.load(r)["channels"][fid]["newest_seq"]
get("%s/4gtv/channel.m3u8?fid=%s&hd=720" % (base, fid))  # sign it
out = []
for n in (1, 10, 100):
    e = edge()
    while edge() == e:  # a segment nobody asked for yet: the next one
        time.sleep(0.05)
    seq = edge()
    url = "%s/4gtv/call.ts?fid=%s&seq=%d&hd=720" % (base, fid, seq)
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        res = list(pool.map(lambda _: get(url), range(n)))
    with urllib.request.urlopen(origin + "/fake/stats", timeout=10) as r:
        count = json.load(r)["channels"][fid]["segments"].get("720:%d" % seq, 0)
    ok = sum(1 for s, _ in res if s == 200)
    out.append("%d:%d:%d" % (n, count, ok))
print(" ".join(out))
PY

ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
SGR=${SG% *}; SGT=${SG#* }; NGR=${NG% *}; NGT=${NG#* }
SGC=$(echo "$c0 $c1" | awk '{ printf "%.2f", $2 - $1 }')
NGC=$(echo "$n0 $n1" | awk '{ printf "%.2f", $2 - $1 }')
cat <<EOF

1. A cached ${SEGBYTES}-byte segment to 200 concurrent clients (wrk, 10 s, one worker each)
                          requests/s   transfer/s   CPU s
   streamgate call.ts     $SGR        $SGT       $SGC
   nginx-light sendfile   $NGR        $NGT       $NGC
   throughput ratio streamgate / nginx: $(ratio "$SGR" "$NGR")   (target >= 0.8)

2. Upstream fetches of one new segment, by clients asking at once (clients:fetches:answered 200)
   $(cat "$W/fetches.txt")   (target: exactly 1 fetch each)
EOF
