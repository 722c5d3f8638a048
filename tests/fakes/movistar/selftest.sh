#!/bin/sh
# Self-test of the simulated Movistar network; needs multicast on lo, so run
# it in a private network namespace:
#     .ci/netns tests/fakes/movistar/selftest.sh [extra fake_movistar options]
# Checks: READY, every appserver action answers, every DVB-STP group decodes
# with good CRCs and the EPG matches truth.json, one channel of each media
# kind streams on demand and ffprobe sees the expected streams; then
# rtsp_check.py (two fakes of its own, same media) exercises the U7D RTSP
# catchup server and its knobs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/fake-movistar-selftest.XXXXXX)
python3 "$here/fake_movistar.py" --workdir "$W" "$@" >"$W/out" 2>"$W/err" &
P=$!
trap 'kill -TERM $P 2>/dev/null || true' EXIT
i=0
until grep -q '^READY ' "$W/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 1200 ] || ! kill -0 $P 2>/dev/null; then cat "$W/err" >&2; exit 1; fi
    sleep 0.1
done
j() { python3 -c "import json,sys; r=json.load(open('$W/ready.json')); print($1)"; }
BASE=$(j "r['appserver']")
echo "appserver $BASE, $(j "len(r['channels'])") channels, $(j "r['programmes']") programmes"
PID=$(python3 -c "
import json,time; t=json.load(open('$W/truth.json'))
print(next(p['pid'] for v in t.values() for p in v if p['start'] < time.time()))")
fail=0
for a in getClientProfile getPlatformProfile getConfigurationParams "getEpgSubGenres&tvWholesaler=1" \
         "epgInfov2&productID=$PID&channelID=1" "getCatchUpUrl&extInfoID=$PID&channelID=1&mode=1" \
         "recordingList&mode=0&state=2&firstItem=0&numItems=999"; do
    code=$(curl -s "$BASE/appserver/mvtv.do?action=$a" | python3 -c "import json,sys; print(json.load(sys.stdin)['resultCode'])")
    echo "action $a -> resultCode $code"
    [ "$code" = 0 ] || fail=1
done
# shellcheck disable=SC2046
python3 "$here/sniff.py" --timeout 60 --truth "$W/truth.json" \
    $(j "' '.join([r['entry'], r['sp_group']] + r['epg_groups'])") \
    | grep -v '^  payload 0xF1' || fail=1
for m in mpeg2 h264 mpeg2-sub; do
    g=$(j "next((c['group'] for c in r['channels'] if c['media'] == '$m' and not c['encrypted']), '')")
    [ -n "$g" ] || continue
    s=$(timeout 30 ffprobe -v quiet -show_entries stream=codec_name -of csv=p=0 "rtp://$g" | sort -u | tr '\n' ' ')
    echo "channel $g ($m): $s"
done
echo "stats: $(curl -s "$BASE/fake/stats" | head -c 300)..."
kill -TERM $P 2>/dev/null || true
wait $P || fail=1
python3 "$here/rtsp_check.py" --media-dir "$W/media" --workdir "$W/rtsp" || fail=1
[ $fail = 0 ] && echo "selftest OK" || { echo "selftest FAILED"; exit 1; }
