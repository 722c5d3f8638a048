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
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "conf/sg_conf.h"
#include "http/sg_http.h"
#include "http/sg_timespec.h"
#include "plugin/sg_plugin.h"
#include "record/sg_recname.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

extern char **environ;

#define SG_REC_OUT 4096 /* the child's JSON line, at most */
#define SG_REC_EQUAL 3  /* the same shortfall this often: kept */

typedef struct sg_recjob_s sg_recjob_t;

struct sg_recorder_s {
    sg_daemon_t *d;
    char dir[2048];
    int max, tolerance, mp4, vo, per_channel;
    sqlite3 *db;
    struct event *sigchld;
    sg_recjob_t *jobs;
    int njobs;
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
    char channel[80];
    int64_t start;
    int duration;
    char rel[1024], tmp[PATH_MAX], final_path[PATH_MAX];
};

/* ---- index ------------------------------------------------------------------ */

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
    return 0;
}

static void
sg_rec_db_begin(sg_recorder_t *r, const sg_recjob_t *j, const char *pid, const char *title)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO recordings(channel, start, duration, pid, title, path, state,"
                           " attempts, updated) VALUES(?,?,?,?,?,?,'recording',1,?)"
                           " ON CONFLICT(channel, start) DO UPDATE SET duration=excluded.duration,"
                           " pid=excluded.pid, title=excluded.title, path=excluded.path,"
                           " state='recording', attempts=attempts+1, updated=excluded.updated",
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
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "UPDATE recordings SET state=?, shortfalls=coalesce(?, shortfalls),"
                           " written=?, updated=? WHERE channel=? AND start=?",
                           -1, &st, NULL) != SQLITE_OK) {
        return;
    }
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (shortfalls) {
        sqlite3_bind_text(st, 2, shortfalls, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 2);
    }
    sqlite3_bind_double(st, 3, written);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 5, j->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, j->start);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "record", "index: %s", sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
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

    if (!ok) {
        unlink(j->tmp);
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
            unlink(j->tmp);
            sg_rec_db_end(r, j, "failed", NULL, got);
        } else {
            sg_log(SG_LOG_NOTICE, "record", "%s: recorded, %.1f s", j->rel, got);
            sg_rec_db_end(r, j, "done", NULL, got);
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
    } else {
        unlink(j->tmp);
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

void
sg_record_http(sg_http_req_t *req, sg_daemon_t *d, const char *id, const char *tail)
{
    sg_recorder_t *r = d->recorder;
    const char *why = NULL;
    char name[1024], dir[PATH_MAX], url[600], q[64];
    const sg_chan_t *ch;
    sg_plugin_t *p;
    sg_timespec_t ts;
    sg_prog_hit_t hit;
    sg_recjob_t *j;
    int mp4, vo, hidden;
    int64_t now = (int64_t)time(NULL);

    if (r == NULL) {
        sg_http_error(req, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    ch = sg_catalog_channel(d->catalog, id);
    if (ch == NULL) {
        sg_http_error(req, 404, "unknown channel \"%s\"", id);
        return;
    }
    if (sg_timespec_parse(tail, req->query, now, &ts, &why) != 0 ||
        ts.kind != SG_REQ_CATCHUP) {
        sg_http_error(req, ts.kind == SG_REQ_LIVE && why == NULL ? 404 : 400, "%s",
                      why ? why : "a recording needs a time: /record/<channel>/<time>");
        return;
    }
    p = sg_plugin_find(d, ch->plugin);
    if (p == NULL || !(ch->caps & SG_CAP_CATCHUP)) {
        sg_http_error(req, 404, "channel \"%s\" has no catchup to record from", id);
        return;
    }
    memset(&hit, 0, sizeof(hit));
    if (sg_catalog_programme_at(d->catalog, ch->plugin, ch->provider_id, ts.start, 0, &hit) !=
            SG_OK &&
        ts.duration <= 0) {
        sg_http_error(req, 404, "no programme on channel \"%s\" at that time; give ?duration=", id);
        return;
    }
    if (hit.title[0] == '\0') snprintf(hit.title, sizeof(hit.title), "%s", ch->name);
    if (sg_query_get(req->query, "duration", q, sizeof(q)) >= 0) ts.duration = atoll(q);
    /* movistar-u7d's ?record=1 (the programme) or ?record=S (seconds) */
    if (sg_query_get(req->query, "record", q, sizeof(q)) >= 0 && atoll(q) > 1) {
        ts.duration = atoll(q);
    }
    mp4 = sg_query_get(req->query, "mp4", q, sizeof(q)) >= 0 ? atoi(q) != 0 : r->mp4;
    vo = sg_query_get(req->query, "vo", q, sizeof(q)) >= 0 ? atoi(q) != 0 : r->vo;
    for (j = r->jobs; j; j = j->next) {
        if (strcmp(j->channel, id) == 0 && j->start == ts.start) {
            sg_http_error(req, 409, "already recording %s", j->rel);
            return;
        }
    }
    if (r->njobs >= r->max) {
        sg_http_add_header(req, "Retry-After", "60");
        sg_http_error(req, 503, "%d recordings are under way (recordings.max_concurrent)", r->njobs);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        sg_http_error(req, 500, "out of memory");
        return;
    }
    j->rec = r;
    j->fd = -1;
    snprintf(j->channel, sizeof(j->channel), "%s", id);
    j->start = ts.start;
    j->duration = sg_rec_length(&hit, ts.start, ts.duration);
    if (sg_recname(&(sg_recname_in_t){.title = hit.title, .series = hit.series,
                                      .season = hit.season, .episode = hit.episode,
                                      .episode_title = hit.sub_title, .genre = hit.genre,
                                      .start = ts.start, .channel = ch->name,
                                      .channel_number = ch->number,
                                      .per_channel = r->per_channel, .ext = mp4 ? "mp4" : "mkv"},
                   j->rel, sizeof(j->rel)) == 0) {
        free(j);
        sg_http_error(req, 500, "the recording's name does not fit");
        return;
    }
    /* the temporary file: hidden, beside the final one */
    snprintf(dir, sizeof(dir), "%s/%s", r->dir, j->rel);
    *strrchr(dir, '/') = '\0';
    snprintf(name, sizeof(name), "%s", strrchr(j->rel, '/') + 1);
    hidden = snprintf(j->tmp, sizeof(j->tmp), "%s/.%s.tmp", dir, name);
    snprintf(j->final_path, sizeof(j->final_path), "%s/%s", r->dir, j->rel);
    snprintf(url, sizeof(url), "%s/%s/archive-%lld-%d.ts?priority=10", d->base_url, id,
             (long long)ts.start, j->duration);
    if (hidden <= 0 || (size_t)hidden >= sizeof(j->tmp) || sg_mkdir_p(dir, 0755) != 0 ||
        sg_rec_spawn(r, j, url, mp4, vo, &hit, ch->name) != 0) {
        sg_log(SG_LOG_ERR, "record", "%s: cannot start the recorder %s: %s", j->rel,
               d->recorder_bin, strerror(errno));
        free(j);
        sg_http_error(req, 500, "the recorder could not be started; see the log");
        return;
    }
    SG_LIST_PUSH(&r->jobs, j);
    r->njobs++;
    sg_rec_db_begin(r, j, hit.pid, hit.title);
    sg_log(SG_LOG_INFO, "record", "%s: recording %s from %lld for %d s (recorder %d)", j->rel, id,
           (long long)ts.start, j->duration, (int)j->pid);
    sg_http_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s,s:s,s:I,s:i,s:s,s:i}", "status", "recording", "id",
                                 id, "channel", ch->name, "programme", hit.title, "start",
                                 (json_int_t)ts.start, "duration", j->duration, "path", j->rel,
                                 "recorder_pid", (int)j->pid));
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
    char channel[80], path[PATH_MAX], rel[1024] = "";
    long long start;
    sqlite3_stmt *st;
    int n = 0;

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
        if (strcmp(j->channel, channel) == 0 && j->start == start) {
            sg_http_error(req, 409, "%s is being recorded", j->rel);
            return;
        }
    }
    if (sqlite3_prepare_v2(r->db, "SELECT path FROM recordings WHERE channel=? AND start=?", -1,
                           &st, NULL) != SQLITE_OK) {
        sg_http_error(req, 500, "the recordings index cannot be read");
        return;
    }
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, start);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(rel, sizeof(rel), "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rel[0] == '\0') {
        sg_http_error(req, 404, "no recording of channel %s at %lld", channel, start);
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", r->dir, rel);
    if (unlink(path) != 0 && errno != ENOENT) {
        sg_http_error(req, 500, "cannot remove %s: %s", rel, strerror(errno));
        return;
    }
    {
        char *dot = strrchr(path, '.');
        for (const char *ext = ".jpg"; dot && ext; ext = ext[1] == 'j' ? ".png" : NULL) {
            snprintf(dot, sizeof(path) - (size_t)(dot - path), "%s", ext);
            unlink(path);
        }
        *strrchr(path, '/') = '\0';
        rmdir(path); /* the folder, when that was its last file */
    }
    if (sqlite3_prepare_v2(r->db, "DELETE FROM recordings WHERE channel=? AND start=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, start);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    sg_log(SG_LOG_NOTICE, "record", "%s: deleted (%s)", rel, req->client);
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
                           " shortfalls, written, updated FROM recordings ORDER BY updated DESC",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_array_append_new(
                list, json_pack("{s:s,s:I,s:i,s:s?,s:s?,s:s,s:s,s:i,s:s,s:f,s:I}", "channel",
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
                                (json_int_t)sqlite3_column_int64(st, 10)));
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
    return r;
}

void
sg_recorder_free(sg_recorder_t *r)
{
    if (r == NULL) return;
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
