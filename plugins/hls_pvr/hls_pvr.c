/*
 * plugins/hls_pvr: an HLS archive. Each channel's live playlist is polled at
 * its target-duration cadence (a master playlist resolves to one variant),
 * new segments are downloaded with the core's HTTP client and handed to the
 * store (hp_store.c: files + SQLite index, written on a thread of its own,
 * aged out after depth_hours). Interval VOD playlists and coverage metadata
 * are served from the index, in the URL shapes of the original tool
 * (/streamer/...), and the segments from /hls_pvr/<channel>/<path>.
 *
 * Segment times: EXT-X-PROGRAM-DATE-TIME when the playlist has it; otherwise
 * an arrival-time anchor (the newest listed segment ends now) plus the
 * accumulated durations, re-anchored at discontinuities, sequence jumps and
 * resets, and whenever the accumulated clock drifts from the arrival
 * estimate by more than the publishing delay can explain.
 */
#include <curl/curl.h>
#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hp_store.h"
#include "sg/m3u8.h"
#include "sg/plugin.h"

#define HP_PARALLEL 2         /* downloads at once per channel            */
#define HP_TRIES 4            /* per segment                              */
#define HP_BACKOFF_MAX 30000  /* playlist retry ceiling, ms               */
#define HP_GAP_MS 2000        /* coverage: gaps up to this are no gap     */
#define HP_MAX_WINDOW_MS (31LL * 86400 * 1000)

typedef struct hp_state_s hp_state_t;
typedef struct hp_chan_s hp_chan_t;

typedef struct hp_dl_s {
    struct hp_dl_s *next;                 /* the channel's queue            */
    struct hp_dl_s *anext, **aprev;       /* started: the channel's active  */
    hp_chan_t *c;
    char *url, *uri;
    int64_t seq, start_ms, dur_ms, key_id;
    int disc, tries;
    sg_fetch_t *f;
    sg_timer_t *retry;
} hp_dl_t;

struct hp_chan_s {
    hp_state_t *st;
    char name[64];
    const char *source;       /* configured (conf strings live until fini) */
    const char *variant;
    char *media_url;          /* the media playlist (a variant), malloc()ed */
    double depth_hours;
    sg_timer_t *poll;
    sg_fetch_t *pl;
    int fails;                /* playlist failures in a row                */
    double target;            /* seconds                                   */
    int64_t last_seq, last_start_ms, last_end_ms;
    hp_dl_t *queue, **queue_tail;
    hp_dl_t *active;          /* fetching or waiting to retry              */
    /* encryption */
    int encrypt;
    const char *key_server, *key_uri, *content_id;
    int64_t key_id;           /* the key new segments get; 0 = none yet    */
    int64_t key_uses;         /* segments given key_id                     */
    sg_fetch_t *drm;          /* a key request in flight                   */
    sg_timer_t *drm_retry;
    int drm_fails;
    int inflight;
    int64_t stored, failed;
    char state[96];
};

struct hp_state_s {
    sg_plugin_t *p;
    const sg_host_t *h;
    hp_store_t *store;
    const char *dir;
    hp_chan_t *chans;
    int nchans;
    size_t max_bytes;
    int64_t rotation;         /* key_rotation_segments                     */
    sg_metric_t *m_segments, *m_bytes, *m_playlists, *m_keys;
};

static int64_t
hp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ref resolved against base (RFC 3986, by libcurl's URL API): malloc()ed. */
static char *
hp_resolve(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *out = NULL, *res = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        res = strdup(out);
    }
    curl_free(out);
    curl_url_cleanup(u);
    return res;
}

static hp_chan_t *
hp_chan(hp_state_t *st, const char *name, size_t len)
{
    for (int i = 0; i < st->nchans; i++) {
        if (strlen(st->chans[i].name) == len && memcmp(st->chans[i].name, name, len) == 0) {
            return &st->chans[i];
        }
    }
    return NULL;
}

static void
hp_set_state(hp_chan_t *c, const char *fmt, ...) SG_PRINTF(2, 3);

static void
hp_set_state(hp_chan_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->state, sizeof(c->state), fmt, ap);
    va_end(ap);
}

/* ---- segment downloads ------------------------------------------------------------------------ */

static void hp_pump(hp_chan_t *c);

static void
hp_dl_free(hp_dl_t *d)
{
    if (d->aprev) {
        *d->aprev = d->anext;
        if (d->anext) d->anext->aprev = d->aprev;
    }
    free(d->url);
    free(d->uri);
    free(d);
}

/* MPEG-TS: sync bytes where packets start (an error page is never archived) */
static const char *
hp_check_ts(const sg_fetch_resp_t *r)
{
    const uint8_t *b = (const uint8_t *)r->body;
    if (r->status != 200) return "not 200";
    if (r->content_type && (strncmp(r->content_type, "text/", 5) == 0 ||
                            strstr(r->content_type, "json") || strstr(r->content_type, "xml"))) {
        return "a text body, not MPEG-TS";
    }
    if (r->len < 188) return "too short for MPEG-TS";
    for (size_t k = 0; k < 16 && k * 188 < r->len; k++) {
        if (b[k * 188] != 0x47) return "no MPEG-TS sync byte";
    }
    return NULL;
}

static void hp_dl_start(void *arg);

static void
hp_dl_done(const sg_fetch_resp_t *r, void *arg)
{
    hp_dl_t *d = arg;
    hp_chan_t *c = d->c;
    hp_state_t *st = c->st;
    const char *bad = r->error ? r->error : hp_check_ts(r);

    d->f = NULL;
    c->inflight--;
    if (bad == NULL) {
        hp_put_t *u = calloc(1, sizeof(*u));
        if (u && (u->body = malloc(r->len)) != NULL) {
            snprintf(u->channel, sizeof(u->channel), "%s", c->name);
            u->start_ms = d->start_ms;
            u->duration_ms = d->dur_ms;
            u->seq = d->seq;
            u->disc = d->disc;
            u->key_id = d->key_id;
            u->uri = d->uri;
            d->uri = NULL;
            memcpy(u->body, r->body, r->len);
            u->len = r->len;
            if (hp_store_put(st->store, u) != SG_OK) {
                st->h->log(st->p, SG_LOG_WARN, "%s: the disk is behind; segment %lld dropped",
                           c->name, (long long)d->seq);
                st->h->metric_add(st->m_segments, (const char *const[]){c->name, "dropped"}, 1);
                c->failed++;
            }
        } else {
            if (u) free(u);
            c->failed++;
        }
        hp_dl_free(d);
        hp_pump(c);
        return;
    }
    if (++d->tries < HP_TRIES) {
        /* 0.5 s, 1 s, 2 s: a 404 burst or a slow edge */
        d->retry = st->h->timer_start(st->p, 500u << (d->tries - 1), 0, hp_dl_start, d);
        if (d->retry) {
            c->inflight++; /* its slot stays taken while it waits */
            return;
        }
    }
    st->h->log(st->p, SG_LOG_WARN, "%s: segment %lld (%s) not archived after %d tries: %s%s%d",
               c->name, (long long)d->seq, d->url, d->tries, bad, r->status ? ", HTTP " : "",
               r->status);
    st->h->metric_add(st->m_segments, (const char *const[]){c->name, "failed"}, 1);
    c->failed++;
    hp_dl_free(d);
    hp_pump(c);
}

static void
hp_dl_start(void *arg)
{
    hp_dl_t *d = arg;
    hp_chan_t *c = d->c;
    hp_state_t *st = c->st;
    long timeout = (long)(c->target > 0 ? c->target * 4000 : 20000);

    if (d->retry) {
        d->retry = NULL;
        c->inflight--;
    }
    c->inflight++;
    if (d->aprev == NULL) {
        d->anext = c->active;
        if (d->anext) d->anext->aprev = &d->anext;
        c->active = d;
        d->aprev = &c->active;
    }
    d->f = st->h->fetch(st->p,
                        &(sg_fetch_req_t){.url = d->url, .timeout_ms = timeout < 10000 ? 10000 : timeout,
                                          .max_bytes = st->max_bytes, .follow_redirects = 1},
                        hp_dl_done, d);
    if (d->f == NULL) {
        c->inflight--;
        c->failed++;
        hp_dl_free(d);
    }
}

static void
hp_pump(hp_chan_t *c)
{
    while (c->inflight < HP_PARALLEL && c->queue) {
        hp_dl_t *d = c->queue;
        c->queue = d->next;
        if (c->queue == NULL) c->queue_tail = &c->queue;
        d->next = NULL;
        hp_dl_start(d);
    }
}

/* ---- keys from the DRM backend ------------------------------------------------------------------ */

static void hp_poll(void *arg);
static void hp_schedule(hp_chan_t *c, uint64_t ms);
static void hp_key_fetch(void *arg);

static int
hp_is_hex32(const char *s)
{
    if (s == NULL || strlen(s) != 32) return 0;
    for (int i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)s[i])) return 0;
    }
    return 1;
}

static void
hp_key_failed(hp_chan_t *c, const char *why)
{
    hp_state_t *st = c->st;
    uint64_t wait = 1000u << (c->drm_fails > 6 ? 6 : c->drm_fails);
    st->h->metric_add(st->m_keys, (const char *const[]){c->name, "failed"}, 1);
    if (c->drm_fails++ == 0) {
        st->h->log(st->p, SG_LOG_WARN, "%s: key server %s%s: %s; %s", c->name, c->key_server,
                   c->content_id, why,
                   c->key_id ? "the current key stays in use" : "nothing is archived until a key comes");
    }
    if (c->key_id == 0) hp_set_state(c, "waiting for a key: %s", why);
    c->drm_retry = st->h->timer_start(st->p, wait > 60000 ? 60000 : wait, 0, hp_key_fetch, c);
}

static void
hp_key_done(const sg_fetch_resp_t *r, void *arg)
{
    hp_chan_t *c = arg;
    hp_state_t *st = c->st;
    json_t *root = NULL;
    hp_key_t k;
    const char *key, *iv;
    char why[160];
    int64_t id;

    c->drm = NULL;
    if (r->error || r->status != 200) {
        if (r->error) {
            snprintf(why, sizeof(why), "%s", r->error);
        } else {
            snprintf(why, sizeof(why), "HTTP %d", r->status);
        }
        hp_key_failed(c, why);
        return;
    }
    root = json_loadb(r->body, r->len, 0, NULL);
    key = json_string_value(json_object_get(root, "key"));
    iv = json_string_value(json_object_get(root, "iv"));
    if (!hp_is_hex32(key) || !hp_is_hex32(iv)) {
        json_decref(root);
        hp_key_failed(c, "the answer is not {\"key\": <32 hex>, \"iv\": <32 hex>}");
        return;
    }
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < 32; i++) {
        k.key[i] = (char)tolower((unsigned char)key[i]);
        k.iv[i] = (char)tolower((unsigned char)iv[i]);
    }
    json_decref(root);
    /* with rotation every key needs a URI of its own: the IV names it */
    if (st->rotation > 0) {
        snprintf(k.uri, sizeof(k.uri), "%s%s.bin?iv=0x%s", c->key_uri, c->content_id, k.iv);
    } else {
        snprintf(k.uri, sizeof(k.uri), "%s%s.bin", c->key_uri, c->content_id);
    }
    id = hp_store_add_key(st->store, c->name, &k);
    if (id == 0) {
        hp_key_failed(c, "the key cannot be indexed");
        return;
    }
    if (c->drm_fails) {
        st->h->log(st->p, SG_LOG_NOTICE, "%s: key server back after %d failures", c->name,
                   c->drm_fails);
    }
    c->drm_fails = 0;
    st->h->metric_add(st->m_keys, (const char *const[]){c->name, "ok"}, 1);
    st->h->log(st->p, SG_LOG_INFO, "%s: new key %lld (IV %s)", c->name, (long long)id, k.iv);
    if (c->key_id == 0) {
        c->key_id = id;
        c->key_uses = 0;
        hp_set_state(c, "starting");
        hp_schedule(c, 0); /* the playlist still lists what came meanwhile */
    } else {
        c->key_id = id;
        c->key_uses = 0;
    }
}

static void
hp_key_fetch(void *arg)
{
    hp_chan_t *c = arg;
    hp_state_t *st = c->st;
    char url[1024];

    c->drm_retry = NULL;
    if (c->drm) return;
    snprintf(url, sizeof(url), "%s%s", c->key_server, c->content_id);
    c->drm = st->h->fetch(st->p, &(sg_fetch_req_t){.url = url, .timeout_ms = 10000, .max_bytes = 65536},
                          hp_key_done, c);
    if (c->drm == NULL) hp_key_failed(c, "the request cannot be started");
}

/* The key a new segment is stored with (0 = clear); asks for the next one
 * when rotation is due, keeping the current one until it comes. */
static int64_t
hp_key_for_segment(hp_chan_t *c)
{
    hp_state_t *st = c->st;
    if (!c->encrypt) return 0;
    c->key_uses++;
    if (st->rotation > 0 && c->key_uses >= st->rotation && c->drm == NULL && c->drm_retry == NULL) {
        hp_key_fetch(c);
    }
    return c->key_id;
}

/* ---- the playlist ------------------------------------------------------------------------------ */

static void
hp_schedule(hp_chan_t *c, uint64_t ms)
{
    hp_state_t *st = c->st;
    if (c->poll) st->h->timer_stop(c->poll);
    c->poll = st->h->timer_start(st->p, ms, 0, hp_poll, c);
}

static void
hp_fail(hp_chan_t *c, const char *fmt, ...) SG_PRINTF(2, 3);

static void
hp_fail(hp_chan_t *c, const char *fmt, ...)
{
    hp_state_t *st = c->st;
    char why[256];
    uint64_t wait;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    st->h->metric_add(st->m_playlists, (const char *const[]){c->name, "failed"}, 1);
    if (c->fails++ == 0) {
        st->h->log(st->p, SG_LOG_WARN, "%s: playlist: %s; retrying", c->name, why);
    }
    hp_set_state(c, "failing: %s", why);
    /* a variant that keeps failing: ask the master again */
    if (c->fails >= 3 && c->media_url && strcmp(c->media_url, c->source) != 0) {
        free(c->media_url);
        c->media_url = NULL;
    }
    wait = 1000u << (c->fails > 5 ? 5 : c->fails - 1);
    hp_schedule(c, wait > HP_BACKOFF_MAX ? HP_BACKOFF_MAX : wait);
}

static const sg_m3u8_variant_t *
hp_pick_variant(const sg_m3u8_t *m, const char *want)
{
    const sg_m3u8_variant_t *best = NULL;
    int64_t target = 0;
    if (strcmp(want, "best") != 0 && strcmp(want, "worst") != 0) target = atoll(want);
    for (int i = 0; i < m->nvars; i++) {
        const sg_m3u8_variant_t *v = &m->vars[i];
        if (best == NULL) {
            best = v;
        } else if (strcmp(want, "best") == 0) {
            if (v->bandwidth > best->bandwidth) best = v;
        } else if (strcmp(want, "worst") == 0) {
            if (v->bandwidth < best->bandwidth) best = v;
        } else if (llabs(v->bandwidth - target) < llabs(best->bandwidth - target) ||
                   (llabs(v->bandwidth - target) == llabs(best->bandwidth - target) &&
                    v->bandwidth < best->bandwidth)) {
            best = v;
        }
    }
    return best;
}

/* Which listed segments are new, and when each started (see the top). */
static int
hp_take(hp_chan_t *c, const sg_m3u8_t *m, const char *base)
{
    hp_state_t *st = c->st;
    int64_t now = hp_now_ms(), tail = 0, prev_pdt = -1, prev_dur = 0;
    int64_t drift = (int64_t)(fmax(3.0, 2.5 * (c->target > 0 ? c->target : 2)) * 1000);
    int64_t *est = calloc((size_t)m->nsegs + 1, sizeof(int64_t));
    int taken = 0;

    if (est == NULL) return 0;
    for (int i = m->nsegs - 1; i >= 0; i--) {
        tail += llround(m->segs[i].duration * 1000);
        est[i] = now - tail;
    }
    /* an upstream restart: the numbers went back by more than a window */
    if (c->last_seq >= 0 && m->nsegs &&
        m->segs[m->nsegs - 1].seq + m->nsegs < c->last_seq) {
        st->h->log(st->p, SG_LOG_NOTICE, "%s: media sequence reset (%lld after %lld)", c->name,
                   (long long)m->segs[m->nsegs - 1].seq, (long long)c->last_seq);
        c->last_seq = m->segs[0].seq - 1;
        c->last_end_ms = -1;
    }
    for (int i = 0; i < m->nsegs; i++) {
        const sg_m3u8_seg_t *g = &m->segs[i];
        int64_t dur = llround(g->duration * 1000), pdt = -1, start;
        int disc = g->disc;
        hp_dl_t *d;

        /* PROGRAM-DATE-TIME applies to its segment and carries on to the
         * ones after it until a discontinuity */
        if (g->pdt_ms >= 0) {
            pdt = g->pdt_ms;
        } else if (prev_pdt >= 0 && !g->disc) {
            pdt = prev_pdt + prev_dur;
        }
        prev_pdt = pdt;
        prev_dur = dur;
        if (dur <= 0) continue;
        if (pdt >= 0) {
            if (c->last_start_ms >= 0 && pdt < c->last_start_ms + dur / 2) continue; /* had it */
            start = pdt;
            if (c->last_end_ms >= 0 && llabs(start - c->last_end_ms) > HP_GAP_MS) disc = 1;
            if (c->last_seq >= 0 && g->seq != c->last_seq + 1) disc = 1;
        } else {
            if (c->last_seq >= 0 && g->seq <= c->last_seq) continue; /* had it */
            if (c->last_seq >= 0 && g->seq == c->last_seq + 1 && !g->disc && c->last_end_ms >= 0) {
                start = c->last_end_ms;
                if (llabs(start - est[i]) > drift) {
                    start = est[i];
                    disc = 1;
                }
            } else {
                start = est[i];
                if (c->last_seq >= 0) disc = 1;
            }
            /* our own clock never runs backwards */
            if (c->last_end_ms >= 0 && start < c->last_end_ms) start = c->last_end_ms;
        }
        c->last_seq = g->seq;
        c->last_start_ms = start;
        c->last_end_ms = start + dur;
        d = calloc(1, sizeof(*d));
        if (d == NULL || (d->url = hp_resolve(base, g->uri)) == NULL ||
            (d->uri = strdup(g->uri)) == NULL) {
            if (d) hp_dl_free(d);
            c->failed++;
            continue;
        }
        d->c = c;
        d->seq = g->seq;
        d->start_ms = start;
        d->dur_ms = dur;
        d->disc = disc;
        d->key_id = hp_key_for_segment(c);
        *c->queue_tail = d;
        c->queue_tail = &d->next;
        taken++;
    }
    free(est);
    hp_pump(c);
    return taken;
}

static void
hp_playlist_done(const sg_fetch_resp_t *r, void *arg)
{
    hp_chan_t *c = arg;
    hp_state_t *st = c->st;
    sg_m3u8_t m;
    const char *why = NULL;
    int taken;
    uint64_t next;

    c->pl = NULL;
    if (r->error || r->status != 200) {
        hp_fail(c, "%s: %s", c->media_url ? c->media_url : c->source,
                r->error ? r->error : "HTTP error");
        if (!r->error) snprintf(c->state + strlen(c->state), sizeof(c->state) - strlen(c->state),
                                " %d", r->status);
        return;
    }
    if (sg_m3u8_parse(r->body, r->len, &m, &why) != 0) {
        hp_fail(c, "%s: %s", r->url, why);
        return;
    }
    if (m.master) {
        const sg_m3u8_variant_t *v = hp_pick_variant(&m, c->variant);
        char *u = v ? hp_resolve(r->url, v->uri) : NULL;
        long long bw = v ? (long long)v->bandwidth : 0;
        sg_m3u8_free(&m);
        if (u == NULL) {
            hp_fail(c, "%s: a master playlist without a usable variant", r->url);
            return;
        }
        free(c->media_url);
        c->media_url = u;
        st->h->log(st->p, SG_LOG_INFO, "%s: variant %s (%lld b/s)", c->name, u, bw);
        hp_schedule(c, 0);
        return;
    }
    for (int i = 0; i < m.nsegs; i++) {
        if (m.segs[i].key_method != SG_M3U8_KEY_NONE) {
            sg_m3u8_free(&m);
            hp_fail(c, "%s: encrypted source segments are not supported", r->url);
            return;
        }
    }
    if (c->media_url == NULL) c->media_url = strdup(r->url);
    if (c->fails) {
        st->h->log(st->p, SG_LOG_NOTICE, "%s: playlist back after %d failures", c->name, c->fails);
    }
    c->fails = 0;
    st->h->metric_add(st->m_playlists, (const char *const[]){c->name, "ok"}, 1);
    c->target = m.target > 0 ? m.target : (m.nsegs ? m.segs[m.nsegs - 1].duration : 2);
    taken = hp_take(c, &m, r->url);
    hp_set_state(c, "archiving");
    /* RFC 8216 6.3.4: a target duration after a change, half when none */
    next = (uint64_t)(c->target * (taken ? 1000 : 500));
    if (m.endlist) {
        /* a finished stream: look again now and then */
        next = 30000;
        hp_set_state(c, "the source ended (ENDLIST)");
    }
    sg_m3u8_free(&m);
    hp_schedule(c, next < 250 ? 250 : next);
}

static void
hp_poll(void *arg)
{
    hp_chan_t *c = arg;
    hp_state_t *st = c->st;
    c->poll = NULL;
    if (c->pl) return;
    if (c->encrypt && c->key_id == 0) {
        /* nothing is taken before there is a key to store it with; the
         * upstream's window keeps what airs meanwhile for a while */
        if (c->drm == NULL && c->drm_retry == NULL) hp_key_fetch(c);
        return;
    }
    c->pl = st->h->fetch(st->p,
                         &(sg_fetch_req_t){.url = c->media_url ? c->media_url : c->source,
                                           .timeout_ms = 10000, .max_bytes = 8u << 20,
                                           .follow_redirects = 1},
                         hp_playlist_done, c);
    if (c->pl == NULL) hp_fail(c, "cannot start a request for %s", c->source);
}

/* ---- serving: windows ----------------------------------------------------------------------- */

/* "D/M/YYYYTHH:MM:SS" (UTC, numbers need not be padded) to ms; -1 if bad. */
static int64_t
hp_parse_dmy(const char *s)
{
    int d, mo, y, h, mi, se, n = -1;
    struct tm tm = {0}, back;
    time_t t;
    if (sscanf(s, "%2d/%2d/%4dT%2d:%2d:%2d%n", &d, &mo, &y, &h, &mi, &se, &n) != 6 || n < 0 ||
        s[n] != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 59 || h < 0 || mi < 0 || se < 0) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d) return -1; /* 31/2 */
    return (int64_t)t * 1000;
}

static int64_t
hp_parse_unix(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < 0 || v > 4e12) return -1;
    return (int64_t)llround(v * 1000);
}

/* The window of a request: 0, or an HTTP status with the reply sent. */
static int
hp_window(hp_state_t *st, sg_hreq_t *r, int64_t *from, int64_t *to)
{
    const sg_host_t *h = st->h;
    char a[64], b[64];
    int strform = h->hreq_arg(r, "startTime", a, sizeof(a)) >= 0;

    if (strform) {
        *from = hp_parse_dmy(a);
        if (*from < 0) {
            h->reply_error(r, 400, "startTime: want D/M/YYYYTHH:MM:SS (UTC), got \"%s\"", a);
            return 400;
        }
        *to = hp_now_ms();
        if (h->hreq_arg(r, "endTime", b, sizeof(b)) >= 0 && (*to = hp_parse_dmy(b)) < 0) {
            h->reply_error(r, 400, "endTime: want D/M/YYYYTHH:MM:SS (UTC), got \"%s\"", b);
            return 400;
        }
    } else if (h->hreq_arg(r, "startTimestamp", a, sizeof(a)) >= 0) {
        if ((*from = hp_parse_unix(a)) < 0) {
            h->reply_error(r, 400, "startTimestamp: want Unix seconds, got \"%s\"", a);
            return 400;
        }
        *to = hp_now_ms();
        if (h->hreq_arg(r, "endTimestamp", b, sizeof(b)) >= 0 && (*to = hp_parse_unix(b)) < 0) {
            h->reply_error(r, 400, "endTimestamp: want Unix seconds, got \"%s\"", b);
            return 400;
        }
    } else {
        h->reply_error(r, 400, "startTime (D/M/YYYYTHH:MM:SS) or startTimestamp is required");
        return 400;
    }
    if (*to < *from) {
        h->reply_error(r, 400, "the end is before the start");
        return 400;
    }
    if (*to - *from > HP_MAX_WINDOW_MS) *to = *from + HP_MAX_WINDOW_MS;
    return 0;
}

/* ---- serving: the interval playlist --------------------------------------------------------- */

typedef struct hp_buf_s {
    char *p;
    size_t n, cap;
    int oom;
} hp_buf_t;

static void
hp_printf(hp_buf_t *b, const char *fmt, ...) SG_PRINTF(2, 3);

static void
hp_printf(hp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom) return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)n < b->cap) {
            b->n += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->n + (size_t)n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void
hp_put(hp_buf_t *b, const char *p, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        char *np;
        while (cap < b->n + n + 1) cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* n >= 0 in decimal; at least width digits (zero-padded) */
static size_t
hp_utoa(char *out, int64_t n, int width)
{
    char tmp[24];
    size_t l = 0, i;
    do {
        tmp[l++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0 || (int)l < width);
    for (i = 0; i < l; i++) out[i] = tmp[l - 1 - i];
    return l;
}

typedef struct hp_pl_s {
    hp_state_t *st;
    hp_chan_t *c;
    hp_buf_t body;
    char prefix[640];   /* <base>/hls_pvr/<channel>/                        */
    size_t prefix_len;
    int64_t max_ms, first_seq, prev_end, prev_seq, key_id;
    long n;
} hp_pl_t;

#define HP_HEAD_ROOM 256 /* the playlist's head goes in front of the segments */

static int
hp_pl_seg(void *arg, const hp_seg_t *g)
{
    hp_pl_t *x = arg;
    char t[32];
    int gap = x->n > 0 && g->start_ms - x->prev_end > HP_GAP_MS;

    if (x->n == 0) x->first_seq = g->seq;
    if (x->n > 0 && (gap || g->disc || g->seq != x->prev_seq + 1)) {
        hp_printf(&x->body, "#EXT-X-DISCONTINUITY\n");
    }
    if (x->n == 0 || gap) {
        sg_m3u8_format_time(g->start_ms, t, sizeof(t));
        hp_printf(&x->body, "#EXT-X-PROGRAM-DATE-TIME:%s\n", t);
    }
    if (g->key_id != x->key_id) {
        hp_key_t k;
        if (g->key_id && hp_store_key(x->st->store, g->key_id, &k) == SG_OK) {
            hp_printf(&x->body, "#EXT-X-KEY:METHOD=AES-128,URI=\"%s\",IV=0x%s\n", k.uri, k.iv);
        } else {
            hp_printf(&x->body, "#EXT-X-KEY:METHOD=NONE\n");
        }
        x->key_id = g->key_id;
    }
    {
        /* the hot path of a 24-hour playlist: no printf */
        char line[48];
        size_t l = 8;
        int64_t d = g->duration_ms < 0 ? 0 : g->duration_ms;
        memcpy(line, "#EXTINF:", 8);
        l += hp_utoa(line + l, d / 1000, 1);
        line[l++] = '.';
        l += hp_utoa(line + l, d % 1000, 3);
        line[l++] = ',';
        line[l++] = '\n';
        hp_put(&x->body, line, l);
        hp_put(&x->body, x->prefix, x->prefix_len);
        hp_put(&x->body, g->path, strlen(g->path));
        hp_put(&x->body, "\n", 1);
    }
    if (g->duration_ms > x->max_ms) x->max_ms = g->duration_ms;
    x->prev_end = g->start_ms + g->duration_ms;
    x->prev_seq = g->seq;
    x->n++;
    return x->body.oom;
}

/* The archive between from and to as a playlist: VOD, or live (no
 * PLAYLIST-TYPE, no ENDLIST). Segment URIs are <base>/hls_pvr/<ch>/<path>
 * (base "" gives absolute paths). The text is out->p + *off, out->n - *off
 * bytes (the head is written into room kept in front, so the segments are
 * never copied). The number of segments, -1 on error. */
static long
hp_build_playlist(hp_state_t *st, hp_chan_t *c, const char *base, int64_t from, int64_t to, int live,
                  hp_buf_t *out, size_t *off)
{
    hp_pl_t x = {.st = st, .c = c};
    char head[HP_HEAD_ROOM];
    int hl;
    long n;

    x.prefix_len = (size_t)snprintf(x.prefix, sizeof(x.prefix), "%s/hls_pvr/%s/", base, c->name);
    if (x.prefix_len >= sizeof(x.prefix)) return -1;
    hp_put(&x.body, head, HP_HEAD_ROOM); /* the room */
    n = hp_store_range(st->store, c->name, from, to, hp_pl_seg, &x);
    if (!live) hp_put(&x.body, "#EXT-X-ENDLIST\n", 15);
    if (n <= 0 || x.body.oom) {
        free(x.body.p);
        return x.body.oom ? -1 : n;
    }
    hl = snprintf(head, sizeof(head),
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%lld\n#EXT-X-MEDIA-SEQUENCE:%lld\n%s",
                  (long long)((x.max_ms + 999) / 1000), (long long)(x.first_seq < 0 ? 0 : x.first_seq),
                  live ? "" : "#EXT-X-PLAYLIST-TYPE:VOD\n");
    if (hl <= 0 || hl >= HP_HEAD_ROOM) {
        free(x.body.p);
        return -1;
    }
    memcpy(x.body.p + HP_HEAD_ROOM - hl, head, (size_t)hl);
    *out = x.body;
    *off = HP_HEAD_ROOM - (size_t)hl;
    return n;
}

/* Answer with the archive between from and to as a playlist; a JSON error
 * when there is nothing. */
static void
hp_send_playlist(hp_state_t *st, sg_hreq_t *r, hp_chan_t *c, int64_t from, int64_t to, int live)
{
    const sg_host_t *h = st->h;
    hp_buf_t out = {0};
    char base[512], a[32], b[32];
    size_t off = 0;
    long n;

    h->hreq_base_url(r, base, sizeof(base));
    n = hp_build_playlist(st, c, base, from, to, live, &out, &off);
    if (n < 0) {
        free(out.p);
        h->reply_error(r, 500, "the archive index cannot be read");
        return;
    }
    if (n == 0) {
        free(out.p);
        sg_m3u8_format_time(from, a, sizeof(a));
        sg_m3u8_format_time(to, b, sizeof(b));
        h->reply_error(r, 404, "%s: nothing archived between %s and %s", c->name, a, b);
        return;
    }
    h->reply_header(r, "Cache-Control", "no-cache");
    h->reply(r, 200, "application/vnd.apple.mpegurl", out.p + off, out.n - off);
    free(out.p);
}

static void
hp_serve_playlist(hp_state_t *st, sg_hreq_t *r, hp_chan_t *c)
{
    int64_t from, to;
    if (hp_window(st, r, &from, &to) != 0) return;
    hp_send_playlist(st, r, c, from, to, 0);
}

/* /hls_pvr/{ch}/live.m3u8: the newest archived segments as a live playlist,
 * encrypted when the channel is (the original tool's encryptor output). */
static void
hp_serve_live(hp_state_t *st, sg_hreq_t *r, hp_chan_t *c)
{
    hp_seg_t last;
    if (hp_store_last(st->store, c->name, &last) != SG_OK) {
        st->h->reply_error(r, 404, "%s: nothing archived yet", c->name);
        return;
    }
    /* six segments, like the usual live window */
    hp_send_playlist(st, r, c, last.start_ms - 5 * last.duration_ms + last.duration_ms / 2,
                     last.start_ms + 1, 1);
}

/* ---- serving: coverage ----------------------------------------------------------------------- */

typedef struct hp_cov_s {
    hp_buf_t out;
    int64_t open, end;
    int any;
} hp_cov_t;

static void
hp_cov_close(hp_cov_t *x)
{
    char a[32], b[32];
    sg_m3u8_format_time(x->open, a, sizeof(a));
    sg_m3u8_format_time(x->end, b, sizeof(b));
    hp_printf(&x->out, "%s{\"start_datetime\": \"%s\", \"end_datetime\": \"%s\"}", x->any ? ", " : "",
              a, b);
    x->any = 1;
}

static int
hp_cov_seg(void *arg, const hp_seg_t *g)
{
    hp_cov_t *x = arg;
    if (x->open < 0) {
        x->open = g->start_ms;
    } else if (g->start_ms > x->end + HP_GAP_MS) {
        /* the range ends with the last segment before the gap; the next one
         * begins exactly at the first segment after it */
        hp_cov_close(x);
        x->open = g->start_ms;
    }
    if (g->start_ms + g->duration_ms > x->end) x->end = g->start_ms + g->duration_ms;
    return x->out.oom;
}

static void
hp_serve_metadata(hp_state_t *st, sg_hreq_t *r, hp_chan_t *c)
{
    const sg_host_t *h = st->h;
    hp_cov_t x = {.open = -1, .end = -1};
    int64_t from, to;

    if (hp_window(st, r, &from, &to) != 0) return;
    hp_printf(&x.out, "[");
    if (hp_store_range(st->store, c->name, from, to, hp_cov_seg, &x) < 0) {
        free(x.out.p);
        h->reply_error(r, 500, "the archive index cannot be read");
        return;
    }
    if (x.open >= 0) hp_cov_close(&x);
    hp_printf(&x.out, "]\n");
    if (x.out.oom) {
        free(x.out.p);
        h->reply_error(r, 500, "out of memory");
        return;
    }
    h->reply_header(r, "Cache-Control", "no-cache");
    h->reply(r, 200, "application/json", x.out.p, x.out.n);
    free(x.out.p);
}

/* ---- routes -------------------------------------------------------------------------------------- */

static hp_chan_t *
hp_named(hp_state_t *st, sg_hreq_t *r)
{
    char name[128];
    hp_chan_t *c;
    if (st->h->hreq_arg(r, "channel_name", name, sizeof(name)) < 0) {
        st->h->reply_error(r, 400, "channel_name is required");
        return NULL;
    }
    c = hp_chan(st, name, strlen(name));
    if (c == NULL) st->h->reply_error(r, 404, "no archived channel \"%s\"", name);
    return c;
}

/* /streamer/{ch}.m3u8, /streamer/GetNPVRPlayList, /streamer/{ch}/metadata */
static void
hp_route_streamer(sg_hreq_t *r, void *arg)
{
    hp_state_t *st = arg;
    const char *rest = st->h->hreq_path(r) + strlen("/streamer");
    size_t l;
    hp_chan_t *c;

    if (strcmp(rest, "/GetNPVRPlayList") == 0) {
        if ((c = hp_named(st, r)) != NULL) hp_serve_playlist(st, r, c);
        return;
    }
    if (rest[0] != '/' || (l = strlen(++rest)) == 0) {
        st->h->reply_error(r, 404, "no such resource");
        return;
    }
    if (l > 5 && strcmp(rest + l - 5, ".m3u8") == 0 && memchr(rest, '/', l) == NULL) {
        if ((c = hp_chan(st, rest, l - 5)) == NULL) {
            st->h->reply_error(r, 404, "no archived channel \"%.*s\"", (int)(l - 5), rest);
        } else {
            hp_serve_playlist(st, r, c);
        }
        return;
    }
    if (l > 9 && strcmp(rest + l - 9, "/metadata") == 0 && memchr(rest, '/', l - 9) == NULL) {
        if ((c = hp_chan(st, rest, l - 9)) == NULL) {
            st->h->reply_error(r, 404, "no archived channel \"%.*s\"", (int)(l - 9), rest);
        } else {
            hp_serve_metadata(st, r, c);
        }
        return;
    }
    st->h->reply_error(r, 404, "no such resource");
}

/* /metadata?channel_name=... (the original README's form) */
static void
hp_route_metadata(sg_hreq_t *r, void *arg)
{
    hp_state_t *st = arg;
    hp_chan_t *c = hp_named(st, r);
    if (c) hp_serve_metadata(st, r, c);
}

/* /hls_pvr/{ch}/YYYY/MM/DD/HH/MM/SS-DDDDD.ts */
static void
hp_route_files(sg_hreq_t *r, void *arg)
{
    hp_state_t *st = arg;
    const char *rest = st->h->hreq_path(r) + strlen("/hls_pvr");
    const char *slash;
    hp_chan_t *c;
    char path[1024];

    if (rest[0] != '/' || (slash = strchr(rest + 1, '/')) == NULL ||
        (c = hp_chan(st, rest + 1, (size_t)(slash - rest - 1))) == NULL) {
        st->h->reply_error(r, 404, "no such archived channel");
        return;
    }
    if (strcmp(slash + 1, "live.m3u8") == 0) {
        hp_serve_live(st, r, c);
        return;
    }
    if (hp_store_file(st->store, c->name, slash + 1, path, sizeof(path)) == NULL) {
        st->h->reply_error(r, 404, "not an archive segment name");
        return;
    }
    st->h->reply_file(r, path, "video/mp2t");
}

/* ---- streams: the catalog's live and catchup forms ------------------------------------------ */

#define HP_CHUNK 65536
#define HP_TURN_BYTES (2u << 20) /* per loop turn and session                */
#define HP_FOLLOW_MS 400         /* looking for the next segment at the edge */
#define HP_STALL_MS 60000        /* the edge stands still this long: the end */

typedef struct hp_sess_s {
    hp_state_t *st;
    hp_chan_t *c;
    sg_session_t *s;
    int64_t cur_start;  /* start of the segment sent last (the next is after it) */
    int64_t end_ms;     /* no segment starting at or after it; 0 = follow on     */
    int64_t skip;       /* clear bytes not to send before the first (Range)      */
    int64_t left;       /* bytes still owed; -1 = as many as come                */
    int fd;             /* the segment being sent, -1 between segments           */
    int64_t discard;    /* decrypted bytes to drop (a Range inside a block)      */
    EVP_CIPHER_CTX *dec;
    int64_t waited_ms;  /* at the edge                                           */
    sg_timer_t *t;
    int waiting;        /* session_write said SG_AGAIN                           */
    uint8_t *in, *out;
} hp_sess_t;

static void hp_fill(hp_sess_t *x);

static void
hp_fill_cb(void *arg)
{
    hp_sess_t *x = arg;
    x->t = NULL;
    hp_fill(x);
}

static void
hp_later(hp_sess_t *x, uint64_t ms)
{
    if (x->t == NULL) x->t = x->st->h->timer_start(x->st->p, ms, 0, hp_fill_cb, x);
}

static void
hp_seg_close(hp_sess_t *x)
{
    if (x->fd >= 0) close(x->fd);
    x->fd = -1;
    if (x->dec) EVP_CIPHER_CTX_free(x->dec);
    x->dec = NULL;
    x->discard = 0;
}

/* Open the next segment and position it at x->skip clear bytes in: 1 open,
 * 0 skipped whole (try the next), -1 failed (the session is ended). */
static int
hp_seg_open(hp_sess_t *x, const hp_seg_t *g)
{
    const sg_host_t *h = x->st->h;
    char path[1024];
    uint8_t key[16], iv[16];
    int64_t block = 0;

    x->cur_start = g->start_ms;
    if (x->skip >= g->clear_bytes) {
        x->skip -= g->clear_bytes;
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s/%s", x->st->dir, x->c->name, g->path);
    x->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (x->fd < 0) {
        /* aged out under our feet, or a hole: go on with the next one */
        h->log(x->st->p, SG_LOG_INFO, "%s: %s: %s", x->c->name, g->path, strerror(errno));
        return 0;
    }
    if (g->key_id) {
        hp_key_t k;
        if (hp_store_key(x->st->store, g->key_id, &k) != SG_OK || hp_unhex(k.key, key, 16) ||
            hp_unhex(k.iv, iv, 16)) {
            h->session_fail(x->s, 500, "a segment's key is missing from the index");
            return -1;
        }
        /* CBC from any block: the block before it is its IV */
        block = x->skip / 16;
        if (block > 0 && pread(x->fd, iv, 16, (off_t)((block - 1) * 16)) != 16) {
            h->session_fail(x->s, 500, "a segment cannot be read");
            return -1;
        }
        x->dec = EVP_CIPHER_CTX_new();
        if (x->dec == NULL || EVP_DecryptInit_ex(x->dec, EVP_aes_128_cbc(), NULL, key, iv) != 1) {
            h->session_fail(x->s, 500, "cannot decrypt");
            return -1;
        }
        x->discard = x->skip - block * 16;
        block *= 16;
    } else {
        block = x->skip;
    }
    if (lseek(x->fd, (off_t)block, SEEK_SET) < 0) {
        h->session_fail(x->s, 500, "a segment cannot be read");
        return -1;
    }
    x->skip = 0;
    return 1;
}

/* Send bytes (after a pending discard, within what is owed): 1 go on,
 * 0 wait for resume(), -1 the session ends. */
static int
hp_emit(hp_sess_t *x, const uint8_t *p, int64_t n, size_t *sent)
{
    int rc;
    if (x->discard > 0) {
        int64_t d = x->discard < n ? x->discard : n;
        x->discard -= d;
        p += d;
        n -= d;
    }
    if (x->left >= 0 && n > x->left) n = x->left;
    if (n <= 0) return 1;
    rc = x->st->h->session_write(x->s, p, (size_t)n);
    if (x->left >= 0) x->left -= n;
    *sent += (size_t)n;
    if (rc == SG_AGAIN) {
        x->waiting = 1;
        return 0;
    }
    return rc == SG_OK ? 1 : -1;
}

static void
hp_fill(hp_sess_t *x)
{
    const sg_host_t *h = x->st->h;
    size_t sent = 0;

    x->waiting = 0;
    while (sent < HP_TURN_BYTES) {
        ssize_t n;
        int m = 0, rc;
        if (x->left == 0) {
            h->session_end(x->s);
            return;
        }
        if (x->fd < 0) {
            hp_seg_t g;
            if (hp_store_next(x->st->store, x->c->name, x->cur_start, &g) != SG_OK ||
                (x->end_ms && g.start_ms >= x->end_ms)) {
                if (x->end_ms && hp_store_next(x->st->store, x->c->name, x->cur_start, &g) == SG_OK) {
                    h->session_end(x->s); /* the window is done */
                    return;
                }
                /* at the archive's edge: wait for the next segment */
                x->waited_ms += HP_FOLLOW_MS;
                if (x->waited_ms > HP_STALL_MS) {
                    h->log(x->st->p, SG_LOG_INFO, "%s: nothing new for %d s; the stream ends",
                           x->c->name, HP_STALL_MS / 1000);
                    h->session_end(x->s);
                    return;
                }
                hp_later(x, HP_FOLLOW_MS);
                return;
            }
            x->waited_ms = 0;
            if ((rc = hp_seg_open(x, &g)) < 0) return;
            if (rc == 0) continue;
        }
        n = read(x->fd, x->in, HP_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (x->dec && EVP_DecryptFinal_ex(x->dec, x->out, &m) == 1 && m > 0) {
                rc = hp_emit(x, x->out, m, &sent);
                hp_seg_close(x);
                if (rc <= 0) return; /* resume() goes on with the next segment */
                continue;
            }
            hp_seg_close(x);
            continue;
        }
        if (x->dec) {
            if (EVP_DecryptUpdate(x->dec, x->out, &m, x->in, (int)n) != 1) {
                h->session_fail(x->s, 500, "cannot decrypt a segment");
                return;
            }
            rc = hp_emit(x, x->out, m, &sent);
        } else {
            rc = hp_emit(x, x->in, n, &sent);
        }
        if (rc <= 0) return;
    }
    hp_later(x, 0); /* a turn's worth: let the loop breathe */
}

static int
hp_open(sg_session_t *s, void *state, void *sstate, const sg_stream_req_t *req)
{
    hp_state_t *st = state;
    const sg_host_t *h = st->h;
    hp_sess_t *x = sstate;
    hp_chan_t *c = hp_chan(st, req->channel, strlen(req->channel));
    int64_t now = hp_now_ms(), from, to, first, last;
    hp_seg_t g;

    x->fd = -1;
    if (c == NULL) {
        h->session_fail(s, 404, "no archived channel of that id");
        return SG_DECLINED;
    }
    if (req->format == SG_FMT_MP4) {
        h->session_fail(s, 404, "the HLS archive serves .ts and .m3u8 forms, not .mp4");
        return SG_DECLINED;
    }
    from = req->kind == SG_REQ_CATCHUP ? req->start * 1000 : 0;
    to = req->kind == SG_REQ_CATCHUP && req->duration > 0 ? (req->start + req->duration) * 1000 : 0;
    if (req->format == SG_FMT_HLS) {
        hp_buf_t out = {0};
        size_t off = 0;
        long n;
        if (req->kind == SG_REQ_LIVE) {
            if (hp_store_last(st->store, c->name, &g) != SG_OK) {
                h->session_fail(s, 404, "nothing archived yet");
                return SG_DECLINED;
            }
            n = hp_build_playlist(st, c, "", g.start_ms - 5 * g.duration_ms + g.duration_ms / 2,
                                  g.start_ms + 1, 1, &out, &off);
        } else {
            n = hp_build_playlist(st, c, "", from, to ? to : now, 0, &out, &off);
        }
        if (n <= 0) {
            free(out.p);
            h->session_fail(s, n < 0 ? 500 : 404,
                            n < 0 ? "the archive index cannot be read" : "nothing archived in that window");
            return n < 0 ? SG_ERROR : SG_DECLINED;
        }
        h->session_header(s, "Cache-Control", "no-cache");
        h->session_ready(s, "application/vnd.apple.mpegurl", (int64_t)(out.n - off));
        if (!req->head) {
            h->session_write(s, out.p + off, out.n - off);
            h->session_end(s);
        }
        free(out.p);
        return SG_OK;
    }
    if (req->kind == SG_REQ_LIVE) {
        /* the live HLS itself, through the core's HLS reader */
        if (req->head) {
            h->session_ready(s, "video/mp2t", -1);
            return SG_OK;
        }
        return h->session_hls(s, c->media_url ? c->media_url : c->source) == SG_OK ? SG_OK : SG_ERROR;
    }
    x->st = st;
    x->c = c;
    x->s = s;
    x->left = -1;
    {
        /* the segment running at T, else the first after it */
        int any = 0;
        if (hp_store_next(st->store, c->name, from - 600000, &g) == SG_OK) {
            /* skip the ones that ended before T */
            while (g.start_ms + g.duration_ms <= from &&
                   hp_store_next(st->store, c->name, g.start_ms, &g) == SG_OK) {
            }
            any = g.start_ms + g.duration_ms > from && (!to || g.start_ms < to);
        }
        if (!any) {
            h->session_fail(s, 404, "nothing archived at that time");
            return SG_DECLINED;
        }
        x->cur_start = g.start_ms - 1;
        x->end_ms = to;
        if (to) {
            /* a window wholly archived: its length is known, Range works */
            hp_seg_t lastg;
            if (hp_store_last(st->store, c->name, &lastg) == SG_OK &&
                lastg.start_ms + lastg.duration_ms >= to) {
                int64_t total = 0;
                hp_seg_t it = g;
                do {
                    total += it.clear_bytes;
                } while (hp_store_next(st->store, c->name, it.start_ms, &it) == SG_OK &&
                         it.start_ms < to);
                switch (h->session_range(s, total, &first, &last)) {
                case SG_ERROR:
                    return SG_ERROR;
                default:
                    x->skip = first;
                    x->left = last - first + 1;
                    break;
                }
            }
        }
    }
    h->session_ready(s, "video/mp2t", x->left);
    if (req->head) return SG_OK;
    x->in = malloc(HP_CHUNK);
    x->out = malloc(HP_CHUNK + 32);
    if (x->in == NULL || x->out == NULL) {
        h->session_fail(s, 503, "out of memory");
        return SG_ERROR;
    }
    hp_later(x, 0);
    return SG_OK;
}

static void
hp_resume(sg_session_t *s, void *state, void *sstate)
{
    hp_sess_t *x = sstate;
    (void)s;
    (void)state;
    if (x->waiting && x->t == NULL) hp_fill(x);
}

static void
hp_close(sg_session_t *s, void *state, void *sstate)
{
    hp_sess_t *x = sstate;
    (void)s;
    (void)state;
    if (x->t) x->st->h->timer_stop(x->t);
    x->t = NULL;
    if (x->st) hp_seg_close(x);
    free(x->in);
    free(x->out);
    x->in = x->out = NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------------------- */

static const sg_conf_key_t hp_chan_keys[] = {
    {.name = "name", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED,
     .help = "channel id: letters, digits, '.', '_', '~', '-'"},
    {.name = "source", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED,
     .help = "the live playlist (media or master), http:// or https://"},
    {.name = "depth_hours", .type = SG_CONF_FLOAT, .def = "24", .min = 0.001, .max = 24 * 366,
     .help = "hours kept"},
    {.name = "variant", .type = SG_CONF_STRING, .def = "best",
     .help = "of a master playlist: best, worst or a bandwidth in b/s (the nearest)"},
    {.name = "encrypt", .type = SG_CONF_BOOL, .def = "false",
     .help = "store segments encrypted (AES-128, key from key_server)"},
    {.name = "key_server", .type = SG_CONF_STRING, .def = "", .help = "overrides the plugin's"},
    {.name = "key_uri", .type = SG_CONF_STRING, .def = "", .help = "overrides the plugin's"},
    {.name = "content_id", .type = SG_CONF_STRING, .def = "", .help = "overrides the plugin's"},
    {.name = NULL},
};

static const sg_conf_key_t hp_keys[] = {
    {.name = "dir", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED | SG_CONF_DIR,
     .help = "archive folder (segments and index.db)"},
    {.name = "channels", .type = SG_CONF_GROUP_LIST, .sub = hp_chan_keys,
     .help = "( { name = \"cam0\"; source = \"http://.../live.m3u8\"; depth_hours = 24.0; } )"},
    {.name = "key_server", .type = SG_CONF_STRING, .def = "",
     .help = "DRM backend prefix: GET <key_server><content_id> -> {\"key\", \"iv\"}"},
    {.name = "key_uri", .type = SG_CONF_STRING, .def = "",
     .help = "key URI prefix written into playlists: <key_uri><content_id>.bin"},
    {.name = "content_id", .type = SG_CONF_STRING, .def = "1", .help = "DRM content id"},
    {.name = "key_rotation_segments", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 1000000,
     .help = "a new key every N segments; 0 = one key"},
    {.name = "max_segment_mb", .type = SG_CONF_INT, .def = "32", .min = 1, .max = 1024,
     .help = "a larger segment is refused"},
    {.name = NULL},
};

static int
hp_safe_name(const char *s)
{
    if (s == NULL || s[0] == 0 || strlen(s) >= 64 || s[0] == '.') return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '~' || *p == '-')) {
            return 0;
        }
    }
    return 1;
}

static int
hp_check(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    const sg_conf_t *c = h->conf(p);
    int n = h->conf_count(c, "channels"), rc = SG_OK;
    (void)state;
    for (int i = 0; i < n; i++) {
        const sg_conf_t *ch = h->conf_group(c, "channels", i);
        const char *name = h->conf_string(ch, "name"), *src = h->conf_string(ch, "source");
        const char *var = h->conf_string(ch, "variant");
        if (!hp_safe_name(name)) {
            h->conf_error(ch, "name", "\"%s\": use letters, digits, '.', '_', '~', '-' (not first '.')",
                          name);
            rc = SG_ERROR;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(name, h->conf_string(h->conf_group(c, "channels", k), "name")) == 0) {
                h->conf_error(ch, "name", "\"%s\" is named twice", name);
                rc = SG_ERROR;
            }
        }
        if (strncmp(src, "http://", 7) != 0 && strncmp(src, "https://", 8) != 0) {
            h->conf_error(ch, "source", "\"%s\": want an http:// or https:// URL", src);
            rc = SG_ERROR;
        }
        if (strcmp(var, "best") != 0 && strcmp(var, "worst") != 0 &&
            (var[0] == 0 || strspn(var, "0123456789") != strlen(var))) {
            h->conf_error(ch, "variant", "\"%s\": want best, worst or a bandwidth", var);
            rc = SG_ERROR;
        }
        if (h->conf_bool(ch, "encrypt")) {
            const char *ks = h->conf_string(ch, "key_server"), *ku = h->conf_string(ch, "key_uri");
            if (!ks[0]) ks = h->conf_string(c, "key_server");
            if (!ku[0]) ku = h->conf_string(c, "key_uri");
            if (strncmp(ks, "http://", 7) != 0 && strncmp(ks, "https://", 8) != 0) {
                h->conf_error(ch, "encrypt", "needs key_server (here or in the plugin): an http:// "
                                             "or https:// URL prefix");
                rc = SG_ERROR;
            }
            if (ku[0] == 0) {
                h->conf_error(ch, "encrypt", "needs key_uri (here or in the plugin): the key URI "
                                             "prefix players are given");
                rc = SG_ERROR;
            }
        }
    }
    return rc;
}

static void
hp_stored(void *arg, const char *channel, int ok, int64_t bytes, const char *why)
{
    hp_state_t *st = arg;
    hp_chan_t *c = hp_chan(st, channel, strlen(channel));
    if (ok) {
        st->h->metric_add(st->m_segments, (const char *const[]){channel, "stored"}, 1);
        st->h->metric_add(st->m_bytes, (const char *const[]){channel}, (double)bytes);
        if (c) c->stored++;
    } else {
        st->h->log(st->p, SG_LOG_ERR, "%s: %s", channel, why);
        st->h->metric_add(st->m_segments, (const char *const[]){channel, "failed"}, 1);
        if (c) c->failed++;
    }
}

static int
hp_init(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    hp_state_t *st = state;
    const sg_conf_t *c = h->conf(p);
    static const char *const lab_res[] = {"channel", "result", NULL};
    static const char *const lab_ch[] = {"channel", NULL};
    char why[300];

    st->p = p;
    st->h = h;
    st->dir = h->conf_string(c, "dir");
    st->max_bytes = (size_t)h->conf_int(c, "max_segment_mb") << 20;
    st->rotation = h->conf_int(c, "key_rotation_segments");
    st->nchans = h->conf_count(c, "channels");
    st->m_segments = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "segments_total",
                               .help = "Live segments, by result (stored, failed, dropped)",
                               .labels = lab_res});
    st->m_bytes = h->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                       .name = "archived_bytes_total",
                                                       .help = "Bytes written to the archive",
                                                       .labels = lab_ch});
    st->m_playlists = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "playlist_fetches_total",
                               .help = "Live playlist fetches, by result", .labels = lab_res});
    st->m_keys = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "key_fetches_total",
                               .help = "Key requests to the DRM backend, by result",
                               .labels = lab_res});
    st->store = hp_store_open(h, p, st->dir, hp_stored, st, why, sizeof(why));
    if (st->store == NULL) {
        h->log(p, SG_LOG_ERR, "the archive index: %s", why);
        h->set_state(p, "failed: the archive index cannot be opened");
        return SG_ERROR;
    }
    st->chans = h->alloc(p, sizeof(hp_chan_t) * (size_t)(st->nchans ? st->nchans : 1));
    if (st->chans == NULL) return SG_ERROR;
    for (int i = 0; i < st->nchans; i++) {
        const sg_conf_t *cc = h->conf_group(c, "channels", i);
        hp_chan_t *ch = &st->chans[i];
        hp_seg_t last;
        ch->st = st;
        snprintf(ch->name, sizeof(ch->name), "%s", h->conf_string(cc, "name"));
        ch->source = h->conf_string(cc, "source");
        ch->variant = h->conf_string(cc, "variant");
        ch->depth_hours = h->conf_float(cc, "depth_hours");
        ch->encrypt = h->conf_bool(cc, "encrypt");
        ch->key_server = h->conf_string(cc, "key_server");
        ch->key_uri = h->conf_string(cc, "key_uri");
        ch->content_id = h->conf_string(cc, "content_id");
        if (!ch->key_server[0]) ch->key_server = h->conf_string(c, "key_server");
        if (!ch->key_uri[0]) ch->key_uri = h->conf_string(c, "key_uri");
        if (!ch->content_id[0]) ch->content_id = h->conf_string(c, "content_id");
        ch->queue_tail = &ch->queue;
        ch->last_seq = ch->last_start_ms = ch->last_end_ms = -1;
        /* our own restart: carry on after the newest archived segment */
        if (hp_store_last(st->store, ch->name, &last) == SG_OK) {
            ch->last_seq = last.seq;
            ch->last_start_ms = last.start_ms;
            ch->last_end_ms = last.start_ms + last.duration_ms;
        }
        hp_store_depth(st->store, ch->name, (int64_t)(ch->depth_hours * 3600e3));
        hp_set_state(ch, "starting");
        hp_schedule(ch, 0);
    }
    {
        /* the archive's channels in the unified catalog */
        sg_txn_t *t = h->catalog_begin(p, SG_TXN_REPLACE_CHANNELS);
        for (int i = 0; t && i < st->nchans; i++) {
            hp_chan_t *ch = &st->chans[i];
            int days = (int)ceil(ch->depth_hours / 24.0);
            h->catalog_channel(t, &(sg_channel_t){.id = ch->name, .name = ch->name,
                                                  .groups = "HLS archive",
                                                  .caps = SG_CAP_LIVE | SG_CAP_CATCHUP,
                                                  .catchup_days = days < 1 ? 1 : days});
        }
        if (t) h->catalog_commit(t, NULL, NULL);
    }
    if (h->route(p, "/streamer", SG_ROUTE_GET | SG_ROUTE_PREFIX, hp_route_streamer, st) != SG_OK ||
        h->route(p, "/metadata", SG_ROUTE_GET, hp_route_metadata, st) != SG_OK ||
        h->route(p, "/hls_pvr", SG_ROUTE_GET | SG_ROUTE_PREFIX, hp_route_files, st) != SG_OK) {
        h->set_state(p, "failed: its routes are taken");
        return SG_ERROR;
    }
    h->set_state(p, st->nchans ? "archiving" : "ready (no channels)");
    return SG_OK;
}

static void
hp_fini(sg_plugin_t *p, void *state)
{
    hp_state_t *st = state;
    (void)p;
    for (int i = 0; i < st->nchans && st->chans; i++) {
        hp_chan_t *c = &st->chans[i];
        /* timers and fetches are released by the core after fini */
        while (c->queue) {
            hp_dl_t *d = c->queue;
            c->queue = d->next;
            hp_dl_free(d);
        }
        while (c->active) {
            hp_dl_t *d = c->active;
            if (d->f) st->h->fetch_cancel(d->f);
            if (d->retry) st->h->timer_stop(d->retry);
            hp_dl_free(d);
        }
        free(c->media_url);
    }
    hp_store_close(st->store);
    st->h->free(st->chans);
}

static void
hp_status(sg_plugin_t *p, void *state, sg_status_t *s)
{
    hp_state_t *st = state;
    (void)p;
    st->h->status_int(s, "channels", st->nchans);
    st->h->status_int(s, "write_backlog_bytes", st->store ? (int64_t)hp_store_backlog(st->store) : 0);
    for (int i = 0; i < st->nchans; i++) {
        char k[96], v[200];
        hp_chan_t *c = &st->chans[i];
        snprintf(k, sizeof(k), "channel.%s", c->name);
        snprintf(v, sizeof(v), "%s; %lld stored, %lld failed", c->state, (long long)c->stored,
                 (long long)c->failed);
        st->h->status_string(s, k, v);
    }
}

static const sg_provider_t sg_hls_pvr_provider = {
    SG_PROVIDER_HEADER,
    .name = "hls_pvr",
    .version = "0.1.0",
    .summary = "HLS archive with interval playlists, coverage metadata and AES-128 encryption",
    .caps = SG_CAP_CHANNELS | SG_CAP_LIVE | SG_CAP_CATCHUP | SG_CAP_ROUTES | SG_CAP_JOBS,
    .plugin_size = sizeof(hp_state_t),
    .session_size = sizeof(hp_sess_t),
    .conf_keys = hp_keys,
    .check = hp_check,
    .init = hp_init,
    .fini = hp_fini,
    .open = hp_open,
    .resume = hp_resume,
    .close = hp_close,
    .status = hp_status,
};

SG_PLUGIN_DEFINE(hls_pvr, sg_hls_pvr_provider)
