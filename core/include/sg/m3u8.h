/*
 * HLS playlists (RFC 8216): a parser for the media and master playlists an
 * upstream serves, and the tag formats streamgate writes.
 *
 * Built as a small static library (libsgm3u8) that the core and the plugins
 * that read HLS link in, so each has the same parser without linking daemon
 * symbols. Pure: no I/O, no allocation other than the one block per parse.
 */
#ifndef SG_M3U8_H
#define SG_M3U8_H

#include <stddef.h>
#include <stdint.h>

typedef struct sg_m3u8_seg_s {
    const char *uri;       /* as written (relative or absolute)            */
    double duration;       /* EXTINF seconds                               */
    int64_t seq;           /* media sequence number                        */
    int64_t pdt_ms;        /* EXT-X-PROGRAM-DATE-TIME (UTC ms), -1 = none  */
    int disc;              /* EXT-X-DISCONTINUITY before it                */
    int key_method;        /* SG_M3U8_KEY_* in force for it               */
    int64_t byterange_len; /* EXT-X-BYTERANGE, -1 = the whole resource     */
} sg_m3u8_seg_t;

typedef struct sg_m3u8_variant_s {
    const char *uri;
    int64_t bandwidth;     /* BANDWIDTH, 0 when missing                    */
    int width, height;     /* RESOLUTION, 0 when missing                   */
} sg_m3u8_variant_t;

enum {
    SG_M3U8_KEY_NONE = 0,
    SG_M3U8_KEY_AES128,
    SG_M3U8_KEY_OTHER,     /* SAMPLE-AES and anything else                 */
};

typedef struct sg_m3u8_s {
    int master;            /* 1: variants, no segments                     */
    int version;           /* EXT-X-VERSION, 1 when absent                 */
    double target;         /* EXT-X-TARGETDURATION seconds, 0 when absent  */
    int64_t media_seq;     /* EXT-X-MEDIA-SEQUENCE                         */
    int64_t disc_seq;      /* EXT-X-DISCONTINUITY-SEQUENCE                 */
    int endlist;           /* EXT-X-ENDLIST                                */
    int vod;               /* PLAYLIST-TYPE VOD                            */
    sg_m3u8_seg_t *segs;
    int nsegs;
    sg_m3u8_variant_t *vars;
    int nvars;
    char *store;           /* one block holding everything above           */
} sg_m3u8_t;

/*
 * Parse text (len bytes, need not be NUL-terminated). 0 and out filled, or
 * -1 with *why (static text) set: not a playlist (no #EXTM3U), an EXTINF
 * without a URI at the end, a bad number, too large (over 100000 entries).
 * Unknown tags are ignored, as RFC 8216 requires. Free with sg_m3u8_free.
 */
int sg_m3u8_parse(const char *text, size_t len, sg_m3u8_t *out, const char **why);
void sg_m3u8_free(sg_m3u8_t *m);

/* ISO 8601 date-time with a zone ("2026-11-21T16:00:00.250Z", "+01:00",
 * "+0100") to UTC milliseconds; -1 when malformed. */
int64_t sg_m3u8_parse_time(const char *s, size_t len);

/* UTC milliseconds as "2026-11-21T16:00:00.250Z" (buf of 32). */
void sg_m3u8_format_time(int64_t ms, char *buf, size_t n);

#endif
