/*
 * Movistar's binary EPG (DVB-STP payload 0xF1): one blob per service and
 * day, see shared reference movistar-iptv-epg.md §5.2-5.3. Pure, every
 * length checked against the blob, fuzzed (tests/fuzz/fuzz_mvepg.c).
 *
 * Blob: [0] unused, [1..2] size, [3..4] service id, [5] version, [6] L,
 * [7..7+L) service URL, then records back to back up to size-4 (the last 4
 * bytes are a trailer). Record: [0..3] pid, [4..7] start (Unix s, UTC),
 * [8..9] duration (s), [20] genre byte, [24] age index, [31] title length
 * T, [32..32+T) title XOR 0x15; E=32+T: [E] 0xF1 tag, [E+5..E+6] series
 * id, [E+8] episode, [E+9..E+10] year, [E+11] season, [E+12] S, [E+13..)
 * series name XOR 0x15 (S bytes); C=E+13+S: [C+3] K; the next record
 * starts at C+4+K.
 */
#ifndef MV_EPG_H
#define MV_EPG_H

#include <stddef.h>
#include <stdint.h>

typedef struct mv_epg_rec_s {
    uint32_t pid;
    int64_t start;        /* UTC seconds                                    */
    uint32_t duration;    /* seconds                                        */
    uint8_t genre;        /* high nibble genre, low nibble sub-genre        */
    int age;              /* minimum age from the index table (0,0,0,7,12,
                             16,17,18); 0 for an index out of the table     */
    const char *title;    /* decoded: XOR 0x15, HTML entities resolved,
                             valid UTF-8; "" when empty                     */
    uint16_t series_id;   /* 0 = not a series                               */
    int season, episode;  /* 0 = unknown                                    */
    int year;             /* 0 = unknown                                    */
    const char *series;   /* decoded like title; "" when empty              */
} mv_epg_rec_t;

/* Called per record; r and its strings are valid during the call only. */
typedef void (*mv_epg_rec_pt)(void *arg, uint16_t service_id, const mv_epg_rec_t *r);

typedef struct mv_epg_result_s {
    uint16_t service_id;
    unsigned version;
    size_t records;       /* records handed to cb                           */
    int truncated;        /* the blob ended inside a record (the records
                             before it were handed out; the rest dropped)  */
} mv_epg_result_t;

/* Parse one blob. 0 when the header was readable (records may still be
 * truncated: see res->truncated), -1 when even the header was not. */
int mv_epg_parse(const uint8_t *blob, size_t len, mv_epg_rec_pt cb, void *arg,
                 mv_epg_result_t *res);

/* Decode an obfuscated string: XOR 0x15, then HTML entities (named ones
 * through libxml2's HTML entity table, &#N; and &#xH;), then invalid UTF-8
 * replaced by U+FFFD. Writes at most outlen-1 bytes and a NUL; returns the
 * length written. */
size_t mv_epg_decode(const uint8_t *in, size_t n, char *out, size_t outlen);

/* Minimum age of Movistar's age index (0,0,0,7,12,16,17,18); 0 outside. */
int mv_age_years(long index);

/* The same for plain text (the appserver's JSON strings carry entities
 * too): entities resolved, invalid UTF-8 replaced. */
size_t mv_html_decode(const char *in, size_t n, char *out, size_t outlen);

#endif
