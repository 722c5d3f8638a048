/*
 * plugins/4gtv: a buffered HLS relay that computes its playlists.
 *
 * One signed playlist per channel (auth_url, redirects followed) gives an
 * anchor: the newest segment's number at a moment, the segment length, the
 * token query and its expiry. From then on the live edge comes from the
 * clock alone (tv_model.c) until the token nears its expiry; refreshes are
 * rate-limited per channel, and an upstream status from the cool-down table
 * (maintenance, expired, too frequent, daily quota, blacklisted) rests the
 * channel: its clients get 503 + Retry-After, the others go on. Segments go
 * through the core's shared segment cache (host->seg_get): however many
 * clients ask, upstream is fetched once per segment.
 *
 * Endpoints (the original tool's, under /4gtv/): online.m3u8 + call.ts (the
 * buffered relay), channel.m3u8 (+ the /4gtv/live/ segment proxy),
 * channel2.m3u8 (302 upstream), program.m3u, epg.xml; and the channels in
 * the unified catalog, /{fid}/mpegts a continuous TS of the segments.
 */
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sg/m3u8.h"
#include "sg/plugin.h"
#include "tv_model.h"

#define TV_MAX_TMPL 8
#define TV_ENTRIES 5            /* channel.m3u8 lists this many            */
#define TV_SEG_TTL_MS 300000    /* segments kept in the cache              */
#define TV_EXPIRY_MARGIN 30     /* refresh this long before the token ends */
#define TV_EPG_PERIOD_MS (6 * 3600 * 1000)

typedef struct tv_state_s tv_state_t;
typedef struct tv_chan_s tv_chan_t;

enum { TK_ONLINE = 1, TK_CHANNEL, TK_CHANNEL2, TK_CALL, TK_LIVE };

/* A request waiting for its channel's anchor. */
typedef struct tv_wait_s {
    struct tv_wait_s *next;
    tv_chan_t *c;
    sg_hreq_t *r;
    int kind, hd;
    int64_t seq;
    char *extra;      /* host= (channel.m3u8) or the path (live/)           */
} tv_wait_t;

typedef struct tv_tmpl_s {
    int hd;
    const char *url;
} tv_tmpl_t;

typedef struct tv_prog_list_s {
    tv_prog_t *v;
    char **titles;
    int n, cap;
} tv_prog_list_t;

struct tv_chan_s {
    tv_state_t *st;
    const char *fid, *name, *group, *logo, *auth_url, *host;
    int number, family, ntmpl;
    double step;
    int64_t begin_offset;
    tv_tmpl_t tmpl[TV_MAX_TMPL];
    /* the anchor */
    int have;
    tv_anchor_t anchor;
    char *signed_url, *query;
    int64_t expires;
    /* refreshing and resting */
    sg_fetch_t *refresh;
    double last_refresh, cool_until;
    int cool_status;
    tv_wait_t *waiters;
    int64_t refreshes;
    /* the guide */
    tv_prog_list_t progs;
    sg_fetch_t *epg;
};

typedef struct tv_cool_s {
    int status, seconds;
} tv_cool_t;

struct tv_state_s {
    sg_plugin_t *p;
    const sg_host_t *h;
    tv_chan_t *chans;
    int nchans;
    int vbuffer;
    double refresh_min;
    const char *epg_url;
    tv_cool_t cool[16];
    int ncool, cool_default;
    sg_timer_t *epg_timer;
    sg_metric_t *m_refresh, *m_cool;
};

static double
tv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static tv_chan_t *
tv_chan(tv_state_t *st, const char *fid)
{
    for (int i = 0; i < st->nchans; i++) {
        if (strcmp(st->chans[i].fid, fid) == 0) return &st->chans[i];
    }
    return NULL;
}

/* The template for hd: that quality, else the nearest lower, else the
 * lowest there is. */
static const tv_tmpl_t *
tv_quality(const tv_chan_t *c, int hd)
{
    const tv_tmpl_t *best = NULL, *lowest = NULL;
    for (int i = 0; i < c->ntmpl; i++) {
        const tv_tmpl_t *t = &c->tmpl[i];
        if (lowest == NULL || t->hd < lowest->hd) lowest = t;
        if (t->hd <= hd && (best == NULL || t->hd > best->hd)) best = t;
    }
    return best ? best : lowest;
}

/* A segment's cache key: its upstream URL without the query (the token
 * changes, the segment does not). The core's HLS reader (session_hls) keys
 * segments the same way, so call.ts, the live/ proxy and /{fid}/mpegts
 * share one copy and one fetch. */
static void
tv_key(const char *url, char *key, size_t n)
{
    snprintf(key, n, "hls:%.*s", (int)strcspn(url, "?"), url);
}

/* The upstream URL of segment seq at quality t (with the token). */
static int
tv_seg_url(const tv_chan_t *c, const tv_tmpl_t *t, int64_t seq, char *out, size_t n)
{
    char path[1024];
    int64_t begin = c->family == TV_BEGIN_SEQ ? tv_begin(c->step, seq, c->begin_offset) : 0;
    if (tv_expand(t->url, c->fid, t->hd, seq, begin, path, sizeof(path)) != 0) return -1;
    if ((size_t)snprintf(out, n, "%s%s%s%s", c->host, path, c->query && c->query[0] ? "?" : "",
                         c->query ? c->query : "") >= n) {
        return -1;
    }
    return 0;
}

static int
tv_cool_seconds(tv_state_t *st, int status)
{
    for (int i = 0; i < st->ncool; i++) {
        if (st->cool[i].status == status) return st->cool[i].seconds;
    }
    return st->cool_default;
}

static void
tv_rest(tv_chan_t *c, int status, const char *what)
{
    tv_state_t *st = c->st;
    char code[16];
    int secs = tv_cool_seconds(st, status);
    c->cool_until = tv_now() + secs;
    c->cool_status = status;
    snprintf(code, sizeof(code), "%d", status);
    st->h->metric_add(st->m_cool, (const char *const[]){c->fid, code}, 1);
    st->h->log(st->p, SG_LOG_WARN, "%s: %s answered %d: the channel rests %d s", c->fid, what, status,
               secs);
}

/* 503 + Retry-After while the channel rests: 1 when answered. */
static int
tv_resting(tv_chan_t *c, sg_hreq_t *r)
{
    double left = c->cool_until - tv_now();
    char ra[24];
    if (left <= 0) return 0;
    snprintf(ra, sizeof(ra), "%d", (int)ceil(left));
    c->st->h->reply_header(r, "Retry-After", ra);
    c->st->h->reply_error(r, 503, "%s rests after upstream status %d; retry in %s s", c->fid,
                          c->cool_status, ra);
    return 1;
}

/* ---- serving, once the anchor is there ----------------------------------------------------- */

static void tv_refresh(tv_chan_t *c, int hd);

typedef struct tv_call_s {
    tv_chan_t *c;
    sg_hreq_t *r;
    sg_segreq_t *rq;
} tv_call_t;

static void
tv_seg_failed(tv_chan_t *c, sg_hreq_t *r, int status, const char *why)
{
    const sg_host_t *h = c->st->h;
    if (status == 403) {
        /* the token ran out: one refresh; the player asks again */
        tv_refresh(c, 720);
        h->reply_header(r, "Retry-After", "1");
        h->reply_error(r, 503, "%s: the upstream token expired; refreshing", c->fid);
    } else if (status && status != 404 && status != 200) {
        tv_rest(c, status, "a segment");
        tv_resting(c, r);
    } else if (status == 0) {
        h->reply_error(r, 504, "%s: the segment did not come: %s", c->fid, why ? why : "timeout");
    } else {
        h->reply_error(r, 502, "%s: %s", c->fid, why ? why : "upstream failed");
    }
}

static void
tv_call_done(void *arg, sg_segment_t *seg, int status, const char *why)
{
    tv_call_t *x = arg;
    const sg_host_t *h = x->c->st->h;
    h->hreq_on_close(x->r, NULL, NULL);
    if (seg) {
        h->reply_segment(x->r, seg, "video/MP2T");
    } else {
        tv_seg_failed(x->c, x->r, status, why);
    }
    free(x);
}

static void
tv_call_gone(void *arg)
{
    tv_call_t *x = arg;
    x->c->st->h->seg_cancel(x->rq);
    free(x);
}

/* Answer r with a segment through the cache. */
static void
tv_send_segment(tv_chan_t *c, sg_hreq_t *r, const char *key, const char *url)
{
    const sg_host_t *h = c->st->h;
    sg_segment_t *seg = NULL;
    tv_call_t *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        h->reply_error(r, 503, "out of memory");
        return;
    }
    x->c = c;
    x->r = r;
    switch (h->seg_get(c->st->p,
                       &(sg_seg_req_t){.url = url, .key = key, .ttl_ms = TV_SEG_TTL_MS,
                                       .timeout_ms = 10000, .mpegts = 1},
                       tv_call_done, x, &seg, &x->rq)) {
    case SG_OK:
        free(x);
        h->reply_segment(r, seg, "video/MP2T");
        break;
    case SG_AGAIN:
        h->hreq_on_close(r, tv_call_gone, x);
        break;
    default:
        free(x);
        h->reply_error(r, 502, "%s: the segment URL cannot be made", c->fid);
        break;
    }
}

static void
tv_prefetched(void *arg, sg_segment_t *seg, int status, const char *why)
{
    tv_chan_t *c = arg;
    if (seg) {
        c->st->h->seg_release(seg);
    } else if (status == 403) {
        tv_refresh(c, 720);
    } else if (status && status != 404 && status != 200) {
        tv_rest(c, status, "a prefetch");
    }
    (void)why;
}

static void
tv_prefetch(tv_chan_t *c, const tv_tmpl_t *t, int64_t seq)
{
    char url[2048], key[2100];
    sg_segment_t *seg = NULL;
    if (tv_seg_url(c, t, seq, url, sizeof(url)) != 0) return;
    tv_key(url, key, sizeof(key));
    if (c->st->h->seg_get(c->st->p,
                          &(sg_seg_req_t){.url = url, .key = key, .ttl_ms = TV_SEG_TTL_MS,
                                          .timeout_ms = 10000, .mpegts = 1},
                          tv_prefetched, c, &seg, NULL) == SG_OK) {
        c->st->h->seg_release(seg);
    }
}

static void
tv_playlist_head(char *out, size_t n, size_t *o, double step, int64_t seq)
{
    *o += (size_t)snprintf(out + *o, n - *o,
                           "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n"
                           "#EXT-X-ALLOW-CACHE:YES\n#EXT-X-MEDIA-SEQUENCE:%lld\n"
                           "#EXT-X-INDEPENDENT-SEGMENTS\n",
                           (int)ceil(step), (long long)seq);
}

static void
tv_serve(tv_chan_t *c, sg_hreq_t *r, int kind, int hd, int64_t seq, const char *extra)
{
    tv_state_t *st = c->st;
    const sg_host_t *h = st->h;
    const tv_tmpl_t *t = tv_quality(c, hd);
    int64_t edge = tv_edge(&c->anchor, tv_now());
    char out[16384], base[512], url[2048], key[2100];
    size_t o = 0;

    if (t == NULL) {
        h->reply_error(r, 404, "%s has no quality", c->fid);
        return;
    }
    switch (kind) {
    case TK_CHANNEL2:
        h->reply_header(r, "Location", c->signed_url);
        h->reply(r, 302, "text/plain", "", 0);
        return;
    case TK_CALL:
        if (seq > edge + 1 || seq < edge - 900) {
            h->reply_error(r, 404, "%s: segment %lld is not live (the edge is %lld)", c->fid,
                           (long long)seq, (long long)edge);
            return;
        }
        if (tv_seg_url(c, t, seq, url, sizeof(url)) != 0) {
            h->reply_error(r, 502, "%s: the segment URL cannot be made", c->fid);
            return;
        }
        tv_key(url, key, sizeof(key));
        tv_send_segment(c, r, key, url);
        /* keep the buffer ahead of the player */
        for (int64_t s = seq + 1; s <= edge; s++) tv_prefetch(c, t, s);
        return;
    case TK_LIVE: {
        /* extra: the upstream path; the request's own token if it has one */
        const char *q = h->hreq_query(r);
        snprintf(url, sizeof(url), "%s/%s?%s", c->host, extra, q && strstr(q, "token") ? q : c->query);
        tv_key(url, key, sizeof(key));
        tv_send_segment(c, r, key, url);
        return;
    }
    case TK_ONLINE:
        h->hreq_base_url(r, base, sizeof(base));
        tv_playlist_head(out, sizeof(out), &o, c->step, edge - st->vbuffer + 1);
        for (int64_t s = edge - st->vbuffer + 1; s <= edge; s++) {
            tv_prefetch(c, t, s);
            o += (size_t)snprintf(out + o, sizeof(out) - o,
                                  "#EXTINF:%.3f,\n%s/4gtv/call.ts?fid=%s&seq=%lld&hd=%d\n", c->step,
                                  base, c->fid, (long long)s, hd);
        }
        break;
    case TK_CHANNEL:
    default:
        if (extra && extra[0]) {
            snprintf(base, sizeof(base), "%s", extra);
        } else {
            h->hreq_base_url(r, base, sizeof(base));
            snprintf(base + strlen(base), sizeof(base) - strlen(base), "/4gtv/live");
        }
        tv_playlist_head(out, sizeof(out), &o, c->step, edge - TV_ENTRIES + 1);
        for (int64_t s = edge - TV_ENTRIES + 1; s <= edge; s++) {
            char path[1024];
            int64_t begin = c->family == TV_BEGIN_SEQ ? tv_begin(c->step, s, c->begin_offset) : 0;
            if (tv_expand(t->url, c->fid, t->hd, s, begin, path, sizeof(path)) != 0) break;
            o += (size_t)snprintf(out + o, sizeof(out) - o, "#EXTINF:%.3f,\n%s%s%s?%s\n", c->step,
                                  base, path[0] == '/' ? "" : "/", path, c->query);
        }
        break;
    }
    if (o >= sizeof(out)) {
        h->reply_error(r, 500, "the playlist does not fit");
        return;
    }
    h->reply_header(r, "Cache-Control", "no-cache");
    h->reply(r, 200, "application/vnd.apple.mpegurl", out, o);
}

/* ---- the anchor ------------------------------------------------------------------------------- */

static void
tv_wait_free(tv_wait_t *w)
{
    free(w->extra);
    free(w);
}

static void
tv_wait_gone(void *arg)
{
    tv_wait_t *w = arg;
    for (tv_wait_t **pp = &w->c->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    tv_wait_free(w);
}

/* Everyone who waited for the anchor: served, or told why not. */
static void
tv_release_waiters(tv_chan_t *c, const char *why)
{
    tv_wait_t *w = c->waiters;
    c->waiters = NULL;
    while (w) {
        tv_wait_t *next = w->next;
        c->st->h->hreq_on_close(w->r, NULL, NULL);
        if (tv_resting(c, w->r)) {
            /* answered */
        } else if (c->have) {
            tv_serve(c, w->r, w->kind, w->hd, w->seq, w->extra);
        } else {
            c->st->h->reply_error(w->r, 502, "%s: no signed playlist: %s", c->fid, why);
        }
        tv_wait_free(w);
        w = next;
    }
}

static void
tv_refresh_done(const sg_fetch_resp_t *r, void *arg)
{
    tv_chan_t *c = arg;
    tv_state_t *st = c->st;
    sg_m3u8_t m;
    const char *why = NULL, *q;
    char msg[200];

    c->refresh = NULL;
    if (r->error) {
        st->h->metric_add(st->m_refresh, (const char *const[]){c->fid, "failed"}, 1);
        st->h->log(st->p, SG_LOG_WARN, "%s: signing: %s", c->fid, r->error);
        snprintf(msg, sizeof(msg), "%s", r->error);
        tv_release_waiters(c, msg);
        return;
    }
    if (r->status != 200) {
        st->h->metric_add(st->m_refresh, (const char *const[]){c->fid, "failed"}, 1);
        tv_rest(c, r->status, "signing");
        snprintf(msg, sizeof(msg), "HTTP %d", r->status);
        tv_release_waiters(c, msg);
        return;
    }
    if (sg_m3u8_parse(r->body, r->len, &m, &why) != 0 || m.master || m.nsegs == 0) {
        if (why == NULL) {
            why = "no segments";
            sg_m3u8_free(&m);
        }
        st->h->metric_add(st->m_refresh, (const char *const[]){c->fid, "failed"}, 1);
        st->h->log(st->p, SG_LOG_WARN, "%s: the signed playlist %s: %s", c->fid, r->url, why);
        tv_release_waiters(c, why);
        return;
    }
    c->anchor.edge_seq = m.media_seq + m.nsegs - 1;
    c->anchor.step = m.target > 0 ? m.target : c->step;
    c->anchor.t0 = tv_now();
    c->step = c->anchor.step;
    sg_m3u8_free(&m);
    free(c->signed_url);
    free(c->query);
    c->signed_url = strdup(r->url);
    q = strchr(r->url, '?');
    c->query = strdup(q ? q + 1 : "");
    c->expires = tv_expiry(r->url);
    c->have = c->signed_url && c->query;
    c->refreshes++;
    st->h->metric_add(st->m_refresh, (const char *const[]){c->fid, "ok"}, 1);
    st->h->log(st->p, SG_LOG_INFO, "%s: signed until %lld, edge %lld", c->fid, (long long)c->expires,
               (long long)c->anchor.edge_seq);
    tv_release_waiters(c, "");
}

static void
tv_refresh(tv_chan_t *c, int hd)
{
    tv_state_t *st = c->st;
    const tv_tmpl_t *t = tv_quality(c, hd);
    char url[2048];
    double now = tv_now();

    if (c->refresh || now - c->last_refresh < st->refresh_min || now < c->cool_until) return;
    if (tv_expand(c->auth_url, c->fid, t ? t->hd : hd, 0, 0, url, sizeof(url)) != 0) return;
    c->last_refresh = now;
    c->refresh = st->h->fetch(st->p,
                              &(sg_fetch_req_t){.url = url, .timeout_ms = 15000, .max_bytes = 1 << 20,
                                                .follow_redirects = 1},
                              tv_refresh_done, c);
}

/* Serve r now when the anchor is good, else after a refresh. */
static void
tv_need(tv_state_t *st, sg_hreq_t *r, int kind, const char *fid, int hd, int64_t seq, const char *extra)
{
    tv_chan_t *c = fid ? tv_chan(st, fid) : NULL;
    double now = tv_now();
    tv_wait_t *w;

    if (c == NULL) {
        st->h->reply_error(r, 404, "no 4gtv channel \"%s\"", fid ? fid : "");
        return;
    }
    if (tv_resting(c, r)) return;
    if (c->have && (c->expires < 0 || c->expires > now + TV_EXPIRY_MARGIN)) {
        tv_serve(c, r, kind, hd, seq, extra);
        return;
    }
    if (c->have && (c->refresh == NULL && now - c->last_refresh < st->refresh_min)) {
        /* refreshed a moment ago: what we have will do */
        tv_serve(c, r, kind, hd, seq, extra);
        return;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL || (extra && (w->extra = strdup(extra)) == NULL)) {
        free(w);
        st->h->reply_error(r, 503, "out of memory");
        return;
    }
    w->c = c;
    w->r = r;
    w->kind = kind;
    w->hd = hd;
    w->seq = seq;
    w->next = c->waiters;
    c->waiters = w;
    st->h->hreq_on_close(r, tv_wait_gone, w);
    tv_refresh(c, hd);
    if (c->refresh == NULL && c->waiters == w) {
        /* no request could start (rate limit or a bad auth_url) */
        c->waiters = w->next;
        st->h->hreq_on_close(r, NULL, NULL);
        tv_wait_free(w);
        if (c->have) {
            tv_serve(c, r, kind, hd, seq, extra);
        } else {
            st->h->reply_header(r, "Retry-After", "5");
            st->h->reply_error(r, 503, "%s: signing is rate-limited; retry shortly", c->fid);
        }
    }
}

/* ---- routes ----------------------------------------------------------------------------------- */

static int
tv_hd(tv_state_t *st, sg_hreq_t *r, int def)
{
    char b[16];
    int hd = def;
    if (st->h->hreq_arg(r, "hd", b, sizeof(b)) > 0) hd = atoi(b);
    return hd;
}

static void
tv_route(sg_hreq_t *r, void *arg)
{
    tv_state_t *st = arg;
    const sg_host_t *h = st->h;
    const char *path = h->hreq_path(r) + strlen("/4gtv");
    char fid[96], seqs[32], host[512];

    if (strncmp(path, "/live/", 6) == 0) {
        /* /4gtv/live/<upstream path>: the channel is in it (live/pool/<fid>/) */
        const char *pool = strstr(path, "/pool/");
        size_t l;
        if (pool == NULL || (l = strcspn(pool + 6, "/")) == 0 || l >= sizeof(fid) ||
            strstr(path, "..")) {
            h->reply_error(r, 404, "not a 4gtv segment path");
            return;
        }
        memcpy(fid, pool + 6, l);
        fid[l] = 0;
        tv_need(st, r, TK_LIVE, fid, 720, 0, path + 6);
        return;
    }
    if (strcmp(path, "/program.m3u") == 0) {
        char base[512], name[32] = "channel2", out[65536];
        size_t o = 0;
        int hd = tv_hd(st, r, 720);
        h->hreq_base_url(r, base, sizeof(base));
        if (h->hreq_arg(r, "name", name, sizeof(name)) >= 0 && strcmp(name, "online") != 0 &&
            strcmp(name, "channel") != 0 && strcmp(name, "channel2") != 0) {
            h->reply_error(r, 400, "name: online, channel or channel2");
            return;
        }
        o += (size_t)snprintf(out + o, sizeof(out) - o, "#EXTM3U x-tvg-url=\"%s/4gtv/epg.xml\"\n", base);
        for (int i = 0; i < st->nchans && o < sizeof(out); i++) {
            tv_chan_t *c = &st->chans[i];
            o += (size_t)snprintf(out + o, sizeof(out) - o,
                                  "#EXTINF:-1 tvg-chno=\"%d\" tvg-id=\"%s\" tvg-name=\"%s\" "
                                  "tvg-logo=\"%s\" group-title=\"%s\",%s\n%s/4gtv/%s.m3u8?fid=%s&hd=%d\n",
                                  c->number, c->fid, c->name, c->logo, c->group, c->name, base, name,
                                  c->fid, hd);
        }
        if (o >= sizeof(out)) {
            h->reply_error(r, 500, "the list does not fit");
            return;
        }
        h->reply(r, 200, "audio/x-mpegurl; charset=utf-8", out, o);
        return;
    }
    if (h->hreq_arg(r, "fid", fid, sizeof(fid)) < 0) {
        h->reply_error(r, 400, "fid is required");
        return;
    }
    if (strcmp(path, "/online.m3u8") == 0) {
        tv_need(st, r, TK_ONLINE, fid, tv_hd(st, r, 1080), 0, NULL);
    } else if (strcmp(path, "/channel.m3u8") == 0) {
        host[0] = 0;
        if (h->hreq_arg(r, "host", host, sizeof(host)) > 0 && strncmp(host, "http://", 7) != 0 &&
            strncmp(host, "https://", 8) != 0) {
            h->reply_error(r, 400, "host: want an http:// or https:// base URL");
            return;
        }
        tv_need(st, r, TK_CHANNEL, fid, tv_hd(st, r, 720), 0, host);
    } else if (strcmp(path, "/channel2.m3u8") == 0) {
        tv_need(st, r, TK_CHANNEL2, fid, tv_hd(st, r, 720), 0, NULL);
    } else if (strcmp(path, "/call.ts") == 0) {
        char *end;
        long long seq;
        if (h->hreq_arg(r, "seq", seqs, sizeof(seqs)) <= 0 || (seq = strtoll(seqs, &end, 10)) < 0 ||
            *end) {
            h->reply_error(r, 400, "seq is required (a segment number)");
            return;
        }
        tv_need(st, r, TK_CALL, fid, tv_hd(st, r, 1080), seq, NULL);
    } else {
        h->reply_error(r, 404, "no such 4gtv resource");
    }
}

/* ---- the guide ----------------------------------------------------------------------------------- */

static void
tv_prog_add(void *arg, const tv_prog_t *p)
{
    tv_prog_list_t *l = arg;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        tv_prog_t *v = realloc(l->v, sizeof(*v) * (size_t)cap);
        char **t;
        if (v == NULL) return;
        l->v = v;
        t = realloc(l->titles, sizeof(*t) * (size_t)cap);
        if (t == NULL) return;
        l->titles = t;
        l->cap = cap;
    }
    l->titles[l->n] = strdup(p->title);
    if (l->titles[l->n] == NULL) return;
    l->v[l->n] = *p;
    l->v[l->n].title = l->titles[l->n];
    l->n++;
}

static void
tv_progs_free(tv_prog_list_t *l)
{
    for (int i = 0; i < l->n; i++) free(l->titles[i]);
    free(l->titles);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void tv_publish(tv_state_t *st);

static void
tv_epg_done(const sg_fetch_resp_t *r, void *arg)
{
    tv_chan_t *c = arg;
    tv_state_t *st = c->st;
    tv_prog_list_t l = {0};
    const char *why = NULL;
    int skipped = 0, busy = 0;

    c->epg = NULL;
    if (r->error || r->status != 200) {
        st->h->log(st->p, SG_LOG_WARN, "%s: programme list: %s%s%d", c->fid,
                   r->error ? r->error : "HTTP", r->error ? "" : " ", r->error ? 0 : r->status);
    } else if (tv_proglist_parse(r->body, r->len, tv_prog_add, &l, &skipped, &why) < 0) {
        st->h->log(st->p, SG_LOG_WARN, "%s: programme list: %s", c->fid, why);
    } else {
        if (skipped) st->h->log(st->p, SG_LOG_INFO, "%s: %d programme entries skipped", c->fid, skipped);
        tv_progs_free(&c->progs);
        c->progs = l;
        memset(&l, 0, sizeof(l));
    }
    tv_progs_free(&l);
    for (int i = 0; i < st->nchans; i++) busy |= st->chans[i].epg != NULL;
    if (!busy) tv_publish(st);
}

static void
tv_epg_fetch(void *arg)
{
    tv_state_t *st = arg;
    char url[1024];
    if (st->epg_url[0] == 0) return;
    for (int i = 0; i < st->nchans; i++) {
        tv_chan_t *c = &st->chans[i];
        if (c->epg || tv_expand(st->epg_url, c->fid, 0, 0, 0, url, sizeof(url)) != 0) continue;
        c->epg = st->h->fetch(st->p, &(sg_fetch_req_t){.url = url, .timeout_ms = 20000},
                              tv_epg_done, c);
    }
}

/* The channels and their programmes into the unified catalog. */
static void
tv_publish(tv_state_t *st)
{
    sg_txn_t *t = st->h->catalog_begin(st->p, SG_TXN_REPLACE_CHANNELS);
    if (t == NULL) return;
    for (int i = 0; i < st->nchans; i++) {
        tv_chan_t *c = &st->chans[i];
        st->h->catalog_channel(t, &(sg_channel_t){.id = c->fid, .tvg_id = c->fid, .name = c->name,
                                                  .number = c->number,
                                                  .logo = c->logo[0] ? c->logo : NULL,
                                                  .groups = c->group[0] ? c->group : NULL,
                                                  .caps = SG_CAP_LIVE});
        for (int k = 0; k < c->progs.n; k++) {
            st->h->catalog_programme(t, &(sg_programme_t){.channel = c->fid,
                                                          .start = c->progs.v[k].start,
                                                          .stop = c->progs.v[k].stop,
                                                          .title = c->progs.v[k].title});
        }
    }
    st->h->catalog_commit(t, NULL, NULL);
}

static void
tv_xml_time(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y%m%d%H%M%S +0000", &tm);
}

/* /4gtv/epg.xml: XMLTV from the programme lists, their +0800 times
 * normalised to UTC (the unified /guide.xml has them too). */
static void
tv_route_epg(sg_hreq_t *r, void *arg)
{
    tv_state_t *st = arg;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    char a[40], b[40];

    if (w == NULL) {
        if (buf) xmlBufferFree(buf);
        st->h->reply_error(r, 503, "out of memory");
        return;
    }
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL);
    xmlTextWriterStartElement(w, BAD_CAST "tv");
    xmlTextWriterWriteAttribute(w, BAD_CAST "generator-info-name", BAD_CAST "streamgate 4gtv");
    for (int i = 0; i < st->nchans; i++) {
        tv_chan_t *c = &st->chans[i];
        xmlTextWriterStartElement(w, BAD_CAST "channel");
        xmlTextWriterWriteAttribute(w, BAD_CAST "id", BAD_CAST c->fid);
        xmlTextWriterStartElement(w, BAD_CAST "display-name");
        xmlTextWriterWriteAttribute(w, BAD_CAST "lang", BAD_CAST "zh");
        xmlTextWriterWriteString(w, BAD_CAST c->name);
        xmlTextWriterEndElement(w);
        xmlTextWriterEndElement(w);
    }
    for (int i = 0; i < st->nchans; i++) {
        tv_chan_t *c = &st->chans[i];
        for (int k = 0; k < c->progs.n; k++) {
            tv_xml_time(a, sizeof(a), c->progs.v[k].start);
            tv_xml_time(b, sizeof(b), c->progs.v[k].stop);
            xmlTextWriterStartElement(w, BAD_CAST "programme");
            xmlTextWriterWriteAttribute(w, BAD_CAST "start", BAD_CAST a);
            xmlTextWriterWriteAttribute(w, BAD_CAST "stop", BAD_CAST b);
            xmlTextWriterWriteAttribute(w, BAD_CAST "channel", BAD_CAST c->fid);
            xmlTextWriterStartElement(w, BAD_CAST "title");
            xmlTextWriterWriteAttribute(w, BAD_CAST "lang", BAD_CAST "zh");
            xmlTextWriterWriteString(w, BAD_CAST c->progs.v[k].title);
            xmlTextWriterEndElement(w);
            xmlTextWriterEndElement(w);
        }
    }
    xmlTextWriterEndElement(w);
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    st->h->reply(r, 200, "application/xml; charset=utf-8", xmlBufferContent(buf),
                 (size_t)xmlBufferLength(buf));
    xmlBufferFree(buf);
}

/* ---- /{fid}/mpegts: the core's HLS reader over our own playlist ---------------------------- */

static int
tv_open(sg_session_t *s, void *state, void *sstate, const sg_stream_req_t *req)
{
    tv_state_t *st = state;
    tv_chan_t *c = tv_chan(st, req->channel);
    char url[1024];
    (void)sstate;

    if (c == NULL || req->kind != SG_REQ_LIVE || req->format != SG_FMT_TS) {
        st->h->session_fail(s, 404, c ? "4gtv channels are live TS only here (/4gtv/ for HLS)"
                                      : "no such 4gtv channel");
        return SG_DECLINED;
    }
    if (tv_now() < c->cool_until) {
        st->h->session_fail(s, 503, "the channel rests after an upstream refusal");
        return SG_BUSY;
    }
    if (req->head) {
        st->h->session_ready(s, "video/mp2t", -1);
        return SG_OK;
    }
    /* channel.m3u8 with the upstream as host: the reader fetches the
     * segments themselves (through the cache, keyed like call.ts) */
    snprintf(url, sizeof(url), "/4gtv/channel.m3u8?fid=%s&hd=720&host=%s", c->fid, c->host);
    return st->h->session_hls(s, url) == SG_OK ? SG_OK : SG_ERROR;
}

/* ---- configuration and lifecycle ----------------------------------------------------------------- */

static const char *const tv_families[] = {"begin_seq", "live", "litv", NULL};

static const sg_conf_key_t tv_tmpl_keys[] = {
    {.name = "hd", .type = SG_CONF_INT, .flags = SG_CONF_REQUIRED, .min = 1, .max = 4320,
     .help = "quality: 360, 480, 720 or 1080"},
    {.name = "url", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED,
     .help = "segment path relative to host, with {fid} {hd} {seq} {begin}"},
    {.name = NULL},
};

static const sg_conf_key_t tv_chan_keys[] = {
    {.name = "fid", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED, .help = "4gtv-4gtv001 ..."},
    {.name = "name", .type = SG_CONF_STRING, .def = "", .help = "display name (default the fid)"},
    {.name = "number", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 99999},
    {.name = "group", .type = SG_CONF_STRING, .def = ""},
    {.name = "logo", .type = SG_CONF_STRING, .def = ""},
    {.name = "family", .type = SG_CONF_STRING, .def = "begin_seq", .choices = tv_families},
    {.name = "step", .type = SG_CONF_FLOAT, .def = "4", .min = 0.5, .max = 60,
     .help = "segment length, seconds (the signed playlist's TARGETDURATION wins)"},
    {.name = "begin_offset", .type = SG_CONF_INT, .def = "12", .min = -100000, .max = 100000,
     .help = "begin_seq: begin = step * seq + begin_offset"},
    {.name = "templates", .type = SG_CONF_GROUP_LIST, .sub = tv_tmpl_keys, .flags = SG_CONF_REQUIRED},
    {.name = "auth_url", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED,
     .help = "signing URL ({fid} {hd}); redirects end at the signed playlist"},
    {.name = "host", .type = SG_CONF_STRING, .def = "", .help = "overrides the plugin's host"},
    {.name = NULL},
};

static const sg_conf_key_t tv_cool_keys[] = {
    {.name = "status", .type = SG_CONF_INT, .flags = SG_CONF_REQUIRED, .min = 100, .max = 999},
    {.name = "seconds", .type = SG_CONF_INT, .flags = SG_CONF_REQUIRED, .min = 0, .max = 864000},
    {.name = NULL},
};

static const sg_conf_key_t tv_keys[] = {
    {.name = "host", .type = SG_CONF_STRING, .def = "https://4gtvfreepc-cds.cdn.hinet.net",
     .help = "the CDN templates are relative to"},
    {.name = "channels", .type = SG_CONF_GROUP_LIST, .sub = tv_chan_keys},
    {.name = "epg_url", .type = SG_CONF_STRING, .def = "", .help = "programme list URL with {fid}"},
    {.name = "vbuffer", .type = SG_CONF_INT, .def = "3", .min = 1, .max = 20,
     .help = "online.m3u8: segments prefetched and listed"},
    {.name = "refresh_min_seconds", .type = SG_CONF_INT, .def = "10", .min = 1, .max = 3600,
     .help = "at most one signing request per channel this often"},
    {.name = "cooldowns", .type = SG_CONF_GROUP_LIST, .sub = tv_cool_keys,
     .help = "( { status = 229; seconds = 3; }, ... ): rest after an upstream status"},
    {.name = "cooldown_default", .type = SG_CONF_INT, .def = "120", .min = 0, .max = 864000,
     .help = "rest after any other non-200 status"},
    {.name = NULL},
};

static int
tv_check(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    const sg_conf_t *c = h->conf(p);
    int rc = SG_OK, n = h->conf_count(c, "channels");
    char out[2048];
    (void)state;
    for (int i = 0; i < n; i++) {
        const sg_conf_t *ch = h->conf_group(c, "channels", i);
        const char *fid = h->conf_string(ch, "fid");
        int nt = h->conf_count(ch, "templates");
        if (strspn(fid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                strlen(fid) || fid[0] == 0) {
            h->conf_error(ch, "fid", "\"%s\": letters, digits, '-', '_', '.'", fid);
            rc = SG_ERROR;
        }
        if (nt == 0 || nt > TV_MAX_TMPL) {
            h->conf_error(ch, "templates", "1 to %d qualities", TV_MAX_TMPL);
            rc = SG_ERROR;
        }
        for (int k = 0; k < nt; k++) {
            const sg_conf_t *t = h->conf_group(ch, "templates", k);
            if (tv_expand(h->conf_string(t, "url"), fid, 720, 1, 1, out, sizeof(out)) != 0) {
                h->conf_error(t, "url", "unknown {placeholder} (use {fid} {hd} {seq} {begin})");
                rc = SG_ERROR;
            }
        }
        if (tv_expand(h->conf_string(ch, "auth_url"), fid, 720, 0, 0, out, sizeof(out)) != 0 ||
            (strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)) {
            h->conf_error(ch, "auth_url", "an http:// or https:// URL with {fid} {hd}");
            rc = SG_ERROR;
        }
    }
    if (h->conf_count(c, "cooldowns") > 16) {
        h->conf_error(c, "cooldowns", "at most 16");
        rc = SG_ERROR;
    }
    return rc;
}

static int
tv_init(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    tv_state_t *st = state;
    const sg_conf_t *c = h->conf(p);
    static const char *const lab_res[] = {"channel", "result", NULL};
    static const char *const lab_st[] = {"channel", "status", NULL};
    /* the original's table (A.4.3): maintenance, expired, too frequent,
     * daily quota, 410, "upgrade", blacklisted */
    static const tv_cool_t defaults[] = {{503, 30}, {403, 60},  {229, 3},     {230, 3600},
                                         {410, 3},  {411, 999}, {216, 86400}};

    st->p = p;
    st->h = h;
    st->vbuffer = (int)h->conf_int(c, "vbuffer");
    st->refresh_min = (double)h->conf_int(c, "refresh_min_seconds");
    st->epg_url = h->conf_string(c, "epg_url");
    st->cool_default = (int)h->conf_int(c, "cooldown_default");
    if (h->conf_count(c, "cooldowns") > 0) {
        for (int i = 0; i < h->conf_count(c, "cooldowns") && i < 16; i++) {
            const sg_conf_t *g = h->conf_group(c, "cooldowns", i);
            st->cool[st->ncool].status = (int)h->conf_int(g, "status");
            st->cool[st->ncool].seconds = (int)h->conf_int(g, "seconds");
            st->ncool++;
        }
    } else {
        memcpy(st->cool, defaults, sizeof(defaults));
        st->ncool = (int)(sizeof(defaults) / sizeof(defaults[0]));
    }
    st->nchans = h->conf_count(c, "channels");
    st->chans = calloc((size_t)(st->nchans ? st->nchans : 1), sizeof(tv_chan_t));
    if (st->chans == NULL) return SG_ERROR;
    for (int i = 0; i < st->nchans; i++) {
        const sg_conf_t *g = h->conf_group(c, "channels", i);
        tv_chan_t *ch = &st->chans[i];
        const char *fam = h->conf_string(g, "family");
        ch->st = st;
        ch->fid = h->conf_string(g, "fid");
        ch->name = h->conf_string(g, "name")[0] ? h->conf_string(g, "name") : ch->fid;
        ch->group = h->conf_string(g, "group");
        ch->logo = h->conf_string(g, "logo");
        ch->number = (int)h->conf_int(g, "number");
        ch->family = strcmp(fam, "live") == 0 ? TV_LIVE : strcmp(fam, "litv") == 0 ? TV_LITV : TV_BEGIN_SEQ;
        ch->step = h->conf_float(g, "step");
        ch->begin_offset = h->conf_int(g, "begin_offset");
        ch->auth_url = h->conf_string(g, "auth_url");
        ch->host = h->conf_string(g, "host")[0] ? h->conf_string(g, "host") : h->conf_string(c, "host");
        ch->ntmpl = h->conf_count(g, "templates");
        if (ch->ntmpl > TV_MAX_TMPL) ch->ntmpl = TV_MAX_TMPL;
        for (int k = 0; k < ch->ntmpl; k++) {
            const sg_conf_t *t = h->conf_group(g, "templates", k);
            ch->tmpl[k].hd = (int)h->conf_int(t, "hd");
            ch->tmpl[k].url = h->conf_string(t, "url");
        }
    }
    st->m_refresh = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "signing_total",
                               .help = "Signed playlist requests, by result", .labels = lab_res});
    st->m_cool = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "cooldowns_total",
                               .help = "Rests after an upstream status, by status", .labels = lab_st});
    if (h->route(p, "/4gtv/epg.xml", SG_ROUTE_GET, tv_route_epg, st) != SG_OK ||
        h->route(p, "/4gtv", SG_ROUTE_GET | SG_ROUTE_PREFIX, tv_route, st) != SG_OK) {
        h->set_state(p, "failed: its routes are taken");
        return SG_ERROR;
    }
    tv_publish(st);
    if (st->epg_url[0]) {
        tv_epg_fetch(st);
        st->epg_timer = h->timer_start(p, TV_EPG_PERIOD_MS, 1, tv_epg_fetch, st);
    }
    h->set_state(p, "ready");
    return SG_OK;
}

static void
tv_fini(sg_plugin_t *p, void *state)
{
    tv_state_t *st = state;
    (void)p;
    for (int i = 0; i < st->nchans && st->chans; i++) {
        tv_chan_t *c = &st->chans[i];
        while (c->waiters) {
            tv_wait_t *w = c->waiters;
            c->waiters = w->next;
            tv_wait_free(w);
        }
        free(c->signed_url);
        free(c->query);
        tv_progs_free(&c->progs);
    }
    free(st->chans);
    st->chans = NULL;
}

static void
tv_status(sg_plugin_t *p, void *state, sg_status_t *s)
{
    tv_state_t *st = state;
    double now = tv_now();
    (void)p;
    st->h->status_int(s, "channels", st->nchans);
    for (int i = 0; i < st->nchans; i++) {
        tv_chan_t *c = &st->chans[i];
        char k[128], v[200];
        snprintf(k, sizeof(k), "channel.%s", c->fid);
        if (now < c->cool_until) {
            snprintf(v, sizeof(v), "resting %d s after %d", (int)(c->cool_until - now), c->cool_status);
        } else if (c->have) {
            snprintf(v, sizeof(v), "signed until %lld, edge %lld, %lld refreshes",
                     (long long)c->expires, (long long)tv_edge(&c->anchor, now),
                     (long long)c->refreshes);
        } else {
            snprintf(v, sizeof(v), "not signed yet");
        }
        st->h->status_string(s, k, v);
    }
}

static const sg_provider_t sg_4gtv_provider = {
    SG_PROVIDER_HEADER,
    .name = "4gtv",
    .version = "0.1.0",
    .summary = "4gtv: buffered HLS relay with computed playlists",
    .caps = SG_CAP_CHANNELS | SG_CAP_EPG | SG_CAP_LIVE | SG_CAP_ROUTES,
    .plugin_size = sizeof(tv_state_t),
    .conf_keys = tv_keys,
    .check = tv_check,
    .init = tv_init,
    .fini = tv_fini,
    .open = tv_open,
    .status = tv_status,
};

SG_PLUGIN_DEFINE(4gtv, sg_4gtv_provider)
