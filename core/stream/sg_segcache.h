/*
 * The segment cache: HLS segments (or any small immutable bodies) by key,
 * shared by every client and relay of the process.
 *
 * Memory bounded in bytes with least-recently-used eviction, a TTL per
 * entry, and single flight: however many ask for a key at once, the first
 * asker alone is told to fill it, the others wait and are all woken by that
 * one put (or fail). Entries are reference counted, so a client still
 * sending an evicted segment keeps its bytes alive; the byte bound counts
 * what the index holds.
 *
 * Pure data structure on the loop thread: it fetches nothing itself (the
 * fetch-through layer above it does), so it is unit-tested on its own.
 */
#ifndef SG_SEGCACHE_H
#define SG_SEGCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sg_segcache_s sg_segcache_t;
typedef struct sg_segwait_s sg_segwait_t;

typedef struct sg_seg_s {
    const uint8_t *data;
    size_t len;
    /* private below */
    struct sg_seg_s *hnext;              /* hash chain                    */
    struct sg_seg_s *lprev, *lnext;      /* LRU, most recent first        */
    int refs;
    int indexed;                         /* in the hash and the LRU       */
    int64_t expires_ms;
    uint32_t hash;
    char *key;
} sg_seg_t;

/* A waiter's callback: seg is a reference the callee owns (release with
 * sg_seg_unref), or NULL with the filler's status (an upstream HTTP status,
 * or 0) and why when the fill failed. */
typedef void (*sg_seg_ready_pt)(void *arg, sg_seg_t *seg, int status, const char *why);

typedef struct sg_segcache_stats_s {
    uint64_t hits, misses, fills, waits, evictions, expired, failures;
    size_t bytes, entries, inflight;
} sg_segcache_stats_t;

sg_segcache_t *sg_segcache_new(size_t max_bytes);
/* Waiters still registered are woken with a failure ("shutting down"). */
void sg_segcache_free(sg_segcache_t *c);

/*
 * Ask for key at now_ms.
 *  - cached and fresh: returns 1 and *seg (a reference for the caller);
 *  - being filled: returns 0, cb will be called (unless cancelled with
 *    sg_segcache_cancel(*w)), *fill = 0;
 *  - absent: returns 0, cb registered likewise, and *fill = 1: the caller
 *    must fill the key, later, with sg_segcache_put or sg_segcache_fail.
 * -1 when out of memory.
 */
int sg_segcache_get(sg_segcache_t *c, const char *key, int64_t now_ms, sg_seg_ready_pt cb,
                    void *arg, sg_seg_t **seg, sg_segwait_t **w, int *fill);
/* A waiter that no longer wants the answer (its client went away); only
 * before its callback ran. */
void sg_segcache_cancel(sg_segcache_t *c, sg_segwait_t *w);
/* The filler's result: stored (copied) for ttl_ms and handed to every
 * waiter; or a failure handed to every waiter and nothing stored. A put for
 * a key that nobody filled stores it as well (a prefetch). */
void sg_segcache_put(sg_segcache_t *c, const char *key, const void *data, size_t len,
                     int64_t ttl_ms, int64_t now_ms);
void sg_segcache_fail(sg_segcache_t *c, const char *key, int status, const char *why);
/* Whether key is being filled right now. */
int sg_segcache_inflight(sg_segcache_t *c, const char *key);

void sg_seg_ref(sg_seg_t *s);
void sg_seg_unref(sg_seg_t *s);

void sg_segcache_stats(sg_segcache_t *c, sg_segcache_stats_t *out);

#endif
