/*
 * plugins/ustream: the upstream's documents, parsed without any I/O.
 *
 * Everything the downloader reads from the network goes through here, so
 * the unit tests and the fuzz target cover it from bytes:
 *   - the target the user named (a channel page URL, a video URL, a bare
 *     video id);
 *   - the channel or video page (HTML, libxml2's parser): the
 *     ustream:channel_id meta;
 *   - the registration reply (JSON): its hash, re-serialised as the JSON
 *     string the later calls send;
 *   - content.json: the channel's recorded videos;
 *   - the UMS websocket frames: reject (with or without a cluster
 *     redirect), warning, moduleInfo with the CDN config or the stream
 *     formats; from "flv/segmented" the chunk URL template of one preset,
 *     the hash list and the length;
 *   - the chunk plan: every hash key covers its chunks up to the next key,
 *     the last one up to the end.
 */
#ifndef US_API_H
#define US_API_H

#include <stddef.h>
#include <stdint.h>

/* ---- the target ---------------------------------------------------------- */

typedef struct us_target_s {
    char page[2048];  /* the page to read the channel id from             */
    char video[128];  /* a video id when the target named one, else ""    */
} us_target_t;

/* arg: a channel URL (…/channel/<slug>), a video URL (…/recorded/<id>) or
 * a bare video id ([A-Za-z0-9_-]+, its page is <site>/recorded/<id>).
 * 0, or -1 with why. */
int us_target_parse(const char *arg, const char *site, us_target_t *t, char *why, size_t n);

/* ---- documents ------------------------------------------------------------ */

/* The page's <meta name="ustream:channel_id" content="…">: 0, or -1. */
int us_page_channel_id(const char *html, size_t len, char *out, size_t n);

/* The registration reply's "hash" member as compact JSON text (malloc'd),
 * or NULL with why (the reply's own error message when it has one). */
char *us_reg_hash(const char *json, size_t len, char *why, size_t n);

typedef struct us_video_s {
    char id[128];
    char title[256];
    int64_t created;  /* Unix seconds, 0 = unknown */
    double length;    /* seconds, 0 = unknown      */
} us_video_t;

/* content.json's exposedVariables.videosData.videos: 0 with *v (malloc'd,
 * *n entries, possibly none), or -1 with why. */
int us_content_videos(const char *json, size_t len, us_video_t **v, size_t *n, char *why,
                      size_t wn);

/* ---- the websocket -------------------------------------------------------- */

/* The connect command, compact JSON (malloc'd). hash: us_reg_hash's text. */
char *us_connect_frame(const char *video, const char *referrer, const char *hash);

/* {rand} -> 8 distinct random digits without a leading zero, {video} ->
 * the id. 0, or -1 when it does not fit. */
int us_ums_url(const char *tmpl, const char *video, unsigned seed, char *out, size_t n);

/* A reject's cluster redirect: <scheme of ums>://<host>/1/ustream. */
int us_cluster_url(const char *ums, const char *host, char *out, size_t n);

typedef struct us_hashkey_s {
    int64_t chunk;
    char hash[128];
} us_hashkey_t;

typedef struct us_stream_s {
    char base[2048];      /* cdn + contentAccess path                       */
    char segment_url[512];/* the preset's segmentUrl, "%" twice             */
    us_hashkey_t *keys;   /* sorted by chunk                                */
    size_t nkeys;
    int64_t chunk_ms;     /* chunkTime, 0 = not given                       */
    double duration;      /* seconds, 0 = not given                         */
} us_stream_t;

enum {
    US_FRAME_OTHER = 0,   /* nothing the downloader needs (tracking, …)     */
    US_FRAME_STREAM,      /* *st filled                                     */
    US_FRAME_CLUSTER,     /* reject with a redirect: msg = the cluster host */
    US_FRAME_REJECT,      /* reject: msg = why (geo-locked, nonexistent, …) */
    US_FRAME_WARNING,     /* msg = code and message                         */
    US_FRAME_BAD = -1,    /* not a JSON command, or a stream we cannot use: msg */
};

/* One text frame. cdn: the chunk base URL (config); preset: the stream
 * wanted ("original"). */
int us_frame(const char *json, size_t len, const char *cdn, const char *preset, us_stream_t *st,
             char *msg, size_t n);
void us_stream_free(us_stream_t *st);

/* The first chunk (the smallest key). */
int64_t us_stream_first(const us_stream_t *st);
/* How many chunks from the first the length says there are (a last chunk
 * shorter than a second is not counted on: the downloader probes past the
 * plan anyway), 0 when the stream gives no length. */
int64_t us_stream_planned(const us_stream_t *st);
/* The hash of chunk c: the greatest key <= c. NULL before the first key. */
const char *us_stream_hash(const us_stream_t *st, int64_t c);
/* The chunk's URL: 0, or -1 (no hash, too long, template without two %). */
int us_chunk_url(const us_stream_t *st, int64_t c, char *out, size_t n);

/* A file name from a title: no '/', no control characters, no leading dot,
 * at most n-1 bytes cut on a UTF-8 boundary; "video" when nothing is left. */
void us_safe_name(const char *title, char *out, size_t n);

#endif
