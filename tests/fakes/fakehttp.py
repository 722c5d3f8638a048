"""fakehttp: the HTTP handler base the simulated upstreams under tests/fakes
share (fake_hls, fake_4gtv, fake_movistar, fake_ustream).

FakeHandler is http.server's request handler speaking HTTP/1.1 keep-alive,
with one way to answer: _send(code, body, ctype, headers, head), which
writes the status line, Content-Type, Content-Length, the extra headers and
(unless head) the body. A fake whose upstream uses non-standard statuses
gives their reason phrases by overriding reason(code).
"""

import http.server


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reason(self, code):
        """The status line's reason phrase; None: the standard one."""
        return None

    def _send(self, code, body, ctype, headers=(), head=False):
        self.send_response(code, self.reason(code))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)
