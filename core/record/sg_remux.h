/*
 * The recorder's engine: an MPEG-TS byte stream in, a Matroska (or MP4)
 * file out, through libavformat/libavcodec/libswresample in-process.
 *
 *   - every video track copied; MPEG audio (MP2/MP3) transcoded to AAC so
 *     browsers play it; other audio copied; subtitles copied into MKV when
 *     Matroska can carry them (MP4: none); data tracks dropped;
 *   - track languages kept; vo: the second audio track goes first and is
 *     the default one;
 *   - timestamps start at zero; max_seconds of stream, then it stops;
 *   - the output's title/channel/date/description/series tags, and a cover
 *     image attached to a Matroska file.
 *
 * Blocking and CPU-bound: run it on a worker thread, never on the loop.
 * The input comes through a read callback (a pipe from the loop, a file).
 */
#ifndef SG_REMUX_H
#define SG_REMUX_H

#include <stddef.h>
#include <stdint.h>

/* Up to size bytes into buf: how many (> 0), 0 at the end of the stream,
 * < 0 on an error. May block. */
typedef int (*sg_remux_read_pt)(void *arg, uint8_t *buf, int size);

typedef struct sg_remux_opts_s {
    const char *out_path;      /* written as is: the caller renames it      */
    int mp4;                   /* MP4 with faststart instead of Matroska    */
    int vo;                    /* second audio track first and default      */
    double max_seconds;        /* stop after this much stream; 0 = the end  */
    /* tags, NULL = none */
    const char *title, *channel, *date, *description, *series;
    int season, episode;       /* 0 = unknown                               */
    const char *cover;         /* JPEG or PNG file attached (Matroska only) */
} sg_remux_opts_t;

typedef struct sg_remux_result_s {
    double duration;           /* seconds of stream written                 */
    int video, audio, subtitles; /* tracks written                          */
    int transcoded;            /* audio tracks transcoded to AAC            */
    char error[256];           /* why it failed, when it did                */
} sg_remux_result_t;

/* 0 when the output was written completely (whatever its length), -1 with
 * res->error. Never leaves libav state behind. */
int sg_remux_run(sg_remux_read_pt rd, void *arg, const sg_remux_opts_t *o,
                 sg_remux_result_t *res);

#endif
