/* Recording jobs: child processes, validation, the index. See sg_record.h. */
#include "record/sg_record.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "conf/sg_conf.h"
#include "http/sg_http.h"
#include "http/sg_timespec.h"
#include "plugin/sg_plugin.h"
#include "record/sg_recname.h"
#include "stream/sg_hub.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

extern char **environ;

#define SG_REC_OUT 4096 /* the child's JSON line, at most */
#define SG_REC_EQUAL 3  /* the same shortfall this often: kept */
#define SG_REC_TRIES 6  /* attempts (pre-emptions aside) before giving up */
#define SG_REC_TICK 15  /* seconds: the queue is looked at this often */

typedef struct sg_recjob_s sg_recjob_t;

struct sg_recorder_s {
    sg_daemon_t *d;
    char dir[2048];
    int max, tolerance, mp4, vo, per_channel;
    sqlite3 *db;
    struct event *sigchld;
    struct event *sched;   /* the queue: deferred, and every SG_REC_TICK s */
    sg_recjob_t *jobs;
    int njobs;
    unsigned seq;          /* job ids, in the recorder's URL (?rec=)       */
    int room_logged;
};

struct sg_recjob_s {
    sg_recjob_t *prev, *next;
    sg_recorder_t *rec;
    pid_t pid;
    int fd;
    struct event *rd;
    char out[SG_REC_OUT];
    size_t outlen;
    int eof, exited, status;
    unsigned id;
    int preempted;         /* admission took its source for a viewer       */
    int cancelled;         /* DELETE: its row is gone already              */
    char channel[80];
    int64_t start;
    int duration;
    char rel[1024], tmp[PATH_MAX], final_path[PATH_MAX];
    char subs_tmp[PATH_MAX], subs_path[PATH_MAX]; /* MP4: the subtitles beside */
};

/* What to record: from /record, ?record= or a queued row. */
typedef struct sg_rec_ask_s {
    const char *id;        /* catalog channel id                           */
    int64_t start;
    int64_t duration;      /* 0: the programme from start, plus a margin   */
    int mp4, vo;
    const char *folder;    /* "" or NULL: the usual naming                 */
} sg_rec_ask_t;

static void sg_rec_schedule_soon(sg_recorder_t *r);

/* ---- index ------------------------------------------------------------------ */

static int
sg_rec_db_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

/* One statement with its arguments: "t" text (NULL binds NULL), "i"
 * int64, "d" double, "n" null; SQLITE_DONE, or the error (logged). */
static int
sg_rec_exec(sg_recorder_t *r, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int rc;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "record", "index: %s", sqlite3_errmsg(r->db));
        return SQLITE_ERROR;
    }
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') {
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        } else if (types[i] == 'i') {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else if (types[i] == 'd') {
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
        } else {
            sqlite3_bind_null(st, i + 1);
        }
    }
    va_end(ap);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sg_log(SG_LOG_ERR, "record", "index: %s", sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    return rc;
}

static int
sg_rec_db_open(sg_recorder_t *r, const char *state_dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/recordings.db", state_dir);
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(r->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS recordings("
                     " channel TEXT NOT NULL, start INTEGER NOT NULL, duration INTEGER NOT NULL,"
                     " pid TEXT, title TEXT, path TEXT NOT NULL, state TEXT NOT NULL,"
                     " attempts INTEGER NOT NULL DEFAULT 0, shortfalls TEXT NOT NULL DEFAULT '',"
                     " written REAL NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,"
                     " PRIMARY KEY(channel, start)) WITHOUT ROWID;"
                     /* what was recording when the daemon went away did not finish */
                     "UPDATE recordings SET state='failed' WHERE state='recording';",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "record", "%s: %s", path, r->db ? sqlite3_errmsg(r->db) : "cannot open");
        return -1;
    }
    /* version 1: timers queue rows with their rule's options */
    if (sg_rec_db_version(r->db) < 1 &&
        sqlite3_exec(r->db,
                     "BEGIN;"
                     "ALTER TABLE recordings ADD COLUMN origin TEXT NOT NULL DEFAULT 'request';"
                     "ALTER TABLE recordings ADD COLUMN mp4 INTEGER NOT NULL DEFAULT 0;"
                     "ALTER TABLE recordings ADD COLUMN vo INTEGER NOT NULL DEFAULT 0;"
                     "ALTER TABLE recordings ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;"
                     "ALTER TABLE recordings ADD COLUMN rule TEXT NOT NULL DEFAULT '';"
                     "ALTER TABLE recordings ADD COLUMN folder TEXT NOT NULL DEFAULT '';"
                     "CREATE INDEX IF NOT EXISTS recordings_state ON recordings(state, start);"
                     "PRAGMA user_version=1; COMMIT;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "record", "%s: cannot upgrade: %s", path, sqlite3_errmsg(r->db));
        return -1;
    }
    return 0;
}

static void
sg_rec_db_begin(sg_recorder_t *r, const sg_recjob_t *j, const char *pid, const char *title, int mp4,
                int vo)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO recordings(channel, start, duration, pid, title, path, state,"
                           " attempts, updated, mp4, vo) VALUES(?,?,?,?,?,?,'recording',1,?,?,?)"
                           " ON CONFLICT(channel, start) DO UPDATE SET duration=excluded.duration,"
                           " pid=excluded.pid, title=excluded.title, path=excluded.path,"
                           " state='recording', attempts=attempts+1, updated=excluded.updated,"
                           " mp4=excluded.mp4, vo=excluded.vo",
                           -1, &st, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "record", "index: %s", sqlite3_errmsg(r->db));
        return;
    }
    sqlite3_bind_text(st, 1, j->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->start);
    sqlite3_bind_int(st, 3, j->duration);
    sqlite3_bind_text(st, 4, pid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, j->rel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
    sqlite3_bind_int(st, 8, mp4);
    sqlite3_bind_int(st, 9, vo);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "record", "index: %s", sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
}

/* The shortfalls so far ("12,12,"), newest last. */
static void
sg_rec_db_shortfalls(sg_recorder_t *r, const sg_recjob_t *j, char *out, size_t n)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(r->db, "SELECT shortfalls FROM recordings WHERE channel=? AND start=?",
                           -1, &st, NULL) != SQLITE_OK) {
        return;
    }
    sqlite3_bind_text(st, 1, j->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->start);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
}

static void
sg_rec_db_end(sg_recorder_t *r, const sg_recjob_t *j, const char *state, const char *shortfalls,
              double written)
{
    /* shortfalls NULL: the list stays as it is */
    sg_rec_exec(r,
                "UPDATE recordings SET state=?, shortfalls=coalesce(?, shortfalls), written=?,"
                " updated=? WHERE channel=? AND start=?",
                "ttditi", state, shortfalls, written, (int64_t)time(NULL), j->channel, j->start);
}

/* ---- a job ends ----------------------------------------------------------------- */

static void
sg_rec_job_free(sg_recjob_t *j)
{
    sg_recorder_t *r = j->rec;
    SG_LIST_REMOVE(&r->jobs, j);
    r->njobs--;
    if (j->rd) event_free(j->rd);
    if (j->fd >= 0) close(j->fd);
    free(j);
    sg_rec_schedule_soon(r); /* a slot is free */
}

/* A recording's files: the video, the subtitles and cover beside it, and
 * its folder when that was its last file. */
static int
sg_rec_remove(sg_recorder_t *r, const char *rel)
{
    char path[PATH_MAX], *dot;
    if (snprintf(path, sizeof(path), "%s/%s", r->dir, rel) >= (int)sizeof(path)) return -1;
    if (unlink(path) != 0 && errno != ENOENT) return -1;
    dot = strrchr(path, '.');
    if (dot && strchr(dot, '/') == NULL) {
        static const char *const side[] = {".mks", ".jpg", ".png", NULL};
        for (const char *const *e = side; *e; e++) {
            snprintf(dot, sizeof(path) - (size_t)(dot - path), "%s", *e);
            unlink(path);
        }
    }
    *strrchr(path, '/') = '\0';
    if (strcmp(path, r->dir) != 0) rmdir(path); /* fails unless empty */
    return 0;
}

/* keep = N: only the newest N recordings of the rule stay. */
static void
sg_rec_prune(sg_recorder_t *r, const sg_recjob_t *j)
{
    sqlite3_stmt *st;
    char rule[128] = "";
    int keep = 0;

    if (sqlite3_prepare_v2(r->db, "SELECT keep, rule FROM recordings WHERE channel=? AND start=?",
                           -1, &st, NULL) != SQLITE_OK) {
        return;
    }
    sqlite3_bind_text(st, 1, j->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->start);
    if (sqlite3_step(st) == SQLITE_ROW) {
        keep = sqlite3_column_int(st, 0);
        snprintf(rule, sizeof(rule), "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (keep <= 0 || rule[0] == '\0') return;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT channel, start, path FROM recordings WHERE rule=? AND"
                           " state IN ('done','incomplete') ORDER BY start DESC LIMIT -1 OFFSET ?",
                           -1, &st, NULL) != SQLITE_OK) {
        return;
    }
    sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, keep);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *ch = (const char *)sqlite3_column_text(st, 0);
        int64_t start = sqlite3_column_int64(st, 1);
        const char *rel = (const char *)sqlite3_column_text(st, 2);
        if (sg_rec_remove(r, rel) != 0) {
            sg_log(SG_LOG_WARN, "record", "%s: cannot remove: %s", rel, strerror(errno));
            continue;
        }
        sg_log(SG_LOG_NOTICE, "record", "%s: removed, rule \"%s\" keeps the newest %d", rel, rule,
               keep);
        /* the row stays, marked, so a later pass does not record it again */
        sg_rec_exec(r, "UPDATE recordings SET state='deleted', updated=? WHERE channel=? AND start=?",
                    "iti", (int64_t)time(NULL), ch, start);
    }
    sqlite3_finalize(st);
}

/* The video went into place: the subtitles beside it too, then keep. */
static void
sg_rec_kept(sg_recjob_t *j)
{
    if (j->subs_tmp[0] && rename(j->subs_tmp, j->subs_path) != 0 && errno != ENOENT) {
        sg_log(SG_LOG_WARN, "record", "%s: subtitles not kept: %s", j->rel, strerror(errno));
        unlink(j->subs_tmp);
    }
    sg_rec_prune(j->rec, j);
}

static void
sg_rec_discard(sg_recjob_t *j)
{
    unlink(j->tmp);
    if (j->subs_tmp[0]) unlink(j->subs_tmp);
}

/* Both the result line and the exit are in: keep, retry or drop. */
static void
sg_rec_finish(sg_recjob_t *j)
{
    sg_recorder_t *r = j->rec;
    json_t *res = json_loadb(j->out, j->outlen, JSON_DISABLE_EOF_CHECK, NULL);
    int ok = WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0 &&
             json_is_true(json_object_get(res, "ok"));
    double got = json_real_value(json_object_get(res, "duration"));
    const char *err = json_string_value(json_object_get(res, "error"));
    char sf[256], list[300];
    int shortfall, equal = 0;

    if (j->cancelled) {
        sg_rec_discard(j);
        sg_log(SG_LOG_NOTICE, "record", "%s: cancelled", j->rel);
        json_decref(res);
        sg_rec_job_free(j);
        return;
    }
    if (j->preempted) {
        /* a viewer needed its source: queued again, the attempt not counted */
        sg_rec_discard(j);
        sg_rec_exec(r,
                    "UPDATE recordings SET state='queued', attempts=max(attempts-1,0), updated=?"
                    " WHERE channel=? AND start=?",
                    "iti", (int64_t)time(NULL), j->channel, j->start);
        sg_log(SG_LOG_NOTICE, "record", "%s: pre-empted for a viewer; queued again", j->rel);
        json_decref(res);
        sg_rec_job_free(j);
        return;
    }
    if (!ok) {
        sg_rec_discard(j);
        sg_rec_db_end(r, j, "failed", NULL, 0);
        if (WIFSIGNALED(j->status)) {
            sg_log(SG_LOG_WARN, "record", "%s: the recorder was killed (signal %d); nothing kept",
                   j->rel, WTERMSIG(j->status));
        } else {
            sg_log(SG_LOG_WARN, "record", "%s: failed: %s", j->rel, err && err[0] ? err : "no result");
        }
        json_decref(res);
        sg_rec_job_free(j);
        return;
    }
    shortfall = j->duration - (int)(got + 0.5);
    if (shortfall <= r->tolerance) {
        if (rename(j->tmp, j->final_path) != 0) {
            sg_log(SG_LOG_ERR, "record", "%s: cannot rename into place: %s", j->rel, strerror(errno));
            sg_rec_discard(j);
            sg_rec_db_end(r, j, "failed", NULL, got);
        } else {
            sg_log(SG_LOG_NOTICE, "record", "%s: recorded, %.1f s", j->rel, got);
            sg_rec_db_end(r, j, "done", NULL, got);
            sg_rec_kept(j);
        }
        json_decref(res);
        sg_rec_job_free(j);
        return;
    }
    /* Short: kept only after the same shortfall SG_REC_EQUAL times in a row
     * (Movistar's copy is that long), else dropped to be tried again. */
    sg_rec_db_shortfalls(r, j, sf, sizeof(sf));
    snprintf(list, sizeof(list), "%s%d,", strlen(sf) > 200 ? "" : sf, shortfall);
    {
        int last[SG_REC_EQUAL] = {0}, n = 0;
        for (char *p = list; *p;) {
            int v = atoi(p);
            for (int k = SG_REC_EQUAL - 1; k > 0; k--) last[k] = last[k - 1];
            last[0] = v;
            n++;
            p = strchr(p, ',');
            if (p == NULL) break;
            p++;
        }
        if (n >= SG_REC_EQUAL) {
            equal = 1;
            for (int k = 1; k < SG_REC_EQUAL; k++) equal &= abs(last[k] - last[0]) <= 1;
        }
    }
    if (equal && rename(j->tmp, j->final_path) == 0) {
        sg_log(SG_LOG_NOTICE, "record", "%s: %d s short %d times in a row: kept as incomplete",
               j->rel, shortfall, SG_REC_EQUAL);
        sg_rec_db_end(r, j, "incomplete", list, got);
        sg_rec_kept(j);
    } else {
        sg_rec_discard(j);
        sg_log(SG_LOG_WARN, "record", "%s: %d s short of %d s; dropped, to be tried again", j->rel,
               shortfall, j->duration);
        sg_rec_db_end(r, j, "short", list, got);
    }
    json_decref(res);
    sg_rec_job_free(j);
}

static void
sg_rec_read_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_recjob_t *j = arg;
    ssize_t n;
    char scratch[512];
    (void)what;
    if (j->outlen < sizeof(j->out)) {
        n = read(fd, j->out + j->outlen, sizeof(j->out) - j->outlen);
    } else {
        n = read(fd, scratch, sizeof(scratch)); /* more than a result line: ignored */
    }
    if (n > 0) {
        if (j->outlen < sizeof(j->out)) j->outlen += (size_t)n;
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    event_del(j->rd);
    close(j->fd);
    j->fd = -1;
    j->eof = 1;
    if (j->exited) sg_rec_finish(j);
}

static void
sg_rec_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    sg_recorder_t *r = arg;
    sg_recjob_t *j, *next;
    (void)sig;
    (void)what;
    for (j = r->jobs; j; j = next) {
        int st;
        next = j->next;
        if (j->exited || waitpid(j->pid, &st, WNOHANG) != j->pid) continue;
        j->exited = 1;
        j->status = st;
        if (j->eof) sg_rec_finish(j);
    }
}

/* ---- a job starts ---------------------------------------------------------------- */

static int
sg_rec_spawn(sg_recorder_t *r, sg_recjob_t *j, const char *url, int mp4, int vo,
             const sg_prog_hit_t *p, const char *channel_name)
{
    posix_spawn_file_actions_t fa;
    char secs[32], season[16], episode[16], date[32];
    const char *argv[32];
    int pfd[2], n = 0, rc;
    struct tm tm;
    time_t t = (time_t)j->start;

    if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
    snprintf(secs, sizeof(secs), "%d", j->duration);
    snprintf(season, sizeof(season), "%d", p->season);
    snprintf(episode, sizeof(episode), "%d", p->episode);
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
    argv[n++] = r->d->recorder_bin;
    argv[n++] = url;
    argv[n++] = j->tmp;
    argv[n++] = "--seconds";
    argv[n++] = secs;
    if (mp4) argv[n++] = "--mp4";
    if (vo) argv[n++] = "--vo";
    if (j->subs_tmp[0]) {
        argv[n++] = "--subs";
        argv[n++] = j->subs_tmp;
    }
    if (p->title[0]) {
        argv[n++] = "--title";
        argv[n++] = p->title;
    }
    argv[n++] = "--channel";
    argv[n++] = channel_name;
    argv[n++] = "--date";
    argv[n++] = date;
    if (p->series[0]) {
        argv[n++] = "--series";
        argv[n++] = p->series;
        argv[n++] = "--season";
        argv[n++] = season;
        argv[n++] = "--episode";
        argv[n++] = episode;
    }
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    /* nothing of the daemon's (client sockets above all) leaks into it */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    rc = posix_spawn(&j->pid, r->d->recorder_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        errno = rc;
        return -1;
    }
    j->fd = pfd[0];
    evutil_make_socket_nonblocking(j->fd);
    j->rd = event_new(r->d->base, j->fd, EV_READ | EV_PERSIST, sg_rec_read_cb, j);
    if (j->rd) event_add(j->rd, NULL);
    return 0;
}

/* The recorded length: what was asked, or the programme from T plus a
 * margin (Movistar's copies run longer than the guide says). */
static int
sg_rec_length(const sg_prog_hit_t *p, int64_t at, int64_t asked)
{
    int64_t d;
    if (asked > 0) return (int)asked;
    d = p->stop - at;
    return (int)(d + (d <= 1800 ? 60 : d <= 7200 ? 300 : 600));
}

/* rel's file name under folder (a rule's "a/b"), every part made safe. */
static int
sg_rec_refolder(char *rel, size_t n, const char *folder)
{
    char out[1024], part[256], comp[256];
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    size_t len = 0;

    out[0] = '\0';
    for (const char *f = folder; *f;) {
        size_t k = strcspn(f, "/");
        snprintf(comp, sizeof(comp), "%.*s", (int)(k < sizeof(comp) ? k : sizeof(comp) - 1), f);
        f += k + (f[k] == '/');
        if (comp[0] == '\0' || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) continue;
        if (sg_recname_safe(comp, part, sizeof(part)) == 0) continue;
        if (len + strlen(part) + 2 >= sizeof(out)) return -1;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s/", part);
    }
    if (len == 0) return 0;
    if (len + strlen(base) + 1 > n || len + strlen(base) >= sizeof(out)) return -1;
    snprintf(out + len, sizeof(out) - len, "%s", base);
    snprintf(rel, n, "%s", out);
    return 0;
}

/* Whether rel belongs to another recording: a running one, a file there,
 * or a row of another programme that will have it. */
static int
sg_rec_name_taken(sg_recorder_t *r, const char *rel, const char *channel, int64_t start)
{
    char path[PATH_MAX];
    struct stat st;
    sqlite3_stmt *q;
    int taken = 0;

    for (sg_recjob_t *j = r->jobs; j; j = j->next) {
        if (strcmp(j->rel, rel) == 0) return 1;
    }
    if (snprintf(path, sizeof(path), "%s/%s", r->dir, rel) >= (int)sizeof(path) ||
        lstat(path, &st) == 0) {
        return 1;
    }
    if (sqlite3_prepare_v2(r->db,
                           "SELECT 1 FROM recordings WHERE path=? AND NOT (channel=? AND start=?)"
                           " AND state IN ('done','incomplete','recording')",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, rel, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, start);
        taken = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
    }
    return taken;
}

/* "<name> - YYYYMMDD HHMM[ - Channel].<ext>": two airings of one title
 * apart (on two channels at once too). */
static int
sg_rec_dated(char *rel, size_t n, int64_t start, const char *channel)
{
    char *dot = strrchr(rel, '.'), ext[16], date[200], safe[128] = "";
    time_t t = (time_t)start;
    struct tm tm;
    size_t len;
    if (dot == NULL || strchr(dot, '/') || strlen(dot) >= sizeof(ext)) return -1;
    snprintf(ext, sizeof(ext), "%s", dot);
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), " - %Y%m%d %H%M", &tm);
    if (channel && sg_recname_safe(channel, safe, sizeof(safe)) > 0) {
        snprintf(date + strlen(date), sizeof(date) - strlen(date), " - %s", safe);
    }
    len = (size_t)(dot - rel);
    if (len + strlen(date) + strlen(ext) >= n) return -1;
    snprintf(dot, n - len, "%s%s", date, ext);
    return 0;
}

/* Start a recording; the job, or NULL with an HTTP status and a reason. */
static sg_recjob_t *
sg_rec_start(sg_recorder_t *r, const sg_rec_ask_t *a, sg_prog_hit_t *hit, int *status, char *why,
             size_t whylen)
{
    sg_daemon_t *d = r->d;
    char name[1024], dir[PATH_MAX], url[600];
    const sg_chan_t *ch;
    sg_plugin_t *p;
    sg_recjob_t *j;
    int hidden;
    int64_t now = (int64_t)time(NULL);

#define SG_REC_FAIL(st, ...)                       \
    do {                                           \
        *status = (st);                            \
        snprintf(why, whylen, __VA_ARGS__);        \
        return NULL;                               \
    } while (0)

    ch = sg_catalog_channel(d->catalog, a->id);
    if (ch == NULL) SG_REC_FAIL(404, "unknown channel \"%s\"", a->id);
    p = sg_plugin_find(d, ch->plugin);
    if (p == NULL || !(ch->caps & SG_CAP_CATCHUP)) {
        SG_REC_FAIL(404, "channel \"%s\" has no catchup to record from", a->id);
    }
    if (ch->catchup_days > 0 && a->start < now - (int64_t)ch->catchup_days * 86400) {
        SG_REC_FAIL(410, "%lld has left channel %s's %d-day archive", (long long)a->start, a->id,
                    ch->catchup_days);
    }
    memset(hit, 0, sizeof(*hit));
    if (sg_catalog_programme_at(d->catalog, ch->plugin, ch->provider_id, a->start, 0, hit) !=
            SG_OK &&
        a->duration <= 0) {
        SG_REC_FAIL(404, "no programme on channel \"%s\" at that time; give ?duration=", a->id);
    }
    if (hit->title[0] == '\0') snprintf(hit->title, sizeof(hit->title), "%s", ch->name);
    for (j = r->jobs; j; j = j->next) {
        if (strcmp(j->channel, a->id) == 0 && j->start == a->start) {
            SG_REC_FAIL(409, "already recording %.250s", j->rel);
        }
    }
    if (r->njobs >= r->max) {
        SG_REC_FAIL(503, "%d recordings are under way (recordings.max_concurrent)", r->njobs);
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) SG_REC_FAIL(500, "out of memory");
    j->rec = r;
    j->fd = -1;
    j->id = ++r->seq;
    snprintf(j->channel, sizeof(j->channel), "%s", a->id);
    j->start = a->start;
    j->duration = sg_rec_length(hit, a->start, a->duration);
    if (sg_recname(&(sg_recname_in_t){.title = hit->title, .series = hit->series,
                                      .season = hit->season, .episode = hit->episode,
                                      .episode_title = hit->sub_title, .genre = hit->genre,
                                      .start = a->start, .channel = ch->name,
                                      .channel_number = ch->number,
                                      .per_channel = r->per_channel, .ext = a->mp4 ? "mp4" : "mkv"},
                   j->rel, sizeof(j->rel)) == 0 ||
        (a->folder && a->folder[0] && sg_rec_refolder(j->rel, sizeof(j->rel), a->folder) != 0)) {
        free(j);
        SG_REC_FAIL(500, "the recording's name does not fit");
    }
    if (sg_rec_name_taken(r, j->rel, a->id, a->start)) {
        char plain[sizeof(j->rel)];
        snprintf(plain, sizeof(plain), "%s", j->rel);
        if (sg_rec_dated(j->rel, sizeof(j->rel), a->start, NULL) != 0 ||
            sg_rec_name_taken(r, j->rel, a->id, a->start)) {
            snprintf(j->rel, sizeof(j->rel), "%s", plain);
            if (sg_rec_dated(j->rel, sizeof(j->rel), a->start, ch->name) != 0) j->rel[0] = '\0';
        }
    }
    if (j->rel[0] == '\0' || sg_rec_name_taken(r, j->rel, a->id, a->start)) {
        *status = 409;
        snprintf(why, whylen, "another recording has the name %.250s", j->rel);
        free(j);
        return NULL;
    }
    /* the temporary files: hidden, beside the final ones */
    snprintf(dir, sizeof(dir), "%s/%s", r->dir, j->rel);
    *strrchr(dir, '/') = '\0';
    snprintf(name, sizeof(name), "%s", strrchr(j->rel, '/') + 1);
    hidden = snprintf(j->tmp, sizeof(j->tmp), "%s/.%s.tmp", dir, name);
    snprintf(j->final_path, sizeof(j->final_path), "%s/%s", r->dir, j->rel);
    if (a->mp4) {
        /* MP4 cannot hold DVB subtitles: they go beside it, name.mks */
        *strrchr(name, '.') = '\0';
        if (snprintf(j->subs_tmp, sizeof(j->subs_tmp), "%s/.%s.mks.tmp", dir, name) >=
                (int)sizeof(j->subs_tmp) ||
            snprintf(j->subs_path, sizeof(j->subs_path), "%s/%s.mks", dir, name) >=
                (int)sizeof(j->subs_path)) {
            hidden = -1; /* does not fit */
        }
    }
    snprintf(url, sizeof(url), "%s/%s/archive-%lld-%d.ts?priority=10&rec=%u", d->base_url, a->id,
             (long long)a->start, j->duration, j->id);
    if (hidden <= 0 || (size_t)hidden >= sizeof(j->tmp) || sg_mkdir_p(dir, 0755) != 0 ||
        sg_rec_spawn(r, j, url, a->mp4, a->vo, hit, ch->name) != 0) {
        sg_log(SG_LOG_ERR, "record", "%s: cannot start the recorder %s: %s", j->rel,
               d->recorder_bin, strerror(errno));
        free(j);
        SG_REC_FAIL(500, "the recorder could not be started; see the log");
    }
#undef SG_REC_FAIL
    SG_LIST_PUSH(&r->jobs, j);
    r->njobs++;
    sg_rec_db_begin(r, j, hit->pid, hit->title, a->mp4, a->vo);
    sg_log(SG_LOG_INFO, "record", "%s: recording %s from %lld for %d s (recorder %d)", j->rel,
           a->id, (long long)a->start, j->duration, (int)j->pid);
    return j;
}

void
sg_record_http(sg_http_req_t *req, sg_daemon_t *d, const char *id, const char *tail)
{
    sg_recorder_t *r = d->recorder;
    const char *why = NULL;
    char q[64], reason[300];
    sg_timespec_t ts;
    sg_prog_hit_t hit;
    sg_recjob_t *j;
    int status;
    sg_rec_ask_t a = {.id = id};

    if (r == NULL) {
        sg_http_error(req, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    if (sg_catalog_channel(d->catalog, id) == NULL) {
        sg_http_error(req, 404, "unknown channel \"%s\"", id);
        return;
    }
    if (sg_timespec_parse(tail, req->query, (int64_t)time(NULL), &ts, &why) != 0 ||
        ts.kind != SG_REQ_CATCHUP) {
        sg_http_error(req, ts.kind == SG_REQ_LIVE && why == NULL ? 404 : 400, "%s",
                      why ? why : "a recording needs a time: /record/<channel>/<time>");
        return;
    }
    a.start = ts.start;
    a.duration = ts.duration;
    if (sg_query_get(req->query, "duration", q, sizeof(q)) >= 0) a.duration = atoll(q);
    /* movistar-u7d's ?record=1 (the programme) or ?record=S (seconds) */
    if (sg_query_get(req->query, "record", q, sizeof(q)) >= 0 && atoll(q) > 1) {
        a.duration = atoll(q);
    }
    a.mp4 = sg_query_get(req->query, "mp4", q, sizeof(q)) >= 0 ? atoi(q) != 0 : r->mp4;
    a.vo = sg_query_get(req->query, "vo", q, sizeof(q)) >= 0 ? atoi(q) != 0 : r->vo;
    j = sg_rec_start(r, &a, &hit, &status, reason, sizeof(reason));
    if (j == NULL) {
        if (status == 503) sg_http_add_header(req, "Retry-After", "60");
        sg_http_error(req, status, "%s", reason);
        return;
    }
    sg_http_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s,s:s,s:I,s:i,s:s,s:i}", "status", "recording", "id",
                                 id, "channel", sg_catalog_channel(d->catalog, id)->name,
                                 "programme", hit.title, "start", (json_int_t)a.start, "duration",
                                 j->duration, "path", j->rel, "recorder_pid", (int)j->pid));
}

/* ---- the queue (timer rules, retries) -------------------------------------------- */

int
sg_recorder_enqueue(sg_recorder_t *r, const char *id, int64_t start, const sg_rec_rule_t *rule)
{
    int rc = sg_rec_exec(r,
                         "INSERT INTO recordings(channel, start, duration, pid, title, path, state,"
                         " attempts, updated, origin, mp4, vo, keep, rule, folder)"
                         " VALUES(?,?,0,'',?,'','queued',0,?,'timer',?,?,?,?,?)"
                         " ON CONFLICT(channel, start) DO NOTHING",
                         "titiiiitt", id, start, rule->title, (int64_t)time(NULL),
                         (int64_t)(rule->mp4 < 0 ? r->mp4 : rule->mp4),
                         (int64_t)(rule->vo < 0 ? r->vo : rule->vo), (int64_t)rule->keep,
                         rule->rule, rule->folder);
    if (rc != SQLITE_DONE) return -1;
    if (sqlite3_changes(r->db) == 0) return 0;
    sg_log(SG_LOG_INFO, "record", "timer: \"%s\" at %lld on channel %s queued (rule \"%s\")",
           rule->title, (long long)start, id, rule->rule);
    sg_rec_schedule_soon(r);
    return 1;
}

void
sg_recorder_retry(sg_recorder_t *r)
{
    /* what came out short or failed is tried again after each EPG update */
    sg_rec_exec(r,
                "UPDATE recordings SET state='queued', updated=? WHERE state IN ('short','failed')"
                " AND attempts < ?",
                "ii", (int64_t)time(NULL), (int64_t)SG_REC_TRIES);
    if (sqlite3_changes(r->db) > 0) {
        sg_log(SG_LOG_INFO, "record", "%d short or failed recordings queued again",
               sqlite3_changes(r->db));
    }
    sg_rec_schedule_soon(r);
}

/* Start what is queued, oldest programme first (it leaves the archive
 * first), while there are free slots and admission has room: recordings
 * yield to viewers. */
static void
sg_rec_schedule(evutil_socket_t fd, short what, void *arg)
{
    sg_recorder_t *r = arg;
    sqlite3_stmt *st;
    (void)fd;
    (void)what;
    event_add(r->sched, &(struct timeval){SG_REC_TICK, 0});
    while (r->njobs < r->max && !r->d->stopping) {
        char id[80], why[300];
        int64_t start;
        int status, room = sg_hubs_room(r->d->hubs);
        sg_rec_ask_t a;
        sg_prog_hit_t hit;
        char folder[512];

        if (sqlite3_prepare_v2(r->db,
                               "SELECT channel, start, duration, mp4, vo, folder FROM recordings"
                               " WHERE state='queued' ORDER BY start LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK) {
            return;
        }
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            return;
        }
        if (room <= 0) {
            sqlite3_finalize(st);
            if (!r->room_logged) {
                sg_log(SG_LOG_INFO, "record", "queued recordings wait: admission has no room");
            }
            r->room_logged = 1;
            return;
        }
        r->room_logged = 0;
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
        start = sqlite3_column_int64(st, 1);
        snprintf(folder, sizeof(folder), "%s", (const char *)sqlite3_column_text(st, 5));
        a = (sg_rec_ask_t){.id = id, .start = start, .duration = sqlite3_column_int64(st, 2),
                           .mp4 = sqlite3_column_int(st, 3), .vo = sqlite3_column_int(st, 4),
                           .folder = folder};
        sqlite3_finalize(st);
        if (sg_rec_start(r, &a, &hit, &status, why, sizeof(why)) == NULL) {
            sg_log(SG_LOG_WARN, "record", "queued %s at %lld: %s", id, (long long)start, why);
            sg_rec_exec(r,
                        "UPDATE recordings SET state=?, attempts=attempts+1, updated=?"
                        " WHERE channel=? AND start=?",
                        "titi", status == 410 ? "expired" : "failed", (int64_t)time(NULL), id,
                        start);
        }
    }
}

static void
sg_rec_schedule_soon(sg_recorder_t *r)
{
    if (r->sched) event_active(r->sched, EV_TIMEOUT, 0);
}

void
sg_recorder_preempted(sg_recorder_t *r, const char *query)
{
    char v[16];
    unsigned id;
    if (r == NULL || query == NULL || sg_query_get(query, "rec", v, sizeof(v)) < 0) return;
    id = (unsigned)strtoul(v, NULL, 10);
    for (sg_recjob_t *j = r->jobs; j; j = j->next) {
        if (j->id == id) j->preempted = 1;
    }
}

static void
sg_route_record(sg_http_req_t *req, void *arg)
{
    const char *path = req->path + strlen("/record"), *slash;
    char id[80];

    if (*path == '/') path++;
    slash = strchr(path, '/');
    if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof(id)) {
        sg_http_error(req, 404, "expected /record/<channel>/<time>");
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)(slash - path), path);
    sg_record_http(req, arg, id, slash + 1);
}

/* DELETE /api/recordings/<channel>/<start>: the file, its cover beside it,
 * and the row. */
static void
sg_route_delete_recording(sg_http_req_t *req, void *arg)
{
    sg_daemon_t *d = arg;
    sg_recorder_t *r = d->recorder;
    char channel[80], rel[1024] = "";
    long long start;
    sqlite3_stmt *st;
    int n = 0, found;

    if (r == NULL) {
        sg_http_error(req, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    if (sscanf(req->path, "/api/recordings/%79[^/]/%lld%n", channel, &start, &n) != 2 ||
        req->path[n] != '\0') {
        sg_http_error(req, 404, "expected /api/recordings/<channel>/<start>");
        return;
    }
    for (sg_recjob_t *j = r->jobs; j; j = j->next) {
        if (strcmp(j->channel, channel) == 0 && j->start == start && !j->cancelled) {
            /* one under way is cancelled: its recorder stops, nothing stays */
            j->cancelled = 1;
            if (!j->exited) kill(j->pid, SIGTERM);
            sg_rec_exec(r,
                        "UPDATE recordings SET state='deleted', updated=? WHERE channel=? AND"
                        " start=?",
                        "iti", (int64_t)time(NULL), channel, (int64_t)start);
            sg_log(SG_LOG_NOTICE, "record", "%s: cancelling (%s)", j->rel, req->client);
            sg_http_reply_json(req, 200,
                               json_pack("{s:s,s:s}", "status", "cancelled", "path", j->rel));
            return;
        }
    }
    if (sqlite3_prepare_v2(r->db,
                           "SELECT path FROM recordings WHERE channel=? AND start=? AND"
                           " state IN ('done','incomplete','short','failed','expired','queued')",
                           -1, &st, NULL) != SQLITE_OK) {
        sg_http_error(req, 500, "the recordings index cannot be read");
        return;
    }
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, start);
    found = sqlite3_step(st) == SQLITE_ROW;
    if (found && sqlite3_column_text(st, 0)) {
        snprintf(rel, sizeof(rel), "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (!found) {
        sg_http_error(req, 404, "no recording of channel %s at %lld", channel, start);
        return;
    }
    /* a queued one has no file yet: deleting it cancels it */
    if (rel[0] && sg_rec_remove(r, rel) != 0) {
        sg_http_error(req, 500, "cannot remove %s: %s", rel, strerror(errno));
        return;
    }
    /* the row stays, marked, so no timer records the programme again */
    sg_rec_exec(r, "UPDATE recordings SET state='deleted', updated=? WHERE channel=? AND start=?",
                "iti", (int64_t)time(NULL), channel, start);
    if (rel[0]) {
        sg_log(SG_LOG_NOTICE, "record", "%s: deleted (%s)", rel, req->client);
    } else {
        sg_log(SG_LOG_NOTICE, "record", "channel %s at %lld: queued, cancelled (%s)", channel,
               start, req->client);
    }
    sg_http_reply_json(req, 200, json_pack("{s:s,s:s}", "status", "deleted", "path", rel));
}

static void
sg_route_api_recordings(sg_http_req_t *req, void *arg)
{
    sg_daemon_t *d = arg;
    sg_recorder_t *r = d->recorder;
    json_t *list = json_array();
    sqlite3_stmt *st;

    if (r == NULL) {
        json_decref(list);
        sg_http_error(req, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    if (sqlite3_prepare_v2(r->db,
                           "SELECT channel, start, duration, pid, title, path, state, attempts,"
                           " shortfalls, written, updated, origin, rule FROM recordings"
                           " WHERE state != 'deleted' ORDER BY updated DESC",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_array_append_new(
                list, json_pack("{s:s,s:I,s:i,s:s?,s:s?,s:s,s:s,s:i,s:s,s:f,s:I,s:s,s:s}", "channel",
                                (const char *)sqlite3_column_text(st, 0), "start",
                                (json_int_t)sqlite3_column_int64(st, 1), "duration",
                                sqlite3_column_int(st, 2), "pid",
                                (const char *)sqlite3_column_text(st, 3), "title",
                                (const char *)sqlite3_column_text(st, 4), "path",
                                (const char *)sqlite3_column_text(st, 5), "state",
                                (const char *)sqlite3_column_text(st, 6), "attempts",
                                sqlite3_column_int(st, 7), "shortfalls",
                                (const char *)sqlite3_column_text(st, 8), "written",
                                sqlite3_column_double(st, 9), "updated",
                                (json_int_t)sqlite3_column_int64(st, 10), "origin",
                                (const char *)sqlite3_column_text(st, 11), "rule",
                                (const char *)sqlite3_column_text(st, 12)));
        }
        sqlite3_finalize(st);
    }
    sg_http_reply_json(req, 200, json_pack("{s:o}", "recordings", list));
}

/* ---- lifetime ------------------------------------------------------------------------ */

static int
sg_rec_sweep(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const char *name = path + ftw->base;
    size_t n = strlen(name);
    (void)st;
    if (flag == FTW_F && name[0] == '.' && n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
        if (unlink(path) == 0) {
            sg_log(SG_LOG_NOTICE, "record", "removed %s, left by a recording that did not finish",
                   path);
        }
    }
    return 0;
}

sg_recorder_t *
sg_recorder_new(sg_daemon_t *d)
{
    const sg_conf_t *c = sg_conf_group(d->conf.root, "recordings", 0);
    const char *dir = sg_conf_string(c, "dir");
    sg_recorder_t *r;

    if (dir == NULL || dir[0] == '\0') return NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->d = d;
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    r->max = (int)sg_conf_int(c, "max_concurrent");
    r->tolerance = (int)sg_conf_int(c, "short_tolerance");
    r->mp4 = sg_conf_bool(c, "mp4");
    r->vo = sg_conf_bool(c, "vo");
    r->per_channel = sg_conf_bool(c, "per_channel");
    if (sg_rec_db_open(r, d->state_dir) != 0) {
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    /* what a crash or a kill left half-written never keeps a final name */
    nftw(r->dir, sg_rec_sweep, 16, FTW_PHYS);
    r->sigchld = evsignal_new(d->base, SIGCHLD, sg_rec_sigchld_cb, r);
    if (r->sigchld) event_add(r->sigchld, NULL);
    /* what was queued before a restart starts once the daemon is up */
    r->sched = evtimer_new(d->base, sg_rec_schedule, r);
    if (r->sched) event_add(r->sched, &(struct timeval){2, 0});
    return r;
}

void
sg_recorder_free(sg_recorder_t *r)
{
    if (r == NULL) return;
    if (r->sched) event_free(r->sched);
    r->sched = NULL;
    while (r->jobs) {
        sg_recjob_t *j = r->jobs;
        if (!j->exited) kill(j->pid, SIGTERM);
        sg_rec_job_free(j);
    }
    if (r->sigchld) event_free(r->sigchld);
    sqlite3_close(r->db);
    free(r);
}

int
sg_recorder_routes(sg_daemon_t *d)
{
    int rc = 0;
    rc |= sg_http_route(d->http, "/record", SG_ROUTE_GET | SG_ROUTE_PREFIX | SG_ROUTE_ADMIN,
                        "record", sg_route_record, d);
    rc |= sg_http_route(d->http, "/api/recordings", SG_ROUTE_GET, "recordings",
                        sg_route_api_recordings, d);
    rc |= sg_http_route(d->http, "/api/recordings", SG_ROUTE_DELETE | SG_ROUTE_PREFIX | SG_ROUTE_ADMIN,
                        "recordings", sg_route_delete_recording, d);
    return rc;
}
