#!/usr/bin/env python3
"""fake_movistar: a simulated Movistar Spain IPTV network on one host.

It plays the parts of the real network that an IPTV gateway talks to:

* the "appserver" JSON API (GET /appserver/mvtv.do?action=...) on 127.0.0.1,
  plus the channel logos and programme covers under /appclient/;
* the SD&S discovery carousels over DVB-STP (ETSI TS 102 034 5.4.1): the
  entry point (1_0), the service-provider group (2_0 channels, 5_0 packages,
  6_0 BCG/EPG index), built from the real 2014 Madrid captures in
  tests/data/movistar-sds-2014 with the addresses rewritten;
* the binary EPG (payload 0xF1), one multicast group per day, one segment
  (blob) per EPG service and day, for a synthetic, seeded week;
* the live channels: RTP (Movistar header extension) MPEG-TS multicast,
  sent by tests/fakes/mcsend only while somebody is joined to the group
  (the kernel's /proc/net/igmp is polled, like an IGMP-snooping switch).

Wire formats follow /work/shared/reference/movistar-iptv-epg.md exactly:
big-endian, DVB-STP 12-byte header, MPEG-2 CRC-32 over the concatenated
payloads of all sections of a segment, carried after the payload of the last
section (the only one with the CRC flag set).

* the U7D catchup RTSP server (movistar-u7d.md 4.3-4.6) behind the URLs of
  getCatchUpUrl / getRecordingData: SETUP / PLAY / GET_PARAMETER / TEARDOWN
  on 127.0.0.1:--rtsp-port, the programme sent as raw MPEG-TS over UDP by
  mcsend with SGMARK markers, sessions that expire without keep-alives,
  --rtsp-rate MBPS (constant-rate catchup streams, for benchmarks); failure knobs (--rtsp-*, or GET /fake/set?rtsp_fail=454&... during a run).

* optionally (--dns-port) the IPTV network's DNS server (172.26.23.3 on the
  real network): *.imagenio.telefonica.net -> 127.0.0.1 over UDP; with
  --hostnames getPlatformProfile advertises those names, as the real one does.

Usage: fake_movistar.py --workdir DIR [options]   (see --help and README.md)
Runs until SIGTERM/SIGINT, then stops every child and exits 0.  Prints one
line "READY <json>" on stdout once everything is listening (the same JSON is
written to DIR/ready.json); with --version-bump it later prints one
"BUMP <json>" line.  Diagnostics go to stderr.

Python 3 standard library only.
"""

import argparse
import collections
import html
import html.entities
import http.server
import json
import os
import queue
import random
import re
import secrets
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakehttp  # noqa: E402  (the shared HTTP handler base)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "data", "movistar-sds-2014")
NS = "{urn:dvb:ipisdns:2006}"
MEDIA_VERSION = 1           # bump to invalidate cached media files
SECTION_MAX = 1400          # DVB-STP payload bytes per section (datagram)
DVBSTP_PORT = 3937
CHANNEL_PORT = 8208


def log(msg):
    print("fake_movistar: " + msg, file=sys.stderr, flush=True)


class Stop(Exception):
    """Raised by the signal handler in the main thread."""


# ---- MPEG-2 CRC-32 ----------------------------------------------------------
#
# CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final
# xor).  zlib computes the reflected variant; reflecting every input byte and
# the 32-bit result turns one into the other (the init is all ones either
# way), which is ~100x faster than a Python loop.

_BITREV8 = bytes(int("{:08b}".format(i)[::-1], 2) for i in range(256))


def crc32_mpeg2(data):
    c = zlib.crc32(bytes(data).translate(_BITREV8)) ^ 0xFFFFFFFF
    return int("{:032b}".format(c)[::-1], 2)


assert crc32_mpeg2(b"123456789") == 0x0376E6E7


# ---- DVB-STP ----------------------------------------------------------------

def stp_datagrams(payload_id, seg_id, version, data, provider_id=None):
    """One segment as its list of DVB-STP datagrams (one section each)."""
    n = max(1, (len(data) + SECTION_MAX - 1) // SECTION_MAX)
    last = n - 1
    if last > 0xFFF or len(data) > 0xFFFFFF:
        raise ValueError("segment too large for DVB-STP")
    crc = struct.pack(">I", crc32_mpeg2(data))
    b11 = 0x10 if provider_id is not None else 0x00   # compression 0, P, private 0
    out = []
    for i in range(n):
        chunk = data[i * SECTION_MAX:(i + 1) * SECTION_MAX]
        flag = 1 if i == last else 0        # Version 00, Encryption 00
        hdr = (bytes([flag]) + len(data).to_bytes(3, "big")
               + struct.pack(">BHB", payload_id, seg_id, version & 0xFF)
               + struct.pack(">I", (i << 20) | (last << 8) | b11))
        if provider_id is not None:
            hdr += struct.pack(">I", provider_id)
        out.append(hdr + chunk + (crc if i == last else b""))
    return out


class Segment:
    __slots__ = ("payload_id", "seg_id", "version", "data", "dgrams", "label")

    def __init__(self, payload_id, seg_id, version, data, label, provider_id=None):
        self.payload_id = payload_id
        self.seg_id = seg_id
        self.version = version & 0xFF
        self.data = data
        self.label = label
        self.dgrams = stp_datagrams(payload_id, seg_id, version, data, provider_id)


class CarouselGroup:
    def __init__(self, name, addr, port, segments):
        self.name = name
        self.dest = (addr, port)
        self.segments = list(segments)
        self.seg_idx = 0
        self.sec_idx = 0
        self.pending = {}            # segment index -> replacement Segment
        self.next_t = 0.0
        self.held = None
        self.cycles = 0
        self.cycle_started = None
        self.last_cycle_s = None
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self.bytes_per_cycle = sum(len(d) for s in self.segments for d in s.dgrams)

    def next_datagram(self, now):
        seg = self.segments[self.seg_idx]
        if self.seg_idx == 0 and self.sec_idx == 0:
            if self.cycle_started is not None:
                self.last_cycle_s = now - self.cycle_started
                self.cycles += 1
            self.cycle_started = now
        d = seg.dgrams[self.sec_idx]
        self.sec_idx += 1
        if self.sec_idx >= len(seg.dgrams):
            self.sec_idx = 0
            self.seg_idx = (self.seg_idx + 1) % len(self.segments)
            if self.pending:                 # at a segment boundary: swap now
                for i, s in self.pending.items():
                    self.segments[i] = s
                self.pending = {}
                self.bytes_per_cycle = sum(len(x) for s in self.segments for x in s.dgrams)
        return d


class Carousel(threading.Thread):
    """One thread paces every group at --rate-kbps."""

    def __init__(self, groups, iface, rate_kbps, loss, reorder, seed):
        super().__init__(name="carousel", daemon=True)
        self.groups = groups
        self.rate = rate_kbps * 1000.0
        self.loss = loss
        self.reorder = reorder
        self.rng = random.Random("%s:carousel" % seed)
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    def replace(self, group, index, segment):
        with self.lock:
            group.pending[index] = segment

    def _send(self, g, d):
        try:
            self.sock.sendto(d, g.dest)
            g.sent += 1
        except OSError:
            g.errors += 1

    def _emit(self, g, d):
        if self.loss and self.rng.random() * 100.0 < self.loss:
            g.dropped += 1
            return
        if g.held is not None:
            self._send(g, d)
            self._send(g, g.held)
            g.held = None
            return
        if self.reorder and self.rng.random() * 100.0 < self.reorder:
            g.held = d
            return
        self._send(g, d)

    def run(self):
        now = time.monotonic()
        for g in self.groups:
            g.next_t = now
        while not self.halt.is_set():
            now = time.monotonic()
            with self.lock:
                for g in self.groups:
                    if g.next_t < now - 0.2:          # we were stopped: no flood
                        g.next_t = now
                    n = 0
                    while g.next_t <= now and n < 256:
                        d = g.next_datagram(now)
                        g.next_t += len(d) * 8.0 / self.rate
                        self._emit(g, d)
                        n += 1
            nxt = min(g.next_t for g in self.groups) if self.groups else now + 0.05
            delay = min(max(nxt - time.monotonic(), 0.002), 0.05)
            self.halt.wait(delay)

    def stats(self):
        out = {}
        for g in self.groups:
            out["%s:%d" % g.dest] = {
                "name": g.name, "segments": len(g.segments), "datagrams": g.sent,
                "dropped": g.dropped, "errors": g.errors, "cycles": g.cycles,
                "bytes_per_cycle": g.bytes_per_cycle,
                "last_cycle_s": None if g.last_cycle_s is None else round(g.last_cycle_s, 3),
            }
        return out


# ---- SD&S fixtures ----------------------------------------------------------

def ip_add(base, n):
    v = struct.unpack(">I", socket.inet_aton(base))[0] + n
    return socket.inet_ntoa(struct.pack(">I", v & 0xFFFFFFFF))


def parse_hostport(s, default_port):
    if ":" in s:
        h, p = s.rsplit(":", 1)
        return h, int(p)
    return s, default_port


def parse_services(text_2_0):
    """Services of 2_0 in document order: dicts id, name, address, port,
    replacement, logo, index."""
    root = ET.fromstring(text_2_0)
    out = []
    for i, s in enumerate(root.iter(NS + "SingleService")):
        loc = s.find(NS + "ServiceLocation/" + NS + "IPMulticastAddress")
        ti = s.find(NS + "TextualIdentifier")
        si = s.find(NS + "SI")
        name = si.find(NS + "Name").text if si is not None and si.find(NS + "Name") is not None else ""
        rep = si.find(NS + "ReplacementService/" + NS + "TextualIdentifier") if si is not None else None
        out.append({
            "index": i,
            "id": int(ti.get("ServiceName")),
            "name": (name or "").strip(),
            "address": loc.get("Address") if loc is not None else None,
            "port": int(loc.get("Port")) if loc is not None and loc.get("Port") else None,
            "replacement": int(rep.get("ServiceName")) if rep is not None else None,
            "logo": ti.get("logoURI"),
            "hd": si is not None and si.get("ServiceType") in ("22", "25", "153"),
        })
    return out


def parse_packages(text_5_0):
    root = ET.fromstring(text_5_0)
    pk = {}
    for p in root.iter(NS + "Package"):
        name = p.find(NS + "PackageName").text
        svcs = pk.setdefault(name, {})
        for s in p.findall(NS + "Service"):
            svcs[int(s.find(NS + "TextualID").get("ServiceName"))] = int(
                s.find(NS + "LogicalChannelNumber").text)
    return pk


def rewrite_1_0(text, demarcation, sp_addr, sp_port):
    pat = re.compile(r'(DomainName="DEM_%d\.imagenio\.es".*?<Push\s+Address=")([^"]*)("\s+Port=")([^"]*)(")'
                     % demarcation, re.S)
    new, n = pat.subn(lambda m: m.group(1) + sp_addr + m.group(3) + str(sp_port) + m.group(5), text, count=1)
    if n == 0:
        sp = ('<ServiceProvider DomainName="DEM_%d.imagenio.es" Version="1"> <Offering> '
              '<Push Address="%s" Port="%d"> </Push> </Offering></ServiceProvider>'
              % (demarcation, sp_addr, sp_port))
        new = text.replace("</ServiceProviderDiscovery>", sp + "</ServiceProviderDiscovery>", 1)
    return new


def other_region_groups(text_1_0):
    return set(re.findall(r'<Push\s+Address="([^"]*)"', text_1_0))


def xml_version(text, element):
    m = re.search(r'<%s\b[^>]*?\bVersion="(\d+)"' % element, text, re.S)
    return int(m.group(1)) if m else 0


def set_xml_version(text, element, version):
    return re.sub(r'(<%s\b[^>]*?\bVersion=")(\d+)(")' % element,
                  lambda m: m.group(1) + str(version) + m.group(3), text, count=1, flags=re.S)


def rewrite_2_0(text, addr_of_index, rename=None):
    """Rewrite every IPMulticastAddress (service i -> addr_of_index(i));
    rename = (service index, new name) for the version bump."""
    idx = [0]

    def block(m):
        i = idx[0]
        idx[0] += 1
        b = m.group(0)
        a = addr_of_index(i)
        if a is not None:
            b = re.sub(r'(<IPMulticastAddress\b[^>]*?\bAddress=")([^"]*)(")',
                       lambda mm: mm.group(1) + a + mm.group(3), b, count=1)
        if rename and rename[0] == i:
            b = re.sub(r'(<Name\b[^>]*>)(.*?)(</Name>)',
                       lambda mm: mm.group(1) + html.escape(rename[1], quote=False) + mm.group(3),
                       b, count=1, flags=re.S)
        return b

    return re.sub(r"<SingleService>.*?</SingleService>", block, text, flags=re.S)


def rewrite_6_0(text, demarcation, pf_addr, days, version):
    """days: list of (day, address, port, [(seg_id, version), ...])."""
    text = re.sub(r"DEM_\d+\.imagenio\.es", "DEM_%d.imagenio.es" % demarcation, text)
    text = set_xml_version(text, "BCGDiscovery", version)

    def pf(m):
        return re.sub(r'(Address=")([^"]*)(")', lambda mm: mm.group(1) + pf_addr + mm.group(3),
                      m.group(0), count=1)

    text = re.sub(r'<BCG Id="p_f">.*?</BCG>', pf, text, count=1, flags=re.S)
    parts = []
    for day, addr, port, segs in days:
        s = ['\n<DVBBINSTP Source="EPG_%d_BIN.imagenio.es" Port="%d" Address="%s"><PayloadId\nId="0xF1">'
             % (day, port, addr)]
        for k, (sid, ver) in enumerate(segs):
            s.append('<Segment ID="0x%04x" Version="%d" />' % (sid, ver))
            if k % 2 == 1:
                s.append("\n")
        s.append('</PayloadId><PayloadId\nId="0xF2" /></DVBBINSTP>')
        parts.append("".join(s))
    body = "".join(parts)
    new, n = re.subn(r'(<BCG Id="EPG">.*?<TransportMode>)(.*?)(</TransportMode>)',
                     lambda m: m.group(1) + body + m.group(3), text, count=1, flags=re.S)
    if n != 1:
        raise ValueError("6_0 fixture: no EPG BCG TransportMode")
    return new


# ---- synthetic EPG ----------------------------------------------------------

SERIES = [  # (name, genre byte, kids)
    ("Cuéntame cómo pasó", 0x13, False), ("Águila Roja", 0x11, False),
    ("El Ministerio del Tiempo", 0x15, False), ("Los Serrano", 0x17, False),
    ("Aída", 0x37, False), ("Médico de familia", 0x13, False), ("Gran Hotel", 0x16, False),
    ("Velvet", 0x12, False), ("El Príncipe", 0x16, False), ("Física o Química", 0x33, False),
    ("Pequeñas coincidencias", 0x12, False), ("La que se avecina", 0x17, False),
    ("Allí abajo", 0x37, False), ("Isabel", 0x14, False), ("Acacias 38", 0x13, False),
    ("Amar es para siempre", 0x13, False), ("CSI: Miami", 0x16, False), ("Friends", 0x37, False),
    ("Los Simpson", 0x37, False), ("Doctor Mateo", 0x13, False), ("Vis a vis", 0x16, False),
    ("Él &amp; Ella", 0x12, False), ("Sé quién eres", 0x16, False), ("Crónicas de la Tierra", 0x85, False),
    ("Españoles en el mundo", 0x81, False), ("Comando Actualidad", 0x21, False),
    ("Los &quot;Hombres de Paco&quot;", 0x17, False), ("Über den Wolken", 0x14, False),
    ("Tom &amp; Jerry", 0x55, True), ("Pingüinos de Madagascar", 0x55, True), ("Pocoyó", 0x51, True),
    ("Los Lunnis", 0x51, True), ("Peppa Pig", 0x51, True), ("Bob Esponja", 0x55, True),
    ("Doraemon", 0x55, True), ("Los Fruitis", 0x51, True), ("Mirmo Zibang", 0x55, True),
]
EPISODES = [
    "La señal", "El regreso", "Señales de humo", "Una noche en la ópera", "¿Quién mató a Laura?",
    "Lo que el viento se llevó", "El último &quot;adiós&quot;", "Cien euros (100 €)", "Pájaros en la cabeza",
    "Año nuevo, vida nueva", "La boda", "Cuestión de confianza", "El viaje", "Tiempo muerto",
    "Niño &amp; niña", "Secretos de familia", "La mudanza", "Mañana será otro día", "El cumpleaños",
    "Fuera de juego", "Corazón de león", "Noche de difuntos", "El examen", "Días de vino y rosas",
    "La otra orilla", "Vuelta a empezar", "Paso a paso", "Cuenta atrás", "Verano azul",
    "El pingüino", "Müller contra Müller", "Crème brûlée",
]
FILMS = [  # (title, year, genre)
    ("El laberinto del fauno", 2006, 0x15), ("Mar adentro", 2004, 0x14), ("Todo sobre mi madre", 1999, 0x13),
    ("Volver", 2006, 0x13), ("Los otros", 2001, 0x15), ("Abre los ojos", 1997, 0x15), ("Tesis", 1996, 0x16),
    ("La lengua de las mariposas", 1999, 0x14), ("Ocho apellidos vascos", 2014, 0x17),
    ("Torrente, el brazo tonto de la ley", 1998, 0x17), ("Bienvenido, Míster Marshall", 1953, 0x17),
    ("El bueno, el feo y el malo", 1966, 0x11), ("Casablanca", 1942, 0x12), ("Amélie", 2001, 0x12),
    ("El hundimiento", 2004, 0x14), ("Días de fútbol", 2003, 0x17), ("Ágora", 2009, 0x14),
    ("Relatos salvajes", 2014, 0x16), ("&quot;Campeones&quot;", 2018, 0x17), ("Tú &amp; yo", 2011, 0x12),
    ("La niña de tus ojos", 1998, 0x17), ("El espíritu de la colmena", 1973, 0x14),
    ("Mujeres al borde de un ataque de nervios", 1988, 0x17), ("Lo imposible", 2012, 0x14),
    ("[REC]", 2007, 0x15), ("Celda 211", 2009, 0x16), ("El orfanato", 2007, 0x15), ("Intacto", 2001, 0x16),
    ("Los lunes al sol", 2002, 0x14), ("Átame", 1989, 0x12), ("El Niño", 2014, 0x16),
    ("Ladrón de bicicletas", 1948, 0x14), ("Lo que el viento se llevó", 1939, 0x12),
    ("Bienvenidos al Norte", 2008, 0x17), ("La caza", 1966, 0x14), ("El verdugo", 1963, 0x17),
    ("Solas", 1999, 0x13), ("Handia", 2017, 0x14), ("Así en la tierra como en el cielo", 1995, 0x17),
    ("El crack", 1981, 0x16), ("Tasio", 1984, 0x14), ("Pan negro", 2010, 0x14), ("El 7º día", 2004, 0x16),
    ("Un franco, 14 pesetas", 2006, 0x17), ("Cuerno de cabra", 1972, 0x1A), ("Señora de rojo sobre fondo gris", 2022, 0x1C),
]
SHOWS = [  # (title, genre)
    ("Saber y ganar", 0x72), ("Pasapalabra", 0x71), ("La ruleta de la suerte", 0x71),
    ("El hormiguero 3.0", 0x73), ("Zapeando", 0x73), ("Informe Semanal", 0x21), ("Corazón", 0x24),
    ("Precio justo: 1.000 €", 0x71), ("Masterchef España", 0x7A), ("Aquí la Tierra", 0x2A),
    ("Cómo nos reímos", 0x73), ("España directo", 0x22), ("La hora de La 1", 0x21), ("Más vale tarde", 0x21),
    ("Al rojo vivo", 0x21), ("&quot;Sálvame&quot; Diario", 0x74), ("Mañaneros", 0x22), ("Cifras &amp; Letras", 0x72),
]
NEWS = [("Noticias 24h", 0x06), ("Telenoticias", 0x06), ("Noticias Cuatro", 0x06), ("Avance informativo", 0x06),
        ("El tiempo", 0x2A), ("Deportes: resumen", 0x40)]
SPORTS = [("Fútbol: Real Madrid - F.C. Barcelona", 0x43), ("Fútbol: Atlético - Athletic", 0x43),
          ("Baloncesto: Liga Endesa", 0x44), ("Tenis: Roland Garros", 0x45), ("MotoGP: Gran Premio de España", 0x47),
          ("Ciclismo: La Vuelta", 0x48), ("Pádel World Tour", 0x4B), ("Golf: Open de España", 0x4C),
          ("Fórmula 1: Gran Premio de Mónaco", 0x47), ("Jara y sedal", 0x4A)]
DOCS = [("Grandes documentales", 0x81), ("La España salvaje", 0x82), ("Redes", 0x91), ("Planeta Tierra", 0x82),
        ("Cazadores de mitos", 0x94), ("Órbita Laika", 0x91), ("Arqueología: los íberos", 0x83),
        ("Documental: Ñandúes de la Pampa", 0x82)]
MUSIC = [("Conciertos de Radio 3", 0x61), ("Músicas del mundo", 0x62), ("Los 40: lo más", 0x63),
         ("Ópera: La traviata", 0x64), ("Jazz &amp; Blues", 0x65), ("Flamenco: Paco de Lucía", 0x66)]
OTHER = [("Teletienda", 0xA0), ("Programación especial", 0xB1), ("Cierre de emisión", 0xF0),
         ("Carta de ajuste", 0xF1), ("Lotería Nacional", 0xC3), ("Misa", 0xD2), ("Tiempo de Oración", 0xD2),
         ("Promociones &amp; avances", 0xE5)]

PROFILES = {
    "general": {"series": 3, "film": 2, "show": 3, "news": 1.5, "sports": 1, "docs": 1, "other": 0.5},
    "cine": {"film": 6, "series": 1, "other": 0.3},
    "series": {"series": 6, "film": 1, "show": 0.5, "other": 0.2},
    "deportes": {"sports": 6, "news": 1, "show": 0.5},
    "infantil": {"kids": 6, "film": 0.7},
    "docs": {"docs": 6, "series": 1, "other": 0.2},
    "musica": {"music": 6, "show": 1, "other": 0.3},
}
DURATIONS = {  # minutes, before scaling
    "series": (20, 65), "kids": (20, 30), "film": (85, 120), "show": (20, 90), "news": (20, 45),
    "sports": (45, 120), "docs": (25, 60), "music": (20, 60), "other": (20, 60),
}
TD1_START = 13 * 3600        # "Telediario 1" at 13:00 UTC
TD1_LEN = 55 * 60


def series_id_of(name):
    return zlib.crc32(name.encode()) % 65534 + 1


def xor15(b):
    return bytes(c ^ 0x15 for c in b)


class EpgWorld:
    """The synthetic week: schedules for every EPG service id."""

    def __init__(self, seed, origin, days, epg_ids, min_total=None, brief=None):
        self.brief = brief                  # (start second of the day, length) or None
        if min_total is None:
            min_total = 2500 * days             # >= 20,000 over the default 8 days
        self.seed = seed
        self.origin = origin
        self.days = days
        self.epg_ids = list(epg_ids)
        self.profiles = {}
        self.news = set()
        for sid in self.epg_ids:
            r = random.Random("%s:%d:profile" % (seed, sid))
            prof = r.choices(list(PROFILES), weights=[5, 1.2, 1.2, 1, 0.8, 0.8, 0.6])[0]
            if sid == 1:
                prof = "general"
            self.profiles[sid] = prof
            if sid == 1 or (prof == "general" and r.random() < 0.25):
                self.news.add(sid)
        scale = 1.0
        for _ in range(8):
            self._generate(scale)
            if self.count >= min_total or scale <= 0.5:
                break
            scale = max(0.5, scale * max(0.5, min(0.9, self.count / float(min_total) * 0.97)))
        self.scale = scale

    def _generate(self, scale):
        self.sched = {}                     # (sid, day) -> [prog]
        self.pids = set()
        pid_rng = random.Random("%s:pids" % self.seed)
        self._pid_rng = pid_rng
        self.count = 0
        for sid in self.epg_ids:
            state = {}
            for day in range(self.days):
                progs = self.gen_day(sid, day, scale, state, "%s:%d:%d" % (self.seed, sid, day))
                self.sched[(sid, day)] = progs
                self.count += len(progs)

    def new_pid(self):
        while True:
            p = self._pid_rng.randint(10000000, 99999999)
            if p not in self.pids:
                self.pids.add(p)
                return p

    def gen_day(self, sid, day, scale, state, rngkey):
        rng = random.Random(rngkey)
        prof = PROFILES[self.profiles[sid]]
        kinds, weights = list(prof), list(prof.values())
        if "series" not in state:
            r = random.Random("%s:%d:series" % (self.seed, sid))
            kidsonly = self.profiles[sid] == "infantil"
            pool = [s for s in SERIES if s[2] == kidsonly]
            state["series"] = r.sample(pool, min(len(pool), r.randint(3, 6)))
            state["kids"] = r.sample([s for s in SERIES if s[2]], 3)
            state["ep"] = {}
            state["age"] = {s[0]: r.choice([0, 1, 2, 3, 4, 5]) for s in SERIES}
            state["year"] = {s[0]: (r.randint(1995, 2023) if r.random() < 0.5 else 0) for s in SERIES}
        day0 = self.origin + day * 86400
        progs = []
        t = 0
        td1 = sid in self.news
        brief = self.brief
        while t < 86400:
            if brief and t == brief[0]:
                progs.append(self._prog(rng, sid, day0 + t, brief[1], "brief", state))
                t += brief[1]
                continue
            if td1 and t == TD1_START:
                progs.append(self._prog(rng, sid, day0 + t, TD1_LEN, "news_td1", state))
                t += TD1_LEN
                continue
            kind = rng.choices(kinds, weights=weights)[0]
            lo, hi = DURATIONS[kind]
            d = rng.randint(lo, hi)
            d = int(round(max(20, min(120, d * scale if kind != "film" else d * max(scale, 0.75)))))
            d *= 60
            end = t + d
            if td1 and t < TD1_START < end:
                end = TD1_START          # clipped before the news
            if brief and t < brief[0] < end:
                end = brief[0]
            end = min(end, 86400)        # last one clipped at midnight
            progs.append(self._prog(rng, sid, day0 + t, end - t, kind, state))
            t = end
        return progs

    def _prog(self, rng, sid, start, duration, kind, state):
        p = {"pid": self.new_pid(), "start": start, "duration": duration, "title": "", "series": "",
             "season": 0, "episode": 0, "year": 0, "genre": 0, "age": 0, "series_id": 0,
             "kind": kind, "episode_title": "", "service": sid}
        if kind in ("series", "kids"):
            name, genre, _ = rng.choice(state["series"] if kind == "series" else state["kids"])
            s, e = state["ep"].get(name, (rng.randint(1, 8), rng.randint(0, 10)))
            e += 1
            if e > 26:
                s, e = s + 1, 1
            state["ep"][name] = (s, e)
            ept = rng.choice(EPISODES)
            title = "%s T%d Ep. %d" % (name, s, e)
            if rng.random() < 0.8:
                title += " - " + ept
                p["episode_title"] = ept
            p.update(title=title, series=name, season=s, episode=e, series_id=series_id_of(name),
                     genre=genre, age=state["age"][name], year=state["year"][name])
            p["kind"] = "series"
        elif kind == "film":
            title, year, genre = rng.choice(FILMS)
            p.update(title=title, year=year, genre=(genre & 0xF0) | rng.choice([genre & 0x0F, rng.randint(0, 15)]),
                     age=rng.choice([0, 2, 3, 4, 5, 5, 6, 7]))
        elif kind == "news_td1":
            p.update(title="Telediario 1", genre=0x06, age=0, kind="news")
        elif kind == "brief":
            p.update(title="Avance informativo", genre=0x06, age=0, kind="news")
        else:
            pool = {"show": SHOWS, "news": NEWS, "sports": SPORTS, "docs": DOCS, "music": MUSIC,
                    "other": OTHER}[kind]
            title, genre = rng.choice(pool)
            p.update(title=title, genre=genre, age=rng.choice([0, 0, 1, 2, 3]))
        if rng.random() < 0.006:
            p["age"] = 11                   # seen in the wild (issue #27)
        assert len(p["title"].encode()) < 250 and len(p["series"].encode()) < 250
        return p

    @staticmethod
    def truth_entry(p):
        return {k: p[k] for k in ("pid", "start", "duration", "title", "series", "season", "episode",
                                  "year", "genre", "age", "series_id")}


def encode_record(p, rng):
    t = p["title"].encode("utf-8")
    s = p["series"].encode("utf-8")
    fixed = bytearray(32)
    struct.pack_into(">IIH", fixed, 0, p["pid"], p["start"], p["duration"])
    fixed[17] = 0x54
    fixed[20] = p["genre"] & 0xFF
    fixed[21] = 0x55
    fixed[24] = p["age"] & 0xFF
    fixed[31] = len(t)
    ext = bytearray(13)
    ext[0] = 0xF1
    struct.pack_into(">H", ext, 5, p["series_id"])
    ext[8] = p["episode"] & 0xFF
    struct.pack_into(">H", ext, 9, p["year"])
    ext[11] = p["season"] & 0xFF
    ext[12] = len(s)
    k = rng.randint(0, 3)
    tail = bytes(3) + bytes([k]) + bytes(rng.getrandbits(8) for _ in range(k))
    return bytes(fixed) + xor15(t) + bytes(ext) + xor15(s) + tail


def encode_blob(sid, version, progs, rng, truncate=False):
    """Returns (blob, index of the record cut or None)."""
    url = ("%d.imagenio.es" % sid).encode()
    recs = [encode_record(p, rng) for p in progs]
    cut = None
    if truncate and recs:
        last = recs[-1]
        recs[-1] = last[:rng.randint(1, len(last) - 1)]
        cut = len(recs) - 1
    body = b"".join(recs)
    size = 7 + len(url) + len(body) + 4
    if size > 0xFFFF:
        raise ValueError("EPG blob of service %d too large (%d)" % (sid, size))
    head = bytes([rng.getrandbits(8)]) + struct.pack(">HHBB", size, sid, version & 0xFF, len(url)) + url
    blob = head + body
    return blob + struct.pack(">I", zlib.crc32(blob)), cut


# ---- media ------------------------------------------------------------------

def _ts_pid(p):
    return ((p[1] & 0x1F) << 8) | p[2]


def _ts_payload_off(p):
    afc = (p[3] >> 4) & 3
    if not afc & 1:
        return None
    return 4 + (1 + p[4] if afc & 2 else 0)


def _ts_pcr(p):
    if (p[3] >> 4) & 2 and p[4] >= 7 and p[5] & 0x10:
        b = p[6:12]
        base = (b[0] << 25) | (b[1] << 17) | (b[2] << 9) | (b[3] << 1) | (b[4] >> 7)
        return base
    return None


def _ts_section(p):
    off = _ts_payload_off(p)
    if off is None or not p[1] & 0x40:
        return None, None
    ptr = p[off]
    start = off + 1 + ptr
    sl = ((p[start + 1] & 0x0F) << 8) | p[start + 2]
    return start, bytes(p[start:start + 3 + sl])


def ts_program_info(data):
    """(pmt_pid, pcr_pid, [(stream_type, pid)])."""
    pmt_pid = None
    for i in range(0, len(data), 188):
        p = data[i:i + 188]
        if _ts_pid(p) == 0:
            _, sec = _ts_section(p)
            if sec:
                sl = len(sec) - 3
                for j in range(8, 3 + sl - 4, 4):
                    prog = (sec[j] << 8) | sec[j + 1]
                    if prog:
                        pmt_pid = ((sec[j + 2] & 0x1F) << 8) | sec[j + 3]
                        break
                break
    for i in range(0, len(data), 188):
        p = data[i:i + 188]
        if _ts_pid(p) == pmt_pid:
            _, sec = _ts_section(p)
            if sec:
                pcr_pid = ((sec[8] & 0x1F) << 8) | sec[9]
                pil = ((sec[10] & 0x0F) << 8) | sec[11]
                j, end, streams = 12 + pil, len(sec) - 4, []
                while j < end:
                    eil = ((sec[j + 3] & 0x0F) << 8) | sec[j + 4]
                    streams.append((sec[j], ((sec[j + 1] & 0x1F) << 8) | sec[j + 2]))
                    j += 5 + eil
                return pmt_pid, pcr_pid, streams
    raise ValueError("no PAT/PMT in TS")


def ts_add_dvbsub(data, sub_pid=0x0130, lang=b"spa"):
    """Add a DVB subtitle stream (PMT entry + PES carrying a display set)."""
    pmt_pid, pcr_pid, streams = ts_program_info(data)
    if any(pid == sub_pid for _, pid in streams):
        raise ValueError("subtitle PID in use")
    out = bytearray(data)
    entry = (bytes([0x06, 0xE0 | (sub_pid >> 8), sub_pid & 0xFF, 0xF0, 10])
             + bytes([0x59, 8]) + lang + bytes([0x10, 0x00, 0x01, 0x00, 0x01]))
    nulls = 0
    for i in range(0, len(out), 188):
        p = out[i:i + 188]
        pid = _ts_pid(p)
        if pid == 0x1FFF:
            nulls += 1
        if pid == pmt_pid:
            start, sec = _ts_section(p)
            if sec is None:
                continue
            body = sec[:-4] + entry
            sl = len(body) + 4 - 3
            body = body[:1] + bytes([(body[1] & 0xF0) | (sl >> 8), sl & 0xFF]) + body[3:]
            body += struct.pack(">I", crc32_mpeg2(body))
            if start + len(body) > 188:
                raise ValueError("PMT does not fit one packet")
            p[start:188] = body + b"\xff" * (188 - start - len(body))
            out[i:i + 188] = p
    if not nulls:
        raise ValueError("no null packets to replace")
    # One display set every second: page composition (no regions, mode change)
    # followed by end_of_display_set.
    cc = 0
    next_pts = None
    version = 0
    pcr = None
    for i in range(0, len(out), 188):
        p = out[i:i + 188]
        pid = _ts_pid(p)
        if pid == pcr_pid:
            v = _ts_pcr(p)
            if v is not None:
                pcr = v
                if next_pts is None:
                    next_pts = pcr
        if pid != 0x1FFF or pcr is None or pcr < next_pts:
            continue
        pts = (pcr + 45000) & ((1 << 33) - 1)
        segs = (bytes([0x0F, 0x10, 0x00, 0x01, 0x00, 0x02, 0x05, (version << 4) | (2 << 2) | 3])
                + bytes([0x0F, 0x80, 0x00, 0x01, 0x00, 0x00]))
        version = (version + 1) & 0x0F
        es = bytes([0x20, 0x00]) + segs + b"\xff"
        ptsb = bytes([0x21 | ((pts >> 29) & 0x0E), (pts >> 22) & 0xFF, ((pts >> 14) & 0xFE) | 1,
                      (pts >> 7) & 0xFF, ((pts << 1) & 0xFE) | 1])
        pes = b"\x00\x00\x01\xbd" + struct.pack(">H", 3 + 5 + len(es)) + bytes([0x84, 0x80, 5]) + ptsb + es
        af_len = 184 - 1 - len(pes)
        pkt = (bytes([0x47, 0x40 | (sub_pid >> 8), sub_pid & 0xFF, 0x30 | cc, af_len, 0x00])
               + b"\xff" * (af_len - 1) + pes)
        assert len(pkt) == 188
        out[i:i + 188] = pkt
        cc = (cc + 1) & 0x0F
        next_pts += 90000
    return bytes(out)


def ts_scramble(data, seed):
    """transport_scrambling_control = 10 and random payload on every
    elementary-stream packet that has a payload (PAT, PMT and adaptation-only
    PCR packets stay clear)."""
    _, _, streams = ts_program_info(data)
    es = {pid for _, pid in streams}
    rng = random.Random("%s:scramble" % seed)
    out = bytearray(data)
    for i in range(0, len(out), 188):
        p = out[i:i + 188]
        if _ts_pid(p) not in es:
            continue
        off = _ts_payload_off(p)
        if off is None or off >= 188:
            continue
        p[3] = (p[3] & 0x3F) | 0x80
        p[off:188] = rng.randbytes(188 - off)
        out[i:i + 188] = p
    return bytes(out)


def _ffmpeg_ts(path, vcodec_args, pattern, seconds=8):
    tmp = "%s.tmp%d" % (path, os.getpid())
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", "%s=size=720x576:rate=25" % pattern,
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000",
           "-t", str(seconds), "-map", "0:v", "-map", "1:a", "-map", "2:a"] + vcodec_args + [
           "-g", "25", "-pix_fmt", "yuv420p",
           "-c:a", "mp2", "-b:a", "96k", "-ar", "48000",
           "-metadata:s:a:0", "language=spa", "-metadata:s:a:1", "language=eng",
           "-mpegts_service_id", "1", "-metadata", "service_provider=Movistar+",
           "-metadata", "service_name=fake", "-muxrate", "1000k", "-f", "mpegts", tmp]
    try:
        subprocess.run(cmd, check=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_write(path, data):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def have_libx264():
    try:
        r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
        return " libx264 " in r.stdout
    except OSError:
        return False


def make_media(media_dir, seed):
    """{kind: path}; kinds mpeg2, h264 (if libx264), mpeg2-sub, mpeg2-scrambled."""
    os.makedirs(media_dir, exist_ok=True)
    v = MEDIA_VERSION
    files = {}
    a = os.path.join(media_dir, "mpeg2-v%d.ts" % v)
    if not os.path.exists(a):
        log("generating %s" % a)
        _ffmpeg_ts(a, ["-c:v", "mpeg2video", "-b:v", "600k", "-maxrate", "600k", "-bufsize", "600k"], "testsrc")
    files["mpeg2"] = a
    if have_libx264():
        b = os.path.join(media_dir, "h264-v%d.ts" % v)
        if not os.path.exists(b):
            log("generating %s" % b)
            _ffmpeg_ts(b, ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-b:v", "600k",
                           "-maxrate", "600k", "-bufsize", "1200k"], "testsrc2")
        files["h264"] = b
    else:
        log("ffmpeg has no libx264: no h264 channels")
    c = os.path.join(media_dir, "mpeg2-sub-v%d.ts" % v)
    if not os.path.exists(c):
        log("generating %s" % c)
        with open(a, "rb") as f:
            _atomic_write(c, ts_add_dvbsub(f.read()))
    files["mpeg2-sub"] = c
    d = os.path.join(media_dir, "mpeg2-scrambled-v%d.ts" % v)
    if not os.path.exists(d):
        log("generating %s" % d)
        with open(a, "rb") as f:
            _atomic_write(d, ts_scramble(f.read(), "media"))
    files["mpeg2-scrambled"] = d
    for name, args in (("logo.jpg", ["-f", "lavfi", "-i", "testsrc=size=96x64", "-frames:v", "1"]),
                       ("cover.jpg", ["-f", "lavfi", "-i", "smptebars=size=96x142", "-frames:v", "1"])):
        pth = os.path.join(media_dir, name)
        if not os.path.exists(pth):
            tmp = "%s.tmp%d.jpg" % (pth, os.getpid())
            subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] + args + [tmp],
                           check=True)
            os.replace(tmp, pth)
        files[name] = pth
    return files


def tiny_png():
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + bytes([200, 30, 40]) * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ---- live channels on demand ------------------------------------------------

def read_igmp_groups(path="/proc/net/igmp"):
    groups = set()
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("\t\t"):
                    tok = line.split()
                    if tok and len(tok[0]) == 8:
                        try:
                            groups.add(socket.inet_ntoa(struct.pack("<I", int(tok[0], 16))))
                        except ValueError:
                            pass
    except OSError:
        pass
    return groups


def pdeathsig_wrap():
    """setpriv prefix that makes a child get SIGTERM when the thread that
    started it dies (so children never outlive a killed fake), or []."""
    if shutil.which("setpriv"):
        r = subprocess.run(["setpriv", "--help"], capture_output=True, text=True)
        if "--pdeathsig" in r.stdout:
            return ["setpriv", "--pdeathsig", "TERM", "--"]
    return []


class StreamManager(threading.Thread):
    def __init__(self, media_of_group, mcsend, iface, logdir):
        super().__init__(name="streams", daemon=True)
        self.media_of_group = media_of_group      # "239.0.0.5" -> path
        self.mcsend = mcsend
        self.iface = iface
        self.logdir = logdir
        self.halt = threading.Event()
        self.procs = {}                           # group -> Popen
        self.left = {}                            # group -> time it stopped being joined
        self.starts = {}
        self.lock = threading.Lock()
        self.wrap = pdeathsig_wrap()

    def _start(self, g):
        cmd = self.wrap + [self.mcsend, "--rtp-movistar", "--iface", self.iface, self.media_of_group[g],
                           "%s:%d" % (g, CHANNEL_PORT)]
        lf = open(os.path.join(self.logdir, "mcsend-%s.log" % g), "ab")
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        except OSError as e:
            log("cannot start mcsend: %s" % e)
            return
        finally:
            lf.close()
        self.procs[g] = p
        self.starts[g] = self.starts.get(g, 0) + 1
        log("stream %s:%d on (%s)" % (g, CHANNEL_PORT, os.path.basename(self.media_of_group[g])))

    def _stop_group(self, g):
        p = self.procs.pop(g)
        self.left.pop(g, None)
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log("stream %s:%d off" % (g, CHANNEL_PORT))

    def run(self):
        while not self.halt.wait(0.1):
            joined = read_igmp_groups()
            now = time.monotonic()
            with self.lock:
                for g in joined:
                    if g in self.media_of_group:
                        self.left.pop(g, None)
                        p = self.procs.get(g)
                        if p is not None and p.poll() is not None:
                            log("mcsend for %s exited (%s), restarting" % (g, p.returncode))
                            self.procs.pop(g)
                            p = None
                        if p is None:
                            self._start(g)
                for g in list(self.procs):
                    if g not in joined:
                        t = self.left.setdefault(g, now)
                        if now - t >= 1.0:
                            self._stop_group(g)

    def shutdown(self):
        self.halt.set()
        self.join(2)
        with self.lock:
            for g in list(self.procs):
                self._stop_group(g)

    def stats(self):
        with self.lock:
            return {g: {"starts": n, "running": g in self.procs} for g, n in self.starts.items()}


# ---- appserver --------------------------------------------------------------

GENRES = [  # (nibble, name, [subgenre names for low nibbles 1..])
    (0x0, "Cultura", ["Arte", "Tradiciones", "Revistas culturales", "Bellas artes", "Moda", "Informativos",
                      "Artes esc&eacute;nicas"]),
    (0x1, "Cine", ["Acci&oacute;n y aventuras", "Rom&aacute;ntica", "Drama", "Hist&oacute;rica",
                   "Ciencia ficci&oacute;n", "Intriga &amp; suspense", "Comedia", "Cl&aacute;sicos"]),
    (0x2, "Actualidad", ["Informativos", "Reportajes", "Debates", "Entrevistas", "Sociedad"]),
    (0x3, "Series", ["Drama", "Comedia", "Polic&iacute;aca", "Animaci&oacute;n", "Juvenil", "Sitcom",
                     "Miniserie"]),
    (0x4, "Deportes", ["F&uacute;tbol", "Baloncesto", "Tenis", "Motor", "Motociclismo", "Ciclismo",
                       "Atletismo", "Golf"]),
    (0x5, "Infantil", ["Preescolar", "Dibujos animados", "Juvenil", "Educativo", "Animaci&oacute;n"]),
    (0x6, "M&uacute;sica", ["Pop &amp; rock", "M&uacute;sica del mundo", "Listas", "&Oacute;pera",
                            "Jazz", "Flamenco"]),
    (0x7, "Entretenimiento", ["Concursos", "Juegos", "Magac&iacute;n", "Coraz&oacute;n", "Humor"]),
    (0x8, "Documentales", ["Naturaleza", "Viajes", "Historia", "Ciencia", "Sociedad"]),
    (0x9, "Ciencia y educaci&oacute;n", ["Divulgaci&oacute;n", "Tecnolog&iacute;a", "Medicina",
                                         "Misterios"]),
]
THEMES = {0x0: "Programas", 0x1: "Cine", 0x2: "Programas", 0x3: "Series", 0x4: "Deportes", 0x5: "Infantil",
          0x6: "M&uacute;sica", 0x7: "Programas", 0x8: "Documentales", 0x9: "Documentales"}
PEOPLE = ["Pedro Almod&oacute;var", "Alejandro Amen&aacute;bar", "Pen&eacute;lope Cruz", "Javier Bardem",
          "Carmen Maura", "Antonio Banderas", "Luis Tosar", "Bel&eacute;n Rueda", "Ricardo Dar&iacute;n",
          "Icíar Bollaín", "Fernando Trueba", "Elena Anaya", "José Coronado", "Inma Cuesta",
          "Jos&eacute; Sacrist&aacute;n", "Maribel Verd&uacute;", "Daniel Br&uuml;hl", "Ana Bel&eacute;n",
          "Mario Casas", "&Aacute;lex de la Iglesia"]


def entities(s):
    """Non-ASCII letters as named HTML entities, the way the real API does."""
    out = []
    for ch in s:
        n = html.entities.codepoint2name.get(ord(ch)) if ord(ch) > 127 else None
        out.append("&%s;" % n if n else ch)
    return "".join(out)


class AppServer:
    def __init__(self, world, args, channels, svc_by_id, epg_of_channel, packages, entry, media, cloud):
        self.world = world
        self.args = args
        self.channels = channels
        self.svc_by_id = svc_by_id
        self.epg_of_channel = epg_of_channel
        self.packages = packages
        self.entry = entry
        self.media = media
        self.cloud = cloud                      # list of prog dicts (cloud recordings)
        self.index = {}                         # pid -> prog
        for progs in world.sched.values():
            for p in progs:
                self.index[p["pid"]] = p
        for p in cloud:
            self.index[p["pid"]] = p
        self.lock = threading.Lock()
        self.counts = {}
        self.total = 0
        self.with_cookie = 0
        self.failed = 0
        self.inflight = 0
        self.peak = 0
        self.images = 0
        self.not_found = 0
        self.fail_left = args.appserver_fail
        self.sessions = set()
        self.base = None                        # http://127.0.0.1:PORT
        self.portal = None                      # advertised endpoints (--hostnames: portalnc...)
        self.static = None                      # advertised image host (--hostnames: html5-static...)
        self.png = tiny_png()
        self.jpg = {}
        for k in ("logo.jpg", "cover.jpg"):
            if media.get(k):
                with open(media[k], "rb") as f:
                    self.jpg[k] = f.read()
        self.rtsp_port = args.rtsp_port or 554    # the RTSP server's real port once it listens
        self.tokens = collections.OrderedDict()  # token of a catchup URL -> (channel, pid)

    def check_token(self, token, ch, pid):
        with self.lock:
            return self.tokens.get(token) == (ch, pid)

    def add_progs(self, progs):
        with self.lock:
            for p in progs:
                self.index[p["pid"]] = p

    # -- actions --

    def a_getClientProfile(self, q):
        return {
            "demarcation": self.args.demarcation,
            "tvPackages": "|".join(self.packages),
            "tvWholesaler": 1,
            "clientSegment": "RESIDENCIAL",
            "commercialOffer": "Fusi&oacute;n Selecci&oacute;n Plus",
            "tvCustomerId": "TV%010d" % (self.args.seed * 7919 % 10 ** 10),
            "tvServices": "IPTV|U7D|NPVR",
            "maxParentalRating": 18,
            "hasNPVR": True,
            "regionName": entities("Región %d" % self.args.demarcation),
        }

    def a_getPlatformProfile(self, q):
        return {
            "dvbConfig": {"dvbipiEntryPoint": self.entry, "dvbServiceProvider": "imagenio.es",
                          "epgDays": self.args.days},
            "RES_BASE_URI": self.static + "/appclient/",
            "endPoints": {"epNoCach1": self.portal, "epNoCach2": self.portal, "epNoCach4": self.portal,
                          "epNoCach5": self.portal, "epNoCach6": self.portal},
            "platformVersion": "4.2.1",
            "heartbeatPeriod": 300,
        }

    def a_getConfigurationParams(self, q):
        return {
            "tvChannelLogoPath": "incoming/epg/channelLogo/",
            "tvCoversPath": "incoming/covers/programmeImages/",
            "portraitSubPath": "portrait/",
            "landscapeSubPath": "landscape/",
            "bigSubpath": "big/",
            "mediumSubpath": "medium/",
            "smallSubpath": "small/",
            "tvEpgDays": self.args.days,
            "catchupDays": 7,
        }

    def a_getEpgSubGenres(self, q):
        out = []
        for hi, name, subs in GENRES:
            gid = "0" if hi == 0 else "%X0" % hi
            out.append({"id": gid, "name": name, "subgenres": [
                {"id": ("%X" % lo) if hi == 0 else "%X%X" % (hi, lo), "name": sn}
                for lo, sn in enumerate(subs, start=1)]})
        return out

    def _prog(self, q, key):
        try:
            pid = int(q.get(key, ""))
        except ValueError:
            return None, "Missing TV program ID parameter"
        with self.lock:
            p = self.index.get(pid)
        return p, (None if p else "No se ha encontrado el contenido %d" % pid)

    def _channel_name(self, q, p):
        try:
            ch = int(q.get("channelID", ""))
        except ValueError:
            ch = p.get("channel", p["service"])
        s = self.svc_by_id.get(ch) or self.svc_by_id.get(p["service"])
        return ch, (s["name"] if s else str(ch))

    def a_epgInfov2(self, q):
        p, err = self._prog(q, "productID")
        if not p:
            raise AppError(err)
        ch, _ = self._channel_name(q, p)
        r = random.Random("%s:info:%d" % (self.args.seed, p["pid"]))
        hi = p["genre"] >> 4
        theme = THEMES.get(hi, "Otros")
        genre_names = dict((g[0], g[1]) for g in GENRES)
        sub = dict((g[0], g[2]) for g in GENRES).get(hi, [])
        label = sub[(p["genre"] & 0xF) % len(sub)] if sub else "Otros"
        if p["kind"] == "series":
            theme = "Series"
        pid = p["pid"]
        title = p["title"]
        desc = entities("%s. Emisión del %s." % (html.unescape(title),
                                                  time.strftime("%d/%m/%Y", time.gmtime(p["start"]))))
        if p["kind"] == "series":
            desc = entities("Temporada %d, episodio %d de «%s». " % (p["season"], p["episode"],
                                                                       html.unescape(p["series"]))) + desc
        if r.random() < 0.3:
            desc += " El llamado &quot;caso %s&quot; vuelve &amp; sorprende." % r.choice(["Alcasser", "Nani", "Urquijo"])
        data = {
            "productID": pid,
            "beginTime": p["start"] * 1000,
            "endTime": (p["start"] + p["duration"]) * 1000,
            "expDate": (p["start"] + 7 * 86400) * 1000,
            "duration": p["duration"],
            "serviceUID": ch,
            "name": title,
            "seriesName": p["series"],
            "originalTitle": entities(html.unescape(p["episode_title"] or title))
            if p["kind"] != "film" else r.choice(["Pan's Labyrinth", "The Others", "Open Your Eyes",
                                                   "All About My Mother", "Wild Tales", "The Orphanage"]),
            "episodeName": p["episode_title"],
            "description": desc,
            "synopsis": entities(html.unescape(title))[:60],
            "theme": theme,
            "genre": "Series" if p["kind"] == "series" else genre_names.get(hi, "Otros"),
            "labelGenre": label,
            "productionDate": p["year"] or int(time.strftime("%Y", time.gmtime(p["start"]))),
            "directors": r.sample(PEOPLE, r.randint(1, 2)),
            "mainActors": r.sample(PEOPLE, r.randint(2, 5)),
            "producer": r.sample(PEOPLE, 1),
            "ageRatingID": p["age"],
            "cover": "%s/%d.jpg" % (str(pid)[:4], pid),
            "covers": {"fanart": "%s/appclient/incoming/covers/programmeImages/landscape/big/%s/%d.jpg"
                                 % (self.static, str(pid)[:4], pid)},
            "season": p["season"],
            "episode": p["episode"],
            "seriesID": p["series_id"],
            "isHdtv": bool(self.svc_by_id.get(ch, {}).get("hd")),
        }
        return data

    def _vod(self, q, p, cloud):
        ch, cname = self._channel_name(q, p)
        token = secrets.token_hex(8)
        with self.lock:
            self.tokens[token] = (ch, p["pid"])
            while len(self.tokens) > 100000:
                self.tokens.popitem(last=False)
        url = "rtsp://127.0.0.1:%d/%d/%d?begin=%d&duration=%d&type=%s&token=%s" % (
            self.rtsp_port, ch, p["pid"], p["start"], p["duration"], "npvr" if cloud else "u7d", token)
        return {
            "url": url,
            "duration": p["duration"],
            "beginTime": p["start"] * 1000,
            "endTime": (p["start"] + p["duration"]) * 1000,
            "channelName": cname,
            "name": p["title"],
            "isHdtv": bool(self.svc_by_id.get(ch, {}).get("hd")),
            "ageRatingID": p["age"],
            "theme": "Series" if p["kind"] == "series" else THEMES.get(p["genre"] >> 4, "Otros"),
            "seriesID": p["series_id"],
            "seriesName": p["series"],
            "season": p["season"],
            "episode": p["episode"],
        }

    def a_getCatchUpUrl(self, q):
        p, err = self._prog(q, "extInfoID")
        if not p:
            raise AppError(err)
        if p["start"] > time.time():
            raise AppError("Contenido no disponible todav&iacute;a")
        if p["start"] + p["duration"] < time.time() - 7 * 86400 and not p.get("cloud"):
            raise AppError("Contenido caducado")
        return self._vod(q, p, False)

    def a_getRecordingData(self, q):
        p, err = self._prog(q, "extInfoID")
        if not p:
            raise AppError(err)
        if not p.get("cloud"):
            raise AppError("No existe la grabaci&oacute;n")
        return self._vod(q, p, True)

    def a_recordingList(self, q):
        res = [{"serviceUID": p["channel"], "productID": p["pid"], "beginTime": p["start"] * 1000,
                "endTime": (p["start"] + p["duration"]) * 1000, "name": p["title"], "state": 2,
                "recordingId": 900000 + i} for i, p in enumerate(self.cloud)]
        return {"result": res, "totalItems": len(res)}

    def handle(self, action, q):
        fn = getattr(self, "a_" + action, None) if action else None
        if fn is None:
            return {"resultCode": -1, "resultText": "Acci&oacute;n desconocida: %s" % html.escape(action or ""),
                    "resultData": None}
        try:
            return {"resultCode": 0, "resultText": "", "resultData": fn(q)}
        except AppError as e:
            return {"resultCode": -1, "resultText": str(e), "resultData": None}

    def stats(self):
        with self.lock:
            return {"requests": dict(self.counts), "total": self.total, "with_cookie": self.with_cookie,
                    "failed_500": self.failed, "inflight": self.inflight, "inflight_peak": self.peak,
                    "images": self.images, "not_found": self.not_found}


class AppError(Exception):
    pass


def make_handler(app, extra_stats, set_knobs=None):
    class Handler(fakehttp.FakeHandler):
        # One write per response, as Tomcat does: headers and body in two
        # small writes meet Nagle and the client's delayed ACK on a reused
        # connection and arrive 40 ms apart.
        wbufsize = 1 << 16

        def version_string(self):
            return "Apache-Coyote/1.1"

        def log_message(self, fmt, *a):
            if app.args.verbose:
                log("http: " + fmt % a)

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_GET(self, head=False):
            u = urllib.parse.urlsplit(self.path)
            path = u.path
            if path == "/appserver/mvtv.do":
                return self.appserver(u, head)
            if path == "/fake/stats":
                st = app.stats()
                st.update(extra_stats())
                return self._send(200, json.dumps(st).encode(), "application/json", head=head)
            if path == "/fake/set" and set_knobs is not None:
                try:
                    knobs = set_knobs({k.replace("-", "_"): v[0] for k, v in
                                       urllib.parse.parse_qs(u.query, keep_blank_values=True).items()})
                except ValueError as e:
                    return self._send(400, (str(e) + "\n").encode(), "text/plain", head=head)
                return self._send(200, json.dumps(knobs).encode(), "application/json", head=head)
            for pre in ("/appclient/incoming/epg/channelLogo/", "/appclient/incoming/covers/programmeImages/"):
                if path.startswith(pre) and len(path) > len(pre) and not path.endswith("/"):
                    with app.lock:
                        app.images += 1
                    low = path.lower()
                    key = "logo.jpg" if "channelLogo" in pre else "cover.jpg"
                    if low.endswith(".png") or key not in app.jpg:
                        return self._send(200, app.png, "image/png", head=head)
                    return self._send(200, app.jpg[key], "image/jpeg", head=head)
            with app.lock:
                app.not_found += 1
            self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html", head=head)

        def appserver(self, u, head):
            q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
            action = q.get("action", "")
            cookie = self.headers.get("Cookie", "") or ""
            m = re.search(r"JSESSIONID=([^;\s]+)", cookie)
            with app.lock:
                app.inflight += 1
                app.peak = max(app.peak, app.inflight)
                app.total += 1
                app.counts[action] = app.counts.get(action, 0) + 1
                known = bool(m and m.group(1) in app.sessions)
                if known:
                    app.with_cookie += 1
                fail = app.fail_left > 0
                if fail:
                    app.fail_left -= 1
                    app.failed += 1
            try:
                hdrs = []
                if not known:
                    sid = "%s-node1" % secrets.token_hex(16).upper()
                    with app.lock:
                        app.sessions.add(sid)
                    hdrs.append(("Set-Cookie", "JSESSIONID=%s; Path=/appserver; HttpOnly" % sid))
                if app.args.appserver_delay_ms:
                    time.sleep(app.args.appserver_delay_ms / 1000.0)
                if fail:
                    body = (b"<html><head><title>Apache Tomcat - Error report</title></head><body>"
                            b"<h1>HTTP Status 500 - </h1></body></html>")
                    return self._send(500, body, "text/html;charset=utf-8", hdrs, head)
                res = app.handle(action, q)
                body = json.dumps(res, ensure_ascii=False).encode("utf-8")
                self._send(200, body, "application/json;charset=UTF-8", hdrs, head)
            finally:
                with app.lock:
                    app.inflight -= 1

    return Handler


class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


# ---- IPTV DNS (172.26.23.3 on the real network) ------------------------------

DNS_SUFFIX = ".imagenio.telefonica.net"
PORTAL_HOST = "portalnc.imagenio.telefonica.net"
STATIC_HOST = "html5-static.svc.imagenio.telefonica.net"


def dns_parse_query(pkt):
    """(id, flags, qname, qtype, qclass, end of question) of a standard
    one-question query, or None for anything else."""
    if len(pkt) < 12:
        return None
    qid, flags, qdcount = struct.unpack(">HHH", pkt[:6])
    if flags & 0x8000 or (flags >> 11) & 0xF or qdcount != 1:   # a response, not QUERY, or not 1 question
        return None
    labels = []
    off = 12
    while True:
        if off >= len(pkt):
            return None
        n = pkt[off]
        off += 1
        if n == 0:
            break
        if n & 0xC0 or off + n > len(pkt) or off - 12 + n > 254:   # pointer / bad label / name too long
            return None
        labels.append(pkt[off:off + n])
        off += n
    if off + 4 > len(pkt):
        return None
    qtype, qclass = struct.unpack(">HH", pkt[off:off + 4])
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        return None
    return qid, flags, name, qtype, qclass, off + 4


def dns_answer(pkt, q):
    """Reply to a parsed query: A/IN for *.imagenio.telefonica.net -> 127.0.0.1,
    other types for those names -> no answers, other names -> NXDOMAIN."""
    qid, flags, name, qtype, qclass, end = q
    ours = name.endswith(DNS_SUFFIX)
    rcode = 0 if ours else 3
    answers = b""
    if ours and qtype == 1 and qclass == 1:
        answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton("127.0.0.1")
    rflags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode              # QR, RD copied, RA
    return (struct.pack(">HHHHHH", qid, rflags, 1, 1 if answers else 0, 0, 0)
            + pkt[12:end] + answers)


class DnsServer(threading.Thread):
    def __init__(self, port, fail_first=0):
        super().__init__(name="dns", daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.fail_left = fail_first
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.counts = {}
        self.dropped = 0

    def run(self):
        while not self.halt.is_set():
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                if self.halt.is_set():
                    return
                continue
            try:
                q = dns_parse_query(pkt)
                if q is None:
                    continue
                with self.lock:
                    self.counts[q[2]] = self.counts.get(q[2], 0) + 1
                    drop = self.fail_left > 0
                    if drop:
                        self.fail_left -= 1
                        self.dropped += 1
                if not drop:
                    self.sock.sendto(dns_answer(pkt, q), peer)
            except Exception as e:          # never let one datagram stop the server
                log("dns: %r" % e)

    def stop(self):
        self.halt.set()
        try:
            self.sock.sendto(b"", ("127.0.0.1", self.port))     # wake recvfrom
        except OSError:
            pass
        self.join(2)
        self.sock.close()

    def stats(self):
        with self.lock:
            return dict(self.counts), self.dropped


# ---- U7D catchup: RTSP server -------------------------------------------------
#
# movistar-u7d.md 4.3-4.6: the URL from getCatchUpUrl / getRecordingData
# (rtsp://127.0.0.1:PORT/<channel>/<pid>?begin=..&duration=..&type=..&token=..)
# is negotiated with SETUP (Transport MP2T/H2221/UDP;unicast;client_port=P),
# PLAY (Range npt=OFFSET-end), GET_PARAMETER every 30 s and TEARDOWN; the
# programme goes to the requester's address, port P, as raw 1316-byte TS
# datagrams (mcsend --raw, with SGMARK markers so a test can tell which
# programme and position it receives).  Sending stops at the programme end;
# the session lives on until TEARDOWN or expiry (no request carrying it for
# the session timeout).  Closing the TCP connection ends nothing.

RTSP_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 451: "Parameter Not Understood",
    453: "Not Enough Bandwidth", 454: "Session Not Found", 455: "Method Not Valid in This State",
    457: "Invalid Range", 459: "Aggregate Operation Not Allowed", 461: "Unsupported Transport",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}
RTSP_METHODS = ("OPTIONS", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN")
RTSP_KNOBS = {  # argparse dest (= /fake/set name) -> parser of a /fake/set value
    "rtsp_session_timeout": float, "rtsp_setup_delay_ms": int, "rtsp_fail": int, "rtsp_play_fail": int,
    "rtsp_stop_after": lambda v: None if v.lower() in ("", "off", "none") else float(v),
    "rtsp_garbage": lambda v: v.lower() not in ("", "0", "false", "off", "no"),
    "rtsp_rate": float,
}
RTSP_HEAD_MAX = 65536
RTSP_HISTORY = 200
RTSP_GARBAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n\r\n"
                b"<html>\x00\xff\xfe garbage \x01\x02</html>")


def rtsp_read_request(sock, buf):
    """(request, rest of buf): request = (method, url, version, headers
    {lower name: value}, body), None at EOF, or "too big"."""
    while True:
        buf = buf.lstrip(b"\r\n")               # stray CRLFs between requests
        m = re.search(b"\r?\n\r?\n", buf)
        if m:
            head = buf[:m.start()].decode("utf-8", "replace")
            rest = buf[m.end():]
            lines = head.split("\n")
            hdrs = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            try:
                clen = max(0, int(hdrs.get("content-length", "0")))
            except ValueError:
                clen = 0
            while len(rest) < clen:
                d = sock.recv(65536)
                if not d:
                    return None, b""
                rest += d
            parts = lines[0].strip().split()
            method, url, version = (parts + ["", "", ""])[:3] if len(parts) <= 3 else ("", "", "")
            return (method, url, version, hdrs, rest[:clen]), rest[clen:]
        if len(buf) > RTSP_HEAD_MAX:
            return "too big", b""
        d = sock.recv(65536)
        if not d:
            return None, b""
        buf += d


def rtsp_reply(code, cseq, headers=(), body=b"", ctype=None):
    lines = ["RTSP/1.0 %d %s" % (code, RTSP_REASONS.get(code, "Error"))]
    if cseq is not None:
        lines.append("CSeq: %s" % cseq)
    lines.append("Server: fake-u7d")
    lines.extend("%s: %s" % kv for kv in headers)
    if body:
        if ctype:
            lines.append("Content-Type: %s" % ctype)
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


class RtspSession:
    def __init__(self, sid, ch, prog, peer, client_port, timeout, user_agent):
        self.id = sid
        self.prog = prog
        self.peer = peer
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.proc = None
        self.gen = 0                            # bumped whenever the stream is (re)started or stopped
        self.played_at = None                   # monotonic time of the last PLAY
        self.info = {"id": sid, "channel": ch, "pid": prog["pid"], "offset": None,
                     "client_port": client_port, "scale": None, "play_now": False, "no_flush": False,
                     "keepalives": 0, "user_agent": user_agent, "state": "ready",
                     "duration": prog["duration"], "peer": peer, "created": round(time.time(), 3)}


class RtspHandler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        buf = b""
        peer = self.client_address[0]
        try:
            while True:
                req, buf = rtsp_read_request(self.request, buf)
                if req is None:
                    return
                if req == "too big":
                    self.request.sendall(rtsp_reply(400, None))
                    return
                out, close, after = srv.respond(req, peer)
                if out:
                    self.request.sendall(out)
                if after:
                    after()
                if close:
                    return
        except OSError:
            pass


class RtspServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, app, media_of_channel, default_media, mcsend, logdir, args):
        super().__init__(("127.0.0.1", port), RtspHandler)
        self.port = self.server_address[1]
        self.app = app
        self.media_of_channel = media_of_channel      # channel id -> clear TS file
        self.default_media = default_media
        self.mcsend = mcsend
        self.logfile = os.path.join(logdir, "mcsend-rtsp.log")
        self.verbose = args.verbose
        self.knobs = {k: getattr(args, k) for k in RTSP_KNOBS}
        self.lock = threading.Lock()
        self.sessions = {}                            # id -> RtspSession
        self.history = collections.deque(maxlen=RTSP_HISTORY)
        self.methods = {}
        self.expired = 0
        self.teardowns = 0
        self.starts = queue.Queue()                   # sessions whose mcsend is due
        self.halt = threading.Event()
        self.wrap = pdeathsig_wrap()
        # mcsend children are started by this long-lived thread: with
        # setpriv --pdeathsig a child dies with the thread that started it,
        # and a connection's thread ends when the client hangs up.
        self.worker = threading.Thread(target=self._work, name="rtsp-procs", daemon=True)

    def start(self):
        threading.Thread(target=self.serve_forever, name="rtsp", daemon=True).start()
        self.worker.start()

    def stop(self):
        self.halt.set()
        self.shutdown()
        self.server_close()
        self.worker.join(2)
        with self.lock:
            procs = [s.proc for s in self.sessions.values() if s.proc]
            for s in self.sessions.values():
                s.proc = None
        self._kill(*procs)

    # -- knobs --

    def set_knobs(self, q):
        """GET /fake/set?rtsp_fail=454&...: change knobs during a run
        (names as in RTSP_KNOBS; ValueError for anything else)."""
        new = {}
        for k, v in q.items():
            if k not in RTSP_KNOBS:
                raise ValueError("unknown knob %s" % k)
            try:
                new[k] = RTSP_KNOBS[k](v)
            except ValueError:
                raise ValueError("bad value for %s: %r" % (k, v))
        with self.lock:
            self.knobs.update(new)
            return dict(self.knobs)

    # -- children --

    def _kill(self, *procs):
        """SIGTERM to all, then reap each (SIGKILL after 3 s)."""
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def _spawn(self, s):
        """With self.lock held."""
        off = s.info["offset"]
        dur = s.prog["duration"]
        media = (self.media_of_channel.get(s.info["channel"])
                 or self.media_of_channel.get(s.prog.get("channel", s.prog["service"]))
                 or self.default_media)
        cmd = self.wrap + [self.mcsend, "--raw", "--marker", "pid=%d ch=%d" % (s.prog["pid"], s.info["channel"]),
                           "--marker-start", str(int(off)), "--duration", "%.3f" % max(0.001, dur - off)]
        if self.knobs["rtsp_stop_after"] is not None:
            cmd += ["--stop-after", "%g" % self.knobs["rtsp_stop_after"]]
        if self.knobs["rtsp_rate"]:
            # faster than real time, yet the programme's length and a stop
            # stay in the media's own seconds
            cmd += ["--rate", "%g" % self.knobs["rtsp_rate"], "--media-time"]
        cmd += [media, "%s:%d" % (s.peer, s.info["client_port"])]
        lf = open(self.logfile, "ab")
        try:
            s.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
            s.info["state"] = "playing"
        except OSError as e:
            log("rtsp: cannot start mcsend: %s" % e)
            s.info["state"] = "failed"
        finally:
            lf.close()

    def _work(self):
        while not self.halt.is_set():
            try:
                s, gen = self.starts.get(timeout=0.1)
            except queue.Empty:
                s = None
            dead = []
            with self.lock:
                if s is not None and self.sessions.get(s.id) is s and s.gen == gen and not self.halt.is_set():
                    self._spawn(s)
                now = time.monotonic()
                for sid, x in list(self.sessions.items()):
                    if x.proc is not None and x.proc.poll() is not None and x.info["state"] == "playing":
                        x.info["state"] = "ended" if x.proc.returncode == 0 else "failed"
                        log("rtsp session %s: mcsend exited (%s), session stays open"
                            % (sid, x.proc.returncode))
                    if now >= x.deadline:
                        del self.sessions[sid]
                        self.expired += 1
                        x.info["state"] = "expired"
                        if x.proc is not None:
                            dead.append(x.proc)
                            x.proc = None
                        log("rtsp session %s expired (no request for %g s)" % (sid, x.timeout))
            self._kill(*dead)

    # -- protocol --

    def _target(self, url):
        """(channel, programme, None) or (None, None, error code)."""
        u = urllib.parse.urlsplit(url)
        if u.scheme.lower() not in ("rtsp", "") or not u.path.startswith("/"):
            return None, None, 404
        parts = u.path.strip("/").split("/")
        if len(parts) != 2 or not all(x.isdigit() for x in parts):
            return None, None, 404
        ch, pid = int(parts[0]), int(parts[1])
        with self.app.lock:
            prog = self.app.index.get(pid)
        if prog is None:
            return None, None, 404
        q = urllib.parse.parse_qs(u.query)
        if not self.app.check_token(q.get("token", [""])[0], ch, pid):
            return None, None, 401
        return ch, prog, None

    def respond(self, req, peer):
        """(reply bytes, close the connection, function to call after sending)."""
        method, url, version, hdrs, body = req
        with self.lock:
            self.methods[method] = self.methods.get(method, 0) + 1
            knobs = dict(self.knobs)
            sid = hdrs.get("session", "").split(";")[0].strip()
            sess = self.sessions.get(sid) if sid else None
            if sess is not None:
                sess.deadline = time.monotonic() + sess.timeout
        if self.verbose:
            log("rtsp: %s %s %s" % (peer, method, url))
        cseq = hdrs.get("cseq")
        if cseq is None:
            return rtsp_reply(400, None), False, None
        if not version.startswith("RTSP/1."):
            return rtsp_reply(505, cseq), False, None
        if method not in RTSP_METHODS:
            return rtsp_reply(501, cseq), False, None
        if method == "OPTIONS":
            return rtsp_reply(200, cseq, [("Public", ", ".join(RTSP_METHODS))]), False, None
        ch, prog, err = self._target(url)
        if err:
            return rtsp_reply(err, cseq), False, None
        if method == "SETUP":
            return self._setup(cseq, hdrs, ch, prog, peer, knobs)
        if sess is None:
            return rtsp_reply(454, cseq), False, None
        sh = [("Session", sess.id)]
        if method == "PLAY":
            return self._play(cseq, hdrs, sess, knobs)
        if method == "GET_PARAMETER":
            with self.lock:
                sess.info["keepalives"] += 1
                pos = sess.info["offset"] or 0.0
                if sess.played_at is not None and sess.info["state"] in ("playing", "ended"):
                    pos = min(sess.prog["duration"], pos + time.monotonic() - sess.played_at)
            if b"position" in body:
                return rtsp_reply(200, cseq, sh, b"position: %.3f\r\n" % pos, "text/parameters"), False, None
            return rtsp_reply(200, cseq, sh), False, None
        # TEARDOWN
        with self.lock:
            proc = sess.proc
            sess.proc = None
            sess.gen += 1
            if self.sessions.pop(sess.id, None) is not None:
                self.teardowns += 1
            sess.info["state"] = "torn_down"
        if proc is not None:
            self._kill(proc)
        log("rtsp session %s: TEARDOWN" % sess.id)
        return rtsp_reply(200, cseq, sh), False, None

    def _setup(self, cseq, hdrs, ch, prog, peer, knobs):
        if knobs["rtsp_setup_delay_ms"]:
            time.sleep(knobs["rtsp_setup_delay_ms"] / 1000.0)
        if knobs["rtsp_garbage"]:
            return RTSP_GARBAGE, True, None
        if knobs["rtsp_fail"]:
            return rtsp_reply(knobs["rtsp_fail"], cseq), False, None
        tr = [x.strip() for x in hdrs.get("transport", "").split(";")]
        m = next((re.fullmatch(r"client_port=(\d+)(?:-\d+)?", x) for x in tr if x.startswith("client_port=")),
                 None)
        port = int(m.group(1)) if m else 0
        if not tr or tr[0].upper() != "MP2T/H2221/UDP" or "unicast" not in tr or not 0 < port < 65536:
            return rtsp_reply(461, cseq), False, None
        timeout = knobs["rtsp_session_timeout"]
        with self.lock:
            sid = str(secrets.randbelow(9 * 10 ** 9) + 10 ** 9)
            while sid in self.sessions:
                sid = str(secrets.randbelow(9 * 10 ** 9) + 10 ** 9)
            s = RtspSession(sid, ch, prog, peer, port, timeout, hdrs.get("user-agent"))
            self.sessions[sid] = s
            self.history.append(s)
        log("rtsp session %s: SETUP %d/%d -> %s:%d" % (sid, ch, prog["pid"], peer, port))
        return rtsp_reply(200, cseq, [
            ("Session", "%s;timeout=%g" % (sid, timeout)),
            ("Transport", "MP2T/H2221/UDP;unicast;client_port=%d;source=127.0.0.1" % port)]), False, None

    def _play(self, cseq, hdrs, s, knobs):
        sh = [("Session", s.id)]
        if knobs["rtsp_play_fail"]:
            return rtsp_reply(knobs["rtsp_play_fail"], cseq, sh), False, None
        dur = s.prog["duration"]
        rng = hdrs.get("range")
        off = 0.0
        if rng is not None:
            m = re.fullmatch(r"\s*npt\s*=\s*(\d+(?:\.\d*)?)\s*-\s*(\S*)\s*", rng)
            if not m:
                return rtsp_reply(457, cseq, sh), False, None
            off = float(m.group(1))
        if off >= dur:
            return rtsp_reply(457, cseq, sh), False, None
        if not (self.default_media and os.access(self.mcsend, os.X_OK)):
            log("rtsp: no media or no mcsend at %s: cannot PLAY" % self.mcsend)
            return rtsp_reply(503, cseq, sh), False, None
        with self.lock:
            old = s.proc
            s.proc = None
            s.gen += 1
            gen = s.gen
            s.info.update(offset=off, scale=hdrs.get("scale"), play_now="x-playnow" in hdrs,
                          no_flush="x-noflush" in hdrs, state="starting")
            s.played_at = time.monotonic()
            if "user-agent" in hdrs:
                s.info["user_agent"] = hdrs["user-agent"]
        if old is not None:
            self._kill(old)
        log("rtsp session %s: PLAY %d/%d from %.3f s" % (s.id, s.info["channel"], s.prog["pid"], off))

        def go():
            self.starts.put((s, gen))

        return rtsp_reply(200, cseq, sh + [("Range", "npt=%.3f-%d.000" % (off, dur))]), False, go

    def stats(self):
        with self.lock:
            return {"port": self.port, "open": len(self.sessions),
                    "playing": sum(1 for s in self.sessions.values() if s.proc is not None and s.proc.poll() is None),
                    "methods": dict(self.methods), "expired": self.expired, "teardowns": self.teardowns,
                    "knobs": dict(self.knobs),
                    "sessions": [dict(s.info) for s in self.history]}


# ---- main -------------------------------------------------------------------

DEFAULT_PACKAGES = ["UTX00", "UTX1H", "UTX4R"]


def pick_unused(start, used):
    a = start
    for i in range(1, 1000):
        a = ip_add(start, i)
        if a not in used:
            return a
    return a


def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated Movistar Spain IPTV network (appserver, SD&S, "
                                             "binary EPG, live channels)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--iface", default="127.0.0.1")
    ap.add_argument("--entry", default="239.0.2.129:3937")
    ap.add_argument("--sp-group", default="239.0.2.154:3937")
    ap.add_argument("--epg-base", default="239.0.2.130")
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--channel-net", default="239.0.0.0")
    ap.add_argument("--demarcation", type=int, default=19)
    ap.add_argument("--packages", default=None, help='e.g. "UTX00|UTX1H" (default %s)' % "|".join(DEFAULT_PACKAGES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--origin-days", type=int, default=0)
    ap.add_argument("--rate-kbps", type=float, default=4000)
    ap.add_argument("--mcsend", default=os.environ.get("MCSEND") or os.path.join(REPO, "build", "tests", "fakes",
                                                                                  "mcsend"))
    ap.add_argument("--media-dir", default=None)
    ap.add_argument("--fixtures", default=FIXTURES)
    ap.add_argument("--rtsp-port", type=int, default=0,
                    help="U7D RTSP server on 127.0.0.1 (0 = ephemeral; the real port goes into the catchup URLs)")
    ap.add_argument("--rtsp-session-timeout", type=float, default=60.0, metavar="S",
                    help="RTSP sessions without a request for S seconds expire (default 60)")
    ap.add_argument("--rtsp-setup-delay-ms", type=int, default=0, metavar="N", help="delay every SETUP reply")
    ap.add_argument("--rtsp-fail", type=int, default=0, metavar="CODE", help="SETUP answers CODE (e.g. 454, 503)")
    ap.add_argument("--rtsp-play-fail", type=int, default=0, metavar="CODE", help="PLAY answers CODE")
    ap.add_argument("--rtsp-stop-after", type=float, default=None, metavar="S",
                    help="stop sending S seconds into every PLAY (the session stays)")
    ap.add_argument("--rtsp-rate", type=float, default=0.0, metavar="MBPS",
                    help="send catchup streams at this constant rate instead of the media's own (benchmarks)")
    ap.add_argument("--rtsp-garbage", action="store_true",
                    help="answer SETUP with non-RTSP bytes and close the connection")
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--version-bump", type=float, default=None, metavar="SEC")
    ap.add_argument("--appserver-delay-ms", type=int, default=0)
    ap.add_argument("--appserver-fail", type=int, default=0)
    ap.add_argument("--brief", default=None, metavar="HH:MM:SECONDS",
                    help="a programme of SECONDS at HH:MM UTC every day on every channel "
                         "(\"Avance informativo\": short enough to record whole in a test)")
    ap.add_argument("--truncate-epg", type=float, default=0.0, metavar="PCT")
    ap.add_argument("--no-entry", action="store_true")
    ap.add_argument("--provider-id", type=lambda s: int(s, 0), default=None,
                    help="set the DVB-STP P flag and this 32-bit ServiceProviderID on every datagram")
    ap.add_argument("--dns-port", type=int, default=None, metavar="N",
                    help="serve the IPTV DNS (*.imagenio.telefonica.net -> 127.0.0.1) on UDP 127.0.0.1:N "
                         "(0 = ephemeral; default off)")
    ap.add_argument("--dns-fail-first", type=int, default=0, metavar="N",
                    help="drop the first N DNS queries unanswered")
    ap.add_argument("--hostnames", action="store_true",
                    help="advertise %s / %s instead of 127.0.0.1 in getPlatformProfile"
                         % (PORTAL_HOST, STATIC_HOST))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    def on_signal(sig, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    media_dir = os.path.abspath(args.media_dir or os.path.join(workdir, "media"))
    children = {}
    try:
        return run(args, workdir, media_dir, children)
    except Stop:
        return 0
    finally:
        for name in ("streams", "rtsp", "carousel", "http", "dns", "bump"):
            obj = children.get(name)
            if obj is None:
                continue
            try:
                if name == "streams":
                    obj.shutdown()
                elif name == "rtsp":
                    obj.stop()
                elif name == "carousel":
                    obj.halt.set()
                    obj.join(2)
                elif name == "dns":
                    obj.stop()
                elif name == "http":
                    obj.shutdown()
                    obj.server_close()
                elif name == "bump":
                    obj.cancel()
            except Stop:
                pass


def run(args, workdir, media_dir, children):
    t0 = time.time()

    def fx(name):
        with open(os.path.join(args.fixtures, name), encoding="utf-8") as f:
            return f.read()

    x10 = fx("entrypoint-239.0.2.129-1_0.xml")
    x20 = fx("madrid-239.0.2.154-2_0.xml")
    x50 = fx("madrid-239.0.2.154-5_0.xml")
    x60 = fx("madrid-239.0.2.154-6_0.xml")

    entry_addr, entry_port = parse_hostport(args.entry, DVBSTP_PORT)
    sp_addr, sp_port = parse_hostport(args.sp_group, DVBSTP_PORT)
    epg_groups = [(ip_add(args.epg_base, d), DVBSTP_PORT) for d in range(args.days)]

    services = parse_services(x20)
    svc_by_id = {}
    for s in services:
        svc_by_id.setdefault(s["id"], s)
        s["group"] = ip_add(args.channel_net, s["index"] + 1) if s["address"] else None
    packages_xml = parse_packages(x50)
    packages = args.packages.split("|") if args.packages else list(DEFAULT_PACKAGES)
    lcn = {}
    for pk in (packages if packages != ["ALL"] else list(packages_xml)):
        lcn.update(packages_xml.get(pk, {}))
    unknown = [p for p in packages if p != "ALL" and p not in packages_xml]
    if unknown:
        log("packages not in 5_0 (ignored, like the real network): %s" % ", ".join(unknown))
    subscribed = [s for s in services if s["id"] in lcn and s["group"]]
    seen = set()
    chans = []
    for s in sorted(subscribed, key=lambda s: (lcn[s["id"]], s["id"])):
        if s["id"] in seen:
            continue
        seen.add(s["id"])
        chans.append(s)
    epg_ids = []
    for s in chans:
        e = s["replacement"] or s["id"]
        if e not in epg_ids:
            epg_ids.append(e)
    nrep = sum(1 for s in chans if s["replacement"])
    log("packages %s: %d subscribed channels with an address (%d with a ReplacementService), "
        "%d EPG services" % ("|".join(packages), len(chans), nrep, len(epg_ids)))
    if not nrep:
        log("warning: no subscribed channel has a ReplacementService")

    origin = (int(time.time()) // 86400 + args.origin_days) * 86400
    brief = None
    if args.brief:
        hh, mm, secs = (int(x) for x in args.brief.split(":"))
        brief = (hh * 3600 + mm * 60, secs)
    world = EpgWorld(args.seed, origin, args.days, epg_ids, brief=brief)
    log("EPG: %d programmes over %d days from %s (scale %.2f)" % (
        world.count, args.days, time.strftime("%Y-%m-%d", time.gmtime(origin)), world.scale))

    # Channels -> media.
    rng = random.Random("%s:media" % args.seed)
    try:
        media = make_media(media_dir, args.seed)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        log("media generation failed (%s): live channels disabled" % e)
        media = {}
    enc_ids = set()
    if chans:
        enc_ids = set(s["id"] for s in rng.sample(chans, min(len(chans), rng.randint(3, 6))))
    kinds = [k for k in ("mpeg2", "h264", "mpeg2-sub") if k in media]
    media_kind = {}
    clear = [s for s in chans if s["id"] not in enc_ids]
    rng.shuffle(clear)
    for i, s in enumerate(clear):
        media_kind[s["id"]] = kinds[i] if i < len(kinds) else rng.choice(kinds) if kinds else None
    for s in services:
        if s["id"] not in media_kind and kinds:
            media_kind[s["id"]] = "mpeg2" if s["id"] in enc_ids else rng.choice(kinds)
    media_of_group = {}
    media_of_channel = {}                  # catchup: clear media (encrypted channels: mpeg2)
    for s in services:
        if s["group"] and media_kind.get(s["id"]):
            path = media["mpeg2-scrambled"] if s["id"] in enc_ids else media[media_kind[s["id"]]]
            media_of_group.setdefault(s["group"], path)
        if media_kind.get(s["id"]):
            media_of_channel.setdefault(s["id"], media["mpeg2"] if s["id"] in enc_ids
                                        else media[media_kind[s["id"]]])

    # Cloud recordings: a few past programmes on subscribed channels.
    crng = random.Random("%s:cloud" % args.seed)
    cloud = []
    for i, s in enumerate(crng.sample(chans, min(5, len(chans)))):
        st = {}
        p = world._prog(crng, s["replacement"] or s["id"],
                        origin - crng.randint(2, 30) * 86400 + crng.choice([20, 21, 22]) * 3600,
                        crng.choice([50, 90, 110]) * 60, crng.choice(["film", "series", "docs"]),
                        {"series": [x for x in SERIES if not x[2]][:4], "kids": [], "ep": st,
                         "age": {x[0]: 2 for x in SERIES}, "year": {x[0]: 2015 for x in SERIES}})
        p["cloud"] = True
        p["channel"] = s["id"]
        cloud.append(p)

    # EPG blobs and their segments.
    trunc_rng = random.Random("%s:truncate" % args.seed)
    epg_segments = {}                      # day -> list of (sid, Segment)
    truncated = []
    seg_version = {}
    for day in range(args.days):
        vr = random.Random("%s:segorder:%d" % (args.seed, day))
        lst = []
        for i, sid in enumerate(epg_ids):
            seg_id = (0x8000 - day * 0x800 + i) & 0xFFFF
            ver = vr.choice([0, 0, 0, 1, 1, 2, 3, 5])
            brng = random.Random("%s:blob:%d:%d" % (args.seed, sid, day))
            trunc = args.truncate_epg > 0 and trunc_rng.random() * 100.0 < args.truncate_epg
            progs = world.sched[(sid, day)]
            blob, cut = encode_blob(sid, ver, progs, brng, trunc)
            if cut is not None:
                truncated.append({"service": sid, "day": day, "pid": progs[cut]["pid"]})
            seg_version[(day, sid)] = ver
            lst.append((sid, Segment(0xF1, seg_id, ver, blob, "EPG_%d/%d" % (day, sid), args.provider_id)))
        vr.shuffle(lst)
        epg_segments[day] = lst
    cut_pids = set(t["pid"] for t in truncated)

    used = {entry_addr, sp_addr} | set(a for a, _ in epg_groups) | set(
        s["group"] for s in services if s["group"]) | other_region_groups(x10)
    pf_addr = pick_unused(sp_addr, used)

    def build_6_0(version):
        days = [(d, epg_groups[d][0], epg_groups[d][1], [(seg.seg_id, seg.version) for _, seg in epg_segments[d]])
                for d in range(args.days)]
        return rewrite_6_0(x60, args.demarcation, pf_addr, days, version)

    v10, v20, v50, v60 = (xml_version(x10, "ServiceProviderDiscovery"), xml_version(x20, "BroadcastDiscovery"),
                          xml_version(x50, "PackageDiscovery"), xml_version(x60, "BCGDiscovery"))
    addr_of_index = {s["index"]: s["group"] for s in services}
    t10 = rewrite_1_0(x10, args.demarcation, sp_addr, sp_port)
    t20 = rewrite_2_0(x20, addr_of_index.get)
    t60 = build_6_0(v60)
    pid_ = args.provider_id
    seg10 = Segment(0x01, 0, v10, t10.encode("utf-8"), "1_0", pid_)
    seg20 = Segment(0x02, 0, v20, t20.encode("utf-8"), "2_0", pid_)
    seg50 = Segment(0x05, 0, v50, x50.encode("utf-8"), "5_0", pid_)
    seg60 = Segment(0x06, 0, v60, t60.encode("utf-8"), "6_0", pid_)

    # truth.json
    def write_truth():
        truth = {}
        for sid in epg_ids:
            lst = []
            for day in range(args.days):
                lst.extend(EpgWorld.truth_entry(p) for p in world.sched[(sid, day)] if p["pid"] not in cut_pids)
            truth[str(sid)] = lst
        tmp = os.path.join(workdir, "truth.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(truth, f, ensure_ascii=False)
        os.replace(tmp, os.path.join(workdir, "truth.json"))
        with open(os.path.join(workdir, "truncated.json"), "w") as f:
            json.dump(truncated, f)
        return sum(len(v) for v in truth.values())

    nprog = write_truth()

    # Appserver.
    app = AppServer(world, args, chans, svc_by_id, None, packages,
                    "%s:%d" % (entry_addr, entry_port), media, cloud)
    groups = []
    if not args.no_entry:
        groups.append(CarouselGroup("entry", entry_addr, entry_port, [seg10]))
    sp = CarouselGroup("sp", sp_addr, sp_port, [seg20, seg50, seg60])
    groups.append(sp)
    day_groups = []
    for d in range(args.days):
        g = CarouselGroup("EPG_%d" % d, epg_groups[d][0], epg_groups[d][1], [seg for _, seg in epg_segments[d]])
        groups.append(g)
        day_groups.append(g)
    carousel = Carousel(groups, args.iface, args.rate_kbps, args.loss, args.reorder, args.seed)
    streams = None
    if media_of_group and os.access(args.mcsend, os.X_OK):
        streams = StreamManager(media_of_group, args.mcsend, args.iface, workdir)
    elif media_of_group:
        log("mcsend not found at %s: live channels disabled" % args.mcsend)

    dns = None
    if args.dns_port is not None:
        dns = DnsServer(args.dns_port, args.dns_fail_first)
        dns.start()
        children["dns"] = dns

    rtsp = RtspServer(args.rtsp_port, app, media_of_channel, media.get("mpeg2"), args.mcsend, workdir, args)
    app.rtsp_port = rtsp.port
    rtsp.start()
    children["rtsp"] = rtsp
    if not os.access(args.mcsend, os.X_OK):
        log("mcsend not found at %s: RTSP PLAY answers 503" % args.mcsend)

    def extra_stats():
        dcounts, ddropped = dns.stats() if dns else ({}, 0)
        return {"carousel": carousel.stats(), "streams": streams.stats() if streams else {},
                "dns": dcounts, "dns_dropped": ddropped, "rtsp": rtsp.stats()}

    def set_knobs(q):
        """GET /fake/set?knob=value&...: the RTSP knobs, appserver_delay_ms and
        appserver_fail (failures left from now); all or nothing."""
        q = dict(q)
        conv = {}
        for k in ("appserver_delay_ms", "appserver_fail"):
            if k in q:
                try:
                    conv[k] = max(0, int(q.pop(k)))
                except ValueError:
                    raise ValueError("bad value for %s" % k)
        knobs = rtsp.set_knobs(q)
        with app.lock:
            if "appserver_delay_ms" in conv:
                args.appserver_delay_ms = conv["appserver_delay_ms"]
            if "appserver_fail" in conv:
                app.fail_left = conv["appserver_fail"]
            knobs.update(appserver_delay_ms=args.appserver_delay_ms, appserver_fail=app.fail_left)
        return knobs

    httpd = HttpServer(("127.0.0.1", args.http_port), make_handler(app, extra_stats, set_knobs))
    children["http"] = httpd
    port = httpd.server_address[1]
    app.base = "http://127.0.0.1:%d" % port
    portal = "http://%s:%d" % (PORTAL_HOST, port)
    app.portal = portal if args.hostnames else app.base
    app.static = "http://%s:%d" % (STATIC_HOST, port) if args.hostnames else app.base
    threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()
    carousel.start()
    children["carousel"] = carousel
    if streams:
        streams.start()
        children["streams"] = streams

    # Version bump.
    def bump():
        try:
            day = 0
            brng = random.Random("%s:bump" % args.seed)
            k = brng.randrange(len(epg_segments[day]))
            sid, old = epg_segments[day][k]
            state = {}
            newp = world.gen_day(sid, day, world.scale, state, "%s:%d:%d:bump" % (args.seed, sid, day))
            for p in newp:
                p["title"] = p["title"] + " (cambio)" if len(p["title"].encode()) < 230 else p["title"]
            world.sched[(sid, day)] = newp
            app.add_progs(newp)
            nv = (old.version + 1) & 0xFF
            blob, _ = encode_blob(sid, nv, newp, random.Random("%s:bumpblob" % args.seed), False)
            new = Segment(0xF1, old.seg_id, nv, blob, old.label, args.provider_id)
            epg_segments[day][k] = (sid, new)
            for t in list(truncated):
                if t["service"] == sid and t["day"] == day:
                    truncated.remove(t)
            chan = next((s for s in chans if lcn.get(s["id"], 0) > 0), chans[0])
            newname = chan["name"] + " (v2)"
            n20 = rewrite_2_0(x20, addr_of_index.get, (chan["index"], newname))
            n20 = set_xml_version(n20, "BroadcastDiscovery", v20 + 1)
            s20 = Segment(0x02, 0, v20 + 1, n20.encode("utf-8"), "2_0", args.provider_id)
            s60 = Segment(0x06, 0, v60 + 1, build_6_0(v60 + 1).encode("utf-8"), "6_0", args.provider_id)
            carousel.replace(day_groups[day], k, new)
            carousel.replace(sp, 0, s20)
            carousel.replace(sp, 2, s60)
            write_truth()
            info = {"time": time.time(),
                    "epg": {"day": day, "service": sid, "segment": "0x%04x" % old.seg_id,
                            "old_version": old.version, "new_version": nv,
                            "group": "%s:%d" % epg_groups[day]},
                    "2_0": {"old_version": v20 & 0xFF, "new_version": (v20 + 1) & 0xFF,
                            "renamed": {"id": chan["id"], "old": chan["name"], "new": newname}},
                    "6_0": {"old_version": v60 & 0xFF, "new_version": (v60 + 1) & 0xFF}}
            with open(os.path.join(workdir, "bump.json"), "w", encoding="utf-8") as f:
                json.dump(info, f, ensure_ascii=False)
            print("BUMP " + json.dumps(info, ensure_ascii=False), flush=True)
            log("version bump: EPG service %d day %d v%d->v%d, 2_0 v%d, 6_0 v%d" % (
                sid, day, old.version, nv, (v20 + 1) & 0xFF, (v60 + 1) & 0xFF))
        except Exception as e:          # never kill the fake from a timer
            log("version bump failed: %r" % e)

    if args.version_bump is not None:
        t = threading.Timer(args.version_bump, bump)
        t.daemon = True
        t.start()
        children["bump"] = t

    chan_json = []
    for s in chans:
        chan_json.append({
            "id": s["id"], "name": s["name"], "lcn": lcn[s["id"]],
            "group": "%s:%d" % (s["group"], CHANNEL_PORT),
            "encrypted": s["id"] in enc_ids, "replacement": s["replacement"],
            "media": media_kind.get(s["id"]) if s["id"] not in enc_ids else "mpeg2",
            "logo": s["logo"],
        })
    ready = {
        "appserver": app.base,
        "appserver_name": portal,
        "dns": "127.0.0.1:%d" % dns.port if dns else None,
        "rtsp": rtsp.port,
        "entry": "%s:%d" % (entry_addr, entry_port),
        "sp_group": "%s:%d" % (sp_addr, sp_port),
        "epg_groups": ["%s:%d" % g for g in epg_groups],
        "demarcation": args.demarcation,
        "packages": packages,
        "channels": chan_json,
        "programmes": nprog,
        "truth": os.path.join(workdir, "truth.json"),
        # extras
        "epg_services": epg_ids,
        "origin": origin,
        "days": args.days,
        "pf_group": "%s:%d" % (pf_addr, DVBSTP_PORT),
        "cloud_recordings": [{"channel": p["channel"], "pid": p["pid"], "start": p["start"],
                              "duration": p["duration"], "title": p["title"]} for p in cloud],
        "truncated": len(truncated),
        "media": {k: v for k, v in media.items() if k.endswith(".ts") or "." not in k},
        "live": bool(streams),
        "pid": os.getpid(),
    }
    tmp = os.path.join(workdir, "ready.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(ready, f, ensure_ascii=False, indent=1)
    os.replace(tmp, os.path.join(workdir, "ready.json"))
    sizes = ", ".join("%s %d KB" % (g.name, g.bytes_per_cycle // 1024) for g in groups)
    log("ready in %.1f s: appserver %s; RTSP 127.0.0.1:%d; carousel %s at %g kb/s each" % (
        time.time() - t0, app.base, rtsp.port, sizes, args.rate_kbps))
    print("READY " + json.dumps(ready, ensure_ascii=False), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
