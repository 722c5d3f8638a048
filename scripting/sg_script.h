/*
 * Lua 5.4 sandbox for user scripts (timer rules). Only the base (without
 * dofile/loadfile/load/require), string, table, math and utf8 libraries and
 * our `sg` module are visible; every call runs under an instruction budget
 * and a memory cap, so a runaway or hostile script is stopped, logged and
 * skipped, never able to stall or crash the daemon.
 */
#ifndef SG_SCRIPT_H
#define SG_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sg_script_s sg_script_t;

#define SG_SCRIPT_BUDGET 10000000L      /* VM instructions: the top level */
#define SG_SCRIPT_CALL_BUDGET 1000000L  /* VM instructions: one match()  */
#define SG_SCRIPT_MEMORY (32u << 20)    /* bytes per script state   */

/* Load and run path's top level. NULL on failure with err holding
 * "file:line: message". */
sg_script_t *sg_script_load(const char *path, char *err, size_t errlen);
void sg_script_free(sg_script_t *s);
/* Is name a global function of the script? */
int sg_script_has_function(sg_script_t *s, const char *name);
const char *sg_script_path(sg_script_t *s);

/* A programme as match(p) sees it (strings never NULL). */
typedef struct sg_script_prog_s {
    const char *channel, *channel_name, *title, *series, *episode_title, *genre, *description;
    int season, episode, is_series;
    int64_t start;
    int duration;
} sg_script_prog_t;

/* What match(p) asked for. */
typedef struct sg_script_match_s {
    int vo, mp4;          /* -1: not said (the recordings defaults apply) */
    int keep;             /* keep the newest N of the rule; 0: all        */
    char folder[512];     /* "" = the usual naming                        */
    char rule[128];       /* the rule's name (keep groups); "" = none     */
} sg_script_match_t;

/* Call the script's match(p) under a fresh instruction budget: 1 record
 * (out filled), 0 not, -1 the call failed or returned a bad value, -2 the
 * budget ran out (err: "path:line: message" or a description). */
int sg_script_match(sg_script_t *s, const sg_script_prog_t *p, sg_script_match_t *out, char *err,
                    size_t errlen);

#endif
