/*
 * The HTTP client behind host->fetch(): libcurl's multi-socket API on the
 * event loop. libcurl (and the TLS, LDAP and Kerberos libraries it pulls in)
 * lives in the internal module sg_curl.so, loaded on the first fetch, so a
 * gateway that never fetches (multicast relay only) never maps it.
 */
#ifndef SG_NET_H
#define SG_NET_H

#include "sg/host.h"

struct event_base;
typedef struct sg_net_s sg_net_t;

/* The table sg_curl.so exports as sg_curl_module (internal ABI: both sides
 * are built from this tree, the version guards against a stale file). */
#define SG_NET_MODULE_VERSION 3

typedef void (*sg_net_log_pt)(int level, const char *fmt, ...);

typedef struct sg_net_ops_s {
    int version;
    void *(*create)(struct event_base *base, sg_net_log_pt log, const char *user_agent);
    void (*destroy)(void *ctx);
    void *(*share_new)(void *ctx); /* a cookie store */
    void (*share_free)(void *ctx, void *share);
    /* resolve: NULL, or "host:port:address" to use instead of looking
     * host up (CURLOPT_RESOLVE) */
    void *(*fetch)(void *ctx, const sg_fetch_req_t *req, void *share, const char *resolve,
                   sg_fetch_done_pt done, void *arg);
    void (*cancel)(void *ctx, void *handle);
    const char *(*header)(const sg_fetch_resp_t *resp, const char *name);
    const char *(*version_text)(void);
    int (*running)(void *ctx);
    /* ref resolved against base (RFC 3986, libcurl's URL API): 0, or -1 */
    int (*resolve)(const char *base, const char *ref, char *out, size_t n);
} sg_net_ops_t;

sg_net_t *sg_net_new(struct event_base *base, const char *module_dir);
void sg_net_free(sg_net_t *n);
/* NULL when the request could not be started (reason logged). dns: NULL,
 * or "ip[:port]" of the DNS server to look the URL's host name up with
 * (a private network's own, unknown to the system resolver); a name it
 * cannot resolve ends the request with status 0 and the reason. */
void *sg_net_fetch(sg_net_t *n, const sg_fetch_req_t *req, void **share, const char *dns,
                   sg_fetch_done_pt done, void *arg);
void sg_net_cancel(sg_net_t *n, void *handle);
void sg_net_share_free(sg_net_t *n, void *share);
const char *sg_net_header(sg_net_t *n, const sg_fetch_resp_t *resp, const char *name);
/* ref resolved against base into out (loads the module): 0, or -1. */
int sg_net_resolve(sg_net_t *n, const char *base, const char *ref, char *out, size_t len);
/* Transfers in flight; 0 when libcurl was never loaded. */
int sg_net_running(sg_net_t *n);
int sg_net_loaded(sg_net_t *n);

#endif
