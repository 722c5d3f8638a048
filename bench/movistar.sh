#!/bin/sh
# Movistar discovery + EPG benchmark: the movistar plugin against the
# simulated network (tests/fakes/movistar: >= 100 channels, >= 20,000
# programmes over 8 day groups), next to a Python decoder of the same
# carousels (tests/fakes/movistar/sniff.py, the way the Python grabbers
# movistar-u7d and tv_grab_es_movistartv work) and xmltv-util's tv_cat
# re-writing the same guide, in the same run.
#
#   bench/movistar.sh [BUILD_DIR]      (make bench runs it)
#
# Runs in a private network namespace (.ci/netns). Prints a table; nothing
# here is a pass/fail test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_init sgmv "$@"
SNIFF="$ROOT/tests/fakes/movistar/sniff.py"
status() { curl -s -m 5 "$BASE/api/status"; }
# CPU seconds and peak RSS (KiB) of a command, from its rusage
rusage() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %d" % (r.ru_utime + r.ru_stime, r.ru_maxrss))
PY
}

echo "bench: starting the simulated Movistar network" >&2
bench_fake
NCHAN=$(field 'len(d["channels"])' <"$INFO")
NPROG=$(field 'd["programmes"]' <"$INFO")
EPG_GROUPS=$(field '" ".join(d["epg_groups"])' <"$INFO")
SP=$(field 'd["sp_group"]' <"$INFO")

T0=$(date +%s.%N)
bench_streamgate info
CPU_START=$(cpu $SGPID)
# the ingest share: CPU from the moment the plugin starts reading the EPG
# day groups to the last catalog commit
CPU_EPG=""
i=0
while :; do
    st=$(status | field 'next(p for p in d["plugins"] if p["name"]=="movistar")["status"] + "|" + str(d["catalog"]["pending_updates"])')
    case "$st" in
    "reading the EPG"*) [ -n "$CPU_EPG" ] || CPU_EPG=$(cpu $SGPID) ;;
    ready*"|0") break ;;
    esac
    i=$((i + 1)); [ $i -gt 3000 ] && { echo "bench: movistar never got ready" >&2; tail "$W/sg.log" >&2; exit 1; }
    sleep 0.02
done
T1=$(date +%s.%N)
CPU_READY=$(cpu $SGPID)
HWM_READY=$(hwm $SGPID)
PUB=$(status | field 'd["catalog"]["channels"]')
PROGS=$(status | field 'd["catalog"]["programmes"]')
# the extended-info pass that follows (epgInfov2 for the next 26 h)
i=0
until status | field 'next(p for p in d["plugins"] if p["name"]=="movistar")["details"]["info_pending"]==0 and d["catalog"]["pending_updates"]==0' | grep -q True; do
    i=$((i + 1)); [ $i -gt 3000 ] && break
    sleep 0.1
done
CPU_INFO=$(cpu $SGPID)
NINFO=$(curl -s "$BASE/metrics" | awk '/^streamgate_movistar_epg_info_fetches_total\{result="ok"\}/ { print $2 }')
curl -s -o "$W/guide.xml" "$BASE/guide.xml"
RENDER_MS=$(grep -m1 "guide rendered" "$W/sg.log" | sed 's/.* in \([0-9.]*\) ms.*/\1/')
HWM_GUIDE=$(hwm $SGPID)
GUIDE_KB=$(($(stat -c %s "$W/guide.xml") / 1024))

# peers, same run: a Python decoder of the same carousels, tv_cat on the same guide
set -- $(rusage python3 "$SNIFF" --epg --timeout 120 $SP $EPG_GROUPS)
PY_CPU=$1 PY_RSS=$2
set -- $(rusage tv_cat "$W/guide.xml")
TVCAT_CPU=$1

python3 - "$CPU_READY" "$CPU_EPG" "$CPU_INFO" "${NINFO:-0}" "$CPU_START" "$HWM_READY" "$HWM_GUIDE" "$RENDER_MS" "$PY_CPU" "$PY_RSS" \
    "$TVCAT_CPU" "$T0" "$T1" "$NCHAN" "$PUB" "$NPROG" "$PROGS" "$GUIDE_KB" <<'PY'
import sys
(cpu_ready, cpu_epg, cpu_info, ninfo, cpu_start, hwm_ready, hwm_guide, render_ms, py_cpu, py_rss, tvcat_cpu, t0, t1,
 nchan, pub, nprog, progs, guide_kb) = sys.argv[1:]
cpu = float(cpu_ready)
print()
print("streamgate Movistar discovery + EPG benchmark (simulated network: %s channels, %s programmes, 8 days)"
      % (nchan, nprog))
print()
print("| measure | streamgate | peer (same run) | ratio |")
print("|---|---:|---:|---:|")
ingest = cpu - float(cpu_epg)
print("| CPU of the EPG ingest (8 day groups reassembled, parsed, written to SQLite) "
      "| %.2f s | Python decoder of the same carousels, no database: %.2f s | %.2f |"
      % (ingest, float(py_cpu), ingest / float(py_cpu)))
print("| CPU, start to guide committed (bootstrap, discovery, %s scrambling probes, EPG) | %.2f s | | |"
      % (nchan, cpu))
print("| CPU of the extended-info pass (%d epgInfov2 answers parsed, cached, republished) | %.2f s | | |"
      % (float(ninfo), float(cpu_info) - cpu))
print("| peak RSS after ingest | %.1f MB | Python decoder: %.1f MB | %.2f |"
      % (int(hwm_ready) / 1024, int(py_rss) / 1024, int(hwm_ready) / int(py_rss)))
print("| XMLTV render (%s programmes, %s KB) | %.0f ms | tv_cat re-writing it: %.0f ms | %.3f |"
      % (progs, guide_kb, float(render_ms), float(tvcat_cpu) * 1000,
         float(render_ms) / (float(tvcat_cpu) * 1000)))
print("| peak RSS after the info pass and the render | %.1f MB | | |" % (int(hwm_guide) / 1024))
print()
print("published %s channels; wall time start to guide committed %.1f s (mostly waiting on carousels "
      "and 3 s scrambling probes)" % (pub, float(t1) - float(t0)))
print("targets: ingest <= 1 s CPU, RSS <= 24 MB, render <= 200 ms")
PY
