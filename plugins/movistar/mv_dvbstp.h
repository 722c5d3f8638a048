/*
 * DVB-STP (ETSI TS 102 034 §5.4.1): section header parsing and segment
 * reassembly. Pure: no I/O, no globals, fuzzed (tests/fuzz/fuzz_dvbstp.c).
 *
 * One UDP datagram carries one section. Sections make up a segment,
 * identified by (payload id, segment id, segment version). The assembler
 * keeps one buffer per such key, places each section's payload by its
 * section number, and hands a segment out once sections 0..last have all
 * arrived and the MPEG-2 CRC-32 (carried after the payload of the section
 * flagged with the CRC bit, computed over the payloads of all sections)
 * matches. A lost section means waiting for the next carousel cycle; a new
 * version of a segment drops the buffer of the old one. Nothing partial or
 * unchecked is ever handed out.
 */
#ifndef MV_DVBSTP_H
#define MV_DVBSTP_H

#include <stddef.h>
#include <stdint.h>

#define MV_STP_HEADER 12 /* fixed header bytes */

typedef struct mv_stp_section_s {
    unsigned version;        /* must be 0                                     */
    unsigned encryption;     /* 0 = clear                                     */
    int crc_flag;            /* set on the section that carries the CRC       */
    uint32_t total_size;     /* payload bytes of the whole segment            */
    uint8_t payload_id;      /* 0x01 SP discovery, 0x02 broadcast, 0xF1 EPG.. */
    uint16_t segment_id;
    uint8_t segment_version;
    uint16_t section;        /* 0..last                                       */
    uint16_t last_section;
    unsigned compression;    /* 0 = none                                      */
    int has_provider_id;
    uint32_t provider_id;
    const uint8_t *payload;  /* into the datagram; header, private header and
                                CRC excluded                                  */
    size_t payload_len;
    uint32_t crc;            /* the carried CRC when crc_flag                 */
} mv_stp_section_t;

/* Parse one datagram. 0 on success; -1 when it is not a well-formed DVB-STP
 * section (too short, version != 0, lengths past the end, section > last,
 * CRC flag without room for the CRC). */
int mv_stp_parse(const uint8_t *d, size_t n, mv_stp_section_t *s);

/* MPEG-2 CRC-32 (ISO/IEC 13818-1 Annex A: poly 0x04C11DB7, init
 * 0xFFFFFFFF, no reflection, no final xor), continued from crc. */
uint32_t mv_stp_crc32(uint32_t crc, const uint8_t *p, size_t n);

typedef struct mv_stp_asm_s mv_stp_asm_t;

/* A complete, CRC-checked segment. data (len bytes, the concatenated
 * payloads without the CRC) is valid during the call only. */
typedef void (*mv_stp_segment_pt)(void *arg, uint8_t payload_id, uint16_t segment_id,
                                  uint8_t version, const uint8_t *data, size_t len);

typedef struct mv_stp_stats_s {
    uint64_t sections;      /* well-formed sections fed                      */
    uint64_t bad;           /* datagrams mv_stp_parse refused, or sections
                               inconsistent with their segment's buffer     */
    uint64_t crc_errors;    /* complete segments whose CRC did not match    */
    uint64_t segments;      /* segments handed out                          */
    uint64_t restarts;      /* buffers dropped for a newer version          */
    uint64_t evicted;       /* buffers dropped for the memory bound         */
} mv_stp_stats_t;

/* max_bytes bounds the memory of all partial buffers together (the oldest
 * is evicted first); a segment larger than max_bytes is never assembled. */
mv_stp_asm_t *mv_stp_asm_new(size_t max_bytes, mv_stp_segment_pt cb, void *arg);
void mv_stp_asm_free(mv_stp_asm_t *a);

/* Feed one datagram. Calls cb (at most once) when it completes a segment.
 * Returns 1 when a segment was handed out, 0 when the section was stored
 * (or was a duplicate), -1 when it was refused (counted in stats). A
 * segment (payload id, segment id, version) already handed out is handed
 * out again on its next complete cycle: the caller decides what is new. */
int mv_stp_asm_feed(mv_stp_asm_t *a, const uint8_t *d, size_t n);

const mv_stp_stats_t *mv_stp_asm_stats(const mv_stp_asm_t *a);

#endif
