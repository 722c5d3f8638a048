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

typedef struct sg_script_s sg_script_t;

#define SG_SCRIPT_BUDGET 10000000L      /* VM instructions per call */
#define SG_SCRIPT_MEMORY (32u << 20)    /* bytes per script state   */

/* Load and run path's top level. NULL on failure with err holding
 * "file:line: message". */
sg_script_t *sg_script_load(const char *path, char *err, size_t errlen);
void sg_script_free(sg_script_t *s);
/* Is name a global function of the script? */
int sg_script_has_function(sg_script_t *s, const char *name);
const char *sg_script_path(sg_script_t *s);

#endif
