/* plugins/ustream's FLV joiner, on hand-built chunks: one header, one
 * onMetaData, one set of sequence headers, timestamps continued across
 * joins, any split of the input, and every malformed case refused. */
#include <stdlib.h>
#include <string.h>

#include "sg_test.h"
#include "us_flv.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void
put(buf_t *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void
put32(buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void
tag(buf_t *b, int type, uint32_t ts, const uint8_t *d, uint32_t n)
{
    uint8_t h[11] = {(uint8_t)type, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
                     (uint8_t)(ts >> 16), (uint8_t)(ts >> 8), (uint8_t)ts, (uint8_t)(ts >> 24), 0, 0, 0};
    put(b, h, 11);
    put(b, d, n);
    put32(b, 11 + n);
}

/* one chunk: header (DataOffset off), onMetaData, AVC + AAC sequence
 * headers, then n frames (video and audio) from t0, 40 ms apart */
static void
chunk(buf_t *b, uint32_t off, uint32_t t0, int n, uint8_t avc_profile)
{
    /* onMetaData {duration: 6.0} */
    static const uint8_t meta[] = "\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01"
                                  "\x00\x08" "duration" "\x00\x40\x18\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x09";
    uint8_t avc[] = {0x17, 0, 0, 0, 0, 1, avc_profile, 0, 30};
    uint8_t aac[] = {0xaf, 0, 0x12, 0x10};
    uint8_t hdr[9] = {'F', 'L', 'V', 1, 5, 0, 0, 0, (uint8_t)off};
    put(b, hdr, 9);
    for (uint32_t i = 9; i < off; i++) put(b, "\0", 1);
    put32(b, 0);
    tag(b, 18, 0, meta, sizeof(meta) - 1);
    tag(b, 9, t0, avc, sizeof(avc));
    tag(b, 8, t0, aac, sizeof(aac));
    for (int i = 0; i < n; i++) {
        uint8_t v[8] = {(uint8_t)(i == 0 ? 0x17 : 0x27), 1, 0, 0, 0, (uint8_t)i, 0xaa, 0xbb};
        uint8_t a[5] = {0xaf, 1, (uint8_t)i, 0xcc, 0xdd};
        tag(b, 9, t0 + 40u * (uint32_t)i, v, sizeof(v));
        tag(b, 8, t0 + 40u * (uint32_t)i + 10, a, sizeof(a));
    }
}

static int
sink(void *arg, const uint8_t *d, size_t n)
{
    put(arg, d, n);
    return 0;
}

/* Join chunks fed in pieces of step bytes (0: whole). */
static int
join(buf_t *chunks, int nchunks, size_t step, buf_t *out, us_flv_stats_t *st, const char **why)
{
    us_flv_t *j = us_flv_new(sink, out);
    int rc = 0;
    for (int c = 0; c < nchunks && rc == 0; c++) {
        us_flv_chunk(j);
        for (size_t o = 0; o < chunks[c].n && rc == 0;) {
            size_t n = step ? (chunks[c].n - o < step ? chunks[c].n - o : step) : chunks[c].n;
            rc = us_flv_feed(j, chunks[c].p + o, n, why);
            o += n;
        }
        if (rc == 0) rc = us_flv_chunk_end(j, why);
    }
    us_flv_stats(j, st);
    us_flv_free(j);
    return rc;
}

static void
test_join(void)
{
    buf_t c[3] = {{0}, {0}, {0}}, out = {0}, out1 = {0}, again = {0};
    us_flv_stats_t st, st2;
    const char *why = NULL;

    chunk(&c[0], 9, 0, 50, 100);       /* 0 .. 1970 ms                   */
    chunk(&c[1], 13, 2000, 50, 100);   /* continues; a longer header      */
    chunk(&c[2], 9, 0, 50, 100);       /* restarts at 0: a jump back      */
    CHECK_INT(join(c, 3, 0, &out, &st, &why), 0);
    CHECK_INT(st.tags_in, 3 * 103);
    CHECK_INT(st.tags_out, 1 + 2 + 300);   /* one meta, one AVC + one AAC */
    CHECK_INT(st.dropped_meta, 2);
    CHECK_INT(st.dropped_seqhdr, 4);
    CHECK_INT(st.joins_absorbed, 1);
    CHECK(st.has_audio && st.has_video);
    /* the third chunk continues after the second: 3970 + 20 + its 1970 */
    CHECK_INT(st.last_ts, 3970 + 20 + 1970);
    /* one header, and the output is itself a well-formed FLV */
    CHECK(out.n > 13 && memcmp(out.p, "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", 13) == 0);
    /* the kept onMetaData's duration (the first chunk's) became 0: unknown */
    CHECK(out.n > 13 + 11 + 36 &&
          memcmp(out.p + 13 + 11 + 13 + 5, "\x00\x08" "duration" "\x00" "\0\0\0\0\0\0\0\0", 19) ==
              0);
    {
        buf_t one = out;
        CHECK_INT(join(&one, 1, 0, &again, &st2, &why), 0);
        CHECK_INT(st2.tags_in, st.tags_out);
        CHECK_INT(st2.tags_out, st.tags_out);
        CHECK_INT(st2.joins_absorbed, 0);
    }
    /* any split gives the same bytes */
    CHECK_INT(join(c, 3, 1, &out1, &st2, &why), 0);
    CHECK(out1.n == out.n && memcmp(out1.p, out.p, out.n) == 0);
    free(out1.p);
    out1 = (buf_t){0};
    CHECK_INT(join(c, 3, 7, &out1, &st2, &why), 0);
    CHECK(out1.n == out.n && memcmp(out1.p, out.p, out.n) == 0);
    free(out1.p);
    free(again.p);
    free(out.p);
    for (int i = 0; i < 3; i++) free(c[i].p);
}

static void
test_changed_sequence_header(void)
{
    buf_t c[2] = {{0}, {0}}, out = {0};
    us_flv_stats_t st;
    const char *why = NULL;
    chunk(&c[0], 9, 0, 5, 100);
    chunk(&c[1], 9, 200, 5, 77); /* another profile: kept */
    CHECK_INT(join(c, 2, 0, &out, &st, &why), 0);
    CHECK_INT(st.dropped_seqhdr, 1); /* only the AAC repeat */
    free(out.p);
    for (int i = 0; i < 2; i++) free(c[i].p);
}

static void
test_bad(void)
{
    buf_t c = {0}, out = {0};
    us_flv_stats_t st;
    const char *why = NULL;

    chunk(&c, 9, 0, 5, 100);
    /* truncated: the chunk ends inside a tag */
    c.n -= 7;
    CHECK_INT(join(&c, 1, 0, &out, &st, &why), -1);
    CHECK(why && strstr(why, "truncated"));
    c.n += 7;
    /* a PreviousTagSize that lies */
    c.p[c.n - 1] ^= 1;
    why = NULL;
    CHECK_INT(join(&c, 1, 0, &out, &st, &why), -1);
    CHECK(why && strstr(why, "PreviousTagSize"));
    c.p[c.n - 1] ^= 1;
    /* not FLV: an HTML error page */
    {
        buf_t html = {0};
        put(&html, "<html><body>403</body></html>", 29);
        why = NULL;
        CHECK_INT(join(&html, 1, 0, &out, &st, &why), -1);
        CHECK(why && strstr(why, "FLV"));
        free(html.p);
    }
    /* a bad DataOffset */
    c.p[8] = 3;
    why = NULL;
    CHECK_INT(join(&c, 1, 0, &out, &st, &why), -1);
    CHECK(why && strstr(why, "DataOffset"));
    free(out.p);
    free(c.p);
}

int
main(void)
{
    sg_test_current = "join";
    test_join();
    sg_test_current = "changed_sequence_header";
    test_changed_sequence_header();
    sg_test_current = "bad";
    test_bad();
    if (sg_test_failures) {
        fprintf(stderr, "%d failure(s)\n", sg_test_failures);
        return 1;
    }
    return 0;
}
