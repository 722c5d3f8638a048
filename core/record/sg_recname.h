/*
 * Where a recording goes under recordings.dir (pure, unit-tested):
 *
 *   series          <Series>/<Series> SxxEyy - <Episode title>.<ext>
 *   news (periodic) <Title>/<Title> - YYYYMMDD.<ext>
 *   anything else   <Title>/<Title>.<ext>
 *
 * optionally under a per-channel folder "NNN. Channel/". Every name is made
 * safe: ':' becomes ',', '(' ')' become '[' ']', "..." becomes "…", only
 * letters (any script), digits and " ,._-¡![]" are kept, no name starts
 * with a dot (hidden names are the recorder's temporary files) or ends
 * with a space or a dot, and none is longer than 120 bytes.
 */
#ifndef SG_RECNAME_H
#define SG_RECNAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct sg_recname_in_s {
    const char *title;         /* required                                 */
    const char *series;        /* NULL or "": not a series                 */
    int season, episode;       /* 0 = unknown                              */
    const char *episode_title; /* NULL or ""                               */
    const char *genre;         /* "News..." makes a periodic programme     */
    int64_t start;             /* UTC seconds; the date is local time      */
    const char *channel;       /* with channel_number > 0 and per_channel  */
    int channel_number;
    int per_channel;           /* "NNN. Channel/" first                    */
    const char *ext;           /* "mkv", "mp4"                             */
} sg_recname_in_t;

/* The relative path into out; its length, or 0 when it does not fit. */
size_t sg_recname(const sg_recname_in_t *in, char *out, size_t n);

/* One safe file or folder name from s into out (n >= 2); its length. */
size_t sg_recname_safe(const char *s, char *out, size_t n);

#endif
