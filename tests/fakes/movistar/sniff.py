#!/usr/bin/env python3
"""sniff: join DVB-STP multicast groups and show what they carry.

A second, independent decoder of the formats fake_movistar.py sends (and of
the real network's): the DVB-STP header of ETSI TS 102 034 5.4.1, segments
reassembled by (payload id, segment id, version) and section number, the
MPEG-2 CRC-32 checked, then the SD&S XML or the Movistar binary EPG (payload
0xF1) decoded.

  sniff.py [--iface 127.0.0.1] [--cycles 1] [--timeout 30] GROUP:PORT ...
      --xml N        print the first N characters of every XML segment
      --dump DIR     write every segment to DIR/<group>/<payload>_<seg>_v<ver>
      --epg          decode 0xF1 blobs, print a summary per blob
      --records      ... and every record
      --truth FILE   compare decoded EPG records with fake_movistar's truth.json
      --json         one JSON summary on stdout at the end

Stops after every group has been seen going round --cycles full cycles (a
cycle ends when the first segment completed comes round complete again), or
at --timeout.  Exit status 0 if every segment that completed passed its CRC
(and matched the truth, with --truth), 1 otherwise.
"""

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
import zlib

_BITREV8 = bytes(int("{:08b}".format(i)[::-1], 2) for i in range(256))


def crc32_mpeg2(data):
    # Plain table-free bitwise reference would be slow; use the reflection
    # identity with zlib (checked against the standard check value below).
    c = zlib.crc32(bytes(data).translate(_BITREV8)) ^ 0xFFFFFFFF
    return int("{:032b}".format(c)[::-1], 2)


def crc32_mpeg2_slow(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


assert crc32_mpeg2(b"123456789") == crc32_mpeg2_slow(b"123456789") == 0x0376E6E7


def parse_header(d):
    """The DVB-STP header fields, or raise ValueError."""
    if len(d) < 12:
        raise ValueError("short datagram")
    h = {
        "version": d[0] >> 6,
        "encryption": (d[0] >> 1) & 3,
        "crc_flag": d[0] & 1,
        "total": int.from_bytes(d[1:4], "big"),
        "payload_id": d[4],
        "segment_id": (d[5] << 8) | d[6],
        "seg_version": d[7],
        "section": (d[8] << 4) | (d[9] >> 4),
        "last_section": ((d[9] & 0x0F) << 8) | d[10],
        "compression": d[11] >> 5,
        "provider_flag": (d[11] >> 4) & 1,
        "private_len": (d[11] & 0x0F) * 4,
    }
    off = 12
    if h["provider_flag"]:
        h["provider_id"] = struct.unpack(">I", d[12:16])[0]
        off += 4
    off += h["private_len"]
    payload = d[off:]
    if h["crc_flag"]:
        if len(payload) < 4:
            raise ValueError("no room for the CRC")
        h["crc"] = struct.unpack(">I", payload[-4:])[0]
        payload = payload[:-4]
    if h["version"] != 0:
        raise ValueError("DVB-STP version %d" % h["version"])
    if h["section"] > h["last_section"]:
        raise ValueError("section %d > last %d" % (h["section"], h["last_section"]))
    return h, payload


def decode_xor(b):
    return bytes(c ^ 0x15 for c in b).decode("utf-8")


def decode_epg_blob(blob):
    """(header dict, [records], error or None); bounds-checked, per the fact
    sheet's 5.2/5.3 offsets; a truncated last record is reported, not used."""
    if len(blob) < 11:
        return None, [], "blob too short"
    size = struct.unpack(">H", blob[1:3])[0]
    sid = struct.unpack(">H", blob[3:5])[0]
    ver = blob[5]
    L = blob[6]
    head = {"size": size, "service": sid, "version": ver, "url": blob[7:7 + L].decode("latin-1"),
            "length": len(blob)}
    err = None
    if size != len(blob):
        err = "size field %d != blob length %d" % (size, len(blob))
    end = min(size, len(blob)) - 4
    pos = 7 + L
    recs = []
    while pos < end:
        r = blob[pos:end]
        try:
            if len(r) < 32:
                raise IndexError("fixed part")
            T = r[31]
            E = 32 + T
            if len(r) < E + 13:
                raise IndexError("0xF1 block")
            S = r[E + 12]
            C = E + 13 + S
            if len(r) < C + 4:
                raise IndexError("series name / trailer")
            K = r[C + 3]
            if len(r) < C + 4 + K:
                raise IndexError("trailing block")
            pid, start, dur = struct.unpack(">IIH", r[:10])
            recs.append({
                "pid": pid, "start": start, "duration": dur,
                "title": decode_xor(r[32:E]),
                "series": decode_xor(r[E + 13:C]),
                "season": r[E + 11], "episode": r[E + 8],
                "year": struct.unpack(">H", r[E + 9:E + 11])[0],
                "genre": r[20], "age": r[24],
                "series_id": struct.unpack(">H", r[E + 5:E + 7])[0],
                "_tags": (r[17], r[21], r[E]),
            })
            pos += C + 4 + K
        except IndexError as e:
            err = (err + "; " if err else "") + "record %d truncated (%s, %d bytes left)" % (len(recs), e, len(r))
            break
    return head, recs, err


class GroupState:
    def __init__(self, spec, iface):
        host, port = spec.rsplit(":", 1)
        self.spec = spec
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton(host) + socket.inet_aton(iface))
        self.bufs = {}          # (pid, seg, ver) -> {"last":, "total":, "secs": {}}
        self.done = {}          # (pid, seg, ver) -> segment bytes (CRC ok)
        self.order = []         # completion order of keys (first time)
        self.first_key = None
        self.first_times = []   # completion times of first_key (for the cycle time)
        self.datagrams = 0
        self.bad = []
        self.crc_fail = 0
        self.completions = 0
        self.t0 = None
        self.last_section_seen = None

    def feed(self, d, now):
        self.datagrams += 1
        if self.t0 is None:
            self.t0 = now
        try:
            h, payload = parse_header(d)
        except ValueError as e:
            self.bad.append(str(e))
            return
        key = (h["payload_id"], h["segment_id"], h["seg_version"])
        b = self.bufs.get(key)
        if b is None or b["last"] != h["last_section"] or b["total"] != h["total"]:
            b = self.bufs[key] = {"last": h["last_section"], "total": h["total"], "secs": {}, "crc": None}
        b["secs"][h["section"]] = payload
        if h["crc_flag"]:
            b["crc"] = h["crc"]
        if len(b["secs"]) == b["last"] + 1 and b["crc"] is not None:
            data = b"".join(b["secs"][i] for i in range(b["last"] + 1))
            del self.bufs[key]
            self.completions += 1
            if len(data) != b["total"] or crc32_mpeg2(data) != b["crc"]:
                self.crc_fail += 1
                return
            if key not in self.done:
                self.order.append(key)
            self.done[key] = data
            base = (key[0], key[1])
            if self.first_key is None:
                self.first_key = base
            if base == self.first_key:
                self.first_times.append(now)

    def cycles(self):
        return max(0, len(self.first_times) - 1)

    def cycle_time(self):
        t = self.first_times
        if len(t) < 2:
            return None
        return (t[-1] - t[0]) / (len(t) - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("groups", nargs="+", metavar="GROUP:PORT")
    ap.add_argument("--iface", default="127.0.0.1")
    ap.add_argument("--cycles", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--xml", type=int, default=0, metavar="N")
    ap.add_argument("--dump", default=None)
    ap.add_argument("--epg", action="store_true")
    ap.add_argument("--records", action="store_true")
    ap.add_argument("--truth", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    states = [GroupState(g, args.iface) for g in args.groups]
    by_fd = {s.sock.fileno(): s for s in states}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if all(s.cycles() >= args.cycles for s in states):
            break
        r, _, _ = select.select(list(by_fd), [], [], 0.2)
        now = time.monotonic()
        for fd in r:
            s = by_fd[fd]
            while True:
                try:
                    d = s.sock.recv(2048, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                s.feed(d, now)

    truth = None
    if args.truth:
        with open(args.truth, encoding="utf-8") as f:
            truth = {int(k): {p["pid"]: p for p in v} for k, v in json.load(f).items()}
    ok = True
    summary = {}
    out = sys.stdout if not args.json else sys.stderr
    for s in states:
        ct = s.cycle_time()
        g = {"datagrams": s.datagrams, "bad_headers": len(s.bad), "crc_failures": s.crc_fail,
             "segments": len(s.done), "cycles": s.cycles(), "cycle_s": ct, "incomplete": len(s.bufs)}
        print("== %s: %d datagrams, %d segments complete, %d CRC/size failures, %d bad headers, "
              "%d cycles, cycle %s" % (s.spec, s.datagrams, len(s.done), s.crc_fail, len(s.bad), s.cycles(),
                                       "%.3f s" % ct if ct else "?"), file=out)
        if s.crc_fail or s.bad:
            ok = False
        segs = []
        epg_stats = {"blobs": 0, "records": 0, "matched": 0, "mismatched": 0, "unknown": 0, "truncated": 0}
        for key in s.order:
            data = s.done[key]
            pid, seg, ver = key
            info = {"payload": pid, "segment": seg, "version": ver, "size": len(data)}
            if args.dump:
                d = os.path.join(args.dump, s.spec.replace(":", "_"))
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "%d_%d_v%d" % (pid, seg, ver)), "wb") as f:
                    f.write(data)
            line = "  payload 0x%02X seg 0x%04x v%-3d %7d bytes" % (pid, seg, ver, len(data))
            if pid != 0xF1:
                txt = data.decode("utf-8", "replace")
                info["xml_ok"] = True
                try:
                    import xml.etree.ElementTree as ET
                    root = ET.fromstring(data)
                    info["root"] = root.tag
                    line += "  XML %s (%d elements)" % (root.tag.split("}")[-1], sum(1 for _ in root.iter()))
                except Exception as e:
                    info["xml_ok"] = False
                    ok = False
                    line += "  XML PARSE ERROR %s" % e
                print(line, file=out)
                if args.xml:
                    print(txt[:args.xml], file=out)
            else:
                head, recs, err = decode_epg_blob(data)
                epg_stats["blobs"] += 1
                epg_stats["records"] += len(recs)
                if err:
                    epg_stats["truncated"] += 1
                if head:
                    info.update(service=head["service"], blob_version=head["version"], records=len(recs))
                    line += "  EPG service %d v%d %s %d records%s" % (
                        head["service"], head["version"], head["url"], len(recs), "  [%s]" % err if err else "")
                    if head["url"] != "%d.imagenio.es" % head["service"]:
                        ok = False
                        line += "  BAD URL"
                if args.epg or args.records:
                    print(line, file=out)
                if args.records:
                    for r in recs:
                        print("    %d %s %5ds g%02X a%-2d %s | %s T%d E%d y%d sid%d" % (
                            r["pid"], time.strftime("%m-%d %H:%M", time.gmtime(r["start"])), r["duration"],
                            r["genre"], r["age"], r["title"], r["series"], r["season"], r["episode"], r["year"],
                            r["series_id"]), file=out)
                if truth is not None and head:
                    t = truth.get(head["service"], {})
                    for r in recs:
                        if r["_tags"] != (0x54, 0x55, 0xF1):
                            epg_stats["mismatched"] += 1
                            continue
                        exp = t.get(r["pid"])
                        got = {k: v for k, v in r.items() if not k.startswith("_")}
                        if exp is None:
                            epg_stats["unknown"] += 1
                        elif exp == got:
                            epg_stats["matched"] += 1
                        else:
                            epg_stats["mismatched"] += 1
                            if epg_stats["mismatched"] <= 5:
                                print("    MISMATCH %r != %r" % (got, exp), file=out)
            segs.append(info)
        if epg_stats["blobs"]:
            print("  EPG: %(blobs)d blobs, %(records)d records, %(truncated)d truncated blobs" % epg_stats, file=out)
            if truth is not None:
                print("  truth: %(matched)d matched, %(mismatched)d mismatched, %(unknown)d unknown" % epg_stats,
                      file=out)
                if epg_stats["mismatched"] or epg_stats["unknown"]:
                    ok = False
        g["segment_list"] = segs
        g["epg"] = epg_stats
        summary[s.spec] = g
    if args.json:
        print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
