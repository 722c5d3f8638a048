/*
 * The catchup/timeshift URL grammar (Flussonic and the forms IPTV players
 * derive from it), parsed in one place. Input is the part of the path after
 * "/{channel}/" plus the query string.
 *
 *   live:      mpegts  live  index.m3u8  video.m3u8  mono.m3u8  playlist.m3u8
 *   absolute:  {unix}[.ts]   {YYYYMMDDHHMM}   {YYYYMMDDHHMMSS}   (local time)
 *   word:      {word}-{unix}[-{dur}|-now][.ts|.m3u8|.mp4]
 *              (timeshift_abs-T, archive-T-D, index-T-D, video-T-now, ...)
 *              timeshift_rel-S   {video|mono}-timeshift_abs-T  ..._rel-S
 *   legacy:    archive/T/D/mpegts  archive/T/D/index.m3u8  timeshift_abs/T
 *              timeshift_rel/S
 *   nested:    mpegts/<any of the above>  live/<any of the above>
 *   query:     live form + ?utc=T[&lutc=N]   live form + ?playseek=B-E
 *              (B, E as YYYYMMDDHHMMSS local time)
 */
#ifndef SG_TIMESPEC_H
#define SG_TIMESPEC_H

#include <stdint.h>

#define SG_TIMESPEC_MAX_DURATION (31 * 86400)

typedef struct sg_timespec_s {
    int kind;          /* SG_REQ_LIVE or SG_REQ_CATCHUP                    */
    int format;        /* SG_FMT_TS, SG_FMT_HLS, SG_FMT_MP4                */
    int64_t start;     /* catchup: UTC seconds                             */
    int64_t duration;  /* seconds; 0 = open-ended                          */
    int to_now;        /* "-now": a window that grows to live              */
    char word[32];     /* "archive", "timeshift_abs", "index", "" ...      */
} sg_timespec_t;

/*
 * Returns 0 and fills out; 404 when tail is not a time form at all (some
 * other resource under the channel); 400 with *why for a malformed time.
 * now is the current UTC time (for timeshift_rel and "-now"). Local times
 * use the process time zone (TZ, set from server.timezone).
 */
int sg_timespec_parse(const char *tail, const char *query, int64_t now, sg_timespec_t *out,
                      const char **why);

/* Local YYYYMMDDHHMM or YYYYMMDDHHMMSS (len 12 or 14) to UTC; -1 if invalid. */
int64_t sg_timespec_local(const char *digits, int len);

#endif
