/*
 * Movistar cloud recordings ("Grabaciones en la Nube", shared reference
 * movistar-u7d.md §6): the appserver's recordingList and getRecordingData
 * replies. Pure (jansson only), every field checked for type and range,
 * fuzzed (tests/fuzz/fuzz_mvcloud.c).
 */
#ifndef MV_CLOUD_H
#define MV_CLOUD_H

#include <stddef.h>
#include <stdint.h>

/* One recording of recordingList's resultData.result[]. */
typedef struct mv_cloud_item_s {
    char channel[24];       /* serviceUID, decimal                           */
    char pid[24];           /* productID, decimal                            */
    int64_t begin;          /* beginTime, UTC seconds                        */
} mv_cloud_item_t;

/* The recordings in a recordingList reply, at most max (the rest are
 * counted in *dropped). Entries without a numeric channel, programme id or
 * a plausible start are skipped and counted in *skipped. Returns how many
 * were written, or -1 when the reply is not a successful recordingList
 * answer (*why says what it was). */
int mv_cloud_list(const char *body, size_t len, mv_cloud_item_t *out, int max, int *skipped,
                  int *dropped, const char **why);

/* What getRecordingData says about one recording. Strings decoded (HTML
 * entities resolved, valid UTF-8), "" when absent. */
typedef struct mv_cloud_rec_s {
    char url[512];          /* rtsp:// URL of the recording                  */
    int64_t start, stop;    /* UTC seconds; 0 when not given                 */
    int duration;           /* seconds; 0 when not given                     */
    char title[256];        /* name                                          */
    char series[256];       /* seriesName                                    */
    char genre[64];         /* theme                                         */
    int season, episode;
    int age;                /* minimum age, from ageRatingID                 */
} mv_cloud_rec_t;

/* 0, or -1 when the reply is no recording (*why: the appserver's own
 * resultText when it gave one, decoded into whybuf, else what was wrong). */
int mv_cloud_data(const char *body, size_t len, mv_cloud_rec_t *out, char *whybuf,
                  size_t whylen);

#endif
