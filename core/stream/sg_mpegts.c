#include "sg_mpegts.h"

#include <string.h>

#define SG_TS_SYNC 0x47
#define SG_TS_NULL_PID 0x1fff
#define SG_TS_MAX_SECTION 1021 /* section_length of a PAT / PMT */

static unsigned
sg_be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The 12-bit length that ends a 16-bit field (section, program / ES info). */
static size_t
sg_be12(const uint8_t *p)
{
    return (size_t)(p[0] & 0x0f) << 8 | p[1];
}

static int
sg_be13(const uint8_t *p)
{
    return (int)((p[0] & 0x1f) << 8 | p[1]);
}

uint32_t
sg_ts_crc32(const uint8_t *d, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)d[i] << 24;
        for (int b = 0; b < 8; b++) crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

void
sg_ts_scan_init(sg_ts_scan_t *s)
{
    memset(s, 0, sizeof(*s));
    s->video_pid = -1;
    s->audio_pid = -1;
    s->cc_last = -1;
}

/* ---- PSI ------------------------------------------------------------------ */

/* The section alone in a clean packet (PUSI, no adaptation field, pointer 0). */
static void
sg_ts_store_section(uint8_t *dst, int pid, unsigned cc, const uint8_t *sec, size_t total)
{
    dst[0] = SG_TS_SYNC;
    dst[1] = (uint8_t)(0x40 | (pid >> 8));
    dst[2] = (uint8_t)(pid & 0xff);
    dst[3] = (uint8_t)(0x10 | (cc & 0x0f));
    dst[4] = 0;
    memcpy(dst + 5, sec, total);
    memset(dst + 5 + total, 0xff, SG_TS_PACKET - 5 - total);
}

/* Same section as the stored one? (section_length is part of the bytes.) */
static int
sg_ts_same_section(const uint8_t *stored, const uint8_t *sec, size_t total)
{
    return memcmp(stored + 5, sec, total) == 0;
}

/* The checks a PAT or PMT section must pass: syntax, current, a single
 * section, the minimal length, the CRC. */
static int
sg_ts_section_ok(const uint8_t *sec, size_t total, size_t min_total)
{
    if (total < min_total) return 0;
    if (!(sec[1] & 0x80)) return 0;             /* section_syntax_indicator */
    if (!(sec[5] & 0x01)) return 0;             /* current_next_indicator: not yet valid */
    if (sec[6] != 0 || sec[7] != 0) return 0;   /* section_number / last_section_number */
    return sg_ts_crc32(sec, total) == 0;
}

static void
sg_ts_update_psi(sg_ts_scan_t *s)
{
    const sg_ts_program_t *first = s->nprograms > 0 && s->prog[0].has_pmt ? &s->prog[0] : NULL;
    int video = first ? first->video_pid : -1;

    if (video != s->video_pid) s->cc_last = -1;
    s->video_pid = video;
    s->video_type = first ? first->video_type : 0;
    s->audio_pid = first ? first->audio_pid : -1;
    s->has_psi = s->has_pat && s->nprograms > 0;
    for (int i = 0; i < s->nprograms; i++) {
        if (!s->prog[i].has_pmt) s->has_psi = 0;
    }
}

static void
sg_ts_pat(sg_ts_scan_t *s, unsigned cc, const uint8_t *sec, size_t total)
{
    sg_ts_program_t old[SG_TS_MAX_PROGRAMS];
    int nold = s->nprograms, n = 0;

    if (s->has_pat && sg_ts_same_section(s->pat, sec, total)) return;
    if (!sg_ts_section_ok(sec, total, 12)) return;

    memcpy(old, s->prog, sizeof(old));
    /* program_number (16) reserved (3) PID (13), up to the CRC */
    for (size_t p = 8; p + 4 <= total - 4 && n < SG_TS_MAX_PROGRAMS; p += 4) {
        unsigned number = sg_be16(sec + p);
        int pid = sg_be13(sec + p + 2), dup = 0;
        if (number == 0) continue; /* network_PID */
        if (pid == 0 || pid == SG_TS_NULL_PID) continue;
        for (int i = 0; i < n; i++) {
            if (s->prog[i].number == number) dup = 1;
        }
        if (dup) continue;
        /* Keep the PMT of a program still listed at the same PID. */
        memset(&s->prog[n], 0, sizeof(s->prog[n]));
        s->prog[n].number = (uint16_t)number;
        s->prog[n].pmt_pid = (uint16_t)pid;
        s->prog[n].video_pid = s->prog[n].audio_pid = -1;
        for (int i = 0; i < nold; i++) {
            if (old[i].number == number && old[i].pmt_pid == pid) {
                s->prog[n] = old[i];
                break;
            }
        }
        n++;
    }
    s->nprograms = n;
    sg_ts_store_section(s->pat, 0, cc, sec, total);
    s->has_pat = 1;
    sg_ts_update_psi(s);
}

static int
sg_ts_is_video(uint8_t type)
{
    return type == 0x01 || type == 0x02 || type == 0x10 || type == 0x1b || type == 0x24 ||
           type == 0x42;
}

/* Audio by stream_type, or for PES private data (0x06) by descriptor. */
static int
sg_ts_is_audio(uint8_t type, const uint8_t *desc, size_t len)
{
    if (type == 0x03 || type == 0x04 || type == 0x0f || type == 0x11 || type == 0x81 ||
        type == 0x87) {
        return 1;
    }
    if (type != 0x06) return 0;
    for (size_t p = 0; p + 2 <= len && p + 2 + desc[p + 1] <= len; p += 2 + desc[p + 1]) {
        uint8_t tag = desc[p], dl = desc[p + 1];
        /* AC-3, E-AC-3, DTS, AAC (DVB) */
        if (tag == 0x6a || tag == 0x7a || tag == 0x7b || tag == 0x7c) return 1;
        /* registration_descriptor "AC-3" / "EAC3" (ATSC style) */
        if (tag == 0x05 && dl >= 4 &&
            (memcmp(desc + p + 2, "AC-3", 4) == 0 || memcmp(desc + p + 2, "EAC3", 4) == 0)) {
            return 1;
        }
    }
    return 0;
}

static void
sg_ts_pmt(sg_ts_scan_t *s, int pid, unsigned cc, const uint8_t *sec, size_t total)
{
    sg_ts_program_t *prog = NULL;
    unsigned number;
    size_t p, end;
    int video = -1, audio = -1;
    uint8_t vtype = 0;

    if (total < 5) return;
    number = sg_be16(sec + 3);
    for (int i = 0; i < s->nprograms; i++) {
        if (s->prog[i].pmt_pid == pid && s->prog[i].number == number) {
            prog = &s->prog[i];
            break;
        }
    }
    if (prog == NULL) return;
    if (prog->has_pmt && sg_ts_same_section(prog->pmt, sec, total)) return;
    if (!sg_ts_section_ok(sec, total, 16)) return;

    /* PCR_PID (2), program_info_length (2) + descriptors, then the ES loop:
     * stream_type (1), PID (2), ES_info_length (2) + descriptors. */
    end = total - 4;
    p = 12 + sg_be12(sec + 10);
    if (p > end) return;
    while (p + 5 <= end) {
        uint8_t type = sec[p];
        int epid = sg_be13(sec + p + 1);
        size_t eil = sg_be12(sec + p + 3);
        if (eil > end - p - 5) break; /* malformed: keep what came before */
        if (video < 0 && sg_ts_is_video(type)) {
            video = epid;
            vtype = type;
        } else if (audio < 0 && sg_ts_is_audio(type, sec + p + 5, eil)) {
            audio = epid;
        }
        p += 5 + eil;
    }
    prog->video_pid = video;
    prog->video_type = vtype;
    prog->audio_pid = audio;
    prog->has_pmt = 1;
    sg_ts_store_section(prog->pmt, pid, cc, sec, total);
    sg_ts_update_psi(s);
}

static int
sg_ts_is_pmt_pid(const sg_ts_scan_t *s, int pid)
{
    for (int i = 0; i < s->nprograms; i++) {
        if (s->prog[i].pmt_pid == pid) return 1;
    }
    return 0;
}

/* Each section that starts in this packet and ends in it (off: the payload,
 * starting with pointer_field). */
static void
sg_ts_sections(sg_ts_scan_t *s, const uint8_t *pkt, size_t off, int pid, unsigned cc)
{
    size_t pos = off + 1 + pkt[off];

    while (pos + 3 <= SG_TS_PACKET && pkt[pos] != 0xff) {
        const uint8_t *sec = pkt + pos;
        size_t total = 3 + sg_be12(sec + 1);
        if (total - 3 > SG_TS_MAX_SECTION || total > SG_TS_PACKET - pos) return;
        if (pid == 0 && sec[0] == 0x00) {
            sg_ts_pat(s, cc, sec, total);
        } else if (pid != 0 && sec[0] == 0x02 && sg_ts_is_pmt_pid(s, pid)) {
            sg_ts_pmt(s, pid, cc, sec, total);
        }
        pos += total;
    }
}

/* ---- random access points -------------------------------------------------- */

/* Does this elementary stream data hold the start of a random access point? */
static int
sg_ts_es_key(uint8_t type, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        uint8_t c;
        if (p[i + 2] > 1) {
            i += 2; /* no start code can begin at i, i+1 or i+2 */
            continue;
        }
        if (p[i] != 0 || p[i + 1] != 0 || p[i + 2] != 1) continue;
        c = p[i + 3];
        switch (type) {
        case 0x1b: /* H.264: IDR slice, SPS */
            if ((c & 0x1f) == 5 || (c & 0x1f) == 7) return 1;
            break;
        case 0x24: { /* HEVC: IRAP slices, VPS, SPS */
            unsigned t = (c >> 1) & 0x3f;
            if ((t >= 16 && t <= 21) || t == 32 || t == 33) return 1;
            break;
        }
        case 0x01:
        case 0x02: /* MPEG-1/2: sequence header, GOP header, I-picture */
            if (c == 0xb3 || c == 0xb8) return 1;
            if (c == 0x00 && i + 5 < n && ((p[i + 5] >> 3) & 7) == 1) return 1;
            break;
        case 0x10: /* MPEG-4 part 2: visual object sequence, GOV, I-VOP */
            if (c == 0xb0 || c == 0xb3) return 1;
            if (c == 0xb6 && i + 4 < n && (p[i + 4] >> 6) == 0) return 1;
            break;
        case 0x42: /* AVS: sequence header, I-picture */
            if (c == 0xb0 || c == 0xb3) return 1;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

/* A PES packet starting at p (n bytes of it in this TS packet): skip its
 * header and scan what follows in this packet. */
static int
sg_ts_pes_key(uint8_t type, const uint8_t *p, size_t n)
{
    size_t es;
    if (n < 9 || p[0] != 0 || p[1] != 0 || p[2] != 1) return 0;
    if ((p[6] & 0xc0) != 0x80) return 0; /* no optional PES header: not video */
    es = 9 + (size_t)p[8];
    if (es >= n) return 0;
    return sg_ts_es_key(type, p + es, n - es);
}

int
sg_ts_scan_packet(sg_ts_scan_t *s, const uint8_t *pkt)
{
    unsigned pusi, tsc, afc, cc;
    size_t off = 4;
    int pid, rai = 0, disc = 0, payload;

    s->packets++;
    if (pkt[0] != SG_TS_SYNC) {
        s->bad_sync++;
        return 0;
    }
    if (pkt[1] & 0x80) return 0; /* transport_error_indicator */
    pusi = pkt[1] & 0x40;
    pid = sg_be13(pkt + 1);
    tsc = pkt[3] >> 6;
    afc = (pkt[3] >> 4) & 3;
    cc = pkt[3] & 0x0f;
    if (afc == 0 || pid == SG_TS_NULL_PID) return 0; /* reserved; stuffing */
    if (afc & 2) {
        /* The adaptation field is never scrambled. */
        size_t afl = pkt[4];
        if (afl > 183) return 0;
        off = 5 + afl;
        if (afl > 0) {
            disc = pkt[5] & 0x80;
            rai = pkt[5] & 0x40;
        }
    }
    payload = (afc & 1) && off < SG_TS_PACKET;

    if (payload && pusi && tsc == 0 && (pid == 0 || sg_ts_is_pmt_pid(s, pid))) {
        sg_ts_sections(s, pkt, off, pid, cc);
    }

    if (s->video_pid >= 0) {
        if (pid != s->video_pid) return 0;
        s->scrambled = tsc != 0;
        if (afc & 1) {
            /* The counter steps on packets with payload; one repeat is allowed. */
            if (s->cc_last >= 0 && !disc && cc != (unsigned)((s->cc_last + 1) & 0x0f) &&
                cc != (unsigned)s->cc_last) {
                s->cc_errors++;
            }
            s->cc_last = (int)cc;
        }
        if (!pusi || !payload) return 0; /* no PES starts here */
        if (rai || (payload && tsc == 0 &&
                    sg_ts_pes_key(s->video_type, pkt + off, SG_TS_PACKET - off))) {
            s->keys++;
            return SG_TS_KEY;
        }
        return 0;
    }
    if (s->audio_pid >= 0 && pid == s->audio_pid && pusi && payload) {
        s->keys++;
        return SG_TS_KEY;
    }
    return 0;
}

size_t
sg_ts_scan_psi(const sg_ts_scan_t *s, uint8_t *out, size_t cap)
{
    size_t need;

    if (!s->has_psi) return 0;
    need = (1 + (size_t)s->nprograms) * SG_TS_PACKET;
    if (cap < need) return 0;
    memcpy(out, s->pat, SG_TS_PACKET);
    for (int i = 0; i < s->nprograms; i++) {
        memcpy(out + (1 + (size_t)i) * SG_TS_PACKET, s->prog[i].pmt, SG_TS_PACKET);
    }
    return need;
}
