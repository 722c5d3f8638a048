/*
 * The recordings folder over HTTP: /recordings.m3u (alias /grabaciones.m3u),
 * a VOD playlist of the video files under recordings.dir, newest first,
 * grouped by folder, each with its cover when one sits beside it; and
 * /recording/<relative path> (also movistar-u7d's /recording/?<path>), one
 * file with Range. Files are opened with openat2(RESOLVE_BENEATH) from the
 * folder, so no path, encoded or not, and no symlink can reach outside it;
 * hidden names (temporary files of recordings under way) are never listed
 * or served.
 */
#include "record/sg_recfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libxml/uri.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "conf/sg_conf.h"
#include "http/sg_http.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

typedef struct sg_recfile_s {
    char *rel;        /* path under the folder                 */
    time_t mtime;
} sg_recfile_t;

static const struct {
    const char *ext, *ctype;
    int video;
} sg_rec_types[] = {
    {".mkv", "video/x-matroska", 1}, {".mp4", "video/mp4", 1},  {".ts", "video/mp2t", 1},
    {".jpg", "image/jpeg", 0},       {".png", "image/png", 0},  {".nfo", "text/xml", 0},
    {".sub", "video/mp2t", 0},
};

static int
sg_rec_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL) return -1;
    for (size_t i = 0; i < SG_ARRAY_SIZE(sg_rec_types); i++) {
        if (strcasecmp(dot, sg_rec_types[i].ext) == 0) return (int)i;
    }
    return -1;
}

static const char *
sg_rec_dir(sg_daemon_t *d)
{
    const char *dir = sg_conf_string(sg_conf_group(d->conf.root, "recordings", 0), "dir");
    return dir && dir[0] ? dir : NULL;
}

/* A relative path with no empty, "." or ".." segment and no hidden name;
 * the kernel then keeps the open beneath the folder. */
static int
sg_rec_path_ok(const char *rel)
{
    const char *seg = rel;
    if (rel[0] == '\0' || rel[0] == '/') return 0;
    while (*seg) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || seg[0] == '.') return 0;
        seg += n;
        if (*seg == '/') seg++;
        else break;
    }
    return rel[strlen(rel) - 1] != '/';
}

static int
sg_rec_open(const char *dir, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
    if (root < 0) return -1;
    fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
    close(root);
    return fd;
}

static void
sg_route_recording(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    const char *dir = sg_rec_dir(d), *rel = r->path + strlen("/recording");
    char q[4096], etag[64];
    struct stat st;
    int type, fd;

    if (dir == NULL) {
        sg_http_error(r, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    if (*rel == '/') rel++;
    if (*rel == '\0' && r->query[0]) {
        /* movistar-u7d's /recording/?<path> */
        ssize_t n = sg_url_decode(q, sizeof(q), r->query, strlen(r->query), 0);
        if (n < 0 || memchr(q, '\0', (size_t)n) != NULL) {
            sg_http_error(r, 400, "bad recording path");
            return;
        }
        rel = q;
    }
    type = sg_rec_type(rel);
    if (!sg_rec_path_ok(rel) || type < 0) {
        sg_http_error(r, 404, "no such recording");
        return;
    }
    fd = sg_rec_open(dir, rel);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        if (fd < 0 && errno == EXDEV) {
            sg_log(SG_LOG_WARN, "http", "%s: /recording/%s leads outside %s; refused", r->client,
                   rel, dir);
        }
        sg_http_error(r, 404, "no such recording");
        return;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    sg_http_reply_fd(r, fd, (int64_t)st.st_size, sg_rec_types[type].ctype, etag,
                     (int64_t)st.st_mtime);
    close(fd);
}

/* ---- the playlist ---------------------------------------------------------------- */

static sg_recfile_t *sg_walk_v;
static size_t sg_walk_n, sg_walk_cap, sg_walk_root;

static int
sg_rec_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const char *name = path + ftw->base;
    int type;

    if (ftw->level > 0 && name[0] == '.') return flag == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    if (flag != FTW_F || !S_ISREG(st->st_mode)) return FTW_CONTINUE;
    type = sg_rec_type(name);
    if (type < 0 || !sg_rec_types[type].video) return FTW_CONTINUE;
    if (sg_walk_n == sg_walk_cap) {
        size_t cap = sg_walk_cap ? sg_walk_cap * 2 : 64;
        sg_recfile_t *v = realloc(sg_walk_v, cap * sizeof(*v));
        if (v == NULL) return FTW_STOP;
        sg_walk_v = v;
        sg_walk_cap = cap;
    }
    sg_walk_v[sg_walk_n].rel = strdup(path + sg_walk_root);
    sg_walk_v[sg_walk_n].mtime = st->st_mtime;
    if (sg_walk_v[sg_walk_n].rel) sg_walk_n++;
    return FTW_CONTINUE;
}

static int
sg_rec_newest_first(const void *a, const void *b)
{
    const sg_recfile_t *x = a, *y = b;
    if (x->mtime != y->mtime) return x->mtime < y->mtime ? 1 : -1;
    return strcmp(x->rel, y->rel);
}

/* base + "/recording/" + the path, percent-encoded (slashes kept). */
static void
sg_rec_url(struct evbuffer *out, const char *base, const char *rel)
{
    xmlChar *e = xmlURIEscapeStr(BAD_CAST rel, BAD_CAST "/");
    evbuffer_add_printf(out, "%s/recording/%s\n", base, e ? (const char *)e : rel);
    xmlFree(e);
}

static void
sg_route_recordings_m3u(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    const char *dir = sg_rec_dir(d);
    struct evbuffer *b;
    char base[512];

    if (dir == NULL) {
        sg_http_error(r, 404, "no recordings folder is configured (recordings.dir)");
        return;
    }
    sg_walk_v = NULL;
    sg_walk_n = sg_walk_cap = 0;
    sg_walk_root = strlen(dir) + (dir[strlen(dir) - 1] == '/' ? 0 : 1);
    /* FTW_PHYS: symlinks are not followed, so the list never leaves the folder */
    if (nftw(dir, sg_rec_walk, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0) {
        sg_log(SG_LOG_WARN, "http", "reading the recordings folder %s: %s", dir, strerror(errno));
    }
    qsort(sg_walk_v, sg_walk_n, sizeof(*sg_walk_v), sg_rec_newest_first);
    b = evbuffer_new();
    sg_http_base_url(r, base, sizeof(base));
    if (b) evbuffer_add_printf(b, "#EXTM3U name=\"Recordings\"\n");
    for (size_t i = 0; b && i < sg_walk_n; i++) {
        const char *rel = sg_walk_v[i].rel, *slash = strrchr(rel, '/');
        const char *name = slash ? slash + 1 : rel, *dot = strrchr(name, '.');
        char cover[4096];
        struct stat st;
        int have = 0;

        evbuffer_add(b, "#EXTINF:-1 group-title=\"", 24);
        sg_m3u_text(b, slash ? rel : "#", slash ? (size_t)(slash - rel) : 1, '"', '\'');
        evbuffer_add(b, "\"", 1);
        for (const char *ext = ".jpg"; ext; ext = strcmp(ext, ".jpg") == 0 ? ".png" : NULL) {
            snprintf(cover, sizeof(cover), "%s/%.*s%s", dir, (int)(dot - rel), rel, ext);
            if (!have && stat(cover, &st) == 0 && S_ISREG(st.st_mode)) {
                xmlChar *e;
                snprintf(cover, sizeof(cover), "%.*s%s", (int)(dot - rel), rel, ext);
                e = xmlURIEscapeStr(BAD_CAST cover, BAD_CAST "/");
                evbuffer_add_printf(b, " tvg-logo=\"%s/recording/%s\"", base,
                                    e ? (const char *)e : cover);
                xmlFree(e);
                have = 1;
            }
        }
        /* the display name: a comma would end it early for some players */
        evbuffer_add(b, ",", 1);
        sg_m3u_text(b, name, (size_t)(dot - name), ',', ':');
        evbuffer_add(b, "\n", 1);
        sg_rec_url(b, base, rel);
    }
    for (size_t i = 0; i < sg_walk_n; i++) free(sg_walk_v[i].rel);
    free(sg_walk_v);
    sg_walk_v = NULL;
    if (b == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    sg_http_add_header(r, "Cache-Control", "no-cache");
    sg_http_reply_buffer(r, 200, "audio/x-mpegurl; charset=utf-8", b);
    evbuffer_free(b);
}

int
sg_recfiles_routes(sg_daemon_t *d)
{
    int rc = 0;
    rc |= sg_http_route(d->http, "/recordings.m3u", SG_ROUTE_GET, "recordings_m3u",
                        sg_route_recordings_m3u, d);
    rc |= sg_http_route(d->http, "/grabaciones.m3u", SG_ROUTE_GET, "recordings_m3u",
                        sg_route_recordings_m3u, d);
    rc |= sg_http_route(d->http, "/recording", SG_ROUTE_GET | SG_ROUTE_PREFIX, "recording",
                        sg_route_recording, d);
    return rc;
}
