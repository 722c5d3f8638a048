/*
 * libFuzzer target: plugins/ustream's FLV chunk joiner (us_flv.c). The
 * first byte picks how the rest is cut into chunks and feed sizes; whatever
 * the joiner accepts must itself be one well-formed FLV that joins again to
 * the same tags, and feeding in pieces must give the bytes of feeding whole.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "us_flv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *p;
    size_t n, cap;
} fz_buf_t;

static int
fz_sink(void *arg, const uint8_t *d, size_t n)
{
    fz_buf_t *b = arg;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}

/* chunks: the input cut at every 0xFE 0xFE pair; step: feed size (0 whole) */
static int
fz_join(const uint8_t *d, size_t n, size_t step, fz_buf_t *out, us_flv_stats_t *st)
{
    us_flv_t *j = us_flv_new(fz_sink, out);
    const char *why = NULL;
    size_t start = 0;
    int rc = 0;
    for (size_t i = 0; i <= n && rc == 0; i++) {
        if (i == n || (i + 1 < n && d[i] == 0xFE && d[i + 1] == 0xFE)) {
            const uint8_t *c = d + start;
            size_t cn = i - start;
            us_flv_chunk(j);
            for (size_t o = 0; o < cn && rc == 0;) {
                size_t k = step ? (cn - o < step ? cn - o : step) : cn;
                rc = us_flv_feed(j, c + o, k, &why);
                o += k;
            }
            if (rc == 0) rc = us_flv_chunk_end(j, &why);
            if (rc != 0) assert(why != NULL);
            start = i + 2;
            i++;
        }
    }
    us_flv_stats(j, st);
    us_flv_free(j);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_buf_t a = {0}, b = {0}, c = {0};
    us_flv_stats_t sa, sb, sc;
    size_t step;

    if (size < 1) return 0;
    step = data[0] % 17;
    data++;
    size--;
    if (fz_join(data, size, 0, &a, &sa) == 0) {
        assert(fz_join(data, size, step, &b, &sb) == 0);
        assert(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0));
        if (a.n) {
            /* the output is one FLV that joins to the same tags */
            assert(fz_join(a.p, a.n, 0, &c, &sc) == 0 || memchr(a.p, 0xFE, a.n));
        }
    }
    free(a.p);
    free(b.p);
    free(c.p);
    return 0;
}
