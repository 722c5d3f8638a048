#include "sg_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_PROXY_PARALLEL 8
#define SG_PROXY_MAX_BYTES (8u << 20)
#define SG_PROXY_QUEUE 512 /* distinct images waiting at once */

typedef struct sg_proxy_route_s sg_proxy_route_t;
typedef struct sg_proxy_job_s sg_proxy_job_t;

typedef struct sg_proxy_wait_s {
    struct sg_proxy_wait_s *prev, *next;
    sg_http_req_t *r;
    sg_proxy_job_t *job;
} sg_proxy_wait_t;

struct sg_proxy_job_s {
    sg_proxy_job_t *prev, *next;
    sg_proxy_route_t *route;
    char *url;
    char path[600];          /* the cache file                  */
    void *fetch;             /* NULL while queued               */
    sg_proxy_wait_t *waiters;
};

struct sg_proxy_route_s {
    sg_proxy_route_t *next;
    sg_proxy_t *x;
    char *owner, *prefix, *base, *dir;
    char dns[64];
    int64_t max_age;
};

struct sg_proxy_s {
    sg_http_server_t *http;
    sg_net_t *net;
    sg_proxy_route_t *routes;
    sg_proxy_job_t *jobs;
    int njobs, running;
};

static uint64_t
sg_proxy_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static const char *
sg_proxy_ctype(int fd)
{
    uint8_t m[12] = {0};
    ssize_t n = pread(fd, m, sizeof(m), 0);
    if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) return "image/jpeg";
    if (n >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (n >= 6 && (memcmp(m, "GIF87a", 6) == 0 || memcmp(m, "GIF89a", 6) == 0)) return "image/gif";
    if (n >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0) return "image/webp";
    if (n >= 5 && (memcmp(m, "<svg", 4) == 0 || memcmp(m, "<?xml", 5) == 0)) return "image/svg+xml";
    return "application/octet-stream";
}

/* An image by its declared type or its first bytes (an HTML error page
 * answered with 200 must not be cached as a logo for a week). */
static int
sg_proxy_is_image(const sg_fetch_resp_t *resp)
{
    const uint8_t *b = (const uint8_t *)resp->body;
    if (resp->content_type && strncasecmp(resp->content_type, "image/", 6) == 0) return 1;
    return (resp->len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) ||
           (resp->len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) ||
           (resp->len >= 6 && memcmp(b, "GIF8", 4) == 0) ||
           (resp->len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0);
}

/* Serve the cache file when it is there and (unless stale is allowed)
 * fresh. 1 when answered. */
static int
sg_proxy_serve(sg_http_req_t *r, const sg_proxy_route_t *rt, const char *path, int stale)
{
    struct stat st;
    char neg[640], etag[64];
    time_t now = time(NULL);
    int fd;

    snprintf(neg, sizeof(neg), "%s.404", path);
    if (!stale && stat(neg, &st) == 0 && now - st.st_mtime < rt->max_age) {
        sg_http_error(r, 404, "not found upstream");
        return 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    if (fstat(fd, &st) != 0 || (!stale && now - st.st_mtime >= rt->max_age)) {
        close(fd);
        return 0;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    sg_http_add_header(r, "Cache-Control", "max-age=%lld", (long long)rt->max_age);
    sg_http_reply_fd(r, fd, (int64_t)st.st_size, sg_proxy_ctype(fd), etag, (int64_t)st.st_mtime);
    close(fd);
    return 1;
}

static void sg_proxy_start_jobs(sg_proxy_t *x);

static void
sg_proxy_job_free(sg_proxy_t *x, sg_proxy_job_t *j)
{
    SG_LIST_REMOVE(&x->jobs, j);
    x->njobs--;
    free(j->url);
    free(j);
}

static void
sg_proxy_wait_gone(sg_http_req_t *r, void *arg)
{
    sg_proxy_wait_t *w = arg;
    (void)r;
    SG_LIST_REMOVE(&w->job->waiters, w);
    free(w);
}

static void
sg_proxy_done(const sg_fetch_resp_t *resp, void *arg)
{
    sg_proxy_job_t *j = arg;
    sg_proxy_route_t *rt = j->route;
    sg_proxy_t *x = rt->x;
    char tmp[640], neg[640], why[800] = "";
    int stored = 0, missing = 0;

    x->running--;
    j->fetch = NULL;
    snprintf(neg, sizeof(neg), "%s.404", j->path);
    if (resp->status == 200 && resp->len > 0 && !sg_proxy_is_image(resp)) {
        snprintf(why, sizeof(why), "upstream sent %s, not an image",
                 resp->content_type ? resp->content_type : "something");
    } else if (resp->status == 200 && resp->len > 0) {
        int fd;
        snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0 && write(fd, resp->body, resp->len) == (ssize_t)resp->len && close(fd) == 0 &&
            rename(tmp, j->path) == 0) {
            stored = 1;
            unlink(neg);
        } else {
            if (fd >= 0) close(fd);
            unlink(tmp);
            snprintf(why, sizeof(why), "cannot store %s: %s", j->path, strerror(errno));
            sg_log(SG_LOG_WARN, "proxy", "%s", why);
        }
    } else if (resp->status == 404 || resp->status == 410) {
        int fd = open(neg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        missing = 1;
    } else if (resp->status) {
        snprintf(why, sizeof(why), "upstream answered %d", resp->status);
    } else {
        snprintf(why, sizeof(why), "upstream unreachable: %s", resp->error ? resp->error : "?");
    }
    while (j->waiters) {
        sg_proxy_wait_t *w = j->waiters;
        sg_http_req_t *r = w->r;
        SG_LIST_REMOVE(&j->waiters, w);
        free(w);
        r->on_close = NULL;
        r->owner = NULL;
        if (missing) {
            sg_http_error(r, 404, "not found upstream");
        } else if (!sg_proxy_serve(r, rt, j->path, !stored)) {
            sg_http_error(r, 502, "%s", why[0] ? why : "upstream sent nothing");
        }
    }
    sg_proxy_job_free(x, j);
    sg_proxy_start_jobs(x);
}

static void
sg_proxy_start_jobs(sg_proxy_t *x)
{
    for (sg_proxy_job_t *j = x->jobs; j && x->running < SG_PROXY_PARALLEL; j = j->next) {
        if (j->fetch) continue;
        j->fetch = sg_net_fetch(x->net,
                                &(sg_fetch_req_t){.url = j->url, .timeout_ms = 15000,
                                                  .max_bytes = SG_PROXY_MAX_BYTES,
                                                  .follow_redirects = 1},
                                NULL, j->route->dns, sg_proxy_done, j);
        x->running++; /* sg_proxy_done() gives the slot back */
        if (j->fetch == NULL) {
            /* could not even start: answer the waiters now */
            sg_proxy_done(&(sg_fetch_resp_t){.status = 0, .error = "cannot start the request"}, j);
            return; /* sg_proxy_done restarted the queue */
        }
    }
}

/* Percent-encode what is not safe in a URL path. */
static int
sg_proxy_url(const char *base, const char *rest, char **out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t bl = strlen(base), n = bl + 3 * strlen(rest) + 1;
    char *u = malloc(n), *p;
    if (u == NULL) return -1;
    memcpy(u, base, bl);
    p = u + bl;
    for (const unsigned char *s = (const unsigned char *)rest; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-._~/", *s)) {
            *p++ = (char)*s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 15];
        }
    }
    *p = '\0';
    *out = u;
    return 0;
}

static void
sg_proxy_handler(sg_http_req_t *r, void *arg)
{
    sg_proxy_route_t *rt = arg;
    sg_proxy_t *x = rt->x;
    size_t pl = strlen(rt->prefix);
    const char *rest = r->path + pl;
    char path[600];
    sg_proxy_job_t *j;
    sg_proxy_wait_t *w;

    if (*rest == '/') rest++;
    if (*rest == '\0' || strlen(rest) > 400 || strstr(rest, "..") || rest[0] == '/') {
        sg_http_error(r, 400, "bad image path");
        return;
    }
    for (const char *c = rest; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\') {
            sg_http_error(r, 400, "bad image path");
            return;
        }
    }
    snprintf(path, sizeof(path), "%s/%016llx", rt->dir, (unsigned long long)sg_proxy_hash(rest));
    if (sg_proxy_serve(r, rt, path, 0)) return;
    if (rt->base == NULL || rt->base[0] == '\0') {
        /* the provider has not told where its images are yet */
        if (sg_proxy_serve(r, rt, path, 1)) return;
        sg_http_add_header(r, "Retry-After", "30");
        sg_http_error(r, 503, "image source not known yet");
        return;
    }
    for (j = x->jobs; j && strcmp(j->path, path) != 0; j = j->next) {
    }
    if (j == NULL && x->njobs >= SG_PROXY_QUEUE) {
        sg_http_add_header(r, "Retry-After", "5");
        sg_http_error(r, 503, "too many images being fetched");
        return;
    }
    if (j == NULL) {
        j = calloc(1, sizeof(*j));
        if (j == NULL || sg_proxy_url(rt->base, rest, &j->url) != 0) {
            free(j);
            sg_http_error(r, 500, "out of memory");
            return;
        }
        j->route = rt;
        snprintf(j->path, sizeof(j->path), "%s", path);
        /* queued at the tail: fetched in the order asked */
        if (x->jobs == NULL) {
            SG_LIST_PUSH(&x->jobs, j);
        } else {
            sg_proxy_job_t *t = x->jobs;
            while (t->next) t = t->next;
            t->next = j;
            j->prev = t;
        }
        x->njobs++;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    w->r = r;
    w->job = j;
    SG_LIST_PUSH(&j->waiters, w);
    r->on_close = sg_proxy_wait_gone;
    r->owner = w;
    if (j->fetch == NULL) sg_proxy_start_jobs(x);
}

sg_proxy_t *
sg_proxy_new(sg_http_server_t *http, sg_net_t *net)
{
    sg_proxy_t *x = calloc(1, sizeof(*x));
    if (x == NULL) return NULL;
    x->http = http;
    x->net = net;
    return x;
}

void
sg_proxy_free(sg_proxy_t *x)
{
    if (x == NULL) return;
    while (x->jobs) {
        sg_proxy_job_t *j = x->jobs;
        if (j->fetch) sg_net_cancel(x->net, j->fetch);
        while (j->waiters) {
            sg_proxy_wait_t *w = j->waiters;
            SG_LIST_REMOVE(&j->waiters, w);
            w->r->on_close = NULL;
            w->r->owner = NULL;
            sg_http_error(w->r, 503, "shutting down");
            free(w);
        }
        sg_proxy_job_free(x, j);
    }
    while (x->routes) {
        sg_proxy_route_t *rt = x->routes;
        x->routes = rt->next;
        free(rt->owner);
        free(rt->prefix);
        free(rt->base);
        free(rt->dir);
        free(rt);
    }
    free(x);
}

int
sg_proxy_add(sg_proxy_t *x, const char *owner, const char *prefix, const char *base,
             const char *dir, int64_t max_age, const char *dns, const char **why)
{
    sg_proxy_route_t *rt;
    size_t pl = prefix ? strlen(prefix) : 0;

    if (pl < 2 || prefix[0] != '/' || prefix[pl - 1] == '/' || strchr(prefix + 1, '/') ||
        max_age <= 0 || dir == NULL || dir[0] == '\0') {
        *why = "bad proxy route (prefix like \"/Logos\", max_age > 0, a directory)";
        return -1;
    }
    if (base && base[0] && strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        *why = "the image source must be an http(s) URL";
        return -1;
    }
    if (sg_mkdir_p(dir, 0755) != 0) {
        *why = "cannot create the cache directory";
        return -1;
    }
    for (rt = x->routes; rt; rt = rt->next) {
        if (strcmp(rt->prefix, prefix) == 0) break;
    }
    if (rt && strcmp(rt->owner, owner) != 0) {
        *why = "another plugin serves that prefix";
        return -1;
    }
    if (rt == NULL) {
        rt = calloc(1, sizeof(*rt));
        if (rt == NULL || (rt->owner = strdup(owner)) == NULL ||
            (rt->prefix = strdup(prefix)) == NULL) {
            if (rt) free(rt->owner);
            free(rt);
            *why = "out of memory";
            return -1;
        }
        rt->x = x;
        if (sg_http_route(x->http, prefix, SG_ROUTE_GET | SG_ROUTE_PREFIX, "proxy", sg_proxy_handler,
                          rt) != 0) {
            free(rt->owner);
            free(rt->prefix);
            free(rt);
            *why = "out of memory";
            return -1;
        }
        rt->next = x->routes;
        x->routes = rt;
    }
    free(rt->base);
    free(rt->dir);
    rt->base = base ? strdup(base) : NULL;
    rt->dir = strdup(dir);
    rt->max_age = max_age;
    snprintf(rt->dns, sizeof(rt->dns), "%s", dns ? dns : "");
    return 0;
}
