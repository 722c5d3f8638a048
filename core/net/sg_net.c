#include "sg_net.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "net/sg_dns.h"
#include "sg_config.h"
#include "util/sg_log.h"

struct sg_net_s {
    struct event_base *base;
    char *module_dir;
    void *dl;
    const sg_net_ops_t *ops;
    void *ctx;
    int failed; /* do not retry dlopen on every request */
    sg_dns_t *dns;
};

/* One request: the module's handle, or (while its host name is being
 * looked up) a DNS query and a copy of the request. */
typedef struct sg_net_job_s {
    sg_net_t *n;
    void *h;
    sg_dns_q_t *q;
    void *share;
    sg_fetch_req_t req;
    char *url, *method, *ua, *body, **headers;
    char host[256];
    int port;
    sg_fetch_done_pt done;
    void *arg;
} sg_net_job_t;

static void
sg_net_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_logv(level, "fetch", fmt, ap);
    va_end(ap);
}

sg_net_t *
sg_net_new(struct event_base *base, const char *module_dir)
{
    sg_net_t *n = calloc(1, sizeof(*n));
    if (n == NULL) return NULL;
    n->base = base;
    n->module_dir = strdup(module_dir);
    if (n->module_dir == NULL) {
        free(n);
        return NULL;
    }
    return n;
}

static int
sg_net_load(sg_net_t *n)
{
    char path[PATH_MAX];

    if (n->ops) return 0;
    if (n->failed) return -1;
    snprintf(path, sizeof(path), "%s/sg_curl.so", n->module_dir);
    n->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (n->dl == NULL) {
        sg_log(SG_LOG_ERR, "fetch", "cannot load the HTTP client module: %s", dlerror());
        n->failed = 1;
        return -1;
    }
    n->ops = dlsym(n->dl, "sg_curl_module");
    if (n->ops == NULL || n->ops->version != SG_NET_MODULE_VERSION) {
        sg_log(SG_LOG_ERR, "fetch", "%s is not this streamgate's HTTP client module", path);
        n->ops = NULL;
        dlclose(n->dl);
        n->dl = NULL;
        n->failed = 1;
        return -1;
    }
    n->ctx = n->ops->create(n->base, sg_net_log, "streamgate/" SG_VERSION);
    if (n->ctx == NULL) {
        sg_log(SG_LOG_ERR, "fetch", "cannot start the HTTP client");
        n->ops = NULL;
        dlclose(n->dl);
        n->dl = NULL;
        n->failed = 1;
        return -1;
    }
    sg_log(SG_LOG_INFO, "fetch", "HTTP client loaded: %s", n->ops->version_text());
    return 0;
}

static void
sg_net_job_free(sg_net_job_t *j)
{
    free(j->url);
    free(j->method);
    free(j->ua);
    free(j->body);
    for (char **h = j->headers; h && *h; h++) free(*h);
    free(j->headers);
    free(j);
}

static void
sg_net_job_done(const sg_fetch_resp_t *resp, void *arg)
{
    sg_net_job_t *j = arg;
    j->h = NULL;
    j->done(resp, j->arg);
    sg_net_job_free(j);
}

/* The host name and port of an http(s) URL; 0 when the host is a name (not
 * an address literal) worth looking up. */
static int
sg_net_url_host(const char *url, char *host, size_t len, int *port)
{
    const char *p = strstr(url, "://"), *e;
    struct in_addr a;
    size_t n;

    if (p == NULL) return -1;
    *port = strncasecmp(url, "https", 5) == 0 ? 443 : 80;
    p += 3;
    e = p + strcspn(p, "/?#");
    for (const char *at = p; at < e; at++) {
        if (*at == '@') p = at + 1; /* user:password@ */
    }
    if (*p == '[') return -1; /* an IPv6 literal */
    n = strcspn(p, ":/?#");
    if (n == 0 || n >= len) return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    if (p[n] == ':') *port = atoi(p + n + 1);
    return inet_pton(AF_INET, host, &a) == 1 ? -1 : 0;
}

static char *
sg_net_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Deep copy of what the module reads from a request. */
static int
sg_net_job_copy(sg_net_job_t *j, const sg_fetch_req_t *req)
{
    size_t nh = 0;
    j->req = *req;
    j->req.url = j->url = sg_net_dup(req->url);
    j->req.method = j->method = sg_net_dup(req->method);
    j->req.user_agent = j->ua = sg_net_dup(req->user_agent);
    if (req->body) {
        j->body = malloc(req->body_len + 1);
        if (j->body == NULL) return -1;
        memcpy(j->body, req->body, req->body_len);
        j->req.body = j->body;
    }
    for (const char *const *h = req->headers; h && *h; h++) nh++;
    if (req->headers) {
        j->headers = calloc(nh + 1, sizeof(char *));
        if (j->headers == NULL) return -1;
        for (size_t i = 0; i < nh; i++) {
            if ((j->headers[i] = strdup(req->headers[i])) == NULL) return -1;
        }
        j->req.headers = (const char *const *)j->headers;
    }
    return j->url == NULL || (req->method && j->method == NULL) ||
                   (req->user_agent && j->ua == NULL)
               ? -1
               : 0;
}

static void
sg_net_job_start(sg_net_job_t *j, const char *addr)
{
    char resolve[320];
    if (addr) snprintf(resolve, sizeof(resolve), "%s:%d:%s", j->host, j->port, addr);
    j->h = j->n->ops->fetch(j->n->ctx, &j->req, j->share, addr ? resolve : NULL, sg_net_job_done,
                            j);
}

static void
sg_net_dns_done(void *arg, const char *addr, const char *why)
{
    sg_net_job_t *j = arg;
    char err[400];

    j->q = NULL;
    if (addr) {
        sg_net_job_start(j, addr);
        if (j->h) return;
        snprintf(err, sizeof(err), "%s resolved to %s, but the request could not be started",
                 j->host, addr);
    } else {
        snprintf(err, sizeof(err), "cannot resolve %s: %s", j->host, why);
    }
    sg_net_job_done(&(sg_fetch_resp_t){.status = 0, .error = err, .body = "", .url = j->url}, j);
}

void *
sg_net_fetch(sg_net_t *n, const sg_fetch_req_t *req, void **share, const char *dns,
             sg_fetch_done_pt done, void *arg)
{
    sg_net_job_t *j;
    char addr[64];
    const char *why = NULL;

    if (sg_net_load(n) != 0) return NULL;
    if (req->cookies && share && *share == NULL) *share = n->ops->share_new(n->ctx);
    j = calloc(1, sizeof(*j));
    if (j == NULL) return NULL;
    j->n = n;
    j->share = req->cookies && share ? *share : NULL;
    j->done = done;
    j->arg = arg;
    j->req = *req;
    if (dns && dns[0] && req->url &&
        sg_net_url_host(req->url, j->host, sizeof(j->host), &j->port) == 0) {
        if (n->dns == NULL) n->dns = sg_dns_new(n->base);
        if (n->dns == NULL || sg_net_job_copy(j, req) != 0) {
            sg_net_job_free(j);
            return NULL;
        }
        if (sg_dns_cached(n->dns, dns, j->host, addr, sizeof(addr))) {
            sg_net_job_start(j, addr);
        } else {
            j->q = sg_dns_resolve(n->dns, dns, j->host, sg_net_dns_done, j, &why);
            if (j->q == NULL) {
                sg_log(SG_LOG_WARN, "fetch", "cannot resolve %s through %s: %s", j->host, dns, why);
                sg_net_job_free(j);
                return NULL;
            }
            return j;
        }
    } else {
        sg_net_job_start(j, NULL);
    }
    if (j->h == NULL) {
        sg_net_job_free(j);
        return NULL;
    }
    return j;
}

void
sg_net_cancel(sg_net_t *n, void *handle)
{
    sg_net_job_t *j = handle;
    if (j == NULL) return;
    if (j->q) sg_dns_cancel(j->q);
    if (j->h && n->ops) n->ops->cancel(n->ctx, j->h);
    sg_net_job_free(j);
}

void
sg_net_share_free(sg_net_t *n, void *share)
{
    if (n->ops && share) n->ops->share_free(n->ctx, share);
}

const char *
sg_net_header(sg_net_t *n, const sg_fetch_resp_t *resp, const char *name)
{
    return n->ops ? n->ops->header(resp, name) : NULL;
}

int
sg_net_resolve(sg_net_t *n, const char *base, const char *ref, char *out, size_t len)
{
    if (sg_net_load(n) != 0) return -1;
    return n->ops->resolve(base, ref, out, len);
}

int
sg_net_running(sg_net_t *n)
{
    return n->ops ? n->ops->running(n->ctx) : 0;
}

int
sg_net_loaded(sg_net_t *n)
{
    return n->ops != NULL;
}

void
sg_net_free(sg_net_t *n)
{
    if (n == NULL) return;
    if (n->ops) n->ops->destroy(n->ctx);
    sg_dns_free(n->dns);
    /* The module stays mapped: libcurl/OpenSSL keep process-wide state that
     * must not be unloaded while the process runs. */
    free(n->module_dir);
    free(n);
}
