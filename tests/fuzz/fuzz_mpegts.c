/*
 * libFuzzer target: the MPEG-TS fast-start scanner. The input is fed as
 * 188-byte packets (byte 0 forced to 0x47, a short tail padded with 0xff),
 * twice: as they are, then with the CRC of the first section of each PUSI
 * packet made right (else mutations would hardly ever get past the CRC
 * check into the PAT / PMT parsing). After each packet the state must be
 * sane; the PSI copy, when there is one, must be enough for a fresh scanner
 * and come back byte for byte.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/sg_mpegts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sg_ts_scan_t g_s, g_copy;
static uint8_t g_psi[(SG_TS_MAX_PROGRAMS + 1) * SG_TS_PACKET];
static uint8_t g_psi2[(SG_TS_MAX_PROGRAMS + 1) * SG_TS_PACKET];

static void
check_state(const sg_ts_scan_t *s)
{
    assert(s->nprograms >= 0 && s->nprograms <= SG_TS_MAX_PROGRAMS);
    assert(s->video_pid >= -1 && s->video_pid < 0x2000);
    assert(s->audio_pid >= -1 && s->audio_pid < 0x2000);
    assert(s->keys <= s->packets && s->cc_errors <= s->packets);
    assert(s->has_psi == 0 || (s->has_pat && s->nprograms > 0));
    if (s->video_pid >= 0) assert(s->video_type != 0);
}

static void
check_psi(void)
{
    size_t n = sg_ts_scan_psi(&g_s, g_psi, sizeof(g_psi)), n2;

    assert(n == (g_s.has_psi ? (1 + (size_t)g_s.nprograms) * SG_TS_PACKET : 0));
    if (n == 0) return;
    assert(sg_ts_scan_psi(&g_s, g_psi, n - 1) == 0);
    sg_ts_scan_init(&g_copy);
    for (size_t i = 0; i < n; i += SG_TS_PACKET) {
        assert(g_psi[i] == 0x47);
        sg_ts_scan_packet(&g_copy, g_psi + i);
    }
    assert(g_copy.has_psi);
    assert(g_copy.video_pid == g_s.video_pid && g_copy.video_type == g_s.video_type);
    assert(g_copy.audio_pid == g_s.audio_pid);
    n2 = sg_ts_scan_psi(&g_copy, g_psi2, sizeof(g_psi2));
    assert(n2 == n && memcmp(g_psi, g_psi2, n) == 0);
}

/* Write the right CRC into the first section of a PUSI packet, if it fits. */
static void
fix_crc(uint8_t *pkt)
{
    size_t off = 4, pos, total;
    uint32_t crc;

    if (!(pkt[1] & 0x40)) return;
    if (pkt[3] & 0x20) off = 5 + (size_t)pkt[4];
    if (off >= SG_TS_PACKET) return;
    pos = off + 1 + pkt[off];
    if (pos + 3 > SG_TS_PACKET) return;
    total = 3 + ((size_t)(pkt[pos + 1] & 0x0f) << 8 | pkt[pos + 2]);
    if (total < 7 || total > SG_TS_PACKET - pos) return;
    crc = sg_ts_crc32(pkt + pos, total - 4);
    pkt[pos + total - 4] = (uint8_t)(crc >> 24);
    pkt[pos + total - 3] = (uint8_t)(crc >> 16);
    pkt[pos + total - 2] = (uint8_t)(crc >> 8);
    pkt[pos + total - 1] = (uint8_t)crc;
    assert(sg_ts_crc32(pkt + pos, total) == 0);
}

static void
run(const uint8_t *data, size_t size, uint8_t *pkt, int fix)
{
    sg_ts_scan_init(&g_s);
    for (size_t pos = 0; pos < size; pos += SG_TS_PACKET) {
        size_t n = size - pos < SG_TS_PACKET ? size - pos : SG_TS_PACKET;
        uint64_t keys = g_s.keys;
        int rc;
        memset(pkt, 0xff, SG_TS_PACKET);
        memcpy(pkt, data + pos, n);
        pkt[0] = 0x47;
        if (fix) fix_crc(pkt);
        rc = sg_ts_scan_packet(&g_s, pkt);
        assert(rc == 0 || rc == SG_TS_KEY);
        assert(g_s.keys == keys + (rc == SG_TS_KEY));
        if (rc == SG_TS_KEY) assert(g_s.video_pid >= 0 || g_s.audio_pid >= 0);
        assert(g_s.bad_sync == 0);
        check_state(&g_s);
    }
    check_psi();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *pkt = malloc(SG_TS_PACKET); /* exact size: ASan sees overreads */

    if (pkt == NULL) return 0;
    run(data, size, pkt, 0);
    run(data, size, pkt, 1);
    free(pkt);
    return 0;
}
