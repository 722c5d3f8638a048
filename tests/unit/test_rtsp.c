/* The RTSP reply parser (net/sg_rtsp.c), on replies like Movistar's. */
#include <stdio.h>
#include <string.h>

#include "net/sg_rtsp.h"
#include "sg_test.h"

static const char setup_reply[] = "RTSP/1.0 200 OK\r\n"
                                  "CSeq: 1\r\n"
                                  "Session: 7a3f9c21;timeout=60\r\n"
                                  "Transport: MP2T/H2221/UDP;unicast;client_port=41234\r\n"
                                  "\r\n";
static const char play_reply[] = "RTSP/1.0 200 OK\r\n"
                                 "CSeq: 2\r\n"
                                 "Session: 7a3f9c21\r\n"
                                 "Range: npt=300.000-\r\n"
                                 "\r\n";
static const char notfound_reply[] = "RTSP/1.0 454 Session Not Found\r\n"
                                     "CSeq: 3\r\n"
                                     "\r\n";
static const char body_reply[] = "RTSP/1.0 200 OK\r\n"
                                 "CSeq: 4\r\n"
                                 "Content-Type: text/parameters\r\n"
                                 "Content-Length: 12\r\n"
                                 "\r\n"
                                 "position: 42";

/* One line per reply the parser gives for in[0..n), fed in the pieces
 * between the ascending cuts, then how it ended: "END 0" (wants more) or
 * "ERR <reason>". Equal texts mean equal results. */
static void
summarize(const char *in, size_t n, const size_t *cuts, size_t ncuts, char *out, size_t size)
{
    sg_rtsp_parser_t *p = sg_rtsp_new();
    size_t from = 0, o = 0;
    const char *why = NULL;
    int rc = 0;

    out[0] = '\0';
    if (p == NULL) {
        SG_FAIL("sg_rtsp_new");
        return;
    }
    for (size_t c = 0; c <= ncuts && rc >= 0; c++) {
        size_t to = c < ncuts ? cuts[c] : n;
        rc = sg_rtsp_feed(p, in + from, to - from, &why);
        from = to;
        while (rc == 1) {
            const sg_rtsp_reply_t *r = sg_rtsp_reply(p);
            const char *tr = sg_rtsp_header(p, "Transport"), *ra = sg_rtsp_header(p, "Range");
            o += (size_t)snprintf(out + o, size - o, "%d|%s|%d|%s|%d|%.*s|%s|%s\n", r->status,
                                  r->reason, r->cseq, r->session, r->timeout, (int)r->body_len,
                                  r->body ? r->body : "", tr ? tr : "-", ra ? ra : "-");
            if (o >= size) {
                SG_FAIL("summary too long");
                sg_rtsp_free(p);
                return;
            }
            rc = sg_rtsp_next(p, &why);
        }
    }
    if (rc < 0) {
        snprintf(out + o, size - o, "ERR %s\n", why ? why : "(null)");
    } else {
        snprintf(out + o, size - o, "END %d\n", rc);
    }
    sg_rtsp_free(p);
}

/* Whole, one byte at a time, and split in two at every position: the same
 * summary each time, which is returned in want. */
static void
check_splits(const char *in, size_t n, char *want, size_t size)
{
    static char got[8192];
    static size_t cuts[1 << 17];

    summarize(in, n, NULL, 0, want, size);
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    summarize(in, n, cuts, n, got, sizeof(got));
    if (strcmp(want, got) != 0) SG_FAIL("byte at a time:\n%s\nwhole:\n%s", got, want);
    for (size_t k = 0; k <= n; k++) {
        summarize(in, n, &k, 1, got, sizeof(got));
        if (strcmp(want, got) != 0) {
            SG_FAIL("split at %zu:\n%s\nwhole:\n%s", k, got, want);
            break;
        }
    }
}

static void
test_setup(void)
{
    char s[8192];
    sg_rtsp_parser_t *p = sg_rtsp_new();
    const sg_rtsp_reply_t *r;
    const char *why = NULL;

    CHECK_INT(sg_rtsp_feed(p, setup_reply, strlen(setup_reply), &why), 1);
    r = sg_rtsp_reply(p);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(r->status, 200);
        CHECK_STR(r->reason, "OK");
        CHECK_INT(r->cseq, 1);
        CHECK_STR(r->session, "7a3f9c21");
        CHECK_INT(r->timeout, 60);
        CHECK(r->body == NULL);
        CHECK_INT(r->body_len, 0);
    }
    CHECK_STR(sg_rtsp_header(p, "Transport"), "MP2T/H2221/UDP;unicast;client_port=41234");
    CHECK_STR(sg_rtsp_header(p, "session"), "7a3f9c21;timeout=60");
    CHECK_STR(sg_rtsp_header(p, "CSEQ"), "1");
    CHECK(sg_rtsp_header(p, "Content-Length") == NULL);
    CHECK(sg_rtsp_header(p, "CSeq:") == NULL);
    CHECK_INT(sg_rtsp_next(p, &why), 0);
    CHECK(sg_rtsp_reply(p) == NULL);
    CHECK(sg_rtsp_header(p, "CSeq") == NULL);
    sg_rtsp_free(p);

    check_splits(setup_reply, strlen(setup_reply), s, sizeof(s));
    CHECK_STR(s, "200|OK|1|7a3f9c21|60||MP2T/H2221/UDP;unicast;client_port=41234|-\nEND 0\n");
}

static void
test_play(void)
{
    char s[8192];
    check_splits(play_reply, strlen(play_reply), s, sizeof(s));
    CHECK_STR(s, "200|OK|2|7a3f9c21|0||-|npt=300.000-\nEND 0\n");
}

static void
test_not_found(void)
{
    char s[8192];
    check_splits(notfound_reply, strlen(notfound_reply), s, sizeof(s));
    CHECK_STR(s, "454|Session Not Found|3||0||-|-\nEND 0\n");
}

static void
test_body(void)
{
    char s[8192];
    sg_rtsp_parser_t *p = sg_rtsp_new();
    const sg_rtsp_reply_t *r;
    const char *why = NULL;
    size_t n = strlen(body_reply);

    /* everything but the last body byte: not yet */
    CHECK_INT(sg_rtsp_feed(p, body_reply, n - 1, &why), 0);
    CHECK(sg_rtsp_reply(p) == NULL);
    CHECK_INT(sg_rtsp_feed(p, body_reply + n - 1, 1, &why), 1);
    r = sg_rtsp_reply(p);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(r->body_len, 12);
        CHECK(r->body != NULL && memcmp(r->body, "position: 42", 12) == 0);
    }
    CHECK_STR(sg_rtsp_header(p, "content-type"), "text/parameters");
    CHECK_STR(sg_rtsp_header(p, "Content-Length"), "12");
    sg_rtsp_free(p);

    check_splits(body_reply, n, s, sizeof(s));
    CHECK_STR(s, "200|OK|4||0|position: 42|-|-\nEND 0\n");
}

/* Four replies back to back, and the start of a fifth. */
static void
test_pipelined(void)
{
    char in[2048], s[8192];
    int n = snprintf(in, sizeof(in), "%s%s%s%sRTSP/1.0 200 OK\r\nCSeq: 5\r\n", setup_reply,
                     body_reply, play_reply, notfound_reply);
    sg_rtsp_parser_t *p = sg_rtsp_new();
    const char *why = NULL;

    check_splits(in, (size_t)n, s, sizeof(s));
    CHECK_STR(s, "200|OK|1|7a3f9c21|60||MP2T/H2221/UDP;unicast;client_port=41234|-\n"
                 "200|OK|4||0|position: 42|-|-\n"
                 "200|OK|2|7a3f9c21|0||-|npt=300.000-\n"
                 "454|Session Not Found|3||0||-|-\n"
                 "END 0\n");

    /* A feed while a reply is ready consumes it first. */
    CHECK_INT(sg_rtsp_feed(p, in, strlen(setup_reply) + 3, &why), 1);
    CHECK_INT(sg_rtsp_reply(p)->cseq, 1);
    CHECK_INT(sg_rtsp_feed(p, in + strlen(setup_reply) + 3, strlen(body_reply) - 3, &why), 1);
    CHECK_INT(sg_rtsp_reply(p)->cseq, 4);
    CHECK_INT(sg_rtsp_next(p, &why), 0);
    CHECK_INT(sg_rtsp_next(p, &why), 0);
    sg_rtsp_free(p);
}

/* Bare LF, continuation lines, RTSP/1.1, no reason, odd spacing. */
static void
test_tolerated(void)
{
    static const char in[] = "RTSP/1.1 200\n"
                             "cseq:7\n"
                             "Session :  ABCDEF01 ; foo=bar;Timeout = 30 \r\n"
                             "X-Long: first\r\n"
                             " \tsecond\n"
                             "\tthird\r\n"
                             "X-Empty:\n"
                             "  later\n"
                             "Range: \n"
                             "\n";
    char s[8192];
    sg_rtsp_parser_t *p = sg_rtsp_new();
    const char *why = NULL;

    check_splits(in, strlen(in), s, sizeof(s));
    CHECK_STR(s, "200||7|ABCDEF01|30||-|\nEND 0\n");
    CHECK_INT(sg_rtsp_feed(p, in, strlen(in), &why), 1);
    CHECK_STR(sg_rtsp_header(p, "x-long"), "first second third");
    CHECK_STR(sg_rtsp_header(p, "X-Empty"), "later");
    CHECK_STR(sg_rtsp_header(p, "Range"), "");
    sg_rtsp_free(p);
}

/* in must fail with reason, however it is split. */
static void
check_bad(const char *in, size_t n, const char *reason)
{
    char s[8192], want[256];

    snprintf(want, sizeof(want), "ERR %s\n", reason);
    check_splits(in, n, s, sizeof(s));
    if (strcmp(s, want) != 0) SG_FAIL("\"%.40s...\": %s, expected %s", in, s, want);
}

static void
test_malformed(void)
{
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"HTTP/1.1 200 OK\r\nCSeq: 1\r\n\r\n", "not an RTSP/1.0 status line"},
        {"RTSP/2.0 200 OK\r\n\r\n", "not an RTSP/1.0 status line"},
        {"RTSP/1.0\r\n\r\n", "not an RTSP/1.0 status line"},
        {"\r\nRTSP/1.0 200 OK\r\n\r\n", "not an RTSP/1.0 status line"},
        {"RTSP/1.0 OK\r\nCSeq: 1\r\n\r\n", "bad status code"},
        {"RTSP/1.0 \r\n\r\n", "bad status code"},
        {"RTSP/1.0 20 OK\r\n\r\n", "bad status code"},
        {"RTSP/1.0 2000 OK\r\n\r\n", "bad status code"},
        {"RTSP/1.0 099 Low\r\n\r\n", "bad status code"},
        {"RTSP/1.0 200 OK\r\nContent-Length: -5\r\n\r\n", "bad Content-Length"},
        {"RTSP/1.0 200 OK\r\nContent-Length: abc\r\n\r\n", "bad Content-Length"},
        {"RTSP/1.0 200 OK\r\nContent-Length:\r\n\r\n", "bad Content-Length"},
        {"RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         "bad Content-Length"},
        {"RTSP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
         "conflicting Content-Length"},
        {"RTSP/1.0 200 OK\r\nContent-Length: 65537\r\n\r\n", "body too large"},
        {"RTSP/1.0 200 OK\r\nCSeq: one\r\n\r\n", "bad CSeq"},
        {"RTSP/1.0 200 OK\r\nSession: ;timeout=60\r\n\r\n", "empty Session id"},
        {"RTSP/1.0 200 OK\r\nSession: 1234;timeout=x\r\n\r\n", "bad Session timeout"},
        {"RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n", "header line without a colon"},
        {"RTSP/1.0 200 OK\r\n: x\r\n\r\n", "bad header name"},
        {"RTSP/1.0 200 OK\r\nC Seq: 1\r\n\r\n", "bad header name"},
        {"RTSP/1.0 200 OK\r\n folded\r\n\r\n", "continuation line without a header"},
        {"RTSP/1.0 200 OK\r\nX: a\rb\r\n\r\n", "control character in head"},
        {"RTSP/1.0 200 O\x01K\r\n\r\n", "control character in head"},
        {"$\x00\x00\x04" "abcd", "interleaved data not supported"},
    };
    char in[512], s[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        check_bad(bad[i].in, strlen(bad[i].in) + (bad[i].in[0] == '$' ? 7 : 0), bad[i].why);
    }
    /* a NUL in a header value */
    memcpy(in, "RTSP/1.0 200 OK\r\nX: a\0b\r\n\r\n", 27);
    check_bad(in, 27, "control character in head");
    /* a Session id that does not fit */
    snprintf(in, sizeof(in), "RTSP/1.0 200 OK\r\nSession: %0128d\r\n\r\n", 7);
    check_bad(in, strlen(in), "Session id too long");
    snprintf(in, sizeof(in), "RTSP/1.0 200 OK\r\nSession: %0127d\r\n\r\n", 7);
    check_splits(in, strlen(in), s, sizeof(s));
    CHECK(strncmp(s, "200|OK|-1|0000", 14) == 0);
}

/* A head of exactly SG_RTSP_HEAD_MAX bytes passes; one byte more fails,
 * as does a head that never ends. */
static void
test_head_limit(void)
{
    static char in[SG_RTSP_HEAD_MAX + 64];
    static const char start[] = "RTSP/1.0 200 OK\r\nX-Pad: ";
    char s[8192];
    size_t n = sizeof(start) - 1;

    memcpy(in, start, n);
    while (n < SG_RTSP_HEAD_MAX - 4) in[n++] = 'a';
    memcpy(in + n, "\r\n\r\n", 4);
    n += 4;
    CHECK_INT(n, SG_RTSP_HEAD_MAX);
    check_splits(in, n, s, sizeof(s));
    CHECK_STR(s, "200|OK|-1||0||-|-\nEND 0\n");

    memmove(in + sizeof(start), in + sizeof(start) - 1, n - sizeof(start) + 1);
    check_bad(in, n + 1, "head too large");
    /* no empty line at all: fails once 8 KiB are in, not later */
    for (size_t i = sizeof(start) - 1; i < sizeof(in); i++) in[i] = i % 40 ? 'b' : '\n';
    check_bad(in, SG_RTSP_HEAD_MAX, "head too large");
    summarize(in, SG_RTSP_HEAD_MAX - 1, NULL, 0, s, sizeof(s));
    CHECK_STR(s, "END 0\n");
}

/* A 64 KiB body passes (fed in 16 KiB reads); more than the buffer holds in
 * one feed fails; an error stays until reset. */
static void
test_body_limit(void)
{
    static char in[2 * (SG_RTSP_BODY_MAX + 128)];
    sg_rtsp_parser_t *p = sg_rtsp_new();
    const sg_rtsp_reply_t *r;
    const char *why = NULL;
    int h = snprintf(in, 128, "RTSP/1.0 200 OK\r\nCSeq: 9\r\nContent-Length: %d\r\n\r\n",
                     SG_RTSP_BODY_MAX);
    size_t n = (size_t)h + SG_RTSP_BODY_MAX, off;
    int rc = 0;

    for (size_t i = (size_t)h; i < n; i++) in[i] = (char)('a' + i % 26);
    for (off = 0; off < n; off += SG_RTSP_FEED_MAX) {
        size_t k = n - off < SG_RTSP_FEED_MAX ? n - off : SG_RTSP_FEED_MAX;
        rc = sg_rtsp_feed(p, in + off, k, &why);
        if (rc != 0) break;
    }
    CHECK_INT(rc, 1);
    CHECK_INT(off + SG_RTSP_FEED_MAX >= n, 1);
    r = sg_rtsp_reply(p);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(r->cseq, 9);
        CHECK_INT(r->body_len, SG_RTSP_BODY_MAX);
        CHECK(r->body != NULL && memcmp(r->body, in + h, SG_RTSP_BODY_MAX) == 0);
    }

    /* two such replies in one feed: more than the parser buffers */
    memcpy(in + n, in, n);
    sg_rtsp_reset(p);
    CHECK_INT(sg_rtsp_feed(p, in, 2 * n, &why), -1);
    CHECK_STR(why, "too much data buffered");
    why = NULL;
    CHECK_INT(sg_rtsp_feed(p, "x", 1, &why), -1);
    CHECK_STR(why, "too much data buffered");
    why = NULL;
    CHECK_INT(sg_rtsp_next(p, &why), -1);
    CHECK_STR(why, "too much data buffered");
    CHECK(sg_rtsp_reply(p) == NULL);

    /* one byte over the limit, refused as soon as the head is in */
    sg_rtsp_reset(p);
    h = snprintf(in, 128, "RTSP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", SG_RTSP_BODY_MAX + 1);
    CHECK_INT(sg_rtsp_feed(p, in, (size_t)h, &why), -1);
    CHECK_STR(why, "body too large");

    /* after reset, good again */
    sg_rtsp_reset(p);
    CHECK_INT(sg_rtsp_feed(p, notfound_reply, strlen(notfound_reply), &why), 1);
    CHECK_INT(sg_rtsp_reply(p)->status, 454);
    sg_rtsp_free(p);
    sg_rtsp_free(NULL);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"setup", test_setup},
        {"play", test_play},
        {"not_found", test_not_found},
        {"body", test_body},
        {"pipelined", test_pipelined},
        {"tolerated", test_tolerated},
        {"malformed", test_malformed},
        {"head_limit", test_head_limit},
        {"body_limit", test_body_limit},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
