/*
 * libFuzzer target: the HTTP/1.x request head parser, the way the server
 * drives it: find the end of the head, parse a NUL-terminated copy of
 * exactly those bytes in place, then look headers up and parse Range.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sg_http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parsed head points into buf: every pointer must stay inside it. */
static int
inside(const char *p, const char *buf, size_t len)
{
    return p >= buf && p <= buf + len;
}

static void
check_range(const char *value)
{
    static const long long sizes[] = {0, 1, 100, 1000, 9223372036854775807LL};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        long long first = -7, last = -7;
        int rc = sg_http_parse_range(value, sizes[i], &first, &last);
        assert(rc == 0 || rc == 1 || rc == 416);
        if (rc == 0) assert(first >= 0 && first <= last && last < sizes[i]);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sg_http_head_t h; /* ~10 KiB: not on the stack */
    const char *why = NULL, *v;
    ssize_t end = sg_http_head_end((const char *)data, size);
    size_t len;
    char *buf;
    int rc;

    assert(end == 0 || end == -414 || end == -431 || (end > 0 && (size_t)end <= size));
    /* A whole head as the server hands it over; otherwise all of the input
     * (the parser must cope with a head that does not end, too). */
    len = end > 0 ? (size_t)end : size;
    buf = malloc(len + 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, len);
    buf[len] = '\0';

    rc = sg_http_parse_head(buf, len, &h, &why);
    if (rc != 0) {
        assert(rc == 400 || rc == 414 || rc == 431 || rc == 501 || rc == 505);
        assert(why != NULL && why[0] != '\0');
        free(buf);
        return 0;
    }
    assert(inside(h.method, buf, len) && h.method[0] != '\0');
    assert(h.path == h.pathbuf && (h.path[0] == '/' || strcmp(h.path, "*") == 0));
    assert(h.query[0] == '\0' || inside(h.query, buf, len));
    assert(h.minor >= 0 && h.minor <= 9);
    assert(h.nheaders >= 0 && h.nheaders <= SG_HTTP_MAX_HEADERS);
    for (int i = 0; i < h.nheaders; i++) {
        assert(inside(h.headers[i].name, buf, len) && h.headers[i].name[0] != '\0');
        assert(inside(h.headers[i].value, buf, len));
    }
    if (h.minor >= 1) assert(sg_http_header(&h, "host") != NULL);

    v = sg_http_header(&h, "Connection");
    if (v) {
        (void)sg_http_has_token(v, "keep-alive");
        (void)sg_http_has_token(v, "close");
    }
    (void)sg_http_header(&h, "User-Agent");
    (void)sg_http_header(&h, "Authorization");
    check_range(sg_http_header(&h, "Range"));
    free(buf);
    return 0;
}
