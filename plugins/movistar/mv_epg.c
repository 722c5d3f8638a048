#include "mv_epg.h"

#include "mv_bytes.h"

#include <string.h>

#include <libxml/HTMLparser.h>

#define MV_XOR 0x15
#define MV_REPLACEMENT 0xfffd
#define MV_REC_MIN 32      /* fixed part of a record, up to the title length */
#define MV_BLOCK_MIN 13    /* fixed part of the 0xF1 block, up to S        */
/* A title of 255 bytes decodes to at most 3 bytes per input byte (each
 * invalid byte becomes U+FFFD), plus the NUL. */
#define MV_TEXT_MAX (3 * 255 + 1)

static const int mv_age_table[8] = {0, 0, 0, 7, 12, 16, 17, 18};

/* HTML5 reads &#128; .. &#159; as windows-1252 (0 = keep the code point),
 * as the Python grabbers' html.unescape does. */
static const uint16_t mv_c1_table[32] = {
    0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
    0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/* ---- string decoding --------------------------------------------------- */

static int
mv_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int
mv_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An entity at in[0] == '&' (bytes still XORed with key). Returns the bytes it
 * spans with its code point in *cp, or 0 when it is not one (then the '&'
 * is literal text). */
static size_t
mv_entity(const uint8_t *in, size_t n, uint8_t key, uint32_t *cp)
{
    size_t i = 1;

    if (n > 1 && (in[1] ^ key) == '#') {
        uint32_t v = 0;
        size_t digits = 0;
        int hex = 0;
        i = 2;
        if (i < n && ((in[i] ^ key) == 'x' || (in[i] ^ key) == 'X')) {
            hex = 1;
            i++;
        }
        for (; i < n; i++, digits++) {
            uint8_t c = in[i] ^ key;
            int d = hex ? mv_hexval(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
            if (d < 0) break;
            if (v <= 0x10ffff) v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0 || i >= n || (in[i] ^ key) != ';') return 0;
        if (v >= 0x80 && v <= 0x9f && mv_c1_table[v - 0x80]) v = mv_c1_table[v - 0x80];
        if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) v = MV_REPLACEMENT;
        *cp = v;
        return i + 1;
    } else {
        xmlChar name[33];
        const htmlEntityDesc *e;
        size_t k = 0;
        for (; i < n && k < sizeof(name) - 1; i++) {
            uint8_t c = in[i] ^ key;
            if (!mv_alnum(c)) break;
            name[k++] = c;
        }
        if (k == 0 || i >= n || (in[i] ^ key) != ';') return 0;
        name[k] = '\0';
        if ((e = htmlEntityLookup(name)) == NULL) return 0;
        *cp = e->value;
        return i + 1;
    }
}

/* One well-formed UTF-8 sequence at in (XORed with key): its length with the code
 * point in *cp, or 0 when the bytes are not one. */
static size_t
mv_utf8(const uint8_t *in, size_t n, uint8_t key, uint32_t *cp)
{
    uint8_t c = in[0] ^ key, lo = 0x80, hi = 0xbf;
    size_t len;
    uint32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        uint8_t t = in[k] ^ key;
        if (t < lo || t > hi) return 0;
        lo = 0x80;
        hi = 0xbf;
        v = v << 6 | (t & 0x3f);
    }
    *cp = v;
    return len;
}

static size_t
mv_utf8_put(uint32_t cp, uint8_t *b)
{
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (uint8_t)(0xf0 | cp >> 18);
    b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* in[0..n) XORed with key (0: plain text) into out: entities resolved,
 * invalid UTF-8 replaced. */
static size_t
mv_text_decode(const uint8_t *in, size_t n, uint8_t key, char *out, size_t outlen)
{
    size_t i = 0, o = 0;

    if (out == NULL || outlen == 0) return 0;
    while (i < n) {
        uint8_t b[4];
        uint32_t cp;
        size_t used, k;
        if ((in[i] ^ key) == '&' && (used = mv_entity(in + i, n - i, key, &cp)) > 0) {
            i += used;
        } else if ((used = mv_utf8(in + i, n - i, key, &cp)) > 0) {
            i += used;
        } else {
            cp = MV_REPLACEMENT;
            i++;
        }
        if (cp == 0) cp = MV_REPLACEMENT; /* a NUL would cut the C string */
        k = mv_utf8_put(cp, b);
        if (k > outlen - 1 - o) break; /* never half a character */
        memcpy(out + o, b, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

size_t
mv_epg_decode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
    return mv_text_decode(in, n, MV_XOR, out, outlen);
}

int
mv_age_years(long index)
{
    return index >= 0 && index < 8 ? mv_age_table[index] : 0;
}

size_t
mv_html_decode(const char *in, size_t n, char *out, size_t outlen)
{
    return mv_text_decode((const uint8_t *)in, n, 0, out, outlen);
}

/* ---- blob -------------------------------------------------------------- */

int
mv_epg_parse(const uint8_t *blob, size_t len, mv_epg_rec_pt cb, void *arg,
             mv_epg_result_t *res)
{
    mv_epg_result_t r;
    size_t pos, end, size;

    memset(&r, 0, sizeof(r));
    if (res) *res = r;
    if (blob == NULL || len < 7 || (size_t)7 + blob[6] > len) return -1;
    size = mv_be16(blob + 1);
    r.service_id = mv_be16(blob + 3);
    r.version = blob[5];
    pos = (size_t)7 + blob[6];
    if (size > len) {
        /* the blob is shorter than it says: its trailer is not there */
        r.truncated = 1;
        end = len;
    } else {
        end = size >= 4 ? size - 4 : 0;
    }
    while (pos < end) {
        const uint8_t *p = blob + pos;
        size_t rem = end - pos, e, c, next;
        char title[MV_TEXT_MAX], series[MV_TEXT_MAX];
        mv_epg_rec_t rec;

        if (rem < MV_REC_MIN) goto truncated;
        e = MV_REC_MIN + p[31];
        if (rem < e + MV_BLOCK_MIN) goto truncated;
        c = e + MV_BLOCK_MIN + p[e + 12];
        if (rem < c + 4) goto truncated;
        next = c + 4 + p[c + 3];
        if (rem < next) goto truncated;

        memset(&rec, 0, sizeof(rec));
        rec.pid = mv_be32(p);
        rec.start = (int64_t)mv_be32(p + 4);
        rec.duration = mv_be16(p + 8);
        rec.genre = p[20];
        rec.age = mv_age_years(p[24]);
        mv_epg_decode(p + MV_REC_MIN, p[31], title, sizeof(title));
        rec.title = title;
        /* the 0xF1 block is read whatever its tag byte, as the grabbers do */
        rec.series_id = mv_be16(p + e + 5);
        rec.episode = p[e + 8];
        rec.year = mv_be16(p + e + 9);
        rec.season = p[e + 11];
        mv_epg_decode(p + e + MV_BLOCK_MIN, p[e + 12], series, sizeof(series));
        rec.series = series;
        if (cb) cb(arg, r.service_id, &rec);
        r.records++;
        pos += next;
    }
    if (res) *res = r;
    return 0;
truncated:
    r.truncated = 1;
    if (res) *res = r;
    return 0;
}
