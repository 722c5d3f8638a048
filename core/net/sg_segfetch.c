/* Fetch-through over the segment cache (see sg_segfetch.h). */
#include "net/sg_segfetch.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/sg_metrics.h"
#include "util/sg_log.h"

#define SG_REDIS_RETRY_MS 5000 /* reconnect after a failure               */
#define SG_REDIS_POLL_MS 100   /* another node fetches: look again        */
#define SG_REDIS_LOCK_MS 20000 /* a fetching node's lock lives this long  */

/* Where a fill is: the shared tier first (when there is one), then
 * upstream. */
enum {
    SG_FILL_REDIS_GET = 1, /* GET the segment from the shared cache        */
    SG_FILL_REDIS_LOCK,    /* SET the lock NX: are we the node to fetch?    */
    SG_FILL_REDIS_WAIT,    /* another node fetches: poll                    */
    SG_FILL_UPSTREAM,      /* fetching                                      */
};

/* One fill of one key. */
typedef struct sg_segfill_s {
    struct sg_segfill_s *prev, *next;
    struct sg_segfetch_s *f;
    void *handle;              /* the HTTP client's                      */
    char *key, *url, *dns;
    int64_t ttl_ms;
    long timeout_ms;
    size_t max_bytes;
    int mpegts;
    int stage, polls, locked;
    int redis_pending;         /* a command's reply is owed to this fill */
    struct event *timer;
} sg_segfill_t;

struct sg_segfetch_s {
    sg_net_t *net;
    struct event_base *base;
    sg_segcache_t *cache;
    sg_segfill_t *fills;       /* in flight                              */
    uint64_t upstream_ok, upstream_failed, refused;
    /* the shared tier */
    char redis_spec[256];
    redisAsyncContext *ac;
    int redis_up, redis_logged, closing;
    struct event *redis_retry;
    char node[64];             /* the lock's value                       */
};

static sg_metric_t *sg_m_requests, *sg_m_upstream, *sg_m_bytes, *sg_m_entries, *sg_m_shared;

static void sg_segfill_step(sg_segfill_t *fl);
static void sg_segfill_upstream(sg_segfill_t *fl);
static void sg_redis_connect(sg_segfetch_t *f);

static int64_t
sg_segfetch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sg_segfill_free(sg_segfill_t *fl)
{
    if (fl->prev) {
        fl->prev->next = fl->next;
    } else if (fl->f->fills == fl) {
        fl->f->fills = fl->next;
    }
    if (fl->next) fl->next->prev = fl->prev;
    if (fl->timer) event_free(fl->timer);
    free(fl->key);
    free(fl->url);
    free(fl->dns);
    free(fl);
}

static const char *
sg_segfetch_check(const sg_fetch_resp_t *r, int mpegts)
{
    const uint8_t *b = (const uint8_t *)r->body;
    if (r->error) return r->error;
    if (r->status != 200) return "the upstream's status is not 200";
    if (!mpegts) return NULL;
    if (r->content_type && (strncmp(r->content_type, "text/", 5) == 0 || strstr(r->content_type, "json") ||
                            strstr(r->content_type, "xml"))) {
        return "a text body, not MPEG-TS";
    }
    if (r->len < 188) return "too short for MPEG-TS";
    for (size_t k = 0; k < 16 && k * 188 < r->len; k++) {
        if (b[k * 188] != 0x47) return "no MPEG-TS sync byte";
    }
    return NULL;
}

/* ---- the shared tier (Redis) ------------------------------------------------------------- */

static void
sg_redis_down(sg_segfetch_t *f, const char *why)
{
    f->redis_up = 0;
    sg_metric_add(sg_m_shared, (const char *const[]){"down"}, 1);
    if (!f->redis_logged) {
        sg_log(SG_LOG_WARN, "segcache", "redis %s: %s; the cache is this node's memory until it is back",
               f->redis_spec, why);
        f->redis_logged = 1;
    }
    if (!f->closing && f->redis_retry) {
        struct timeval tv = {SG_REDIS_RETRY_MS / 1000, 0};
        event_add(f->redis_retry, &tv);
    }
}

static void
sg_redis_on_connect(const redisAsyncContext *ac, int status)
{
    sg_segfetch_t *f = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        f->ac = NULL;
        sg_redis_down(f, ac->errstr[0] ? ac->errstr : "cannot connect");
        return;
    }
    f->redis_up = 1;
    if (f->redis_logged) sg_log(SG_LOG_NOTICE, "segcache", "redis %s: back", f->redis_spec);
    f->redis_logged = 0;
}

static void
sg_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    sg_segfetch_t *f = ac->data;
    f->ac = NULL;
    if (f->closing) return;
    sg_redis_down(f, status == REDIS_OK ? "disconnected" : ac->errstr[0] ? ac->errstr : "lost");
}

static void
sg_redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sg_redis_connect(arg);
}

static void
sg_redis_connect(sg_segfetch_t *f)
{
    redisAsyncContext *ac;
    if (f->ac || f->closing || f->redis_spec[0] == 0) return;
    if (strncmp(f->redis_spec, "unix:", 5) == 0) {
        ac = redisAsyncConnectUnix(f->redis_spec + 5);
    } else {
        char host[200];
        const char *colon = strrchr(f->redis_spec, ':');
        int port = colon ? atoi(colon + 1) : 6379;
        snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - f->redis_spec) : (int)strlen(f->redis_spec),
                 f->redis_spec);
        ac = redisAsyncConnect(host, port);
    }
    if (ac == NULL || ac->err) {
        sg_redis_down(f, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return;
    }
    ac->data = f;
    if (redisLibeventAttach(ac, f->base) != REDIS_OK) {
        redisAsyncFree(ac);
        sg_redis_down(f, "cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, sg_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, sg_redis_on_disconnect);
    f->ac = ac;
}

/* A reply for a fill: NULL when the connection failed (or is closing). */
static redisReply *
sg_redis_reply(sg_segfill_t *fl, void *r)
{
    fl->redis_pending = 0;
    if (fl->f->closing) return NULL;
    if (r == NULL || ((redisReply *)r)->type == REDIS_REPLY_ERROR) {
        /* the shared tier failed this one: upstream it is */
        sg_segfill_upstream(fl);
        return NULL;
    }
    return r;
}

static void
sg_redis_cmd_done(redisAsyncContext *ac, void *r, void *priv)
{
    /* fire-and-forget commands (the lock's release, the segment's store) */
    (void)ac;
    (void)r;
    (void)priv;
}

static void sg_segfill_got_lock(redisAsyncContext *ac, void *r, void *priv);

static void
sg_segfill_got_seg(redisAsyncContext *ac, void *r, void *priv)
{
    sg_segfill_t *fl = priv;
    sg_segfetch_t *f = fl->f;
    redisReply *rep = sg_redis_reply(fl, r);
    char lock[600];
    (void)ac;
    if (rep == NULL) return;
    snprintf(lock, sizeof(lock), "sg:lock:%s", fl->key);
    if (rep->type == REDIS_REPLY_STRING) {
        /* another node fetched it */
        sg_metric_add(sg_m_shared, (const char *const[]){"hit"}, 1);
        if (fl->locked && f->ac) redisAsyncCommand(f->ac, sg_redis_cmd_done, NULL, "DEL %s", lock);
        sg_segcache_put(f->cache, fl->key, rep->str, rep->len, fl->ttl_ms, sg_segfetch_now());
        sg_segfill_free(fl);
        return;
    }
    if (fl->locked) {
        /* ours, and still not there after all: fetch it */
        sg_segfill_upstream(fl);
        return;
    }
    /* absent: are we the node to fetch it? */
    if (f->ac == NULL || !f->redis_up) {
        sg_segfill_upstream(fl);
        return;
    }
    fl->stage = SG_FILL_REDIS_LOCK;
    fl->redis_pending = 1;
    if (redisAsyncCommand(f->ac, sg_segfill_got_lock, fl, "SET %s %s NX PX %d", lock, f->node,
                          SG_REDIS_LOCK_MS) != REDIS_OK) {
        fl->redis_pending = 0;
        sg_segfill_upstream(fl);
    }
}

static void
sg_segfill_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sg_segfill_step(arg);
}

static void
sg_segfill_got_lock(redisAsyncContext *ac, void *r, void *priv)
{
    sg_segfill_t *fl = priv;
    redisReply *rep = sg_redis_reply(fl, r);
    (void)ac;
    if (rep == NULL) return;
    if (rep->type == REDIS_REPLY_STATUS) {
        /* OK: ours to fetch; the others wait for what we store. But the
         * node that held the lock before may have stored it between our
         * GET and this lock (it stores, then drops the lock): look once
         * more before fetching. */
        fl->locked = 1;
        sg_segfill_step(fl);
        return;
    }
    /* nil: another node holds the lock; look again shortly (give up
     * waiting after the lock's lifetime: then fetch ourselves) */
    if (++fl->polls * SG_REDIS_POLL_MS > SG_REDIS_LOCK_MS) {
        sg_segfill_upstream(fl);
        return;
    }
    fl->stage = SG_FILL_REDIS_WAIT;
    if (fl->timer == NULL) fl->timer = evtimer_new(fl->f->base, sg_segfill_poll, fl);
    if (fl->timer == NULL) {
        sg_segfill_upstream(fl);
        return;
    }
    {
        struct timeval tv = {0, SG_REDIS_POLL_MS * 1000};
        evtimer_add(fl->timer, &tv);
    }
}

/* Ask the shared tier for the segment (first, or again while another node
 * fetches it). */
static void
sg_segfill_step(sg_segfill_t *fl)
{
    sg_segfetch_t *f = fl->f;
    char k[600];
    if (f->ac == NULL || !f->redis_up) {
        sg_segfill_upstream(fl);
        return;
    }
    snprintf(k, sizeof(k), "sg:seg:%s", fl->key);
    fl->stage = SG_FILL_REDIS_GET;
    fl->redis_pending = 1;
    if (redisAsyncCommand(f->ac, sg_segfill_got_seg, fl, "GET %s", k) != REDIS_OK) {
        fl->redis_pending = 0;
        sg_segfill_upstream(fl);
    }
}

/* ---- upstream ----------------------------------------------------------------------------------- */

static void
sg_segfetch_done(const sg_fetch_resp_t *r, void *arg)
{
    sg_segfill_t *fl = arg;
    sg_segfetch_t *f = fl->f;
    const char *bad = sg_segfetch_check(r, fl->mpegts);
    char k[600];

    fl->handle = NULL;
    sg_metric_add(sg_m_upstream, (const char *const[]){bad ? "failed" : "ok"}, 1);
    if (bad == NULL) {
        f->upstream_ok++;
        if (fl->locked && f->ac && f->redis_up) {
            /* for the other nodes, then the lock goes */
            snprintf(k, sizeof(k), "sg:seg:%s", fl->key);
            redisAsyncCommand(f->ac, sg_redis_cmd_done, NULL, "SET %s %b PX %lld", k, r->body,
                              r->len, (long long)fl->ttl_ms);
        }
        sg_segcache_put(f->cache, fl->key, r->body, r->len, fl->ttl_ms, sg_segfetch_now());
    } else {
        char why[200];
        f->upstream_failed++;
        if (r->status && r->status != 200) {
            snprintf(why, sizeof(why), "upstream HTTP %d", r->status);
        } else {
            snprintf(why, sizeof(why), "%s", bad);
        }
        sg_log(SG_LOG_INFO, "segcache", "%s: %s", r->url ? r->url : fl->key, why);
        sg_segcache_fail(f->cache, fl->key, r->status, why);
    }
    if (fl->locked && f->ac && f->redis_up) {
        snprintf(k, sizeof(k), "sg:lock:%s", fl->key);
        redisAsyncCommand(f->ac, sg_redis_cmd_done, NULL, "DEL %s", k);
    }
    sg_segfill_free(fl);
}

/* Start the upstream fetch: 0, or -1 when it cannot start. */
static int
sg_segfill_fetch(sg_segfill_t *fl)
{
    sg_segfetch_t *f = fl->f;
    void *share = NULL;

    if (f->redis_spec[0] && !fl->locked) sg_metric_add(sg_m_shared, (const char *const[]){"bypassed"}, 1);
    fl->stage = SG_FILL_UPSTREAM;
    fl->handle = sg_net_fetch(f->net,
                              &(sg_fetch_req_t){.url = fl->url, .timeout_ms = fl->timeout_ms,
                                                .max_bytes = fl->max_bytes, .follow_redirects = 1},
                              &share, fl->dns, sg_segfetch_done, fl);
    return fl->handle ? 0 : -1;
}

static void
sg_segfill_upstream(sg_segfill_t *fl)
{
    sg_segfetch_t *f = fl->f;
    if (sg_segfill_fetch(fl) != 0) {
        sg_segcache_fail(f->cache, fl->key, 0, "cannot start the request");
        sg_segfill_free(fl);
    }
}

/* ---- the interface ------------------------------------------------------------------------------ */

int
sg_segfetch_get(sg_segfetch_t *f, const sg_seg_req_t *req, const char *dns, sg_seg_ready_pt cb,
                void *arg, sg_seg_t **seg, sg_segwait_t **w, const char **why)
{
    const char *key = req->key && req->key[0] ? req->key : req->url;
    sg_segfill_t *fl;
    int fill = 0, rc;

    *seg = NULL;
    *w = NULL;
    if (req->url == NULL || (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        f->refused++;
        *why = "not an http:// or https:// URL";
        return -1;
    }
    if (strlen(key) > 500) {
        f->refused++;
        *why = "the key is too long";
        return -1;
    }
    rc = sg_segcache_get(f->cache, key, sg_segfetch_now(), cb, arg, seg, w, &fill);
    if (rc >= 0) {
        sg_metric_add(sg_m_requests, (const char *const[]){rc == 1 ? "hit" : fill ? "fill" : "wait"},
                      1);
    }
    if (rc != 0 || !fill) {
        if (rc < 0) *why = "out of memory";
        return rc;
    }
    fl = calloc(1, sizeof(*fl));
    if (fl == NULL || (fl->key = strdup(key)) == NULL || (fl->url = strdup(req->url)) == NULL ||
        (dns && (fl->dns = strdup(dns)) == NULL)) {
        if (fl) {
            free(fl->key);
            free(fl->url);
        }
        free(fl);
        sg_segcache_cancel(f->cache, *w);
        sg_segcache_fail(f->cache, key, 0, "out of memory");
        *w = NULL;
        *why = "out of memory";
        return -1;
    }
    fl->f = f;
    fl->ttl_ms = req->ttl_ms > 0 ? req->ttl_ms : 60000;
    fl->timeout_ms = req->timeout_ms ? req->timeout_ms : 15000;
    fl->max_bytes = req->max_bytes ? req->max_bytes : (64u << 20);
    fl->mpegts = req->mpegts;
    fl->next = f->fills;
    if (fl->next) fl->next->prev = fl;
    f->fills = fl;
    /* Nothing here may call cb before we return: the shared tier answers
     * later; a fetch that cannot even start is this call's failure. */
    if (f->ac && f->redis_up) {
        char k[600];
        snprintf(k, sizeof(k), "sg:seg:%s", fl->key);
        fl->stage = SG_FILL_REDIS_GET;
        fl->redis_pending = 1;
        if (redisAsyncCommand(f->ac, sg_segfill_got_seg, fl, "GET %s", k) == REDIS_OK) return 0;
        fl->redis_pending = 0;
    }
    if (sg_segfill_fetch(fl) != 0) {
        sg_segcache_cancel(f->cache, *w);
        *w = NULL;
        sg_segcache_fail(f->cache, key, 0, "cannot start the request");
        sg_segfill_free(fl);
        *why = "cannot start the request";
        return -1;
    }
    return 0;
}

void
sg_segfetch_cancel(sg_segfetch_t *f, sg_segwait_t *w)
{
    sg_segcache_cancel(f->cache, w);
}

sg_segcache_t *
sg_segfetch_cache(sg_segfetch_t *f)
{
    return f->cache;
}

sg_segfetch_t *
sg_segfetch_new(sg_net_t *net, struct event_base *base, size_t max_bytes, const char *redis)
{
    sg_segfetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    f->net = net;
    f->base = base;
    f->cache = sg_segcache_new(max_bytes);
    if (f->cache == NULL) {
        free(f);
        return NULL;
    }
    if (redis && redis[0]) {
        snprintf(f->redis_spec, sizeof(f->redis_spec), "%s", redis);
        snprintf(f->node, sizeof(f->node), "%ld-%lld", (long)getpid(), (long long)sg_segfetch_now());
        f->redis_retry = evtimer_new(base, sg_redis_retry_cb, f);
        sg_redis_connect(f);
    }
    return f;
}

void
sg_segfetch_free(sg_segfetch_t *f)
{
    if (f == NULL) return;
    f->closing = 1;
    if (f->ac) {
        /* pending replies come back NULL and see closing */
        redisAsyncContext *ac = f->ac;
        f->ac = NULL;
        redisAsyncFree(ac);
    }
    if (f->redis_retry) event_free(f->redis_retry);
    while (f->fills) {
        if (f->fills->handle) sg_net_cancel(f->net, f->fills->handle);
        sg_segfill_free(f->fills);
    }
    sg_segcache_free(f->cache); /* wakes what still waits: "shutting down" */
    free(f);
}

static void
sg_segfetch_collect(sg_metric_t *m, void *arg)
{
    sg_segfetch_t *f = arg;
    sg_segcache_stats_t st;
    (void)m;
    sg_segcache_stats(f->cache, &st);
    sg_metric_set(sg_m_bytes, NULL, (double)st.bytes);
    sg_metric_set(sg_m_entries, NULL, (double)st.entries);
}

void
sg_segfetch_metrics_init(sg_segfetch_t *f)
{
    static const char *const result[] = {"result", NULL};
    sg_m_requests = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "segcache_requests_total",
                            .help = "Segment cache requests: hit, fill (the first asker of a "
                                    "missing segment) or wait (joined a fill)",
                            .labels = result},
        "streamgate_", 0);
    sg_m_upstream = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "segcache_upstream_fetches_total",
                            .help = "Upstream fetches made by the segment cache, by result",
                            .labels = result},
        "streamgate_", 0);
    sg_m_shared = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "segcache_shared_total",
                            .help = "The shared (Redis) tier: hit (another node fetched it), "
                                    "bypassed (fetched without it), down (connection failures)",
                            .labels = result},
        "streamgate_", 0);
    sg_m_bytes = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "segcache_bytes",
                                                   .help = "Bytes held by the segment cache"},
                               "streamgate_", 0);
    sg_m_entries = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                     .name = "segcache_entries",
                                                     .help = "Segments held by the segment cache"},
                                 "streamgate_", 0);
    if (sg_m_bytes) sg_metric_set_collect(sg_m_bytes, sg_segfetch_collect, f);
}
