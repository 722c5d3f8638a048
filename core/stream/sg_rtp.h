/*
 * RTP framing for the live relay (RFC 3550): tell raw MPEG-TS datagrams from
 * RTP ones, find the payload of an RTP datagram, and put datagrams that
 * arrive out of order back in sequence with a small fixed window. Pure and
 * allocation-free (the caller embeds the reorder state): these read untrusted
 * network bytes on the hot path. Fuzzed by tests/fuzz/fuzz_rtp.c.
 */
#ifndef SG_RTP_H
#define SG_RTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SG_FRAMING_UNKNOWN = 0, SG_FRAMING_TS, SG_FRAMING_RTP } sg_framing_e;

/* Guess the framing of one datagram: raw MPEG-TS (n a non-zero multiple of
 * 188 with 0x47 at 0 and every 188 bytes) or RTP (version 2, parses, and the
 * payload starts with 0x47). SG_FRAMING_UNKNOWN otherwise. */
sg_framing_e sg_framing_detect(const uint8_t *d, size_t n);

typedef struct sg_rtp_pkt_s {
    uint16_t seq;
    uint8_t pt;
    uint8_t marker;
    uint32_t ts, ssrc;
    size_t off, len; /* payload: d + off, len bytes */
} sg_rtp_pkt_t;

/* Parse an RTP datagram: version 2; skip 12 + 4*CC bytes, then with X the
 * extension header (profile, length in 32-bit words) and its data; with P
 * drop the padding (last byte = count, 1..remaining). Returns 0, or -1 with
 * *why set to a static reason ("not RTP version 2", "truncated header",
 * "bad extension length", "bad padding"); *out is zeroed on failure. */
int sg_rtp_parse(const uint8_t *d, size_t n, sg_rtp_pkt_t *out, const char **why);

#define SG_RTP_WINDOW 16        /* datagrams held while waiting for a missing one */
#define SG_RTP_MAX_PAYLOAD 1500 /* larger payloads are never held (see oversized) */
#define SG_RTP_RESYNC 1000      /* a larger sequence jump is a source restart */

typedef void (*sg_rtp_emit_pt)(void *arg, const uint8_t *payload, size_t len);

typedef struct sg_rtp_slot_s {
    uint16_t seq;
    uint16_t len;
    uint8_t used;
    uint8_t data[SG_RTP_MAX_PAYLOAD];
} sg_rtp_slot_t;

typedef struct sg_rtp_reorder_s {
    int started;
    uint16_t next;                     /* the sequence number expected next */
    unsigned held;                     /* used slots */
    sg_rtp_slot_t slot[SG_RTP_WINDOW]; /* by seq % SG_RTP_WINDOW; seq in next+1 .. next+WINDOW */
    /* counters */
    uint64_t lost;       /* sequence numbers given up (never emitted) */
    uint64_t reordered;  /* arrived late but were put back in order */
    uint64_t duplicates; /* repeated, or older than what was already emitted: dropped */
    uint64_t resyncs;    /* source restarts (jump of more than SG_RTP_RESYNC) */
    uint64_t oversized;  /* ahead of a gap but too large to hold: dropped (then lost) */
} sg_rtp_reorder_t;

void sg_rtp_reorder_init(sg_rtp_reorder_t *r);

/* Feed one packet's payload. In-order packets are emitted at once (no copy).
 * A packet ahead of the expected one is held (copied) until the gap fills;
 * when all WINDOW slots are held, or a packet arrives more than WINDOW ahead
 * of the missing one, the gap is given up: lost += missing count, and the
 * held packets are emitted in order. Duplicates and packets older than what
 * was emitted are dropped (duplicates++). A jump of more than SG_RTP_RESYNC
 * either way (16-bit wrap aware) is a source restart: held packets are
 * emitted, then the new one, without counting loss. The first packet sets
 * the expected sequence. emit must not call back into r. */
void sg_rtp_reorder_push(sg_rtp_reorder_t *r, uint16_t seq, const uint8_t *payload, size_t len,
                         sg_rtp_emit_pt emit, void *arg);

/* Emit everything held (source ending), counting the holes as lost. */
void sg_rtp_reorder_flush(sg_rtp_reorder_t *r, sg_rtp_emit_pt emit, void *arg);

#endif
