#include "sg_rtp.h"

#include <string.h>

#define SG_TS_SYNC 0x47
#define SG_TS_SIZE 188

static uint16_t
sg_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
sg_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

sg_framing_e
sg_framing_detect(const uint8_t *d, size_t n)
{
    sg_rtp_pkt_t pkt;
    const char *why;
    size_t i;

    if (n == 0) return SG_FRAMING_UNKNOWN;
    if (n % SG_TS_SIZE == 0) {
        for (i = 0; i < n && d[i] == SG_TS_SYNC; i += SG_TS_SIZE) continue;
        if (i >= n) return SG_FRAMING_TS;
    }
    if (sg_rtp_parse(d, n, &pkt, &why) == 0 && pkt.len > 0 && d[pkt.off] == SG_TS_SYNC) {
        return SG_FRAMING_RTP;
    }
    return SG_FRAMING_UNKNOWN;
}

int
sg_rtp_parse(const uint8_t *d, size_t n, sg_rtp_pkt_t *out, const char **why)
{
    size_t off, end = n;

    memset(out, 0, sizeof(*out));
    if (n >= 1 && (d[0] >> 6) != 2) {
        *why = "not RTP version 2";
        return -1;
    }
    if (n < 12) {
        *why = "truncated header";
        return -1;
    }
    off = 12 + 4 * (size_t)(d[0] & 0x0f); /* CSRC list */
    if (off > n) {
        *why = "truncated header";
        return -1;
    }
    if (d[0] & 0x10) {
        /* Extension: 16-bit profile, 16-bit length in 32-bit words, data. */
        size_t words;
        if (n - off < 4) {
            *why = "truncated header";
            return -1;
        }
        words = sg_be16(d + off + 2);
        off += 4;
        if (words * 4 > n - off) {
            *why = "bad extension length";
            return -1;
        }
        off += words * 4;
    }
    if (d[0] & 0x20) {
        /* The last byte counts the padding, itself included (so >= 1). */
        size_t pad = d[n - 1];
        if (pad == 0 || pad > n - off) {
            *why = "bad padding";
            return -1;
        }
        end = n - pad;
    }
    out->marker = d[1] >> 7;
    out->pt = d[1] & 0x7f;
    out->seq = sg_be16(d + 2);
    out->ts = sg_be32(d + 4);
    out->ssrc = sg_be32(d + 8);
    out->off = off;
    out->len = end - off;
    return 0;
}

/* ---- reorder buffer ------------------------------------------------------- */

void
sg_rtp_reorder_init(sg_rtp_reorder_t *r)
{
    /* Only the bookkeeping: the payload copies need no clearing. */
    r->started = 0;
    r->next = 0;
    r->held = 0;
    for (size_t i = 0; i < SG_RTP_WINDOW; i++) r->slot[i].used = 0;
    r->lost = r->reordered = r->duplicates = r->resyncs = r->oversized = 0;
}

static sg_rtp_slot_t *
sg_rtp_held(sg_rtp_reorder_t *r, uint16_t seq)
{
    sg_rtp_slot_t *sl = &r->slot[seq % SG_RTP_WINDOW];
    return sl->used && sl->seq == seq ? sl : NULL;
}

static void
sg_rtp_emit_slot(sg_rtp_reorder_t *r, sg_rtp_slot_t *sl, sg_rtp_emit_pt emit, void *arg)
{
    sl->used = 0;
    r->held--;
    emit(arg, sl->data, sl->len);
}

/* Emit the held packets that now follow in order. */
static void
sg_rtp_drain(sg_rtp_reorder_t *r, sg_rtp_emit_pt emit, void *arg)
{
    sg_rtp_slot_t *sl;
    while (r->held > 0 && (sl = sg_rtp_held(r, r->next)) != NULL) {
        sg_rtp_emit_slot(r, sl, emit, arg);
        r->next++;
    }
}

/* Give up every sequence number before target: the held ones go out in
 * order, the missing ones are lost. Then emit what follows in order. */
static void
sg_rtp_give_up(sg_rtp_reorder_t *r, uint16_t target, sg_rtp_emit_pt emit, void *arg)
{
    while (r->next != target) {
        sg_rtp_slot_t *sl;
        if (r->held == 0) {
            r->lost += (uint16_t)(target - r->next);
            r->next = target;
            break;
        }
        if ((sl = sg_rtp_held(r, r->next)) != NULL) {
            sg_rtp_emit_slot(r, sl, emit, arg);
        } else {
            r->lost++;
        }
        r->next++;
    }
    sg_rtp_drain(r, emit, arg);
}

/* Source restart: what is held goes out in order (holes not counted), then
 * the new packet sets the sequence. */
static void
sg_rtp_resync(sg_rtp_reorder_t *r, uint16_t seq, const uint8_t *payload, size_t len,
              sg_rtp_emit_pt emit, void *arg)
{
    for (unsigned k = 1; k <= SG_RTP_WINDOW && r->held > 0; k++) {
        sg_rtp_slot_t *sl = sg_rtp_held(r, (uint16_t)(r->next + k));
        if (sl) sg_rtp_emit_slot(r, sl, emit, arg);
    }
    /* By the invariant (held seqs are next+1 .. next+WINDOW) nothing is left. */
    for (size_t i = 0; i < SG_RTP_WINDOW; i++) r->slot[i].used = 0;
    r->held = 0;
    r->resyncs++;
    r->next = (uint16_t)(seq + 1);
    emit(arg, payload, len);
}

void
sg_rtp_reorder_push(sg_rtp_reorder_t *r, uint16_t seq, const uint8_t *payload, size_t len,
                    sg_rtp_emit_pt emit, void *arg)
{
    uint16_t d;
    sg_rtp_slot_t *sl;

    if (!r->started) {
        r->started = 1;
        r->next = (uint16_t)(seq + 1);
        emit(arg, payload, len);
        return;
    }
    /* The jump is measured from the last sequence emitted or given up,
     * r->next - 1: in order is +1. */
    d = (uint16_t)(seq - r->next);
    if (d >= 0x8000) {
        /* Behind what is expected: already emitted or given up, unless the
         * source restarted with a lower sequence. */
        if ((uint16_t)(r->next - seq) - 1 > SG_RTP_RESYNC) {
            sg_rtp_resync(r, seq, payload, len, emit, arg);
        } else {
            r->duplicates++;
        }
        return;
    }
    if (d + 1 > SG_RTP_RESYNC) {
        sg_rtp_resync(r, seq, payload, len, emit, arg);
        return;
    }
    if (d > SG_RTP_WINDOW) {
        /* The missing packets are more than a window older than this one. */
        sg_rtp_give_up(r, (uint16_t)(seq - SG_RTP_WINDOW), emit, arg);
        d = (uint16_t)(seq - r->next);
    }
    if (d == 0) {
        if (r->held > 0) r->reordered++; /* later ones came first */
        emit(arg, payload, len);
        r->next++;
        sg_rtp_drain(r, emit, arg);
        return;
    }
    /* Ahead, within the window: hold a copy until the gap fills. */
    sl = &r->slot[seq % SG_RTP_WINDOW];
    if (sl->used) {
        /* By the invariant this is the same seq. */
        r->duplicates++;
        return;
    }
    if (len > SG_RTP_MAX_PAYLOAD) {
        r->oversized++;
        return;
    }
    if (len > 0) memcpy(sl->data, payload, len);
    sl->len = (uint16_t)len;
    sl->seq = seq;
    sl->used = 1;
    r->held++;
    if (r->held == SG_RTP_WINDOW) {
        /* Window full: only r->next is missing. */
        sg_rtp_give_up(r, (uint16_t)(r->next + 1), emit, arg);
    }
}

void
sg_rtp_reorder_flush(sg_rtp_reorder_t *r, sg_rtp_emit_pt emit, void *arg)
{
    unsigned last = 0;

    for (unsigned k = 1; k <= SG_RTP_WINDOW; k++) {
        if (sg_rtp_held(r, (uint16_t)(r->next + k))) last = k;
    }
    if (last > 0) sg_rtp_give_up(r, (uint16_t)(r->next + last + 1), emit, arg);
}
