/*
 * plugins/hls_pvr: the archive on disk and its SQLite index.
 *
 * Writes happen on one thread of the store's own (segment files, index
 * rows, the cleaner): the event loop only hands finished downloads over.
 * Reads (playlists, coverage) use a read-only connection of the loop's; the
 * index is in WAL mode, so readers never wait for the writer.
 *
 * Layout: <dir>/<channel>/YYYY/MM/DD/HH/MM/SS-DDDDD.ts (UTC start, duration
 * in ms), index <dir>/index.db, table segments keyed by (channel, start_ms).
 */
#ifndef HP_STORE_H
#define HP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sg/plugin.h"

typedef struct hp_store_s hp_store_t;

/* One segment as archived. */
typedef struct hp_seg_s {
    int64_t start_ms, duration_ms, seq;
    int disc;          /* a discontinuity before it (reset, gap, re-anchor) */
    int64_t bytes;     /* on disk                                           */
    int64_t clear_bytes; /* before encryption (= bytes when clear)          */
    int64_t key_id;    /* 0 = stored in clear                               */
    char path[96];     /* relative to <dir>/<channel>/                      */
} hp_seg_t;

/* A key a channel's segments were encrypted with. */
typedef struct hp_key_s {
    int64_t id;
    char key[33], iv[33]; /* lowercase hex                                */
    char uri[512];        /* the EXT-X-KEY URI                            */
} hp_key_t;

/* A finished download handed to the store; body is malloc()ed and taken. */
typedef struct hp_put_s {
    char channel[64];
    int64_t start_ms, duration_ms, seq;
    int disc;
    char *uri;         /* the source URI (malloc()ed, taken)                */
    uint8_t *body;
    size_t len;
    int64_t key_id;    /* encrypt with this key (0 = clear)                 */
} hp_put_t;

/* Reported back on the loop for each put: stored (ok) or why not. */
typedef void (*hp_stored_pt)(void *arg, const char *channel, int ok, int64_t bytes,
                             const char *why);

/* n bytes from exactly 2n hex digits: 0, or -1. */
int hp_unhex(const char *hex, uint8_t *out, size_t n);

/* Open (and create) the index, start the writer thread. NULL with *why. */
hp_store_t *hp_store_open(const sg_host_t *h, sg_plugin_t *p, const char *dir,
                          hp_stored_pt stored, void *arg, char *why, size_t whylen);
void hp_store_close(hp_store_t *s);
/* Queue a put (taken in every case). SG_OK, or SG_BUSY when more than the
 * backlog limit waits (the put is dropped). */
int hp_store_put(hp_store_t *s, hp_put_t *put);
/* Retention of a channel: segments starting before now - depth_ms go, the
 * index rows and the files together; the cleaner runs every 10 s. */
void hp_store_depth(hp_store_t *s, const char *channel, int64_t depth_ms);
/* Bytes waiting for the writer. */
size_t hp_store_backlog(hp_store_t *s);

/* ---- reads (loop thread) ------------------------------------------------ */

/* The newest archived segment of a channel: SG_OK, SG_DECLINED when none. */
int hp_store_last(hp_store_t *s, const char *channel, hp_seg_t *out);
/* The first segment starting after after_ms: SG_OK, SG_DECLINED. */
int hp_store_next(hp_store_t *s, const char *channel, int64_t after_ms, hp_seg_t *out);
/* Segments overlapping [from_ms, to_ms) in start order: cb per segment,
 * stopping when it returns non-zero. Returns the count, -1 on error. */
long hp_store_range(hp_store_t *s, const char *channel, int64_t from_ms, int64_t to_ms,
                    int (*cb)(void *arg, const hp_seg_t *seg), void *arg);
/* A key by id (SG_OK / SG_DECLINED); a new key (its id, 0 on error). */
int hp_store_key(hp_store_t *s, int64_t id, hp_key_t *out);
int64_t hp_store_add_key(hp_store_t *s, const char *channel, const hp_key_t *k);
/* The absolute path of a segment file (NULL when the relative path is not
 * one the store writes: only the archive's own names are served). */
const char *hp_store_file(hp_store_t *s, const char *channel, const char *rel, char *buf,
                          size_t n);

#endif
