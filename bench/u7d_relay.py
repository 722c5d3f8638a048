#!/usr/bin/env python3
"""The yardstick for bench/catchup.sh: a catchup relay built the way
movistar-u7d v4.9 builds it (Python asyncio, one task per client): the
appserver's getCatchUpUrl, RTSP SETUP/PLAY on one connection, the unicast
datagrams written to the HTTP response one by one, GET_PARAMETER every 30 s,
TEARDOWN at the end. Standard library only; written for the benchmark, not
a copy of movistar-u7d's code.

    u7d_relay.py APPSERVER_URL      prints "READY <port>", serves
                                    GET /<channel>/<pid>/<offset>
"""
import asyncio
import json
import socket
import sys
import urllib.request

APPSERVER = sys.argv[1]


class Udp(asyncio.DatagramProtocol):
    def __init__(self, writer):
        self.writer = writer

    def datagram_received(self, data, addr):
        if not self.writer.is_closing():
            self.writer.write(data)


async def rtsp(reader, writer, lines):
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")


async def client(reader, writer):
    try:
        req = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[0]
        ch, pid, off = req.split()[1].strip("/").split("/")
        loop = asyncio.get_running_loop()
        url = "%s/appserver/mvtv.do?action=getCatchUpUrl&extInfoID=%s&channelID=%s&mode=1" % (
            APPSERVER, pid, ch)
        body = await loop.run_in_executor(None, lambda: urllib.request.urlopen(url, timeout=5).read())
        rurl = json.loads(body)["resultData"]["url"]
        host, port = rurl[7:].split("/")[0].split(":")
        udp, proto = await loop.create_datagram_endpoint(lambda: Udp(writer),
                                                         local_addr=("127.0.0.1", 0))
        cport = udp.get_extra_info("socket").getsockname()[1]
        rr, rw = await asyncio.open_connection(host, int(port))
        ua = "User-Agent: MICA-IP-STB"
        r = await rtsp(rr, rw, ["SETUP %s RTSP/1.0" % rurl, "CSeq: 1", ua,
                                "Transport: MP2T/H2221/UDP;unicast;client_port=%d" % cport])
        sess = next(l.split(":", 1)[1].split(";")[0].strip() for l in r if l.lower().startswith("session:"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n")
        await rtsp(rr, rw, ["PLAY %s RTSP/1.0" % rurl, "CSeq: 2", ua, "Session: " + sess,
                            "Range: npt=%s.000-end" % off, "Scale: 1.000", "x-playNow:", "x-noFlush:"])
        cseq = 3
        try:
            while not writer.is_closing():
                try:
                    await asyncio.wait_for(reader.read(1), 30)
                    break                       # the client went away
                except asyncio.TimeoutError:
                    await rtsp(rr, rw, ["GET_PARAMETER %s RTSP/1.0" % rurl, "CSeq: %d" % cseq, ua,
                                        "Session: " + sess])
                    cseq += 1
        finally:
            udp.close()
            rw.write(("TEARDOWN %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\nSession: %s\r\n\r\n"
                      % (rurl, cseq, ua, sess)).encode())
            await rw.drain()
            rw.close()
    except (OSError, ValueError, KeyError, StopIteration, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    srv = await asyncio.start_server(client, "127.0.0.1", 0, family=socket.AF_INET)
    print("READY %d" % srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


asyncio.run(main())
