/* Fetch-through over the segment cache (see sg_segfetch.h). */
#include "net/sg_segfetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/sg_metrics.h"
#include "util/sg_log.h"

/* One upstream fetch filling one key. */
typedef struct sg_segfill_s {
    struct sg_segfill_s *prev, *next;
    struct sg_segfetch_s *f;
    void *handle;              /* the HTTP client's                      */
    char *key;
    int64_t ttl_ms;
    int mpegts;
} sg_segfill_t;

struct sg_segfetch_s {
    sg_net_t *net;
    sg_segcache_t *cache;
    sg_segfill_t *fills;       /* in flight                              */
    uint64_t upstream_ok, upstream_failed, refused;
};

static void
sg_segfill_free(sg_segfill_t *fl)
{
    if (fl->prev) {
        fl->prev->next = fl->next;
    } else if (fl->f->fills == fl) {
        fl->f->fills = fl->next;
    }
    if (fl->next) fl->next->prev = fl->prev;
    free(fl->key);
    free(fl);
}

static sg_metric_t *sg_m_requests, *sg_m_upstream, *sg_m_bytes, *sg_m_entries;

static int64_t
sg_segfetch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static void
sg_segfetch_done(const sg_fetch_resp_t *r, void *arg)
{
    sg_segfill_t *fl = arg;
    sg_segfetch_t *f = fl->f;
    const char *bad = sg_segfetch_check(r, fl->mpegts);

    sg_metric_add(sg_m_upstream, (const char *const[]){bad ? "failed" : "ok"}, 1);
    if (bad == NULL) {
        f->upstream_ok++;
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
    sg_segfill_free(fl);
}

int
sg_segfetch_get(sg_segfetch_t *f, const sg_seg_req_t *req, const char *dns, sg_seg_ready_pt cb,
                void *arg, sg_seg_t **seg, sg_segwait_t **w, const char **why)
{
    const char *key = req->key && req->key[0] ? req->key : req->url;
    sg_segfill_t *fl;
    int fill = 0, rc;
    void *share = NULL;

    *seg = NULL;
    *w = NULL;
    if (req->url == NULL || (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        f->refused++;
        *why = "not an http:// or https:// URL";
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
    if (fl == NULL || (fl->key = strdup(key)) == NULL) {
        free(fl);
        sg_segcache_cancel(f->cache, *w);
        sg_segcache_fail(f->cache, key, 0, "out of memory");
        *w = NULL;
        *why = "out of memory";
        return -1;
    }
    fl->f = f;
    fl->ttl_ms = req->ttl_ms > 0 ? req->ttl_ms : 60000;
    fl->mpegts = req->mpegts;
    fl->next = f->fills;
    if (fl->next) fl->next->prev = fl;
    f->fills = fl;
    if ((fl->handle = sg_net_fetch(f->net,
                     &(sg_fetch_req_t){.url = req->url, .headers = req->headers,
                                       .timeout_ms = req->timeout_ms ? req->timeout_ms : 15000,
                                       .max_bytes = req->max_bytes ? req->max_bytes : (64u << 20),
                                       .follow_redirects = 1},
                     &share, dns, sg_segfetch_done, fl)) == NULL) {
        /* nobody else waits yet: ours is the only waiter */
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
sg_segfetch_new(sg_net_t *net, size_t max_bytes)
{
    sg_segfetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    f->net = net;
    f->cache = sg_segcache_new(max_bytes);
    if (f->cache == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

void
sg_segfetch_free(sg_segfetch_t *f)
{
    if (f == NULL) return;
    while (f->fills) {
        sg_net_cancel(f->net, f->fills->handle);
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
    sg_m_bytes = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "segcache_bytes",
                                                   .help = "Bytes held by the segment cache"},
                               "streamgate_", 0);
    sg_m_entries = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                     .name = "segcache_entries",
                                                     .help = "Segments held by the segment cache"},
                                 "streamgate_", 0);
    if (sg_m_bytes) sg_metric_set_collect(sg_m_bytes, sg_segfetch_collect, f);
}
