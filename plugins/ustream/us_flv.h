/*
 * plugins/ustream: joining FLV chunks into one FLV, streaming.
 *
 * Every chunk of a ustream recording is a whole FLV file (header, often an
 * onMetaData and the AVC/AAC sequence headers again). The joiner parses
 * each properly: the header's DataOffset, then the tag walk with every
 * PreviousTagSize checked; it writes one header, one onMetaData, one set of
 * sequence headers (a changed one is kept), and makes timestamps continue
 * across chunk joins (a jump back, or forward by more than a second, at a
 * join is absorbed). Memory is one tag, whatever the recording's length.
 */
#ifndef US_FLV_H
#define US_FLV_H

#include <stddef.h>
#include <stdint.h>

typedef struct us_flv_s us_flv_t;

/* Output: 0, or non-zero to stop (the joiner then fails with "output"). */
typedef int (*us_flv_out_pt)(void *arg, const uint8_t *data, size_t len);

typedef struct us_flv_stats_s {
    uint64_t tags_in, tags_out;
    uint64_t dropped_meta, dropped_seqhdr; /* repeats left out            */
    uint64_t joins_absorbed;               /* timestamp jumps at joins    */
    uint32_t last_ts;                      /* ms, of the last tag written */
    int has_audio, has_video;
} us_flv_stats_t;

us_flv_t *us_flv_new(us_flv_out_pt out, void *arg);
void us_flv_free(us_flv_t *j);

/* A chunk starts: the next bytes are an FLV file. */
void us_flv_chunk(us_flv_t *j);
/* Bytes of the current chunk, any split. 0, or -1 with *why (the chunk is
 * not FLV, a tag is malformed, a PreviousTagSize does not match). */
int us_flv_feed(us_flv_t *j, const uint8_t *data, size_t len, const char **why);
/* The chunk is complete: 0, or -1 when it ended inside its header or a
 * tag (truncated). */
int us_flv_chunk_end(us_flv_t *j, const char **why);

void us_flv_stats(const us_flv_t *j, us_flv_stats_t *out);

#endif
