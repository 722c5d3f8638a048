/*
 * The recorder's engine: an MPEG-TS byte stream in, a Matroska (or MP4)
 * file out, through libavformat/libavcodec/libswresample in-process.
 *
 *   - every video track copied; MPEG audio (MP2/MP3) transcoded to AAC so
 *     browsers play it; other audio copied; subtitles copied into MKV when
 *     Matroska can carry them; data tracks dropped;
 *   - MP4 cannot carry DVB subtitles: with subs_path, the subtitle tracks
 *     Matroska can carry go to a subtitle-only Matroska side file there (a
 *     ".mks" that mpv and VLC load beside the video), copied with their
 *     languages on the main file's timeline (same zero, same max_seconds
 *     cap, same continuous timeline); no such tracks, no file. The side
 *     file is a bonus: when it cannot be written it is removed and the main
 *     file goes on (its reason reaches res->error only when the main file
 *     failed too). Without subs_path (or for Matroska) nothing changes;
 *   - track languages kept; vo: the second audio track goes first and is
 *     the default one;
 *   - timestamps start at zero; max_seconds of stream, then it stops;
 *   - the output's title/channel/date/description/series tags, and a cover
 *     image attached to a Matroska file.
 *
 * Blocking and CPU-bound: run it on a worker thread, never on the loop.
 * The input comes through a read callback (a pipe from the loop, a file),
 * MPEG-TS unless in_format names another libavformat demuxer ("flv").
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
    const char *in_format;     /* libavformat demuxer, NULL = "mpegts"      */
    int mp4;                   /* MP4 with faststart instead of Matroska    */
    int fragmented;            /* MP4 only: fragmented at keyframes, moov
                                * and a global sidx first: memory does not
                                * grow with the length (plain MP4 keeps
                                * every sample's entry until the end)      */
    int vo;                    /* second audio track first and default      */
    double max_seconds;        /* stop after this much stream; 0 = the end  */
    /* tags, NULL = none */
    const char *title, *channel, *date, *description, *series;
    int season, episode;       /* 0 = unknown                               */
    const char *cover;         /* JPEG or PNG file attached (Matroska only) */
    const char *subs_path;     /* MP4 only: the subtitle side file (Matroska,
                                * written as is), NULL = none               */
} sg_remux_opts_t;

typedef struct sg_remux_result_s {
    double duration;           /* seconds of stream written                 */
    int video, audio, subtitles; /* tracks written                          */
    int transcoded;            /* audio tracks transcoded to AAC            */
    int side_subtitles;        /* tracks in the side file; 0: no side file  */
    char error[256];           /* why it failed, when it did                */
} sg_remux_result_t;

/* 0 when the output was written completely (whatever its length), -1 with
 * res->error. Never leaves libav state behind. */
int sg_remux_run(sg_remux_read_pt rd, void *arg, const sg_remux_opts_t *o,
                 sg_remux_result_t *res);

#endif
