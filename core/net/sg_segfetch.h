/*
 * Fetch-through over the segment cache (stream/sg_segcache.h): a segment
 * by URL, from the cache when it is there, else fetched once with the HTTP
 * client however many ask at the same moment, and kept for its TTL. Bodies
 * that are not what was asked for (a non-200 status, a text body, no
 * MPEG-TS sync when mpegts is set) are handed to no one and never cached.
 *
 * With a Redis server (cache.backend = "redis") the memory cache is the
 * first tier and Redis the second, shared by every node: a node missing a
 * segment GETs it from Redis; when it is not there it takes a lock key
 * (SET NX PX) and fetches it, storing it for the others, who poll for it
 * meanwhile. So N nodes fetch each segment once.
 * Behind host->seg_get (ABI 1.5).
 */
#ifndef SG_SEGFETCH_H
#define SG_SEGFETCH_H

#include "net/sg_net.h"

struct event_base;
#include "stream/sg_segcache.h"

typedef struct sg_segfetch_s sg_segfetch_t;

/* redis: "" (this node's memory only), "unix:/path" or "host:port" (the
 * shared tier: several nodes fetch each segment once; while it is
 * unreachable the cache is this node's memory, retried every 5 s). */
sg_segfetch_t *sg_segfetch_new(sg_net_t *net, struct event_base *base, size_t max_bytes,
                               const char *redis);
void sg_segfetch_free(sg_segfetch_t *f);
void sg_segfetch_metrics_init(sg_segfetch_t *f);

/* 1: a hit, *seg is a reference for the caller; 0: cb comes later (cancel
 * with sg_segfetch_cancel(*w) before it did); -1: refused (bad request,
 * out of memory), with *why. dns: the plugin's DNS server or NULL. */
int sg_segfetch_get(sg_segfetch_t *f, const sg_seg_req_t *req, const char *dns, sg_seg_ready_pt cb,
                    void *arg, sg_seg_t **seg, sg_segwait_t **w, const char **why);
void sg_segfetch_cancel(sg_segfetch_t *f, sg_segwait_t *w);
sg_segcache_t *sg_segfetch_cache(sg_segfetch_t *f);

#endif
