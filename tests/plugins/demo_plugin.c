/*
 * The demo plugin: a real .so that exercises every host call, so the plugin
 * ABI is proven end to end by the tests. It is also the provider `make demo`
 * uses.
 *
 * Channels come from its config; EPG is generated (one programme per
 * `slot_minutes`). Streams (live and catchup) begin with one marker TS packet
 * on PID 0x1FF0 whose payload says what the core asked for:
 *
 *     SGDEMO kind=<live|catchup> channel=<id> start=<unix> duration=<s> format=<n>
 *
 * followed by the `media` file (an MPEG-TS, looped) or by null packets,
 * paced at bitrate_kbps * speed. A catchup with a duration ends after that
 * many seconds of media time.
 *
 * Query knobs for error paths: ?fail=404|503|502 (fails in open), ?async=1
 * (open returns SG_AGAIN and answers 100 ms later), ?stall=1 (never sends),
 * ?nopause=1 (ignores SG_AGAIN, like a live source that cannot wait).
 *
 * Built twice: as "demo" (live + catchup) and, with -DSG_TEST_NO_CATCHUP, as
 * "demo_live" (live only), to prove routing refuses catchup there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sg/plugin.h"

#ifdef SG_TEST_NO_CATCHUP
#define SG_TEST_NAME "demo_live"
#define SG_TEST_CAPS (SG_CAP_CHANNELS | SG_CAP_EPG | SG_CAP_LIVE)
#define SG_TEST_IDENT demo_live
#else
#define SG_TEST_NAME "demo"
#define SG_TEST_CAPS (SG_CAP_CHANNELS | SG_CAP_EPG | SG_CAP_LIVE | SG_CAP_CATCHUP)
#define SG_TEST_IDENT demo
#endif

#define TS 188
#define TICK_MS 20

typedef struct tp_state_s {
    const sg_host_t *host;
    sg_plugin_t *p;
    sg_metric_t *opens, *closes, *ticks, *open_seconds;
    sg_timer_t *tick;
    sg_fetch_t *fetch;
    char *media;          /* path, host memory */
    unsigned char *mbuf;  /* the media file, host memory (realloc'ed) */
    size_t mlen;
    int64_t kbps;
    double speed;
    long long boots;
    int reloads;
    int commits;
    int fetches_done, fetches_cancelled;
    char tags[64];
    char fetched[64];
} tp_state_t;

typedef struct tp_session_s {
    tp_state_t *st;
    sg_session_t *s;
    sg_timer_t *timer;
    size_t pos;
    unsigned long long sent, limit;
    int paused, stall, closed, nopause;
    unsigned char cc;
} tp_session_t;

static const char *const tp_modes[] = {"normal", "fail_init", NULL};

static const sg_conf_key_t tp_channel_keys[] = {
    {.name = "id", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED},
    {.name = "name", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED},
    {.name = "tvg_id", .type = SG_CONF_STRING},
    {.name = "number", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 9999},
    {.name = "logo", .type = SG_CONF_STRING},
    {.name = "groups", .type = SG_CONF_STRING},
    {.name = "catchup_days", .type = SG_CONF_INT, .def = "7", .min = 0, .max = 30},
    {.name = "live", .type = SG_CONF_BOOL, .def = "true"},
    /* live from a multicast/unicast source through the core's hubs */
    {.name = "source", .type = SG_CONF_STRING, .def = ""},
    {.name = NULL},
};

static const sg_conf_key_t tp_options_keys[] = {
    {.name = "verbose", .type = SG_CONF_BOOL, .def = "false"},
    {.name = NULL},
};

static const sg_conf_key_t tp_keys[] = {
    {.name = "channels", .type = SG_CONF_GROUP_LIST, .sub = tp_channel_keys},
    {.name = "media", .type = SG_CONF_STRING, .flags = SG_CONF_FILE, .def = "",
     .help = "an MPEG-TS file to stream (looped); empty: null packets"},
    {.name = "bitrate_kbps", .type = SG_CONF_INT, .def = "2000", .min = 8, .max = 1000000},
    {.name = "speed", .type = SG_CONF_FLOAT, .def = "1.0", .min = 0.1, .max = 1000.0},
    {.name = "epg_hours", .type = SG_CONF_INT, .def = "24", .min = 0, .max = 240},
    {.name = "slot_minutes", .type = SG_CONF_INT, .def = "30", .min = 1, .max = 1440},
    {.name = "fetch_url", .type = SG_CONF_STRING, .def = ""},
    {.name = "tags", .type = SG_CONF_STRING_LIST, .def = "a,b"},
    {.name = "mode", .type = SG_CONF_STRING, .def = "normal", .choices = tp_modes},
    {.name = "check_fail", .type = SG_CONF_BOOL, .def = "false"},
    {.name = "publish", .type = SG_CONF_BOOL, .def = "true",
     .help = "publish channels and EPG at start (false: rely on the stored catalog)"},
    {.name = "options", .type = SG_CONF_GROUP, .sub = tp_options_keys},
    {.name = "seg_route", .type = SG_CONF_BOOL, .def = "false",
     .help = "serve GET /<name>/seg?url=U through the segment cache (host->seg_get)"},
    {.name = NULL},
};

/* ---- config check ------------------------------------------------------------ */

static int
tp_check(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    const sg_conf_t *c = host->conf(p);
    int bad = 0, n = host->conf_count(c, "channels");

    for (int i = 0; i < n; i++) {
        const sg_conf_t *a = host->conf_group(c, "channels", i);
        for (int j = 0; j < i; j++) {
            const sg_conf_t *b = host->conf_group(c, "channels", j);
            if (strcmp(host->conf_string(a, "id"), host->conf_string(b, "id")) == 0) {
                host->conf_error(a, "id", "channel id \"%s\" is used twice", host->conf_string(a, "id"));
                bad = 1;
            }
        }
    }
    if (host->conf_bool(c, "check_fail")) {
        host->conf_error(c, "check_fail", "check_fail is set: the demo plugin refuses this config");
        bad = 1;
    }
    return bad ? SG_ERROR : SG_OK;
}

/* ---- catalog -------------------------------------------------------------------- */

static void
tp_committed(void *arg, int rc)
{
    tp_state_t *st = arg;
    st->commits++;
    st->host->log(st->p, rc == SG_OK ? SG_LOG_INFO : SG_LOG_ERR, "catalog commit %d: %s",
                  st->commits, rc == SG_OK ? "ok" : "failed");
    if (rc == SG_OK) st->host->set_state(st->p, "ready");
}

static void
tp_publish(tp_state_t *st)
{
    const sg_host_t *h = st->host;
    const sg_conf_t *c = h->conf(st->p);
    int n = h->conf_count(c, "channels");
    int64_t slot = h->conf_int(c, "slot_minutes") * 60;
    int64_t now = (int64_t)time(NULL), first, last;
    sg_txn_t *t = h->catalog_begin(st->p, SG_TXN_REPLACE_CHANNELS);
    char title[128], sub[128], desc[256];

    if (t == NULL) return;
    for (int i = 0; i < n; i++) {
        const sg_conf_t *ch = h->conf_group(c, "channels", i);
        sg_channel_t cc = {
            .id = h->conf_string(ch, "id"),
            .tvg_id = h->conf_string(ch, "tvg_id"),
            .name = h->conf_string(ch, "name"),
            .number = (int)h->conf_int(ch, "number"),
            .logo = h->conf_string(ch, "logo"),
            .groups = h->conf_string(ch, "groups"),
            .caps = (h->conf_bool(ch, "live") ? SG_CAP_LIVE : 0) | SG_CAP_CATCHUP,
            .catchup_days = (int)h->conf_int(ch, "catchup_days"),
        };
        h->catalog_channel(t, &cc);
        first = (now - (int64_t)cc.catchup_days * 86400) / slot * slot;
        last = now + h->conf_int(c, "epg_hours") * 3600;
        for (int64_t s = first; s < last; s += slot) {
            int k = (int)((s / slot) % 100);
            sg_programme_t pr = {
                .channel = cc.id,
                .start = s,
                .stop = s + slot,
                .title = title,
                .sub_title = sub,
                .description = desc,
                .series = title,
                .season = 1 + k / 10,
                .episode = 1 + k % 10,
                .year = 2020 + k % 5,
                .genre = k % 2 ? "News" : "Série & Ficción",
                .age_rating = k % 3 ? 0 : 12,
                .icon = k % 4 ? NULL : "/Covers/test.jpg",
                .pid = sub,
            };
            snprintf(title, sizeof(title), "%s show %d", cc.name, k % 7);
            snprintf(sub, sizeof(sub), "Episode %d <\"&'>", k);
            snprintf(desc, sizeof(desc), "Programme at %lld on %s. Ñandú, 日本語.", (long long)s, cc.id);
            h->catalog_programme(t, &pr);
        }
    }
    h->catalog_commit(t, tp_committed, st);

    /* An aborted transaction changes nothing. */
    t = h->catalog_begin(st->p, 0);
    if (t) {
        sg_channel_t junk = {.id = "junk", .name = "Never published", .caps = SG_CAP_LIVE};
        h->catalog_channel(t, &junk);
        h->catalog_abort(t);
    }
}

/* ---- media ---------------------------------------------------------------------- */

static int
tp_load_media(tp_state_t *st)
{
    const sg_host_t *h = st->host;
    FILE *f;
    unsigned char chunk[65536];
    size_t n;

    if (st->mbuf) {
        h->free(st->mbuf);
        st->mbuf = NULL;
        st->mlen = 0;
    }
    if (st->media == NULL || st->media[0] == '\0') return SG_OK;
    f = fopen(st->media, "rb");
    if (f == NULL) {
        h->log(st->p, SG_LOG_ERR, "cannot open media %s", st->media);
        return SG_ERROR;
    }
    st->mbuf = h->alloc(st->p, 1);
    while (st->mbuf && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        unsigned char *nb = h->realloc(st->mbuf, st->mlen + n);
        if (nb == NULL) break;
        st->mbuf = nb;
        memcpy(st->mbuf + st->mlen, chunk, n);
        st->mlen += n;
    }
    fclose(f);
    st->mlen -= st->mlen % TS;
    h->log(st->p, SG_LOG_INFO, "media %s: %zu bytes", st->media, st->mlen);
    return SG_OK;
}

/* ---- fetch ---------------------------------------------------------------------- */

static void
tp_fetched(const sg_fetch_resp_t *resp, void *arg)
{
    tp_state_t *st = arg;
    const char *ct = st->host->fetch_header(resp, "Content-Type");
    st->fetch = NULL;
    st->fetches_done++;
    snprintf(st->fetched, sizeof(st->fetched), "%d %.*s", resp->status,
             (int)(resp->len < 40 ? resp->len : 40), resp->body);
    for (char *c = st->fetched; *c; c++) {
        if (*c == '\n' || *c == '\r') *c = ' ';
    }
    st->host->log(st->p, SG_LOG_INFO, "fetched %s: status %d, %zu bytes, type %s%s%s",
                  resp->url ? resp->url : "?", resp->status, resp->len, ct ? ct : "-",
                  resp->error ? ", error: " : "", resp->error ? resp->error : "");
    st->host->kv_set(st->p, "fetched", st->fetched, strlen(st->fetched));
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void
tp_tick(void *arg)
{
    tp_state_t *st = arg;
    st->host->metric_add(st->ticks, NULL, 1);
}

/* GET /<name>/seg?url=U[&ttl_ms=N][&any=1]: U through the segment cache */
typedef struct tp_segget_s {
    tp_state_t *st;
    sg_hreq_t *r;
    sg_segreq_t *rq;
} tp_segget_t;

static void
tp_seg_done(void *arg, sg_segment_t *seg, int status, const char *why)
{
    tp_segget_t *x = arg;
    const sg_host_t *h = x->st->host;
    h->hreq_on_close(x->r, NULL, NULL);
    if (seg) {
        h->reply_segment(x->r, seg, NULL);
    } else {
        h->reply_error(x->r, 502, "upstream: %s (HTTP %d)", why ? why : "failed", status);
    }
    free(x);
}

static void
tp_seg_gone(void *arg)
{
    tp_segget_t *x = arg;
    x->st->host->seg_cancel(x->rq);
    free(x);
}

static void
tp_route_seg(sg_hreq_t *r, void *arg)
{
    tp_state_t *st = arg;
    const sg_host_t *h = st->host;
    char url[1024], num[32];
    sg_seg_req_t req = {.url = url, .mpegts = 1};
    sg_segment_t *seg = NULL;
    tp_segget_t *x;

    if (h->hreq_arg(r, "url", url, sizeof(url)) < 0) {
        h->reply_error(r, 400, "url is required");
        return;
    }
    if (h->hreq_arg(r, "ttl_ms", num, sizeof(num)) > 0) req.ttl_ms = atoll(num);
    if (h->hreq_arg(r, "any", num, sizeof(num)) > 0) req.mpegts = 0;
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        h->reply_error(r, 503, "out of memory");
        return;
    }
    x->st = st;
    x->r = r;
    switch (h->seg_get(st->p, &req, tp_seg_done, x, &seg, &x->rq)) {
    case SG_OK:
        free(x);
        h->reply_segment(r, seg, NULL);
        break;
    case SG_AGAIN:
        h->hreq_on_close(r, tp_seg_gone, x);
        break;
    default:
        free(x);
        h->reply_error(r, 400, "refused: see the log");
        break;
    }
}

static int
tp_init(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    tp_state_t *st = state;
    const sg_conf_t *c = host->conf(p);
    static const char *const kind[] = {"kind", NULL};
    static const double buckets[] = {0.001, 0.01, 0.1, 1};
    void *val = NULL;
    size_t len = 0;
    char buf[32];
    const char *dir;
    FILE *f;

    st->host = host;
    st->p = p;
    if (strcmp(host->conf_string(c, "mode"), "fail_init") == 0) {
        host->set_state(p, "refused to start (mode = fail_init)");
        return SG_ERROR;
    }
    if (host->event_base(p) == NULL) return SG_ERROR;
    if (host->conf_bool(c, "seg_route")) {
        char path[96];
        snprintf(path, sizeof(path), "/%s/seg", host->name(p));
        if (host->route(p, path, SG_ROUTE_GET, tp_route_seg, st) != SG_OK) return SG_ERROR;
    }
    st->kbps = host->conf_int(c, "bitrate_kbps");
    st->speed = host->conf_float(c, "speed");
    st->media = host->strdup(p, host->conf_string(c, "media"));
    if (tp_load_media(st) != SG_OK) return SG_ERROR;
    for (int i = 0; i < host->conf_count(c, "tags"); i++) {
        const char *tag = host->conf_list_string(c, "tags", i);
        size_t used = strlen(st->tags);
        snprintf(st->tags + used, sizeof(st->tags) - used, "%s%s", used ? "," : "", tag);
        if (host->log_enabled(p, SG_LOG_DEBUG)) host->log(p, SG_LOG_DEBUG, "tag %s", tag);
    }
    if (host->conf_bool(host->conf_group(c, "options", 0), "verbose")) {
        host->log(p, SG_LOG_INFO, "verbose; tags set: %s",
                  host->conf_is_set(c, "tags") ? "yes" : "no (defaults)");
    }

    /* Persistent state: a boot counter in the key-value store, a file in
     * the plugin's state directory. */
    if (host->kv_get(p, "boots", &val, &len) == SG_OK) st->boots = strtoll(val, NULL, 10);
    host->free(val);
    st->boots++;
    snprintf(buf, sizeof(buf), "%lld", st->boots);
    host->kv_set(p, "boots", buf, strlen(buf));
    host->kv_set(p, "scratch", "x", 1);
    host->kv_del(p, "scratch");
    dir = host->state_dir(p);
    if (dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/boots.txt", dir);
        if ((f = fopen(path, "w"))) {
            fprintf(f, "%lld\n", st->boots);
            fclose(f);
        }
    }

    st->opens = host->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                       .name = "opens_total",
                                                       .help = "open() calls by kind",
                                                       .labels = kind});
    st->closes = host->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                        .name = "closes_total",
                                                        .help = "close() calls"});
    st->ticks = host->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                       .name = "ticks_total",
                                                       .help = "Timer ticks"});
    st->open_seconds = host->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_HISTOGRAM, .name = "open_seconds",
                               .help = "Time spent in open()", .buckets = buckets, .nbuckets = 4});
    {
        sg_metric_t *boots = host->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                                     .name = "boots",
                                                                     .help = "Starts seen"});
        host->metric_set(boots, NULL, (double)st->boots);
    }
    st->tick = host->timer_start(p, 100, 1, tp_tick, st);

    if (host->conf_string(c, "fetch_url")[0]) {
        sg_fetch_req_t req = {.url = host->conf_string(c, "fetch_url"), .follow_redirects = 1,
                              .cookies = 1, .timeout_ms = 5000};
        sg_fetch_t *dropped;
        st->fetch = host->fetch(p, &req, tp_fetched, st);
        if (st->fetch == NULL) host->log(p, SG_LOG_WARN, "could not start the fetch");
        /* A second one, cancelled at once: its callback must never run. */
        dropped = host->fetch(p, &req, tp_fetched, st);
        if (dropped) {
            host->fetch_cancel(dropped);
            st->fetches_cancelled++;
        }
    }
    if (host->conf_bool(c, "publish")) {
        host->set_state(p, "publishing");
        tp_publish(st);
    } else {
        host->set_state(p, "ready (not publishing)");
    }
    return SG_OK;
}

static void
tp_reload(sg_plugin_t *p, void *state)
{
    tp_state_t *st = state;
    st->reloads++;
    tp_load_media(st);
    st->host->log(p, SG_LOG_NOTICE, "reloaded (%d)", st->reloads);
}

static void
tp_fini(sg_plugin_t *p, void *state)
{
    tp_state_t *st = state;
    st->host->timer_stop(st->tick);
    if (st->fetch) st->host->fetch_cancel(st->fetch);
    st->host->free(st->mbuf);
    st->host->free(st->media);
    st->mbuf = NULL;
    st->media = NULL;
}

static void
tp_status(sg_plugin_t *p, void *state, sg_status_t *status)
{
    tp_state_t *st = state;
    st->host->status_int(status, "boots", st->boots);
    st->host->status_int(status, "reloads", st->reloads);
    st->host->status_int(status, "commits", st->commits);
    st->host->status_int(status, "fetches_done", st->fetches_done);
    st->host->status_int(status, "fetches_cancelled", st->fetches_cancelled);
    st->host->status_string(status, "tags", st->tags);
    st->host->status_string(status, "fetched", st->fetched);
    st->host->status_string(status, "name", st->host->name(p));
}

/* ---- sessions --------------------------------------------------------------------------- */

static void
tp_packet(tp_session_t *ss, unsigned char *pkt, const char *text)
{
    memset(pkt, 0xff, TS);
    pkt[0] = 0x47;
    pkt[1] = 0x40 | 0x1f; /* PUSI, PID 0x1FF0 */
    pkt[2] = 0xf0;
    pkt[3] = 0x10 | (ss->cc++ & 0x0f);
    if (text) memcpy(pkt + 4, text, strlen(text) < TS - 4 ? strlen(text) : TS - 4);
}

static void
tp_push(void *arg)
{
    tp_session_t *ss = arg;
    tp_state_t *st = ss->st;
    unsigned long long quota = (unsigned long long)((double)st->kbps * 1000 / 8 * TICK_MS / 1000 *
                                                    st->speed);
    static unsigned char nulls[256 * TS];

    if (nulls[0] != 0x47) {
        for (size_t i = 0; i < sizeof(nulls); i += TS) {
            memset(nulls + i, 0xff, TS);
            nulls[i] = 0x47;
            nulls[i + 1] = 0x1f;
            nulls[i + 2] = 0xff;
            nulls[i + 3] = 0x10;
        }
    }
    if (ss->paused || ss->stall) return;
    quota -= quota % TS;
    if (quota < TS) quota = TS;
    while (quota > 0) {
        const unsigned char *data;
        size_t n;
        int rc;
        if (ss->limit && ss->sent >= ss->limit) {
            st->host->timer_stop(ss->timer);
            ss->timer = NULL;
            st->host->session_end(ss->s);
            return;
        }
        if (st->mlen) {
            n = st->mlen - ss->pos;
            if (n > quota) n = (size_t)quota;
            data = st->mbuf + ss->pos;
            ss->pos = (ss->pos + n) % st->mlen;
        } else {
            data = nulls;
            n = quota < sizeof(nulls) ? (size_t)quota : sizeof(nulls);
        }
        if (ss->limit && ss->sent + n > ss->limit) n = (size_t)(ss->limit - ss->sent);
        rc = st->host->session_write(ss->s, data, n);
        ss->sent += n;
        quota -= n < quota ? n : quota;
        if (rc == SG_AGAIN && !ss->nopause) {
            ss->paused = 1; /* resume() restarts us */
            return;
        }
        if (rc == SG_ERROR) return;
    }
}

static void
tp_start(tp_session_t *ss, const sg_stream_req_t *req)
{
    char marker[160];
    unsigned char pkt[TS];

    snprintf(marker, sizeof(marker), "SGDEMO kind=%s channel=%s start=%lld duration=%lld format=%d\n",
             req->kind == SG_REQ_LIVE ? "live" : "catchup", req->channel, (long long)req->start,
             (long long)req->duration, req->format);
    ss->st->host->session_header(ss->s, "X-Test-Plugin", SG_TEST_NAME);
    ss->st->host->session_ready(ss->s, "video/mp2t", -1);
    tp_packet(ss, pkt, marker);
    ss->st->host->session_write(ss->s, pkt, TS);
    ss->timer = ss->st->host->timer_start(ss->st->p, TICK_MS, 1, tp_push, ss);
}

static void
tp_async_ready(void *arg)
{
    tp_session_t *ss = arg;
    sg_stream_req_t req = {.kind = SG_REQ_LIVE, .channel = "async"};
    ss->timer = NULL;
    tp_start(ss, &req);
}

static int
tp_open(sg_session_t *s, void *state, void *sstate, const sg_stream_req_t *req)
{
    tp_state_t *st = state;
    tp_session_t *ss = sstate;
    const char *kind = req->kind == SG_REQ_LIVE ? "live" : "catchup";

    st->host->metric_add(st->opens, (const char *const[]){kind, NULL}, 1);
    st->host->metric_observe(st->open_seconds, NULL, 0.0005);
    ss->st = st;
    ss->s = s;
    if (strstr(req->query, "fail=404")) {
        st->host->session_fail(s, 404, "demo: no programme at that time");
        return SG_DECLINED;
    }
    if (strstr(req->query, "fail=503")) return SG_BUSY;
    if (strstr(req->query, "fail=502")) return SG_ERROR;
    if (req->kind == SG_REQ_LIVE) {
        /* A channel with a source: the core's live hub does the streaming. */
        const sg_conf_t *c = st->host->conf(st->p);
        for (int i = 0; i < st->host->conf_count(c, "channels"); i++) {
            const sg_conf_t *ch = st->host->conf_group(c, "channels", i);
            const char *src = st->host->conf_string(ch, "source");
            if (strcmp(st->host->conf_string(ch, "id"), req->channel) == 0 && src[0]) {
                return st->host->session_source(s, src);
            }
        }
    }
    if (req->head) return SG_OK; /* no upstream for HEAD */
    if (req->format != SG_FMT_TS) {
        st->host->session_fail(s, 404, "demo: only MPEG-TS here");
        return SG_DECLINED;
    }
    if (req->duration > 0) {
        /* the duration's bytes in whole packets, after the marker */
        ss->limit = (unsigned long long)req->duration * (unsigned long long)st->kbps * 1000 / 8;
        ss->limit -= ss->limit % TS;
    }
    ss->stall = strstr(req->query, "stall=1") != NULL;
    ss->nopause = strstr(req->query, "nopause=1") != NULL; /* a source that cannot wait */
    if (strstr(req->query, "async=1")) {
        ss->timer = st->host->timer_start(st->p, 100, 0, tp_async_ready, ss);
        return SG_AGAIN;
    }
    tp_start(ss, req);
    return SG_OK;
}

static void
tp_resume(sg_session_t *s, void *state, void *sstate)
{
    tp_session_t *ss = sstate;
    ss->paused = 0;
    tp_push(ss);
}

static void
tp_close(sg_session_t *s, void *state, void *sstate)
{
    tp_state_t *st = state;
    tp_session_t *ss = sstate;
    if (ss->closed) st->host->log(st->p, SG_LOG_ALERT, "close() called twice");
    ss->closed = 1;
    if (ss->timer) st->host->timer_stop(ss->timer);
    ss->timer = NULL;
    st->host->metric_add(st->closes, NULL, 1);
}

static const sg_provider_t tp_provider = {
    SG_PROVIDER_HEADER,
    .name = SG_TEST_NAME,
    .version = "1.0.0",
    .summary = "demo provider: generated channels, EPG and streams",
    .caps = SG_TEST_CAPS,
    .plugin_size = sizeof(tp_state_t),
    .session_size = sizeof(tp_session_t),
    .conf_keys = tp_keys,
    .check = tp_check,
    .init = tp_init,
    .reload = tp_reload,
    .fini = tp_fini,
    .open = tp_open,
    .resume = tp_resume,
    .close = tp_close,
    .status = tp_status,
};

/* Expand SG_TEST_IDENT before pasting. */
#define TP_DEFINE(ident) SG_PLUGIN_DEFINE(ident, tp_provider)
TP_DEFINE(SG_TEST_IDENT)
