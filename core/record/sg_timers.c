/* Timer rules: passes over the guide on a worker thread. See sg_timers.h. */
#include "record/sg_timers.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/sg_catalog.h"
#include "jobs/sg_worker.h"
#include "record/sg_record.h"
#include "sg/plugin.h"
#include "sg_script.h"
#include "util/sg_log.h"

#define SG_TIMERS_SETTLE 2      /* seconds: commits of one refresh coalesce  */
#define SG_TIMERS_WATCH 2       /* seconds between looks at the script file  */
#define SG_TIMERS_RUNAWAY 1000  /* budget blow-ups (~10 ms each) per pass    */
#define SG_TIMERS_ERRORS 5      /* rule errors logged one by one per pass    */

struct sg_timers_s {
    sg_daemon_t *d;
    sg_worker_t *w;
    /* worker thread */
    sg_script_t *script;
    sqlite3 *db;
    char catalog_path[PATH_MAX], rec_path[PATH_MAX];
    /* loop thread */
    struct event *settle, *watch;
    char path[PATH_MAX];        /* the script file watched ("" none)         */
    struct stat st;             /* as it was when last loaded (or tried)     */
    int64_t horizon;            /* programmes ending by this were looked at  */
    int64_t last_epg;           /* the latest EPG commit                     */
    unsigned gen;               /* script generation: a reload rescans       */
    int running, again;
    int closing;
};

typedef struct sg_pass_hit_s {
    char id[80];
    int64_t start;
    char title[256];
    sg_script_match_t m;
} sg_pass_hit_t;

typedef struct sg_pass_s {
    sg_timers_t *t;
    unsigned gen;
    int64_t from, to, now;
    sg_pass_hit_t *hits;
    size_t nhits, cap;
    int looked, errors, runaway, stopped;
    /* distinct rule errors: the message, how often, the first programme */
    struct {
        char msg[300], first[200];
        int n;
    } errs[SG_TIMERS_ERRORS];
    int nerrs;
    char fail[300];             /* the pass itself failed                    */
} sg_pass_t;

/* ---- worker thread ---------------------------------------------------------------- */

static void
sg_pass_add(sg_pass_t *ps, const char *id, int64_t start, const char *title,
            const sg_script_match_t *m)
{
    if (ps->nhits == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        sg_pass_hit_t *n = realloc(ps->hits, cap * sizeof(*n));
        if (n == NULL) return;
        ps->hits = n;
        ps->cap = cap;
    }
    snprintf(ps->hits[ps->nhits].id, sizeof(ps->hits[0].id), "%s", id);
    ps->hits[ps->nhits].start = start;
    snprintf(ps->hits[ps->nhits].title, sizeof(ps->hits[0].title), "%s", title);
    ps->hits[ps->nhits].m = *m;
    ps->nhits++;
}

static int
sg_pass_open(sg_timers_t *t, sg_pass_t *ps)
{
    sqlite3_stmt *st;
    int rc;
    if (t->db) return 0;
    rc = sqlite3_open_v2(t->catalog_path, &t->db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(t->db, 5000);
    if (rc == SQLITE_OK &&
        (rc = sqlite3_prepare_v2(t->db, "ATTACH DATABASE ? AS rec", -1, &st, NULL)) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->rec_path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        snprintf(ps->fail, sizeof(ps->fail), "%.150s: %.140s", t->catalog_path,
                 t->db ? sqlite3_errmsg(t->db) : "cannot open");
        sqlite3_close(t->db);
        t->db = NULL;
        return -1;
    }
    return 0;
}

static const char *
sg_col(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? (const char *)v : "";
}

static void
sg_pass_work(void *arg)
{
    sg_pass_t *ps = arg;
    sg_timers_t *t = ps->t;
    sqlite3_stmt *st;

    if (t->script == NULL || !sg_script_has_function(t->script, "match")) return;
    if (sg_pass_open(t, ps) != 0) return;
    /* ended in (from, to], still in the channel's archive, not in the
     * recordings index in any state (recorded, queued, deleted...) */
    if (sqlite3_prepare_v2(
            t->db,
            "SELECT c.id, c.name, p.title, p.series, p.season, p.episode, p.sub_title, p.start,"
            " p.stop, p.genre, p.description FROM programmes p JOIN channels c USING(cid)"
            " WHERE c.active AND (c.caps & ?) != 0 AND p.stop > ? AND p.stop <= ?"
            " AND (c.catchup_days = 0 OR p.start >= ? - c.catchup_days * 86400)"
            " AND NOT EXISTS (SELECT 1 FROM rec.recordings r WHERE r.channel = c.id"
            "  AND r.start = p.start) ORDER BY p.start",
            -1, &st, NULL) != SQLITE_OK) {
        snprintf(ps->fail, sizeof(ps->fail), "guide query: %s", sqlite3_errmsg(t->db));
        return;
    }
    sqlite3_bind_int(st, 1, (int)SG_CAP_CATCHUP);
    sqlite3_bind_int64(st, 2, ps->from);
    sqlite3_bind_int64(st, 3, ps->to);
    sqlite3_bind_int64(st, 4, ps->now);
    while (sqlite3_step(st) == SQLITE_ROW) {
        sg_script_prog_t p = {
            .channel = sg_col(st, 0), .channel_name = sg_col(st, 1), .title = sg_col(st, 2),
            .series = sg_col(st, 3), .season = sqlite3_column_int(st, 4),
            .episode = sqlite3_column_int(st, 5), .episode_title = sg_col(st, 6),
            .start = sqlite3_column_int64(st, 7), .genre = sg_col(st, 9),
            .description = sg_col(st, 10)};
        sg_script_match_t m;
        char err[300];
        int rc;

        p.duration = (int)(sqlite3_column_int64(st, 8) - p.start);
        p.is_series = p.series[0] != '\0' || p.season > 0 || p.episode > 0;
        ps->looked++;
        rc = sg_script_match(t->script, &p, &m, err, sizeof(err));
        if (rc == 1) {
            sg_pass_add(ps, p.channel, p.start, p.title, &m);
        } else if (rc < 0) {
            {
                int k = 0;
                while (k < ps->nerrs && strcmp(ps->errs[k].msg, err) != 0) k++;
                if (k == ps->nerrs && k < SG_TIMERS_ERRORS) {
                    snprintf(ps->errs[k].msg, sizeof(ps->errs[k].msg), "%s", err);
                    snprintf(ps->errs[k].first, sizeof(ps->errs[k].first), "\"%.120s\" on %s at %lld",
                             p.title, p.channel, (long long)p.start);
                    ps->nerrs++;
                }
                if (k < ps->nerrs) ps->errs[k].n++;
            }
            ps->errors++;
            /* a rule that runs away on one programme likely does on all:
             * a week of guide must not take hours */
            if (rc == -2 && ++ps->runaway >= SG_TIMERS_RUNAWAY) {
                ps->stopped = 1;
                break;
            }
        }
    }
    sqlite3_finalize(st);
}

typedef struct sg_swap_s {
    sg_timers_t *t;
    sg_script_t *script;
} sg_swap_t;

static void
sg_swap_work(void *arg)
{
    sg_swap_t *sw = arg;
    sg_script_free(sw->t->script);
    sw->t->script = sw->script;
}

/* ---- loop thread ------------------------------------------------------------------ */

static void sg_timers_kick(sg_timers_t *t);

static void
sg_pass_done(void *arg)
{
    sg_pass_t *ps = arg;
    sg_timers_t *t = ps->t;
    sg_recorder_t *r = t->closing ? NULL : t->d->recorder;
    int queued = 0;

    t->running = 0;
    if (ps->fail[0]) sg_log(SG_LOG_ERR, "timers", "pass failed: %s", ps->fail);
    for (int i = 0; i < ps->nerrs; i++) {
        sg_log(SG_LOG_WARN, "timers", "rule error on %d programmes, skipped (first %s): %s",
               ps->errs[i].n, ps->errs[i].first, ps->errs[i].msg);
    }
    if (ps->stopped) {
        sg_log(SG_LOG_ERR, "timers",
               "%s ran out of its instruction budget %d times: this pass stopped; fix the rules"
               " (they are reloaded when the file changes)",
               t->path, ps->runaway);
    }
    for (size_t i = 0; r && i < ps->nhits; i++) {
        const sg_pass_hit_t *h = &ps->hits[i];
        queued += sg_recorder_enqueue(r, h->id, h->start,
                                      &(sg_rec_rule_t){.title = h->title, .mp4 = h->m.mp4,
                                                       .vo = h->m.vo, .keep = h->m.keep,
                                                       .rule = h->m.rule, .folder = h->m.folder}) == 1;
    }
    if (ps->looked) {
        sg_log(SG_LOG_INFO, "timers", "pass: %d programmes looked at, %zu matched, %d queued",
               ps->looked, ps->nhits, queued);
    }
    /* only a pass of the current script moves the horizon: a reload
     * during the pass rescans */
    if (ps->gen == t->gen && !ps->fail[0] && !ps->stopped) t->horizon = ps->to;
    if (r) sg_recorder_retry(r);
    free(ps->hits);
    free(ps);
    if (t->again && !t->closing) {
        t->again = 0;
        sg_timers_kick(t);
    }
}

static void
sg_timers_settle_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_timers_t *t = arg;
    sg_pass_t *ps;
    (void)fd;
    (void)what;
    if (t->d->recorder == NULL) return; /* nothing to record into */
    if (t->running) {
        t->again = 1;
        return;
    }
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL) return;
    ps->t = t;
    ps->gen = t->gen;
    ps->now = (int64_t)time(NULL);
    ps->from = t->horizon;
    /* what ended before the latest EPG update (or now, before any) */
    ps->to = t->last_epg ? t->last_epg : ps->now;
    if (sg_worker_submit(t->w, sg_pass_work, sg_pass_done, ps) != 0) {
        free(ps);
        return;
    }
    t->running = 1;
}

static void
sg_timers_kick(sg_timers_t *t)
{
    struct timeval tv = {SG_TIMERS_SETTLE, 0};
    if (!evtimer_pending(t->settle, NULL)) evtimer_add(t->settle, &tv);
}

static void
sg_timers_epg_cb(void *arg, const char *plugin)
{
    sg_timers_t *t = arg;
    (void)plugin;
    t->last_epg = (int64_t)time(NULL);
    sg_timers_kick(t);
}

static int
sg_stat_same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void
sg_timers_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_timers_t *t = arg;
    struct stat st;
    (void)fd;
    (void)what;
    if (t->path[0] == '\0') return;
    if (stat(t->path, &st) != 0) memset(&st, 0, sizeof(st));
    if (sg_stat_same(&st, &t->st)) return;
    sg_log(SG_LOG_NOTICE, "timers", "%s changed: reloading", t->path);
    sg_timers_load(t->d, NULL);
    t->st = st; /* a broken file is tried again only when it changes again */
}

/* The new rules (or none) replace the old on the worker, between passes. */
static void
sg_timers_set(sg_timers_t *t, sg_script_t *s)
{
    sg_swap_t *sw = calloc(1, sizeof(*sw));
    if (sw) {
        sw->t = t;
        sw->script = s;
    }
    if (sw == NULL || sg_worker_submit(t->w, sg_swap_work, free, sw) != 0) {
        free(sw);
        sg_script_free(s);
        return;
    }
    snprintf(t->path, sizeof(t->path), "%s", s ? sg_script_path(s) : "");
    if (t->path[0] == '\0' || stat(t->path, &t->st) != 0) memset(&t->st, 0, sizeof(t->st));
    t->gen++;
    t->horizon = 0; /* new rules look at the whole archive */
    if (s) sg_timers_kick(t);
}

void
sg_timers_load(sg_daemon_t *d, sg_conf_errors_t *errs)
{
    const sg_conf_t *tm = sg_conf_group(d->conf.root, "timers", 0);
    const char *path = sg_conf_string(tm, "script");
    char err[1024];
    sg_script_t *s = NULL;

    if (path && path[0]) {
        s = sg_script_load(path, err, sizeof(err));
        if (s == NULL) {
            if (errs) {
                sg_conf_errors_add(errs, NULL, 0, "%s", err); /* "file:line: message" */
            } else {
                sg_log(SG_LOG_ERR, "script", "%s (the previous rules stay in force)", err);
            }
            return;
        }
        sg_log(SG_LOG_INFO, "script", "timer rules loaded from %s%s", path,
               sg_script_has_function(s, "match") ? ""
                                                  : " (no match() function: it records nothing)");
    }
    if (d->rules) {
        sg_timers_set(d->rules, s);
    } else {
        sg_script_free(d->timers);
        d->timers = s;
    }
}

sg_timers_t *
sg_timers_new(sg_daemon_t *d)
{
    sg_timers_t *t = calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    t->d = d;
    snprintf(t->catalog_path, sizeof(t->catalog_path), "%s/catalog.db", d->state_dir);
    snprintf(t->rec_path, sizeof(t->rec_path), "%s/recordings.db", d->state_dir);
    t->w = sg_worker_new(d->base, "timers");
    t->settle = evtimer_new(d->base, sg_timers_settle_cb, t);
    t->watch = event_new(d->base, -1, EV_PERSIST, sg_timers_watch_cb, t);
    if (t->w == NULL || t->settle == NULL || t->watch == NULL) {
        sg_timers_free(t);
        return NULL;
    }
    event_add(t->watch, &(struct timeval){SG_TIMERS_WATCH, 0});
    if (d->recorder == NULL && d->timers) {
        sg_log(SG_LOG_WARN, "timers",
               "timer rules are loaded but record nothing without recordings.dir");
    }
    sg_catalog_on_epg(d->catalog, sg_timers_epg_cb, t);
    d->rules = t;
    /* the script loaded at start moves to the worker */
    sg_timers_set(t, d->timers);
    d->timers = NULL;
    return t;
}

void
sg_timers_free(sg_timers_t *t)
{
    if (t == NULL) return;
    if (t->d->rules == t) {
        sg_catalog_on_epg(t->d->catalog, NULL, NULL);
        t->d->rules = NULL;
    }
    t->closing = 1;
    if (t->settle) event_free(t->settle);
    t->settle = NULL;
    if (t->watch) event_free(t->watch);
    /* finishes a pass under way (its done() sees no recorder by then) */
    sg_worker_free(t->w);
    sg_script_free(t->script);
    sqlite3_close(t->db);
    free(t);
}
