/*
 * Stream sessions: one per client stream request routed to a plugin. The
 * core allocates the plugin's per-session state (session_size bytes), holds
 * the admission slot, and guarantees the plugin's close() runs exactly once
 * after a successful (or pending) open(), whatever ends the session: the
 * client, the plugin, an error or shutdown.
 */
#ifndef SG_SESSION_H
#define SG_SESSION_H

#include "http/sg_http.h"
#include "sg_daemon.h"

/* The fallback route: /{channel}/{time form or live name}. */
void sg_channel_handler(sg_http_req_t *r, void *arg);
/* /cloud/{id}/{time}: a cloud recording (ABI 1.4 plugins) */
void sg_cloud_handler(sg_http_req_t *r, void *arg);
void sg_sessions_init(sg_daemon_t *d);
/* End every session (shutdown): close() runs now, synchronously. */
void sg_sessions_close_all(sg_daemon_t *d);
void sg_sessions_close_plugin(sg_daemon_t *d, sg_plugin_t *p);

/* Sessions by kind, for status pages and metrics. */
void sg_sessions_count(sg_daemon_t *d, int *live, int *catchup, int *udpxy);

/* Admission ranks: a new source may pre-empt clients ranked lower. */
#define SG_PRIORITY_VIEWER 100
#define SG_PRIORITY_RECORDING 10

/* /udp/... and /rtp/...: relay any multicast group (udpxy's URLs). */
void sg_udpxy_handler(sg_http_req_t *r, void *arg);

/* Host calls. */
void sg_session_ready(sg_session_t *s, const char *ctype, int64_t length);
void sg_session_header(sg_session_t *s, const char *name, const char *value);
int sg_session_write(sg_session_t *s, const void *data, size_t len);
void sg_session_end(sg_session_t *s);
void sg_session_fail(sg_session_t *s, int status, const char *reason);
/* Feed the session from a live HLS playlist (host->session_hls). */
int sg_session_hls(sg_session_t *s, const char *url);
/* The request's Range against an entity of total bytes (host->session_range). */
int sg_session_range(sg_session_t *s, int64_t total, int64_t *first, int64_t *last);
/* Feed the session from a live source ("udp://[src@]group:port", see
 * stream/sg_source.h): the client joins the source's shared hub. */
int sg_session_source(sg_session_t *s, const char *url);
int sg_session_source_ex(sg_session_t *s, const char *url, const sg_source_opts_t *o);

#endif
