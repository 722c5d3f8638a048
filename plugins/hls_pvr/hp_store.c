/* plugins/hls_pvr: archive files and index (see hp_store.h). */
#include "hp_store.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HP_BACKLOG_MAX (64u << 20) /* bytes waiting for the writer        */
#define HP_CLEAN_MS 10000
#define HP_MAX_SEG_MS 600000       /* longest segment the range query expects */

typedef struct hp_job_s {
    struct hp_job_s *next;
    hp_put_t *put;
    /* the outcome, for the loop */
    int ok;
    int64_t bytes;
    char why[200];
} hp_job_t;

typedef struct hp_depth_s {
    struct hp_depth_s *next;
    char channel[64];
    int64_t depth_ms;
} hp_depth_t;

struct hp_store_s {
    const sg_host_t *h;
    sg_plugin_t *p;
    char dir[768];
    sqlite3 *rdb;               /* the loop's connection                   */
    sqlite3 *wdb;               /* the writer's                            */
    sqlite3_stmt *q_range, *q_last, *q_next, *q_key;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hp_job_t *todo, **todo_tail;
    hp_job_t *done, **done_tail;
    size_t backlog;
    int quit;
    hp_depth_t *depths;         /* under mu                                 */
    struct event *done_ev;
    hp_stored_pt stored;
    void *arg;
};

static const char hp_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS segments("
    " channel TEXT NOT NULL, start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, disc INTEGER NOT NULL DEFAULT 0, path TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, uri TEXT NOT NULL DEFAULT '', key_id INTEGER NOT NULL DEFAULT 0,"
    " clear_bytes INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(channel, start_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS keys("
    " id INTEGER PRIMARY KEY, channel TEXT NOT NULL, key TEXT NOT NULL, iv TEXT NOT NULL,"
    " uri TEXT NOT NULL, created INTEGER NOT NULL);";

static int64_t
hp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the writer thread --------------------------------------------------------------------- */

static int
hp_mkdirs(char *path)
{
    /* every parent of path (a file name) */
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *s = '/';
            return -1;
        }
        *s = '/';
    }
    return 0;
}

int
hp_unhex(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return hex[2 * n] == 0 ? 0 : -1;
}

/* AES-128-CBC with PKCS#7 of body into a new buffer; NULL on failure. */
static uint8_t *
hp_encrypt(const char *key_hex, const char *iv_hex, const uint8_t *in, size_t len, size_t *outlen)
{
    uint8_t key[16], iv[16], *out;
    int n1 = 0, n2 = 0;
    EVP_CIPHER_CTX *ctx;

    if (hp_unhex(key_hex, key, 16) || hp_unhex(iv_hex, iv, 16)) return NULL;
    out = malloc(len + 16);
    ctx = EVP_CIPHER_CTX_new();
    if (out == NULL || ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
        EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + n1, &n2) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        free(out);
        return NULL;
    }
    EVP_CIPHER_CTX_free(ctx);
    *outlen = (size_t)n1 + (size_t)n2;
    return out;
}

static int
hp_write_file(const char *path, const uint8_t *data, size_t len)
{
    char tmp[1100];
    const char *slash = strrchr(path, '/');
    int fd;
    size_t off = 0;

    snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp", (int)(slash - path), path, slash + 1);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void
hp_store_one(hp_store_t *s, hp_job_t *j)
{
    hp_put_t *u = j->put;
    char rel[96], path[1024];
    time_t t = (time_t)(u->start_ms / 1000);
    struct tm tm;
    uint8_t *enc = NULL;
    const uint8_t *data = u->body;
    size_t len = u->len;
    sqlite3_stmt *st = NULL;
    int rc;

    gmtime_r(&t, &tm);
    snprintf(rel, sizeof(rel), "%04d/%02d/%02d/%02d/%02d/%02d-%05lld.ts", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long long)(u->duration_ms > 99999 ? 99999 : u->duration_ms));
    snprintf(path, sizeof(path), "%s/%s/%s", s->dir, u->channel, rel);
    if (access(path, F_OK) == 0) {
        /* two starts in one second with one duration: the milliseconds too */
        size_t l = strlen(rel);
        snprintf(rel + l - 3, sizeof(rel) - l + 3, "_%03d.ts", (int)(u->start_ms % 1000));
        snprintf(path, sizeof(path), "%s/%s/%s", s->dir, u->channel, rel);
    }
    if (u->key_id) {
        sqlite3_stmt *k = NULL;
        if (sqlite3_prepare_v2(s->wdb, "SELECT key, iv FROM keys WHERE id=?", -1, &k, NULL) ==
                SQLITE_OK &&
            sqlite3_bind_int64(k, 1, u->key_id) == SQLITE_OK && sqlite3_step(k) == SQLITE_ROW) {
            enc = hp_encrypt((const char *)sqlite3_column_text(k, 0),
                             (const char *)sqlite3_column_text(k, 1), u->body, u->len, &len);
        }
        sqlite3_finalize(k);
        if (enc == NULL) {
            /* never in clear */
            snprintf(j->why, sizeof(j->why), "cannot encrypt with key %lld", (long long)u->key_id);
            return;
        }
        data = enc;
    }
    if (hp_mkdirs(path) != 0 || hp_write_file(path, data, len) != 0) {
        snprintf(j->why, sizeof(j->why), "cannot write %.80s: %.60s", rel, strerror(errno));
        free(enc);
        return;
    }
    free(enc);
    rc = sqlite3_prepare_v2(s->wdb,
                            "INSERT OR REPLACE INTO segments(channel, start_ms, duration_ms, seq,"
                            " disc, path, bytes, uri, key_id, clear_bytes)"
                            " VALUES(?,?,?,?,?,?,?,?,?,?)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, u->channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->start_ms);
        sqlite3_bind_int64(st, 3, u->duration_ms);
        sqlite3_bind_int64(st, 4, u->seq);
        sqlite3_bind_int(st, 5, u->disc);
        sqlite3_bind_text(st, 6, rel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t)len);
        sqlite3_bind_text(st, 8, u->uri ? u->uri : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, u->key_id);
        sqlite3_bind_int64(st, 10, (int64_t)u->len);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(j->why, sizeof(j->why), "cannot index %s: %s", rel, sqlite3_errmsg(s->wdb));
        unlink(path);
        return;
    }
    j->ok = 1;
    j->bytes = (int64_t)len;
}

/* Remove dir and its parents up to (not including) stop while empty. */
static void
hp_prune_dirs(char *path, size_t stop)
{
    char *slash;
    while ((slash = strrchr(path, '/')) != NULL && (size_t)(slash - path) > stop) {
        *slash = 0;
        if (rmdir(path) != 0) break;
    }
}

static void
hp_clean(hp_store_t *s)
{
    hp_depth_t *d;
    int64_t now = hp_now_ms();

    pthread_mutex_lock(&s->mu);
    d = s->depths;
    pthread_mutex_unlock(&s->mu);
    /* entries are only ever pushed at the head and freed after the thread
     * ended: the snapshot is safe to walk without the lock */
    for (; d; d = d->next) {
        int64_t cutoff = now - d->depth_ms;
        sqlite3_stmt *st = NULL;
        char path[1100];
        size_t base;
        int n = 0;

        base = (size_t)snprintf(path, sizeof(path), "%s/%s", s->dir, d->channel);
        if (sqlite3_prepare_v2(s->wdb,
                               "SELECT path FROM segments WHERE channel=? AND start_ms<?", -1, &st,
                               NULL) != SQLITE_OK) {
            continue;
        }
        sqlite3_exec(s->wdb, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_text(st, 1, d->channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cutoff);
        while (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(path + base, sizeof(path) - base, "/%s", sqlite3_column_text(st, 0));
            if (unlink(path) != 0 && errno != ENOENT) {
                s->h->log(s->p, SG_LOG_WARN, "cannot remove %s: %s", path, strerror(errno));
            }
            hp_prune_dirs(path, base);
            n++;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (n && sqlite3_prepare_v2(s->wdb, "DELETE FROM segments WHERE channel=? AND start_ms<?",
                                    -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, d->channel, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, cutoff);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
        sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
        if (n) s->h->log(s->p, SG_LOG_INFO, "%s: %d segments older than the depth removed", d->channel, n);
    }
}

/* Partial files of a run that was killed: ".<name>.tmp" anywhere below. */
static void
hp_remove_partials(const char *dir, int depth)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char path[1100];

    if (dh == NULL) return;
    while ((e = readdir(dh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' && l > 5 && strcmp(e->d_name + l - 4, ".tmp") == 0) {
            unlink(path);
        } else if (e->d_type == DT_DIR && depth < 7) {
            hp_remove_partials(path, depth + 1);
        }
    }
    closedir(dh);
}

static void *
hp_thread(void *arg)
{
    hp_store_t *s = arg;
    int64_t next_clean = hp_now_ms() + 1000;

    hp_remove_partials(s->dir, 0);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        hp_job_t *j;
        while (s->todo == NULL && !s->quit) {
            int64_t now = hp_now_ms();
            struct timespec until;
            if (now >= next_clean) break;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += (next_clean - now) / 1000;
            until.tv_nsec += ((next_clean - now) % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
        }
        if (s->todo == NULL && s->quit) break;
        j = s->todo;
        if (j) {
            s->todo = j->next;
            if (s->todo == NULL) s->todo_tail = &s->todo;
        }
        pthread_mutex_unlock(&s->mu);
        if (j) {
            hp_store_one(s, j);
        }
        if (hp_now_ms() >= next_clean) {
            hp_clean(s);
            next_clean = hp_now_ms() + HP_CLEAN_MS;
        }
        pthread_mutex_lock(&s->mu);
        if (j) {
            s->backlog -= j->put->len;
            j->next = NULL;
            *s->done_tail = j;
            s->done_tail = &j->next;
            event_active(s->done_ev, EV_READ, 0);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void
hp_put_free(hp_put_t *u)
{
    if (u == NULL) return;
    free(u->body);
    free(u->uri);
    free(u);
}

/* On the loop: report what the writer did. */
static void
hp_done_cb(evutil_socket_t fd, short what, void *arg)
{
    hp_store_t *s = arg;
    hp_job_t *j;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&s->mu);
    j = s->done;
    s->done = NULL;
    s->done_tail = &s->done;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        hp_job_t *next = j->next;
        if (s->stored) s->stored(s->arg, j->put->channel, j->ok, j->bytes, j->why);
        hp_put_free(j->put);
        free(j);
        j = next;
    }
}

/* ---- open, close, put ---------------------------------------------------------------------- */

static sqlite3 *
hp_db_open(const char *path, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    /* an index of the first version: the column came later (an error here
     * only says it is there already) */
    sqlite3_exec(db, "ALTER TABLE segments ADD COLUMN clear_bytes INTEGER NOT NULL DEFAULT 0",
                 NULL, NULL, NULL);
    if (sqlite3_exec(db, hp_schema, NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "%s: %s", path, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

hp_store_t *
hp_store_open(const sg_host_t *h, sg_plugin_t *p, const char *dir, hp_stored_pt stored, void *arg,
              char *why, size_t whylen)
{
    hp_store_t *s = calloc(1, sizeof(*s));
    char path[1024];

    if (s == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    s->h = h;
    s->p = p;
    s->stored = stored;
    s->arg = arg;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    s->todo_tail = &s->todo;
    s->done_tail = &s->done;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    snprintf(path, sizeof(path), "%s/index.db", dir);
    if (hp_mkdirs(path) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        hp_store_close(s);
        return NULL;
    }
    if ((s->rdb = hp_db_open(path, why, whylen)) == NULL ||
        (s->wdb = hp_db_open(path, why, whylen)) == NULL) {
        hp_store_close(s);
        return NULL;
    }
    if (sqlite3_prepare_v3(s->rdb,
                           "SELECT start_ms, duration_ms, seq, disc, bytes, key_id, path, clear_bytes"
                           " FROM segments WHERE channel=?1 AND start_ms>?2 AND start_ms<?3"
                           " ORDER BY start_ms",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->q_range, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(s->rdb,
                           "SELECT start_ms, duration_ms, seq, disc, bytes, key_id, path, clear_bytes"
                           " FROM segments WHERE channel=?1 ORDER BY start_ms DESC LIMIT 1",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->q_last, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(s->rdb,
                           "SELECT start_ms, duration_ms, seq, disc, bytes, key_id, path, clear_bytes"
                           " FROM segments WHERE channel=?1 AND start_ms>?2 ORDER BY start_ms LIMIT 1",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->q_next, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(s->rdb, "SELECT key, iv, uri FROM keys WHERE id=?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &s->q_key, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "%s: %s", path, sqlite3_errmsg(s->rdb));
        hp_store_close(s);
        return NULL;
    }
    s->done_ev = event_new(h->event_base(p), -1, 0, hp_done_cb, s);
    if (s->done_ev == NULL || pthread_create(&s->thread, NULL, hp_thread, s) != 0) {
        snprintf(why, whylen, "cannot start the writer thread");
        hp_store_close(s);
        return NULL;
    }
    s->started = 1;
    return s;
}

void
hp_store_close(hp_store_t *s)
{
    if (s == NULL) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        /* what was written is reported no more: the plugin is going */
    }
    while (s->done) {
        hp_job_t *j = s->done;
        s->done = j->next;
        hp_put_free(j->put);
        free(j);
    }
    while (s->todo) {
        hp_job_t *j = s->todo;
        s->todo = j->next;
        hp_put_free(j->put);
        free(j);
    }
    while (s->depths) {
        hp_depth_t *d = s->depths;
        s->depths = d->next;
        free(d);
    }
    if (s->done_ev) event_free(s->done_ev);
    sqlite3_finalize(s->q_range);
    sqlite3_finalize(s->q_last);
    sqlite3_finalize(s->q_next);
    sqlite3_finalize(s->q_key);
    sqlite3_close(s->rdb);
    sqlite3_close(s->wdb);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int
hp_store_put(hp_store_t *s, hp_put_t *put)
{
    hp_job_t *j;
    pthread_mutex_lock(&s->mu);
    if (s->backlog + put->len > HP_BACKLOG_MAX) {
        pthread_mutex_unlock(&s->mu);
        hp_put_free(put);
        return SG_BUSY;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        pthread_mutex_unlock(&s->mu);
        hp_put_free(put);
        return SG_BUSY;
    }
    j->put = put;
    s->backlog += put->len;
    *s->todo_tail = j;
    s->todo_tail = &j->next;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return SG_OK;
}

void
hp_store_depth(hp_store_t *s, const char *channel, int64_t depth_ms)
{
    hp_depth_t *d = calloc(1, sizeof(*d));
    if (d == NULL) return;
    snprintf(d->channel, sizeof(d->channel), "%s", channel);
    d->depth_ms = depth_ms;
    pthread_mutex_lock(&s->mu);
    d->next = s->depths;
    s->depths = d;
    pthread_mutex_unlock(&s->mu);
}

size_t
hp_store_backlog(hp_store_t *s)
{
    size_t n;
    pthread_mutex_lock(&s->mu);
    n = s->backlog;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- reads ------------------------------------------------------------------------------------ */

static void
hp_row(sqlite3_stmt *st, hp_seg_t *g)
{
    const unsigned char *path = sqlite3_column_text(st, 6);
    size_t pl = (size_t)sqlite3_column_bytes(st, 6);
    g->start_ms = sqlite3_column_int64(st, 0);
    g->duration_ms = sqlite3_column_int64(st, 1);
    g->seq = sqlite3_column_int64(st, 2);
    g->disc = sqlite3_column_int(st, 3);
    g->bytes = sqlite3_column_int64(st, 4);
    g->key_id = sqlite3_column_int64(st, 5);
    g->clear_bytes = sqlite3_column_int64(st, 7);
    if (g->clear_bytes <= 0) g->clear_bytes = g->bytes;
    if (path == NULL || pl >= sizeof(g->path)) pl = 0;
    if (pl) memcpy(g->path, path, pl);
    g->path[pl] = 0;
}

int
hp_store_last(hp_store_t *s, const char *channel, hp_seg_t *out)
{
    int rc = SG_DECLINED;
    sqlite3_bind_text(s->q_last, 1, channel, -1, SQLITE_STATIC);
    if (sqlite3_step(s->q_last) == SQLITE_ROW) {
        hp_row(s->q_last, out);
        rc = SG_OK;
    }
    sqlite3_reset(s->q_last);
    return rc;
}

int
hp_store_next(hp_store_t *s, const char *channel, int64_t after_ms, hp_seg_t *out)
{
    int rc = SG_DECLINED;
    sqlite3_bind_text(s->q_next, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->q_next, 2, after_ms);
    if (sqlite3_step(s->q_next) == SQLITE_ROW) {
        hp_row(s->q_next, out);
        rc = SG_OK;
    }
    sqlite3_reset(s->q_next);
    return rc;
}

long
hp_store_range(hp_store_t *s, const char *channel, int64_t from_ms, int64_t to_ms,
               int (*cb)(void *arg, const hp_seg_t *seg), void *arg)
{
    long n = 0;
    int rc;
    hp_seg_t g;

    /* the primary key's range; a segment that began before from_ms but
     * still runs is found by looking back one longest segment */
    sqlite3_bind_text(s->q_range, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->q_range, 2, from_ms - HP_MAX_SEG_MS);
    sqlite3_bind_int64(s->q_range, 3, to_ms);
    while ((rc = sqlite3_step(s->q_range)) == SQLITE_ROW) {
        hp_row(s->q_range, &g);
        if (g.start_ms + g.duration_ms <= from_ms) continue;
        n++;
        if (cb(arg, &g)) break;
    }
    sqlite3_reset(s->q_range);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

int
hp_store_key(hp_store_t *s, int64_t id, hp_key_t *out)
{
    int rc = SG_DECLINED;
    sqlite3_bind_int64(s->q_key, 1, id);
    if (sqlite3_step(s->q_key) == SQLITE_ROW) {
        out->id = id;
        snprintf(out->key, sizeof(out->key), "%s", sqlite3_column_text(s->q_key, 0));
        snprintf(out->iv, sizeof(out->iv), "%s", sqlite3_column_text(s->q_key, 1));
        snprintf(out->uri, sizeof(out->uri), "%s", sqlite3_column_text(s->q_key, 2));
        rc = SG_OK;
    }
    sqlite3_reset(s->q_key);
    return rc;
}

int64_t
hp_store_add_key(hp_store_t *s, const char *channel, const hp_key_t *k)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(s->rdb,
                           "INSERT INTO keys(channel, key, iv, uri, created) VALUES(?,?,?,?,?)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, k->iv, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, k->uri, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, hp_now_ms() / 1000);
        if (sqlite3_step(st) == SQLITE_DONE) id = sqlite3_last_insert_rowid(s->rdb);
    }
    sqlite3_finalize(st);
    return id;
}

const char *
hp_store_file(hp_store_t *s, const char *channel, const char *rel, char *buf, size_t n)
{
    /* YYYY/MM/DD/HH/MM/SS-DDDDD.ts or ..._mmm.ts: digits where digits go */
    static const char shape[] = "dddd/dd/dd/dd/dd/dd-ddddd";
    size_t l = strlen(rel), i;
    if (l != sizeof(shape) - 1 + 3 && l != sizeof(shape) - 1 + 7) return NULL;
    for (i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? (rel[i] < '0' || rel[i] > '9') : rel[i] != shape[i]) return NULL;
    }
    if (l == sizeof(shape) - 1 + 7) {
        if (rel[i] != '_' || rel[i + 1] < '0' || rel[i + 1] > '9' || rel[i + 2] < '0' ||
            rel[i + 2] > '9' || rel[i + 3] < '0' || rel[i + 3] > '9') {
            return NULL;
        }
        i += 4;
    }
    if (strcmp(rel + i, ".ts") != 0) return NULL;
    if ((size_t)snprintf(buf, n, "%s/%s/%s", s->dir, channel, rel) >= n) return NULL;
    return buf;
}
