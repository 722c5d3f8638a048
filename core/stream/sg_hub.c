#include "sg_hub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/falloc.h>

#include "admit/sg_admit.h"
#include "http/sg_http.h"
#include "metrics/sg_metrics.h"
#include "net/sg_rtsp_client.h"
#include "stream/sg_mpegts.h"
#include "stream/sg_rtp.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_HUB_STAGE (256u << 10)                    /* staged before a write */
#define SG_HUB_STAGE_PRIV (64u << 10)                /* one client: sent sooner */
#define SG_HUB_PUNCH (256u << 10)                    /* free ring in steps    */
#define SG_HUB_KEYS 128                              /* keyframes remembered  */
#define SG_HUB_RECV_BATCH 32                         /* datagrams per recvmmsg */
#define SG_HUB_RECV_ROUNDS 16                        /* recvmmsg calls per wakeup */
#define SG_HUB_READ_PAUSE_US 20000                   /* coalesce datagram wakeups */
#define SG_HUB_DGRAM 2048
#define SG_HUB_KEY_WAIT_US 1000000                   /* no keyframe: start anyway */
#define SG_HUB_MIN_BACKLOG (2u << 20)
#define SG_HUB_RING_MAX (64u << 20)                  /* cap whatever the bitrate */
#define SG_HUB_PSI_MAX (10 * SG_TS_PACKET)
#define SG_HUB_PRIVATE_TICK_MS 250                   /* gap and duration checks */

/* The ring is an append-only memfd: stream offset = file offset. Written
 * bytes never change, so clients are sent ranges of it with sendfile() and
 * no copy; what falls out of the ring is punched out of the file (pages
 * still queued in a socket live on until sent). The file is refcounted:
 * queued ranges keep it open after the hub closed. */
typedef struct sg_hubfile_s {
    int fd;
    unsigned refs;
} sg_hubfile_t;

enum { SG_HC_WAIT, SG_HC_LIVE, SG_HC_RESYNC };

struct sg_hub_client_s {
    sg_hub_client_t *prev, *next;
    sg_hub_t *hub;                  /* NULL once the hub let go          */
    sg_http_req_t *r;
    const sg_hub_client_ops_t *ops;
    void *arg;
    int priority;
    int state;
    int started;                    /* headers sent                      */
    uint64_t t_attach_us;
    uint64_t cur;                   /* next stream offset to send        */
    uint64_t sent;
    char client[64];
};

typedef struct sg_hub_key_s {
    uint64_t off, t_us;
} sg_hub_key_t;

struct sg_hub_s {
    sg_hub_t *prev, *next;
    sg_hubs_t *hubs;
    sg_source_addr_t addr;
    int fd;
    struct event *rd, *rearm, *tick, *batch, *linger;
    sg_hub_client_t *clients;
    int nclients;
    int framing;
    sg_rtp_reorder_t reorder;
    sg_ts_scan_t scan;
    /* ring */
    sg_hubfile_t *file;
    uint64_t wpos, flushed;        /* stream offsets: written, last flush  */
    uint64_t ring_start, punched;  /* oldest usable offset; freed below    */
    uint8_t *stage;                /* packets not yet in the ring file:    */
    uint64_t stage_base;           /* written once per flush, not per read */
    size_t stage_len, stage_cap;
    uint64_t last_flush_us;
    sg_hub_key_t keys[SG_HUB_KEYS];
    unsigned nkeys, key_next;
    /* measurements */
    uint64_t opened_us, last_rx_us, last_join_us;
    uint64_t bytes_in, bytes_prev, dgrams, bad_dgrams;
    double kbps;
    /* a private (negotiated) source: one client, no sharing */
    int priv;
    sg_rtsp_client_t *rtsp;
    uint64_t play_us, first_rx_us; /* PLAY answered; first datagram        */
    int gap_ms;
    uint64_t max_us;
    int splice;                    /* flag each PID's first packet         */
    int ticks;                     /* private ticks since the last measure */
    uint8_t seen_pid[8192 / 8];
};

typedef struct sg_hub_seen_s {
    char key[160];
    double kbps;
} sg_hub_seen_t;

struct sg_hubs_s {
    struct event_base *base;
    sg_admit_t *admit;
    sg_hub_conf_t conf;
    sg_hub_t *list;
    int n;
    sg_hub_seen_t seen[64];        /* last bitrate of recent sources       */
    unsigned seen_next;
    double freed_kbps;             /* closed since the last iface sample   */
};

static sg_metric_t *sg_m_sources, *sg_m_bitrate, *sg_m_lost, *sg_m_reordered, *sg_m_timeouts,
    *sg_m_resyncs, *sg_m_bad;

/* The datagram scratch area: one loop thread, one area. */
static uint8_t sg_hub_rx[SG_HUB_RECV_BATCH][SG_HUB_DGRAM];

static void sg_hub_close(sg_hub_t *h);
static void sg_hub_flush(sg_hub_t *h);

/* ---- the ring file ------------------------------------------------------------------- */

static void
sg_hubfile_hold(void *owner)
{
    ((sg_hubfile_t *)owner)->refs++;
}

static void
sg_hubfile_release(void *owner)
{
    sg_hubfile_t *f = owner;
    if (--f->refs == 0) {
        close(f->fd);
        free(f);
    }
}

static int sg_hub_start_point(sg_hub_t *h, uint64_t now, uint64_t *off);

/* Advance the ring start: never more than ring_ms back at the measured
 * bitrate, and nothing before the keyframe a new client would start at
 * (the ring holds about one GOP). Freed space goes back in 256 KiB steps. */
static void
sg_hub_trim(sg_hub_t *h, uint64_t now)
{
    uint64_t from = 0, start = h->ring_start, cap = SG_HUB_RING_MAX;

    if (h->kbps > 0) {
        double ring = h->kbps * 125.0 * h->hubs->conf.ring_ms / 1000.0;
        if (ring < cap) cap = ring < (1u << 20) ? (1u << 20) : (uint64_t)ring;
    }
    if (h->wpos > cap && h->wpos - cap > start) start = h->wpos - cap;
    if (!h->priv && sg_hub_start_point(h, now, &from) && from > start) start = from;
    h->ring_start = start;
    start &= ~(uint64_t)4095;
    if (start >= h->punched + SG_HUB_PUNCH) {
        if (fallocate(h->file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)h->punched,
                      (off_t)(start - h->punched)) != 0) {
            sg_log(SG_LOG_WARN, "live", "%s: cannot free ring space: %s", h->addr.key,
                   strerror(errno));
        }
        h->punched = start;
    }
}

/* Write the staged packets to the ring file (before anything is sent). */
static void
sg_hub_commit(sg_hub_t *h)
{
    size_t done = 0;
    while (done < h->stage_len) {
        ssize_t w = pwrite(h->file->fd, h->stage + done, h->stage_len - done,
                           (off_t)(h->stage_base + done));
        if (w <= 0) {
            sg_log(SG_LOG_ERR, "live", "%s: ring write failed: %s; %zu bytes lost", h->addr.key,
                   w < 0 ? strerror(errno) : "short write", h->stage_len - done);
            h->wpos = h->stage_base + done;
            break;
        }
        done += (size_t)w;
    }
    h->stage_len = 0;
    h->stage_base = h->wpos;
}

/* ---- ingest ------------------------------------------------------------------------------ */

/* An adaptation-field-only packet of pid flagging a discontinuity, with the
 * continuity counter one before cc (such packets do not advance it), so the
 * packet after it is in sequence. */
static void
sg_ts_disc_packet(uint8_t *out, unsigned pid, unsigned cc)
{
    memset(out, 0xff, SG_TS_PACKET);
    out[0] = 0x47;
    out[1] = (uint8_t)((pid >> 8) & 0x1f);
    out[2] = (uint8_t)pid;
    out[3] = (uint8_t)(0x20 | ((cc - 1) & 0x0f));
    out[4] = 183;
    out[5] = 0x80;
}

/* Before pkt goes out, on a splice: its PID's first packet after the join
 * carries the discontinuity indicator (set in its own adaptation field, or
 * in a packet put before it). Returns 1 when disc holds such a packet. */
static int
sg_hub_splice_mark(sg_hub_t *h, uint8_t *pkt, uint8_t *disc)
{
    unsigned pid = ((unsigned)(pkt[1] & 0x1f) << 8) | pkt[2];
    unsigned afc = (pkt[3] >> 4) & 3;

    if (pid == 0x1fff || (h->seen_pid[pid >> 3] & (1u << (pid & 7)))) return 0;
    h->seen_pid[pid >> 3] |= (uint8_t)(1u << (pid & 7));
    if ((afc & 2) && pkt[4] > 0) {
        pkt[5] |= 0x80;
        return 0;
    }
    sg_ts_disc_packet(disc, pid, pkt[3] & 0x0f);
    return 1;
}

static void sg_hub_append_one(sg_hub_t *h, const uint8_t *pkt, uint64_t now);

/* A private hub whose one client has not started yet. */
static int
sg_hub_priv_waiting(const sg_hub_t *h)
{
    return h->priv && h->clients && h->clients->state == SG_HC_WAIT;
}

/* A private hub whose one client is live: nobody else will ever read its
 * ring, so the staged bytes go straight to that client's socket instead of
 * through the ring file (no page-cache write, no hole punching). The ring
 * is written again only while the client is not live (before it starts,
 * or while a too-slow client waits to restart at a keyframe). */
static int
sg_hub_direct(const sg_hub_t *h)
{
    return h->priv && h->clients && h->clients->state == SG_HC_LIVE;
}

/* The staged bytes to the direct client; returns its backlog. */
static size_t
sg_hub_send_stage(sg_hub_t *h, sg_hub_client_t *c)
{
    size_t n = h->stage_len;
    if (n > 0) {
        sg_http_stream_write(c->r, h->stage, n);
        c->sent += n;
        if (c->ops->sent) c->ops->sent(c->arg, n);
    }
    h->stage_len = 0;
    h->stage_base = h->wpos;
    h->ring_start = h->wpos; /* the ring file holds nothing newer */
    c->cur = h->wpos;
    return sg_http_stream_backlog(c->r);
}

static void
sg_hub_append_packet(sg_hub_t *h, const uint8_t *pkt, uint64_t now)
{
    if (h->splice) {
        uint8_t copy[SG_TS_PACKET], disc[SG_TS_PACKET];
        memcpy(copy, pkt, SG_TS_PACKET);
        if (sg_hub_splice_mark(h, copy, disc)) sg_hub_append_one(h, disc, now);
        sg_hub_append_one(h, copy, now);
        return;
    }
    sg_hub_append_one(h, pkt, now);
}

static void
sg_hub_append_one(sg_hub_t *h, const uint8_t *pkt, uint64_t now)
{
    if (h->stage_len + SG_TS_PACKET > h->stage_cap) {
        if (sg_hub_direct(h)) {
            sg_hub_send_stage(h, h->clients);
        } else {
            sg_hub_commit(h);
        }
    }
    if (sg_ts_scan_packet(&h->scan, pkt) & SG_TS_KEY) {
        h->keys[h->key_next] = (sg_hub_key_t){h->wpos, now};
        h->key_next = (h->key_next + 1) % SG_HUB_KEYS;
        if (h->nkeys < SG_HUB_KEYS) h->nkeys++;
    }
    memcpy(h->stage + h->stage_len, pkt, SG_TS_PACKET);
    h->stage_len += SG_TS_PACKET;
    h->wpos += SG_TS_PACKET;
}

static uint64_t sg_hub_now_us; /* the time of the datagrams being handled */

static void
sg_hub_append_ts(void *arg, const uint8_t *p, size_t len)
{
    sg_hub_t *h = arg;
    size_t i = 0;

    /* Datagrams carry whole packets; find the first sync if one does not. */
    while (i < len && p[i] != 0x47) i++;
    for (; i + SG_TS_PACKET <= len; i += SG_TS_PACKET) {
        if (p[i] != 0x47) {
            h->bad_dgrams++;
            sg_metric_add(sg_m_bad, NULL, 1);
            break;
        }
        sg_hub_append_packet(h, p + i, sg_hub_now_us);
        h->bytes_in += SG_TS_PACKET;
        if (h->first_rx_us == 0) h->first_rx_us = sg_hub_now_us;
    }
}

static void
sg_hub_datagram(sg_hub_t *h, const uint8_t *d, size_t n)
{
    sg_rtp_pkt_t pkt;
    const char *why;

    h->dgrams++;
    if (h->framing == SG_FRAMING_UNKNOWN) {
        h->framing = sg_framing_detect(d, n);
        if (h->framing != SG_FRAMING_UNKNOWN) {
            sg_log(SG_LOG_INFO, "live", "%s: %s", h->addr.key,
                   h->framing == SG_FRAMING_RTP ? "RTP-wrapped MPEG-TS" : "raw MPEG-TS");
        }
    }
    switch (h->framing) {
    case SG_FRAMING_TS:
        sg_hub_append_ts(h, d, n);
        break;
    case SG_FRAMING_RTP:
        if (sg_rtp_parse(d, n, &pkt, &why) != 0) {
            h->bad_dgrams++;
            sg_metric_add(sg_m_bad, NULL, 1);
            break;
        }
        sg_rtp_reorder_push(&h->reorder, pkt.seq, d + pkt.off, pkt.len, sg_hub_append_ts, h);
        break;
    default:
        h->bad_dgrams++;
        sg_metric_add(sg_m_bad, NULL, 1);
        break;
    }
}


/* After a read: flush when the batch is full or due, or due before the
 * read after next would see it (reads of a flowing source come every
 * pause: the flush rides on one of them instead of waking the loop on its
 * own). The batch timer is for a source that went quiet. */
static void
sg_hub_schedule_flush(sg_hub_t *h, uint64_t now)
{
    uint64_t due = h->last_flush_us + (uint64_t)h->hubs->conf.batch_ms * 1000;
    if (h->wpos - h->flushed >= h->hubs->conf.batch_bytes || now + SG_HUB_READ_PAUSE_US / 2 >= due) {
        sg_hub_flush(h);
    } else if (h->wpos > h->flushed && !event_pending(h->batch, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, (suseconds_t)(due - now)};
        event_add(h->batch, &tv);
    }
}


/* Reading: the socket's read event wakes the hub; it reads everything there
 * is, then lets datagrams gather for a pause and reads again without
 * asking epoll (a source that flows is polled on a timer: no epoll_ctl, no
 * wakeup per datagram). When a read finds nothing, the read event is armed
 * again. The kernel buffer holds far more than a pause's worth; batching
 * downstream is 50 ms anyway. */
static void
sg_hub_read_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_hub_t *h = arg;
    struct mmsghdr msgs[SG_HUB_RECV_BATCH];
    struct iovec iov[SG_HUB_RECV_BATCH];
    uint64_t lost0 = h->reorder.lost, reord0 = h->reorder.reordered;
    int round, i, n, got = 0;

    (void)fd;
    (void)what;
    for (i = 0; i < SG_HUB_RECV_BATCH; i++) {
        iov[i].iov_base = sg_hub_rx[i];
        iov[i].iov_len = SG_HUB_DGRAM;
        memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    sg_hub_now_us = sg_mono_us();
    for (round = 0; round < SG_HUB_RECV_ROUNDS; round++) {
        n = recvmmsg(h->fd, msgs, SG_HUB_RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        got += n;
        for (i = 0; i < n; i++) {
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                h->bad_dgrams++;
                sg_metric_add(sg_m_bad, NULL, 1);
                continue;
            }
            sg_hub_datagram(h, sg_hub_rx[i], msgs[i].msg_len);
        }
        if (n < SG_HUB_RECV_BATCH) break;
    }
    if (got == 0) {
        event_add(h->rd, NULL);
        return;
    }
    {
        /* No pause while a private hub's client waits for its first byte. */
        struct timeval tv = {0, sg_hub_priv_waiting(h) ? 0 : SG_HUB_READ_PAUSE_US};
        event_add(h->rearm, &tv);
    }
    h->last_rx_us = sg_hub_now_us;
    if (h->reorder.lost != lost0) sg_metric_add(sg_m_lost, NULL, (double)(h->reorder.lost - lost0));
    if (h->reorder.reordered != reord0) {
        sg_metric_add(sg_m_reordered, NULL, (double)(h->reorder.reordered - reord0));
    }
    /* The first data goes out at once: a waiting client starts now, not a
     * batch period later. A private hub's one client waits for PAT/PMT,
     * which may come a few datagrams after the first: each read retries.
     * (The flush may end the hub: nothing touches it after.) */
    if (h->clients && (h->flushed == 0 || sg_hub_priv_waiting(h))) {
        sg_hub_flush(h);
    } else if (h->clients) {
        sg_hub_schedule_flush(h, sg_hub_now_us);
    }
}

/* ---- clients ----------------------------------------------------------------------------- */

/* Hand the client the stream bytes [from, h->wpos) of the ring file. */
static size_t
sg_hub_send_range(sg_hub_t *h, sg_hub_client_t *c, uint64_t from)
{
    size_t backlog, bytes;

    if (from < h->ring_start) from = h->ring_start;
    if (from >= h->wpos) return sg_http_stream_backlog(c->r);
    bytes = (size_t)(h->wpos - from);
    backlog = sg_http_stream_file(c->r, h->file->fd, from, bytes, h->file, sg_hubfile_hold,
                                  sg_hubfile_release);
    c->sent += bytes;
    if (c->ops->sent) c->ops->sent(c->arg, bytes);
    c->cur = h->wpos;
    return backlog;
}

/* Where a (re)starting client begins: the newest keyframe at least
 * start_behind_ms old that is still in the ring; 0 when there is none. */
static int
sg_hub_start_point(sg_hub_t *h, uint64_t now, uint64_t *off)
{
    uint64_t behind = (uint64_t)h->hubs->conf.start_behind_ms * 1000, start = h->ring_start;
    int found = 0;
    for (unsigned i = 0; i < h->nkeys; i++) {
        const sg_hub_key_t *k = &h->keys[(h->key_next + SG_HUB_KEYS - 1 - i) % SG_HUB_KEYS];
        if (k->off < start) break;
        *off = k->off;
        found = 1;
        if (k->t_us + behind <= now) break;
    }
    return found;
}

static void
sg_hub_client_end_how(sg_hub_client_t *c, int status, const char *reason, const char *drop,
                      int how)
{
    sg_hub_t *h = c->hub;
    if (h == NULL) return;
    SG_LIST_REMOVE(&h->clients, c);
    h->nclients--;
    c->hub = NULL;
    c->ops->end(c->arg, c->started ? 0 : status, reason, drop, c->started ? how : 0);
}

static void
sg_hub_client_end(sg_hub_client_t *c, int status, const char *reason, const char *drop)
{
    sg_hub_client_end_how(c, status, reason, drop, SG_HUB_END_OTHER);
}

/* Start (or restart) a client: PAT/PMT, then the ring from a keyframe.
 * Returns 0 when it must wait for data or a keyframe. */
static int
sg_hub_client_start(sg_hub_t *h, sg_hub_client_t *c, uint64_t now)
{
    uint8_t psi[SG_HUB_PSI_MAX];
    size_t npsi;
    uint64_t from;

    if (h->priv && !c->started) {
        /* The client's own stream: all of it, once PAT and PMT are known
         * (they go first), or after a moment without them. */
        if (h->wpos == 0) return 0;
        if (sg_ts_scan_psi(&h->scan, psi, sizeof(psi)) == 0 &&
            now - c->t_attach_us < SG_HUB_KEY_WAIT_US) {
            return 0;
        }
        from = h->ring_start;
    } else if (!sg_hub_start_point(h, now, &from)) {
        /* No keyframe (yet): wait a moment for one, then start at live. */
        if (h->wpos == 0 || now - c->t_attach_us < SG_HUB_KEY_WAIT_US) return 0;
        from = h->flushed;
    }
    if (!c->started) {
        c->started = 1;
        c->ops->start(c->arg);
    }
    sg_hub_commit(h);
    npsi = sg_ts_scan_psi(&h->scan, psi, sizeof(psi));
    if (npsi > 0 && h->splice) {
        /* After a join the tables come again, flagged discontinuous. */
        uint8_t out[2 * SG_HUB_PSI_MAX];
        size_t n = 0;
        for (size_t i = 0; i + SG_TS_PACKET <= npsi; i += SG_TS_PACKET) {
            unsigned pid = ((unsigned)(psi[i + 1] & 0x1f) << 8) | psi[i + 2];
            sg_ts_disc_packet(out + n, pid, psi[i + 3] & 0x0f);
            memcpy(out + n + SG_TS_PACKET, psi + i, SG_TS_PACKET);
            n += 2 * SG_TS_PACKET;
        }
        sg_http_stream_write(c->r, out, n);
        c->sent += n;
        if (c->ops->sent) c->ops->sent(c->arg, n);
    } else if (npsi > 0) {
        sg_http_stream_write(c->r, psi, npsi);
        c->sent += npsi;
        if (c->ops->sent) c->ops->sent(c->arg, npsi);
    }
    c->state = SG_HC_LIVE;
    sg_hub_send_range(h, c, from);
    return 1;
}

static size_t
sg_hub_max_backlog(const sg_hub_t *h)
{
    double ring = h->kbps * 125.0 * h->hubs->conf.ring_ms / 1000.0;
    return ring > SG_HUB_MIN_BACKLOG ? (size_t)ring : SG_HUB_MIN_BACKLOG;
}

static void
sg_hub_flush(sg_hub_t *h)
{
    sg_hub_client_t *c, *next;
    uint64_t now = sg_mono_us();
    size_t limit = sg_hub_max_backlog(h);

    event_del(h->batch);
    if (!sg_hub_direct(h)) sg_hub_commit(h);
    for (c = h->clients; c; c = next) {
        size_t backlog;
        next = c->next;
        if (c->state == SG_HC_WAIT) {
            sg_hub_client_start(h, c, now);
            continue;
        }
        if (c->state == SG_HC_RESYNC) {
            if (sg_http_stream_backlog(c->r) < limit / 4) {
                sg_log(SG_LOG_INFO, "live", "%s %s: caught up, restarting at a keyframe", c->client,
                       h->addr.key);
                sg_metric_add(sg_m_resyncs, NULL, 1);
                c->state = SG_HC_WAIT;
                c->t_attach_us = now;
                sg_hub_client_start(h, c, now);
            }
            continue;
        }
        backlog = h->priv ? sg_hub_send_stage(h, c) : sg_hub_send_range(h, c, c->cur);
        if (backlog > limit) {
            if (h->hubs->conf.slow_policy == SG_SLOW_RESYNC) {
                sg_log(SG_LOG_INFO, "live", "%s %s: client too slow (%zu bytes queued), skipping",
                       c->client, h->addr.key, backlog);
                c->state = SG_HC_RESYNC;
            } else {
                sg_log(SG_LOG_INFO, "live", "%s %s: client too slow (%zu bytes queued), dropped",
                       c->client, h->addr.key, backlog);
                sg_hub_client_end(c, 503, "client too slow", "slow_client");
            }
        }
    }
    h->flushed = h->wpos;
    h->last_flush_us = now;
}

static void
sg_hub_batch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sg_hub_flush(arg);
}

/* ---- source socket ------------------------------------------------------------------------ */

static int
sg_hub_open_socket(sg_hub_t *h, const char **why)
{
    h->fd = sg_source_open(&h->addr, h->hubs->conf.rcvbuf, why);
    if (h->fd < 0) return -1;
    h->last_join_us = sg_mono_us();
    return 0;
}

/* ---- hub lifetime ------------------------------------------------------------------------ */

static void
sg_hub_remember(sg_hubs_t *hs, const sg_hub_t *h)
{
    if (h->kbps <= 0 || h->priv) return;
    for (unsigned i = 0; i < SG_ARRAY_SIZE(hs->seen); i++) {
        if (strcmp(hs->seen[i].key, h->addr.key) == 0) {
            hs->seen[i].kbps = h->kbps;
            return;
        }
    }
    snprintf(hs->seen[hs->seen_next].key, sizeof(hs->seen[0].key), "%s", h->addr.key);
    hs->seen[hs->seen_next].kbps = h->kbps;
    hs->seen_next = (hs->seen_next + 1) % SG_ARRAY_SIZE(hs->seen);
}

static void
sg_hubs_update_admit(sg_hubs_t *hs)
{
    double sum = sg_hubs_kbps(hs);
    hs->admit->sources = hs->n;
    if (hs->admit->iface[0] && hs->admit->iface_ok == 1) {
        hs->admit->kbps = hs->admit->iface_kbps - hs->freed_kbps;
        if (hs->admit->kbps < sum) hs->admit->kbps = sum;
    } else {
        hs->admit->kbps = sum;
    }
}

/* The one place a hub ends: its clients, socket, timers and ring go
 * together. */
static void
sg_hub_close(sg_hub_t *h)
{
    sg_hubs_t *hs = h->hubs;

    while (h->clients) sg_hub_client_end(h->clients, 503, "source closed", NULL);
    sg_hub_remember(hs, h);
    hs->freed_kbps += h->kbps;
    SG_LIST_REMOVE(&hs->list, h);
    hs->n--;
    if (h->rd) event_free(h->rd);
    if (h->rearm) event_free(h->rearm);
    if (h->tick) event_free(h->tick);
    if (h->batch) event_free(h->batch);
    if (h->linger) event_free(h->linger);
    if (h->rtsp) sg_rtsp_stop(h->rtsp); /* TEARDOWN */
    if (h->fd >= 0) close(h->fd); /* the kernel leaves the group */
    if (h->file) sg_hubfile_release(h->file);
    free(h->stage);
    sg_log(SG_LOG_INFO, "live", "%s: closed after %.1f s, %llu bytes in, %llu RTP packets lost",
           h->addr.key, (double)(sg_mono_us() - h->opened_us) / 1e6,
           (unsigned long long)h->bytes_in, (unsigned long long)h->reorder.lost);
    free(h);
    sg_hubs_update_admit(hs);
}

static void
sg_hub_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_hub_t *h = arg;
    (void)fd;
    (void)what;
    if (h->clients == NULL) sg_hub_close(h);
}

/* A private source ends cleanly: what arrived goes out first. */
static void
sg_hub_private_end(sg_hub_t *h, int how, const char *why)
{
    sg_log(SG_LOG_INFO, "live", "%s: %s", h->addr.key, why);
    if (h->clients) sg_hub_flush(h);
    while (h->clients) sg_hub_client_end_how(h->clients, 504, why, NULL, how);
    sg_hub_close(h);
}

/* Once a second: the bitrate over that second, smoothed. */
static void
sg_hub_measure(sg_hub_t *h)
{
    double inst = (double)(h->bytes_in - h->bytes_prev) * 8.0 / 1000.0;
    h->bytes_prev = h->bytes_in;
    h->kbps = h->kbps > 0 ? 0.5 * h->kbps + 0.5 * inst : inst;
}

static void
sg_hub_private_tick(sg_hub_t *h, uint64_t now)
{
    sg_hubs_t *hs = h->hubs;
    char why[200];

    if (++h->ticks >= 1000 / SG_HUB_PRIVATE_TICK_MS) {
        h->ticks = 0;
        sg_hub_measure(h);
        sg_hubs_update_admit(hs);
    }
    if (h->max_us && h->first_rx_us && now - h->first_rx_us >= h->max_us) {
        snprintf(why, sizeof(why), "played the %.0f s asked for", (double)h->max_us / 1e6);
        sg_hub_private_end(h, SG_HUB_END_DURATION, why);
        return;
    }
    if (h->first_rx_us && now - h->last_rx_us > (uint64_t)h->gap_ms * 1000) {
        snprintf(why, sizeof(why), "the stream ended (no data for %d ms)", h->gap_ms);
        sg_hub_private_end(h, SG_HUB_END_SOURCE, why);
        return;
    }
    if (h->first_rx_us == 0 &&
        now - (h->play_us ? h->play_us : h->opened_us) > (uint64_t)hs->conf.source_timeout_ms * 1000) {
        snprintf(why, sizeof(why), "no data from the %s server for %d ms",
                 h->play_us ? "catchup" : "RTSP", hs->conf.source_timeout_ms);
        sg_metric_add(sg_m_timeouts, NULL, 1);
        while (h->clients) sg_hub_client_end(h->clients, 504, why, "source_timeout");
        sg_hub_close(h);
        return;
    }
    sg_hub_trim(h, now);
}

static void
sg_hub_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_hub_t *h = arg;
    sg_hubs_t *hs = h->hubs;
    uint64_t now = sg_mono_us();
    uint64_t quiet_since = h->last_rx_us ? h->last_rx_us : h->opened_us;
    (void)fd;
    (void)what;

    if (h->priv) {
        sg_hub_private_tick(h, now);
        return;
    }
    sg_hub_measure(h);
    if (now - quiet_since > (uint64_t)hs->conf.source_timeout_ms * 1000) {
        char why[200];
        snprintf(why, sizeof(why), "no data from %s for %d ms", h->addr.key,
                 hs->conf.source_timeout_ms);
        sg_log(SG_LOG_WARN, "live", "%s: source timeout (%d clients ended)", why, h->nclients);
        sg_metric_add(sg_m_timeouts, NULL, 1);
        while (h->clients) sg_hub_client_end(h->clients, 504, why, "source_timeout");
        sg_hub_close(h);
        return;
    }
    if (hs->conf.rejoin_s > 0 && h->addr.multicast &&
        now - h->last_join_us >= (uint64_t)hs->conf.rejoin_s * 1000000) {
        const char *why = NULL;
        sg_source_join(h->fd, &h->addr, 0, &why);
        if (sg_source_join(h->fd, &h->addr, 1, &why) != 0) {
            sg_log(SG_LOG_WARN, "live", "%s: re-join failed: %s", h->addr.key, why);
        } else {
            sg_log(SG_LOG_DEBUG, "live", "%s: re-joined", h->addr.key);
        }
        h->last_join_us = now;
    }
    /* The ring ages even when nothing arrives. */
    sg_hub_trim(h, now);
    sg_hubs_update_admit(hs);
}

/* ---- negotiated (private) sources --------------------------------------------------------- */

static void
sg_hub_rtsp_playing(void *arg)
{
    sg_hub_t *h = arg;
    h->play_us = sg_mono_us();
}

static void
sg_hub_rtsp_failed(void *arg, int status, const char *why)
{
    sg_hub_t *h = arg;
    char reason[300];

    if (h->first_rx_us) {
        sg_hub_private_end(h, SG_HUB_END_SOURCE, why);
        return;
    }
    snprintf(reason, sizeof(reason), "catchup server: %s", why);
    (void)status;
    while (h->clients) sg_hub_client_end(h->clients, 502, reason, NULL);
    sg_hub_close(h);
}

static const sg_rtsp_client_ops_t sg_hub_rtsp_ops = {
    .playing = sg_hub_rtsp_playing,
    .failed = sg_hub_rtsp_failed,
};

/* The local UDP port is bound (the kernel picks it) before RTSP asks the
 * server to send there. */
static int
sg_hub_open_private(sg_hub_t *h, const sg_hub_src_t *src, const char **why)
{
    static unsigned seq;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    sg_rtsp_play_t req = {0};
    int port;

    if (getsockname(h->fd, (struct sockaddr *)&ss, &sl) != 0) {
        *why = strerror(errno);
        return -1;
    }
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(h->addr.key, sizeof(h->addr.key), "rtsp#%u %.*s", ++seq,
             (int)strcspn(src->rtsp_url, "?"), src->rtsp_url);
    req.url = src->rtsp_url;
    req.client_port = port;
    req.start = src->rtsp_start;
    req.transport = src->rtsp_transport;
    req.user_agent = src->user_agent;
    h->rtsp = sg_rtsp_play(h->hubs->base, &req, &sg_hub_rtsp_ops, h, why);
    return h->rtsp ? 0 : -1;
}

static sg_hub_t *
sg_hub_open(sg_hubs_t *hs, const sg_hub_src_t *src, const char **why)
{
    sg_hub_t *h = calloc(1, sizeof(*h));
    const sg_source_addr_t *addr = &src->addr;
    struct timeval sec = {1, 0};

    if (h == NULL) {
        *why = "out of memory";
        return NULL;
    }
    h->hubs = hs;
    h->addr = *addr;
    h->fd = -1;
    if (src->rtsp_url) {
        h->priv = 1;
        h->gap_ms = src->gap_ms > 0 ? src->gap_ms : hs->conf.source_timeout_ms;
        h->max_us = src->max_ms > 0 ? (uint64_t)src->max_ms * 1000 : 0;
        h->splice = src->splice;
        sec.tv_sec = 0;
        sec.tv_usec = SG_HUB_PRIVATE_TICK_MS * 1000;
    }
    h->opened_us = h->last_flush_us = sg_mono_us();
    sg_rtp_reorder_init(&h->reorder);
    sg_ts_scan_init(&h->scan);
    SG_LIST_PUSH(&hs->list, h);
    hs->n++;
    h->stage_cap = h->priv ? SG_HUB_STAGE_PRIV : SG_HUB_STAGE;
    h->stage = malloc(h->stage_cap);
    h->file = h->stage ? calloc(1, sizeof(*h->file)) : NULL;
    if (h->file) {
        h->file->refs = 1;
        h->file->fd = memfd_create("streamgate-ring", MFD_CLOEXEC);
        if (h->file->fd < 0) {
            *why = strerror(errno);
            free(h->file);
            h->file = NULL;
        }
    }
    if (h->file == NULL || sg_hub_open_socket(h, why) != 0 ||
        (h->priv && sg_hub_open_private(h, src, why) != 0) ||
        (h->rd = event_new(hs->base, h->fd, EV_READ, sg_hub_read_cb, h)) == NULL ||
        (h->rearm = evtimer_new(hs->base, sg_hub_read_cb, h)) == NULL ||
        (h->tick = event_new(hs->base, -1, EV_PERSIST, sg_hub_tick_cb, h)) == NULL ||
        (h->batch = evtimer_new(hs->base, sg_hub_batch_cb, h)) == NULL ||
        (h->linger = evtimer_new(hs->base, sg_hub_linger_cb, h)) == NULL) {
        sg_log(SG_LOG_WARN, "live", "%s: cannot open: %s", addr->key, *why ? *why : "no memory");
        sg_hub_close(h);
        return NULL;
    }
    event_add(h->rd, NULL);
    event_add(h->tick, &sec);
    sg_log(SG_LOG_INFO, "live", "%s: %s", h->addr.key, h->priv ? "negotiating" : "joined");
    sg_hubs_update_admit(hs);
    return h;
}

/* ---- admission ------------------------------------------------------------------------------ */

static double
sg_hubs_estimate(sg_hubs_t *hs, const char *key)
{
    for (unsigned i = 0; i < SG_ARRAY_SIZE(hs->seen); i++) {
        if (strcmp(hs->seen[i].key, key) == 0) return hs->seen[i].kbps;
    }
    return hs->n > 0 ? sg_hubs_kbps(hs) / hs->n : 0;
}

/* Is there room for one more source of est kbps? NULL, or what is short. */
static const char *
sg_hubs_short(sg_hubs_t *hs, double est)
{
    sg_admit_t *a = hs->admit;
    sg_hubs_update_admit(hs);
    if (a->max_sources > 0 && hs->n >= a->max_sources) return "max_sources";
    if (a->max_kbps > 0 && a->kbps + est > (double)a->max_kbps) return "max_kbps";
    return NULL;
}

int
sg_hubs_room(sg_hubs_t *hs)
{
    sg_admit_t *a = hs->admit;
    /* an unknown source costs the average of the open ones */
    double est = hs->n > 0 ? sg_hubs_kbps(hs) / hs->n : 0;
    int room = INT_MAX;

    sg_hubs_update_admit(hs);
    if (a->max_sources > 0) room = a->max_sources > hs->n ? a->max_sources - hs->n : 0;
    if (a->max_kbps > 0) {
        double left = (double)a->max_kbps - a->kbps;
        if (left <= 0) return 0;
        if (est > 0 && left / est < (double)room) room = (int)(left / est);
    }
    return room;
}

/* The hub to give up for a client of priority prio: one without clients
 * (lingering) first, else the one whose best client ranks lowest, if that
 * is below prio; among equals the newest (the list is newest first), so
 * of several recordings (rank 10) the one that started last yields. */
static sg_hub_t *
sg_hubs_victim(sg_hubs_t *hs, int prio)
{
    sg_hub_t *best = NULL;
    int best_rank = prio;
    for (sg_hub_t *h = hs->list; h; h = h->next) {
        int rank = -1;
        for (sg_hub_client_t *c = h->clients; c; c = c->next) {
            if (c->priority > rank) rank = c->priority;
        }
        if (rank < best_rank) {
            best = h;
            best_rank = rank;
        }
    }
    return best;
}

sg_hub_client_t *
sg_hubs_attach(sg_hubs_t *hs, const sg_hub_src_t *src, sg_http_req_t *r, int priority,
               const sg_hub_client_ops_t *ops, void *arg, int *status, const char **why)
{
    sg_hub_t *h = NULL;
    sg_hub_client_t *c;
    sg_hub_src_t hsrc = *src;
    sg_source_addr_t a = src->addr;

    if (src->rtsp_url == NULL && a.iface[0] == '\0' && hs->conf.iface[0]) {
        snprintf(a.iface, sizeof(a.iface), "%s", hs->conf.iface);
        sg_source_key(&a);
    }
    hsrc.addr = a;
    for (h = src->rtsp_url ? NULL : hs->list; h; h = h->next) {
        if (strcmp(h->addr.key, a.key) == 0) break;
    }
    if (h == NULL) {
        const char *shortage;
        double est = sg_hubs_estimate(hs, a.key);
        while ((shortage = sg_hubs_short(hs, est)) != NULL) {
            sg_hub_t *v = sg_hubs_victim(hs, priority);
            if (v == NULL) break;
            if (v->clients) {
                sg_log(SG_LOG_INFO, "admit", "%s: pre-empted (%d clients) for %s", v->addr.key,
                       v->nclients, a.key);
                while (v->clients) {
                    sg_admit_preempted(hs->admit);
                    sg_hub_client_end(v->clients, 503, "pre-empted by a higher-priority client",
                                      "preempted");
                }
            }
            sg_hub_close(v);
        }
        if (shortage) {
            static char reason[160];
            sg_admit_rejected(hs->admit, shortage);
            if (strcmp(shortage, "max_sources") == 0) {
                snprintf(reason, sizeof(reason), "source limit reached (admission.max_sources = %d)",
                         hs->admit->max_sources);
            } else {
                snprintf(reason, sizeof(reason),
                         "bandwidth budget exhausted (%.0f of %lld kbit/s in use, this source "
                         "needs about %.0f)",
                         hs->admit->kbps, (long long)hs->admit->max_kbps, est);
            }
            *status = 503;
            *why = reason;
            return NULL;
        }
        *why = NULL;
        h = sg_hub_open(hs, &hsrc, why);
        if (h == NULL) {
            static char reason[200];
            snprintf(reason, sizeof(reason), "cannot open %s: %s", a.key, *why ? *why : "error");
            *status = 502;
            *why = reason;
            return NULL;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (h->clients == NULL && !event_pending(h->linger, EV_TIMEOUT, NULL)) sg_hub_close(h);
        *status = 500;
        *why = "out of memory";
        return NULL;
    }
    event_del(h->linger);
    c->hub = h;
    c->r = r;
    c->ops = ops;
    c->arg = arg;
    c->priority = priority;
    c->state = SG_HC_WAIT;
    c->t_attach_us = sg_mono_us();
    snprintf(c->client, sizeof(c->client), "%s", r->client);
    SG_LIST_PUSH(&h->clients, c);
    h->nclients++;
    /* A running hub starts the client now, at its newest keyframe. */
    sg_hub_client_start(h, c, c->t_attach_us);
    return c;
}

void
sg_hub_detach(sg_hub_client_t *c)
{
    sg_hub_t *h = c->hub;
    if (h) {
        SG_LIST_REMOVE(&h->clients, c);
        h->nclients--;
        if (h->clients == NULL) {
            struct timeval tv = {h->hubs->conf.linger_ms / 1000,
                                 (suseconds_t)(h->hubs->conf.linger_ms % 1000) * 1000};
            if (h->hubs->conf.linger_ms <= 0 || h->priv) {
                sg_hub_close(h);
            } else {
                event_add(h->linger, &tv);
            }
        }
    }
    free(c);
}

/* ---- registry ---------------------------------------------------------------------------------- */

sg_hubs_t *
sg_hubs_new(struct event_base *base, sg_admit_t *admit)
{
    sg_hubs_t *hs = calloc(1, sizeof(*hs));
    if (hs == NULL) return NULL;
    hs->base = base;
    hs->admit = admit;
    hs->conf = (sg_hub_conf_t){.ring_ms = 4000,
                               .linger_ms = 2000,
                               .source_timeout_ms = 5000,
                               .batch_ms = 50,
                               .batch_bytes = 64u << 10,
                               .rcvbuf = 4 << 20};
    return hs;
}

void
sg_hubs_set_conf(sg_hubs_t *hs, const sg_hub_conf_t *conf)
{
    hs->conf = *conf;
}

void
sg_hubs_free(sg_hubs_t *hs)
{
    if (hs == NULL) return;
    while (hs->list) sg_hub_close(hs->list);
    sg_rtsp_flush_all(); /* their TEARDOWNs, now: the loop is ending */
    free(hs);
}

int
sg_hubs_count(sg_hubs_t *hs)
{
    return hs->n;
}

double
sg_hubs_kbps(sg_hubs_t *hs)
{
    double sum = 0;
    for (sg_hub_t *h = hs->list; h; h = h->next) sum += h->kbps;
    return sum;
}

static void
sg_hubs_collect(sg_metric_t *m, void *arg)
{
    sg_hubs_t *hs = arg;
    if (m == sg_m_sources) {
        sg_metric_set(m, NULL, hs->n);
        return;
    }
    sg_metric_clear(m);
    for (sg_hub_t *h = hs->list; h; h = h->next) {
        sg_metric_set(m, (const char *const[]){h->addr.key, NULL}, h->kbps * 125.0);
    }
}

void
sg_hubs_metrics_init(sg_hubs_t *hs)
{
    static const char *const src[] = {"source", NULL};
    sg_m_sources = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                     .name = "live_sources",
                                                     .help = "Live sources open (joined)"},
                                 "streamgate_", 0);
    sg_m_bitrate = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "live_source_bytes_per_second",
                            .help = "Measured bitrate of each open source", .labels = src},
        "streamgate_", 0);
    sg_m_lost = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                  .name = "live_rtp_lost_packets_total",
                                                  .help = "RTP packets never received (sequence gaps)"},
                              "streamgate_", 0);
    sg_m_reordered = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "live_rtp_reordered_packets_total",
                            .help = "RTP packets that arrived out of order and were put back"},
        "streamgate_", 0);
    sg_m_bad = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                 .name = "live_bad_datagrams_total",
                                                 .help = "Datagrams that were neither TS nor RTP/TS"},
                             "streamgate_", 0);
    sg_m_timeouts = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "live_source_timeouts_total",
                            .help = "Sources closed because no data came for source_timeout"},
        "streamgate_", 0);
    sg_m_resyncs = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "live_client_resyncs_total",
                            .help = "Slow clients restarted at a keyframe (slow_client = resync)"},
        "streamgate_", 0);
    sg_metric_set_collect(sg_m_sources, sg_hubs_collect, hs);
    sg_metric_set_collect(sg_m_bitrate, sg_hubs_collect, hs);
}

/* ---- status ---------------------------------------------------------------------------------- */

static void
sg_html_escape(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': evbuffer_add(out, "&lt;", 4); break;
        case '>': evbuffer_add(out, "&gt;", 4); break;
        case '&': evbuffer_add(out, "&amp;", 5); break;
        case '"': evbuffer_add(out, "&quot;", 6); break;
        default: evbuffer_add(out, s, 1); break;
        }
    }
}

static const char *
sg_framing_name(int f)
{
    return f == SG_FRAMING_RTP ? "RTP" : f == SG_FRAMING_TS ? "TS" : "-";
}

void
sg_hubs_status_html(sg_hubs_t *hs, struct evbuffer *out)
{
    uint64_t now = sg_mono_us();
    evbuffer_add_printf(out, "<h2>Sources (%d)</h2>\n<table border=\"1\" id=\"sources\">\n"
                             "<tr><th>Source</th><th>Payload</th><th>Clients</th><th>Bitrate (kbit/s)"
                             "</th><th>Up (s)</th><th>Bytes in</th><th>RTP lost</th></tr>\n",
                        hs->n);
    for (sg_hub_t *h = hs->list; h; h = h->next) {
        evbuffer_add(out, "<tr><td>", 8);
        sg_html_escape(out, h->addr.key);
        evbuffer_add_printf(out, "</td><td>%s</td><td>%d</td><td>%.0f</td><td>%.0f</td><td>%llu</td>"
                                 "<td>%llu</td></tr>\n",
                            sg_framing_name(h->framing), h->nclients, h->kbps,
                            (double)(now - h->opened_us) / 1e6, (unsigned long long)h->bytes_in,
                            (unsigned long long)h->reorder.lost);
    }
    evbuffer_add(out, "</table>\n<h2>Clients</h2>\n<table border=\"1\" id=\"clients\">\n"
                      "<tr><th>Client</th><th>Source</th><th>Connected (s)</th><th>Bytes sent</th>"
                      "<th>State</th></tr>\n",
                 strlen("</table>\n<h2>Clients</h2>\n<table border=\"1\" id=\"clients\">\n"
                        "<tr><th>Client</th><th>Source</th><th>Connected (s)</th><th>Bytes sent</th>"
                        "<th>State</th></tr>\n"));
    for (sg_hub_t *h = hs->list; h; h = h->next) {
        for (sg_hub_client_t *c = h->clients; c; c = c->next) {
            evbuffer_add(out, "<tr><td>", 8);
            sg_html_escape(out, c->client);
            evbuffer_add(out, "</td><td>", 9);
            sg_html_escape(out, h->addr.key);
            evbuffer_add_printf(out, "</td><td>%.0f</td><td>%llu</td><td>%s</td></tr>\n",
                                (double)(now - c->t_attach_us) / 1e6, (unsigned long long)c->sent,
                                c->state == SG_HC_LIVE     ? "live"
                                : c->state == SG_HC_RESYNC ? "resync"
                                                           : "waiting");
        }
    }
    evbuffer_add(out, "</table>\n", 9);
}

json_t *
sg_hubs_status_json(sg_hubs_t *hs)
{
    json_t *arr = json_array();
    uint64_t now = sg_mono_us();
    for (sg_hub_t *h = hs->list; h; h = h->next) {
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:i, s:f, s:f, s:I, s:I, s:I, s:I}", "source", h->addr.key,
                           "payload", sg_framing_name(h->framing), "clients", h->nclients, "kbps",
                           h->kbps, "uptime", (double)(now - h->opened_us) / 1e6, "bytes_in",
                           (json_int_t)h->bytes_in, "rtp_lost", (json_int_t)h->reorder.lost,
                           "rtp_reordered", (json_int_t)h->reorder.reordered, "ring_bytes",
                           (json_int_t)(h->wpos - h->punched)));
    }
    return arr;
}
