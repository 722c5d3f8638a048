/*
 * Timer rules: after each EPG update the Lua script's match(p) is called
 * for every programme that has ended since the previous pass (the whole
 * archive after the script was (re)loaded) and is not in the recordings
 * index yet; what it asks to record goes to the recorder's queue, and what
 * came out short or failed is queued again. So a recording starts only
 * once its programme has ended and an EPG update ran after that (schedule
 * changes are known by then).
 *
 * The script runs on a thread of its own (a pass over a week of guide is
 * thousands of calls, and a runaway rule burns its whole budget), never on
 * the event loop; the loop only hands over new scripts and takes the
 * matches back. The script is reloaded on SIGHUP and when its file changes.
 */
#ifndef SG_TIMERS_H
#define SG_TIMERS_H

#include "conf/sg_conf.h"
#include "sg_daemon.h"

typedef struct sg_timers_s sg_timers_t;

/* Needs d->catalog and d->recorder (NULL without recordings.dir: then the
 * rules are loaded and checked but record nothing). Takes d->timers. */
sg_timers_t *sg_timers_new(sg_daemon_t *d);
void sg_timers_free(sg_timers_t *t);

/* (Re)load timers.script: errs set (-t, start) collects a "file:line:"
 * error; without errs the error is logged and the previous rules stay. */
void sg_timers_load(sg_daemon_t *d, sg_conf_errors_t *errs);

#endif
