/*
 * RTSP/1.0 reply parser for the RTSP client (RFC 2326): fed the bytes of a
 * TCP connection as they arrive, it finds each reply's status line, headers
 * and Content-Length body. Pure, no I/O; one buffer per parser, grown up to
 * a fixed limit, and nothing allocated per header (the head is rewritten in
 * place). Fuzzed by tests/fuzz/fuzz_rtsp.c.
 *
 * Accepted: "RTSP/1.0" or "RTSP/1.1", a space, a 3-digit status (100..999),
 * an optional space and reason; "Name: value" header lines ending in CRLF or
 * a bare LF, continuation lines (leading space or tab) joined to the value
 * with one space; an empty line; Content-Length bytes of body (none without
 * the header). Interleaved binary data ('$' framing) is refused for now.
 */
#ifndef SG_RTSP_H
#define SG_RTSP_H

#include <stddef.h>

#define SG_RTSP_HEAD_MAX 8192  /* status line + headers + empty line */
#define SG_RTSP_BODY_MAX 65536 /* Content-Length */
#define SG_RTSP_FEED_MAX 16384 /* a feed this size always fits, see below */

typedef struct sg_rtsp_reply_s {
    int status;        /* 100..999 */
    char reason[64];   /* truncated to fit */
    int cseq;          /* -1 when absent */
    char session[128]; /* Session id, before any ';', trimmed; "" when absent */
    int timeout;       /* the Session's ";timeout=N" in seconds, 0 when absent */
    const char *body;  /* into the parser's buffer, NULL when there is none */
    size_t body_len;
} sg_rtsp_reply_t;

typedef struct sg_rtsp_parser_s sg_rtsp_parser_t;

/* NULL when out of memory. */
sg_rtsp_parser_t *sg_rtsp_new(void);
void sg_rtsp_free(sg_rtsp_parser_t *p);

/* Forget everything buffered and any error: ready for a new connection. */
void sg_rtsp_reset(sg_rtsp_parser_t *p);

/* Feed len bytes read from the connection (a reply may be split at any byte;
 * one feed may hold the end of a reply and the start of the next). All of
 * data is buffered. A reply still ready from before is consumed first (as
 * by sg_rtsp_next()).
 *
 * 1: a complete reply is ready (sg_rtsp_reply(), sg_rtsp_header()).
 * 0: more bytes are needed.
 * -1: a malformed reply, or one over SG_RTSP_HEAD_MAX / SG_RTSP_BODY_MAX,
 *     with *why a short reason; the parser then stays failed (every call
 *     returns -1 with the same reason) until sg_rtsp_reset().
 *
 * The buffer holds SG_RTSP_HEAD_MAX + SG_RTSP_BODY_MAX + SG_RTSP_FEED_MAX
 * bytes at most: feeds of up to SG_RTSP_FEED_MAX bytes, made after
 * sg_rtsp_next() returned 0, always fit; more may fail ("too much data
 * buffered"). */
int sg_rtsp_feed(sg_rtsp_parser_t *p, const void *data, size_t len, const char **why);

/* Done with the ready reply: go on with the bytes already buffered. Same
 * results as sg_rtsp_feed() (0 as well when no reply was ready). */
int sg_rtsp_next(sg_rtsp_parser_t *p, const char **why);

/* The ready reply, or NULL. It, its body and the header values stay valid
 * until the next sg_rtsp_feed(), sg_rtsp_next(), sg_rtsp_reset() or
 * sg_rtsp_free(). */
const sg_rtsp_reply_t *sg_rtsp_reply(const sg_rtsp_parser_t *p);

/* The value of the ready reply's first header called name (any case),
 * trimmed; NULL when absent or no reply is ready. */
const char *sg_rtsp_header(const sg_rtsp_parser_t *p, const char *name);

#endif
