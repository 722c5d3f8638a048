/*
 * streamgate host table: the core services a plugin may call.
 *
 * Included by sg/plugin.h; do not include it alone. Members are only ever
 * appended (the same rule as sg_provider_t). Every call is made on the
 * event-loop thread unless its comment says otherwise.
 *
 * Ownership is stated per call. "Copied" means the core copies what it
 * needs before returning; "valid until X" bounds a returned pointer.
 */
#ifndef SG_HOST_H
#define SG_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SG_PRINTF(f, a)
#endif

struct event_base;

typedef struct sg_plugin_s sg_plugin_t;   /* one loaded plugin            */
typedef struct sg_session_s sg_session_t; /* one client stream            */
typedef struct sg_conf_s sg_conf_t;       /* one validated config group   */
typedef struct sg_txn_s sg_txn_t;         /* one catalog transaction      */
typedef struct sg_timer_s sg_timer_t;     /* one timer                    */
typedef struct sg_metric_s sg_metric_t;   /* one metric family            */
typedef struct sg_fetch_s sg_fetch_t;     /* one HTTP client request      */
typedef struct sg_status_s sg_status_t;   /* the plugin's /api/status part */
typedef struct sg_dgram_s sg_dgram_t;   /* one datagram socket         */
typedef struct sg_hreq_s sg_hreq_t;     /* one HTTP request to a plugin route */
typedef struct sg_seg_s sg_segment_t;   /* a held segment of the cache   */
typedef struct sg_segreq_s sg_segreq_t; /* a pending segment request     */
typedef struct sg_host_s sg_host_t;

/* Log levels (nginx/syslog order). Integration tests fail on any emerg,
 * alert, crit or err line they did not expect, so err means "something the
 * operator must look at", not "a client sent a bad URL". */
enum {
    SG_LOG_EMERG = 0,
    SG_LOG_ALERT,
    SG_LOG_CRIT,
    SG_LOG_ERR,
    SG_LOG_WARN,
    SG_LOG_NOTICE,
    SG_LOG_INFO,
    SG_LOG_DEBUG,
};

/* A channel as a plugin publishes it. All strings are copied. */
typedef struct sg_channel_s {
    const char *id;       /* the plugin's id: [A-Za-z0-9._~-]+, unique in it */
    const char *tvg_id;   /* XMLTV/M3U id; NULL = the final catalog id       */
    const char *name;     /* display name, UTF-8, required                   */
    int number;           /* logical channel number, 0 = none                */
    const char *logo;     /* absolute URL, or a path on this server ("/x")   */
    const char *groups;   /* ';'-separated group titles, may be NULL         */
    uint32_t caps;        /* SG_CAP_LIVE and/or SG_CAP_CATCHUP               */
    int catchup_days;     /* archive depth offered, 0 = none                 */
} sg_channel_t;

/* A programme (EPG entry). All strings are copied; NULL = unknown. */
typedef struct sg_programme_s {
    const char *channel;     /* the plugin's channel id                      */
    int64_t start, stop;     /* UTC seconds, start < stop                    */
    const char *title;       /* required                                     */
    const char *sub_title;
    const char *description;
    const char *series;
    int season, episode;     /* 0 = unknown                                  */
    int year;                /* production year, 0 = unknown                 */
    const char *genre;
    int age_rating;          /* minimum age, 0 = unknown/all                 */
    const char *icon;        /* absolute URL, or a path on this server       */
    const char *pid;         /* provider programme id                        */
    /* ABI 1.2: people, one per line as "<role>:<name>", role one of
     * XMLTV's director actor writer adapter producer composer editor
     * presenter commentator guest (others are ignored). */
    const char *credits;
} sg_programme_t;

/* catalog_begin() flags */
#define SG_TXN_REPLACE_CHANNELS 0x1u /* channels of this plugin not put in
                                        this transaction are removed      */
#define SG_TXN_CLOUD 0x2u            /* ABI 1.4: the programmes are the
                                        plugin's cloud recordings, all of
                                        them: they replace the previous set
                                        (kept apart from the EPG, no
                                        retention; /cloud.m3u, /cloud.xml) */

/* Options of session_source_ex() (ABI 1.3). Zero it, then set what
 * matters; members are only ever appended. */
typedef struct sg_source_opts_s {
    double start;           /* rtsp://: npt seconds to PLAY from               */
    int64_t duration_ms;    /* rtsp://: end after this much stream, 0 = none   */
    int gap_ms;             /* rtsp://: this much silence once data flowed ends
                               the source; 0 = the core's source_timeout      */
    const char *bind;       /* rtsp://: local IP address for the UDP port
                               (NULL = any)                                   */
    const char *transport;  /* rtsp://: the Transport header without
                               client_port (NULL = "RTP/AVP;unicast")         */
    const char *user_agent; /* rtsp://: NULL = "streamgate/<version>"         */
} sg_source_opts_t;

/* How a source ended cleanly (provider hook source_ended, ABI 1.3). */
enum {
    SG_SOURCE_ENDED = 1,    /* silence for gap_ms, or the server let go   */
    SG_SOURCE_DURATION = 2, /* duration_ms reached                        */
};

/* programme_at() which (ABI 1.3) */
enum {
    SG_PROG_AIRING = 0,     /* start <= t < stop                          */
    SG_PROG_FROM = 1,       /* the first with start >= t                  */
    SG_PROG_UNTIL = 2,      /* the last with start <= t                   */
};
#define SG_PROG_CLOUD 0x100 /* ABI 1.4, or'ed into which: among the cloud
                               recordings instead of the EPG             */

typedef void (*sg_done_pt)(void *arg, int rc);
/* One received datagram; data is valid during the call only. */
typedef void (*sg_dgram_pt)(void *arg, const uint8_t *data, size_t len);
typedef void (*sg_timer_pt)(void *arg);
/* A request to one of the plugin's routes (ABI 1.5). */
typedef void (*sg_route_pt)(sg_hreq_t *r, void *arg);

/* route() flags (ABI 1.5) */
#define SG_ROUTE_PREFIX 0x01u /* "<path>/..." matches too                    */
#define SG_ROUTE_GET 0x02u    /* GET and HEAD                                */
#define SG_ROUTE_POST 0x04u
#define SG_ROUTE_DELETE 0x08u
#define SG_ROUTE_ADMIN 0x10u  /* the admin token is checked before the call  */

/* Metrics. Names get the prefix streamgate_<plugin>_ ; follow Prometheus
 * conventions (counters end in _total, units in the name). */
typedef enum {
    SG_METRIC_COUNTER = 1,
    SG_METRIC_GAUGE,
    SG_METRIC_HISTOGRAM,
} sg_metric_type_e;

typedef struct sg_metric_spec_s {
    sg_metric_type_e type;
    const char *name;
    const char *help;
    const char *const *labels; /* NULL-terminated label names, may be NULL */
    const double *buckets;     /* histogram upper bounds, ascending        */
    size_t nbuckets;
} sg_metric_spec_t;

/* HTTP client (libcurl on the event loop). */
typedef struct sg_fetch_req_s {
    const char *url;            /* http://, https://                          */
    const char *method;         /* NULL = GET (POST when body is set)         */
    const char *const *headers; /* NULL-terminated "Name: value", may be NULL */
    const void *body;           /* request body, copied                       */
    size_t body_len;
    long timeout_ms;            /* whole transfer; 0 = 15000                  */
    size_t max_bytes;           /* response body cap; 0 = 16 MiB              */
    int follow_redirects;       /* up to 5                                    */
    int cookies;                /* use the plugin's cookie store              */
    const char *user_agent;     /* NULL = "streamgate/<version>"              */
} sg_fetch_req_t;

typedef struct sg_fetch_resp_s {
    int status;                 /* HTTP status; 0 when the transfer failed    */
    const char *error;          /* NULL, or why the transfer failed           */
    const char *body;           /* NUL-terminated for convenience             */
    size_t len;
    const char *content_type;   /* may be NULL                                */
    const char *url;            /* the effective URL after redirects          */
    double seconds;             /* total transfer time                        */
} sg_fetch_resp_t;

/* A segment through the shared segment cache (ABI 1.5). */
typedef struct sg_seg_req_s {
    const char *url;            /* http://, https://                          */
    const char *key;            /* cache key; NULL = the URL                  */
    int64_t ttl_ms;             /* how long it is kept; 0 = 60 s              */
    long timeout_ms;            /* 0 = 15000                                  */
    size_t max_bytes;           /* 0 = 64 MiB                                 */
    int mpegts;                 /* refuse a body without MPEG-TS sync bytes   */
    const char *const *headers; /* NULL-terminated "Name: value", may be NULL */
} sg_seg_req_t;

/* seg: a reference the callee owns (seg_release or reply_segment), or NULL
 * with the upstream's HTTP status (0 when there was none) and why. */
typedef void (*sg_seg_done_pt)(void *arg, sg_segment_t *seg, int status, const char *why);

/* Called once per fetch on the loop thread, unless cancelled first. resp
 * and everything it points to is valid only during the call. */
typedef void (*sg_fetch_done_pt)(const sg_fetch_resp_t *resp, void *arg);

struct sg_host_s {
    uint16_t abi_major, abi_minor;
    uint32_t size;

    /* ---- logging ------------------------------------------------------ */
    /* Lines are prefixed with the plugin name. These two may be called from
     * any thread. */
    void (*log)(sg_plugin_t *p, int level, const char *fmt, ...) SG_PRINTF(3, 4);
    int (*log_enabled)(sg_plugin_t *p, int level);

    /* ---- plugin state ------------------------------------------------- */
    /* A short human state shown in /api/status ("ready", "discovering",
     * "not implemented yet"). Copied. */
    void (*set_state)(sg_plugin_t *p, const char *state);
    const char *(*name)(sg_plugin_t *p);

    /* ---- configuration ------------------------------------------------ */
    /* The plugin's group, validated against conf_keys. Accessors take a key
     * declared in the table that validated c and return its value, or the
     * declared default when the key is absent. Strings are valid until
     * fini(). */
    const sg_conf_t *(*conf)(sg_plugin_t *p);
    int (*conf_is_set)(const sg_conf_t *c, const char *key);
    int (*conf_bool)(const sg_conf_t *c, const char *key);
    int64_t (*conf_int)(const sg_conf_t *c, const char *key);
    double (*conf_float)(const sg_conf_t *c, const char *key);
    const char *(*conf_string)(const sg_conf_t *c, const char *key);
    /* Elements of STRING_LIST and GROUP_LIST keys; GROUP keys have one. */
    int (*conf_count)(const sg_conf_t *c, const char *key);
    const char *(*conf_list_string)(const sg_conf_t *c, const char *key, int i);
    const sg_conf_t *(*conf_group)(const sg_conf_t *c, const char *key, int i);
    /* From check(): report a problem as "file:line: path.key: message". */
    void (*conf_error)(const sg_conf_t *c, const char *key, const char *fmt, ...)
        SG_PRINTF(3, 4);

    /* ---- memory (accounted per plugin) -------------------------------- */
    void *(*alloc)(sg_plugin_t *p, size_t n);  /* zeroed; NULL on failure  */
    void *(*realloc)(void *ptr, size_t n);
    void (*free)(void *ptr);                   /* NULL is fine             */
    char *(*strdup)(sg_plugin_t *p, const char *s);

    /* ---- event loop --------------------------------------------------- */
    struct event_base *(*event_base)(sg_plugin_t *p);
    /* One-shot or repeating timer; released by timer_stop() or at fini. */
    sg_timer_t *(*timer_start)(sg_plugin_t *p, uint64_t ms, int repeat, sg_timer_pt cb,
                               void *arg);
    void (*timer_stop)(sg_timer_t *t);

    /* ---- storage ------------------------------------------------------ */
    /* <state_dir>/<plugin>/, created on first call. Valid until fini(). */
    const char *(*state_dir)(sg_plugin_t *p);
    /* A small persistent key-value store per plugin (SQLite). kv_get hands
     * back a NUL-terminated copy from host->alloc (caller frees with
     * host->free) or returns SG_DECLINED when the key is absent. */
    int (*kv_set)(sg_plugin_t *p, const char *key, const void *val, size_t len);
    int (*kv_get)(sg_plugin_t *p, const char *key, void **val, size_t *len);
    int (*kv_del)(sg_plugin_t *p, const char *key);

    /* ---- catalog ------------------------------------------------------ */
    /* Build a transaction, then commit it: the core applies it atomically on
     * its database thread and calls done(arg, SG_OK|SG_ERROR) on the loop. */
    sg_txn_t *(*catalog_begin)(sg_plugin_t *p, unsigned flags);
    int (*catalog_channel)(sg_txn_t *t, const sg_channel_t *ch);
    int (*catalog_programme)(sg_txn_t *t, const sg_programme_t *pr);
    int (*catalog_commit)(sg_txn_t *t, sg_done_pt done, void *arg);
    void (*catalog_abort)(sg_txn_t *t);

    /* ---- metrics ------------------------------------------------------ */
    sg_metric_t *(*metric_new)(sg_plugin_t *p, const sg_metric_spec_t *spec);
    /* label_values: one per declared label, NULL when the metric has none */
    void (*metric_add)(sg_metric_t *m, const char *const *label_values, double v);
    void (*metric_set)(sg_metric_t *m, const char *const *label_values, double v);
    void (*metric_observe)(sg_metric_t *m, const char *const *label_values, double v);

    /* ---- HTTP client -------------------------------------------------- */
    /* NULL when the request could not be started (reason logged). The
     * request is cancelled automatically at fini. */
    sg_fetch_t *(*fetch)(sg_plugin_t *p, const sg_fetch_req_t *req, sg_fetch_done_pt done,
                         void *arg);
    void (*fetch_cancel)(sg_fetch_t *f);
    /* A response header by name (case-insensitive), valid during done(). */
    const char *(*fetch_header)(const sg_fetch_resp_t *resp, const char *name);

    /* ---- stream sessions ---------------------------------------------- */
    /* Send the response headers now (before the first write). content_type
     * NULL = video/mp2t; length -1 = unknown (the response ends by close). */
    void (*session_ready)(sg_session_t *s, const char *content_type, int64_t length);
    /* An extra response header (before ready/first write). Copied. */
    void (*session_header)(sg_session_t *s, const char *name, const char *value);
    /* Queue bytes for the client (copied). SG_OK: keep going. SG_AGAIN:
     * accepted, but the client's backlog is full: stop until resume().
     * SG_ERROR: the session is closing; close() follows. */
    int (*session_write)(sg_session_t *s, const void *data, size_t len);
    /* The stream ended normally; close() follows. */
    void (*session_end)(sg_session_t *s);
    /* Fail with an HTTP status (400..599) and a short reason. Before the
     * headers went out the client gets a JSON error; after, the response
     * is cut. close() follows. */
    void (*session_fail)(sg_session_t *s, int http_status, const char *reason);

    /* ---- status ------------------------------------------------------- */
    void (*status_string)(sg_status_t *st, const char *key, const char *value);
    void (*status_int)(sg_status_t *st, const char *key, int64_t value);

    /* ---- live sources (ABI 1.1) ----------------------------------------- */
    /* From open(): feed this session from a live source,
     * "udp://[src@]group:port[?iface=NAME|ADDR]" (rtp:// is the same; raw TS
     * or RTP framing is detected; "udp://@:port" is a unicast port). Every
     * client of one source shares one hub: joined once, PAT/PMT and the
     * newest keyframe first, batching, slow-client policy, admission.
     * SG_OK: attached; the core streams until the client or the source
     * ends, then close() runs as usual. SG_BUSY (admission, 503) or
     * SG_ERROR (bad URL, join failed: 502): the session is already failing;
     * return the same code from open(). */
    int (*session_source)(sg_session_t *s, const char *url);

    /* ---- datagram sources (ABI 1.2) ------------------------------------- */
    /* Receive the datagrams of a source URL in session_source's grammar
     * ("udp://[src@]group:port[?iface=NAME|ADDR]", "udp://@:port"): the core
     * binds and joins the socket (so plugins share one join
     * implementation with the live relay) and calls cb on the loop for each
     * datagram. cb may call dgram_close() on its own socket. NULL when the
     * URL is bad or the socket/join failed, with *why (static text) set.
     * Released by dgram_close() or at fini. */
    sg_dgram_t *(*dgram_open)(sg_plugin_t *p, const char *url, sg_dgram_pt cb, void *arg,
                              const char **why);
    void (*dgram_close)(sg_dgram_t *d);

    /* ---- image proxy (ABI 1.2) ------------------------------------------ */
    /* Serve GET <prefix>/<path> (prefix like "/Logos": one path segment,
     * no trailing slash) from <base><path>: fetched once with the HTTP
     * client, kept under <state_dir>/<plugin>/cache<prefix>/ for max_age
     * seconds (a 404 too), served with Range and ETag; concurrent requests
     * share one fetch. base NULL or "" = not known yet (a cached copy, else
     * 503). Calling again changes base and max_age. SG_OK, or SG_ERROR
     * (logged: bad prefix, another plugin has it). */
    int (*proxy_route)(sg_plugin_t *p, const char *prefix, const char *base, int64_t max_age);

    /* ---- name resolution (ABI 1.2) -------------------------------------- */
    /* Look up the host names of this plugin's fetches and proxy routes
     * through this DNS server ("ip" or "ip:port"; NULL or "" = the system
     * resolver): a provider's private network often has names only its own
     * DNS knows. IPv4 (A records), cached by TTL. SG_OK, or SG_ERROR when
     * server is not ip[:port] (logged). */
    int (*net_dns)(sg_plugin_t *p, const char *server);

    /* ---- admission (ABI 1.2) -------------------------------------------- */
    /* How many more live sources (at the average source bitrate) fit the
     * admission budgets (admission.max_sources, max_kbps) right now without
     * pre-empting anyone: 0 when none, INT_MAX when nothing limits.
     * Background work that joins groups (channel checks) keeps its own joins
     * within this, so it never takes a viewer's room. */
    int (*admission_room)(sg_plugin_t *p);

    /* ---- negotiated sources (ABI 1.3) ------------------------------------- */
    /* session_source() with options, and one more scheme:
     * "rtsp://ADDR[:PORT]/..." is a private source of this session: the core
     * binds a UDP port (on o->bind), negotiates RTSP SETUP/PLAY (from
     * o->start) on one TCP connection, keeps it alive with GET_PARAMETER,
     * reads the pushed MPEG-TS through the same hub machinery as live
     * (batching, slow-client policy, admission, metrics) and sends TEARDOWN
     * on every end. Errors: RTSP non-200 or no answer -> 502 with the RTSP
     * status, admission -> 503. When the source ends cleanly the provider's
     * source_ended() hook may continue the same response by calling this
     * again: the next stream's PAT/PMT go first and each PID's first packet
     * is flagged discontinuous, so players carry on. o may be NULL. */
    int (*session_source_ex)(sg_session_t *s, const char *url, const sg_source_opts_t *o);

    /* ---- the catalog's programmes (ABI 1.3) ------------------------------- */
    /* A programme of this plugin's channel (its own id) from the catalog:
     * which is SG_PROG_*. Fills out's start, stop, title and pid (strings
     * valid until the next programme_at call); SG_OK, or SG_DECLINED when
     * there is none (for SG_PROG_AIRING out still holds the last programme
     * starting at or before t, when there is one). */
    int (*programme_at)(sg_plugin_t *p, const char *channel, int64_t t, int which,
                        sg_programme_t *out);

    /* ---- HTTP routes of the plugin's own (ABI 1.5) ---------------------- */
    /* Serve path ("/streamer": absolute, no trailing slash; SG_ROUTE_PREFIX
     * for everything below it too) with cb on the loop. Call from init().
     * The path's first segment is reserved: no channel id takes it. While
     * the plugin is not running its routes answer 503. SG_OK, or SG_ERROR
     * (logged: bad path, taken by the core or another plugin). */
    int (*route)(sg_plugin_t *p, const char *path, unsigned flags, sg_route_pt cb, void *arg);
    /* The request: method ("GET", "HEAD", "POST", "DELETE"), the decoded
     * path without the query, the raw query ("" when none). Valid until the
     * reply. */
    const char *(*hreq_method)(sg_hreq_t *r);
    const char *(*hreq_path)(sg_hreq_t *r);
    const char *(*hreq_query)(sg_hreq_t *r);
    /* A query argument, decoded ('+' is a space) into buf: its length, or
     * -1 when absent or longer than n - 1. */
    long (*hreq_arg)(sg_hreq_t *r, const char *name, char *buf, size_t n);
    /* The request body (NUL-terminated) and its length; NULL when none. */
    const char *(*hreq_body)(sg_hreq_t *r, size_t *len);
    /* The base URL clients reach this server at ("http://host:port", no
     * trailing slash): server.public_url, else the request's Host. */
    void (*hreq_base_url)(sg_hreq_t *r, char *buf, size_t n);
    /* Answer exactly once, now or later from the loop (a request answered
     * later: set hreq_on_close to learn the client went away first, after
     * which r must not be used). Headers added before the reply go with it. */
    void (*reply_header)(sg_hreq_t *r, const char *name, const char *value);
    void (*reply)(sg_hreq_t *r, int status, const char *content_type, const void *body,
                  size_t len);
    /* {"error": "<reason>"} with that status (400..599). */
    void (*reply_error)(sg_hreq_t *r, int status, const char *fmt, ...) SG_PRINTF(3, 4);
    /* A file with Range (206/416), ETag and Last-Modified; 404 when it is
     * not a readable regular file. content_type NULL = by extension. */
    void (*reply_file)(sg_hreq_t *r, const char *path, const char *content_type);
    void (*hreq_on_close)(sg_hreq_t *r, void (*cb)(void *arg), void *arg);
    /* From open(), before session_ready(): the client's Range header
     * against an entity of total bytes (a whole archive window, say).
     * SG_OK: send bytes first..last only, and give session_ready() that
     * length: the answer is 206 with Content-Range. SG_DECLINED: no usable
     * Range, send everything (first = 0, last = total - 1). SG_ERROR: not
     * satisfiable, the session is already failing with 416; return SG_ERROR
     * from open(). Accept-Ranges is sent in every case. */
    int (*session_range)(sg_session_t *s, int64_t total, int64_t *first, int64_t *last);

    /* ---- the segment cache (ABI 1.5) ------------------------------------ */
    /* A segment from the process-wide cache (cache.memory_mb): a hit is
     * SG_OK with *seg set (a reference for the caller, done is not called);
     * otherwise SG_AGAIN and done(arg, ...) later, exactly once unless
     * seg_cancel(*rq) came first. However many ask for one key at once, the
     * upstream is fetched once; a failed or refused body (not 200, text,
     * no TS sync with mpegts) is cached by no one. SG_ERROR: refused at
     * once (bad URL; logged). Pending requests are cancelled when the
     * plugin stops. */
    int (*seg_get)(sg_plugin_t *p, const sg_seg_req_t *req, sg_seg_done_pt done, void *arg,
                   sg_segment_t **seg, sg_segreq_t **rq);
    void (*seg_cancel)(sg_segreq_t *rq);
    const uint8_t *(*seg_data)(const sg_segment_t *seg, size_t *len);
    void (*seg_release)(sg_segment_t *seg);
    /* Answer with the segment's bytes without copying them; takes the
     * reference. content_type NULL = video/mp2t. */
    void (*reply_segment)(sg_hreq_t *r, sg_segment_t *seg, const char *content_type);
    /* From open(): feed this session from a live HLS playlist, its media
     * segments back to back as one MPEG-TS response (TS-only players of an
     * HLS source). url: http(s)://, or "/path?query" for a playlist of this
     * server's own (a plugin's computed one). Playlists (kept 1 s) and
     * segments go through the segment cache, so the readers of one channel
     * cost the upstream one fetch each. The response starts at the segment
     * before the newest and ends after 30 s without a new one. SG_OK, or
     * SG_ERROR (the session is already failing). */
    int (*session_hls)(sg_session_t *s, const char *url);

    /* -- ABI 1.6 ---------------------------------------------------------- */

    /* A folder of the installation: SG_PATH_RECORDINGS (recordings.dir, NULL
     * when none is configured) or SG_PATH_PROGRAMS (where streamgate's helper
     * programs are: the build tree's root when run from it, else bindir). */
    const char *(*path)(sg_plugin_t *p, int which);
};

#define SG_PATH_RECORDINGS 1
#define SG_PATH_PROGRAMS 2

#endif /* SG_HOST_H */
