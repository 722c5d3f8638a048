/*
 * sg_curl.so: the HTTP client module (libcurl multi-socket API driven by the
 * daemon's libevent loop). Loaded by core/net/sg_net.c on the first fetch;
 * exports one table, sg_curl_module. Links no daemon symbol.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sg_net.h"
#include "util/sg_list.h"

#define SG_CURL_DEFAULT_TIMEOUT_MS 15000L
#define SG_CURL_DEFAULT_MAX (16u << 20)

typedef struct sg_curl_s sg_curl_t;

typedef struct sg_curl_req_s {
    struct sg_curl_req_s *prev, *next;
    sg_curl_t *ctx;
    CURL *easy;
    struct curl_slist *hdrs;
    struct curl_slist *resolve;
    char *body;
    size_t len, cap, max;
    char *rhdrs; /* response header block of the final response */
    size_t rhlen, rhcap;
    int too_big;
    int in_done;
    int nh;                 /* parsed response headers, pointing into rhdrs */
    const char *hname[128], *hvalue[128];
    sg_fetch_done_pt done;
    void *arg;
    sg_fetch_resp_t resp; /* first member used by header() via container */
    char errbuf[CURL_ERROR_SIZE];
} sg_curl_req_t;

struct sg_curl_s {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    sg_net_log_pt log;
    char *user_agent;
    sg_curl_req_t *reqs;
    int running;
};

typedef struct sg_curl_sock_s {
    struct event *ev;
    curl_socket_t fd;
} sg_curl_sock_t;

static void sg_curl_check_done(sg_curl_t *c);

/* ---- libevent glue ------------------------------------------------------------ */

static void
sg_curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_curl_t *c = arg;
    int flags = 0;
    if (what & EV_READ) flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, fd, flags, &c->running);
    /* Not "no transfer left, so stop the timer": a done() callback may just
     * have started the next request, whose first timeout is that timer.
     * libcurl removes it itself through sg_curl_timer_fn(-1). */
    sg_curl_check_done(c);
}

static void
sg_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_curl_t *c = arg;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &c->running);
    sg_curl_check_done(c);
}

static int
sg_curl_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    sg_curl_t *c = userp;
    struct timeval tv;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    return 0;
}

static int
sg_curl_socket_fn(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    sg_curl_t *c = userp;
    sg_curl_sock_t *sk = socketp;
    short kind;

    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            event_free(sk->ev);
            free(sk);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (sk == NULL) {
        sk = calloc(1, sizeof(*sk));
        if (sk == NULL) return -1;
        sk->fd = s;
        curl_multi_assign(c->multi, s, sk);
    } else {
        event_free(sk->ev);
    }
    sk->ev = event_new(c->base, s, kind, sg_curl_event_cb, c);
    if (sk->ev == NULL) return -1;
    event_add(sk->ev, NULL);
    return 0;
}

/* ---- per request ------------------------------------------------------------------ */

static size_t
sg_curl_write_fn(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sg_curl_req_t *r = userdata;
    size_t n = size * nmemb;

    if (r->len + n > r->max) {
        r->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1) cap *= 2;
        char *nb = realloc(r->body, cap);
        if (nb == NULL) return 0;
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    return n;
}

static size_t
sg_curl_header_fn(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sg_curl_req_t *r = userdata;
    size_t n = size * nmemb;

    /* A new status line (after a redirect or a 100): start over. */
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) r->rhlen = 0;
    if (r->rhlen + n + 1 > r->rhcap) {
        size_t cap = r->rhcap ? r->rhcap * 2 : 2048;
        while (cap < r->rhlen + n + 1) cap *= 2;
        if (cap > (256u << 10)) return 0; /* absurd header block */
        char *nb = realloc(r->rhdrs, cap);
        if (nb == NULL) return 0;
        r->rhdrs = nb;
        r->rhcap = cap;
    }
    memcpy(r->rhdrs + r->rhlen, ptr, n);
    r->rhlen += n;
    r->rhdrs[r->rhlen] = '\0';
    return n;
}

static void
sg_curl_req_free(sg_curl_req_t *r)
{
    sg_curl_t *c = r->ctx;
    /* A request that failed before it was listed has no neighbours. */
    if (r->prev || c->reqs == r) SG_LIST_REMOVE(&c->reqs, r);
    if (r->easy) {
        curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    curl_slist_free_all(r->resolve);
    free(r->body);
    free(r->rhdrs);
    free(r);
}

static void
sg_curl_finish(sg_curl_t *c, sg_curl_req_t *r, CURLcode res)
{
    long status = 0;
    char *url = NULL, *ctype = NULL;
    double secs = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ctype);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &secs);

    /* Split the final header block in place into name/value pairs. */
    for (char *p = r->rhdrs; p && *p;) {
        char *eol = strchr(p, '\n'), *colon, *v, *e;
        if (eol) *eol = '\0';
        colon = strchr(p, ':');
        if (colon && r->nh < 128 && strncmp(p, "HTTP/", 5) != 0) {
            *colon = '\0';
            v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            e = v + strlen(v);
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
            r->hname[r->nh] = p;
            r->hvalue[r->nh] = v;
            r->nh++;
        }
        if (eol == NULL) break;
        p = eol + 1;
    }

    memset(&r->resp, 0, sizeof(r->resp));
    if (res != CURLE_OK) {
        r->resp.status = 0;
        if (r->too_big) {
            snprintf(r->errbuf, sizeof(r->errbuf), "response larger than %zu bytes", r->max);
        } else if (r->errbuf[0] == '\0') {
            snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(res));
        }
        r->resp.error = r->errbuf;
    } else {
        r->resp.status = (int)status;
    }
    if (r->body == NULL) {
        r->body = calloc(1, 1);
    } else {
        r->body[r->len] = '\0';
    }
    r->resp.body = r->body ? r->body : "";
    r->resp.len = r->len;
    r->resp.content_type = ctype;
    r->resp.url = url;
    r->resp.seconds = secs;
    r->in_done = 1;
    if (r->done) r->done(&r->resp, r->arg);
    sg_curl_req_free(r);
}

static void
sg_curl_check_done(sg_curl_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        sg_curl_req_t *r = NULL;
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r) sg_curl_finish(c, r, msg->data.result);
    }
}

/* ---- module API ----------------------------------------------------------------------- */

static void *
sg_curl_create(struct event_base *base, sg_net_log_pt log, const char *user_agent)
{
    sg_curl_t *c;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->base = base;
    c->log = log;
    c->user_agent = strdup(user_agent);
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, sg_curl_timer_cb, c);
    if (c->multi == NULL || c->timer == NULL || c->user_agent == NULL) {
        if (c->multi) curl_multi_cleanup(c->multi);
        if (c->timer) event_free(c->timer);
        free(c->user_agent);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sg_curl_socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, sg_curl_timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    return c;
}

static void
sg_curl_destroy(void *ctx)
{
    sg_curl_t *c = ctx;
    while (c->reqs) sg_curl_req_free(c->reqs); /* cancelled: no callbacks */
    curl_multi_cleanup(c->multi);
    event_free(c->timer);
    free(c->user_agent);
    free(c);
}

static void *
sg_curl_share_new(void *ctx)
{
    CURLSH *sh = curl_share_init();
    if (sh) curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    return sh;
}

static void
sg_curl_share_free(void *ctx, void *share)
{
    if (share) curl_share_cleanup(share);
}

static void *
sg_curl_fetch(void *ctx, const sg_fetch_req_t *req, void *share, const char *resolve,
              sg_fetch_done_pt done, void *arg)
{
    sg_curl_t *c = ctx;
    sg_curl_req_t *r;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : SG_CURL_DEFAULT_TIMEOUT_MS;

    if (req->url == NULL ||
        (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)) {
        c->log(3, "not an http(s) URL: \"%s\"", req->url ? req->url : "(null)");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->ctx = c;
    r->done = done;
    r->arg = arg;
    r->max = req->max_bytes ? req->max_bytes : SG_CURL_DEFAULT_MAX;
    r->easy = curl_easy_init();
    if (r->easy == NULL) goto fail;

    curl_easy_setopt(r->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, sg_curl_write_fn);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, sg_curl_header_fn);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, req->user_agent ? req->user_agent : c->user_agent);
    curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (req->follow_redirects) {
        curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
    }
    if (share) {
        curl_easy_setopt(r->easy, CURLOPT_SHARE, share);
        curl_easy_setopt(r->easy, CURLOPT_COOKIEFILE, ""); /* enable the engine */
    }
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(r->hdrs, *h);
        if (n == NULL) goto fail;
        r->hdrs = n;
    }
    if (r->hdrs) curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    if (resolve) {
        /* the address our own DNS client found for the host */
        r->resolve = curl_slist_append(NULL, resolve);
        if (r->resolve == NULL) goto fail;
        curl_easy_setopt(r->easy, CURLOPT_RESOLVE, r->resolve);
    }
    if (req->body) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, req->body);
    }
    if (req->method) curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, req->method);

    SG_LIST_PUSH(&c->reqs, r);
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) goto fail;
    return r;

fail:
    sg_curl_req_free(r);
    return NULL;
}

static void
sg_curl_cancel(void *ctx, void *handle)
{
    sg_curl_req_t *r = handle;
    /* Cancelling from inside its own done callback: it is being freed. */
    if (r->in_done) return;
    sg_curl_req_free(r);
}

static const char *
sg_curl_header(const sg_fetch_resp_t *resp, const char *name)
{
    /* resp is the resp member of a live sg_curl_req_t (only valid in done). */
    const sg_curl_req_t *r =
        (const sg_curl_req_t *)((const char *)resp - offsetof(sg_curl_req_t, resp));
    for (int i = 0; i < r->nh; i++) {
        if (strcasecmp(r->hname[i], name) == 0) return r->hvalue[i];
    }
    return NULL;
}

static const char *
sg_curl_version_text(void)
{
    return curl_version();
}

static int
sg_curl_running(void *ctx)
{
    int n = 0;
    for (sg_curl_req_t *r = ((sg_curl_t *)ctx)->reqs; r; r = r->next) n++;
    return n;
}

static int
sg_curl_resolve(const char *base, const char *ref, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *s = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && strlen(s) < n) {
        memcpy(out, s, strlen(s) + 1);
        rc = 0;
    }
    curl_free(s);
    curl_url_cleanup(u);
    return rc;
}

__attribute__((visibility("default"))) const sg_net_ops_t sg_curl_module = {
    .version = SG_NET_MODULE_VERSION,
    .create = sg_curl_create,
    .destroy = sg_curl_destroy,
    .share_new = sg_curl_share_new,
    .share_free = sg_curl_share_free,
    .fetch = sg_curl_fetch,
    .cancel = sg_curl_cancel,
    .header = sg_curl_header,
    .version_text = sg_curl_version_text,
    .running = sg_curl_running,
    .resolve = sg_curl_resolve,
};
