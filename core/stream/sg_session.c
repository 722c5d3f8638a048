#include "sg_session.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalog/sg_catalog.h"
#include "http/sg_timespec.h"
#include "metrics/sg_metrics.h"
#include "plugin/sg_plugin.h"
#include "record/sg_record.h"
#include "net/sg_segfetch.h"
#include "stream/sg_hlsread.h"
#include "stream/sg_hub.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_SESSION_HIGH (1u << 20)  /* backlog: tell the plugin to wait   */
#define SG_SESSION_HARD (8u << 20)  /* backlog: the client is too slow    */

struct sg_session_s {
    sg_session_t *prev, *next;
    sg_daemon_t *d;
    sg_plugin_t *p;        /* NULL for the udpxy routes                 */
    sg_http_req_t *req;    /* NULL once the client is gone              */
    sg_hub_client_t *hc;   /* attached to a live hub                    */
    const char *kind;      /* metric label: live, catchup, udpxy        */
    int priority;          /* admission: who yields to whom             */
    sg_stream_req_t sreq;
    char *query;
    char chan[80];         /* catalog id (logs)                         */
    char provider_id[80];
    char client[64];
    int opened;            /* close() is owed                           */
    int ending;            /* finaliser scheduled                       */
    int waiting;           /* write returned SG_AGAIN: resume() owed    */
    int status;            /* 206 after session_range(), else 200       */
    sg_hlsread_t *hls;     /* session_hls(): the core feeds it          */
    struct event *fin_ev;
    uint64_t t0_us, bytes;
    int first;
    void *state;
};

static sg_metric_t *sg_m_clients, *sg_m_sessions, *sg_m_bytes, *sg_m_ttfb, *sg_m_drops;

void
sg_sessions_count(sg_daemon_t *d, int *live, int *catchup, int *udpxy)
{
    *live = *catchup = *udpxy = 0;
    for (sg_session_t *s = d->sessions; s; s = s->next) {
        if (s->p == NULL) {
            (*udpxy)++;
        } else if (s->sreq.kind == SG_REQ_LIVE) {
            (*live)++;
        } else {
            (*catchup)++;
        }
    }
}

static void
sg_sessions_collect(sg_metric_t *m, void *arg)
{
    int live, catchup, udpxy;
    sg_sessions_count(arg, &live, &catchup, &udpxy);
    sg_metric_set(m, (const char *const[]){"live", NULL}, live);
    sg_metric_set(m, (const char *const[]){"catchup", NULL}, catchup);
    sg_metric_set(m, (const char *const[]){"udpxy", NULL}, udpxy);
}

void
sg_sessions_init(sg_daemon_t *d)
{
    static const char *const kind[] = {"kind", NULL};
    static const char *const kr[] = {"kind", "result", NULL};
    static const char *const reason[] = {"reason", NULL};
    static const double b[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    sg_m_clients = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                     .name = "stream_clients",
                                                     .help = "Stream clients connected, by kind",
                                                     .labels = kind},
                                 "streamgate_", 0);
    sg_metric_set_collect(sg_m_clients, sg_sessions_collect, d);
    sg_m_sessions = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "stream_sessions_total",
                            .help = "Stream sessions by kind and how they were answered",
                            .labels = kr},
        "streamgate_", 0);
    sg_m_drops = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                   .name = "stream_client_drops_total",
                                                   .help = "Stream clients ended by the server, by reason",
                                                   .labels = reason},
                               "streamgate_", 0);
    sg_m_bytes = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                   .name = "stream_bytes_total",
                                                   .help = "Stream bytes queued to clients",
                                                   .labels = kind},
                               "streamgate_", 0);
    sg_m_ttfb = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_HISTOGRAM, .name = "stream_first_byte_seconds",
                            .help = "Request to first stream byte, by kind",
                            .labels = kind, .buckets = b, .nbuckets = SG_ARRAY_SIZE(b)},
        "streamgate_", 0);
}

static void
sg_session_count(const sg_session_t *s, const char *result)
{
    sg_metric_add(sg_m_sessions, (const char *const[]){s->kind, result, NULL}, 1);
}

static void
sg_session_first_byte(sg_session_t *s)
{
    if (s->first) return;
    s->first = 1;
    sg_metric_observe(sg_m_ttfb, (const char *const[]){s->kind, NULL},
                      (double)(sg_mono_us() - s->t0_us) / 1e6);
}

/* ---- lifetime ------------------------------------------------------------------ */

/* Let go of the client: a JSON error when nothing was sent yet (503 says
 * when to retry), otherwise the response is cut. */
static void
sg_session_detach(sg_session_t *s, int status, const char *reason)
{
    sg_http_req_t *r = s->req;
    if (r == NULL) return;
    s->req = NULL;
    r->on_close = NULL;
    r->on_drain = NULL;
    if (r->state == 0) {
        if (status == 503) sg_http_add_header(r, "Retry-After", "10");
        sg_http_error(r, status, "%s", reason);
    } else {
        sg_http_abort(r);
    }
}

/* The one place a session ends: the plugin's close(), the admission slot and
 * the memory go together. */
static void
sg_session_finalize(sg_session_t *s)
{
    sg_daemon_t *d = s->d;

    /* Still attached (shutdown, plugin teardown): the client goes first. */
    if (s->hc) {
        sg_hub_detach(s->hc);
        s->hc = NULL;
    }
    sg_session_detach(s, 503, "shutting down");
    sg_hlsread_free(s->hls);
    s->hls = NULL;
    if (s->opened && s->p && s->p->prov.close) {
        s->opened = 0;
        s->p->prov.close(s, s->p->state, s->state);
    }
    sg_admit_release(&d->admit);
    SG_LIST_REMOVE(&d->sessions, s);
    d->nsessions--;
    if (s->p) s->p->sessions--;
    sg_log(SG_LOG_INFO, "stream", "%s %s %s: ended after %.1f s, %llu bytes", s->client,
           s->kind, s->chan, (double)(sg_mono_us() - s->t0_us) / 1e6,
           (unsigned long long)s->bytes);
    if (s->fin_ev) event_free(s->fin_ev);
    free(s->query);
    free(s);
}

static void
sg_session_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_session_finalize(arg);
}

/* Finalise on the next loop turn: the caller (often the plugin itself) may
 * still be on the stack. */
static void
sg_session_schedule_end(sg_session_t *s)
{
    if (s->ending) return;
    s->ending = 1;
    event_active(s->fin_ev, EV_TIMEOUT, 0);
}

static void
sg_session_client_gone(sg_http_req_t *r, void *arg)
{
    sg_session_t *s = arg;
    s->req = NULL; /* r is being freed: the hub must not write to it again */
    if (s->hc) {
        sg_hub_detach(s->hc);
        s->hc = NULL;
    }
    sg_session_schedule_end(s);
}

/* A client too slow for its stream: cut (its queue is lost) and ended. */
static void
sg_session_drop_slow(sg_session_t *s, const char *reason)
{
    sg_session_count(s, "slow_client");
    sg_session_detach(s, 503, reason);
    sg_session_schedule_end(s);
}

static void
sg_session_drained(sg_http_req_t *r, void *arg)
{
    sg_session_t *s = arg;
    if (!s->waiting || s->ending) return;
    s->waiting = 0;
    sg_http_stream_watermark(r, 0);
    if (s->hls) {
        sg_hlsread_resume(s->hls);
    } else if (s->p && s->p->prov.resume) {
        s->p->prov.resume(s, s->p->state, s->state);
    }
}

/* ---- host calls ------------------------------------------------------------------ */

void
sg_session_ready(sg_session_t *s, const char *ctype, int64_t length)
{
    if (s->ending || s->req == NULL || s->req->state != 0) return;
    sg_http_stream_start(s->req, s->status ? s->status : 200, ctype ? ctype : "video/mp2t", length);
    if (s->sreq.head) {
        /* HEAD: the headers were the whole answer. */
        s->req->on_close = NULL;
        s->req = NULL;
        sg_session_schedule_end(s);
    }
}

int
sg_session_range(sg_session_t *s, int64_t total, int64_t *first, int64_t *last)
{
    long long f = 0, l = total - 1;
    const char *range;

    *first = 0;
    *last = total - 1;
    if (s->ending || s->req == NULL || s->req->state != 0 || total < 0) return SG_DECLINED;
    sg_http_add_header(s->req, "Accept-Ranges", "bytes");
    range = sg_http_header(&s->req->head, "Range");
    switch (sg_http_parse_range(range, total, &f, &l)) {
    case 0:
        s->status = 206;
        sg_http_add_header(s->req, "Content-Range", "bytes %lld-%lld/%lld", f, l, (long long)total);
        *first = f;
        *last = l;
        return SG_OK;
    case 416:
        sg_http_add_header(s->req, "Content-Range", "bytes */%lld", (long long)total);
        sg_session_fail(s, 416, "range not satisfiable");
        return SG_ERROR;
    default:
        return SG_DECLINED;
    }
}

void
sg_session_header(sg_session_t *s, const char *name, const char *value)
{
    if (s->req && s->req->state == 0) sg_http_add_header(s->req, name, "%s", value);
}

int
sg_session_write(sg_session_t *s, const void *data, size_t len)
{
    size_t backlog;

    if (s->ending || s->req == NULL) return SG_ERROR;
    if (s->req->state == 0) sg_session_ready(s, NULL, -1);
    if (s->req == NULL) return SG_ERROR; /* a HEAD request ended there */
    sg_session_first_byte(s);
    backlog = sg_http_stream_write(s->req, data, len);
    s->bytes += len;
    sg_metric_add(sg_m_bytes, (const char *const[]){s->kind, NULL}, (double)len);
    if (backlog > SG_SESSION_HARD) {
        sg_log(SG_LOG_INFO, "stream", "%s %s: client too slow (%zu bytes queued), dropped",
               s->client, s->chan, backlog);
        sg_metric_add(sg_m_drops, (const char *const[]){"slow_client", NULL}, 1);
        sg_session_drop_slow(s, "client too slow");
        return SG_ERROR;
    }
    if (backlog > SG_SESSION_HIGH) {
        if (!s->waiting) {
            s->waiting = 1;
            sg_http_stream_watermark(s->req, SG_SESSION_HIGH / 2);
        }
        return SG_AGAIN;
    }
    return SG_OK;
}

static int
sg_session_hls_write(void *arg, const uint8_t *data, size_t len)
{
    switch (sg_session_write(arg, data, len)) {
    case SG_OK:
        return 0;
    case SG_AGAIN:
        return 1;
    default:
        return -1;
    }
}

static void
sg_session_hls_end(void *arg, const char *why)
{
    sg_session_t *s = arg;
    sg_log(SG_LOG_INFO, "stream", "%s %s %s: %s", s->client, s->kind, s->chan, why);
    sg_session_end(s);
}

int
sg_session_hls(sg_session_t *s, const char *url)
{
    static const sg_hlsread_ops_t ops = {.write = sg_session_hls_write, .end = sg_session_hls_end};
    char full[2048];

    if (s->ending || s->req == NULL || s->hls || url == NULL) return SG_ERROR;
    if (url[0] == '/') {
        /* a playlist of this server's own (a plugin's computed one) */
        snprintf(full, sizeof(full), "%s%s", s->d->base_url, url);
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        snprintf(full, sizeof(full), "%s", url);
    } else {
        sg_session_fail(s, 502, "not an HLS playlist URL");
        return SG_ERROR;
    }
    s->hls = sg_hlsread_new(s->d->segfetch, s->d->net, s->d->base, full, &ops, s);
    if (s->hls == NULL) {
        sg_session_fail(s, 503, "out of memory");
        return SG_ERROR;
    }
    sg_session_ready(s, "video/mp2t", -1);
    return SG_OK;
}

void
sg_session_end(sg_session_t *s)
{
    if (s->ending) return;
    if (s->req) {
        if (s->req->state == 0) sg_session_ready(s, NULL, 0);
        if (s->req) {
            s->req->on_close = NULL;
            sg_http_stream_end(s->req);
            s->req = NULL;
        }
    }
    sg_session_schedule_end(s);
}

void
sg_session_fail(sg_session_t *s, int status, const char *reason)
{
    if (s->ending) return;
    if (status < 400 || status > 599) status = 502;
    sg_session_detach(s, status, reason ? reason : "upstream failed");
    sg_log(SG_LOG_INFO, "stream", "%s %s %s: %d %s", s->client, s->kind,
           s->chan, status, reason ? reason : "");
    sg_session_count(s, status == 404 ? "not_found" : status == 503 ? "busy" : "failed");
    sg_session_schedule_end(s);
}

/* ---- construction -------------------------------------------------------------------- */

/* A session for request r: an admission slot (released by the finaliser
 * on every path) and the client hooks. NULL when refused (answered). */
static sg_session_t *
sg_session_new(sg_daemon_t *d, sg_http_req_t *r, sg_plugin_t *p, const char *chan, const char *kind)
{
    sg_session_t *s;
    const char *why;
    size_t extra = p && p->prov.session_size ? p->prov.session_size : 1;
    int64_t prio;

    if (sg_admit_acquire(&d->admit, &why) != 0) {
        sg_http_add_header(r, "Retry-After", "5");
        sg_http_error(r, 503, "%s", why);
        return NULL;
    }
    s = calloc(1, sizeof(*s) + extra);
    if (s) s->fin_ev = event_new(d->base, -1, 0, sg_session_fin_cb, s);
    if (s == NULL || s->fin_ev == NULL || (s->query = strdup(r->query)) == NULL) {
        if (s && s->fin_ev) event_free(s->fin_ev);
        free(s);
        sg_admit_release(&d->admit);
        sg_http_error(r, 500, "out of memory");
        return NULL;
    }
    s->state = (char *)s + sizeof(*s);
    s->d = d;
    s->p = p;
    s->req = r;
    s->kind = kind;
    s->t0_us = r->t0_us;
    /* Viewers rank 100. A client may lower its own rank (?priority=0..99) to
     * be pre-empted first, as recordings are; it can never raise it. */
    s->priority = SG_PRIORITY_VIEWER;
    {
        char v[16];
        if (sg_query_get(r->query, "priority", v, sizeof(v)) >= 0 &&
            sg_parse_int64(v, strlen(v), &prio) == 0 && prio >= 0 && prio < SG_PRIORITY_VIEWER) {
            s->priority = (int)prio;
        }
    }
    snprintf(s->chan, sizeof(s->chan), "%s", chan);
    snprintf(s->client, sizeof(s->client), "%s", r->client);
    SG_LIST_PUSH(&d->sessions, s);
    d->nsessions++;
    if (p) p->sessions++;
    r->owner = s;
    r->on_close = sg_session_client_gone;
    r->on_drain = sg_session_drained;
    return s;
}

/* ---- live hubs ------------------------------------------------------------------------ */

static void
sg_session_hub_start(void *arg)
{
    sg_session_ready(arg, "video/mp2t", -1);
}

static void
sg_session_hub_sent(void *arg, size_t n)
{
    sg_session_t *s = arg;
    sg_session_first_byte(s);
    s->bytes += n;
    sg_metric_add(sg_m_bytes, (const char *const[]){s->kind, NULL}, (double)n);
}

static void
sg_session_hub_end(void *arg, int status, const char *reason, const char *drop, int how)
{
    sg_session_t *s = arg;
    sg_hub_detach(s->hc);
    s->hc = NULL;
    if (drop) sg_metric_add(sg_m_drops, (const char *const[]){drop, NULL}, 1);
    /* a recording's source taken for a viewer: it is queued again */
    if (drop && strcmp(drop, "preempted") == 0) sg_recorder_preempted(s->d->recorder, s->query);
    if (how != SG_HUB_END_OTHER && s->req && !s->ending && s->p && s->opened &&
        s->p->prov.abi_minor >= 3 && s->p->prov.source_ended) {
        /* The provider may carry on in this response with another source. */
        int rc = s->p->prov.source_ended(s, s->p->state, s->state,
                                         how == SG_HUB_END_DURATION ? SG_SOURCE_DURATION
                                                                    : SG_SOURCE_ENDED);
        if (rc == SG_AGAIN) {
            sg_log(SG_LOG_INFO, "stream", "%s %s %s: %s; the provider continues", s->client,
                   s->kind, s->chan, reason);
            return;
        }
    }
    if (status) {
        sg_session_fail(s, status, reason);
    } else if (drop && strcmp(drop, "slow_client") == 0) {
        sg_session_drop_slow(s, reason);
    } else {
        sg_log(SG_LOG_INFO, "stream", "%s %s %s: %s", s->client, s->kind, s->chan, reason);
        sg_session_end(s);
    }
}

static const sg_hub_client_ops_t sg_session_hub_ops = {
    .start = sg_session_hub_start,
    .sent = sg_session_hub_sent,
    .end = sg_session_hub_end,
};

static int
sg_session_attach(sg_session_t *s, const sg_hub_src_t *a)
{
    int status = 502;
    const char *why = "error";

    if (s->ending || s->req == NULL) return SG_ERROR;
    if (s->hc) {
        sg_session_fail(s, 500, "the session already has a source");
        return SG_ERROR;
    }
    if (s->sreq.head || s->req->is_head) {
        /* HEAD: the headers, without joining anything. */
        sg_session_ready(s, "video/mp2t", -1);
        if (s->req) sg_session_end(s);
        return SG_OK;
    }
    s->hc = sg_hubs_attach(s->d->hubs, a, s->req, s->priority, &sg_session_hub_ops, s, &status, &why);
    if (s->hc == NULL) {
        sg_session_fail(s, status, why);
        return status == 503 ? SG_BUSY : SG_ERROR;
    }
    return SG_OK;
}

int
sg_session_source_ex(sg_session_t *s, const char *url, const sg_source_opts_t *o)
{
    sg_hub_src_t a;
    const char *why = NULL;
    sg_source_opts_t none = {0};

    if (o == NULL) o = &none;
    memset(&a, 0, sizeof(a));
    if (url && strncasecmp(url, "rtsp://", 7) == 0) {
        /* the local end: o->bind (an IP address), port 0 */
        const char *bind = o->bind ? o->bind : "";
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a.addr.group;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.addr.group;
        if (bind[0] == '\0' || inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            a.addr.glen = sizeof(*v4);
        } else if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            a.addr.glen = sizeof(*v6);
        } else {
            char reason[200];
            snprintf(reason, sizeof(reason),
                     "the provider gave a bad local address \"%.100s\" (not an IP address)", bind);
            sg_log(SG_LOG_WARN, "stream", "%s: %s", s->chan, reason);
            sg_session_fail(s, 502, reason);
            return SG_ERROR;
        }
        a.rtsp_url = url;
        a.rtsp_start = o->start;
        a.rtsp_transport = o->transport;
        a.user_agent = o->user_agent;
        a.gap_ms = o->gap_ms;
        a.max_ms = o->duration_ms;
        a.splice = s->bytes > 0;
        return sg_session_attach(s, &a);
    }
    if (url == NULL || sg_source_parse_url(url, &a.addr, &why) != 0) {
        char reason[200];
        snprintf(reason, sizeof(reason), "the provider gave a bad source %s: %s",
                 url ? url : "(null)", url ? why : "missing");
        sg_log(SG_LOG_WARN, "stream", "%s: %s", s->chan, reason);
        sg_session_fail(s, 502, reason);
        return SG_ERROR;
    }
    return sg_session_attach(s, &a);
}

int
sg_session_source(sg_session_t *s, const char *url)
{
    return sg_session_source_ex(s, url, NULL);
}

/* /udp/[SRC@]GROUP:PORT and /rtp/...: udpxy's relay for any multicast. */
void
sg_udpxy_handler(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    const char *raw = r->head.target, *why;
    size_t len = strcspn(raw, "?");
    char tail[256];
    sg_hub_src_t hsrc = {0};
    sg_source_addr_t a;
    sg_session_t *s;

    /* The raw target: '%' is one of udpxy's separators, not an escape. */
    snprintf(tail, sizeof(tail), "%.*s", (int)(len < sizeof(tail) ? len : sizeof(tail) - 1), raw);
    if (strlen(tail) < 5 || sg_source_parse_udpxy(tail + 5, &a, &why) != 0) {
        sg_http_error(r, 400, "%s: %s (expected /udp/[source@]group:port)", r->path, why);
        return;
    }
    if (!a.multicast) {
        sg_http_error(r, 400, "%s: not a multicast group", r->path);
        return;
    }
    s = sg_session_new(d, r, NULL, a.key, "udpxy");
    if (s == NULL) return;
    s->sreq.kind = SG_REQ_LIVE;
    s->sreq.head = r->is_head;
    sg_log(SG_LOG_INFO, "stream", "%s udpxy %s", s->client, a.key);
    hsrc.addr = a;
    if (sg_session_attach(s, &hsrc) == SG_OK) sg_session_count(s, "ok");
}

/* ---- the channel route ------------------------------------------------------------- */

static void
sg_iso_time(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* /{id}/{time...}, or under /cloud/ a moment of one of the channel's cloud
 * recordings (live forms still mean live there, as in movistar-u7d). */
static void
sg_channel_serve(sg_http_req_t *r, sg_daemon_t *d, const char *path, int cloud)
{
    const char *slash = strchr(path, '/'), *why = NULL, *tail;
    char id[80], q[16];
    const sg_chan_t *ch;
    sg_timespec_t ts;
    sg_plugin_t *p;
    sg_session_t *s;
    uint32_t need;
    int rc;
    int64_t now = (int64_t)time(NULL);

    if (slash == NULL || (size_t)(slash - path) >= sizeof(id) || slash == path) {
        sg_http_error(r, 404, "no such resource");
        return;
    }
    memcpy(id, path, (size_t)(slash - path));
    id[slash - path] = '\0';
    tail = slash + 1;
    if (!cloud && sg_query_get(r->query, "record", q, sizeof(q)) >= 0) {
        /* movistar-u7d's ?record=1|S: a recording, not a stream */
        r->route = "record";
        if (sg_http_admin_ok(r)) sg_record_http(r, d, id, tail);
        return;
    }
    ch = sg_catalog_channel(d->catalog, id);
    if (ch == NULL) {
        r->route = "channel_unknown";
        sg_http_error(r, 404, "unknown channel \"%s\"", id);
        return;
    }
    rc = sg_timespec_parse(tail, r->query, now, &ts, &why);
    if (rc == 404) {
        sg_http_error(r, 404, "no such resource under channel \"%s\"", id);
        return;
    }
    if (rc != 0) {
        sg_http_error(r, 400, "%s", why);
        return;
    }
    if (ts.kind == SG_REQ_LIVE) cloud = 0;
    r->route = ts.kind == SG_REQ_LIVE ? "stream_live" : cloud ? "stream_cloud" : "stream_catchup";
    p = sg_plugin_find(d, ch->plugin);
    if (p == NULL || p->lstate != SG_PLUGIN_RUNNING) {
        sg_http_add_header(r, "Retry-After", "30");
        sg_http_error(r, 503, "plugin %s is not running", ch->plugin);
        return;
    }
    need = ts.kind == SG_REQ_LIVE ? SG_CAP_LIVE : SG_CAP_CATCHUP;
    if (!(p->prov.caps & need) || p->prov.open == NULL) {
        sg_http_error(r, 404, "plugin %s offers no %s", p->name,
                      ts.kind == SG_REQ_LIVE ? "live streams" : "catchup");
        return;
    }
    if (!(ch->caps & need)) {
        sg_http_error(r, 404, "channel \"%s\" has no %s", id,
                      ts.kind == SG_REQ_LIVE ? "live stream" : "catchup");
        return;
    }
    if (cloud) {
        if (p->prov.abi_minor < 4 || !sg_catalog_has_cloud(d->catalog, id)) {
            sg_http_error(r, 404, "channel \"%s\" has no cloud recordings", id);
            return;
        }
    } else if (ts.kind == SG_REQ_CATCHUP) {
        int64_t oldest = now - (int64_t)ch->catchup_days * 86400;
        if (ch->catchup_days <= 0) {
            sg_http_error(r, 404, "channel \"%s\" has no catchup", id);
            return;
        }
        if (ts.start < oldest) {
            char from[32];
            sg_iso_time(oldest, from, sizeof(from));
            sg_http_error(r, 404, "channel \"%s\" keeps %d days of archive (from %s)", id,
                          ch->catchup_days, from);
            return;
        }
    }
    s = sg_session_new(d, r, p, id, ts.kind == SG_REQ_LIVE ? "live" : "catchup");
    if (s == NULL) return;
    snprintf(s->provider_id, sizeof(s->provider_id), "%s", ch->provider_id);
    s->sreq.kind = ts.kind;
    s->sreq.format = ts.format;
    s->sreq.channel = s->provider_id;
    s->sreq.start = ts.start;
    s->sreq.duration = ts.duration;
    s->sreq.query = s->query;
    s->sreq.client = s->client;
    s->sreq.head = r->is_head;
    s->sreq.cloud = cloud;

    if (ts.kind == SG_REQ_CATCHUP) {
        char at[32];
        sg_iso_time(ts.start, at, sizeof(at));
        sg_log(SG_LOG_INFO, "stream", "%s %s %s from %s for %llds (%s)", s->client,
               cloud ? "cloud" : "catchup", id, at, (long long)ts.duration, ts.word);
    } else {
        sg_log(SG_LOG_INFO, "stream", "%s live %s", s->client, id);
    }

    rc = p->prov.open(s, p->state, s->state, &s->sreq);
    switch (rc) {
    case SG_OK:
    case SG_AGAIN:
        s->opened = 1;
        if (!s->ending) sg_session_count(s, "ok");
        /* HEAD: nothing more will come; answer with the headers now. */
        if (rc == SG_OK && s->sreq.head && s->req) sg_session_ready(s, NULL, -1);
        break;
    case SG_DECLINED:
        sg_session_fail(s, 404, "not available");
        break;
    case SG_BUSY:
        sg_session_fail(s, 503, "the provider is busy");
        break;
    default:
        sg_session_fail(s, 502, "the provider failed");
        break;
    }
}

void
sg_channel_handler(sg_http_req_t *r, void *arg)
{
    sg_channel_serve(r, arg, r->path + 1, 0);
}

void
sg_cloud_handler(sg_http_req_t *r, void *arg)
{
    /* the route is the prefix "/cloud": "/cloud" alone has no channel */
    sg_channel_serve(r, arg, r->path[6] == '/' ? r->path + 7 : "", 1);
}

void
sg_sessions_close_plugin(sg_daemon_t *d, sg_plugin_t *p)
{
    sg_session_t *s = d->sessions, *next;
    for (; s; s = next) {
        next = s->next;
        if (s->p == p) sg_session_finalize(s);
    }
}

void
sg_sessions_close_all(sg_daemon_t *d)
{
    while (d->sessions) sg_session_finalize(d->sessions);
}
