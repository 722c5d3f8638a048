#include "sg_arena.h"

#include <stdlib.h>
#include <string.h>

#define SG_ARENA_BLOCK 16384

struct sg_arena_block_s {
    sg_arena_block_t *next;
    size_t size, off;
    max_align_t data[];
};

void *
sg_arena_alloc(sg_arena_t *a, size_t n)
{
    sg_arena_block_t *b = a->head;
    void *p;

    n = (n + 7) & ~(size_t)7;
    if (b == NULL || b->size - b->off < n) {
        size_t size = n > SG_ARENA_BLOCK / 2 ? n : SG_ARENA_BLOCK;
        b = malloc(sizeof(*b) + size);
        if (b == NULL) return NULL;
        b->size = size;
        b->off = 0;
        if (n > SG_ARENA_BLOCK / 2 && a->head) {
            /* A big one-off block goes behind the current block. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    p = (char *)b->data + b->off;
    b->off += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *
sg_arena_strdup(sg_arena_t *a, const char *s)
{
    size_t n;
    char *d;
    if (s == NULL) return NULL;
    n = strlen(s) + 1;
    d = sg_arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

void
sg_arena_free(sg_arena_t *a)
{
    sg_arena_block_t *b, *next;
    for (b = a->head; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->used = 0;
}
