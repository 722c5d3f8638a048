/* A bump allocator freed all at once (transactions, renders). */
#ifndef SG_ARENA_H
#define SG_ARENA_H

#include <stddef.h>

typedef struct sg_arena_block_s sg_arena_block_t;

typedef struct sg_arena_s {
    sg_arena_block_t *head;
    size_t used;       /* bytes handed out, for accounting */
} sg_arena_t;

void *sg_arena_alloc(sg_arena_t *a, size_t n);            /* zeroed, 8-aligned */
char *sg_arena_strdup(sg_arena_t *a, const char *s);      /* NULL stays NULL   */
void sg_arena_free(sg_arena_t *a);

#endif
