/*
 * HTTP/1.1 server on libevent bufferevents.
 *
 * Why not evhttp: we need 414/431 for oversized heads, a slow-request timeout
 * separate from the keep-alive idle timeout, streaming responses without
 * chunked encoding, and direct control of each connection's output buffer
 * for the fan-out path (batching, backpressure, zero-copy references).
 *
 * Request lifecycle: the router calls a handler with an sg_http_req_t. The
 * handler answers now or later, exactly once, with one of the reply
 * functions or by starting a stream. If the client goes away first, the
 * on_close callback set by the handler runs (so it can drop its pointer);
 * after a reply the request belongs to the server again.
 */
#ifndef SG_HTTP_H
#define SG_HTTP_H

#include <event2/buffer.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/sg_http_parse.h"
#include "sg/host.h"

struct event_base;
typedef struct sg_http_server_s sg_http_server_t;
typedef struct sg_http_conn_s sg_http_conn_t;
typedef struct sg_http_req_s sg_http_req_t;
typedef void (*sg_http_handler_pt)(sg_http_req_t *r, void *arg);
typedef void (*sg_http_req_cb_pt)(sg_http_req_t *r, void *arg);

typedef struct sg_http_conf_s {
    const char *public_url;      /* "" = from Host                          */
    const char *admin_token;     /* "" = no token required                  */
    int access_log;
    int request_timeout;         /* seconds                                 */
    int keepalive_timeout;       /* seconds, 0 = no keep-alive              */
    int max_connections;
    struct sg_cidr_s *allow;     /* NULL/0 = everyone                       */
    int nallow;
} sg_http_conf_t;

/* Route flags: SG_ROUTE_* in sg/host.h (plugins register routes too) */

struct sg_http_req_s {
    sg_http_conn_t *conn;
    sg_http_head_t head;
    const char *method;       /* = head.method                          */
    const char *path;         /* decoded, without query                 */
    const char *query;        /* raw                                    */
    int is_head;              /* HEAD: the body is not sent             */
    const char *body;         /* request body (NUL-terminated), or NULL */
    size_t body_len;
    char client[64];          /* "ip" of the peer                       */
    const char *route;        /* metric label                           */

    /* owner hooks, set by handlers that answer later */
    sg_http_req_cb_pt on_close;  /* client gone before the answer ended */
    sg_http_req_cb_pt on_drain;  /* streams: backlog fell below low mark */
    void *owner;
    void (*owner_close)(void *arg); /* plugin routes: hreq_on_close's cb */

    /* response state (server-private below this line) */
    int status;
    int state;                /* 0 new, 1 headers sent, 2 streaming, 3 done */
    int keepalive;
    int64_t length;           /* -1 unknown                              */
    uint64_t t0_us;
    uint64_t body_bytes;      /* body bytes queued                       */
    struct evbuffer *hdrs;    /* extra response headers                  */
    char *head_copy;          /* the bytes the head points into          */
    char *body_copy;
};

sg_http_server_t *sg_http_server_new(struct event_base *base, const sg_http_conf_t *conf);
/* Listen on "ip:port" / "[ip6]:port" / ":port"; port 0 = any free port. The
 * bound address is written to bound ("http://127.0.0.1:41234"). 0 or -1. */
int sg_http_listen(sg_http_server_t *s, const char *addr, char *bound, size_t boundlen);
/* Stop accepting and close every connection (their on_close run). */
void sg_http_server_shutdown(sg_http_server_t *s);
void sg_http_server_free(sg_http_server_t *s);
void sg_http_server_set_conf(sg_http_server_t *s, const sg_http_conf_t *conf);
int sg_http_connections(sg_http_server_t *s);

/* Routes: exact paths (or prefixes with SG_ROUTE_PREFIX); the fallback gets
 * everything else. metric: the route label in request metrics. */
int sg_http_route(sg_http_server_t *s, const char *path, unsigned flags, const char *metric,
                  sg_http_handler_pt h, void *arg);
void sg_http_fallback(sg_http_server_t *s, sg_http_handler_pt h, void *arg);
/* First path segments owned by prefix routes ("api", "udp", ...), NULL-ended. */
const char *const *sg_http_reserved_words(sg_http_server_t *s);
/* Whether a route with exactly this path is registered. */
int sg_http_route_exists(sg_http_server_t *s, const char *path);

/* ---- replies ------------------------------------------------------------ */
void sg_http_add_header(sg_http_req_t *r, const char *name, const char *fmt, ...) SG_PRINTF(3, 4);
/* A whole body from memory (copied). */
void sg_http_reply(sg_http_req_t *r, int status, const char *ctype, const void *body, size_t len);
/* A whole body by reference, without a copy: cleanup(body, len, arg) runs
 * once the server is done with the bytes (at once when nothing is sent). */
void sg_http_reply_ref(sg_http_req_t *r, int status, const char *ctype, const void *body, size_t len,
                       void (*cleanup)(const void *data, size_t len, void *arg), void *arg);
/* A whole body from an evbuffer (drained into the response). */
void sg_http_reply_buffer(sg_http_req_t *r, int status, const char *ctype, struct evbuffer *b);
/* JSON error {"error": "..."} */
void sg_http_error(sg_http_req_t *r, int status, const char *fmt, ...) SG_PRINTF(3, 4);
/* A JSON document (jansson json_t *, stolen). */
void sg_http_reply_json(sg_http_req_t *r, int status, void *json);
/* A region of an open file, with Range (206/416), If-None-Match (304 when
 * etag matches) and Last-Modified; fd is dup()ed, not taken. */
void sg_http_reply_fd(sg_http_req_t *r, int fd, int64_t size, const char *ctype, const char *etag,
                      int64_t mtime);
/* A file by path (404 when absent). */
void sg_http_reply_file(sg_http_req_t *r, const char *path, const char *ctype);

/* ---- streams ------------------------------------------------------------- */
/* Send the status line and headers now; length -1: the body ends by close. */
void sg_http_stream_start(sg_http_req_t *r, int status, const char *ctype, int64_t length);
/* Body bytes: while nothing is queued, a large piece goes straight to the
 * socket; the rest is queued (copied). Returns the client's backlog. */
size_t sg_http_stream_write(sg_http_req_t *r, const void *data, size_t len);
size_t sg_http_stream_backlog(sg_http_req_t *r);
/* Zero-copy: len bytes at off of file fd (an append-only memfd whose
 * written bytes never change). While nothing is queued they go straight to
 * the socket with sendfile(); the rest is queued as a file segment, for
 * which hold(owner) runs once and release(owner) when the server is done
 * with it (so the owner keeps fd open that long). Returns the backlog. */
typedef void (*sg_http_hold_pt)(void *owner);
typedef void (*sg_http_release_pt)(void *owner);
size_t sg_http_stream_file(sg_http_req_t *r, int fd, uint64_t off, size_t len, void *owner,
                           sg_http_hold_pt hold, sg_http_release_pt release);
/* The body is complete: the connection closes (or is reused when the
 * length was known) once the backlog has drained. */
void sg_http_stream_end(sg_http_req_t *r);
/* Drop the client now (a slow client, a failed upstream). */
void sg_http_abort(sg_http_req_t *r);
/* on_drain runs when the backlog falls below lowmark. */
void sg_http_stream_watermark(sg_http_req_t *r, size_t lowmark);

/* Base URL for playlists: public_url, else http://<Host>, else the local
 * address the request came in on. No trailing slash. */
void sg_http_base_url(sg_http_req_t *r, char *buf, size_t len);
/* Whether r carries the admin token (or none is configured); otherwise it
 * has been answered 401 and this returns 0. Routes flagged SG_ROUTE_ADMIN
 * get this check before their handler. */
int sg_http_admin_ok(sg_http_req_t *r);

/* ---- metrics hooks --------------------------------------------------------- */
void sg_http_metrics_init(void);

#endif
