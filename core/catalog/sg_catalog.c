#include "sg_catalog.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs/sg_worker.h"
#include "util/sg_arena.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_CATALOG_SCHEMA_VERSION 3

/* The EPG and the cloud recordings have the same rows. */
#define SG_PROGRAMME_COLUMNS                                                                  \
    " cid INTEGER NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL,"                   \
    " title TEXT NOT NULL, sub_title TEXT, description TEXT, series TEXT,"                    \
    " season INTEGER NOT NULL DEFAULT 0, episode INTEGER NOT NULL DEFAULT 0,"                 \
    " year INTEGER NOT NULL DEFAULT 0, genre TEXT, age_rating INTEGER NOT NULL DEFAULT 0,"    \
    " icon TEXT, pid TEXT, credits TEXT,"                                                     \
    " PRIMARY KEY(cid, start)) WITHOUT ROWID;"

static const char sg_catalog_schema[] =
    "CREATE TABLE IF NOT EXISTS channels("
    " cid INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " plugin TEXT NOT NULL,"
    " provider_id TEXT NOT NULL,"
    " tvg_id TEXT, name TEXT NOT NULL, number INTEGER NOT NULL DEFAULT 0,"
    " logo TEXT, groups TEXT, caps INTEGER NOT NULL DEFAULT 0,"
    " catchup_days INTEGER NOT NULL DEFAULT 0,"
    " active INTEGER NOT NULL DEFAULT 1, gen INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(plugin, provider_id));"
    "CREATE TABLE IF NOT EXISTS programmes(" SG_PROGRAMME_COLUMNS
    "CREATE INDEX IF NOT EXISTS programmes_stop ON programmes(stop);"
    /* version 3: cloud recordings, shaped like programmes, no retention */
    "CREATE TABLE IF NOT EXISTS cloud(" SG_PROGRAMME_COLUMNS
    "CREATE TABLE IF NOT EXISTS kv("
    " plugin TEXT NOT NULL, key TEXT NOT NULL, value BLOB, updated INTEGER,"
    " PRIMARY KEY(plugin, key)) WITHOUT ROWID;";

struct sg_guide_wait_s {
    sg_guide_wait_t *next;
    int kind;
    char *base;
    sg_guide_pt cb;
    void *arg;
};

struct sg_txn_s {
    sg_catalog_t *c;
    void *owner;
    char *plugin;
    unsigned flags;
    sg_arena_t arena;
    sg_channel_t *chans;
    size_t nchans, capchans;
    sg_programme_t *progs;
    size_t nprogs, capprogs;
    char **reserved; /* snapshot, arena */
    sg_done_pt done;
    void *arg;
    /* results, written by the worker */
    int rc;
    uint64_t seq;
    int added, removed, renamed;
    size_t skipped;
    int64_t total; /* programmes of active channels after the commit */
};

typedef struct sg_render_s {
    sg_catalog_t *c;
    int kind;
    char *base;
    sg_guide_t *g;
    int rc;
} sg_render_t;

struct sg_catalog_s {
    struct event_base *base;
    char *dir;
    char *path;
    sqlite3 *rdb; /* loop thread   */
    sqlite3 *wdb; /* worker thread */
    sg_worker_t *worker;
    int retention_days;
    char **reserved;

    /* loop-thread view */
    sg_chan_t *chans;
    size_t nchans;
    size_t *hidx; /* open addressing, index+1, 0 = empty */
    size_t hsize;
    uint64_t version;
    int64_t nprog;
    int busy;

    /* worker-thread counter: commits applied */
    uint64_t applied;

    /* playlist cache */
    char *m3u, *m3u_base;
    size_t m3u_len;
    uint64_t m3u_version;

    /* guides, by kind (SG_GUIDE_*) */
    sg_guide_t *guide[SG_GUIDE_KINDS];
    sg_guide_wait_t *waiters;
    int rendering[SG_GUIDE_KINDS];
    char *last_base; /* of the main guide: kept warm after each commit */
    sg_catalog_epg_pt on_epg;
    void *on_epg_arg;
};

/* ---- small sqlite helpers ---------------------------------------------------- */

static int
sg_db_exec(sqlite3 *db, const char *sql, const char *what)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "%s: %s", what, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static void
sg_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static char *
sg_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int
sg_db_open_one(const char *path, sqlite3 **out, int cache_kib)
{
    sqlite3 *db = NULL;
    char pragma[128];
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "cannot open %s: %s", path,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%d;", cache_kib);
    if (sg_db_exec(db, pragma, path) != 0) {
        rc = sqlite3_errcode(db);
        sqlite3_close(db);
        return rc ? rc : SQLITE_ERROR;
    }
    *out = db;
    return SQLITE_OK;
}

/* Set up the schema; SQLITE_CORRUPT / SQLITE_NOTADB tell the caller to move
 * the file aside. */
static int
sg_db_init(sqlite3 *db)
{
    sqlite3_stmt *st;
    int ver = 0, rc;
    char sql[64];

    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    if (sqlite3_step(st) == SQLITE_ROW) ver = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (ver > SG_CATALOG_SCHEMA_VERSION) {
        sg_log(SG_LOG_ERR, "catalog",
               "catalog schema version %d is newer than this streamgate (%d); refusing to touch it",
               ver, SG_CATALOG_SCHEMA_VERSION);
        return SQLITE_MISMATCH;
    }
    rc = sqlite3_exec(db, sg_catalog_schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    if (ver == 1) {
        /* version 2 added programme credits; column and version change
         * together or not at all */
        rc = sqlite3_exec(db,
                          "BEGIN; ALTER TABLE programmes ADD COLUMN credits TEXT;"
                          " PRAGMA user_version=2; COMMIT;",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
            return rc;
        }
        sg_log(SG_LOG_NOTICE, "catalog", "catalog schema upgraded from version 1 to 2");
    }
    /* version 3 only added the cloud table, created above */
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;", SG_CATALOG_SCHEMA_VERSION);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    /* A quick sanity read: a damaged file fails here, not mid-stream. */
    rc = sqlite3_exec(db, "SELECT count(*) FROM channels; PRAGMA quick_check(1);", NULL, NULL,
                      NULL);
    return rc;
}

/* ---- channel table (loop thread) ---------------------------------------------- */

static uint32_t
sg_hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The default XMLTV id when a plugin gives none: "<id>.<plugin>", shaped
 * like the ids XMLTV recommends ([-A-Za-z0-9]+ labels joined by dots), so
 * the guide passes tv_validate_file as well as the DTD. */
static char *
sg_default_tvg_id(const char *id, const char *plugin)
{
    size_t n = strlen(id) + strlen(plugin) + 2, o = 0;
    char *out = malloc(n);
    const char *parts[2] = {id, plugin};

    if (out == NULL) return NULL;
    for (int k = 0; k < 2; k++) {
        int label = 0; /* characters in the current label */
        if (k == 1 && o > 0) out[o++] = '.';
        for (const char *p = parts[k]; *p; p++) {
            char c = *p;
            if (c == '.') {
                if (label == 0) continue; /* no empty labels */
                out[o++] = '.';
                label = 0;
                continue;
            }
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) c = '-';
            out[o++] = c;
            label++;
        }
        if (o > 0 && out[o - 1] == '.') o--;
    }
    out[o] = '\0';
    return out;
}

static void
sg_chan_clear(sg_chan_t *ch)
{
    free(ch->id);
    free(ch->plugin);
    free(ch->provider_id);
    free(ch->tvg_id);
    free(ch->name);
    free(ch->logo);
    free(ch->groups);
}

static void
sg_chans_free(sg_chan_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) sg_chan_clear(&v[i]);
    free(v);
}

static int
sg_catalog_load_channels(sg_catalog_t *c)
{
    sqlite3_stmt *st;
    sg_chan_t *v = NULL;
    size_t n = 0, cap = 0, hsize;
    size_t *hidx;
    int rc;

    rc = sqlite3_prepare_v2(c->rdb,
                            "SELECT id, plugin, provider_id, tvg_id, name, number, logo, groups,"
                            " caps, catchup_days FROM channels WHERE active=1"
                            " ORDER BY number=0, number, name COLLATE NOCASE, id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "reading channels: %s", sqlite3_errmsg(c->rdb));
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sg_chan_t *ch;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            sg_chan_t *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) break;
            v = nv;
            cap = ncap;
        }
        ch = &v[n++];
        memset(ch, 0, sizeof(*ch));
        ch->id = sg_col_dup(st, 0);
        ch->plugin = sg_col_dup(st, 1);
        ch->provider_id = sg_col_dup(st, 2);
        ch->tvg_id = sg_col_dup(st, 3);
        if (ch->tvg_id == NULL && ch->provider_id && ch->plugin) {
            ch->tvg_id = sg_default_tvg_id(ch->provider_id, ch->plugin);
        }
        ch->name = sg_col_dup(st, 4);
        ch->number = sqlite3_column_int(st, 5);
        ch->logo = sg_col_dup(st, 6);
        ch->groups = sg_col_dup(st, 7);
        ch->caps = (uint32_t)sqlite3_column_int64(st, 8);
        ch->catchup_days = sqlite3_column_int(st, 9);
        if (ch->id == NULL || ch->plugin == NULL || ch->name == NULL || ch->tvg_id == NULL) {
            sg_chan_clear(ch); /* out of memory on this row: skip it, keep the rest */
            n--;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "catalog", "reading channels: %s", sqlite3_errmsg(c->rdb));
        sg_chans_free(v, n);
        return -1;
    }

    hsize = 64;
    while (hsize < n * 2) hsize *= 2;
    hidx = calloc(hsize, sizeof(*hidx));
    if (hidx == NULL) {
        sg_chans_free(v, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t h = sg_hash_str(v[i].id) & (hsize - 1);
        while (hidx[h]) h = (h + 1) & (hsize - 1);
        hidx[h] = i + 1;
    }
    sg_chans_free(c->chans, c->nchans);
    free(c->hidx);
    c->chans = v;
    c->nchans = n;
    c->hidx = hidx;
    c->hsize = hsize;
    return 0;
}

/* Programmes of active channels: a scan, so it runs where the data was just
 * written (the catalog thread after a commit; once at open). */
static int64_t
sg_catalog_count_programmes(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM programmes p JOIN channels c USING(cid)"
                           " WHERE c.active=1",
                           -1, &st, NULL) != SQLITE_OK) {
        return 0;
    }
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

const sg_chan_t *
sg_catalog_channel(sg_catalog_t *c, const char *id)
{
    size_t h;
    if (c->hsize == 0) return NULL;
    h = sg_hash_str(id) & (c->hsize - 1);
    while (c->hidx[h]) {
        const sg_chan_t *ch = &c->chans[c->hidx[h] - 1];
        if (strcmp(ch->id, id) == 0) return ch;
        h = (h + 1) & (c->hsize - 1);
    }
    return NULL;
}

size_t
sg_catalog_nchannels(sg_catalog_t *c)
{
    return c->nchans;
}

const sg_chan_t *
sg_catalog_channel_at(sg_catalog_t *c, size_t i)
{
    return i < c->nchans ? &c->chans[i] : NULL;
}

size_t
sg_catalog_nchannels_of(sg_catalog_t *c, const char *plugin)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nchans; i++) n += strcmp(c->chans[i].plugin, plugin) == 0;
    return n;
}

uint64_t
sg_catalog_version(sg_catalog_t *c)
{
    return c->version;
}

int64_t
sg_catalog_nprogrammes(sg_catalog_t *c)
{
    return c->nprog;
}

int
sg_catalog_busy(sg_catalog_t *c)
{
    return c->busy;
}

void
sg_catalog_set_reserved(sg_catalog_t *c, const char *const *words)
{
    size_t n = 0;
    if (c->reserved) {
        for (char **w = c->reserved; *w; w++) free(*w);
        free(c->reserved);
        c->reserved = NULL;
    }
    while (words && words[n]) n++;
    c->reserved = calloc(n + 1, sizeof(char *));
    if (c->reserved == NULL) return;
    for (size_t i = 0; i < n; i++) c->reserved[i] = strdup(words[i]);
}

/* ---- open / close ---------------------------------------------------------------- */

static int
sg_catalog_open_db(sg_catalog_t *c)
{
    int rc = sg_db_open_one(c->path, &c->wdb, 4096);
    if (rc == SQLITE_OK) rc = sg_db_init(c->wdb);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        char aside[PATH_MAX + 32];
        sqlite3_close(c->wdb);
        c->wdb = NULL;
        snprintf(aside, sizeof(aside), "%s.corrupt-%lld", c->path, (long long)time(NULL));
        sg_log(SG_LOG_ERR, "catalog", "%s is damaged (%s); moved aside as %s, starting empty",
               c->path, sqlite3_errstr(rc), aside);
        if (rename(c->path, aside) != 0) {
            sg_log(SG_LOG_ERR, "catalog", "cannot move %s aside: %s", c->path, strerror(errno));
            return -1;
        }
        for (const char *suffix = "-wal"; suffix; suffix = suffix[1] == 'w' ? "-shm" : NULL) {
            char extra[PATH_MAX + 8];
            snprintf(extra, sizeof(extra), "%s%s", c->path, suffix);
            unlink(extra);
        }
        rc = sg_db_open_one(c->path, &c->wdb, 4096);
        if (rc == SQLITE_OK) rc = sg_db_init(c->wdb);
    }
    if (rc != SQLITE_OK) {
        if (rc != SQLITE_MISMATCH) {
            sg_log(SG_LOG_ERR, "catalog", "cannot initialise %s: %s", c->path,
                   c->wdb ? sqlite3_errmsg(c->wdb) : sqlite3_errstr(rc));
        }
        return -1;
    }
    if (sg_db_open_one(c->path, &c->rdb, 512) != SQLITE_OK) return -1;
    return 0;
}

sg_catalog_t *
sg_catalog_open(struct event_base *base, const char *state_dir, int retention_days)
{
    sg_catalog_t *c = calloc(1, sizeof(*c));

    if (c == NULL) return NULL;
    c->base = base;
    c->retention_days = retention_days;
    c->dir = strdup(state_dir);
    if (c->dir == NULL) goto fail;
    if (asprintf(&c->path, "%s/catalog.db", state_dir) < 0) {
        c->path = NULL;
        goto fail;
    }
    if (sg_catalog_open_db(c) != 0) goto fail;
    if (sg_catalog_load_channels(c) != 0) goto fail;
    c->nprog = sg_catalog_count_programmes(c->rdb);
    c->version = c->applied = 1;
    c->worker = sg_worker_new(base, "sg-catalog");
    if (c->worker == NULL) goto fail;
    sg_log(SG_LOG_INFO, "catalog", "%s: %zu channels, %lld programmes", c->path, c->nchans,
           (long long)c->nprog);
    return c;

fail:
    sg_catalog_close(c);
    return NULL;
}

void
sg_catalog_close(sg_catalog_t *c)
{
    if (c == NULL) return;
    sg_worker_free(c->worker); /* finishes queued commits and renders */
    while (c->waiters) {
        sg_guide_wait_t *w = c->waiters;
        c->waiters = w->next;
        w->cb(NULL, w->arg);
        free(w->base);
        free(w);
    }
    for (int k = 0; k < SG_GUIDE_KINDS; k++) {
        if (c->guide[k]) sg_guide_unref(c->guide[k]);
    }
    if (c->rdb) sqlite3_close(c->rdb);
    if (c->wdb) sqlite3_close(c->wdb);
    sg_chans_free(c->chans, c->nchans);
    free(c->hidx);
    if (c->reserved) {
        for (char **w = c->reserved; *w; w++) free(*w);
        free(c->reserved);
    }
    free(c->last_base);
    free(c->m3u);
    free(c->m3u_base);
    free(c->path);
    free(c->dir);
    free(c);
}

/* ---- transactions ------------------------------------------------------------------- */

sg_txn_t *
sg_catalog_begin(sg_catalog_t *c, const char *plugin, unsigned flags)
{
    sg_txn_t *t = calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    t->c = c;
    t->flags = flags;
    t->plugin = sg_arena_strdup(&t->arena, plugin);
    if (t->plugin == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

/* Copies into the transaction are clean UTF-8 without XML-forbidden
 * controls, so every writer downstream can trust them. */
static char *
sg_txn_str(sg_txn_t *t, const char *s)
{
    char *d;
    if (s == NULL) return NULL;
    if (sg_utf8_is_clean(s)) return sg_arena_strdup(&t->arena, s);
    d = sg_arena_alloc(&t->arena, strlen(s) * 3 + 1);
    if (d) sg_utf8_clean(d, s);
    return d;
}

void
sg_txn_set_owner(sg_txn_t *t, void *owner)
{
    t->owner = owner;
}

void *
sg_txn_owner(sg_txn_t *t)
{
    return t->owner;
}

static int
sg_txn_grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *nv = realloc(*v, ncap * elem);
    if (nv == NULL) return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

int
sg_txn_channel(sg_txn_t *t, const sg_channel_t *ch)
{
    sg_channel_t *d;

    if (!sg_is_safe_id(ch->id)) {
        sg_log(SG_LOG_WARN, "catalog", "plugin %s: channel id \"%s\" is not URL-safe ([A-Za-z0-9._~-], "
               "at most 64); channel skipped", t->plugin, ch->id ? ch->id : "(null)");
        return SG_ERROR;
    }
    if (ch->name == NULL || ch->name[0] == '\0') {
        sg_log(SG_LOG_WARN, "catalog", "plugin %s: channel \"%s\" has no name; channel skipped",
               t->plugin, ch->id);
        return SG_ERROR;
    }
    if (sg_txn_grow((void **)&t->chans, &t->capchans, t->nchans, sizeof(*t->chans)) != 0) {
        return SG_ERROR;
    }
    d = &t->chans[t->nchans];
    *d = *ch;
    d->id = sg_txn_str(t, ch->id);
    d->tvg_id = sg_txn_str(t, ch->tvg_id);
    if (d->tvg_id == NULL || d->tvg_id[0] == '\0') {
        char *def = sg_default_tvg_id(d->id, t->plugin);
        d->tvg_id = sg_arena_strdup(&t->arena, def);
        free(def);
    }
    d->name = sg_txn_str(t, ch->name);
    d->logo = sg_txn_str(t, ch->logo);
    d->groups = sg_txn_str(t, ch->groups);
    if (d->id == NULL || d->name == NULL) return SG_ERROR;
    if (d->catchup_days < 0) d->catchup_days = 0;
    t->nchans++;
    return SG_OK;
}

int
sg_txn_programme(sg_txn_t *t, const sg_programme_t *pr)
{
    sg_programme_t *d;

    if (pr->channel == NULL || pr->title == NULL || pr->title[0] == '\0' ||
        pr->stop <= pr->start) {
        return SG_ERROR; /* counted, not logged per row: a bad feed has thousands */
    }
    if (sg_txn_grow((void **)&t->progs, &t->capprogs, t->nprogs, sizeof(*t->progs)) != 0) {
        return SG_ERROR;
    }
    d = &t->progs[t->nprogs];
    *d = *pr;
    d->channel = sg_txn_str(t, pr->channel);
    d->title = sg_txn_str(t, pr->title);
    d->sub_title = sg_txn_str(t, pr->sub_title);
    d->description = sg_txn_str(t, pr->description);
    d->series = sg_txn_str(t, pr->series);
    d->genre = sg_txn_str(t, pr->genre);
    d->icon = sg_txn_str(t, pr->icon);
    d->pid = sg_txn_str(t, pr->pid);
    d->credits = sg_txn_str(t, pr->credits);
    if (d->channel == NULL || d->title == NULL) return SG_ERROR;
    t->nprogs++;
    return SG_OK;
}

static void
sg_txn_free(sg_txn_t *t)
{
    sg_arena_free(&t->arena);
    free(t->chans);
    free(t->progs);
    free(t);
}

void
sg_txn_abort(sg_txn_t *t)
{
    if (t) sg_txn_free(t);
}

static int
sg_txn_reserved(const sg_txn_t *t, const char *id)
{
    for (char **w = t->reserved; w && *w; w++) {
        if (strcmp(*w, id) == 0) return 1;
    }
    return 0;
}

static int
sg_db_id_taken(sqlite3 *db, const char *id)
{
    sqlite3_stmt *st;
    int taken = 1;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM channels WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
        return 1;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    taken = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return taken;
}

/* Provider-id -> cid map for the programme loop (keys point into the txn). */
typedef struct sg_cidmap_s {
    const char **keys;
    sqlite3_int64 *cids;
    size_t size, count;
} sg_cidmap_t;

static int
sg_cidmap_init(sg_cidmap_t *m, size_t size)
{
    m->size = size;
    m->count = 0;
    m->keys = calloc(size, sizeof(*m->keys));
    m->cids = calloc(size, sizeof(*m->cids));
    return m->keys && m->cids ? 0 : -1;
}

static void
sg_cidmap_free(sg_cidmap_t *m)
{
    free(m->keys);
    free(m->cids);
}

static sqlite3_int64 *
sg_cidmap_find(const sg_cidmap_t *m, const char *key, size_t *slot)
{
    size_t h = sg_hash_str(key) & (m->size - 1);
    while (m->keys[h]) {
        if (strcmp(m->keys[h], key) == 0) return &m->cids[h];
        h = (h + 1) & (m->size - 1);
    }
    *slot = h;
    return NULL;
}

static void
sg_cidmap_put(sg_cidmap_t *m, const char *key, sqlite3_int64 cid)
{
    size_t slot;
    if ((m->count + 1) * 2 > m->size) {
        sg_cidmap_t bigger;
        if (sg_cidmap_init(&bigger, m->size * 2) != 0) {
            sg_cidmap_free(&bigger);
            return; /* uncached: the caller looks it up again next time */
        }
        for (size_t i = 0; i < m->size; i++) {
            if (m->keys[i]) sg_cidmap_put(&bigger, m->keys[i], m->cids[i]);
        }
        sg_cidmap_free(m);
        *m = bigger;
    }
    if (sg_cidmap_find(m, key, &slot) == NULL) {
        m->keys[slot] = key;
        m->cids[slot] = cid;
        m->count++;
    }
}

static int
sg_catalog_apply_channels(sg_txn_t *t, sqlite3 *db, sqlite3_int64 gen)
{
    sqlite3_stmt *find = NULL, *upd = NULL, *ins = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(db, "SELECT cid FROM channels WHERE plugin=? AND provider_id=?", -1,
                           &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE channels SET tvg_id=?, name=?, number=?, logo=?, groups=?,"
                           " caps=?, catchup_days=?, active=1, gen=? WHERE cid=?",
                           -1, &upd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO channels(id, plugin, provider_id, tvg_id, name, number,"
                           " logo, groups, caps, catchup_days, active, gen)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,1,?)",
                           -1, &ins, NULL) != SQLITE_OK) {
        goto out;
    }
    for (size_t i = 0; i < t->nchans; i++) {
        const sg_channel_t *ch = &t->chans[i];
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, t->plugin, -1, SQLITE_STATIC);
        sqlite3_bind_text(find, 2, ch->id, -1, SQLITE_STATIC);
        if (sqlite3_step(find) == SQLITE_ROW) {
            sqlite3_int64 cid = sqlite3_column_int64(find, 0);
            sqlite3_reset(upd);
            sg_bind_text(upd, 1, ch->tvg_id);
            sg_bind_text(upd, 2, ch->name);
            sqlite3_bind_int(upd, 3, ch->number);
            sg_bind_text(upd, 4, ch->logo);
            sg_bind_text(upd, 5, ch->groups);
            sqlite3_bind_int64(upd, 6, ch->caps);
            sqlite3_bind_int(upd, 7, ch->catchup_days);
            sqlite3_bind_int64(upd, 8, gen);
            sqlite3_bind_int64(upd, 9, cid);
            if (sqlite3_step(upd) != SQLITE_DONE) goto out;
            continue;
        }
        /* New channel: its id is the plugin's unless another plugin (or a
         * route) has it; then <plugin>-<id>, and a number if even that is
         * taken. The choice is stored, so it stays stable across restarts. */
        char cand[160];
        snprintf(cand, sizeof(cand), "%s", ch->id);
        if (sg_txn_reserved(t, cand) || sg_db_id_taken(db, cand)) {
            snprintf(cand, sizeof(cand), "%s-%s", t->plugin, ch->id);
            for (int n = 2; sg_txn_reserved(t, cand) || sg_db_id_taken(db, cand); n++) {
                snprintf(cand, sizeof(cand), "%s-%s-%d", t->plugin, ch->id, n);
            }
            sg_log(SG_LOG_WARN, "catalog",
                   "plugin %s: channel id \"%s\" is already taken (by another plugin or a route);"
                   " published as \"%s\"",
                   t->plugin, ch->id, cand);
            t->renamed++;
        }
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, cand, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, t->plugin, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, ch->id, -1, SQLITE_STATIC);
        sg_bind_text(ins, 4, ch->tvg_id);
        sg_bind_text(ins, 5, ch->name);
        sqlite3_bind_int(ins, 6, ch->number);
        sg_bind_text(ins, 7, ch->logo);
        sg_bind_text(ins, 8, ch->groups);
        sqlite3_bind_int64(ins, 9, ch->caps);
        sqlite3_bind_int(ins, 10, ch->catchup_days);
        sqlite3_bind_int64(ins, 11, gen);
        if (sqlite3_step(ins) != SQLITE_DONE) goto out;
        t->added++;
    }
    if (t->flags & SG_TXN_REPLACE_CHANNELS) {
        sqlite3_stmt *off;
        /* Kept in the table (inactive) so the id and the past EPG survive a
         * channel that disappears for one discovery round. */
        if (sqlite3_prepare_v2(db,
                               "UPDATE channels SET active=0 WHERE plugin=? AND gen<>? AND active=1",
                               -1, &off, NULL) != SQLITE_OK) {
            goto out;
        }
        sqlite3_bind_text(off, 1, t->plugin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(off, 2, gen);
        rc = sqlite3_step(off) == SQLITE_DONE ? 0 : -1;
        t->removed = sqlite3_changes(db);
        sqlite3_finalize(off);
        if (rc != 0) goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(find);
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    return rc;
}

/* Into the EPG (programmes a new one overlaps go), or, for SG_TXN_CLOUD,
 * into the cloud table, whose rows of this plugin the transaction replaces. */
static int
sg_catalog_apply_programmes(sg_txn_t *t, sqlite3 *db)
{
    const char *table = (t->flags & SG_TXN_CLOUD) ? "cloud" : "programmes";
    sqlite3_stmt *find = NULL, *del = NULL, *ins = NULL;
    sg_cidmap_t map;
    char sql[400];
    int rc = -1;

    if (t->flags & SG_TXN_CLOUD) {
        sqlite3_stmt *clear;
        if (sqlite3_prepare_v2(db,
                               "DELETE FROM cloud WHERE cid IN"
                               " (SELECT cid FROM channels WHERE plugin=?)",
                               -1, &clear, NULL) != SQLITE_OK) {
            return -1;
        }
        sqlite3_bind_text(clear, 1, t->plugin, -1, SQLITE_STATIC);
        rc = sqlite3_step(clear) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(clear);
        if (rc != 0) return -1;
        rc = -1;
    }
    if (t->nprogs == 0) return 0;
    if (sg_cidmap_init(&map, 256) != 0) goto out;

    if (sqlite3_prepare_v2(db, "SELECT cid FROM channels WHERE plugin=? AND provider_id=?", -1,
                           &find, NULL) != SQLITE_OK) {
        goto out;
    }
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE cid=? AND start<? AND stop>?", table);
    if (sqlite3_prepare_v2(db, sql, -1, &del, NULL) != SQLITE_OK) goto out;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s(cid, start, stop, title, sub_title, description, series, season,"
             " episode, year, genre, age_rating, icon, pid, credits)"
             " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             table);
    if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK) goto out;
    for (size_t i = 0; i < t->nprogs; i++) {
        const sg_programme_t *p = &t->progs[i];
        size_t slot;
        sqlite3_int64 *known = sg_cidmap_find(&map, p->channel, &slot), cid;

        if (known) {
            cid = *known;
        } else {
            sqlite3_reset(find);
            sqlite3_bind_text(find, 1, t->plugin, -1, SQLITE_STATIC);
            sqlite3_bind_text(find, 2, p->channel, -1, SQLITE_STATIC);
            cid = sqlite3_step(find) == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
            sg_cidmap_put(&map, p->channel, cid);
        }
        if (cid == 0) {
            t->skipped++;
            continue;
        }
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, cid);
        sqlite3_bind_int64(del, 2, p->stop);
        sqlite3_bind_int64(del, 3, p->start);
        if (sqlite3_step(del) != SQLITE_DONE) goto out;

        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, cid);
        sqlite3_bind_int64(ins, 2, p->start);
        sqlite3_bind_int64(ins, 3, p->stop);
        sg_bind_text(ins, 4, p->title);
        sg_bind_text(ins, 5, p->sub_title);
        sg_bind_text(ins, 6, p->description);
        sg_bind_text(ins, 7, p->series);
        sqlite3_bind_int(ins, 8, p->season);
        sqlite3_bind_int(ins, 9, p->episode);
        sqlite3_bind_int(ins, 10, p->year);
        sg_bind_text(ins, 11, p->genre);
        sqlite3_bind_int(ins, 12, p->age_rating);
        sg_bind_text(ins, 13, p->icon);
        sg_bind_text(ins, 14, p->pid);
        sg_bind_text(ins, 15, p->credits);
        if (sqlite3_step(ins) != SQLITE_DONE) goto out;
    }
    rc = 0;
out:
    sg_cidmap_free(&map);
    sqlite3_finalize(find);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

static int
sg_catalog_apply_retention(sg_catalog_t *c, sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(db, "DELETE FROM programmes WHERE stop<?", -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL) - (sqlite3_int64)c->retention_days * 86400);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* After a big write or render: give SQLite's page cache and the freed heap
 * back to the system, so a daemon that ingested a week of EPG an hour ago
 * does not sit on that memory until the next ingest. */
static void
sg_catalog_trim(sqlite3 *db)
{
    sqlite3_db_release_memory(db);
    malloc_trim(0);
}

/* A generation number never used before, across restarts: channels whose
 * generation a REPLACE transaction did not set were not re-published. */
static sqlite3_int64
sg_catalog_next_gen(sqlite3 *db)
{
    sqlite3_stmt *st;
    sqlite3_int64 gen = 1;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(gen), 0) + 1 FROM channels", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) gen = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return gen;
}

/* Worker thread. */
static void
sg_catalog_apply(void *arg)
{
    sg_txn_t *t = arg;
    sg_catalog_t *c = t->c;
    sqlite3 *db = c->wdb;

    t->rc = SG_ERROR;
    if (sg_db_exec(db, "BEGIN IMMEDIATE", "catalog transaction") != 0) return;
    if (sg_catalog_apply_channels(t, db, sg_catalog_next_gen(db)) != 0 ||
        sg_catalog_apply_programmes(t, db) != 0 || sg_catalog_apply_retention(c, db) != 0) {
        sg_log(SG_LOG_ERR, "catalog", "plugin %s: catalog update failed, nothing changed: %s",
               t->plugin, sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    if (sg_db_exec(db, "COMMIT", "catalog commit") != 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    t->seq = ++c->applied;
    t->rc = SG_OK;
    t->total = sg_catalog_count_programmes(db);
    sg_catalog_trim(db);
}

static void sg_catalog_render_start(sg_catalog_t *c, int kind, const char *base);

/* Loop thread. */
static void
sg_catalog_applied(void *arg)
{
    sg_txn_t *t = arg;
    sg_catalog_t *c = t->c;

    c->busy--;
    if (t->rc == SG_OK) {
        sg_catalog_load_channels(c);
        c->nprog = t->total;
        c->version = t->seq;
        sg_log(SG_LOG_INFO, "catalog",
               "plugin %s: %zu channels (%d new, %d gone), %zu programmes%s; catalog now %zu channels,"
               " %lld programmes",
               t->plugin, t->nchans, t->added, t->removed, t->nprogs - t->skipped,
               t->skipped ? " (some for unknown channels were skipped)" : "", c->nchans,
               (long long)c->nprog);
        /* Keep the guide warm for the clients that asked before. */
        if (c->last_base && !c->rendering[SG_GUIDE_MAIN]) {
            sg_catalog_render_start(c, SG_GUIDE_MAIN, c->last_base);
        }
        if (c->on_epg && t->nprogs > 0 && !(t->flags & SG_TXN_CLOUD)) {
            c->on_epg(c->on_epg_arg, t->plugin);
        }
    }
    if (t->done) t->done(t->arg, t->rc);
    sg_txn_free(t);
}

int
sg_txn_commit(sg_txn_t *t, sg_done_pt done, void *arg)
{
    sg_catalog_t *c = t->c;
    size_t n = 0;

    t->done = done;
    t->arg = arg;
    while (c->reserved && c->reserved[n]) n++;
    t->reserved = sg_arena_alloc(&t->arena, (n + 1) * sizeof(char *));
    if (t->reserved == NULL) goto fail;
    for (size_t i = 0; i < n; i++) t->reserved[i] = sg_arena_strdup(&t->arena, c->reserved[i]);
    if (sg_worker_submit(c->worker, sg_catalog_apply, sg_catalog_applied, t) != 0) goto fail;
    c->busy++;
    return SG_OK;
fail:
    sg_txn_free(t);
    return SG_ERROR;
}

/* ---- guide -------------------------------------------------------------------------- */

static void
sg_guide_free(sg_guide_t *g)
{
    if (g->xml_fd >= 0) close(g->xml_fd);
    if (g->gz_fd >= 0) close(g->gz_fd);
    free(g->base);
    free(g);
}

void
sg_guide_unref(sg_guide_t *g)
{
    if (g == NULL || --g->refs > 0) return;
    sg_guide_free(g);
}

static void
sg_catalog_render_work(void *arg)
{
    sg_render_t *r = arg;
    r->g->version = r->c->applied;
    r->rc = sg_xmltv_render(r->c->wdb, r->base, r->c->dir, r->kind, r->g);
    sg_catalog_trim(r->c->wdb);
}

static void
sg_catalog_render_done(void *arg)
{
    sg_render_t *r = arg;
    sg_catalog_t *c = r->c;
    sg_guide_t **cur = &c->guide[r->kind];
    sg_guide_wait_t **pp, *w;

    c->rendering[r->kind] = 0;
    if (r->rc == 0) {
        r->g->base = r->base;
        r->base = NULL;
        r->g->refs = 1;
        if (*cur) sg_guide_unref(*cur);
        *cur = r->g;
        sg_log(SG_LOG_INFO, "catalog",
               "%s rendered: %zu programmes, %lld bytes (%lld gzipped) in %.1f ms",
               r->kind == SG_GUIDE_CLOUD ? "cloud guide" : "guide", (*cur)->programmes,
               (long long)(*cur)->xml_len, (long long)(*cur)->gz_len, (*cur)->render_ms);
    } else {
        sg_guide_free(r->g);
    }
    /* Serve the waiters this render satisfies; fail them all if it failed. */
    pp = &c->waiters;
    while ((w = *pp)) {
        int match;
        if (w->kind != r->kind) {
            pp = &w->next;
            continue;
        }
        match = *cur && (*cur)->version == c->version && strcmp(w->base, (*cur)->base) == 0;
        if (r->rc == 0 && !match) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        if (r->rc == 0) {
            (*cur)->refs++;
            w->cb(*cur, w->arg);
        } else {
            w->cb(NULL, w->arg);
        }
        free(w->base);
        free(w);
    }
    free(r->base);
    free(r);
    for (w = c->waiters; w; w = w->next) {
        if (!c->rendering[w->kind]) sg_catalog_render_start(c, w->kind, w->base);
    }
}

static void
sg_catalog_render_start(sg_catalog_t *c, int kind, const char *base)
{
    sg_render_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return;
    r->c = c;
    r->kind = kind;
    r->base = strdup(base);
    r->g = calloc(1, sizeof(*r->g));
    if (r->g) r->g->xml_fd = r->g->gz_fd = -1;
    if (r->base == NULL || r->g == NULL ||
        sg_worker_submit(c->worker, sg_catalog_render_work, sg_catalog_render_done, r) != 0) {
        free(r->base);
        free(r->g);
        free(r);
        return;
    }
    c->rendering[kind] = 1;
}

sg_guide_wait_t *
sg_catalog_guide(sg_catalog_t *c, int kind, const char *base, sg_guide_pt cb, void *arg)
{
    sg_guide_t *g;
    sg_guide_wait_t *w;

    if (kind < 0 || kind >= SG_GUIDE_KINDS) {
        cb(NULL, arg);
        return NULL;
    }
    g = c->guide[kind];
    if (kind == SG_GUIDE_MAIN && (c->last_base == NULL || strcmp(c->last_base, base) != 0)) {
        free(c->last_base);
        c->last_base = strdup(base);
    }
    if (g && g->version == c->version && strcmp(g->base, base) == 0) {
        g->refs++;
        cb(g, arg);
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL || (w->base = strdup(base)) == NULL) {
        free(w);
        cb(NULL, arg);
        return NULL;
    }
    w->kind = kind;
    w->cb = cb;
    w->arg = arg;
    w->next = c->waiters;
    c->waiters = w;
    if (!c->rendering[kind]) sg_catalog_render_start(c, kind, base);
    if (!c->rendering[kind]) { /* could not even queue the render */
        c->waiters = w->next;
        free(w->base);
        free(w);
        cb(NULL, arg);
        return NULL;
    }
    return w;
}

void
sg_catalog_guide_cancel(sg_catalog_t *c, sg_guide_wait_t *w)
{
    for (sg_guide_wait_t **pp = &c->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w->base);
            free(w);
            return;
        }
    }
}

/* ---- programme lookups (loop thread) -------------------------------------------------------- */

static void
sg_hit_text(char *out, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

int
sg_catalog_programme_at(sg_catalog_t *c, const char *plugin, const char *channel, int64_t t,
                        int which, sg_prog_hit_t *out)
{
    static const char *const where[] = {
        /* airing at t: the last one starting by t, checked against its stop */
        "p.start<=? ORDER BY p.start DESC",
        "p.start>=? ORDER BY p.start ASC",
        "p.start<=? ORDER BY p.start DESC",
    };
    int cloud = (which & SG_PROG_CLOUD) != 0;
    char sql[300];
    sqlite3_stmt *st;
    int rc;

    which &= ~SG_PROG_CLOUD;
    if (which < 0 || which > 2) return SG_ERROR;
    snprintf(sql, sizeof(sql),
             "SELECT p.start, p.stop, p.title, p.pid, p.series, p.sub_title, p.genre, p.season,"
             " p.episode FROM %s p JOIN channels c USING(cid)"
             " WHERE c.plugin=? AND c.provider_id=? AND %s LIMIT 1",
             cloud ? "cloud" : "programmes", where[which]);
    if (sqlite3_prepare_v2(c->rdb, sql, -1, &st, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "programme lookup: %s", sqlite3_errmsg(c->rdb));
        return SG_ERROR;
    }
    sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *title = sqlite3_column_text(st, 2), *pid = sqlite3_column_text(st, 3);
        out->start = sqlite3_column_int64(st, 0);
        out->stop = sqlite3_column_int64(st, 1);
        snprintf(out->title, sizeof(out->title), "%s", title ? (const char *)title : "");
        snprintf(out->pid, sizeof(out->pid), "%s", pid ? (const char *)pid : "");
        sg_hit_text(out->series, sizeof(out->series), st, 4);
        sg_hit_text(out->sub_title, sizeof(out->sub_title), st, 5);
        sg_hit_text(out->genre, sizeof(out->genre), st, 6);
        out->season = sqlite3_column_int(st, 7);
        out->episode = sqlite3_column_int(st, 8);
        rc = which == 0 && t >= out->stop ? SG_DECLINED : SG_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SG_DECLINED;
    } else {
        sg_log(SG_LOG_ERR, "catalog", "programme lookup: %s", sqlite3_errmsg(c->rdb));
        rc = SG_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

void
sg_catalog_on_epg(sg_catalog_t *c, sg_catalog_epg_pt cb, void *arg)
{
    c->on_epg = cb;
    c->on_epg_arg = arg;
}

int
sg_catalog_has_cloud(sg_catalog_t *c, const char *id)
{
    sqlite3_stmt *st;
    int yes = 0;
    if (sqlite3_prepare_v2(c->rdb,
                           "SELECT 1 FROM cloud WHERE cid=(SELECT cid FROM channels WHERE id=?)"
                           " LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        return 0;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

/* ---- key-value store --------------------------------------------------------------------- */

int
sg_catalog_kv_set(sg_catalog_t *c, const char *plugin, const char *key, const void *val,
                  size_t len)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(c->rdb,
                           "INSERT OR REPLACE INTO kv(plugin, key, value, updated) VALUES(?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "kv_set: %s", sqlite3_errmsg(c->rdb));
        return SG_ERROR;
    }
    sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, val, len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "catalog", "kv_set %s/%s: %s", plugin, key, sqlite3_errmsg(c->rdb));
        return SG_ERROR;
    }
    return SG_OK;
}

int
sg_catalog_kv_get(sg_catalog_t *c, const char *plugin, const char *key, void **val, size_t *len)
{
    sqlite3_stmt *st;
    int rc;

    *val = NULL;
    if (len) *len = 0;
    if (sqlite3_prepare_v2(c->rdb, "SELECT value FROM kv WHERE plugin=? AND key=?", -1, &st,
                           NULL) != SQLITE_OK) {
        return SG_ERROR;
    }
    sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *copy = malloc(n + 1);
        if (copy == NULL) {
            sqlite3_finalize(st);
            return SG_ERROR;
        }
        if (n) memcpy(copy, b, n);
        copy[n] = '\0';
        *val = copy;
        if (len) *len = n;
        rc = SG_OK;
    } else {
        rc = rc == SQLITE_DONE ? SG_DECLINED : SG_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

int
sg_catalog_kv_del(sg_catalog_t *c, const char *plugin, const char *key)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(c->rdb, "DELETE FROM kv WHERE plugin=? AND key=?", -1, &st, NULL) !=
        SQLITE_OK) {
        return SG_ERROR;
    }
    sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SG_OK : SG_ERROR;
}

/* ---- M3U ------------------------------------------------------------------------------------ */

void
sg_m3u_text(struct evbuffer *out, const char *v, size_t n, char bad, char good)
{
    const char *run = v, *p, *end = v + n;
    for (p = v; p < end; p++) {
        char rep;
        if (*p == '\n' || *p == '\r') rep = ' ';
        else if (bad && *p == bad) rep = good;
        else continue;
        evbuffer_add(out, run, (size_t)(p - run));
        evbuffer_add(out, &rep, 1);
        run = p + 1;
    }
    evbuffer_add(out, run, (size_t)(p - run));
}

static void
sg_m3u_attr(struct evbuffer *out, const char *name, const char *base, const char *v)
{
    if (v == NULL || *v == '\0') return;
    evbuffer_add_printf(out, " %s=\"%s", name, base && v[0] == '/' ? base : "");
    sg_m3u_text(out, v, strlen(v), '"', '\'');
    evbuffer_add(out, "\"", 1);
}

/* The channel list; with cloud (a flag per channel, in list order), only
 * the channels flagged, each as its cloud recordings' archive. */
static void
sg_m3u_render(sg_catalog_t *c, const char *base, const char *cloud, struct evbuffer *out)
{
    const char *guide = cloud ? "cloud.xml" : "guide.xml.gz", *dir = cloud ? "/cloud" : "";
    evbuffer_add_printf(out, "#EXTM3U%s url-tvg=\"%s/%s\" x-tvg-url=\"%s/%s\"\n",
                        cloud ? " name=\"Cloud recordings\"" : "", base, guide, base, guide);
    for (size_t i = 0; i < c->nchans; i++) {
        const sg_chan_t *ch = &c->chans[i];
        if (cloud && !cloud[i]) continue;
        evbuffer_add(out, "#EXTINF:-1", 10);
        sg_m3u_attr(out, "tvg-id", NULL, ch->tvg_id);
        sg_m3u_attr(out, "tvg-name", NULL, ch->name);
        sg_m3u_attr(out, "tvg-logo", base, ch->logo);
        if (ch->number > 0) {
            evbuffer_add_printf(out, " tvg-chno=\"%d\" ch-number=\"%d\"", ch->number, ch->number);
        }
        sg_m3u_attr(out, "group-title", NULL, ch->groups);
        if (cloud) {
            /* recordings never expire: players offer any date */
            evbuffer_add_printf(out, " catchup=\"flussonic-ts\" catchup-days=\"9999\"");
        } else if ((ch->caps & SG_CAP_CATCHUP) && ch->catchup_days > 0) {
            evbuffer_add_printf(out, " catchup=\"flussonic-ts\" catchup-days=\"%d\"",
                                ch->catchup_days);
        }
        evbuffer_add(out, ",", 1);
        sg_m3u_text(out, ch->name, strlen(ch->name), 0, 0);
        evbuffer_add_printf(out, "\n%s%s/%s/mpegts\n", base, dir, ch->id);
    }
}

int
sg_catalog_cloud_m3u(sg_catalog_t *c, const char *base, struct evbuffer *out)
{
    sqlite3_stmt *st;
    char *flag = calloc(c->nchans + 1, 1);
    int rc;

    if (flag == NULL) return -1;
    if (sqlite3_prepare_v2(c->rdb,
                           "SELECT DISTINCT ch.id FROM cloud JOIN channels ch USING(cid)"
                           " WHERE ch.active=1",
                           -1, &st, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "cloud playlist: %s", sqlite3_errmsg(c->rdb));
        free(flag);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const sg_chan_t *ch = sg_catalog_channel(c, (const char *)sqlite3_column_text(st, 0));
        if (ch) flag[ch - c->chans] = 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "catalog", "cloud playlist: %s", sqlite3_errmsg(c->rdb));
        free(flag);
        return -1;
    }
    sg_m3u_render(c, base, flag, out);
    free(flag);
    return 0;
}

int
sg_catalog_m3u(sg_catalog_t *c, const char *base, struct evbuffer *out)
{
    /* Rendered once per catalog version and base URL. */
    if (c->m3u == NULL || c->m3u_version != c->version || strcmp(c->m3u_base, base) != 0) {
        struct evbuffer *b = evbuffer_new();
        size_t n;
        char *text, *nb;
        if (b == NULL) return -1;
        sg_m3u_render(c, base, NULL, b);
        n = evbuffer_get_length(b);
        text = malloc(n + 1);
        nb = strdup(base);
        if (text == NULL || nb == NULL) {
            free(text);
            free(nb);
            evbuffer_add_buffer(out, b); /* serve it uncached */
            evbuffer_free(b);
            return 0;
        }
        evbuffer_remove(b, text, n);
        evbuffer_free(b);
        free(c->m3u);
        free(c->m3u_base);
        c->m3u = text;
        c->m3u_len = n;
        c->m3u_base = nb;
        c->m3u_version = c->version;
    }
    evbuffer_add(out, c->m3u, c->m3u_len);
    return 0;
}
