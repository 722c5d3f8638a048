/* The HTTP/1.x request head parser: head framing, request line, header
 * fields, limits, header lookups and Range. Every head is hand-built. */
#include <string.h>

#include "http/sg_http_parse.h"
#include "sg_test.h"

/* The parser works in place and its results point into the buffer, so the
 * buffer and the parsed head live here until the next parse. */
static char g_buf[2 * SG_HTTP_MAX_HEAD];
static sg_http_head_t g_head;
static const char *g_why;

static int
parse_n(const char *text, size_t len)
{
    if (len >= sizeof(g_buf)) {
        SG_FAIL("test head too long (%zu bytes)", len);
        return -1;
    }
    memcpy(g_buf, text, len);
    g_buf[len] = '\0';
    g_why = NULL;
    memset(&g_head, 0, sizeof(g_head));
    return sg_http_parse_head(g_buf, len, &g_head, &g_why);
}

static int
parse(const char *text)
{
    return parse_n(text, strlen(text));
}

/* ---- sg_http_head_end ------------------------------------------------------ */

static void
test_head_end(void)
{
    static const char crlf[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char lf[] = "GET / HTTP/1.1\nHost: a\n\n";
    static const char with_body[] = "POST /x HTTP/1.0\r\nContent-Length: 4\r\n\r\nBODY";
    static const char one_leading[] = "\r\nGET / HTTP/1.0\r\n\r\n";

    /* incomplete */
    CHECK_INT(sg_http_head_end("", 0), 0);
    CHECK_INT(sg_http_head_end("GET / HTTP/1.1", 14), 0);
    CHECK_INT(sg_http_head_end(crlf, strlen(crlf) - 1), 0);
    CHECK_INT(sg_http_head_end(crlf, strlen(crlf) - 2), 0);
    CHECK_INT(sg_http_head_end(lf, strlen(lf) - 1), 0);
    /* complete */
    CHECK_INT(sg_http_head_end(crlf, strlen(crlf)), 27);
    CHECK_INT(sg_http_head_end(lf, strlen(lf)), 24);
    CHECK_INT(sg_http_head_end("GET / HTTP/1.0\r\n\r\n", 18), 18);
    /* bytes after the head are not part of it */
    CHECK_INT(sg_http_head_end(with_body, strlen(with_body)), (long long)strlen(with_body) - 4);
    /* a mixed CRLF / LF head */
    CHECK_INT(sg_http_head_end("GET / HTTP/1.0\nA: b\r\n\r\n", 23), 23);
    /* one empty line before the request line is skipped, not the end */
    CHECK_INT(sg_http_head_end(one_leading, strlen(one_leading)), 20);
    /* several leading empty lines: the head still ends after the headers */
    CHECK_INT(sg_http_head_end("\r\n\r\n\nGET / HTTP/1.0\r\n\r\n", 23), 23);
    CHECK_INT(sg_http_head_end("\r\n\r\n", 4), 0);
}

static void
test_head_end_limits(void)
{
    size_t n = SG_HTTP_MAX_HEAD + 64;
    char *big = malloc(n);

    if (big == NULL) {
        SG_FAIL("out of memory");
        return;
    }
    /* a request line of exactly the limit without a newline: 414 */
    memset(big, 'A', n);
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_LINE), -414);
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_LINE + 100), -414);
    /* one byte less: still waiting */
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_LINE - 1), 0);
    /* a newline just inside the line limit is fine */
    big[SG_HTTP_MAX_LINE - 1] = '\n';
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_LINE + 10), 0);

    /* a head of header lines that never ends: 431 once past 32 KiB */
    memcpy(big, "GET / HTTP/1.1\r\n", 16);
    for (size_t i = 16; i + 10 <= n; i += 10) memcpy(big + i, "X-Pad: ab\n", 10);
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_HEAD - 1), 0);
    CHECK_INT(sg_http_head_end(big, SG_HTTP_MAX_HEAD), -431);
    CHECK_INT(sg_http_head_end(big, n), -431);
    free(big);
}

/* ---- sg_http_parse_head: good heads ---------------------------------------- */

static void
test_parse_get(void)
{
    int rc = parse("GET /live/a%20b/%C3%B1/index.m3u8?token=a%2Fb&x=1 HTTP/1.1\r\n"
                   "Host: example.com:8888\r\n"
                   "User-Agent: VLC/3.0.18 LibVLC/3.0.18\r\n"
                   "Accept:*/*\r\n"
                   "X-Pad: \t  v a l \t \r\n"
                   "X-Empty:\r\n"
                   "X-Tab: a\tb\r\n"
                   "\r\n");
    CHECK_INT(rc, 0);
    if (rc != 0) return;
    CHECK_STR(g_head.method, "GET");
    CHECK_STR(g_head.target, "/live/a%20b/%C3%B1/index.m3u8?token=a%2Fb&x=1");
    CHECK_STR(g_head.path, "/live/a b/\xc3\xb1/index.m3u8");
    CHECK_STR(g_head.query, "token=a%2Fb&x=1");
    CHECK_INT(g_head.minor, 1);
    CHECK_INT(g_head.nheaders, 6);
    CHECK_STR(g_head.headers[0].name, "Host");
    CHECK_STR(g_head.headers[0].value, "example.com:8888");
    CHECK_STR(g_head.headers[2].name, "Accept");
    CHECK_STR(g_head.headers[2].value, "*/*");
    CHECK_STR(sg_http_header(&g_head, "x-pad"), "v a l");
    CHECK_STR(sg_http_header(&g_head, "X-Empty"), "");
    CHECK_STR(sg_http_header(&g_head, "x-tab"), "a\tb");
}

static void
test_parse_variants(void)
{
    /* HTTP/1.0 needs no Host */
    CHECK_INT(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    CHECK_INT(g_head.minor, 0);
    CHECK_INT(g_head.nheaders, 0);
    CHECK_STR(g_head.path, "/");
    CHECK_STR(g_head.query, "");

    /* bare LF line ends */
    CHECK_INT(parse("HEAD /ch/1/mpegts HTTP/1.1\nHost: a\n\n"), 0);
    CHECK_STR(g_head.method, "HEAD");
    CHECK_STR(g_head.path, "/ch/1/mpegts");
    CHECK_STR(sg_http_header(&g_head, "host"), "a");

    /* leading empty lines are tolerated (RFC 9112 2.2) */
    CHECK_INT(parse("\r\n\r\nGET /a HTTP/1.0\r\n\r\n"), 0);
    CHECK_STR(g_head.method, "GET");
    CHECK_STR(g_head.path, "/a");
    CHECK_INT(parse("\n\nGET /b HTTP/1.0\n\n"), 0);
    CHECK_STR(g_head.path, "/b");

    /* absolute-form: scheme and authority are dropped */
    CHECK_INT(parse("GET http://example.com:8888/ch/1/mpegts?x=1 HTTP/1.1\r\nHost: e\r\n\r\n"), 0);
    CHECK_STR(g_head.target, "/ch/1/mpegts?x=1");
    CHECK_STR(g_head.path, "/ch/1/mpegts");
    CHECK_STR(g_head.query, "x=1");
    CHECK_INT(parse("GET HTTPS://example.com HTTP/1.1\r\nHost: e\r\n\r\n"), 0);
    CHECK_STR(g_head.target, "/");
    CHECK_STR(g_head.path, "/");

    /* asterisk-form */
    CHECK_INT(parse("OPTIONS * HTTP/1.1\r\nHost: e\r\n\r\n"), 0);
    CHECK_STR(g_head.path, "*");

    /* '+' is not a space in a path; the query stays raw, even when it
     * would not decode */
    CHECK_INT(parse("GET /a+b?q=%zz&r=1+2 HTTP/1.0\r\n\r\n"), 0);
    CHECK_STR(g_head.path, "/a+b");
    CHECK_STR(g_head.query, "q=%zz&r=1+2");
    /* an empty query */
    CHECK_INT(parse("GET /a? HTTP/1.0\r\n\r\n"), 0);
    CHECK_STR(g_head.path, "/a");
    CHECK_STR(g_head.query, "");

    /* repeated header: the first one wins */
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost: one\r\nhost: two\r\n\r\n"), 0);
    CHECK_STR(sg_http_header(&g_head, "HOST"), "one");
    CHECK(sg_http_header(&g_head, "Hos") == NULL);
    CHECK(sg_http_header(&g_head, "Hostx") == NULL);
}

/* ---- sg_http_parse_head: errors --------------------------------------------- */

typedef struct {
    const char *head;
    int status;
    const char *why;
} err_row_t;

static const err_row_t err_rows[] = {
    {"GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request without Host"},
    {"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400, "HTTP/1.1 request without Host"},
    /* versions */
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "only HTTP/1.x is supported"},
    {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "only HTTP/1.x is supported"},
    {"GET / HTTP/0.9\r\n\r\n", 505, "only HTTP/1.x is supported"},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTP/1.\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTP/a.1\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTP/11\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    {"GET / \r\nHost: a\r\n\r\n", 400, "malformed protocol version"},
    /* request line shape */
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "malformed request line"},
    {"GET /\r\nHost: a\r\n\r\n", 400, "malformed request line"},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
    {"GET / HTTP/1.1", 400, "incomplete request line"},
    {"\r\n\r\n", 400, "incomplete request line"},
    {"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request target must start with '/'"},
    {"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request target must start with '/'"},
    /* control characters */
    {"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "control character in request target"},
    {"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "control character in request target"},
    {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "control character in request target"},
    {"GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", 400, "control character in header value"},
    {"GET / HTTP/1.1\r\nHost: a\rz\r\n\r\n", 400, "control character in header value"},
    {"GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n", 400, "control character in header value"},
    /* header fields */
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400, "obsolete header line folding"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400, "obsolete header line folding"},
    {"GET / HTTP/1.1\r\nHost: a\r\nBroken\r\n\r\n", 400, "malformed header field"},
    {"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", 400, "malformed header field"},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed header field name"},
    {"GET / HTTP/1.1\r\nBad Name: a\r\nHost: a\r\n\r\n", 400, "malformed header field name"},
    {"GET / HTTP/1.1\r\nX(y): a\r\nHost: a\r\n\r\n", 400, "malformed header field name"},
    /* percent-encoding in the path */
    {"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
    {"GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
    {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
    {"GET /a%g0 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
    {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
    {"GET /a%2?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed percent-encoding in path"},
};

static void
test_parse_errors(void)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
        const err_row_t *r = &err_rows[i];
        int rc = parse(r->head);
        if (rc != r->status || g_why == NULL || strcmp(g_why, r->why) != 0) {
            SG_FAIL("row %zu: status %d (%s), expected %d (%s)", i, rc, g_why ? g_why : "(null)",
                    r->status, r->why);
        }
    }
}

static void
test_parse_nul(void)
{
    static const char head[] = "GET / HTTP/1.0\r\nX-A: a\0b\r\n\r\n";
    static const char in_line[] = "GET /\0 HTTP/1.0\r\n\r\n";

    CHECK_INT(parse_n(head, sizeof(head) - 1), 400);
    CHECK_STR(g_why, "NUL byte in request head");
    CHECK_INT(parse_n(in_line, sizeof(in_line) - 1), 400);
    CHECK_STR(g_why, "NUL byte in request head");
}

/* A head with nfields header lines (one of them Host). */
static char *
many_headers(int nfields)
{
    size_t cap = 64 + (size_t)nfields * 32, o;
    char *s = malloc(cap);
    if (s == NULL) return NULL;
    o = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < nfields; i++) o += (size_t)snprintf(s + o, cap - o, "X-H%d: %d\r\n", i, i);
    snprintf(s + o, cap - o, "\r\n");
    return s;
}

static void
test_parse_header_limit(void)
{
    char *s100 = many_headers(100), *s101 = many_headers(101);

    if (s100 == NULL || s101 == NULL) {
        SG_FAIL("out of memory");
    } else {
        CHECK_INT(parse(s100), 0);
        CHECK_INT(g_head.nheaders, 100);
        CHECK_STR(sg_http_header(&g_head, "x-h99"), "99");
        CHECK_INT(parse(s101), 431);
        CHECK_STR(g_why, "too many header fields");
    }
    free(s100);
    free(s101);
}

/* ---- tokens and ranges ------------------------------------------------------------ */

static void
test_has_token(void)
{
    CHECK_INT(sg_http_has_token("keep-alive, Upgrade", "upgrade"), 1);
    CHECK_INT(sg_http_has_token("keep-alive, Upgrade", "Keep-Alive"), 1);
    CHECK_INT(sg_http_has_token(" \tKeep-Alive \t", "keep-alive"), 1);
    CHECK_INT(sg_http_has_token(",,close,,", "close"), 1);
    CHECK_INT(sg_http_has_token("close", "keep-alive"), 0);
    CHECK_INT(sg_http_has_token("keep-alives", "keep-alive"), 0);
    CHECK_INT(sg_http_has_token("xclose", "close"), 0);
    CHECK_INT(sg_http_has_token("clo se", "close"), 0);
    CHECK_INT(sg_http_has_token("", "close"), 0);
    CHECK_INT(sg_http_has_token(NULL, "close"), 0);
}

typedef struct {
    const char *value;
    long long size;
    int rc;
    long long first, last;
} range_row_t;

static const range_row_t range_rows[] = {
    {"bytes=0-99", 1000, 0, 0, 99},
    {"bytes=100-", 1000, 0, 100, 999},
    {"bytes=-100", 1000, 0, 900, 999},
    {"bytes=-2000", 1000, 0, 0, 999},
    {"bytes=0-99999", 1000, 0, 0, 999},
    {"bytes=999-999", 1000, 0, 999, 999},
    {"bytes=5-5", 1000, 0, 5, 5},
    {"BYTES=1-2", 1000, 0, 1, 2},
    {" bytes=5-9", 1000, 0, 5, 9},
    {"bytes= 5 - 9 ", 1000, 0, 5, 9},
    {"bytes = 5-9", 1000, 1, 0, 0},  /* no space before '=' in the grammar */
    {"bytes=1000-", 1000, 416, 0, 0},
    {"bytes=5000-6000", 1000, 416, 0, 0},
    {"bytes=9223372036854775807-", 1000, 416, 0, 0},
    {"bytes=-0", 1000, 416, 0, 0},
    {"bytes=0-", 0, 416, 0, 0},     /* zero-size resource */
    {"bytes=-5", 0, 416, 0, 0},
    {"bytes=0-99,200-299", 1000, 1, 0, 0},
    {"bytes=0-99, 200-299", 1000, 1, 0, 0},
    {"bytes=99-0", 1000, 1, 0, 0},  /* b < a */
    {"bytes=abc", 1000, 1, 0, 0},
    {"bytes=a-b", 1000, 1, 0, 0},
    {"bytes=0-99x", 1000, 1, 0, 0},
    {"bytes=", 1000, 1, 0, 0},
    {"bytes=-", 1000, 1, 0, 0},
    {"bytes=--5", 1000, 1, 0, 0},
    {"bytes=1--5", 1000, 1, 0, 0},
    {"bytes=99999999999999999999-", 1000, 1, 0, 0},
    {"items=0-99", 1000, 1, 0, 0},
    {"0-99", 1000, 1, 0, 0},
    {"", 1000, 1, 0, 0},
};

static void
test_range(void)
{
    long long first, last;

    for (size_t i = 0; i < sizeof(range_rows) / sizeof(range_rows[0]); i++) {
        const range_row_t *r = &range_rows[i];
        int rc;
        first = last = -7;
        rc = sg_http_parse_range(r->value, r->size, &first, &last);
        if (rc != r->rc) {
            SG_FAIL("\"%s\" size %lld: rc %d, expected %d", r->value, r->size, rc, r->rc);
            continue;
        }
        if (rc == 0 && (first != r->first || last != r->last)) {
            SG_FAIL("\"%s\" size %lld: [%lld, %lld], expected [%lld, %lld]", r->value, r->size,
                    first, last, r->first, r->last);
        }
    }
    CHECK_INT(sg_http_parse_range(NULL, 1000, &first, &last), 1);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"head_end", test_head_end},
        {"head_end_limits", test_head_end_limits},
        {"parse_get", test_parse_get},
        {"parse_variants", test_parse_variants},
        {"parse_errors", test_parse_errors},
        {"parse_nul", test_parse_nul},
        {"parse_header_limit", test_parse_header_limit},
        {"has_token", test_has_token},
        {"range", test_range},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
