/*
 * The HLS-pull source of a session: a live playlist's media segments back
 * to back (see sg_hlsread.c). Owned by the session (host->session_hls).
 */
#ifndef SG_HLSREAD_H
#define SG_HLSREAD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sg_segfetch_s;
struct sg_net_s;
typedef struct sg_hlsread_s sg_hlsread_t;

typedef struct sg_hlsread_ops_s {
    /* Bytes for the client: 0 go on, 1 the client is full (call
     * sg_hlsread_resume when it drained), -1 the session is ending. */
    int (*write)(void *arg, const uint8_t *data, size_t len);
    /* The stream is over (why); the reader is freed by its owner. */
    void (*end)(void *arg, const char *why);
} sg_hlsread_ops_t;

sg_hlsread_t *sg_hlsread_new(struct sg_segfetch_s *f, struct sg_net_s *net, struct event_base *base,
                             const char *url, const sg_hlsread_ops_t *ops, void *arg);
void sg_hlsread_resume(sg_hlsread_t *h);
void sg_hlsread_free(sg_hlsread_t *h);

#endif
