/*
 * Recording jobs: each recording is a streamgate-record child process that
 * reads one of the daemon's own catchup URLs (admission rank 10, so viewers
 * come first) into a hidden temporary file next to its final name; the
 * daemon validates the result (the written length against what was asked,
 * with recordings.short_tolerance; the same shortfall three times in a row
 * is kept as incomplete) and renames it into place, so no half file ever
 * carries a final name. The index is SQLite (<state_dir>/recordings.db).
 * Temporary files left by a crash or a kill are removed at the next start.
 *
 *   GET /record/{id}/{time}?duration=S&mp4=1&vo=1   start one (JSON)
 *   GET /{id}/{time}?record=1|S                      the same (movistar-u7d)
 *   GET /api/recordings                              the index (JSON)
 *   DELETE /api/recordings/{channel}/{start}         one recording (admin)
 */
#ifndef SG_RECORD_H
#define SG_RECORD_H

#include "http/sg_http.h"
#include "sg_daemon.h"

typedef struct sg_recorder_s sg_recorder_t;

/* NULL without recordings.dir (then /record answers 404), or on failure
 * (logged). */
sg_recorder_t *sg_recorder_new(sg_daemon_t *d);
/* Running recordings get SIGTERM (their temporary files go at the next
 * start); the index is closed. */
void sg_recorder_free(sg_recorder_t *r);
int sg_recorder_routes(sg_daemon_t *d);
/* Start a recording of channel id at the time form tail (the query's
 * duration=, record=S, mp4=, vo= apply) and answer req with JSON. */
void sg_record_http(sg_http_req_t *req, sg_daemon_t *d, const char *id, const char *tail);

/* What a timer rule asked for one programme. */
typedef struct sg_rec_rule_s {
    const char *title;     /* for the log and the index until it starts */
    int mp4, vo;           /* -1: the recordings defaults              */
    int keep;              /* newest N of the rule kept; 0: all        */
    const char *rule;      /* "" none                                  */
    const char *folder;    /* "" the usual naming                      */
} sg_rec_rule_t;

/* Queue the programme of channel id starting at start: 1 queued, 0 it is
 * in the index already (recorded, queued, deleted...), -1 error. The
 * queue starts recordings while there are free slots
 * (recordings.max_concurrent) and admission has room. */
int sg_recorder_enqueue(sg_recorder_t *r, const char *id, int64_t start, const sg_rec_rule_t *rule);
/* After an EPG update: short and failed recordings are queued again (up to
 * a number of attempts). */
void sg_recorder_retry(sg_recorder_t *r);
/* Admission ended the session with this query to make room for a viewer;
 * if it was a recording's (?rec=N), that one is queued again, its attempt
 * not counted. */
void sg_recorder_preempted(sg_recorder_t *r, const char *query);

#endif
