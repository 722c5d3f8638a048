#include "sg_http_parse.h"

#include <string.h>
#include <strings.h>

#include "util/sg_util.h"

ssize_t
sg_http_head_end(const char *buf, size_t len)
{
    /* Empty lines before a request are ignored (RFC 9112 2.2), as the
     * parser does: the head starts at the first non-empty line. */
    size_t skip = 0;
    const char *nl;

    while (skip < len && skip < SG_HTTP_MAX_LINE && (buf[skip] == '\r' || buf[skip] == '\n')) skip++;
    if (skip == len) return 0;
    nl = memchr(buf + skip, '\n', len - skip < SG_HTTP_MAX_LINE ? len - skip : SG_HTTP_MAX_LINE);
    if (nl == NULL) return len - skip >= SG_HTTP_MAX_LINE ? -414 : 0;
    /* The head ends at the first empty line ("\r\n\r\n" or bare "\n\n"). */
    for (size_t i = (size_t)(nl - buf); i < len && i < SG_HTTP_MAX_HEAD; i++) {
        if (buf[i] != '\n') continue;
        if (i + 1 < len && buf[i + 1] == '\n') return (ssize_t)(i + 2);
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') return (ssize_t)(i + 3);
    }
    return len >= SG_HTTP_MAX_HEAD ? -431 : 0;
}

static int
sg_is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Cut the line at s (ending in "\n" or "\r\n"); returns the next line. */
static char *
sg_cut_line(char *s, char *end)
{
    char *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl == NULL) return NULL;
    if (nl > s && nl[-1] == '\r') nl[-1] = '\0';
    *nl = '\0';
    return nl + 1;
}

int
sg_http_parse_head(char *buf, size_t len, sg_http_head_t *h, const char **why)
{
    char *end = buf + len, *line = buf, *next, *p, *sp1, *sp2, *q;
    ssize_t plen;

    h->nheaders = 0;
    h->query = "";
    if (memchr(buf, '\0', len) != NULL) {
        *why = "NUL byte in request head";
        return 400;
    }
    /* Robustness (RFC 9112 2.2): ignore empty lines before the request. */
    while (line < end && (*line == '\r' || *line == '\n')) line++;
    next = sg_cut_line(line, end);
    if (next == NULL) {
        *why = "incomplete request line";
        return 400;
    }
    /* METHOD SP target SP HTTP/1.x */
    for (p = line; *p && sg_is_tchar((unsigned char)*p); p++) continue;
    if (p == line || *p != ' ') {
        *why = "malformed request line";
        return 400;
    }
    sp1 = p;
    sp2 = strchr(sp1 + 1, ' ');
    if (sp2 == NULL || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ') != NULL) {
        *why = "malformed request line";
        return 400;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    h->method = line;
    h->target = sp1 + 1;
    if (strncmp(sp2 + 1, "HTTP/", 5) != 0) {
        *why = "malformed protocol version";
        return 400;
    }
    p = sp2 + 6;
    if (p[0] < '0' || p[0] > '9' || p[1] != '.' || p[2] < '0' || p[2] > '9' || p[3] != '\0') {
        *why = "malformed protocol version";
        return 400;
    }
    if (p[0] != '1') {
        *why = "only HTTP/1.x is supported";
        return 505;
    }
    h->minor = p[2] - '0';

    for (const char *t = h->target; *t; t++) {
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t == 0x7f) {
            *why = "control character in request target";
            return 400;
        }
    }
    /* absolute-form (proxies): drop scheme and authority. */
    if (strncasecmp(h->target, "http://", 7) == 0 || strncasecmp(h->target, "https://", 8) == 0) {
        const char *slash = strchr(strstr(h->target, "//") + 2, '/');
        h->target = slash ? slash : "/";
    }
    if (h->target[0] != '/' && strcmp(h->target, "*") != 0) {
        *why = "request target must start with '/'";
        return 400;
    }
    q = strchr(h->target, '?');
    if (q) h->query = q + 1;
    plen = sg_url_decode(h->pathbuf, sizeof(h->pathbuf), h->target,
                         q ? (size_t)(q - h->target) : strlen(h->target), 0);
    if (plen < 0) {
        *why = "malformed percent-encoding in path";
        return 400;
    }
    h->path = h->pathbuf;

    /* Header fields. */
    for (line = next; line < end; line = next) {
        char *colon, *v, *ve;
        next = sg_cut_line(line, end);
        if (next == NULL) break;
        if (*line == '\0') break; /* the empty line */
        if (*line == ' ' || *line == '\t') {
            *why = "obsolete header line folding";
            return 400;
        }
        colon = strchr(line, ':');
        if (colon == NULL || colon == line) {
            *why = "malformed header field";
            return 400;
        }
        for (p = line; p < colon; p++) {
            if (!sg_is_tchar((unsigned char)*p)) {
                *why = "malformed header field name";
                return 400;
            }
        }
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) *--ve = '\0';
        for (p = v; p < ve; p++) {
            if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
                *why = "control character in header value";
                return 400;
            }
        }
        if (h->nheaders == SG_HTTP_MAX_HEADERS) {
            *why = "too many header fields";
            return 431;
        }
        h->headers[h->nheaders].name = line;
        h->headers[h->nheaders].value = v;
        h->nheaders++;
    }
    if (h->minor >= 1 && sg_http_header(h, "Host") == NULL) {
        *why = "HTTP/1.1 request without Host";
        return 400;
    }
    return 0;
}

const char *
sg_http_header(const sg_http_head_t *h, const char *name)
{
    for (int i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, name) == 0) return h->headers[i].value;
    }
    return NULL;
}

int
sg_http_has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *te = e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t')) te--;
        if ((size_t)(te - p) == tl && strncasecmp(p, token, tl) == 0) return 1;
        p = e;
    }
    return 0;
}

int
sg_http_parse_range(const char *value, long long size, long long *first, long long *last)
{
    const char *p, *dash;
    int64_t a = -1, b = -1;

    if (value == NULL) return 1;
    while (*value == ' ') value++;
    if (strncasecmp(value, "bytes=", 6) != 0) return 1;
    p = value + 6;
    while (*p == ' ') p++;
    if (strchr(p, ',')) return 1; /* several ranges: whole resource */
    dash = strchr(p, '-');
    if (dash == NULL) return 1;
    {
        const char *ae = dash, *bs = dash + 1, *be = bs + strlen(bs);
        while (ae > p && ae[-1] == ' ') ae--;
        while (*bs == ' ') bs++;
        while (be > bs && be[-1] == ' ') be--;
        if (ae > p && sg_parse_int64(p, (size_t)(ae - p), &a) != 0) return 1;
        if (be > bs && sg_parse_int64(bs, (size_t)(be - bs), &b) != 0) return 1;
        if (a < 0 && b < 0) return 1;
        if ((ae > p && a < 0) || (be > bs && b < 0)) return 1;
    }
    if (a < 0) {
        /* suffix: the last b bytes */
        if (b == 0 || size == 0) return 416;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 0;
    }
    if (b >= 0 && b < a) return 1; /* invalid: ignore */
    if (a >= size) return 416;
    *first = a;
    *last = (b < 0 || b >= size) ? size - 1 : b;
    return 0;
}
