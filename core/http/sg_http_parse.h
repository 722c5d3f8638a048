/*
 * HTTP/1.x request head parser. Pure: no I/O, no allocation; it works in
 * place on a buffer holding exactly the head (request line + headers + the
 * empty line). Fuzzed by tests/fuzz/fuzz_http_head.c.
 */
#ifndef SG_HTTP_PARSE_H
#define SG_HTTP_PARSE_H

#include <stddef.h>
#include <sys/types.h>

#define SG_HTTP_MAX_LINE 8192     /* request line, else 414             */
#define SG_HTTP_MAX_HEAD 32768    /* whole head, else 431               */
#define SG_HTTP_MAX_HEADERS 100   /* header fields, else 431            */

typedef struct sg_http_header_s {
    const char *name;
    const char *value;
} sg_http_header_t;

typedef struct sg_http_head_s {
    const char *method;
    const char *target;  /* as sent (origin form after stripping any scheme://host) */
    const char *path;    /* percent-decoded, no query; points into pathbuf */
    const char *query;   /* raw, without '?'; "" when none */
    int minor;           /* HTTP/1.<minor> */
    int nheaders;
    sg_http_header_t headers[SG_HTTP_MAX_HEADERS];
    char pathbuf[SG_HTTP_MAX_LINE];
} sg_http_head_t;

/* Where does the head end? Returns its length (including the blank line)
 * when buf[0..len) holds a whole head, 0 when more bytes are needed, or a
 * negative HTTP status (-414, -431) when the limits are already exceeded. */
ssize_t sg_http_head_end(const char *buf, size_t len);

/* Parse buf[0..len) (as found by sg_http_head_end; modified in place).
 * Returns 0, or an HTTP status (400, 414, 431, 501, 505) with *why set to a
 * short reason. */
int sg_http_parse_head(char *buf, size_t len, sg_http_head_t *h, const char **why);

/* A header's value by name (case-insensitive), NULL when absent. The first
 * one when repeated. */
const char *sg_http_header(const sg_http_head_t *h, const char *name);

/* Does a comma-separated header value contain token (case-insensitive)? */
int sg_http_has_token(const char *value, const char *token);

/* Parse "bytes=a-b" against a resource of size. Returns 0 with [*first,
 * *last] set, 1 when the header should be ignored (absent, malformed, or
 * several ranges: serve the whole resource), or 416 when unsatisfiable. */
int sg_http_parse_range(const char *value, long long size, long long *first, long long *last);

#endif
