/* RTP framing: datagram detection, header parsing and the reorder window.
 * Every datagram is hand-built. */
#include <string.h>

#include "sg_test.h"
#include "stream/sg_rtp.h"

#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t g_dgram[2048];

/* An RTP header at g_dgram: flags byte 0 (version 2 plus P/X/CC), pt, seq.
 * Returns 12 + 4*cc (the CSRC list is filled with 0xCC). */
static size_t
rtp_header(uint8_t b0, uint8_t pt, uint16_t seq)
{
    size_t cc = b0 & 0x0f;
    g_dgram[0] = b0;
    g_dgram[1] = pt;
    g_dgram[2] = (uint8_t)(seq >> 8);
    g_dgram[3] = (uint8_t)seq;
    g_dgram[4] = 0x12; /* timestamp 0x12345678 */
    g_dgram[5] = 0x34;
    g_dgram[6] = 0x56;
    g_dgram[7] = 0x78;
    g_dgram[8] = 0xde; /* SSRC 0xdeadbeef */
    g_dgram[9] = 0xad;
    g_dgram[10] = 0xbe;
    g_dgram[11] = 0xef;
    memset(g_dgram + 12, 0xcc, 4 * cc);
    return 12 + 4 * cc;
}

/* n TS packets at p: 0x47, then a recognisable filler. */
static size_t
ts_packets(uint8_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        memset(p + 188 * i, 0x11 * (i + 1), 188);
        p[188 * i] = 0x47;
    }
    return 188 * (size_t)n;
}

/* The Movistar shape: X=1, extension length 3 (12 bytes), 7 TS packets. */
static size_t
movistar(uint16_t seq)
{
    size_t off = rtp_header(0x90, 33, seq);
    g_dgram[off++] = 0xab; /* profile-defined */
    g_dgram[off++] = 0xac;
    g_dgram[off++] = 0x00; /* length 3 words */
    g_dgram[off++] = 0x03;
    memset(g_dgram + off, 0xee, 12);
    off += 12;
    return off + ts_packets(g_dgram + off, 7);
}

static void
test_parse_movistar(void)
{
    sg_rtp_pkt_t p;
    const char *why = NULL;
    size_t n = movistar(0xbeef);

    CHECK_INT(n, 1344);
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), 0);
    CHECK_INT(p.off, 28);
    CHECK_INT(p.len, 7 * 188);
    CHECK_INT(p.seq, 0xbeef);
    CHECK_INT(p.pt, 33);
    CHECK_INT(p.marker, 0);
    CHECK_INT(p.ts, 0x12345678);
    CHECK_INT(p.ssrc, 0xdeadbeef);
    CHECK_INT(g_dgram[p.off], 0x47);
    CHECK_INT(g_dgram[p.off + 188], 0x47);
    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_RTP);
}

static void
test_parse_plain(void)
{
    sg_rtp_pkt_t p;
    const char *why = NULL;
    size_t off = rtp_header(0x80, 0x80 | 33, 7); /* marker set */
    size_t n = off + ts_packets(g_dgram + off, 7);

    CHECK_INT(n, 1328);
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), 0);
    CHECK_INT(p.off, 12);
    CHECK_INT(p.len, 1316);
    CHECK_INT(p.seq, 7);
    CHECK_INT(p.pt, 33);
    CHECK_INT(p.marker, 1);
    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_RTP);

    /* A header and nothing else: an empty payload is valid RTP... */
    CHECK_INT(sg_rtp_parse(g_dgram, 12, &p, &why), 0);
    CHECK_INT(p.off, 12);
    CHECK_INT(p.len, 0);
    /* ...but not a TS carrier. */
    CHECK_INT(sg_framing_detect(g_dgram, 12), SG_FRAMING_UNKNOWN);
}

static void
test_parse_csrc(void)
{
    sg_rtp_pkt_t p;
    const char *why = NULL;
    size_t off = rtp_header(0x83, 33, 1);
    size_t n = off + ts_packets(g_dgram + off, 2);

    CHECK_INT(off, 24);
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), 0);
    CHECK_INT(p.off, 24);
    CHECK_INT(p.len, 376);
    /* CSRCs plus extension */
    off = rtp_header(0x93, 33, 1);
    memcpy(g_dgram + off, "\x00\x01\x00\x01\xaa\xbb\xcc\xdd", 8);
    off += 8;
    n = off + ts_packets(g_dgram + off, 1);
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), 0);
    CHECK_INT(p.off, 32);
    CHECK_INT(p.len, 188);
    /* The CSRC list cut short */
    CHECK_INT(sg_rtp_parse(g_dgram, 23, &p, &why), -1);
    CHECK_STR(why, "truncated header");
}

static void
test_parse_padding(void)
{
    sg_rtp_pkt_t p;
    const char *why = NULL;
    size_t off = rtp_header(0xa0, 33, 1);
    size_t n = off + ts_packets(g_dgram + off, 7);

    memset(g_dgram + n, 0, 3);
    g_dgram[n + 3] = 4; /* 4 bytes of padding, this one included */
    n += 4;
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), 0);
    CHECK_INT(p.off, 12);
    CHECK_INT(p.len, 1316);
    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_RTP);

    /* The padding may take the whole payload, but no more. */
    off = rtp_header(0xa0, 33, 1);
    memset(g_dgram + off, 0, 8);
    g_dgram[off + 7] = 8;
    CHECK_INT(sg_rtp_parse(g_dgram, off + 8, &p, &why), 0);
    CHECK_INT(p.len, 0);
    g_dgram[off + 7] = 9;
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, off + 8, &p, &why), -1);
    CHECK_STR(why, "bad padding");
    /* Larger than the payload after the extension */
    off = rtp_header(0xb0, 33, 1);
    memcpy(g_dgram + off, "\x00\x01\x00\x01\xaa\xbb\xcc\xdd\x00\x00\x03", 11);
    CHECK_INT(sg_rtp_parse(g_dgram, off + 11, &p, &why), 0);
    CHECK_INT(p.len, 0);
    g_dgram[off + 10] = 4;
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, off + 11, &p, &why), -1);
    CHECK_STR(why, "bad padding");
    /* A padding count of 0 cannot be (it counts itself). */
    g_dgram[off + 10] = 0;
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, off + 11, &p, &why), -1);
    CHECK_STR(why, "bad padding");
    /* P with no room for the count at all */
    off = rtp_header(0xa0, 33, 1);
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, off, &p, &why), -1);
    CHECK_STR(why, "bad padding");
}

static void
test_parse_errors(void)
{
    sg_rtp_pkt_t p;
    const char *why = NULL;
    size_t n = movistar(1);

    /* versions 0, 1, 3 */
    for (int v = 0; v < 4; v++) {
        if (v == 2) continue;
        g_dgram[0] = (uint8_t)((v << 6) | 0x10);
        why = NULL;
        CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), -1);
        CHECK_STR(why, "not RTP version 2");
        CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_UNKNOWN);
    }
    /* short datagrams */
    n = movistar(1);
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, 0, &p, &why), -1);
    CHECK_STR(why, "truncated header");
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, 11, &p, &why), -1);
    CHECK_STR(why, "truncated header");
    /* the extension header cut */
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, 14, &p, &why), -1);
    CHECK_STR(why, "truncated header");
    /* the extension data cut: 3 words announced, 2 present */
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, 24, &p, &why), -1);
    CHECK_STR(why, "bad extension length");
    /* exactly the extension, no payload */
    CHECK_INT(sg_rtp_parse(g_dgram, 28, &p, &why), 0);
    CHECK_INT(p.len, 0);
    /* an extension length beyond the datagram */
    g_dgram[14] = 0xff;
    g_dgram[15] = 0xff;
    why = NULL;
    CHECK_INT(sg_rtp_parse(g_dgram, n, &p, &why), -1);
    CHECK_STR(why, "bad extension length");
    CHECK_INT(p.len, 0);
    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_UNKNOWN);
}

static void
test_detect(void)
{
    size_t n = ts_packets(g_dgram, 7);
    size_t off;

    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_TS);
    CHECK_INT(sg_framing_detect(g_dgram, 188), SG_FRAMING_TS);
    CHECK_INT(sg_framing_detect(g_dgram, 0), SG_FRAMING_UNKNOWN);
    /* not a multiple of 188 */
    CHECK_INT(sg_framing_detect(g_dgram, n - 1), SG_FRAMING_UNKNOWN);
    CHECK_INT(sg_framing_detect(g_dgram, 189), SG_FRAMING_UNKNOWN);
    /* a lost sync byte in the middle */
    g_dgram[188 * 3] = 0x48;
    CHECK_INT(sg_framing_detect(g_dgram, n), SG_FRAMING_UNKNOWN);
    /* garbage */
    memset(g_dgram, 0, sizeof(g_dgram));
    CHECK_INT(sg_framing_detect(g_dgram, 1316), SG_FRAMING_UNKNOWN);
    for (size_t i = 0; i < 1400; i++) g_dgram[i] = (uint8_t)(i * 131 + 7);
    CHECK_INT(sg_framing_detect(g_dgram, 1400), SG_FRAMING_UNKNOWN);
    /* RTP whose payload is not TS */
    off = rtp_header(0x80, 96, 1);
    memset(g_dgram + off, 0x00, 100);
    CHECK_INT(sg_framing_detect(g_dgram, off + 100), SG_FRAMING_UNKNOWN);
    /* RTP carrying TS */
    g_dgram[off] = 0x47;
    CHECK_INT(sg_framing_detect(g_dgram, off + 100), SG_FRAMING_RTP);
}

/* ---- reorder ---------------------------------------------------------------- */

static sg_rtp_reorder_t g_r;
static uint16_t g_out[4096];
static size_t g_nout;

/* Each payload is the 16-bit sequence it was pushed with, then filler. */
static void
collect(void *arg, const uint8_t *payload, size_t len)
{
    (void)arg;
    if (len < 2) {
        SG_FAIL("emitted %zu bytes", len);
        return;
    }
    if (g_nout < SG_ARRAY_LEN(g_out)) g_out[g_nout++] = (uint16_t)(payload[0] << 8 | payload[1]);
}

static void
push(uint16_t seq)
{
    uint8_t pl[1316];
    memset(pl, 0x47, sizeof(pl));
    pl[0] = (uint8_t)(seq >> 8);
    pl[1] = (uint8_t)seq;
    sg_rtp_reorder_push(&g_r, seq, pl, sizeof(pl), collect, NULL);
}

static void
reset(void)
{
    sg_rtp_reorder_init(&g_r);
    g_nout = 0;
}

/* The emitted sequence equals want[0..n). */
#define CHECK_OUT(...)                                                           \
    do {                                                                         \
        static const uint16_t want_[] = {__VA_ARGS__};                           \
        size_t n_ = sizeof(want_) / sizeof(want_[0]);                            \
        CHECK_INT(g_nout, n_);                                                   \
        for (size_t i_ = 0; i_ < n_ && i_ < g_nout; i_++) {                      \
            if (g_out[i_] != want_[i_])                                          \
                SG_FAIL("emitted[%zu] == %u, expected %u", i_, g_out[i_], want_[i_]); \
        }                                                                        \
    } while (0)

static void
test_reorder_in_order(void)
{
    reset();
    for (int i = 100; i < 110; i++) push((uint16_t)i);
    CHECK_OUT(100, 101, 102, 103, 104, 105, 106, 107, 108, 109);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_r.reordered, 0);
    CHECK_INT(g_r.duplicates, 0);
    CHECK_INT(g_r.resyncs, 0);
    CHECK_INT(g_r.held, 0);
    sg_rtp_reorder_flush(&g_r, collect, NULL);
    CHECK_INT(g_nout, 10);
    CHECK_INT(g_r.lost, 0);
}

static void
test_reorder_swap(void)
{
    reset();
    push(1);
    push(3);
    CHECK_OUT(1); /* 3 is held */
    CHECK_INT(g_r.held, 1);
    push(2);
    push(4);
    CHECK_OUT(1, 2, 3, 4);
    CHECK_INT(g_r.reordered, 1);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_r.duplicates, 0);
    CHECK_INT(g_r.held, 0);
    /* Two late ones: 5, 8, 6, 7 */
    push(5);
    push(8);
    push(6);
    push(7);
    CHECK_OUT(1, 2, 3, 4, 5, 6, 7, 8);
    CHECK_INT(g_r.reordered, 3);
    CHECK_INT(g_r.lost, 0);
}

static void
test_reorder_gap(void)
{
    reset();
    push(0);
    /* 1 never comes: 2..16 are held (15), 17 fills the window. */
    for (int i = 2; i <= 16; i++) push((uint16_t)i);
    CHECK_INT(g_nout, 1);
    CHECK_INT(g_r.held, 15);
    CHECK_INT(g_r.lost, 0);
    push(17);
    CHECK_INT(g_r.held, 0);
    CHECK_INT(g_r.lost, 1);
    CHECK_OUT(0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
    /* 1 arriving now is too late. */
    push(1);
    CHECK_INT(g_r.duplicates, 1);
    CHECK_INT(g_nout, 17);
    push(18);
    CHECK_INT(g_nout, 18);
    CHECK_INT(g_r.reordered, 0);

    /* A gap of 3 (19, 20, 21 lost). */
    for (int i = 22; i <= 40; i++) push((uint16_t)i);
    CHECK_INT(g_r.lost, 4);
    CHECK_INT(g_r.held, 0);
    CHECK_INT(g_nout, 18 + 19);
    for (size_t i = 18; i < g_nout; i++) CHECK_INT(g_out[i], 22 + (i - 18));

    /* One packet far ahead (but less than a restart): the gap beyond the
     * window is given up at once, the rest waits. */
    reset();
    push(0);
    push(100); /* 1..99 missing: 1..83 given up now, 100 held */
    CHECK_INT(g_r.lost, 83);
    CHECK_INT(g_r.held, 1);
    CHECK_INT(g_nout, 1);
    push(90); /* a late one within the window */
    CHECK_INT(g_r.held, 2);
    sg_rtp_reorder_flush(&g_r, collect, NULL);
    CHECK_OUT(0, 90, 100);
    CHECK_INT(g_r.lost, 99 - 1);
    CHECK_INT(g_r.held, 0);
    /* After a flush the sequence goes on. */
    push(101);
    CHECK_OUT(0, 90, 100, 101);
    CHECK_INT(g_r.duplicates, 0);
}

static void
test_reorder_duplicates(void)
{
    reset();
    push(10);
    push(10);
    push(11);
    push(10);
    CHECK_OUT(10, 11);
    CHECK_INT(g_r.duplicates, 2);
    /* a duplicate of a held packet */
    push(13);
    push(13);
    CHECK_INT(g_r.duplicates, 3);
    CHECK_INT(g_r.held, 1);
    push(12);
    CHECK_OUT(10, 11, 12, 13);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_r.reordered, 1);
    /* old, within the restart threshold */
    push(5);
    CHECK_INT(g_r.duplicates, 4);
    CHECK_INT(g_r.resyncs, 0);
}

static void
test_reorder_wrap(void)
{
    reset();
    push(65533);
    push(65534);
    push(65535);
    push(0);
    push(1);
    CHECK_OUT(65533, 65534, 65535, 0, 1);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_r.resyncs, 0);
    /* a swap across the wrap */
    reset();
    push(65534);
    push(0);
    push(65535);
    push(1);
    CHECK_OUT(65534, 65535, 0, 1);
    CHECK_INT(g_r.reordered, 1);
    CHECK_INT(g_r.lost, 0);
    /* a loss across the wrap, given up by the window */
    reset();
    push(65530);
    for (int i = 65532; i <= 65535 + 15; i++) push((uint16_t)i);
    CHECK_INT(g_r.lost, 1);
    CHECK_INT(g_nout, 1 + 19);
    CHECK_INT(g_out[g_nout - 1], 14);
    /* an old packet across the wrap is a duplicate, not a restart */
    push(65500);
    CHECK_INT(g_r.duplicates, 1);
    CHECK_INT(g_r.resyncs, 0);
}

static void
test_reorder_restart(void)
{
    reset();
    push(5000);
    push(5001);
    push(5003); /* held */
    push(20000);
    CHECK_OUT(5000, 5001, 5003, 20000);
    CHECK_INT(g_r.resyncs, 1);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_r.held, 0);
    push(20001);
    CHECK_INT(g_r.lost, 0);
    CHECK_INT(g_nout, 5);
    /* backwards */
    push(3);
    push(4);
    CHECK_INT(g_r.resyncs, 2);
    CHECK_INT(g_r.duplicates, 0);
    CHECK_OUT(5000, 5001, 5003, 20000, 20001, 3, 4);
    /* exactly 1000 ahead is still a gap; 1001 a restart */
    reset();
    push(0);
    push(1000);
    CHECK_INT(g_r.resyncs, 0);
    CHECK_INT(g_r.lost, 1000 - 1 - SG_RTP_WINDOW); /* 1..983 */
    reset();
    push(0);
    push(1001);
    CHECK_INT(g_r.resyncs, 1);
    CHECK_INT(g_r.lost, 0);
    /* and backwards: 1000 behind is old, 1001 a restart */
    reset();
    push(2000);
    push(1000);
    CHECK_INT(g_r.resyncs, 0);
    CHECK_INT(g_r.duplicates, 1);
    push(999);
    CHECK_INT(g_r.resyncs, 1);
    CHECK_OUT(2000, 999);
    /* across the wrap */
    reset();
    push(65000);
    push(30000);
    CHECK_INT(g_r.resyncs, 1);
    CHECK_OUT(65000, 30000);
}

static void
test_reorder_oversized(void)
{
    static uint8_t big[SG_RTP_MAX_PAYLOAD + 100];

    reset();
    push(1);
    /* in order: emitted without a copy, whatever the size */
    big[0] = 0;
    big[1] = 2;
    sg_rtp_reorder_push(&g_r, 2, big, sizeof(big), collect, NULL);
    CHECK_OUT(1, 2);
    /* ahead of a gap: cannot be held */
    big[1] = 5;
    sg_rtp_reorder_push(&g_r, 5, big, sizeof(big), collect, NULL);
    CHECK_INT(g_r.oversized, 1);
    CHECK_INT(g_r.held, 0);
    push(4);
    push(3);
    CHECK_OUT(1, 2, 3, 4);
    push(6);
    sg_rtp_reorder_flush(&g_r, collect, NULL);
    CHECK_OUT(1, 2, 3, 4, 6);
    CHECK_INT(g_r.lost, 1); /* 5 */
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"parse_movistar", test_parse_movistar},
        {"parse_plain", test_parse_plain},
        {"parse_csrc", test_parse_csrc},
        {"parse_padding", test_parse_padding},
        {"parse_errors", test_parse_errors},
        {"detect", test_detect},
        {"reorder_in_order", test_reorder_in_order},
        {"reorder_swap", test_reorder_swap},
        {"reorder_gap", test_reorder_gap},
        {"reorder_duplicates", test_reorder_duplicates},
        {"reorder_wrap", test_reorder_wrap},
        {"reorder_restart", test_reorder_restart},
        {"reorder_oversized", test_reorder_oversized},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
