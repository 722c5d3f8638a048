/* The MPEG-TS fast-start scanner: PSI sections (PAT, PMT, CRC), random
 * access points per codec, the PSI copy, hostile lengths. Packets are built
 * here byte by byte. With SG_TEST_TS=<file.ts> it also scans a real capture
 * (and with SG_TEST_TS_KEYS=<n> checks the number of keys found). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_test.h"
#include "stream/sg_mpegts.h"

#define PMT_PID 0x1000
#define VIDEO_PID 0x100
#define AUDIO_PID 0x101
#define AUDIO2_PID 0x102

static sg_ts_scan_t g_s;
static uint8_t g_pkt[SG_TS_PACKET];

/* A PSI section with its CRC: table_id, table_id_extension, version, body
 * (what follows last_section_number, up to the CRC). Returns its size. */
static size_t
section(uint8_t *out, uint8_t table_id, uint16_t ext, unsigned version, const uint8_t *body,
        size_t blen)
{
    size_t slen = 5 + blen + 4;
    uint32_t crc;
    out[0] = table_id;
    out[1] = (uint8_t)(0xb0 | (slen >> 8));
    out[2] = (uint8_t)slen;
    out[3] = (uint8_t)(ext >> 8);
    out[4] = (uint8_t)ext;
    out[5] = (uint8_t)(0xc1 | (version << 1));
    out[6] = 0;
    out[7] = 0;
    memcpy(out + 8, body, blen);
    crc = sg_ts_crc32(out, 8 + blen);
    out[8 + blen] = (uint8_t)(crc >> 24);
    out[9 + blen] = (uint8_t)(crc >> 16);
    out[10 + blen] = (uint8_t)(crc >> 8);
    out[11 + blen] = (uint8_t)crc;
    return 12 + blen;
}

/* A section alone in a packet: PUSI, pointer_field 0, 0xFF stuffing. */
static void
psi_packet(uint8_t *pkt, int pid, unsigned cc, const uint8_t *sec, size_t n)
{
    pkt[0] = 0x47;
    pkt[1] = (uint8_t)(0x40 | (pid >> 8));
    pkt[2] = (uint8_t)pid;
    pkt[3] = (uint8_t)(0x10 | (cc & 15));
    pkt[4] = 0;
    memcpy(pkt + 5, sec, n);
    memset(pkt + 5 + n, 0xff, SG_TS_PACKET - 5 - n);
}

static size_t
pat_section(uint8_t *sec, unsigned version, int pmt_pid)
{
    const uint8_t body[] = {0x00, 0x00, 0xe0, 0x10, /* network PID 0x10 */
                            0x00, 0x01, (uint8_t)(0xe0 | (pmt_pid >> 8)), (uint8_t)pmt_pid};
    return section(sec, 0x00, 0x0001, version, body, sizeof(body));
}

/* MPEG-2 video at 0x100, MP2 audio at 0x101 and 0x102 (with ISO 639 language
 * descriptors). */
static size_t
pmt_mpeg2_section(uint8_t *sec, unsigned version)
{
    static const uint8_t body[] = {
        0xe1, 0x00, 0xf0, 0x00,                                           /* PCR PID, no info */
        0x02, 0xe1, 0x00, 0xf0, 0x00,                                     /* MPEG-2 video */
        0x03, 0xe1, 0x01, 0xf0, 0x06, 0x0a, 0x04, 's', 'p', 'a', 0x00,    /* MPEG-1 audio */
        0x04, 0xe1, 0x02, 0xf0, 0x06, 0x0a, 0x04, 'e', 'n', 'g', 0x00,    /* MPEG-2 audio */
    };
    return section(sec, 0x02, 0x0001, version, body, sizeof(body));
}

/* PCR PID, no program info, then one stream of type at pid with ES info. */
static size_t
pmt_one_section(uint8_t *sec, uint8_t type, int pid, const uint8_t *info, size_t ilen)
{
    uint8_t body[64];
    size_t n = 0;
    body[n++] = (uint8_t)(0xe0 | (pid >> 8));
    body[n++] = (uint8_t)pid;
    body[n++] = 0xf0;
    body[n++] = 0x00;
    body[n++] = type;
    body[n++] = (uint8_t)(0xe0 | (pid >> 8));
    body[n++] = (uint8_t)pid;
    body[n++] = (uint8_t)(0xf0 | (ilen >> 8));
    body[n++] = (uint8_t)ilen;
    if (ilen > 0) memcpy(body + n, info, ilen);
    n += ilen;
    return section(sec, 0x02, 0x0001, 0, body, n);
}

static int
feed_section(int pid, const uint8_t *sec, size_t n)
{
    psi_packet(g_pkt, pid, 0, sec, n);
    return sg_ts_scan_packet(&g_s, g_pkt);
}

/* Scanner with the PAT and a PMT of one stream of type at VIDEO_PID. */
static void
start_one(uint8_t type)
{
    uint8_t sec[SG_TS_PACKET];
    sg_ts_scan_init(&g_s);
    feed_section(0, sec, pat_section(sec, 0, PMT_PID));
    feed_section(PMT_PID, sec, pmt_one_section(sec, type, VIDEO_PID, NULL, 0));
}

/* A packet on pid: when pes, a PES header (video stream id, a PTS) starts the
 * payload; es follows. Padded with adaptation-field stuffing (so n <= 168
 * with a PES header); rai sets random_access_indicator, tsc the scrambling. */
static void
es_packet(uint8_t *pkt, int pid, unsigned cc, int pes, int rai, unsigned tsc, const uint8_t *es,
          size_t n)
{
    static const uint8_t pes_head[] = {0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x80, 0x80,
                                       0x05, 0x21, 0x00, 0x01, 0x00, 0x01};
    uint8_t payload[184];
    size_t len = 0, afl;

    if (pes) {
        memcpy(payload, pes_head, sizeof(pes_head));
        len = sizeof(pes_head);
    }
    if (n > sizeof(payload) - len - 2) n = sizeof(payload) - len - 2;
    memcpy(payload + len, es, n);
    len += n;
    afl = 183 - len;
    pkt[0] = 0x47;
    pkt[1] = (uint8_t)((pes ? 0x40 : 0) | (pid >> 8));
    pkt[2] = (uint8_t)pid;
    pkt[3] = (uint8_t)((tsc << 6) | 0x30 | (cc & 15));
    pkt[4] = (uint8_t)afl;
    pkt[5] = rai ? 0x40 : 0x00;
    memset(pkt + 6, 0xff, afl - 1);
    memcpy(pkt + 5 + afl, payload, len);
}

static int
feed_es(int pid, int pes, int rai, unsigned tsc, const uint8_t *es, size_t n)
{
    static unsigned cc[0x2000]; /* per PID, so that the counters run on */
    es_packet(g_pkt, pid, cc[pid & 0x1fff]++, pes, rai, tsc, es, n);
    return sg_ts_scan_packet(&g_s, g_pkt);
}

/* ES samples. */
static const uint8_t mp2v_i[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x4f, 0xff, 0xf8,  /* picture, I */
                                 0x00, 0x00, 0x01, 0x01, 0x12, 0x34};             /* slice */
static const uint8_t mp2v_p[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x57, 0xff, 0xf8,  /* picture, P */
                                 0x00, 0x00, 0x01, 0x01, 0x12, 0x34};
static const uint8_t mp2v_b[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x5f, 0xff, 0xf8,  /* picture, B */
                                 0x00, 0x00, 0x01, 0x01, 0x12, 0x34};
static const uint8_t mp2v_seq[] = {0x00, 0x00, 0x01, 0xb3, 0x14, 0x00, 0xf0, 0x13, 0xff, 0xff,
                                   0xe0, 0x18, 0x00, 0x00, 0x01, 0xb5, 0x14, 0x8a};
static const uint8_t mp2v_gop[] = {0x00, 0x00, 0x01, 0xb8, 0x00, 0x08, 0x00, 0x00};
static const uint8_t mp2v_ext_p[] = {0x00, 0x00, 0x01, 0xb5, 0x8f, 0xff, 0xf3, 0x41, /* ext */
                                     0x00, 0x00, 0x01, 0x00, 0x00, 0x57, 0xff, 0xf8};

static void
test_crc(void)
{
    CHECK_INT(sg_ts_crc32((const uint8_t *)"123456789", 9), 0x0376e6e7);
    CHECK_INT(sg_ts_crc32(NULL, 0), 0xffffffff);
}

static void
test_mpeg2(void)
{
    uint8_t sec[SG_TS_PACKET];
    const uint8_t mp2a[] = {0xff, 0xfd, 0x90, 0x04};

    sg_ts_scan_init(&g_s);
    CHECK_INT(g_s.video_pid, -1);
    /* Before the PMT: never a key. */
    CHECK_INT(feed_es(VIDEO_PID, 1, 1, 0, mp2v_i, sizeof(mp2v_i)), 0);
    CHECK_INT(feed_section(0, sec, pat_section(sec, 0, PMT_PID)), 0);
    CHECK_INT(g_s.has_pat, 1);
    CHECK_INT(g_s.nprograms, 1);
    CHECK_INT(g_s.prog[0].pmt_pid, PMT_PID);
    CHECK_INT(g_s.prog[0].number, 1);
    CHECK_INT(g_s.has_psi, 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 1, 0, mp2v_i, sizeof(mp2v_i)), 0);
    CHECK_INT(feed_section(PMT_PID, sec, pmt_mpeg2_section(sec, 0)), 0);
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, VIDEO_PID);
    CHECK_INT(g_s.video_type, 0x02);
    CHECK_INT(g_s.audio_pid, AUDIO_PID);
    CHECK_INT(g_s.keys, 0);

    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_i, sizeof(mp2v_i)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_p, sizeof(mp2v_p)), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_b, sizeof(mp2v_b)), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_ext_p, sizeof(mp2v_ext_p)), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_seq, sizeof(mp2v_seq)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_gop, sizeof(mp2v_gop)), SG_TS_KEY);
    /* An I-picture header not at a PES start */
    CHECK_INT(feed_es(VIDEO_PID, 0, 0, 0, mp2v_i, sizeof(mp2v_i)), 0);
    /* The picture_coding_type byte beyond the packet: no key, no overread. */
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_i, 5), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_i, 6), SG_TS_KEY);
    /* Audio PES starts are not keys when there is video. */
    CHECK_INT(feed_es(AUDIO_PID, 1, 0, 0, mp2a, sizeof(mp2a)), 0);
    CHECK_INT(feed_es(AUDIO2_PID, 1, 0, 0, mp2a, sizeof(mp2a)), 0);
    CHECK_INT(g_s.keys, 4);
    CHECK_INT(g_s.cc_errors, 0);
    CHECK_INT(g_s.scrambled, 0);
    CHECK_INT(g_s.bad_sync, 0);
}

static void
test_h264(void)
{
    static const uint8_t aud_sps[] = {0x00, 0x00, 0x00, 0x01, 0x09, 0xf0,
                                      0x00, 0x00, 0x00, 0x01, 0x67, 0x64, 0x00, 0x1e, 0xac};
    static const uint8_t idr[] = {0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, 0x00, 0x00, 0x01,
                                  0x06, 0x05, 0x01, 0x80, 0x00, 0x00, 0x01, 0x65, 0x88, 0x84};
    static const uint8_t non_idr[] = {0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, 0x00, 0x00, 0x01,
                                      0x06, 0x05, 0x01, 0x80, 0x00, 0x00, 0x01, 0x41, 0x9a, 0x21};
    static const uint8_t i_non_idr[] = {0x00, 0x00, 0x01, 0x21, 0x88}; /* slice, nal_ref_idc 1 */

    start_one(0x1b);
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_type, 0x1b);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, aud_sps, sizeof(aud_sps)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, idr, sizeof(idr)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, non_idr, sizeof(non_idr)), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, i_non_idr, sizeof(i_non_idr)), 0);
    /* The IDR NAL in a continuation packet is not a PES start. */
    CHECK_INT(feed_es(VIDEO_PID, 0, 0, 0, idr, sizeof(idr)), 0);
    /* The NAL header byte cut off at the end of the packet */
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, idr, 16), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, idr, 17), SG_TS_KEY);
    CHECK_INT(g_s.keys, 3);
}

static void
test_hevc(void)
{
    static const uint8_t aud_idr[] = {0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x10,  /* AUD */
                                      0x00, 0x00, 0x01, 0x26, 0x01, 0xaf};     /* IDR_W_RADL */
    static const uint8_t cra[] = {0x00, 0x00, 0x01, 0x2a, 0x01, 0xaf};
    static const uint8_t vps[] = {0x00, 0x00, 0x00, 0x01, 0x40, 0x01, 0x0c};
    static const uint8_t sps[] = {0x00, 0x00, 0x00, 0x01, 0x42, 0x01, 0x01};
    static const uint8_t trail[] = {0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50,
                                    0x00, 0x00, 0x01, 0x4e, 0x01, 0x05,   /* prefix SEI */
                                    0x00, 0x00, 0x01, 0x02, 0x01, 0xd0};  /* TRAIL_R */
    static const uint8_t rasl[] = {0x00, 0x00, 0x01, 0x10, 0x01, 0xd0};   /* RASL_N (8) */

    start_one(0x24);
    CHECK_INT(g_s.video_type, 0x24);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, aud_idr, sizeof(aud_idr)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, cra, sizeof(cra)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, vps, sizeof(vps)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, sps, sizeof(sps)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, trail, sizeof(trail)), 0);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, rasl, sizeof(rasl)), 0);
    /* H.264's IDR byte means nothing in HEVC (0x65 >> 1 = 50) */
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, (const uint8_t *)"\x00\x00\x01\x65\x88", 5), 0);
    CHECK_INT(g_s.keys, 4);
}

static void
test_other_video(void)
{
    static const uint8_t vop_i[] = {0x00, 0x00, 0x01, 0xb6, 0x10, 0x00};
    static const uint8_t vop_p[] = {0x00, 0x00, 0x01, 0xb6, 0x50, 0x00};
    static const uint8_t avs_i[] = {0x00, 0x00, 0x01, 0xb3, 0x00, 0x00};
    static const uint8_t avs_pb[] = {0x00, 0x00, 0x01, 0xb6, 0x00, 0x00};

    start_one(0x10);
    CHECK_INT(g_s.video_pid, VIDEO_PID);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, vop_i, sizeof(vop_i)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, vop_p, sizeof(vop_p)), 0);
    start_one(0x42);
    CHECK_INT(g_s.video_pid, VIDEO_PID);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, avs_i, sizeof(avs_i)), SG_TS_KEY);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, avs_pb, sizeof(avs_pb)), 0);
    start_one(0x01);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, mp2v_i, sizeof(mp2v_i)), SG_TS_KEY);
}

static void
test_rai(void)
{
    start_one(0x02);
    /* The flag alone makes a key at a PES start, whatever the picture. */
    CHECK_INT(feed_es(VIDEO_PID, 1, 1, 0, mp2v_p, sizeof(mp2v_p)), SG_TS_KEY);
    /* ...but not without a PES start. */
    CHECK_INT(feed_es(VIDEO_PID, 0, 1, 0, mp2v_p, sizeof(mp2v_p)), 0);
    CHECK_INT(g_s.keys, 1);
}

static void
test_scrambled(void)
{
    start_one(0x1b);
    CHECK_INT(feed_es(VIDEO_PID, 1, 1, 2, mp2v_p, sizeof(mp2v_p)), SG_TS_KEY);
    CHECK_INT(g_s.scrambled, 1);
    /* Scrambled payload is not scanned: an IDR-looking byte means nothing. */
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 3, (const uint8_t *)"\x00\x00\x01\x65\x88", 5), 0);
    CHECK_INT(g_s.scrambled, 1);
    CHECK_INT(feed_es(VIDEO_PID, 1, 0, 0, (const uint8_t *)"\x00\x00\x01\x65\x88", 5), SG_TS_KEY);
    CHECK_INT(g_s.scrambled, 0);
    CHECK_INT(g_s.keys, 2);
}

static void
test_audio_only(void)
{
    static const uint8_t ac3_desc[] = {0x0a, 0x04, 's', 'p', 'a', 0x00, 0x6a, 0x01, 0x00};
    static const uint8_t reg_eac3[] = {0x05, 0x04, 'E', 'A', 'C', '3'};
    static const uint8_t short_desc[] = {0x6a, 0x05, 0x00}; /* AC-3, but cut */
    static const uint8_t teletext[] = {0x56, 0x05, 's', 'p', 'a', 0x09, 0x00};
    static const uint8_t adts[] = {0xff, 0xf1, 0x50, 0x80};
    uint8_t sec[SG_TS_PACKET];

    sg_ts_scan_init(&g_s);
    CHECK_INT(feed_es(AUDIO_PID, 1, 0, 0, adts, sizeof(adts)), 0);
    feed_section(0, sec, pat_section(sec, 0, PMT_PID));
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x0f, AUDIO_PID, NULL, 0));
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, -1);
    CHECK_INT(g_s.audio_pid, AUDIO_PID);
    CHECK_INT(feed_es(AUDIO_PID, 1, 0, 0, adts, sizeof(adts)), SG_TS_KEY);
    CHECK_INT(feed_es(AUDIO_PID, 0, 0, 0, adts, sizeof(adts)), 0);
    CHECK_INT(feed_es(AUDIO_PID, 1, 0, 0, adts, sizeof(adts)), SG_TS_KEY);
    CHECK_INT(feed_es(AUDIO2_PID, 1, 0, 0, adts, sizeof(adts)), 0);
    CHECK_INT(g_s.keys, 2);

    /* AC-3 as PES private data, found by its descriptor (a changed PMT
     * replaces the old one). */
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x06, AUDIO2_PID, ac3_desc, sizeof(ac3_desc)));
    CHECK_INT(g_s.audio_pid, AUDIO2_PID);
    CHECK_INT(feed_es(AUDIO2_PID, 1, 0, 0, adts, sizeof(adts)), SG_TS_KEY);
    CHECK_INT(feed_es(AUDIO_PID, 1, 0, 0, adts, sizeof(adts)), 0);
    /* ...or by an ATSC-style registration descriptor */
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x06, AUDIO_PID, reg_eac3, sizeof(reg_eac3)));
    CHECK_INT(g_s.audio_pid, AUDIO_PID);
    /* a descriptor length past the ES info is not read */
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x06, AUDIO_PID, short_desc, sizeof(short_desc)));
    CHECK_INT(g_s.audio_pid, -1);
    /* Teletext as private data is not audio. */
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x06, AUDIO2_PID, teletext, sizeof(teletext)));
    CHECK_INT(g_s.audio_pid, -1);
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(feed_es(AUDIO2_PID, 1, 0, 0, adts, sizeof(adts)), 0);
}

static void
test_bad_crc(void)
{
    uint8_t sec[SG_TS_PACKET], good[SG_TS_PACKET];
    size_t n;

    sg_ts_scan_init(&g_s);
    n = pat_section(sec, 0, PMT_PID);
    sec[n - 1] ^= 0x01;
    feed_section(0, sec, n);
    CHECK_INT(g_s.has_pat, 0);
    CHECK_INT(g_s.nprograms, 0);
    /* A changed byte under the old CRC */
    n = pat_section(sec, 0, PMT_PID);
    sec[n - 5] ^= 0x10;
    feed_section(0, sec, n);
    CHECK_INT(g_s.has_pat, 0);
    /* the good one */
    feed_section(0, sec, pat_section(sec, 0, PMT_PID));
    CHECK_INT(g_s.has_pat, 1);
    memcpy(good, g_s.pat, sizeof(good));
    /* a bad PAT later does not replace it */
    n = pat_section(sec, 1, 0x1100);
    sec[9] ^= 0xff;
    feed_section(0, sec, n);
    CHECK_INT(g_s.prog[0].pmt_pid, PMT_PID);
    CHECK(memcmp(good, g_s.pat, sizeof(good)) == 0);
    /* a bad PMT is ignored too */
    n = pmt_mpeg2_section(sec, 0);
    sec[12] ^= 0x01;
    feed_section(PMT_PID, sec, n);
    CHECK_INT(g_s.has_psi, 0);
    CHECK_INT(g_s.video_pid, -1);
    feed_section(PMT_PID, sec, pmt_mpeg2_section(sec, 0));
    CHECK_INT(g_s.has_psi, 1);
    /* A next (not yet current) PMT is not used. */
    n = pmt_one_section(sec, 0x1b, 0x200, NULL, 0);
    sec[5] &= (uint8_t)~1;
    {
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
    }
    feed_section(PMT_PID, sec, n);
    CHECK_INT(g_s.video_pid, VIDEO_PID);
}

static void
test_psi_copy(void)
{
    uint8_t out[4 * SG_TS_PACKET], pat[SG_TS_PACKET], pmt[SG_TS_PACKET];
    size_t npat, npmt;
    sg_ts_scan_t copy;

    sg_ts_scan_init(&g_s);
    CHECK_INT(sg_ts_scan_psi(&g_s, out, sizeof(out)), 0);
    npat = pat_section(pat, 0, PMT_PID);
    npmt = pmt_mpeg2_section(pmt, 0);

    /* The PAT arrives behind an adaptation field and a pointer_field that
     * skips the tail of a previous section; the copy is clean. */
    memset(g_pkt, 0xff, sizeof(g_pkt));
    g_pkt[0] = 0x47;
    g_pkt[1] = 0x40;
    g_pkt[2] = 0x00;
    g_pkt[3] = 0x37; /* AF + payload, cc 7 */
    g_pkt[4] = 7;
    g_pkt[5] = 0x00;
    g_pkt[12] = 3; /* pointer_field */
    g_pkt[13] = 0xaa;
    g_pkt[14] = 0xbb;
    g_pkt[15] = 0xcc;
    memcpy(g_pkt + 16, pat, npat);
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.has_pat, 1);
    CHECK_INT(sg_ts_scan_psi(&g_s, out, sizeof(out)), 0); /* no PMT yet */
    feed_section(PMT_PID, pmt, npmt);
    CHECK_INT(g_s.has_psi, 1);

    CHECK_INT(sg_ts_scan_psi(&g_s, out, 2 * SG_TS_PACKET - 1), 0);
    CHECK_INT(sg_ts_scan_psi(&g_s, out, 2 * SG_TS_PACKET), 2 * SG_TS_PACKET);
    CHECK_INT(sg_ts_scan_psi(&g_s, out, sizeof(out)), 2 * SG_TS_PACKET);
    /* PAT: PUSI, PID 0, payload only, the source cc, pointer 0, section, 0xff */
    CHECK_INT(out[0], 0x47);
    CHECK_INT(out[1], 0x40);
    CHECK_INT(out[2], 0x00);
    CHECK_INT(out[3], 0x17);
    CHECK_INT(out[4], 0);
    CHECK(memcmp(out + 5, pat, npat) == 0);
    for (size_t i = 5 + npat; i < SG_TS_PACKET; i++) {
        if (out[i] != 0xff) {
            SG_FAIL("PAT stuffing byte %zu is 0x%02x", i, out[i]);
            break;
        }
    }
    /* PMT */
    CHECK_INT(out[SG_TS_PACKET + 1], 0x40 | (PMT_PID >> 8));
    CHECK_INT(out[SG_TS_PACKET + 2], PMT_PID & 0xff);
    CHECK_INT(out[SG_TS_PACKET + 4], 0);
    CHECK(memcmp(out + SG_TS_PACKET + 5, pmt, npmt) == 0);
    /* The copy alone is enough for another scanner. */
    sg_ts_scan_init(&copy);
    sg_ts_scan_packet(&copy, out);
    sg_ts_scan_packet(&copy, out + SG_TS_PACKET);
    CHECK_INT(copy.has_psi, 1);
    CHECK_INT(copy.video_pid, VIDEO_PID);
    CHECK_INT(copy.audio_pid, AUDIO_PID);
}

static void
test_pat_change(void)
{
    uint8_t sec[SG_TS_PACKET];

    start_one(0x1b);
    CHECK_INT(g_s.has_psi, 1);
    /* A new PAT version listing the same PMT keeps it. */
    feed_section(0, sec, pat_section(sec, 1, PMT_PID));
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, VIDEO_PID);
    /* A PAT pointing elsewhere forgets it. */
    feed_section(0, sec, pat_section(sec, 2, 0x1100));
    CHECK_INT(g_s.has_psi, 0);
    CHECK_INT(g_s.video_pid, -1);
    CHECK_INT(g_s.prog[0].pmt_pid, 0x1100);
    CHECK_INT(feed_es(VIDEO_PID, 1, 1, 0, mp2v_i, sizeof(mp2v_i)), 0);
    CHECK_INT(sg_ts_scan_psi(&g_s, sec, sizeof(sec)), 0);
    /* The old PMT PID is no longer read. */
    feed_section(PMT_PID, sec, pmt_one_section(sec, 0x1b, VIDEO_PID, NULL, 0));
    CHECK_INT(g_s.has_psi, 0);
    feed_section(0x1100, sec, pmt_one_section(sec, 0x24, 0x200, NULL, 0));
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, 0x200);
    CHECK_INT(g_s.video_type, 0x24);
    /* A PMT for another program number on the PMT PID is ignored. */
    {
        size_t n = pmt_one_section(sec, 0x1b, 0x300, NULL, 0);
        sec[4] = 2;
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
        feed_section(0x1100, sec, n);
        CHECK_INT(g_s.video_pid, 0x200);
    }
}

static void
test_two_programs(void)
{
    static const uint8_t pat_body[] = {0x00, 0x05, 0xe1, 0x10, 0x00, 0x07, 0xe1, 0x20};
    uint8_t sec[SG_TS_PACKET], out[8 * SG_TS_PACKET];

    sg_ts_scan_init(&g_s);
    feed_section(0, sec, section(sec, 0x00, 1, 0, pat_body, sizeof(pat_body)));
    CHECK_INT(g_s.nprograms, 2);
    /* The second program's PMT first: no video known yet (first program). */
    {
        size_t n = pmt_one_section(sec, 0x1b, 0x300, NULL, 0);
        sec[4] = 7;
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
        feed_section(0x120, sec, n);
    }
    CHECK_INT(g_s.has_psi, 0);
    CHECK_INT(g_s.video_pid, -1);
    {
        size_t n = pmt_one_section(sec, 0x02, 0x200, NULL, 0);
        sec[4] = 5;
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
        feed_section(0x110, sec, n);
    }
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, 0x200);
    CHECK_INT(g_s.video_type, 0x02);
    CHECK_INT(sg_ts_scan_psi(&g_s, out, sizeof(out)), 3 * SG_TS_PACKET);
}

static void
test_cc(void)
{
    start_one(0x02);
    for (unsigned cc = 0; cc < 20; cc++) {
        es_packet(g_pkt, VIDEO_PID, cc, 0, 0, 0, mp2v_p, sizeof(mp2v_p));
        sg_ts_scan_packet(&g_s, g_pkt);
    }
    CHECK_INT(g_s.cc_errors, 0);
    sg_ts_scan_packet(&g_s, g_pkt); /* a repeat is allowed */
    CHECK_INT(g_s.cc_errors, 0);
    es_packet(g_pkt, VIDEO_PID, 6, 0, 0, 0, mp2v_p, sizeof(mp2v_p)); /* 4 expected */
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.cc_errors, 1);
    es_packet(g_pkt, VIDEO_PID, 7, 0, 0, 0, mp2v_p, sizeof(mp2v_p));
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.cc_errors, 1);
    /* a discontinuity_indicator allows a jump */
    es_packet(g_pkt, VIDEO_PID, 2, 0, 0, 0, mp2v_p, sizeof(mp2v_p));
    g_pkt[5] |= 0x80;
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.cc_errors, 1);
    /* other PIDs are not checked */
    es_packet(g_pkt, AUDIO_PID, 9, 0, 0, 0, mp2v_p, sizeof(mp2v_p));
    sg_ts_scan_packet(&g_s, g_pkt);
    es_packet(g_pkt, AUDIO_PID, 1, 0, 0, 0, mp2v_p, sizeof(mp2v_p));
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.cc_errors, 1);
}

static void
test_hostile(void)
{
    uint8_t sec[SG_TS_PACKET];
    size_t n;

    start_one(0x02);
    /* no sync byte */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 1, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[0] = 0x48;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    CHECK_INT(g_s.bad_sync, 1);
    /* transport_error_indicator */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 1, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[1] |= 0x80;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* adaptation_field_length 184 and 255 */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 1, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[4] = 184;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    g_pkt[4] = 255;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* an adaptation field filling the packet: PUSI and RAI but no payload,
     * so no PES starts here */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 1, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[4] = 183;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    g_pkt[3] = (uint8_t)((g_pkt[3] & 0xcf) | 0x20); /* afc 2 */
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* afc 0 (reserved) */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 1, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[3] &= 0xcf;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* PES_header_data_length beyond the packet */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 0, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[SG_TS_PACKET - sizeof(mp2v_i) - 14 + 8] = 0xff;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* a PES header ending exactly at the packet end */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 0, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[SG_TS_PACKET - sizeof(mp2v_i) - 14 + 8] = (uint8_t)(5 + sizeof(mp2v_i));
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    /* not a PES at all */
    es_packet(g_pkt, VIDEO_PID, 0, 1, 0, 0, mp2v_i, sizeof(mp2v_i));
    g_pkt[SG_TS_PACKET - sizeof(mp2v_i) - 14 + 2] = 0x02;
    CHECK_INT(sg_ts_scan_packet(&g_s, g_pkt), 0);
    CHECK_INT(g_s.keys, 0);

    /* PSI: pointer_field beyond the packet */
    sg_ts_scan_init(&g_s);
    n = pat_section(sec, 0, PMT_PID);
    psi_packet(g_pkt, 0, 0, sec, n);
    g_pkt[4] = 200;
    sg_ts_scan_packet(&g_s, g_pkt);
    g_pkt[4] = 182;
    sg_ts_scan_packet(&g_s, g_pkt);
    g_pkt[4] = 183;
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.has_pat, 0);
    /* section_length beyond the packet (a multi-packet section: ignored) */
    psi_packet(g_pkt, 0, 0, sec, n);
    g_pkt[6] = 0xb0 | 0x03;
    g_pkt[7] = 0xfd;
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.has_pat, 0);
    /* section_length over 1021 */
    g_pkt[6] = 0xbf;
    g_pkt[7] = 0xff;
    sg_ts_scan_packet(&g_s, g_pkt);
    /* section_length too small for a PAT */
    g_pkt[6] = 0xb0;
    g_pkt[7] = 0x00;
    sg_ts_scan_packet(&g_s, g_pkt);
    g_pkt[7] = 0x05;
    sg_ts_scan_packet(&g_s, g_pkt);
    CHECK_INT(g_s.has_pat, 0);
    /* a section ending exactly at the packet end */
    {
        uint8_t body[175 - 12];
        memset(body, 0, sizeof(body));
        for (size_t i = 0; i + 4 <= sizeof(body); i += 4) {
            body[i + 1] = (uint8_t)(i / 4 + 1);
            body[i + 2] = 0xe1;
            body[i + 3] = (uint8_t)(i / 4);
        }
        n = section(sec, 0x00, 1, 0, body, sizeof(body) - sizeof(body) % 4);
        memset(g_pkt, 0xff, sizeof(g_pkt));
        g_pkt[0] = 0x47;
        g_pkt[1] = 0x40;
        g_pkt[2] = 0x00;
        g_pkt[3] = 0x10;
        g_pkt[4] = (uint8_t)(SG_TS_PACKET - 5 - n);
        memcpy(g_pkt + SG_TS_PACKET - n, sec, n);
        sg_ts_scan_packet(&g_s, g_pkt);
        CHECK_INT(g_s.has_pat, 1);
        CHECK_INT(g_s.nprograms, SG_TS_MAX_PROGRAMS);
    }
    /* PMT: program_info_length and ES_info_length beyond the section */
    start_one(0x02);
    n = pmt_one_section(sec, 0x02, 0x400, NULL, 0);
    sec[10] = 0xff;
    sec[11] = 0xff;
    {
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
    }
    feed_section(PMT_PID, sec, n);
    CHECK_INT(g_s.video_pid, VIDEO_PID); /* ignored */
    n = pmt_one_section(sec, 0x02, 0x400, NULL, 0);
    sec[15] = 0xf3;
    sec[16] = 0xff;
    {
        uint32_t crc = sg_ts_crc32(sec, n - 4);
        sec[n - 4] = (uint8_t)(crc >> 24);
        sec[n - 3] = (uint8_t)(crc >> 16);
        sec[n - 2] = (uint8_t)(crc >> 8);
        sec[n - 1] = (uint8_t)crc;
    }
    feed_section(PMT_PID, sec, n);
    CHECK_INT(g_s.has_psi, 1);
    CHECK_INT(g_s.video_pid, -1); /* the broken stream entry is dropped */
}

/* ---- a real capture ---------------------------------------------------------- */

static void
test_file(void)
{
    const char *path = getenv("SG_TEST_TS"), *want = getenv("SG_TEST_TS_KEYS");
    uint8_t buf[SG_TS_PACKET * 64];
    size_t n, have = 0;
    FILE *f;

    if (path == NULL || *path == '\0') {
        printf("     (SG_TEST_TS not set: skipped)\n");
        return;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        SG_FAIL("%s: %s", path, strerror(errno));
        return;
    }
    sg_ts_scan_init(&g_s);
    while ((n = fread(buf + have, 1, sizeof(buf) - have, f)) > 0) {
        size_t i;
        have += n;
        for (i = 0; i + SG_TS_PACKET <= have; i += SG_TS_PACKET) sg_ts_scan_packet(&g_s, buf + i);
        memmove(buf, buf + i, have - i);
        have -= i;
    }
    fclose(f);
    printf("     %s: %" PRIu64 " packets, %" PRIu64 " keys, video PID 0x%x type 0x%02x, "
           "audio PID 0x%x, %" PRIu64 " cc errors, psi %d\n",
           path, g_s.packets, g_s.keys, (unsigned)g_s.video_pid, g_s.video_type,
           (unsigned)g_s.audio_pid, g_s.cc_errors, g_s.has_psi);
    CHECK_INT(have, 0);
    CHECK_INT(g_s.bad_sync, 0);
    CHECK_INT(g_s.has_psi, 1);
    CHECK(g_s.keys > 0);
    if (want && *want) CHECK_INT(g_s.keys, atoll(want));
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"crc", test_crc},
        {"mpeg2", test_mpeg2},
        {"h264", test_h264},
        {"hevc", test_hevc},
        {"other_video", test_other_video},
        {"rai", test_rai},
        {"scrambled", test_scrambled},
        {"audio_only", test_audio_only},
        {"bad_crc", test_bad_crc},
        {"psi_copy", test_psi_copy},
        {"pat_change", test_pat_change},
        {"two_programs", test_two_programs},
        {"cc", test_cc},
        {"hostile", test_hostile},
        {"file", test_file},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
