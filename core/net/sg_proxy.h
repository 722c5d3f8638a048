/*
 * Caching image proxy: GET <prefix>/<rest> answered from <base><rest>,
 * fetched once with the HTTP client and kept as a file. Plugins use it
 * (host->proxy_route) for channel logos and programme covers, so players
 * never need a route to the provider's image hosts, and a playlist load of
 * a hundred logos costs the provider nothing after the first.
 *
 * Files live in <dir>/<16 hex digits of the path's hash>; a 404 is
 * remembered as <hash>.404 for the same max_age. Requests for one path
 * while it is being fetched wait for that fetch; at most 8 fetches run at
 * once and the rest queue. When the upstream fails, a stale copy is served
 * if there is one, else 502 with the reason.
 */
#ifndef SG_PROXY_H
#define SG_PROXY_H

#include <stdint.h>

#include "http/sg_http.h"
#include "net/sg_net.h"

typedef struct sg_proxy_s sg_proxy_t;

sg_proxy_t *sg_proxy_new(sg_http_server_t *http, sg_net_t *net);
void sg_proxy_free(sg_proxy_t *x);

/* Serve prefix ("/Logos", no trailing slash) from base (an http(s) URL
 * ending in "/") into dir (created). Calling again with the same prefix
 * and owner changes base, dir and max_age. dns: the owner's DNS server
 * for the image host (sg_net_fetch), NULL = the system resolver. 0, or -1 with why (another
 * owner has the prefix, bad arguments, dir not creatable). */
int sg_proxy_add(sg_proxy_t *x, const char *owner, const char *prefix, const char *base,
                 const char *dir, int64_t max_age, const char *dns, const char **why);

#endif
