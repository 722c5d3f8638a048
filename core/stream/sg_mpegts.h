/*
 * MPEG-TS scanner for fast channel start. It sees every (already aligned)
 * 188-byte packet of a live stream and tells the relay where a client can
 * start decoding (random access points on the video PID, or PES starts on
 * the audio PID of a radio programme) and keeps the current PAT and PMTs to
 * send a new client first. Pure and allocation-free (the caller embeds the
 * state): it reads untrusted network bytes, every length is bounds-checked.
 * Only single-packet PSI sections are parsed (a PAT or PMT section that
 * continues in a later packet is ignored), and only those whose CRC checks.
 * Fuzzed by tests/fuzz/fuzz_mpegts.c.
 */
#ifndef SG_MPEGTS_H
#define SG_MPEGTS_H

#include <stddef.h>
#include <stdint.h>

#define SG_TS_PACKET 188
#define SG_TS_MAX_PROGRAMS 8 /* PAT entries beyond these are ignored */

enum { SG_TS_KEY = 1 }; /* this packet starts a random access point */

typedef struct sg_ts_program_s {
    uint16_t number;  /* program_number (!= 0) */
    uint16_t pmt_pid;
    int has_pmt;
    int video_pid;    /* first video stream, -1: none */
    int audio_pid;    /* first audio stream, -1: none */
    uint8_t video_type;
    uint8_t pmt[SG_TS_PACKET]; /* the PMT section alone in a clean packet */
} sg_ts_program_t;

typedef struct sg_ts_scan_s {
    /* The last PAT (a clean packet: no adaptation field, pointer_field 0,
     * the section, 0xFF stuffing; the source's continuity counter). */
    uint8_t pat[SG_TS_PACKET];
    int has_pat;
    int nprograms;
    sg_ts_program_t prog[SG_TS_MAX_PROGRAMS];
    /* From the PMT of the first program: video stream_types 0x01, 0x02
     * (MPEG-1/2), 0x10 (MPEG-4 part 2), 0x1B (H.264), 0x24 (HEVC), 0x42 (AVS);
     * the audio PID is used only when there is no video. -1: none. */
    int video_pid;
    uint8_t video_type;
    int audio_pid;
    int has_psi;   /* PAT and every PMT seen */
    int scrambled; /* last video packet had transport_scrambling_control != 0 */
    int cc_last;   /* continuity counter of the video PID, -1: none yet */
    /* counters */
    uint64_t packets, keys, cc_errors /* video PID */, bad_sync;
} sg_ts_scan_t;

void sg_ts_scan_init(sg_ts_scan_t *s);

/* Inspect one packet (pkt[0] must be 0x47, else bad_sync++ and 0). Returns
 * SG_TS_KEY when the packet begins an access unit a decoder can start at:
 *  - on the video PID, a PES start (payload_unit_start_indicator) with the
 *    random_access_indicator set (also when scrambled), or whose PES payload
 *    within this packet holds, by start-code scan: H.264 NAL 5 (IDR) or 7
 *    (SPS); HEVC NAL 16..21 (IRAP), 32 (VPS) or 33 (SPS); MPEG-1/2 sequence
 *    header, GOP header or I-picture; MPEG-4 part 2 VOS, GOV or I-VOP; AVS
 *    sequence header or I-picture;
 *  - when the PMT has no video stream, every PES start on the audio PID;
 *  - before the PMT is known, never.
 * Packets with transport_error_indicator set are ignored. Also keeps the PAT
 * and PMT copies; a changed PAT forgets the PMTs of programs it no longer
 * lists. */
int sg_ts_scan_packet(sg_ts_scan_t *s, const uint8_t *pkt);

/* Copy the PAT and the PMT packets into out (a multiple of 188 bytes).
 * Returns the bytes written, 0 when !has_psi or cap is too small. */
size_t sg_ts_scan_psi(const sg_ts_scan_t *s, uint8_t *out, size_t cap);

/* CRC32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final
 * xor): 0 over a section including its CRC when it is intact. */
uint32_t sg_ts_crc32(const uint8_t *d, size_t n);

#endif
