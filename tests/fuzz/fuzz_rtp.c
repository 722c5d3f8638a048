/*
 * libFuzzer target: RTP framing. The whole input is parsed and classified as
 * one datagram; then it is cut into pieces "<seq:2><len:2><bytes>" (len
 * clamped to what is left), each parsed and classified too, and pushed into
 * the reorder window with that sequence number. The emit callback checks
 * the order; at the end every pushed packet must be accounted for.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/sg_rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_ctx_s {
    const sg_rtp_reorder_t *r;
    uint64_t emitted;
    uint64_t resyncs; /* r->resyncs at the last emit */
    uint16_t last;
    unsigned sum;
} fuzz_ctx_t;

static sg_rtp_reorder_t g_r;

/* Parse and classify d[0..n), from an exact-size copy so that ASan sees
 * any read past the end. */
static void
fuzz_datagram(const uint8_t *data, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    sg_rtp_pkt_t pkt;
    const char *why = NULL;
    sg_framing_e f;
    int rc;

    if (d == NULL) return;
    memcpy(d, data, n);
    rc = sg_rtp_parse(d, n, &pkt, &why);
    assert(rc == 0 || rc == -1);
    if (rc == 0) {
        assert(pkt.off >= 12 && pkt.off <= n && pkt.len <= n - pkt.off);
        assert(pkt.pt < 128 && pkt.marker < 2);
        assert((d[0] >> 6) == 2);
    } else {
        assert(why != NULL && why[0] != '\0');
        assert(pkt.off == 0 && pkt.len == 0);
    }
    f = sg_framing_detect(d, n);
    assert(f == SG_FRAMING_UNKNOWN || f == SG_FRAMING_TS || f == SG_FRAMING_RTP);
    if (f == SG_FRAMING_TS) assert(n > 0 && n % 188 == 0 && d[0] == 0x47);
    if (f == SG_FRAMING_RTP) assert(rc == 0 && pkt.len > 0 && d[pkt.off] == 0x47);
    free(d);
}

static void
emit(void *arg, const uint8_t *payload, size_t len)
{
    fuzz_ctx_t *c = arg;
    uint16_t seq;

    /* Every pushed payload starts with its sequence number. */
    assert(len >= 2);
    for (size_t i = 0; i < len; i++) c->sum += payload[i];
    seq = (uint16_t)(payload[0] << 8 | payload[1]);
    if (c->emitted > 0 && c->r->resyncs == c->resyncs) {
        uint16_t step = (uint16_t)(seq - c->last);
        assert(step >= 1 && step < 0x8000);
    }
    c->last = seq;
    c->resyncs = c->r->resyncs;
    c->emitted++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctx_t c = {.r = &g_r};
    uint64_t pushed = 0;
    size_t pos = 0;

    fuzz_datagram(data, size);

    sg_rtp_reorder_init(&g_r);
    while (size - pos >= 4) {
        uint16_t seq = (uint16_t)(data[pos] << 8 | data[pos + 1]);
        size_t len = (size_t)(data[pos + 2] << 8 | data[pos + 3]);
        uint8_t *p;
        pos += 4;
        if (len > size - pos) len = size - pos;
        fuzz_datagram(data + pos, len);
        p = malloc(len + 2);
        if (p == NULL) return 0;
        p[0] = (uint8_t)(seq >> 8);
        p[1] = (uint8_t)seq;
        memcpy(p + 2, data + pos, len);
        sg_rtp_reorder_push(&g_r, seq, p, len + 2, emit, &c);
        free(p);
        pushed++;
        pos += len;
        assert(g_r.held <= SG_RTP_WINDOW);
        assert(pushed == c.emitted + g_r.duplicates + g_r.oversized + g_r.held);
    }
    sg_rtp_reorder_flush(&g_r, emit, &c);
    assert(g_r.held == 0);
    for (size_t i = 0; i < SG_RTP_WINDOW; i++) assert(!g_r.slot[i].used);
    assert(pushed == c.emitted + g_r.duplicates + g_r.oversized);
    return 0;
}
