/* The host table: every core service a plugin can reach. */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "http/sg_http.h"
#include "metrics/sg_metrics.h"
#include "net/sg_dns.h"
#include "net/sg_net.h"
#include "net/sg_proxy.h"
#include "net/sg_segfetch.h"
#include "plugin/sg_plugin.h"
#include "stream/sg_hub.h"
#include "stream/sg_session.h"
#include "stream/sg_source.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

struct sg_timer_s {
    struct sg_timer_s *prev, *next;
    sg_plugin_t *p;
    struct event *ev;
    sg_timer_pt cb;
    void *arg;
    int repeat;
    int firing, stopped;
};

struct sg_fetch_s {
    struct sg_fetch_s *prev, *next;
    sg_plugin_t *p;
    void *handle;
    sg_fetch_done_pt done;
    void *arg;
};

struct sg_dgram_s {
    struct sg_dgram_s *prev, *next;
    sg_plugin_t *p;
    int fd;
    struct event *ev;
    sg_dgram_pt cb;
    void *arg;
    int firing, closed;
};

struct sg_status_s {
    json_t *obj;
};

/* A pending catalog commit outlives nothing: if the plugin stops first, its
 * callback is not called. */
typedef struct sg_commit_s {
    struct sg_commit_s *next;
    sg_plugin_t *p;
    sg_done_pt done;
    void *arg;
} sg_commit_t;

static sg_commit_t *sg_commits;

/* ---- logging, state ----------------------------------------------------------------- */

static void
sg_host_log(sg_plugin_t *p, int level, const char *fmt, ...)
{
    char sub[80];
    va_list ap;
    snprintf(sub, sizeof(sub), "<%s>", p ? p->name : "?");
    va_start(ap, fmt);
    sg_logv(level, sub, fmt, ap);
    va_end(ap);
}

static int
sg_host_log_enabled(sg_plugin_t *p, int level)
{
    return sg_log_enabled(level);
}

static void
sg_host_set_state(sg_plugin_t *p, const char *state)
{
    if (strcmp(p->status, state ? state : "") == 0) return;
    snprintf(p->status, sizeof(p->status), "%s", state ? state : "");
    sg_log(SG_LOG_INFO, "plugin", "%s: %s", p->name, p->status);
}

static const char *
sg_host_name(sg_plugin_t *p)
{
    return p->name;
}

/* ---- config ----------------------------------------------------------------------------- */

static const sg_conf_t *
sg_host_conf(sg_plugin_t *p)
{
    return p->conf;
}

static void
sg_host_conf_error(const sg_conf_t *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_conf_verror(c, key, fmt, ap);
    va_end(ap);
}

/* ---- memory ------------------------------------------------------------------------------ */

typedef struct sg_mem_hdr_s {
    sg_plugin_t *p;
    size_t size;
} sg_mem_hdr_t;

#define SG_MEM_HDR ((sizeof(sg_mem_hdr_t) + 15) & ~(size_t)15)

static void *
sg_host_alloc(sg_plugin_t *p, size_t n)
{
    sg_mem_hdr_t *h;
    if (n > SIZE_MAX - SG_MEM_HDR) return NULL;
    h = calloc(1, SG_MEM_HDR + n);
    if (h == NULL) return NULL;
    h->p = p;
    h->size = n;
    p->mem_bytes += (int64_t)n;
    p->mem_allocs++;
    return (char *)h + SG_MEM_HDR;
}

static void
sg_host_free(void *ptr)
{
    sg_mem_hdr_t *h;
    if (ptr == NULL) return;
    h = (sg_mem_hdr_t *)((char *)ptr - SG_MEM_HDR);
    h->p->mem_bytes -= (int64_t)h->size;
    h->p->mem_allocs--;
    free(h);
}

static void *
sg_host_realloc(void *ptr, size_t n)
{
    sg_mem_hdr_t *h, *nh;
    if (ptr == NULL) return NULL; /* the owner is unknown: use alloc first */
    if (n > SIZE_MAX - SG_MEM_HDR) return NULL;
    h = (sg_mem_hdr_t *)((char *)ptr - SG_MEM_HDR);
    nh = realloc(h, SG_MEM_HDR + n);
    if (nh == NULL) return NULL;
    nh->p->mem_bytes += (int64_t)n - (int64_t)nh->size;
    nh->size = n;
    return (char *)nh + SG_MEM_HDR;
}

static char *
sg_host_strdup(sg_plugin_t *p, const char *s)
{
    size_t n;
    char *d;
    if (s == NULL) return NULL;
    n = strlen(s) + 1;
    d = sg_host_alloc(p, n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- event loop, timers ------------------------------------------------------------------- */

static struct event_base *
sg_host_event_base(sg_plugin_t *p)
{
    return p->d->base;
}

static void
sg_timer_unlink_free(sg_timer_t *t)
{
    SG_LIST_REMOVE(&t->p->timers, t);
    event_free(t->ev);
    free(t);
}

static void
sg_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_timer_t *t = arg;
    t->firing = 1;
    t->cb(t->arg);
    t->firing = 0;
    /* One-shot timers end after their callback; timer_stop() from inside
     * a callback is honoured here. */
    if (!t->repeat || t->stopped) sg_timer_unlink_free(t);
}

static sg_timer_t *
sg_host_timer_start(sg_plugin_t *p, uint64_t ms, int repeat, sg_timer_pt cb, void *arg)
{
    sg_timer_t *t = calloc(1, sizeof(*t));
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (t == NULL) return NULL;
    t->p = p;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat;
    t->ev = event_new(p->d->base, -1, repeat ? EV_PERSIST : 0, sg_timer_cb, t);
    if (t->ev == NULL || event_add(t->ev, &tv) != 0) {
        if (t->ev) event_free(t->ev);
        free(t);
        return NULL;
    }
    SG_LIST_PUSH(&p->timers, t);
    return t;
}

static void
sg_host_timer_stop(sg_timer_t *t)
{
    if (t == NULL) return;
    if (t->firing) {
        t->stopped = 1;
        event_del(t->ev);
        return;
    }
    sg_timer_unlink_free(t);
}

/* ---- datagram sockets ------------------------------------------------------------------- */

#define SG_DGRAM_BATCH 32
#define SG_DGRAM_MAX 2048

static void
sg_dgram_unlink_free(sg_dgram_t *d)
{
    SG_LIST_REMOVE(&d->p->dgrams, d);
    event_free(d->ev);
    close(d->fd);
    free(d);
}

static void
sg_dgram_read_cb(evutil_socket_t fd, short what, void *arg)
{
    static uint8_t buf[SG_DGRAM_BATCH][SG_DGRAM_MAX];
    struct mmsghdr msgs[SG_DGRAM_BATCH];
    struct iovec iov[SG_DGRAM_BATCH];
    sg_dgram_t *d = arg;
    int n;

    (void)what;
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < SG_DGRAM_BATCH; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = sizeof(buf[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    n = recvmmsg(fd, msgs, SG_DGRAM_BATCH, MSG_DONTWAIT, NULL);
    d->firing = 1;
    for (int i = 0; i < n && !d->closed; i++) {
        /* A datagram longer than the buffer is cut: MSG_TRUNC tells. */
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
        d->cb(d->arg, buf[i], msgs[i].msg_len);
    }
    d->firing = 0;
    if (d->closed) sg_dgram_unlink_free(d);
}

static sg_dgram_t *
sg_host_dgram_open(sg_plugin_t *p, const char *url, sg_dgram_pt cb, void *arg, const char **why)
{
    sg_source_addr_t a;
    sg_dgram_t *d;
    const char *dummy;

    if (why == NULL) why = &dummy;
    *why = NULL;
    if (sg_source_parse_url(url, &a, why) != 0) return NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        *why = "out of memory";
        return NULL;
    }
    d->fd = sg_source_open(&a, 0, why);
    if (d->fd < 0) {
        free(d);
        return NULL;
    }
    d->p = p;
    d->cb = cb;
    d->arg = arg;
    d->ev = event_new(p->d->base, d->fd, EV_READ | EV_PERSIST, sg_dgram_read_cb, d);
    if (d->ev == NULL || event_add(d->ev, NULL) != 0) {
        if (d->ev) event_free(d->ev);
        close(d->fd);
        free(d);
        *why = "cannot watch the socket";
        return NULL;
    }
    SG_LIST_PUSH(&p->dgrams, d);
    return d;
}

static void
sg_host_dgram_close(sg_dgram_t *d)
{
    if (d == NULL) return;
    if (d->firing) {
        d->closed = 1;
        event_del(d->ev);
        return;
    }
    sg_dgram_unlink_free(d);
}

static const char *sg_host_state_dir(sg_plugin_t *p);

/* ---- admission ---------------------------------------------------------------------------- */

static int
sg_host_admission_room(sg_plugin_t *p)
{
    return p->d->hubs ? sg_hubs_room(p->d->hubs) : 0;
}

/* ---- the catalog's programmes -------------------------------------------------------------- */

static int
sg_host_programme_at(sg_plugin_t *p, const char *channel, int64_t t, int which,
                     sg_programme_t *out)
{
    static sg_prog_hit_t hit;
    int rc;

    memset(out, 0, sizeof(*out));
    if (channel == NULL) return SG_DECLINED;
    memset(&hit, 0, sizeof(hit));
    rc = sg_catalog_programme_at(p->d->catalog, p->name, channel, t, which, &hit);
    if (hit.start || hit.stop) {
        out->channel = channel;
        out->start = hit.start;
        out->stop = hit.stop;
        out->title = hit.title;
        out->pid = hit.pid[0] ? hit.pid : NULL;
    }
    return rc;
}

/* ---- name resolution ------------------------------------------------------------------------ */

static int
sg_host_net_dns(sg_plugin_t *p, const char *server)
{
    if (server == NULL || server[0] == '\0') {
        p->dns[0] = '\0';
        return SG_OK;
    }
    if (sg_dns_server_check(server) != 0 || strlen(server) >= sizeof(p->dns)) {
        sg_log(SG_LOG_ERR, "plugin", "%s: DNS server \"%s\" is not ip[:port]", p->name, server);
        return SG_ERROR;
    }
    snprintf(p->dns, sizeof(p->dns), "%s", server);
    return SG_OK;
}

/* ---- image proxy ---------------------------------------------------------------------------- */

static int
sg_host_proxy_route(sg_plugin_t *p, const char *prefix, const char *base, int64_t max_age)
{
    const char *sd = sg_host_state_dir(p), *why = NULL;
    char dir[1024];

    if (sd == NULL || prefix == NULL) return SG_ERROR;
    snprintf(dir, sizeof(dir), "%s/cache%s", sd, prefix);
    if (sg_proxy_add(p->d->proxy, p->name, prefix, base, dir, max_age, p->dns, &why) != 0) {
        sg_log(SG_LOG_ERR, "plugin", "%s: proxy route %s: %s", p->name, prefix, why);
        return SG_ERROR;
    }
    return SG_OK;
}

/* ---- HTTP routes ------------------------------------------------------------------------------- */

struct sg_proute_s {
    struct sg_proute_s *next;
    sg_plugin_t *p;
    sg_route_pt cb;
    void *arg;
    char metric[64];
};

static void
sg_host_route_handler(sg_http_req_t *r, void *arg)
{
    struct sg_proute_s *rt = arg;
    if (rt->p->lstate != SG_PLUGIN_RUNNING) {
        sg_http_error(r, 503, "the %s plugin is not running", rt->p->name);
        return;
    }
    rt->cb((sg_hreq_t *)r, rt->arg);
}

static int
sg_host_route(sg_plugin_t *p, const char *path, unsigned flags, sg_route_pt cb, void *arg)
{
    sg_http_server_t *h = p->d->http;
    struct sg_proute_s *rt;
    size_t n = path ? strlen(path) : 0;

    if (h == NULL || cb == NULL || n < 2 || path[0] != '/' || path[n - 1] == '/' ||
        strstr(path, "//") || strchr(path, '?') || strchr(path, '%')) {
        sg_log(SG_LOG_ERR, "plugin", "%s: route %s: not an absolute path", p->name,
               path ? path : "(null)");
        return SG_ERROR;
    }
    if (sg_http_route_exists(h, path)) {
        sg_log(SG_LOG_ERR, "plugin", "%s: route %s: already served by someone else", p->name, path);
        return SG_ERROR;
    }
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) return SG_ERROR;
    rt->p = p;
    rt->cb = cb;
    rt->arg = arg;
    snprintf(rt->metric, sizeof(rt->metric), "%s", p->name);
    flags &= SG_ROUTE_PREFIX | SG_ROUTE_GET | SG_ROUTE_POST | SG_ROUTE_DELETE | SG_ROUTE_ADMIN;
    if (!(flags & (SG_ROUTE_GET | SG_ROUTE_POST | SG_ROUTE_DELETE))) flags |= SG_ROUTE_GET;
    if (sg_http_route(h, path, flags, rt->metric, sg_host_route_handler, rt) != 0) {
        free(rt);
        return SG_ERROR;
    }
    rt->next = p->routes;
    p->routes = rt;
    /* its first segment is no channel id's any more */
    if (p->d->catalog) sg_catalog_set_reserved(p->d->catalog, sg_http_reserved_words(h));
    return SG_OK;
}

void
sg_host_routes_free(sg_plugin_t *p)
{
    while (p->routes) {
        struct sg_proute_s *rt = p->routes;
        p->routes = rt->next;
        free(rt);
    }
}

static const char *
sg_host_hreq_method(sg_hreq_t *r)
{
    return ((sg_http_req_t *)r)->method;
}

static const char *
sg_host_hreq_path(sg_hreq_t *r)
{
    return ((sg_http_req_t *)r)->path;
}

static const char *
sg_host_hreq_query(sg_hreq_t *r)
{
    const char *q = ((sg_http_req_t *)r)->query;
    return q ? q : "";
}

static long
sg_host_hreq_arg(sg_hreq_t *r, const char *name, char *buf, size_t n)
{
    const char *q = ((sg_http_req_t *)r)->query;
    ssize_t l;
    if (q == NULL || buf == NULL || n == 0) return -1;
    l = sg_query_get(q, name, buf, n);
    return l < 0 || (size_t)l >= n ? -1 : (long)l;
}

static const char *
sg_host_hreq_body(sg_hreq_t *r, size_t *len)
{
    sg_http_req_t *hr = (sg_http_req_t *)r;
    if (len) *len = hr->body ? hr->body_len : 0;
    return hr->body;
}

static void
sg_host_hreq_base_url(sg_hreq_t *r, char *buf, size_t n)
{
    sg_http_base_url((sg_http_req_t *)r, buf, n);
}

static void
sg_host_reply_header(sg_hreq_t *r, const char *name, const char *value)
{
    sg_http_add_header((sg_http_req_t *)r, name, "%s", value);
}

static void
sg_host_reply(sg_hreq_t *r, int status, const char *ctype, const void *body, size_t len)
{
    sg_http_reply((sg_http_req_t *)r, status, ctype, body, len);
}

static void
sg_host_reply_error(sg_hreq_t *r, int status, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (status < 400 || status > 599) status = 500;
    sg_http_error((sg_http_req_t *)r, status, "%s", why);
}

static const char *
sg_host_ctype_of(const char *path)
{
    static const struct {
        const char *ext, *ctype;
    } types[] = {
        {".ts", "video/mp2t"},          {".m3u8", "application/vnd.apple.mpegurl"},
        {".mp4", "video/mp4"},          {".mkv", "video/x-matroska"},
        {".json", "application/json"},  {".xml", "application/xml"},
        {".jpg", "image/jpeg"},         {".png", "image/png"},
        {".bin", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (sg_has_suffix(path, types[i].ext)) return types[i].ctype;
    }
    return "application/octet-stream";
}

static void
sg_host_reply_file(sg_hreq_t *r, const char *path, const char *ctype)
{
    sg_http_reply_file((sg_http_req_t *)r, path, ctype ? ctype : sg_host_ctype_of(path));
}

static void
sg_host_hreq_closed(sg_http_req_t *r, void *arg)
{
    void (*cb)(void *) = r->owner_close;
    r->owner_close = NULL;
    if (cb) cb(arg);
}

static void
sg_host_hreq_on_close(sg_hreq_t *r, void (*cb)(void *arg), void *arg)
{
    sg_http_req_t *hr = (sg_http_req_t *)r;
    hr->owner_close = cb;
    hr->on_close = cb ? sg_host_hreq_closed : NULL;
    hr->owner = arg;
}

/* ---- the segment cache --------------------------------------------------------------------- */

struct sg_segreq_s {
    struct sg_segreq_s *prev, *next;
    sg_plugin_t *p;
    sg_segwait_t *w;
    sg_seg_done_pt done;
    void *arg;
};

static void
sg_segreq_unlink(sg_segreq_t *q)
{
    if (q->prev) {
        q->prev->next = q->next;
    } else {
        q->p->segreqs = q->next;
    }
    if (q->next) q->next->prev = q->prev;
}

static void
sg_host_seg_ready(void *arg, sg_seg_t *seg, int status, const char *why)
{
    sg_segreq_t *q = arg;
    sg_seg_done_pt done = q->done;
    void *darg = q->arg;
    sg_segreq_unlink(q);
    free(q);
    done(darg, seg, status, why);
}

static int
sg_host_seg_get(sg_plugin_t *p, const sg_seg_req_t *req, sg_seg_done_pt done, void *arg,
                sg_segment_t **seg, sg_segreq_t **rq)
{
    sg_segfetch_t *f = p->d->segfetch;
    sg_segreq_t *q;
    const char *why = NULL;
    int rc;

    *seg = NULL;
    if (rq) *rq = NULL;
    if (f == NULL || done == NULL) return SG_ERROR;
    q = calloc(1, sizeof(*q));
    if (q == NULL) return SG_ERROR;
    q->p = p;
    q->done = done;
    q->arg = arg;
    rc = sg_segfetch_get(f, req, p->dns[0] ? p->dns : NULL, sg_host_seg_ready, q, seg, &q->w, &why);
    if (rc != 0) {
        free(q);
        if (rc < 0) {
            sg_log(SG_LOG_WARN, "plugin", "%s: segment %s: %s", p->name, req->url ? req->url : "",
                   why);
            return SG_ERROR;
        }
        return SG_OK;
    }
    q->next = p->segreqs;
    if (q->next) q->next->prev = q;
    p->segreqs = q;
    if (rq) *rq = q;
    return SG_AGAIN;
}

static void
sg_host_seg_cancel(sg_segreq_t *q)
{
    if (q == NULL) return;
    sg_segfetch_cancel(q->p->d->segfetch, q->w);
    sg_segreq_unlink(q);
    free(q);
}

static const uint8_t *
sg_host_seg_data(const sg_segment_t *seg, size_t *len)
{
    *len = seg->len;
    return seg->data;
}

static void
sg_host_seg_release(sg_segment_t *seg)
{
    sg_seg_unref(seg);
}

static void
sg_host_seg_sent(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    sg_seg_unref(arg);
}

static void
sg_host_reply_segment(sg_hreq_t *r, sg_segment_t *seg, const char *ctype)
{
    sg_http_add_header((sg_http_req_t *)r, "Cache-Control", "max-age=600");
    sg_http_reply_ref((sg_http_req_t *)r, 200, ctype ? ctype : "video/mp2t", seg->data, seg->len,
                      sg_host_seg_sent, seg);
}

/* ---- storage ---------------------------------------------------------------------------------- */

static const char *
sg_host_state_dir(sg_plugin_t *p)
{
    if (p->state_dir == NULL) {
        char *dir;
        if (asprintf(&dir, "%s/%s", p->d->state_dir, p->name) < 0) return NULL;
        if (sg_mkdir_p(dir, 0755) != 0) {
            sg_log(SG_LOG_ERR, "plugin", "%s: cannot create %s: %s", p->name, dir, strerror(errno));
            free(dir);
            return NULL;
        }
        p->state_dir = dir;
    }
    return p->state_dir;
}

static int
sg_host_kv_set(sg_plugin_t *p, const char *key, const void *val, size_t len)
{
    return sg_catalog_kv_set(p->d->catalog, p->name, key, val, len);
}

static int
sg_host_kv_get(sg_plugin_t *p, const char *key, void **val, size_t *len)
{
    void *v = NULL;
    size_t n = 0;
    int rc = sg_catalog_kv_get(p->d->catalog, p->name, key, &v, &n);
    *val = NULL;
    if (len) *len = 0;
    if (rc != SG_OK) return rc;
    /* Hand it over as plugin memory so host->free() accepts it. */
    *val = sg_host_alloc(p, n + 1);
    if (*val == NULL) {
        free(v);
        return SG_ERROR;
    }
    memcpy(*val, v, n + 1);
    if (len) *len = n;
    free(v);
    return SG_OK;
}

static int
sg_host_kv_del(sg_plugin_t *p, const char *key)
{
    return sg_catalog_kv_del(p->d->catalog, p->name, key);
}

/* ---- catalog ------------------------------------------------------------------------------------ */

static sg_txn_t *
sg_host_catalog_begin(sg_plugin_t *p, unsigned flags)
{
    sg_txn_t *t;
    if (!(p->prov.caps & (SG_CAP_CHANNELS | SG_CAP_EPG))) {
        sg_log(SG_LOG_ALERT, "plugin", "%s writes the catalog without SG_CAP_CHANNELS/EPG", p->name);
        return NULL;
    }
    t = sg_catalog_begin(p->d->catalog, p->name, flags);
    if (t) sg_txn_set_owner(t, p);
    return t;
}

static int
sg_host_catalog_channel(sg_txn_t *t, const sg_channel_t *ch)
{
    sg_plugin_t *p = sg_txn_owner(t);
    sg_channel_t copy = *ch;
    /* A channel cannot offer what its plugin cannot serve. */
    copy.caps &= p->prov.caps & (SG_CAP_LIVE | SG_CAP_CATCHUP);
    return sg_txn_channel(t, &copy);
}

static int
sg_host_catalog_programme(sg_txn_t *t, const sg_programme_t *pr)
{
    sg_plugin_t *p = sg_txn_owner(t);
    if (p && p->prov.abi_minor < 2) {
        /* built before credits was appended: its struct ends before it */
        sg_programme_t old;
        memcpy(&old, pr, offsetof(sg_programme_t, credits));
        old.credits = NULL;
        return sg_txn_programme(t, &old);
    }
    return sg_txn_programme(t, pr);
}

static void
sg_host_commit_done(void *arg, int rc)
{
    sg_commit_t *c = arg;
    for (sg_commit_t **pp = &sg_commits; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    if (c->p && c->done) c->done(c->arg, rc);
    free(c);
}

static int
sg_host_catalog_commit(sg_txn_t *t, sg_done_pt done, void *arg)
{
    sg_commit_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sg_txn_abort(t);
        return SG_ERROR;
    }
    c->p = sg_txn_owner(t);
    c->done = done;
    c->arg = arg;
    c->next = sg_commits;
    sg_commits = c;
    if (sg_txn_commit(t, sg_host_commit_done, c) != SG_OK) {
        sg_commits = c->next;
        free(c);
        return SG_ERROR;
    }
    return SG_OK;
}

static void
sg_host_catalog_abort(sg_txn_t *t)
{
    sg_txn_abort(t);
}

/* ---- metrics ------------------------------------------------------------------------------------ */

static sg_metric_t *
sg_host_metric_new(sg_plugin_t *p, const sg_metric_spec_t *spec)
{
    return sg_metric_new(spec, p->metric_prefix, p->index);
}

/* ---- HTTP client -------------------------------------------------------------------------------- */

static void
sg_fetch_unlink(sg_fetch_t *f)
{
    SG_LIST_REMOVE(&f->p->fetches, f);
}

static void
sg_host_fetch_done(const sg_fetch_resp_t *resp, void *arg)
{
    sg_fetch_t *f = arg;
    sg_fetch_unlink(f);
    f->done(resp, f->arg);
    free(f);
}

static sg_fetch_t *
sg_host_fetch(sg_plugin_t *p, const sg_fetch_req_t *req, sg_fetch_done_pt done, void *arg)
{
    sg_fetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    f->p = p;
    f->done = done;
    f->arg = arg;
    f->handle = sg_net_fetch(p->d->net, req, &p->cookies, p->dns, sg_host_fetch_done, f);
    if (f->handle == NULL) {
        free(f);
        return NULL;
    }
    SG_LIST_PUSH(&p->fetches, f);
    return f;
}

static void
sg_host_fetch_cancel(sg_fetch_t *f)
{
    if (f == NULL) return;
    sg_fetch_unlink(f);
    sg_net_cancel(f->p->d->net, f->handle);
    free(f);
}

/* One HTTP client per process; a response does not know its plugin. */
static sg_net_t *sg_host_net;

void
sg_host_set_net(sg_net_t *net)
{
    sg_host_net = net;
}

static const char *
sg_host_fetch_header(const sg_fetch_resp_t *resp, const char *name)
{
    return sg_host_net ? sg_net_header(sg_host_net, resp, name) : NULL;
}

/* ---- status ----------------------------------------------------------------------------------------- */

sg_status_t *
sg_status_new(void)
{
    sg_status_t *st = calloc(1, sizeof(*st));
    if (st == NULL) return NULL;
    st->obj = json_object();
    if (st->obj == NULL) {
        free(st);
        return NULL;
    }
    return st;
}

void *
sg_status_take(sg_status_t *st)
{
    json_t *o = st->obj;
    free(st);
    return o;
}

static void
sg_host_status_string(sg_status_t *st, const char *key, const char *value)
{
    json_object_set_new(st->obj, key, value ? json_string(value) : json_null());
}

static void
sg_host_status_int(sg_status_t *st, const char *key, int64_t value)
{
    json_object_set_new(st->obj, key, json_integer(value));
}

/* ---- release ------------------------------------------------------------------------------------------ */

static const char *
sg_host_path(sg_plugin_t *p, int which)
{
    static char programs[4096];
    if (which == SG_PATH_RECORDINGS) {
        const char *dir = sg_conf_string(sg_conf_group(p->d->conf.root, "recordings", 0), "dir");
        return dir && dir[0] ? dir : NULL;
    }
    if (which == SG_PATH_PROGRAMS && p->d->recorder_bin) {
        const char *slash = strrchr(p->d->recorder_bin, '/');
        if (slash == NULL) return ".";
        snprintf(programs, sizeof(programs), "%.*s", (int)(slash - p->d->recorder_bin),
                 p->d->recorder_bin);
        return programs;
    }
    return NULL;
}

void
sg_host_release(sg_plugin_t *p)
{
    sg_sessions_close_plugin(p->d, p);
    while (p->timers) sg_timer_unlink_free(p->timers);
    while (p->fetches) sg_host_fetch_cancel(p->fetches);
    while (p->dgrams) sg_dgram_unlink_free(p->dgrams);
    while (p->segreqs) sg_host_seg_cancel(p->segreqs);
    for (sg_commit_t *c = sg_commits; c; c = c->next) {
        if (c->p == p) c->p = NULL;
    }
    if (p->cookies) {
        sg_net_share_free(p->d->net, p->cookies);
        p->cookies = NULL;
    }
}

const sg_host_t sg_host_table = {
    .abi_major = SG_ABI_MAJOR,
    .abi_minor = SG_ABI_MINOR,
    .size = sizeof(sg_host_t),
    .log = sg_host_log,
    .log_enabled = sg_host_log_enabled,
    .set_state = sg_host_set_state,
    .name = sg_host_name,
    .conf = sg_host_conf,
    .conf_is_set = sg_conf_is_set,
    .conf_bool = sg_conf_bool,
    .conf_int = sg_conf_int,
    .conf_float = sg_conf_float,
    .conf_string = sg_conf_string,
    .conf_count = sg_conf_count,
    .conf_list_string = sg_conf_list_string,
    .conf_group = sg_conf_group,
    .conf_error = sg_host_conf_error,
    .alloc = sg_host_alloc,
    .realloc = sg_host_realloc,
    .free = sg_host_free,
    .strdup = sg_host_strdup,
    .event_base = sg_host_event_base,
    .timer_start = sg_host_timer_start,
    .timer_stop = sg_host_timer_stop,
    .state_dir = sg_host_state_dir,
    .kv_set = sg_host_kv_set,
    .kv_get = sg_host_kv_get,
    .kv_del = sg_host_kv_del,
    .catalog_begin = sg_host_catalog_begin,
    .catalog_channel = sg_host_catalog_channel,
    .catalog_programme = sg_host_catalog_programme,
    .catalog_commit = sg_host_catalog_commit,
    .catalog_abort = sg_host_catalog_abort,
    .metric_new = sg_host_metric_new,
    .metric_add = sg_metric_add,
    .metric_set = sg_metric_set,
    .metric_observe = sg_metric_observe,
    .fetch = sg_host_fetch,
    .fetch_cancel = sg_host_fetch_cancel,
    .fetch_header = sg_host_fetch_header,
    .session_ready = sg_session_ready,
    .session_header = sg_session_header,
    .session_write = sg_session_write,
    .session_end = sg_session_end,
    .session_fail = sg_session_fail,
    .status_string = sg_host_status_string,
    .session_source = sg_session_source,
    .status_int = sg_host_status_int,
    .dgram_open = sg_host_dgram_open,
    .dgram_close = sg_host_dgram_close,
    .proxy_route = sg_host_proxy_route,
    .net_dns = sg_host_net_dns,
    .admission_room = sg_host_admission_room,
    .session_source_ex = sg_session_source_ex,
    .programme_at = sg_host_programme_at,
    .route = sg_host_route,
    .hreq_method = sg_host_hreq_method,
    .hreq_path = sg_host_hreq_path,
    .hreq_query = sg_host_hreq_query,
    .hreq_arg = sg_host_hreq_arg,
    .hreq_body = sg_host_hreq_body,
    .hreq_base_url = sg_host_hreq_base_url,
    .reply_header = sg_host_reply_header,
    .reply = sg_host_reply,
    .reply_error = sg_host_reply_error,
    .reply_file = sg_host_reply_file,
    .hreq_on_close = sg_host_hreq_on_close,
    .session_range = sg_session_range,
    .seg_get = sg_host_seg_get,
    .seg_cancel = sg_host_seg_cancel,
    .seg_data = sg_host_seg_data,
    .seg_release = sg_host_seg_release,
    .reply_segment = sg_host_reply_segment,
    .session_hls = sg_session_hls,
    .path = sg_host_path,
};
