#include "sg_net.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_config.h"
#include "util/sg_log.h"

struct sg_net_s {
    struct event_base *base;
    char *module_dir;
    void *dl;
    const sg_net_ops_t *ops;
    void *ctx;
    int failed; /* do not retry dlopen on every request */
};

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

void *
sg_net_fetch(sg_net_t *n, const sg_fetch_req_t *req, void **share, sg_fetch_done_pt done,
             void *arg)
{
    if (sg_net_load(n) != 0) return NULL;
    if (req->cookies && share && *share == NULL) *share = n->ops->share_new(n->ctx);
    return n->ops->fetch(n->ctx, req, req->cookies && share ? *share : NULL, done, arg);
}

void
sg_net_cancel(sg_net_t *n, void *handle)
{
    if (n->ops && handle) n->ops->cancel(n->ctx, handle);
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
    /* The module stays mapped: libcurl/OpenSSL keep process-wide state that
     * must not be unloaded while the process runs. */
    free(n->module_dir);
    free(n);
}
