/* HLS playlist parser (RFC 8216 §4): see sg/m3u8.h. */
#include "sg/m3u8.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SG_M3U8_MAX_ENTRIES 100000

typedef struct {
    const char *p;
    size_t n;
} sg_span_t;

static int
sg_span_eq(sg_span_t s, const char *lit)
{
    size_t l = strlen(lit);
    return s.n == l && memcmp(s.p, lit, l) == 0;
}

static int
sg_span_prefix(sg_span_t s, const char *lit, sg_span_t *rest)
{
    size_t l = strlen(lit);
    if (s.n < l || memcmp(s.p, lit, l) != 0) return 0;
    rest->p = s.p + l;
    rest->n = s.n - l;
    return 1;
}

/* A decimal integer filling the whole span (no sign). */
static int
sg_span_int(sg_span_t s, int64_t *out)
{
    int64_t v = 0;
    if (s.n == 0 || s.n > 18) return -1;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    *out = v;
    return 0;
}

/* A non-negative decimal number ("10", "9.009"), up to a comma or the end. */
static int
sg_span_num(sg_span_t s, double *out)
{
    char buf[40], *end;
    size_t n = 0;
    double v;
    while (n < s.n && s.p[n] != ',') n++;
    if (n == 0 || n >= sizeof(buf)) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s.p[i]) && s.p[i] != '.') return -1;
    }
    memcpy(buf, s.p, n);
    buf[n] = 0;
    errno = 0;
    v = strtod(buf, &end);
    if (*end || errno || !isfinite(v) || v < 0 || v > 1e7) return -1;
    *out = v;
    return 0;
}

/* The value of NAME= in an attribute list (quoted or not), quotes removed. */
static int
sg_attr(sg_span_t list, const char *name, sg_span_t *val)
{
    size_t l = strlen(name), i = 0;
    while (i < list.n) {
        size_t k = i, vstart, vend;
        while (k < list.n && list.p[k] != '=' && list.p[k] != ',') k++;
        if (k >= list.n || list.p[k] == ',') {
            i = k + 1;
            continue;
        }
        vstart = k + 1;
        if (vstart < list.n && list.p[vstart] == '"') {
            const char *q = memchr(list.p + vstart + 1, '"', list.n - vstart - 1);
            if (q == NULL) return 0;
            vend = (size_t)(q - list.p) + 1;
        } else {
            vend = vstart;
            while (vend < list.n && list.p[vend] != ',') vend++;
        }
        if (k - i == l && memcmp(list.p + i, name, l) == 0) {
            val->p = list.p + vstart;
            val->n = vend - vstart;
            if (val->n >= 2 && val->p[0] == '"') {
                val->p++;
                val->n -= 2;
            }
            return 1;
        }
        i = vend + 1;
    }
    return 0;
}

static int64_t
sg_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* H. Hinnant's algorithm: days since 1970-01-01, proleptic Gregorian */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int
sg_digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
    int v = 0;
    if (at + count > n) return -1;
    for (size_t i = 0; i < count; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

int64_t
sg_m3u8_parse_time(const char *s, size_t n)
{
    int y, mo, d, h, mi, se, ms = 0, tzh = 0, tzm = 0, sign = 0;
    size_t i = 19;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (sg_digits(s, n, 0, 4, &y) || n < 19 || s[4] != '-' || sg_digits(s, n, 5, 2, &mo) ||
        s[7] != '-' || sg_digits(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        sg_digits(s, n, 11, 2, &h) || s[13] != ':' || sg_digits(s, n, 14, 2, &mi) ||
        s[16] != ':' || sg_digits(s, n, 17, 2, &se)) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60) return -1;
    if (i < n && s[i] == '.') {
        int scale = 100, any = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
            ms += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (!any) return -1;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '-' ? -1 : 1;
        if (sg_digits(s, n, i + 1, 2, &tzh)) return -1;
        i += 3;
        if (i < n && s[i] == ':') i++;
        if (sg_digits(s, n, i, 2, &tzm)) return -1;
        i += 2;
        if (tzh > 23 || tzm > 59) return -1;
    } else {
        return -1; /* RFC 8216 wants a zone */
    }
    if (i != n) return -1;
    return ((sg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se) -
            sign * (tzh * 3600 + tzm * 60)) * 1000 + ms;
}

void
sg_m3u8_format_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    int frac = (int)(ms - (int64_t)t * 1000);
    gmtime_r(&t, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void
sg_m3u8_free(sg_m3u8_t *m)
{
    if (m == NULL) return;
    free(m->store);
    memset(m, 0, sizeof(*m));
}

int
sg_m3u8_parse(const char *text, size_t len, sg_m3u8_t *out, const char **why)
{
    size_t pos = 0, nlines = 0, nseg = 0, nvar = 0;
    sg_m3u8_t m;
    int first = 1, pending_inf = 0, pending_var = 0, disc = 0, key = SG_M3U8_KEY_NONE;
    double dur = 0;
    int64_t pdt = -1, brlen = -1;
    sg_m3u8_variant_t var = {0};
    char *strings;
    size_t soff = 0;

    memset(&m, 0, sizeof(m));
    memset(out, 0, sizeof(*out));
    m.version = 1;
    if (memchr(text, 0, len) != NULL) {
        *why = "not text (a NUL byte)";
        return -1;
    }
    /* count lines: an upper bound of entries, and of string space (len) */
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') nlines++;
    }
    nlines++;
    if (nlines > SG_M3U8_MAX_ENTRIES * 4) {
        *why = "too large";
        return -1;
    }
    m.store = malloc(nlines * (sizeof(sg_m3u8_seg_t) + sizeof(sg_m3u8_variant_t)) + len + nlines + 1);
    if (m.store == NULL) {
        *why = "out of memory";
        return -1;
    }
    m.segs = (sg_m3u8_seg_t *)(void *)m.store;
    m.vars = (sg_m3u8_variant_t *)(void *)(m.segs + nlines);
    strings = (char *)(m.vars + nlines);

    while (pos < len) {
        size_t e = pos;
        sg_span_t line, rest;
        while (e < len && text[e] != '\n') e++;
        line.p = text + pos;
        line.n = e - pos;
        pos = e + 1;
        if (line.n && line.p[line.n - 1] == '\r') line.n--;
        if (first) {
            /* a UTF-8 byte order mark is tolerated */
            if (line.n >= 3 && memcmp(line.p, "\xEF\xBB\xBF", 3) == 0) {
                line.p += 3;
                line.n -= 3;
            }
            if (!sg_span_prefix(line, "#EXTM3U", &rest)) {
                *why = "not an HLS playlist (no #EXTM3U)";
                goto fail;
            }
            first = 0;
            continue;
        }
        while (line.n && (line.p[0] == ' ' || line.p[0] == '\t')) {
            line.p++;
            line.n--;
        }
        while (line.n && (line.p[line.n - 1] == ' ' || line.p[line.n - 1] == '\t')) line.n--;
        if (line.n == 0) continue;
        if (line.p[0] != '#') {
            /* a URI */
            char *u = strings + soff;
            memcpy(u, line.p, line.n);
            u[line.n] = 0;
            soff += line.n + 1;
            if (pending_var) {
                var.uri = u;
                m.vars[nvar++] = var;
                memset(&var, 0, sizeof(var));
                pending_var = 0;
            } else if (pending_inf) {
                sg_m3u8_seg_t *sg = &m.segs[nseg];
                sg->uri = u;
                sg->duration = dur;
                sg->seq = m.media_seq + (int64_t)nseg;
                sg->pdt_ms = pdt;
                sg->disc = disc;
                sg->key_method = key;
                sg->byterange_len = brlen;
                nseg++;
                pending_inf = disc = 0;
                pdt = brlen = -1;
            }
            /* a URI without EXTINF or STREAM-INF is ignored */
            continue;
        }
        if (sg_span_prefix(line, "#EXTINF:", &rest)) {
            if (sg_span_num(rest, &dur) != 0) {
                *why = "bad #EXTINF duration";
                goto fail;
            }
            pending_inf = 1;
        } else if (sg_span_prefix(line, "#EXT-X-TARGETDURATION:", &rest)) {
            int64_t v;
            if (sg_span_int(rest, &v) != 0 || v > 86400) {
                *why = "bad #EXT-X-TARGETDURATION";
                goto fail;
            }
            m.target = (double)v;
        } else if (sg_span_prefix(line, "#EXT-X-MEDIA-SEQUENCE:", &rest)) {
            if (sg_span_int(rest, &m.media_seq) != 0 || nseg) {
                *why = "bad #EXT-X-MEDIA-SEQUENCE";
                goto fail;
            }
        } else if (sg_span_prefix(line, "#EXT-X-DISCONTINUITY-SEQUENCE:", &rest)) {
            if (sg_span_int(rest, &m.disc_seq) != 0) {
                *why = "bad #EXT-X-DISCONTINUITY-SEQUENCE";
                goto fail;
            }
        } else if (sg_span_eq(line, "#EXT-X-DISCONTINUITY")) {
            disc = 1;
        } else if (sg_span_prefix(line, "#EXT-X-PROGRAM-DATE-TIME:", &rest)) {
            pdt = sg_m3u8_parse_time(rest.p, rest.n);
            if (pdt < 0) {
                *why = "bad #EXT-X-PROGRAM-DATE-TIME";
                goto fail;
            }
        } else if (sg_span_prefix(line, "#EXT-X-BYTERANGE:", &rest)) {
            sg_span_t n = rest;
            const char *at = memchr(rest.p, '@', rest.n);
            if (at) n.n = (size_t)(at - rest.p);
            if (sg_span_int(n, &brlen) != 0) {
                *why = "bad #EXT-X-BYTERANGE";
                goto fail;
            }
        } else if (sg_span_prefix(line, "#EXT-X-VERSION:", &rest)) {
            int64_t v;
            if (sg_span_int(rest, &v) != 0 || v > 100) {
                *why = "bad #EXT-X-VERSION";
                goto fail;
            }
            m.version = (int)v;
        } else if (sg_span_prefix(line, "#EXT-X-PLAYLIST-TYPE:", &rest)) {
            m.vod = sg_span_eq(rest, "VOD");
        } else if (sg_span_eq(line, "#EXT-X-ENDLIST")) {
            m.endlist = 1;
        } else if (sg_span_prefix(line, "#EXT-X-KEY:", &rest)) {
            sg_span_t v;
            if (!sg_attr(rest, "METHOD", &v)) {
                *why = "#EXT-X-KEY without METHOD";
                goto fail;
            }
            key = sg_span_eq(v, "NONE")       ? SG_M3U8_KEY_NONE
                  : sg_span_eq(v, "AES-128") ? SG_M3U8_KEY_AES128
                                             : SG_M3U8_KEY_OTHER;
        } else if (sg_span_prefix(line, "#EXT-X-STREAM-INF:", &rest)) {
            sg_span_t v;
            memset(&var, 0, sizeof(var));
            if (sg_attr(rest, "BANDWIDTH", &v) && sg_span_int(v, &var.bandwidth) != 0) {
                *why = "bad BANDWIDTH";
                goto fail;
            }
            if (sg_attr(rest, "RESOLUTION", &v)) {
                int64_t w = 0, h = 0;
                const char *x = memchr(v.p, 'x', v.n);
                if (x) {
                    sg_span_t a = {v.p, (size_t)(x - v.p)}, b = {x + 1, v.n - (size_t)(x - v.p) - 1};
                    if (sg_span_int(a, &w) == 0 && sg_span_int(b, &h) == 0 && w < 100000 &&
                        h < 100000) {
                        var.width = (int)w;
                        var.height = (int)h;
                    }
                }
            }
            pending_var = 1;
            m.master = 1;
        }
        /* anything else: ignored */
    }
    if (first) {
        *why = "empty: not an HLS playlist";
        goto fail;
    }
    if (pending_inf) {
        *why = "#EXTINF without a URI at the end";
        goto fail;
    }
    if (m.master && nseg) {
        *why = "both variants and segments";
        goto fail;
    }
    if (nseg > SG_M3U8_MAX_ENTRIES || nvar > SG_M3U8_MAX_ENTRIES) {
        *why = "too large";
        goto fail;
    }
    m.nsegs = (int)nseg;
    m.nvars = (int)nvar;
    *out = m;
    return 0;
fail:
    free(m.store);
    return -1;
}
