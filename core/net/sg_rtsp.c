#include "sg_rtsp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SG_RTSP_BUF_MAX (SG_RTSP_HEAD_MAX + SG_RTSP_BODY_MAX + SG_RTSP_FEED_MAX)
#define SG_RTSP_BUF_MIN 4096

typedef enum { SG_RTSP_HEAD = 0, SG_RTSP_BODY, SG_RTSP_READY } sg_rtsp_state_e;

struct sg_rtsp_parser_s {
    char *buf; /* the current reply always starts at buf[0] */
    size_t size, used;
    sg_rtsp_state_e state;
    size_t scan;      /* head: bytes looked at for the empty line */
    size_t line;      /* head: where the line being scanned starts */
    size_t head_len;  /* raw head, empty line included */
    size_t hdr_start; /* rewritten headers: "name\0value\0" pairs */
    size_t hdr_end;
    const char *err; /* sticky */
    sg_rtsp_reply_t reply;
};

sg_rtsp_parser_t *
sg_rtsp_new(void)
{
    return calloc(1, sizeof(sg_rtsp_parser_t));
}

void
sg_rtsp_free(sg_rtsp_parser_t *p)
{
    if (p == NULL) return;
    free(p->buf);
    free(p);
}

static void
sg_rtsp_restart(sg_rtsp_parser_t *p)
{
    p->state = SG_RTSP_HEAD;
    p->scan = p->line = p->head_len = p->hdr_start = p->hdr_end = 0;
    memset(&p->reply, 0, sizeof(p->reply));
}

void
sg_rtsp_reset(sg_rtsp_parser_t *p)
{
    p->used = 0;
    p->err = NULL;
    sg_rtsp_restart(p);
}

static int
sg_rtsp_fail(sg_rtsp_parser_t *p, const char *reason, const char **why)
{
    p->err = reason;
    *why = reason;
    return -1;
}

static int
sg_rtsp_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static void
sg_rtsp_trim(const char **s, size_t *n)
{
    while (*n > 0 && sg_rtsp_is_ws(**s)) (*s)++, (*n)--;
    while (*n > 0 && sg_rtsp_is_ws((*s)[*n - 1])) (*n)--;
}

/* Decimal digits only (no sign, no spaces), at most max. 0 or -1. */
static int
sg_rtsp_num(const char *s, size_t n, long long max, long long *out)
{
    long long v = 0;

    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max) return -1;
    }
    *out = v;
    return 0;
}

/* The head line at *r (its LF is known to be there): its length without
 * CR LF; *r moves past the LF. -1 on a control character in it. */
static int
sg_rtsp_line(const char *b, size_t *r, size_t *len)
{
    size_t s = *r, e = s;

    while (b[e] != '\n') e++;
    *r = e + 1;
    if (e > s && b[e - 1] == '\r') e--;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)b[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return -1;
    }
    *len = e - s;
    return 0;
}

/* "RTSP/1.x NNN reason". */
static int
sg_rtsp_status(sg_rtsp_parser_t *p, const char *l, size_t n, const char **why)
{
    size_t rl;

    if (n < 9 || (memcmp(l, "RTSP/1.0 ", 9) != 0 && memcmp(l, "RTSP/1.1 ", 9) != 0)) {
        return sg_rtsp_fail(p, "not an RTSP/1.0 status line", why);
    }
    l += 9, n -= 9;
    if (n < 3 || l[0] < '1' || l[0] > '9' || l[1] < '0' || l[1] > '9' || l[2] < '0' ||
        l[2] > '9' || (n > 3 && l[3] != ' ')) {
        return sg_rtsp_fail(p, "bad status code", why);
    }
    p->reply.status = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    l += 3, n -= 3;
    sg_rtsp_trim(&l, &n);
    rl = n < sizeof(p->reply.reason) ? n : sizeof(p->reply.reason) - 1;
    memcpy(p->reply.reason, l, rl);
    p->reply.reason[rl] = '\0';
    return 0;
}

/* "id[;param]*": the id and ";timeout=N". */
static int
sg_rtsp_session(sg_rtsp_parser_t *p, const char *v, const char **why)
{
    const char *semi = strchr(v, ';'), *id = v;
    size_t n = semi ? (size_t)(semi - v) : strlen(v);
    long long t;

    sg_rtsp_trim(&id, &n);
    if (n == 0) return sg_rtsp_fail(p, "empty Session id", why);
    if (n >= sizeof(p->reply.session)) return sg_rtsp_fail(p, "Session id too long", why);
    memcpy(p->reply.session, id, n);
    p->reply.session[n] = '\0';
    while (semi != NULL) {
        const char *par = semi + 1, *eq;
        semi = strchr(par, ';');
        n = semi ? (size_t)(semi - par) : strlen(par);
        sg_rtsp_trim(&par, &n);
        eq = memchr(par, '=', n);
        if (eq == NULL) continue;
        {
            const char *name = par, *val = eq + 1;
            size_t nn = (size_t)(eq - par), vn = n - nn - 1;
            sg_rtsp_trim(&name, &nn);
            sg_rtsp_trim(&val, &vn);
            if (nn != 7 || strncasecmp(name, "timeout", 7) != 0) continue;
            if (sg_rtsp_num(val, vn, INT_MAX, &t) != 0) {
                return sg_rtsp_fail(p, "bad Session timeout", why);
            }
            p->reply.timeout = (int)t;
        }
    }
    return 0;
}

/* The head is complete in buf[0..head_len): check the status line, rewrite
 * the header lines in place as "name\0value\0" pairs (never longer than the
 * lines they come from, so the writes stay behind the reads) and pick out
 * the headers the client needs. */
static int
sg_rtsp_parse_head(sg_rtsp_parser_t *p, const char **why)
{
    char *b = p->buf;
    size_t r = 0, w, s, n, val = 0;
    int have = 0, cseq = 0, clen = 0;
    long long v;

    if (sg_rtsp_line(b, &r, &n) != 0) return sg_rtsp_fail(p, "control character in head", why);
    if (sg_rtsp_status(p, b, n, why) != 0) return -1;
    p->hdr_start = w = r;
    p->reply.cseq = -1;
    for (;;) {
        const char *l, *colon, *name, *value;
        size_t nn, vn;

        s = r;
        if (sg_rtsp_line(b, &r, &n) != 0) {
            return sg_rtsp_fail(p, "control character in head", why);
        }
        if (n == 0) break;
        l = b + s;
        if (sg_rtsp_is_ws(l[0])) {
            if (!have) return sg_rtsp_fail(p, "continuation line without a header", why);
            sg_rtsp_trim(&l, &n);
            if (n == 0) continue;
            /* Over the value's NUL: joined by a space unless it was empty. */
            if (w - 1 != val) b[w - 1] = ' ';
            else w--;
            memmove(b + w, l, n);
            w += n;
            b[w++] = '\0';
            continue;
        }
        colon = memchr(l, ':', n);
        if (colon == NULL) return sg_rtsp_fail(p, "header line without a colon", why);
        name = l, nn = (size_t)(colon - l);
        value = colon + 1, vn = n - nn - 1;
        sg_rtsp_trim(&name, &nn);
        sg_rtsp_trim(&value, &vn);
        if (nn == 0 || memchr(name, ' ', nn) || memchr(name, '\t', nn)) {
            return sg_rtsp_fail(p, "bad header name", why);
        }
        memmove(b + w, name, nn);
        w += nn;
        b[w++] = '\0';
        val = w;
        memmove(b + w, value, vn);
        w += vn;
        b[w++] = '\0';
        have = 1;
    }
    p->hdr_end = w;

    /* The values are complete only now (continuation lines). */
    for (s = p->hdr_start; s < p->hdr_end;) {
        const char *name = b + s, *value = name + strlen(name) + 1;
        s = (size_t)(value - b) + strlen(value) + 1;
        if (strcasecmp(name, "Content-Length") == 0) {
            if (sg_rtsp_num(value, strlen(value), LLONG_MAX / 10, &v) != 0) {
                return sg_rtsp_fail(p, "bad Content-Length", why);
            }
            if (clen && (size_t)v != p->reply.body_len) {
                return sg_rtsp_fail(p, "conflicting Content-Length", why);
            }
            if (v > SG_RTSP_BODY_MAX) return sg_rtsp_fail(p, "body too large", why);
            p->reply.body_len = (size_t)v;
            clen = 1;
        } else if (strcasecmp(name, "CSeq") == 0 && !cseq) {
            if (sg_rtsp_num(value, strlen(value), INT_MAX, &v) != 0) {
                return sg_rtsp_fail(p, "bad CSeq", why);
            }
            p->reply.cseq = (int)v;
            cseq = 1;
        } else if (strcasecmp(name, "Session") == 0 && p->reply.session[0] == '\0') {
            if (sg_rtsp_session(p, value, why) != 0) return -1;
        }
    }
    return 0;
}

/* What the prefix of a status line can be, checked as soon as bytes come so
 * that a stream of something else fails at once, not at 8 KiB. */
static int
sg_rtsp_prefix(sg_rtsp_parser_t *p, const char **why)
{
    static const char want[] = "RTSP/1.";
    size_t n = p->used < 9 ? p->used : 9;

    for (size_t i = 0; i < n; i++) {
        char c = p->buf[i];
        int ok = i < 7 ? c == want[i] : i == 7 ? (c == '0' || c == '1') : c == ' ';
        if (!ok) {
            if (p->buf[0] == '$') return sg_rtsp_fail(p, "interleaved data not supported", why);
            return sg_rtsp_fail(p, "not an RTSP/1.0 status line", why);
        }
    }
    return 0;
}

/* Go as far as the buffered bytes allow. */
static int
sg_rtsp_advance(sg_rtsp_parser_t *p, const char **why)
{
    if (p->err) {
        *why = p->err;
        return -1;
    }
    if (p->state == SG_RTSP_HEAD) {
        size_t lim = p->used < SG_RTSP_HEAD_MAX ? p->used : SG_RTSP_HEAD_MAX;
        size_t i;

        if (sg_rtsp_prefix(p, why) != 0) return -1;
        for (i = p->scan; i < lim; i++) {
            if (p->buf[i] != '\n') continue;
            if (i == p->line || (i == p->line + 1 && p->buf[p->line] == '\r')) break;
            p->line = i + 1;
        }
        p->scan = i;
        if (i == lim) {
            if (p->used >= SG_RTSP_HEAD_MAX) return sg_rtsp_fail(p, "head too large", why);
            return 0;
        }
        p->head_len = i + 1;
        if (sg_rtsp_parse_head(p, why) != 0) return -1;
        p->state = SG_RTSP_BODY;
    }
    if (p->state == SG_RTSP_BODY) {
        if (p->used - p->head_len < p->reply.body_len) return 0;
        p->reply.body = p->reply.body_len ? p->buf + p->head_len : NULL;
        p->state = SG_RTSP_READY;
    }
    return 1;
}

/* Drop the ready reply, moving what follows it to the front. */
static void
sg_rtsp_consume(sg_rtsp_parser_t *p)
{
    size_t n = p->head_len + p->reply.body_len;

    memmove(p->buf, p->buf + n, p->used - n);
    p->used -= n;
    sg_rtsp_restart(p);
}

int
sg_rtsp_next(sg_rtsp_parser_t *p, const char **why)
{
    if (p->err == NULL && p->state == SG_RTSP_READY) sg_rtsp_consume(p);
    return sg_rtsp_advance(p, why);
}

int
sg_rtsp_feed(sg_rtsp_parser_t *p, const void *data, size_t len, const char **why)
{
    size_t room, take;
    int rc;

    if (p->err) return sg_rtsp_advance(p, why);
    if (p->state == SG_RTSP_READY) sg_rtsp_consume(p);
    room = SG_RTSP_BUF_MAX - p->used;
    take = len < room ? len : room;
    if (p->used + take > p->size) {
        size_t size = p->size ? p->size : SG_RTSP_BUF_MIN;
        char *nb;
        while (size < p->used + take) size *= 2;
        if (size > SG_RTSP_BUF_MAX) size = SG_RTSP_BUF_MAX;
        if ((nb = realloc(p->buf, size)) == NULL) return sg_rtsp_fail(p, "out of memory", why);
        p->buf = nb;
        p->size = size;
    }
    if (take > 0) memcpy(p->buf + p->used, data, take);
    p->used += take;
    rc = sg_rtsp_advance(p, why);
    /* The limits' own reasons first: they say more than this one. */
    if (rc >= 0 && take < len) return sg_rtsp_fail(p, "too much data buffered", why);
    return rc;
}

const sg_rtsp_reply_t *
sg_rtsp_reply(const sg_rtsp_parser_t *p)
{
    return p->err == NULL && p->state == SG_RTSP_READY ? &p->reply : NULL;
}

const char *
sg_rtsp_header(const sg_rtsp_parser_t *p, const char *name)
{
    if (sg_rtsp_reply(p) == NULL) return NULL;
    for (size_t s = p->hdr_start; s < p->hdr_end;) {
        const char *n = p->buf + s, *v = n + strlen(n) + 1;
        if (strcasecmp(n, name) == 0) return v;
        s = (size_t)(v - p->buf) + strlen(v) + 1;
    }
    return NULL;
}
