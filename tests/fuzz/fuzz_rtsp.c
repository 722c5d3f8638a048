/*
 * libFuzzer target: the RTSP reply parser (net/sg_rtsp.c). The first input
 * byte is a chunk size (0 meaning 1); the rest is the TCP stream, fed in
 * chunks of that size, each from an exact-size copy, with sg_rtsp_next()
 * looped while replies complete. Every reply is checked, and the whole
 * stream fed at once must give the same replies and the same end.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sg_rtsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_run_s {
    unsigned replies;
    uint64_t hash; /* over every reply's fields and body */
    int rc;        /* how it ended: 0 or -1 */
    const char *why;
} fuzz_run_t;

static uint64_t
fuzz_mix(uint64_t h, const void *d, size_t n)
{
    const uint8_t *b = d;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static void
fuzz_check_value(const char *v)
{
    size_t n = strlen(v);
    assert(strchr(v, '\r') == NULL && strchr(v, '\n') == NULL);
    assert(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'));
}

static void
fuzz_reply(const sg_rtsp_parser_t *p, fuzz_run_t *run)
{
    const sg_rtsp_reply_t *r = sg_rtsp_reply(p);
    const char *cseq = sg_rtsp_header(p, "cseq"), *sess = sg_rtsp_header(p, "SESSION");
    const char *clen = sg_rtsp_header(p, "Content-Length");

    assert(r != NULL);
    assert(r->status >= 100 && r->status <= 999);
    assert(memchr(r->reason, '\0', sizeof(r->reason)) != NULL);
    assert(memchr(r->session, '\0', sizeof(r->session)) != NULL);
    assert(r->body_len <= SG_RTSP_BODY_MAX);
    assert((r->body == NULL) == (r->body_len == 0));
    assert(r->cseq >= -1 && r->timeout >= 0);
    assert((cseq == NULL) == (r->cseq == -1));
    assert((sess == NULL) == (r->session[0] == '\0'));
    assert(clen != NULL || r->body_len == 0);
    if (cseq) fuzz_check_value(cseq);
    if (sess) fuzz_check_value(sess);
    if (clen) fuzz_check_value(clen);
    if (r->timeout) assert(r->session[0] != '\0');

    run->replies++;
    run->hash = fuzz_mix(run->hash, &r->status, sizeof(r->status));
    run->hash = fuzz_mix(run->hash, r->reason, strlen(r->reason) + 1);
    run->hash = fuzz_mix(run->hash, &r->cseq, sizeof(r->cseq));
    run->hash = fuzz_mix(run->hash, r->session, strlen(r->session) + 1);
    run->hash = fuzz_mix(run->hash, &r->timeout, sizeof(r->timeout));
    run->hash = fuzz_mix(run->hash, &r->body_len, sizeof(r->body_len));
    /* reads the whole body: ASan checks it is all in the buffer */
    if (r->body_len) run->hash = fuzz_mix(run->hash, r->body, r->body_len);
}

static void
fuzz_run(const uint8_t *d, size_t n, size_t chunk, fuzz_run_t *run)
{
    sg_rtsp_parser_t *p = sg_rtsp_new();
    size_t off = 0;
    int rc = 0;

    memset(run, 0, sizeof(*run));
    run->hash = 0xcbf29ce484222325ULL;
    if (p == NULL) abort();
    do {
        size_t k = n - off < chunk ? n - off : chunk;
        uint8_t *c = malloc(k ? k : 1); /* exact size: ASan sees overreads */
        const char *why = NULL;

        if (c == NULL) abort();
        memcpy(c, d + off, k);
        rc = sg_rtsp_feed(p, c, k, &why);
        free(c);
        off += k;
        while (rc == 1) {
            fuzz_reply(p, run);
            rc = sg_rtsp_next(p, &why);
        }
        assert(rc == 0 || rc == -1);
        if (rc == -1) {
            assert(why != NULL && why[0] != '\0');
            assert(sg_rtsp_reply(p) == NULL && sg_rtsp_header(p, "CSeq") == NULL);
            run->why = why;
        } else {
            assert(sg_rtsp_reply(p) == NULL);
        }
    } while (rc == 0 && off < n);
    run->rc = rc;
    sg_rtsp_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_run_t chunked, whole;

    if (size == 0) return 0;
    fuzz_run(data + 1, size - 1, data[0] ? data[0] : 1, &chunked);
    /* One feed always fits up to SG_RTSP_FEED_MAX: then it must agree. */
    if (size - 1 <= SG_RTSP_FEED_MAX) {
        fuzz_run(data + 1, size - 1, size - 1, &whole);
        assert(chunked.replies == whole.replies && chunked.hash == whole.hash);
        assert(chunked.rc == whole.rc);
        assert(chunked.rc == 0 || strcmp(chunked.why, whole.why) == 0);
    }
    return 0;
}
