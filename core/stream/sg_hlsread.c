/*
 * The HLS-pull source of a session (host->session_hls): a live playlist's
 * media segments back to back as one MPEG-TS response.
 *
 * Playlists and segments go through the segment cache (net/sg_segfetch.c):
 * a playlist is kept for one second, so the readers of one channel share
 * its fetches; a segment is fetched once however many read it. A reader
 * starts one segment behind the newest (it is surely complete), follows the
 * media sequence, jumps ahead when it fell out of the window, looks again
 * every half target duration at the live edge, and ends the response after
 * 30 s without a new segment or 5 failures in a row.
 */
#include "stream/sg_hlsread.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/sg_net.h"
#include "net/sg_segfetch.h"
#include "sg/m3u8.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_HLS_PLAYLIST_TTL_MS 1000
#define SG_HLS_SEGMENT_TTL_MS 120000
#define SG_HLS_STALL_MS 30000
#define SG_HLS_FAILS 5

struct sg_hlsread_s {
    sg_segfetch_t *f;
    sg_net_t *net;
    struct event_base *base;
    sg_hlsread_ops_t ops;
    void *arg;
    char url[2048];          /* the media playlist                        */
    int64_t next;            /* the next media sequence number; -1: start */
    double target;           /* seconds                                   */
    uint64_t last_new_ms;    /* when a segment last came                  */
    int fails;
    int waiting;             /* write said AGAIN: resume() goes on        */
    int busy;                /* a request of ours is pending              */
    sg_segwait_t *w;
    struct event *timer;
};

static void sg_hlsread_playlist(sg_hlsread_t *h);

static void
sg_hlsread_later(sg_hlsread_t *h, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

static void
sg_hlsread_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sg_hlsread_playlist(arg);
}

static int
sg_hlsread_failed(sg_hlsread_t *h, const char *why)
{
    if (++h->fails >= SG_HLS_FAILS) {
        sg_log(SG_LOG_INFO, "hls", "%s: %s; the stream ends", h->url, why);
        h->ops.end(h->arg, why);
        return 1;
    }
    sg_hlsread_later(h, 1000);
    return 0;
}

static void
sg_hlsread_segment_done(void *arg, sg_seg_t *seg, int status, const char *why)
{
    sg_hlsread_t *h = arg;
    h->w = NULL;
    h->busy = 0;
    if (seg == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "segment %lld: %s (HTTP %d)", (long long)h->next, why ? why : "failed",
                 status);
        sg_hlsread_failed(h, msg);
        return;
    }
    h->fails = 0;
    h->next++;
    h->last_new_ms = sg_mono_ms();
    switch (h->ops.write(h->arg, seg->data, seg->len)) {
    case 0:
        sg_seg_unref(seg);
        sg_hlsread_later(h, 0); /* the next one, from the playlist we have */
        break;
    case 1:
        sg_seg_unref(seg);
        h->waiting = 1;
        break;
    default:
        sg_seg_unref(seg);
        break;
    }
}

static void
sg_hlsread_playlist_done(void *arg, sg_seg_t *seg, int status, const char *why)
{
    sg_hlsread_t *h = arg;
    sg_m3u8_t m;
    const char *perr = NULL;
    const sg_m3u8_seg_t *g = NULL;
    char url[2048], key[2100], msg[200];
    sg_seg_t *hit = NULL;
    int fill;

    h->w = NULL;
    h->busy = 0;
    if (seg == NULL) {
        snprintf(msg, sizeof(msg), "playlist: %s (HTTP %d)", why ? why : "failed", status);
        sg_hlsread_failed(h, msg);
        return;
    }
    if (sg_m3u8_parse((const char *)seg->data, seg->len, &m, &perr) != 0) {
        sg_seg_unref(seg);
        snprintf(msg, sizeof(msg), "playlist: %s", perr);
        sg_hlsread_failed(h, msg);
        return;
    }
    sg_seg_unref(seg);
    if (m.master) {
        /* the best variant */
        const sg_m3u8_variant_t *best = NULL;
        for (int i = 0; i < m.nvars; i++) {
            if (best == NULL || m.vars[i].bandwidth > best->bandwidth) best = &m.vars[i];
        }
        if (best == NULL || sg_net_resolve(h->net, h->url, best->uri, url, sizeof(url)) != 0) {
            sg_m3u8_free(&m);
            sg_hlsread_failed(h, "a master playlist without a usable variant");
            return;
        }
        snprintf(h->url, sizeof(h->url), "%s", url);
        sg_m3u8_free(&m);
        sg_hlsread_later(h, 0);
        return;
    }
    if (m.nsegs == 0) {
        sg_m3u8_free(&m);
        sg_hlsread_later(h, 1000);
        return;
    }
    h->target = m.target > 0 ? m.target : m.segs[m.nsegs - 1].duration;
    if (h->next < 0) h->next = m.segs[m.nsegs - 1].seq - (m.nsegs > 1 ? 1 : 0);
    if (h->next < m.segs[0].seq) h->next = m.segs[0].seq; /* fell behind the window */
    if (h->next > m.segs[m.nsegs - 1].seq + 1 + m.nsegs) {
        /* the numbers went back: the upstream restarted */
        h->next = m.segs[m.nsegs - 1].seq;
    }
    for (int i = 0; i < m.nsegs; i++) {
        if (m.segs[i].seq == h->next) {
            g = &m.segs[i];
            break;
        }
    }
    if (g == NULL) {
        /* at the live edge: look again in half a target duration */
        sg_m3u8_free(&m);
        if (sg_mono_ms() - h->last_new_ms > SG_HLS_STALL_MS) {
            sg_log(SG_LOG_INFO, "hls", "%s: nothing new for %d s; the stream ends", h->url,
                   SG_HLS_STALL_MS / 1000);
            h->ops.end(h->arg, "the live playlist stopped");
            return;
        }
        sg_hlsread_later(h, (int)(h->target * 500) < 250 ? 250 : (int)(h->target * 500));
        return;
    }
    if (sg_net_resolve(h->net, h->url, g->uri, url, sizeof(url)) != 0) {
        sg_m3u8_free(&m);
        sg_hlsread_failed(h, "a segment URI that does not resolve");
        return;
    }
    sg_m3u8_free(&m);
    /* the key without the query: signed URLs change, the segment does not */
    snprintf(key, sizeof(key), "hls:%.*s", (int)strcspn(url, "?"), url);
    h->busy = 1;
    switch (sg_segfetch_get(h->f,
                            &(sg_seg_req_t){.url = url, .key = key, .ttl_ms = SG_HLS_SEGMENT_TTL_MS,
                                            .mpegts = 1},
                            NULL, sg_hlsread_segment_done, h, &hit, &h->w, &perr)) {
    case 1:
        sg_hlsread_segment_done(h, hit, 200, NULL);
        break;
    case 0:
        break;
    default:
        h->busy = 0;
        sg_hlsread_failed(h, perr ? perr : "the segment cannot be asked for");
        break;
    }
    (void)fill;
}

static void
sg_hlsread_playlist(sg_hlsread_t *h)
{
    char key[2100];
    sg_seg_t *hit = NULL;
    const char *why = NULL;

    if (h->busy || h->waiting) return;
    snprintf(key, sizeof(key), "hlspl:%s", h->url);
    h->busy = 1;
    switch (sg_segfetch_get(h->f,
                            &(sg_seg_req_t){.url = h->url, .key = key, .ttl_ms = SG_HLS_PLAYLIST_TTL_MS,
                                            .max_bytes = 4u << 20},
                            NULL, sg_hlsread_playlist_done, h, &hit, &h->w, &why)) {
    case 1:
        sg_hlsread_playlist_done(h, hit, 200, NULL);
        break;
    case 0:
        break;
    default:
        h->busy = 0;
        sg_hlsread_failed(h, why ? why : "the playlist cannot be asked for");
        break;
    }
}

sg_hlsread_t *
sg_hlsread_new(sg_segfetch_t *f, sg_net_t *net, struct event_base *base, const char *url,
               const sg_hlsread_ops_t *ops, void *arg)
{
    sg_hlsread_t *h = calloc(1, sizeof(*h));
    if (h == NULL) return NULL;
    h->f = f;
    h->net = net;
    h->base = base;
    h->ops = *ops;
    h->arg = arg;
    h->next = -1;
    h->target = 2;
    h->last_new_ms = sg_mono_ms();
    snprintf(h->url, sizeof(h->url), "%s", url);
    h->timer = evtimer_new(base, sg_hlsread_timer_cb, h);
    if (h->timer == NULL) {
        free(h);
        return NULL;
    }
    sg_hlsread_later(h, 0);
    return h;
}

void
sg_hlsread_resume(sg_hlsread_t *h)
{
    if (!h->waiting) return;
    h->waiting = 0;
    sg_hlsread_later(h, 0);
}

void
sg_hlsread_free(sg_hlsread_t *h)
{
    if (h == NULL) return;
    if (h->w) sg_segfetch_cancel(h->f, h->w);
    event_free(h->timer);
    free(h);
}
