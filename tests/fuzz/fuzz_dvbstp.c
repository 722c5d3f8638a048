/*
 * libFuzzer target: DVB-STP sections and segment reassembly. Input byte 0
 * picks the assembler's memory budget (512 B .. 64 KiB, small so that
 * eviction happens); the rest is cut into datagrams "<len:2><bytes>" (len
 * clamped to what is left). The whole input is parsed as one datagram too.
 * The datagrams are fed twice: as they are, then with the CRC of every
 * segment whose sections are all in the input made right (else mutations
 * would hardly ever get past the CRC check to hand a segment out).
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mv_dvbstp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DGRAMS 256

typedef struct dgram_s {
    uint8_t *d;
    size_t n;
    int ok; /* mv_stp_parse accepted it */
    mv_stp_section_t s;
} dgram_t;

typedef struct fuzz_ctx_s {
    uint64_t calls;
    unsigned sum;
} fuzz_ctx_t;

static dgram_t g_dg[MAX_DGRAMS];

static void
on_segment(void *arg, uint8_t payload_id, uint16_t segment_id, uint8_t version,
           const uint8_t *data, size_t len)
{
    fuzz_ctx_t *c = arg;
    (void)payload_id;
    (void)segment_id;
    (void)version;
    assert(data != NULL && len <= 0xffffff);
    for (size_t i = 0; i < len; i++) c->sum += data[i]; /* ASan sees every byte */
    c->calls++;
}

/* Parse d[0..n) from an exact-size copy so that ASan sees any read past
 * the end; checks the result. */
static int
check_parse(const uint8_t *d, size_t n, mv_stp_section_t *s)
{
    int rc = mv_stp_parse(d, n, s);
    assert(rc == 0 || rc == -1);
    if (rc != 0) return rc;
    assert(n >= MV_STP_HEADER && s->version == 0);
    assert(s->section <= s->last_section && s->last_section <= 0xfff);
    assert(s->total_size <= 0xffffff);
    assert(s->payload >= d + MV_STP_HEADER && s->payload <= d + n);
    assert(s->payload_len <= (size_t)(d + n - s->payload));
    if (s->crc_flag) assert(s->payload + s->payload_len + 4 == d + n);
    else assert(s->payload + s->payload_len == d + n);
    return 0;
}

static void
run(const dgram_t *dg, size_t ndg, size_t max_bytes)
{
    fuzz_ctx_t c = {0, 0};
    mv_stp_asm_t *a = mv_stp_asm_new(max_bytes, on_segment, &c);
    mv_stp_stats_t prev = {0};

    if (a == NULL) return;
    for (size_t i = 0; i < ndg; i++) {
        uint64_t before = c.calls;
        const mv_stp_stats_t *st;
        int rc = mv_stp_asm_feed(a, dg[i].d, dg[i].n);
        assert(rc >= -1 && rc <= 1);
        assert(c.calls - before == (rc == 1 ? 1u : 0u));
        st = mv_stp_asm_stats(a);
        assert(st->segments == c.calls);
        assert(st->sections >= prev.sections && st->bad >= prev.bad);
        assert(st->evicted >= prev.evicted && st->restarts >= prev.restarts);
        assert(st->crc_errors >= prev.crc_errors);
        /* a well-formed section counts in sections, and in bad too when
         * its buffer refuses it; a malformed one only in bad */
        assert(st->sections == prev.sections + (dg[i].ok ? 1 : 0));
        assert(st->bad == prev.bad || st->bad == prev.bad + 1);
        if (!dg[i].ok) assert(rc == -1 && st->bad == prev.bad + 1);
        if (st->bad != prev.bad) assert(rc == -1);
        prev = *st;
    }
    mv_stp_asm_free(a);
}

/* Make the CRC of each CRC-carrying datagram right when the input holds
 * every section of its segment (first occurrence of each). */
static void
fix_crcs(dgram_t *dg, size_t ndg)
{
    for (size_t i = 0; i < ndg; i++) {
        const mv_stp_section_t *last = &dg[i].s;
        uint32_t crc = 0xffffffff;
        int complete = 1;
        if (!dg[i].ok || !last->crc_flag) continue;
        for (unsigned sec = 0; sec <= last->last_section && complete; sec++) {
            const dgram_t *hit = NULL;
            for (size_t j = 0; j < ndg && hit == NULL; j++) {
                const mv_stp_section_t *s = &dg[j].s;
                if (dg[j].ok && s->section == sec && s->payload_id == last->payload_id
                    && s->segment_id == last->segment_id
                    && s->segment_version == last->segment_version) {
                    hit = &dg[j];
                }
            }
            if (hit == NULL) complete = 0;
            else crc = mv_stp_crc32(crc, hit->s.payload, hit->s.payload_len);
        }
        if (!complete) continue;
        dg[i].d[dg[i].n - 4] = (uint8_t)(crc >> 24);
        dg[i].d[dg[i].n - 3] = (uint8_t)(crc >> 16);
        dg[i].d[dg[i].n - 2] = (uint8_t)(crc >> 8);
        dg[i].d[dg[i].n - 1] = (uint8_t)crc;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t ndg = 0, pos = 1, max_bytes;
    uint8_t *whole;
    mv_stp_section_t s;

    whole = malloc(size ? size : 1);
    if (whole == NULL) return 0;
    memcpy(whole, data, size);
    check_parse(whole, size, &s);
    free(whole);
    if (size == 0) return 0;

    max_bytes = (size_t)512 << (data[0] & 7);
    while (size - pos >= 2 && ndg < MAX_DGRAMS) {
        size_t len = (size_t)(data[pos] << 8 | data[pos + 1]);
        pos += 2;
        if (len > size - pos) len = size - pos;
        g_dg[ndg].d = malloc(len ? len : 1);
        if (g_dg[ndg].d == NULL) break;
        memcpy(g_dg[ndg].d, data + pos, len);
        g_dg[ndg].n = len;
        g_dg[ndg].ok = check_parse(g_dg[ndg].d, len, &g_dg[ndg].s) == 0;
        ndg++;
        pos += len;
    }
    run(g_dg, ndg, max_bytes);
    fix_crcs(g_dg, ndg);
    run(g_dg, ndg, max_bytes);
    for (size_t i = 0; i < ndg; i++) free(g_dg[i].d);
    return 0;
}
