/* The segment cache (see sg_segcache.h). */
#include "stream/sg_segcache.h"

#include <stdlib.h>
#include <string.h>

#define SG_SEG_BUCKETS 1024 /* power of two; chains stay short at our sizes */

/* A key being filled and who waits for it. */
typedef struct sg_fill_s {
    struct sg_fill_s *next;
    char *key;
    uint32_t hash;
    sg_segwait_t *waiters;
} sg_fill_t;

struct sg_segwait_s {
    sg_segwait_t *next;
    sg_fill_t *fill;
    sg_seg_ready_pt cb;
    void *arg;
};

struct sg_segcache_s {
    size_t max_bytes;
    sg_seg_t *buckets[SG_SEG_BUCKETS];
    sg_seg_t *lru_head, *lru_tail;   /* head = most recently used */
    sg_fill_t *fills;
    sg_segcache_stats_t st;
};

static uint32_t
sg_seg_hash(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

sg_segcache_t *
sg_segcache_new(size_t max_bytes)
{
    sg_segcache_t *c = calloc(1, sizeof(*c));
    if (c) c->max_bytes = max_bytes;
    return c;
}

void
sg_seg_ref(sg_seg_t *s)
{
    s->refs++;
}

void
sg_seg_unref(sg_seg_t *s)
{
    if (s == NULL || --s->refs > 0) return;
    free(s->key);
    free(s); /* data lives in the same block */
}

/* Take s out of the index (the hash and the LRU); the index's reference
 * goes with it. */
static void
sg_seg_unindex(sg_segcache_t *c, sg_seg_t *s)
{
    sg_seg_t **pp = &c->buckets[s->hash & (SG_SEG_BUCKETS - 1)];
    while (*pp && *pp != s) pp = &(*pp)->hnext;
    if (*pp) *pp = s->hnext;
    if (s->lprev) {
        s->lprev->lnext = s->lnext;
    } else {
        c->lru_head = s->lnext;
    }
    if (s->lnext) {
        s->lnext->lprev = s->lprev;
    } else {
        c->lru_tail = s->lprev;
    }
    s->hnext = s->lprev = s->lnext = NULL;
    s->indexed = 0;
    c->st.bytes -= s->len;
    c->st.entries--;
    sg_seg_unref(s);
}

static void
sg_seg_touch(sg_segcache_t *c, sg_seg_t *s)
{
    if (c->lru_head == s) return;
    /* unlink */
    if (s->lprev) s->lprev->lnext = s->lnext;
    if (s->lnext) {
        s->lnext->lprev = s->lprev;
    } else {
        c->lru_tail = s->lprev;
    }
    /* to the front */
    s->lprev = NULL;
    s->lnext = c->lru_head;
    if (c->lru_head) c->lru_head->lprev = s;
    c->lru_head = s;
    if (c->lru_tail == NULL) c->lru_tail = s;
}

static sg_seg_t *
sg_seg_find(sg_segcache_t *c, const char *key, uint32_t h)
{
    for (sg_seg_t *s = c->buckets[h & (SG_SEG_BUCKETS - 1)]; s; s = s->hnext) {
        if (s->hash == h && strcmp(s->key, key) == 0) return s;
    }
    return NULL;
}

static sg_fill_t *
sg_fill_find(sg_segcache_t *c, const char *key, uint32_t h)
{
    for (sg_fill_t *f = c->fills; f; f = f->next) {
        if (f->hash == h && strcmp(f->key, key) == 0) return f;
    }
    return NULL;
}

static void
sg_fill_unlink(sg_segcache_t *c, sg_fill_t *f)
{
    for (sg_fill_t **pp = &c->fills; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    c->st.inflight--;
}

int
sg_segcache_get(sg_segcache_t *c, const char *key, int64_t now_ms, sg_seg_ready_pt cb, void *arg,
                sg_seg_t **seg, sg_segwait_t **w, int *fill)
{
    uint32_t h = sg_seg_hash(key);
    sg_seg_t *s = sg_seg_find(c, key, h);
    sg_fill_t *f;
    sg_segwait_t *wt;

    *seg = NULL;
    *w = NULL;
    *fill = 0;
    if (s && s->expires_ms > now_ms) {
        c->st.hits++;
        sg_seg_touch(c, s);
        sg_seg_ref(s);
        *seg = s;
        return 1;
    }
    if (s) {
        c->st.expired++;
        sg_seg_unindex(c, s);
    }
    c->st.misses++;
    f = sg_fill_find(c, key, h);
    if (f == NULL) {
        f = calloc(1, sizeof(*f));
        if (f == NULL || (f->key = strdup(key)) == NULL) {
            free(f);
            return -1;
        }
        f->hash = h;
        f->next = c->fills;
        c->fills = f;
        c->st.inflight++;
        c->st.fills++;
        *fill = 1;
    } else {
        c->st.waits++;
    }
    wt = calloc(1, sizeof(*wt));
    if (wt == NULL) {
        if (*fill) {
            sg_fill_unlink(c, f);
            free(f->key);
            free(f);
            *fill = 0;
        }
        return -1;
    }
    wt->fill = f;
    wt->cb = cb;
    wt->arg = arg;
    wt->next = f->waiters;
    f->waiters = wt;
    *w = wt;
    return 0;
}

void
sg_segcache_cancel(sg_segcache_t *c, sg_segwait_t *w)
{
    (void)c;
    if (w == NULL) return;
    for (sg_segwait_t **pp = &w->fill->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

/* Wake every waiter of f (each gets its own reference to s, or NULL) and
 * free f. A callback may call back into the cache. */
static void
sg_fill_done(sg_segcache_t *c, sg_fill_t *f, sg_seg_t *s, int status, const char *why)
{
    sg_segwait_t *w = f->waiters;
    sg_fill_unlink(c, f);
    f->waiters = NULL;
    while (w) {
        sg_segwait_t *next = w->next;
        if (s) sg_seg_ref(s);
        w->cb(w->arg, s, status, why);
        free(w);
        w = next;
    }
    free(f->key);
    free(f);
}

void
sg_segcache_put(sg_segcache_t *c, const char *key, const void *data, size_t len, int64_t ttl_ms,
                int64_t now_ms)
{
    uint32_t h = sg_seg_hash(key);
    sg_seg_t *s = sg_seg_find(c, key, h), *n;
    sg_fill_t *f = sg_fill_find(c, key, h);

    if (s) sg_seg_unindex(c, s);
    n = malloc(sizeof(*n) + len);
    if (n == NULL || (n->key = strdup(key)) == NULL) {
        free(n);
        if (f) {
            c->st.failures++;
            sg_fill_done(c, f, NULL, 0, "out of memory");
        }
        return;
    }
    memcpy(n + 1, data, len);
    n->data = (const uint8_t *)(n + 1);
    n->len = len;
    n->hnext = n->lprev = n->lnext = NULL;
    n->refs = 1; /* the index's */
    n->expires_ms = now_ms + ttl_ms;
    n->hash = h;
    n->indexed = 0;
    if (len <= c->max_bytes) {
        /* room: the least recently used go first */
        while (c->st.bytes + len > c->max_bytes && c->lru_tail) {
            c->st.evictions++;
            sg_seg_unindex(c, c->lru_tail);
        }
        n->hnext = c->buckets[h & (SG_SEG_BUCKETS - 1)];
        c->buckets[h & (SG_SEG_BUCKETS - 1)] = n;
        n->lnext = c->lru_head;
        if (c->lru_head) c->lru_head->lprev = n;
        c->lru_head = n;
        if (c->lru_tail == NULL) c->lru_tail = n;
        n->indexed = 1;
        c->st.bytes += len;
        c->st.entries++;
    }
    /* a segment larger than the whole cache still reaches its waiters; a
     * guard reference keeps n while they run (one may put and evict it) */
    {
        int was_indexed = n->indexed;
        sg_seg_ref(n);
        if (f) sg_fill_done(c, f, n, 200, NULL);
        if (!was_indexed) sg_seg_unref(n); /* the reference no index took */
        sg_seg_unref(n);
    }
}

void
sg_segcache_fail(sg_segcache_t *c, const char *key, int status, const char *why)
{
    sg_fill_t *f = sg_fill_find(c, key, sg_seg_hash(key));
    if (f == NULL) return;
    c->st.failures++;
    sg_fill_done(c, f, NULL, status, why ? why : "failed");
}

int
sg_segcache_inflight(sg_segcache_t *c, const char *key)
{
    return sg_fill_find(c, key, sg_seg_hash(key)) != NULL;
}

void
sg_segcache_stats(sg_segcache_t *c, sg_segcache_stats_t *out)
{
    *out = c->st;
}

void
sg_segcache_free(sg_segcache_t *c)
{
    if (c == NULL) return;
    while (c->fills) sg_fill_done(c, c->fills, NULL, 0, "shutting down");
    while (c->lru_head) sg_seg_unindex(c, c->lru_head);
    free(c);
}
