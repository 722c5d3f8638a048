#!/bin/sh
# `make demo`: run streamgate against the simulated upstreams and print the
# URLs to open in VLC, mpv, Kodi or TiviMate.
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
mkdir -p var/demo
if [ ! -s var/demo/media.ts ]; then
    echo "generating demo media (20 s of MPEG-2 video and two MP2 audio tracks)..."
    ffmpeg -loglevel error -y \
        -f lavfi -i testsrc=size=720x576:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -f lavfi -i sine=frequency=880:sample_rate=48000 \
        -t 20 -map 0:v -map 1:a -map 2:a \
        -c:v mpeg2video -b:v 1M -maxrate 1M -bufsize 1M -g 25 -pix_fmt yuv420p \
        -c:a mp2 -b:a 128k -metadata:s:a:0 language=spa -metadata:s:a:1 language=eng \
        -mpegts_service_id 1001 -metadata service_name=Demo -muxrate 1600k \
        -f mpegts var/demo/media.ts
fi
rm -f var/demo/ready
# The multicast head-end: RTP like Movistar's, on loopback only.
"./$BUILD/tests/fakes/mcsend" --rtp-movistar --iface 127.0.0.1 var/demo/media.ts 239.255.42.1:5000 &
mc=$!
# The simulated Movistar network (appserver on 127.0.0.1:18080 known by its
# real name through the simulated IPTV DNS on 127.0.0.1:18053, SD&S and EPG
# carousels and channels in 239.255.0.0/16 on lo; see tests/fakes/movistar).
echo "starting the simulated Movistar network (first run generates its media)..."
mkdir -p var/demo/movistar
python3 tests/fakes/movistar/fake_movistar.py --workdir var/demo/movistar \
    --media-dir var/demo/movistar-media --mcsend "./$BUILD/tests/fakes/mcsend" \
    --http-port 18080 --dns-port 18053 --hostnames --origin-days -6 --entry 239.255.2.129:3937 --sp-group 239.255.2.154:3937 \
    --epg-base 239.255.2.130 --channel-net 239.255.0.0 >var/demo/movistar/ready.txt &
mv=$!
i=0
until grep -q '^READY' var/demo/movistar/ready.txt 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $mv 2>/dev/null; then
        echo "the simulated Movistar network did not start" >&2
        kill $mc $mv 2>/dev/null
        exit 1
    fi
    sleep 0.1
done
# The simulated HLS origin (two live channels of 2-s segments) for hls_pvr.
mkdir -p var/demo/hls
python3 tests/fakes/hls/fake_hls.py --port 18081 --media-dir var/demo/hls-media \
    >var/demo/hls/ready.txt 2>var/demo/hls/fake.log &
hl=$!
# The simulated 4gtv origin (signing, computed segment names) for 4gtv.
mkdir -p var/demo/4gtv
python3 tests/fakes/4gtv/fake_4gtv.py --port 18082 --media-dir var/demo/hls-media \
    >var/demo/4gtv/ready.txt 2>var/demo/4gtv/fake.log &
tv=$!
# The simulated ustream (pages, registration, websocket, FLV chunk CDN).
mkdir -p var/demo/ustream
/usr/bin/python3 tests/fakes/ustream/fake_ustream.py --port 18083 --ws-port 18084 \
    --media-dir var/demo/ustream >var/demo/ustream/ready.txt 2>var/demo/ustream/fake.log &
us=$!
"./$BUILD/streamgate" -c etc/demo.conf --ready-file var/demo/ready &
pid=$!
trap 'kill -TERM $pid $mc $mv $hl $tv $us 2>/dev/null; wait $pid' INT TERM
i=0
while [ ! -s var/demo/ready ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
        echo "streamgate did not start (see the messages above)" >&2
        exit 1
    fi
    sleep 0.1
done
base=$(cat var/demo/ready)
ip=$(hostname -I 2>/dev/null | cut -d' ' -f1)
port=${base##*:}
cat <<MSG

  streamgate demo is running (Ctrl-C stops it).

  Playlist (open in VLC, mpv, Kodi IPTV Simple, TiviMate):
      $base/channels.m3u
  ${ip:+    http://$ip:$port/channels.m3u
}  Guide:    $base/guide.xml
  Live:     $base/demo1/mpegts
  Multicast (shared hub, fast start): $base/demo4/mpegts
  Movistar (simulated network; channels appear within about 20 s,
  the 8-day guide right after):       $base/58/live   (Telemadrid)
  Movistar catchup over RTSP (the fake U7D server; keeps playing into
  the next programme):                $base/58/timeshift_abs-$(( $(date +%s) - 7200 )).ts
  Movistar cloud recordings:          $base/cloud.m3u   (guide: $base/cloud.xml)
  HLS archive (simulated origin; a minute of archive after a minute):
      $base/streamer/cam0.m3u8?startTimestamp=$(( $(date +%s) - 60 ))
      $base/streamer/cam0/metadata?startTimestamp=$(( $(date +%s) - 3600 ))
  4gtv (simulated origin; playlists computed from the clock):
      $base/4gtv/online.m3u8?fid=4gtv-4gtv001&hd=720    $base/4gtv-live007/mpegts
      $base/4gtv/program.m3u?name=online                 $base/4gtv/epg.xml
  ustream recorded videos (simulated service) as MP4, a daemon job:
      curl -d '{"url": "http://127.0.0.1:18083/channel/nasa-hd"}' $base/ustream/jobs
      curl $base/ustream/jobs     then  $base/recordings.m3u
    or without the daemon:
      ./$BUILD/streamgate ustream http://127.0.0.1:18083/channel/nasa-hd -o var/demo/ \\
        --site http://127.0.0.1:18083 --cdn http://127.0.0.1:18083/cdn/ \\
        --ums 'ws://127.0.0.1:18084/r{rand}-1-{video}/1/ustream'
  udpxy URL of the same group:        $base/udp/239.255.42.1:5000
  udpxy-style status page:            $base/status
  Catchup:  $base/demo1/timeshift_abs-$(( $(date +%s) - 3600 )).ts   (one hour ago)
  Status:   $base/api/status
  Metrics:  $base/metrics

MSG
wait $pid
kill $mc $mv $hl $tv $us 2>/dev/null || true
