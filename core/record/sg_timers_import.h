/*
 * `streamgate timers-import FILE`: movistar-u7d's timers.conf (TOML, or
 * JSON of the same shape) as our Lua timer rules. The output is the
 * template (etc/timers.lua, built into the binary) with its data section,
 * the lines from "-- BEGIN TIMERS" to "-- END TIMERS", replaced by the
 * imported `local timers = { ... }` table; the template's engine applies
 * the u7d semantics (and rewrites the Python regexes) when it is loaded.
 */
#ifndef SG_TIMERS_IMPORT_H
#define SG_TIMERS_IMPORT_H

#include <stddef.h>
#include <stdio.h>

/* Convert text (len bytes, need not be NUL-terminated) read from the file
 * called name. Writes the whole Lua script to out and returns 0; on a
 * syntax or type error writes nothing to out and returns -1 with err set to
 * "name:line: message" (line 0 when no line applies). Warnings (an entry
 * with a bad option, which the engine will skip) go to warn, when not
 * NULL, as "name:line: warning: message\n" lines; they also appear as
 * comments in the output. */
int sg_timers_import(const char *name, const char *text, size_t len, const char *template_lua,
                     FILE *out, FILE *warn, char *err, size_t errlen);

/* etc/timers.lua as built into the binary. */
const char *sg_timers_template(void);

/* The subcommand: argv[0] is "timers-import". Returns the exit status:
 * 0 done, 1 an error (printed to stderr as "streamgate: FILE:LINE: ..."). */
int sg_timers_import_main(int argc, char **argv);

#endif
