/*
 * plugins/4gtv: the pure parts, kept apart so unit tests and fuzz targets
 * link them without the plugin: the clock model, URL templates, the signed
 * URL's expiry and the programme lists (www.4gtv.tv/proglist/<fid>.txt).
 */
#ifndef TV_MODEL_H
#define TV_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum { TV_BEGIN_SEQ = 1, TV_LIVE, TV_LITV };

/* What one signed playlist told us: its newest segment's number at t0. */
typedef struct tv_anchor_s {
    int64_t edge_seq;   /* MEDIA-SEQUENCE + entries - 1                   */
    double t0;          /* when the playlist was fetched (Unix seconds)   */
    double step;        /* segment length (TARGETDURATION, else config)   */
} tv_anchor_t;

/* The newest segment at now by the clock alone. */
int64_t tv_edge(const tv_anchor_t *a, double now);
/* begin seconds of a begin+seq segment: step * seq + offset */
int64_t tv_begin(double step, int64_t seq, int64_t offset);

/* Expand {fid} {hd} {seq} {begin} in tmpl into out: 0, or -1 when it does
 * not fit or an unknown {placeholder} appears. */
int tv_expand(const char *tmpl, const char *fid, int hd, int64_t seq, int64_t begin, char *out,
              size_t n);

/* The earliest of expires= and expires1= in a URL's query (Unix seconds),
 * or -1 when neither is there. */
int64_t tv_expiry(const char *url);

/* One programme of a proglist: UTC times. */
typedef struct tv_prog_s {
    int64_t start, stop;
    const char *title;
} tv_prog_t;

/* Parse a proglist (a JSON array of {sdate, stime, edate, etime, title},
 * dates and times in Taiwan time, +0800): cb per valid programme; entries
 * with missing or malformed fields are skipped and counted in *skipped.
 * The count parsed, or -1 (with *why) when the body is not a JSON array. */
int tv_proglist_parse(const char *text, size_t len, void (*cb)(void *arg, const tv_prog_t *p),
                      void *arg, int *skipped, const char **why);

#endif
