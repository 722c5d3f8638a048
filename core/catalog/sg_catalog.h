/*
 * The catalog: channels and EPG programmes of every plugin, stored in SQLite
 * (WAL) under state_dir so the guide survives restarts.
 *
 * Threads: the loop thread owns one read connection and an in-memory copy
 * of the channel table (routing needs a lookup per request). Writes and guide
 * renders run on the catalog worker thread, which owns the write connection;
 * their completions come back to the loop.
 */
#ifndef SG_CATALOG_H
#define SG_CATALOG_H

#include <event2/buffer.h>
#include <stdint.h>

#include "sg/plugin.h"

struct event_base;
typedef struct sg_catalog_s sg_catalog_t;

/* A channel as published (loop thread, valid until the next reload: do not
 * keep the pointer across event-loop turns). */
typedef struct sg_chan_s {
    char *id;           /* catalog id, used in URLs                      */
    char *plugin;       /* the plugin's name                             */
    char *provider_id;  /* the plugin's own id                           */
    char *tvg_id;       /* never NULL                                    */
    char *name;
    int number;
    char *logo;
    char *groups;
    uint32_t caps;
    int catchup_days;
} sg_chan_t;

/* One programme found by sg_catalog_programme_at(). */
typedef struct sg_prog_hit_s {
    int64_t start, stop;
    char title[256];
    char pid[64];
    char series[256], sub_title[256], genre[96]; /* "" when unknown */
    int season, episode;
} sg_prog_hit_t;

/* A programme of the plugin's channel (its own id), on the loop thread's
 * connection (an index seek): which 0 = airing at t (SG_DECLINED when
 * the last one starting at or before t has ended by t, out still filled),
 * 1 = the first starting at or after t, 2 = the last starting at or
 * before t. SG_OK, SG_DECLINED (none) or SG_ERROR. */
int sg_catalog_programme_at(sg_catalog_t *c, const char *plugin, const char *channel, int64_t t,
                            int which, sg_prog_hit_t *out);
/* which | SG_PROG_CLOUD looks among the cloud recordings instead. */

/* cb(arg, plugin) on the loop thread after each commit that brought EPG
 * programmes (cloud sets aside); one observer (the timer rules). */
typedef void (*sg_catalog_epg_pt)(void *arg, const char *plugin);
void sg_catalog_on_epg(sg_catalog_t *c, sg_catalog_epg_pt cb, void *arg);

/* Whether the channel (catalog id) has cloud recordings. */
int sg_catalog_has_cloud(sg_catalog_t *c, const char *id);

/* Which guide: the EPG of every channel, or the cloud recordings of the
 * channels that have some. */
enum { SG_GUIDE_MAIN = 0, SG_GUIDE_CLOUD = 1, SG_GUIDE_KINDS = 2 };

/* A rendered XMLTV guide: files <state_dir>/guide.xml and guide.xml.gz
 * (cloud.xml and cloud.xml.gz for the cloud guide),
 * held open so every response is a sendfile() of a consistent version even
 * while a newer render replaces them. */
typedef struct sg_guide_s {
    int refs;
    uint64_t version;
    char *base;
    int xml_fd, gz_fd;
    int64_t xml_len, gz_len;
    size_t programmes;
    int64_t generated;          /* UTC seconds */
    char etag[48], etag_gz[52];
    double render_ms;
} sg_guide_t;

typedef struct sg_guide_wait_s sg_guide_wait_t;
typedef void (*sg_guide_pt)(sg_guide_t *g, void *arg); /* g NULL on failure */

/* Opens (and creates or migrates) <state_dir>/catalog.db. A corrupt file is
 * moved aside as catalog.db.corrupt-<time> and a new one created (logged).
 * NULL on failure with the reason logged. */
sg_catalog_t *sg_catalog_open(struct event_base *base, const char *state_dir,
                              int retention_days);
void sg_catalog_close(sg_catalog_t *c);

/* First path segments that belong to routes: a channel id equal to one of
 * them is published as <plugin>-<id> instead. Copied. */
void sg_catalog_set_reserved(sg_catalog_t *c, const char *const *words);

/* ---- channels (loop thread) ---------------------------------------------- */
const sg_chan_t *sg_catalog_channel(sg_catalog_t *c, const char *id);
size_t sg_catalog_nchannels(sg_catalog_t *c);
const sg_chan_t *sg_catalog_channel_at(sg_catalog_t *c, size_t i); /* by number, name */
size_t sg_catalog_nchannels_of(sg_catalog_t *c, const char *plugin);
uint64_t sg_catalog_version(sg_catalog_t *c);
int64_t sg_catalog_nprogrammes(sg_catalog_t *c);
/* Transactions queued or running on the worker (for /api/status). */
int sg_catalog_busy(sg_catalog_t *c);

/* ---- transactions --------------------------------------------------------- */
sg_txn_t *sg_catalog_begin(sg_catalog_t *c, const char *plugin, unsigned flags);
/* An opaque owner (the host keeps the plugin instance here). */
void sg_txn_set_owner(sg_txn_t *t, void *owner);
void *sg_txn_owner(sg_txn_t *t);
int sg_txn_channel(sg_txn_t *t, const sg_channel_t *ch);
int sg_txn_programme(sg_txn_t *t, const sg_programme_t *pr);
int sg_txn_commit(sg_txn_t *t, sg_done_pt done, void *arg);
void sg_txn_abort(sg_txn_t *t);

/* ---- outputs ---------------------------------------------------------------- */
/* n bytes of v into an M3U line: a line break becomes a space, and bad (a
 * quote in an attribute value, say; 0 = none) becomes good. Copied in runs. */
void sg_m3u_text(struct evbuffer *out, const char *v, size_t n, char bad, char good);
/* The M3U playlist; base is "http://host:port" without a trailing slash. */
int sg_catalog_m3u(sg_catalog_t *c, const char *base, struct evbuffer *out); /* 0, -1 */
/* Only the channels with cloud recordings, catchup-days 9999, stream URLs
 * under /cloud/; -1 when the catalog cannot be read. */
int sg_catalog_cloud_m3u(sg_catalog_t *c, const char *base, struct evbuffer *out);

/* Get the guide for base. Calls cb at once (returning NULL) when a current
 * render is cached; otherwise queues cb until the worker has rendered it and
 * returns a handle for sg_catalog_guide_cancel(). cb owns one reference. */
sg_guide_wait_t *sg_catalog_guide(sg_catalog_t *c, int kind, const char *base, sg_guide_pt cb,
                                  void *arg);
void sg_catalog_guide_cancel(sg_catalog_t *c, sg_guide_wait_t *w);
void sg_guide_unref(sg_guide_t *g);

/* ---- key-value store (loop thread, synchronous) ------------------------------ */
int sg_catalog_kv_set(sg_catalog_t *c, const char *plugin, const char *key, const void *val,
                      size_t len);
/* *val is malloc'ed (NUL-terminated); SG_DECLINED when absent. */
int sg_catalog_kv_get(sg_catalog_t *c, const char *plugin, const char *key, void **val,
                      size_t *len);
int sg_catalog_kv_del(sg_catalog_t *c, const char *plugin, const char *key);

/* XMLTV time "YYYYmmddHHMMSS +0000" (UTC) into buf (>= 21 bytes). */
void sg_xmltv_time(int64_t t, char *buf, size_t n);
/* Render a guide (SG_GUIDE_*) from db (an open sqlite3 *) into
 * dir/guide.xml and dir/guide.xml.gz (cloud.xml...), filling g (worker
 * thread). */
int sg_xmltv_render(void *db, const char *base, const char *dir, int kind, sg_guide_t *g);

#endif
