/*
 * plugins/ustream: ustream recorded-stream downloads as daemon jobs.
 *
 *   POST   /ustream/jobs        {"url": "...", "video": "..."}  -> 201 {"id": ...}
 *   GET    /ustream/jobs        every job, newest first
 *   GET    /ustream/jobs/{id}   one job: state, progress, files, error
 *   DELETE /ustream/jobs/{id}   cancel (a running one is stopped) and forget
 *
 * (the admin token guards all of them when server.admin_token is set).
 *
 * Each job runs the downloader, streamgate-ustream (us_main.c, the same
 * program as `streamgate ustream`), as a child with --json: FFmpeg and
 * libwebsockets never live in the daemon, and a stuck or crashing download
 * costs only its job. The child's JSON event lines (progress, file, error)
 * are read from a pipe by a timer on the loop. Finished files go to out_dir
 * (default: the recordings folder, so /recordings.m3u lists them).
 *
 * Jobs survive a restart: each is a JSON file under the plugin's state
 * folder, and its chunks stay in a work folder there; a job that was
 * queued or running when the daemon stopped (or died: the child gets
 * SIGTERM with its parent) starts again and fetches only the chunks it
 * does not have.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sg/plugin.h"
#include "us_fs.h"

extern char **environ;

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };
static const char *const job_state_names[] = {"queued", "running", "done", "failed"};

typedef struct us_job_s us_job_t;
struct us_job_s {
    us_job_t *next;
    char id[24];
    char *url, *video;
    int state;
    int64_t created, finished;
    json_t *files;        /* array of paths                               */
    json_t *progress;     /* the last progress event, or NULL             */
    char error[600];
    int code;             /* the downloader's exit status when it failed  */
    pid_t pid;
    int fd;               /* its stdout                                   */
    char line[8192];
    size_t llen;
    int cancelled;        /* DELETE while it ran: gone once reaped          */
    int64_t kill_at;      /* then SIGKILL at this time (ms) if still there  */
};

typedef struct {
    sg_plugin_t *p;
    const sg_host_t *h;
    const char *site, *ums, *cdn, *preset, *out_dir;
    const char *reg[5];
    int jobs, parallel;
    char bin[4096], jobs_dir[4096], work_dir[4096], own_out[4096];
    us_job_t *list;
    sg_timer_t *tick;
    unsigned seq;
} us_state_t;

static const char *const us_reg_names[5] = {"name", "email", "company", "role", "phone"};

static int64_t us_now_ms(void);

/* ---- persistence ---------------------------------------------------------- */

static json_t *
us_job_json(const us_job_t *j, int full)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "id", j->id, "url", j->url, "state",
                          job_state_names[j->state], "created", (json_int_t)j->created);
    if (o == NULL) return NULL;
    if (j->video) json_object_set_new(o, "video", json_string(j->video));
    if (j->finished) json_object_set_new(o, "finished", json_integer(j->finished));
    json_object_set(o, "files", j->files);
    if (j->error[0]) {
        json_object_set_new(o, "error", json_string(j->error));
        json_object_set_new(o, "exit_code", json_integer(j->code));
    }
    if (full && j->progress) json_object_set(o, "progress", j->progress);
    return o;
}

static void
us_job_save(us_state_t *st, const us_job_t *j)
{
    char path[4200], tmp[4300];
    json_t *o = us_job_json(j, 0);
    snprintf(path, sizeof(path), "%s/%s.json", st->jobs_dir, j->id);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (o == NULL || json_dump_file(o, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0) {
        st->h->log(st->p, SG_LOG_ERR, "job %s: cannot save %s: %s", j->id, path, strerror(errno));
        unlink(tmp);
    }
    json_decref(o);
}

static void
us_job_free(us_job_t *j)
{
    free(j->url);
    free(j->video);
    json_decref(j->files);
    json_decref(j->progress);
    free(j);
}

static us_job_t *
us_job_new(const char *id, const char *url, const char *video)
{
    us_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) return NULL;
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->url = strdup(url);
    j->video = video && video[0] ? strdup(video) : NULL;
    j->files = json_array();
    j->fd = -1;
    if (j->url == NULL || j->files == NULL || (video && video[0] && j->video == NULL)) {
        us_job_free(j);
        return NULL;
    }
    return j;
}

/* The jobs a previous run left: queued and running ones start again. */
static void
us_jobs_load(us_state_t *st)
{
    DIR *d = opendir(st->jobs_dir);
    struct dirent *de;
    int again = 0;

    if (d == NULL) return;
    while ((de = readdir(d)) != NULL) {
        char path[4400];
        size_t l = strlen(de->d_name);
        json_t *o;
        json_error_t e;
        us_job_t *j;
        const char *s;

        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", st->jobs_dir, de->d_name);
        if ((o = json_load_file(path, 0, &e)) == NULL ||
            !json_is_string(json_object_get(o, "id")) ||
            !json_is_string(json_object_get(o, "url"))) {
            st->h->log(st->p, SG_LOG_WARN, "%s:%d: not a job, left alone: %s", path, e.line,
                       o ? "no id or url" : e.text);
            json_decref(o);
            continue;
        }
        j = us_job_new(json_string_value(json_object_get(o, "id")),
                       json_string_value(json_object_get(o, "url")),
                       json_string_value(json_object_get(o, "video")));
        if (j) {
            s = json_string_value(json_object_get(o, "state"));
            j->state = s && strcmp(s, "done") == 0     ? JOB_DONE
                       : s && strcmp(s, "failed") == 0 ? JOB_FAILED
                                                       : JOB_QUEUED;
            j->created = json_integer_value(json_object_get(o, "created"));
            j->finished = json_integer_value(json_object_get(o, "finished"));
            if (json_is_array(json_object_get(o, "files"))) {
                json_decref(j->files);
                j->files = json_incref(json_object_get(o, "files"));
            }
            if ((s = json_string_value(json_object_get(o, "error"))) != NULL) {
                snprintf(j->error, sizeof(j->error), "%s", s);
                j->code = (int)json_integer_value(json_object_get(o, "exit_code"));
            }
            if (j->state == JOB_QUEUED) again++;
            /* newest first, as they were */
            us_job_t **at = &st->list;
            while (*at && (*at)->created >= j->created) at = &(*at)->next;
            j->next = *at;
            *at = j;
        }
        json_decref(o);
    }
    closedir(d);
    if (again) st->h->log(st->p, SG_LOG_NOTICE, "%d unfinished job%s resume", again,
                          again == 1 ? "" : "s");
}

/* ---- the children ------------------------------------------------------------ */

static int
us_job_spawn(us_state_t *st, us_job_t *j)
{
    char work[4200], log[4200], out[4200], jobs[16], reg[5][300];
    const char *argv[48];
    posix_spawn_file_actions_t fa;
    int n = 0, pfd[2], rc;

    snprintf(work, sizeof(work), "%s/%s", st->work_dir, j->id);
    snprintf(log, sizeof(log), "%s/%s.log", st->jobs_dir, j->id);
    snprintf(out, sizeof(out), "%s/", st->out_dir);
    snprintf(jobs, sizeof(jobs), "%d", st->jobs);
    argv[n++] = st->bin;
    argv[n++] = j->url;
    argv[n++] = "--json";
    argv[n++] = "--die-with-parent";
    argv[n++] = "--work";
    argv[n++] = work;
    argv[n++] = "-o";
    argv[n++] = out;
    argv[n++] = "--site";
    argv[n++] = st->site;
    argv[n++] = "--ums";
    argv[n++] = st->ums;
    argv[n++] = "--cdn";
    argv[n++] = st->cdn;
    argv[n++] = "--preset";
    argv[n++] = st->preset;
    argv[n++] = "--jobs";
    argv[n++] = jobs;
    for (int i = 0; i < 5; i++) {
        snprintf(reg[i], sizeof(reg[i]), "%s=%s", us_reg_names[i], st->reg[i]);
        argv[n++] = "--reg";
        argv[n++] = reg[i];
    }
    if (j->video) {
        argv[n++] = "--video";
        argv[n++] = j->video;
    }
    argv[n] = NULL;
    if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    rc = posix_spawn(&j->pid, st->bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        snprintf(j->error, sizeof(j->error), "cannot run %.400s: %s", st->bin, strerror(rc));
        return -1;
    }
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    j->fd = pfd[0];
    j->llen = 0;
    j->state = JOB_RUNNING;
    j->error[0] = '\0';
    st->h->log(st->p, SG_LOG_INFO, "job %s: started (%s%s%s), pid %d", j->id, j->url,
               j->video ? ", video " : "", j->video ? j->video : "", (int)j->pid);
    return 0;
}

/* One event line of the child's. */
static void
us_job_event(us_state_t *st, us_job_t *j, const char *line)
{
    json_t *o = json_loads(line, 0, NULL);
    const char *ev = json_string_value(json_object_get(o, "event"));
    if (ev == NULL) {
        json_decref(o);
        return;
    }
    if (strcmp(ev, "progress") == 0) {
        json_decref(j->progress);
        j->progress = json_incref(o);
    } else if (strcmp(ev, "file") == 0 && json_is_string(json_object_get(o, "path"))) {
        json_array_append(j->files, json_object_get(o, "path"));
        st->h->log(st->p, SG_LOG_NOTICE, "job %s: %s written", j->id,
                   json_string_value(json_object_get(o, "path")));
        us_job_save(st, j);
    } else if (strcmp(ev, "error") == 0) {
        const char *m = json_string_value(json_object_get(o, "message"));
        snprintf(j->error, sizeof(j->error), "%s", m ? m : "failed");
    }
    json_decref(o);
}

static void
us_job_read(us_state_t *st, us_job_t *j)
{
    for (;;) {
        ssize_t r = read(j->fd, j->line + j->llen, sizeof(j->line) - 1 - j->llen);
        char *nl;
        if (r <= 0) return;
        j->llen += (size_t)r;
        j->line[j->llen] = '\0';
        while ((nl = strchr(j->line, '\n')) != NULL) {
            *nl = '\0';
            us_job_event(st, j, j->line);
            j->llen -= (size_t)(nl + 1 - j->line);
            memmove(j->line, nl + 1, j->llen + 1);
        }
        if (j->llen == sizeof(j->line) - 1) j->llen = 0; /* a line that long is not ours */
    }
}

static void us_job_forget(us_state_t *st, us_job_t *j);

static void
us_job_reaped(us_state_t *st, us_job_t *j, int status)
{
    char work[4200];
    us_job_read(st, j);
    close(j->fd);
    j->fd = -1;
    j->pid = 0;
    if (j->cancelled) {
        us_job_forget(st, j);
        return;
    }
    j->finished = (int64_t)time(NULL);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        j->state = JOB_DONE;
        j->error[0] = '\0';
        snprintf(work, sizeof(work), "%s/%s", st->work_dir, j->id);
        us_rmtree(work);
        st->h->log(st->p, SG_LOG_NOTICE, "job %s: done, %zu file%s", j->id,
                   json_array_size(j->files), json_array_size(j->files) == 1 ? "" : "s");
    } else {
        j->state = JOB_FAILED;
        j->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (j->error[0] == '\0') {
            snprintf(j->error, sizeof(j->error), "the downloader %s %d",
                     WIFEXITED(status) ? "exited with" : "was killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        st->h->log(st->p, SG_LOG_WARN, "job %s: failed: %s", j->id, j->error);
    }
    us_job_save(st, j);
}

/* Every 200 ms: read the children, reap them, start queued jobs. */
static void
us_tick(void *arg)
{
    us_state_t *st = arg;
    int running = 0;

    for (us_job_t *j = st->list, *next; j; j = next) {
        int status;
        next = j->next;
        if (j->state != JOB_RUNNING) continue;
        if (waitpid(j->pid, &status, WNOHANG) == j->pid) {
            us_job_reaped(st, j, status);
            continue;
        }
        us_job_read(st, j);
        if (j->cancelled && us_now_ms() >= j->kill_at) kill(j->pid, SIGKILL);
        running++;
    }
    /* the oldest queued first: the list is newest first */
    while (running < st->parallel) {
        us_job_t *oldest = NULL;
        for (us_job_t *j = st->list; j; j = j->next) {
            if (j->state == JOB_QUEUED && !j->cancelled) oldest = j;
        }
        if (oldest == NULL) break;
        if (us_job_spawn(st, oldest) != 0) {
            oldest->state = JOB_FAILED;
            oldest->finished = (int64_t)time(NULL);
            st->h->log(st->p, SG_LOG_ERR, "job %s: %s", oldest->id, oldest->error);
        } else {
            running++;
        }
        us_job_save(st, oldest);
    }
}

/* ---- routes ------------------------------------------------------------------- */

static int64_t
us_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Out of the list, its files and chunks gone (finished videos stay). */
static void
us_job_forget(us_state_t *st, us_job_t *j)
{
    char path[4400];
    for (us_job_t **l = &st->list; *l; l = &(*l)->next) {
        if (*l == j) {
            *l = j->next;
            break;
        }
    }
    snprintf(path, sizeof(path), "%s/%s.json", st->jobs_dir, j->id);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.log", st->jobs_dir, j->id);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", st->work_dir, j->id);
    us_rmtree(path);
    us_job_free(j);
}

static void
us_reply_json(us_state_t *st, sg_hreq_t *r, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    if (s == NULL) {
        st->h->reply_error(r, 500, "out of memory");
    } else {
        st->h->reply_header(r, "Cache-Control", "no-cache");
        st->h->reply(r, status, "application/json", s, strlen(s));
    }
    free(s);
    json_decref(o);
}

static us_job_t *
us_job_find(us_state_t *st, const char *id, us_job_t ***link)
{
    for (us_job_t **l = &st->list; *l; l = &(*l)->next) {
        if (!(*l)->cancelled && strcmp((*l)->id, id) == 0) {
            if (link) *link = l;
            return *l;
        }
    }
    return NULL;
}

static void
us_route_create(us_state_t *st, sg_hreq_t *r)
{
    size_t len = 0;
    const char *body = st->h->hreq_body(r, &len), *url, *video;
    json_error_t e;
    json_t *o;
    us_job_t *j;
    char id[24];

    if (body == NULL || len == 0) {
        st->h->reply_error(r, 400, "a JSON body {\"url\": ..., \"video\": ...} is required");
        return;
    }
    if ((o = json_loadb(body, len, 0, &e)) == NULL || !json_is_object(o)) {
        st->h->reply_error(r, 400, "the body is not a JSON object: %s",
                           o ? "a different type" : e.text);
        json_decref(o);
        return;
    }
    url = json_string_value(json_object_get(o, "url"));
    video = json_string_value(json_object_get(o, "video"));
    if (url == NULL || url[0] == '\0' || strlen(url) > 2000 || url[0] == '-') {
        st->h->reply_error(r, 400, "\"url\" must be a channel or video URL or a video id");
        json_decref(o);
        return;
    }
    if (json_object_get(o, "video") && !json_is_null(json_object_get(o, "video")) &&
        (video == NULL || strlen(video) > 120 || video[0] == '-')) {
        st->h->reply_error(r, 400, "\"video\" must be a video id");
        json_decref(o);
        return;
    }
    /* unique among every job known, deleted ones not yet reaped included */
    for (int taken = 1; taken;) {
        snprintf(id, sizeof(id), "%08lx%04x", (unsigned long)time(NULL), ++st->seq & 0xffff);
        taken = 0;
        for (us_job_t *k = st->list; k; k = k->next) taken |= strcmp(k->id, id) == 0;
    }
    if ((j = us_job_new(id, url, video)) == NULL) {
        st->h->reply_error(r, 500, "out of memory");
        json_decref(o);
        return;
    }
    json_decref(o);
    j->created = (int64_t)time(NULL);
    j->next = st->list;
    st->list = j;
    us_job_save(st, j);
    st->h->log(st->p, SG_LOG_INFO, "job %s: queued (%s)", j->id, j->url);
    us_tick(st);
    us_reply_json(st, r, 201, us_job_json(j, 1));
}

static void
us_route_jobs(sg_hreq_t *r, void *arg)
{
    us_state_t *st = arg;
    const char *m = st->h->hreq_method(r), *path = st->h->hreq_path(r);
    const char *id = path + strlen("/ustream/jobs");
    us_job_t *j, **link = NULL;

    if (*id == '/') id++;
    if (*id == '\0') {
        if (strcmp(m, "POST") == 0) {
            us_route_create(st, r);
        } else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
            json_t *a = json_array();
            for (j = st->list; j && a; j = j->next) {
                if (!j->cancelled) json_array_append_new(a, us_job_json(j, 1));
            }
            us_reply_json(st, r, 200, json_pack("{s:o}", "jobs", a));
        } else {
            st->h->reply_error(r, 405, "GET or POST /ustream/jobs");
        }
        return;
    }
    if ((j = us_job_find(st, id, &link)) == NULL) {
        st->h->reply_error(r, 404, "no job %s", id);
        return;
    }
    if (strcmp(m, "DELETE") == 0) {
        st->h->log(st->p, SG_LOG_INFO, "job %s: deleted", j->id);
        us_reply_json(st, r, 200, json_pack("{s:s, s:b}", "id", j->id, "deleted", 1));
        (void)link;
        j->cancelled = 1;
        if (j->state == JOB_RUNNING && j->pid > 0) {
            /* gone from the API now; forgotten once the child is reaped
             * (the tick), which SIGTERM asks for and SIGKILL enforces */
            j->kill_at = us_now_ms() + 5000;
            kill(j->pid, SIGTERM);
        } else {
            us_job_forget(st, j);
        }
    } else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        us_reply_json(st, r, 200, us_job_json(j, 1));
    } else {
        st->h->reply_error(r, 405, "GET or DELETE /ustream/jobs/{id}");
    }
}

/* ---- the plugin ---------------------------------------------------------------- */

static int
sg_ustream_init(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    us_state_t *st = state;
    const sg_conf_t *c = h->conf(p), *reg = h->conf_group(c, "registration", 0);
    const char *sd = h->state_dir(p), *progs = h->path ? h->path(p, SG_PATH_PROGRAMS) : NULL;

    st->p = p;
    st->h = h;
    st->site = h->conf_string(c, "site");
    st->ums = h->conf_string(c, "ums");
    st->cdn = h->conf_string(c, "cdn");
    st->preset = h->conf_string(c, "preset");
    st->jobs = (int)h->conf_int(c, "jobs");
    st->parallel = (int)h->conf_int(c, "parallel");
    for (int i = 0; i < 5; i++) st->reg[i] = h->conf_string(reg, us_reg_names[i]);
    st->out_dir = h->conf_string(c, "out_dir");
    if (st->out_dir == NULL || st->out_dir[0] == '\0') {
        st->out_dir = h->path ? h->path(p, SG_PATH_RECORDINGS) : NULL;
    }
    if (sd == NULL || progs == NULL) {
        h->log(p, SG_LOG_ERR, "no state folder or program folder");
        return SG_ERROR;
    }
    if (st->out_dir == NULL) {
        /* no recordings folder: the state folder keeps them */
        snprintf(st->own_out, sizeof(st->own_out), "%s/downloads", sd);
        st->out_dir = st->own_out;
        h->log(p, SG_LOG_NOTICE, "no out_dir and no recordings.dir: files go to %s",
               st->out_dir);
    }
    snprintf(st->bin, sizeof(st->bin), "%s/streamgate-ustream", progs);
    snprintf(st->jobs_dir, sizeof(st->jobs_dir), "%s/jobs", sd);
    snprintf(st->work_dir, sizeof(st->work_dir), "%s/work", sd);
    if (us_mkdirs(st->jobs_dir) != 0 || us_mkdirs(st->work_dir) != 0 ||
        us_mkdirs(st->out_dir) != 0) {
        h->log(p, SG_LOG_ERR, "cannot create %s, %s or %s: %s", st->jobs_dir, st->work_dir,
               st->out_dir, strerror(errno));
        return SG_ERROR;
    }
    if (access(st->bin, X_OK) != 0) {
        h->log(p, SG_LOG_ERR, "%s: %s", st->bin, strerror(errno));
        return SG_ERROR;
    }
    if (h->route(p, "/ustream/jobs", SG_ROUTE_GET | SG_ROUTE_POST | SG_ROUTE_DELETE |
                                         SG_ROUTE_PREFIX | SG_ROUTE_ADMIN,
                 us_route_jobs, st) != SG_OK) {
        return SG_ERROR;
    }
    us_jobs_load(st);
    st->tick = h->timer_start(p, 200, 1, us_tick, st);
    h->set_state(p, "ready");
    return SG_OK;
}

static void
sg_ustream_fini(sg_plugin_t *p, void *state)
{
    us_state_t *st = state;
    (void)p;
    int64_t deadline = us_now_ms() + 2000;
    /* the downloads stop (their chunks are kept: a job file that says
     * running starts again next time); 2 s for them, then SIGKILL */
    for (us_job_t *j = st->list; j; j = j->next) {
        if (j->state == JOB_RUNNING && j->pid > 0) kill(j->pid, SIGTERM);
    }
    for (us_job_t *j = st->list, *n; j; j = n) {
        n = j->next;
        if (j->state == JOB_RUNNING && j->pid > 0) {
            while (waitpid(j->pid, NULL, WNOHANG) == 0) {
                if (us_now_ms() >= deadline) {
                    kill(j->pid, SIGKILL);
                    waitpid(j->pid, NULL, 0);
                    break;
                }
                usleep(20000);
            }
            close(j->fd);
        }
        if (j->cancelled) {
            us_job_forget(st, j);
        } else {
            us_job_free(j);
        }
    }
    st->list = NULL;
}

static void
sg_ustream_status(sg_plugin_t *p, void *state, sg_status_t *s)
{
    us_state_t *st = state;
    int64_t n[4] = {0};
    (void)p;
    for (us_job_t *j = st->list; j; j = j->next) n[j->state]++;
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof(key), "jobs_%s", job_state_names[i]);
        st->h->status_int(s, key, n[i]);
    }
    st->h->status_string(s, "out_dir", st->out_dir);
}

static const sg_conf_key_t us_reg_keys[] = {
    {.name = "name", .type = SG_CONF_STRING, .def = "streamgate"},
    {.name = "email", .type = SG_CONF_STRING, .def = "viewer@example.org"},
    {.name = "company", .type = SG_CONF_STRING, .def = "-"},
    {.name = "role", .type = SG_CONF_STRING, .def = "viewer"},
    {.name = "phone", .type = SG_CONF_STRING, .def = "-"},
    {.name = NULL},
};

static const sg_conf_key_t us_keys[] = {
    {.name = "site", .type = SG_CONF_STRING, .def = "https://www.ustream.tv",
     .help = "channel pages, registration, content.json"},
    {.name = "ums", .type = SG_CONF_STRING,
     .def = "wss://r{rand}-1-{video}-recorded-wss-live.ums.ustream.tv/1/ustream",
     .help = "websocket URL template ({rand}, {video})"},
    {.name = "cdn", .type = SG_CONF_STRING, .def = "https://vod-cdn.ustream.tv/",
     .help = "chunk base URL"},
    {.name = "jobs", .type = SG_CONF_INT, .def = "4", .min = 1, .max = 64,
     .help = "chunks downloaded at once per video"},
    {.name = "parallel", .type = SG_CONF_INT, .def = "1", .min = 1, .max = 16,
     .help = "daemon jobs running at once"},
    {.name = "preset", .type = SG_CONF_STRING, .def = "original", .help = "stream preset"},
    {.name = "registration", .type = SG_CONF_GROUP, .sub = us_reg_keys,
     .help = "the viewer registration's dummy fields"},
    {.name = "out_dir", .type = SG_CONF_STRING, .def = "",
     .help = "finished files (default: recordings.dir)"},
    {.name = NULL},
};

static int
sg_ustream_check(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    const sg_conf_t *c = h->conf(p);
    int rc = SG_OK;
    (void)state;
    for (int i = 0; i < 3; i++) {
        static const char *const keys[] = {"site", "cdn", "ums"};
        const char *v = h->conf_string(c, keys[i]);
        int ws = i == 2;
        if (v == NULL ||
            (ws ? strncmp(v, "ws://", 5) != 0 && strncmp(v, "wss://", 6) != 0
                : strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)) {
            h->conf_error(c, keys[i], "must be a%s URL", ws ? " ws:// or wss://" : "n http(s)://");
            rc = SG_ERROR;
        }
    }
    return rc;
}

static const sg_provider_t sg_ustream_provider = {
    SG_PROVIDER_HEADER,
    .name = "ustream",
    .version = "1.0.0",
    .summary = "ustream recorded-stream downloader (CLI and daemon jobs)",
    .caps = SG_CAP_ROUTES | SG_CAP_JOBS,
    .plugin_size = sizeof(us_state_t),
    .conf_keys = us_keys,
    .check = sg_ustream_check,
    .init = sg_ustream_init,
    .fini = sg_ustream_fini,
    .status = sg_ustream_status,
};

SG_PLUGIN_DEFINE(ustream, sg_ustream_provider)
