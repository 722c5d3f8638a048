/*
 * libFuzzer target: Movistar's binary EPG blobs. The input is parsed as a
 * blob (every record's strings must be valid UTF-8 without a NUL inside,
 * every number in its range), then decoded as an obfuscated string into
 * output buffers of several sizes (byte 0 picks one of them).
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mv_epg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s[0..n) is well-formed UTF-8 (no surrogates, nothing past
 * U+10FFFF, no overlongs) without a NUL. */
static int
utf8_ok(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t v;
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07;
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            v = v << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff))) return 0;
        if (v >= 0xd800 && v <= 0xdfff) return 0;
        i += len;
    }
    return 1;
}

typedef struct fuzz_ctx_s {
    size_t records;
    uint16_t service_id;
} fuzz_ctx_t;

static void
on_record(void *arg, uint16_t service_id, const mv_epg_rec_t *r)
{
    fuzz_ctx_t *c = arg;
    static const int ages[] = {0, 7, 12, 16, 17, 18};
    int age_ok = 0;

    assert(service_id == c->service_id || c->records == 0);
    c->service_id = service_id;
    c->records++;
    assert(r->title != NULL && r->series != NULL);
    assert(utf8_ok(r->title, strlen(r->title)));
    assert(utf8_ok(r->series, strlen(r->series)));
    assert(r->start >= 0 && r->start <= 0xffffffffLL);
    assert(r->duration <= 0xffff);
    assert(r->season >= 0 && r->season <= 0xff && r->episode >= 0 && r->episode <= 0xff);
    assert(r->year >= 0 && r->year <= 0xffff);
    for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) age_ok |= r->age == ages[i];
    assert(age_ok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t outlens[8] = {0, 1, 2, 3, 4, 7, 64, 4096};
    uint8_t *blob = malloc(size ? size : 1);
    fuzz_ctx_t c = {0, 0};
    mv_epg_result_t res;
    int rc;

    if (blob == NULL) return 0;
    memcpy(blob, data, size); /* exact size: ASan sees reads past the end */
    rc = mv_epg_parse(blob, size, on_record, &c, &res);
    assert(rc == 0 || rc == -1);
    if (rc == 0) {
        assert(size >= 7 && res.service_id == (blob[3] << 8 | blob[4]));
        assert(res.records == c.records && res.truncated <= 1);
    } else {
        assert(res.records == 0 && c.records == 0);
    }

    if (size > 0) {
        size_t outlen = outlens[data[0] & 7];
        char *out = malloc(outlen ? outlen : 1);
        size_t n;
        if (out != NULL) {
            for (int plain = 0; plain < 2; plain++) {
                n = plain ? mv_html_decode((const char *)blob + 1, size - 1, out, outlen)
                          : mv_epg_decode(blob + 1, size - 1, out, outlen);
                if (outlen == 0) {
                    assert(n == 0);
                } else {
                    assert(n < outlen && out[n] == '\0' && strlen(out) == n);
                    assert(utf8_ok(out, n));
                }
            }
            free(out);
        }
    }
    free(blob);
    return 0;
}
