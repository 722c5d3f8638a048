#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "http/sg_http.h"
#include "metrics/sg_metrics.h"
#include "sg_config.h"
#include "util/sg_cidr.h"
#include "util/sg_list.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

#define SG_HTTP_MAX_BODY (1u << 20)       /* request bodies (admin APIs)    */
#define SG_HTTP_MAX_PIPELINED (64u << 10) /* unread input while handling     */
#define SG_HTTP_SEND_TIMEOUT 60           /* s without write progress        */

enum { SG_CONN_HEAD, SG_CONN_BODY, SG_CONN_HANDLING, SG_CONN_CLOSING, SG_CONN_LINGER };

#define SG_HTTP_LINGER 2 /* s to keep draining input after a final answer */
enum { SG_REQ_NEW, SG_REQ_SENT, SG_REQ_STREAMING, SG_REQ_DONE };

typedef struct sg_route_s {
    char *path;
    size_t plen;
    unsigned flags;
    const char *metric;
    sg_http_handler_pt h;
    void *arg;
} sg_route_t;

struct sg_http_server_s {
    struct event_base *base;
    sg_http_conf_t conf;
    char *public_url, *admin_token;
    struct evconnlistener **listeners;
    int nlisteners;
    sg_route_t *routes;
    int nroutes;
    sg_http_handler_pt fallback;
    void *fallback_arg;
    sg_http_conn_t *conns;
    int nconns;
    char **reserved;
    int nreserved;
};

struct sg_http_conn_s {
    sg_http_server_t *srv;
    sg_http_conn_t *prev, *next;
    struct bufferevent *bev;
    struct event *timer;
    struct sockaddr_storage peer, local;
    char client[64];
    int state;
    int forbidden, overloaded;
    int peer_eof;
    int head_started;
    size_t body_need;
    sg_http_req_t *req;
};

static sg_metric_t *sg_m_requests, *sg_m_bytes, *sg_m_conns;
static sg_http_server_t *sg_metrics_server;

static void sg_conn_close(sg_http_conn_t *c);
static void sg_conn_process(sg_http_conn_t *c);
static void sg_req_finish(sg_http_req_t *r);

/* ---- metrics ------------------------------------------------------------------ */

static void
sg_http_collect_conns(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, sg_metrics_server ? sg_metrics_server->nconns : 0);
}

void
sg_http_metrics_init(void)
{
    static const char *const rs[] = {"route", "status", NULL};
    static const char *const r[] = {"route", NULL};
    sg_m_requests = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "http_requests_total",
                            .help = "HTTP requests answered, by route and status", .labels = rs},
        "streamgate_", 0);
    sg_m_bytes = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "http_response_bytes_total",
                            .help = "HTTP response body bytes sent, by route", .labels = r},
        "streamgate_", 0);
    sg_m_conns = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                   .name = "http_connections",
                                                   .help = "Open client connections"},
                               "streamgate_", 0);
    sg_metric_set_collect(sg_m_conns, sg_http_collect_conns, NULL);
}

/* ---- small helpers --------------------------------------------------------------- */

static const char *
sg_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error";
    }
}

static void
sg_http_date(char *buf, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void
sg_addr_str(const struct sockaddr *sa, char *buf, size_t n, int with_port)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, n, with_port ? "%s:%d" : "%s", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        /* Show IPv4-mapped peers as plain IPv4. */
        if (sg_has_prefix(ip, "::ffff:") && strchr(ip + 7, '.')) {
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
            snprintf(buf, n, with_port ? "%s:%d" : "%s", ip, port);
        } else {
            snprintf(buf, n, with_port ? "[%s]:%d" : "%s", ip, port);
        }
    } else {
        snprintf(buf, n, "?");
    }
}

/* ---- server ------------------------------------------------------------------------ */

static void
sg_http_conf_copy(sg_http_server_t *s, const sg_http_conf_t *conf)
{
    free(s->public_url);
    free(s->admin_token);
    s->conf = *conf;
    s->public_url = strdup(conf->public_url ? conf->public_url : "");
    s->admin_token = strdup(conf->admin_token ? conf->admin_token : "");
    /* public_url without its trailing slash */
    if (s->public_url) {
        size_t l = strlen(s->public_url);
        while (l > 0 && s->public_url[l - 1] == '/') s->public_url[--l] = '\0';
    }
    s->conf.public_url = s->public_url;
    s->conf.admin_token = s->admin_token;
}

sg_http_server_t *
sg_http_server_new(struct event_base *base, const sg_http_conf_t *conf)
{
    sg_http_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->base = base;
    sg_http_conf_copy(s, conf);
    sg_metrics_server = s;
    return s;
}

void
sg_http_server_set_conf(sg_http_server_t *s, const sg_http_conf_t *conf)
{
    sg_http_conf_copy(s, conf);
}

int
sg_http_connections(sg_http_server_t *s)
{
    return s->nconns;
}

int
sg_http_route(sg_http_server_t *s, const char *path, unsigned flags, const char *metric,
              sg_http_handler_pt h, void *arg)
{
    sg_route_t *nr = realloc(s->routes, (size_t)(s->nroutes + 1) * sizeof(*nr));
    if (nr == NULL) return -1;
    s->routes = nr;
    nr = &s->routes[s->nroutes];
    nr->path = strdup(path);
    if (nr->path == NULL) return -1;
    nr->plen = strlen(path);
    nr->flags = flags;
    nr->metric = metric;
    nr->h = h;
    nr->arg = arg;
    s->nroutes++;
    if (flags & SG_ROUTE_PREFIX) {
        /* "/api" reserves "api" as a first path segment. */
        const char *seg = path + 1;
        size_t l = strcspn(seg, "/");
        char **rw = realloc(s->reserved, (size_t)(s->nreserved + 2) * sizeof(char *));
        if (rw == NULL) return -1;
        s->reserved = rw;
        rw[s->nreserved] = strndup(seg, l);
        if (rw[s->nreserved]) s->nreserved++;
        rw[s->nreserved] = NULL;
    }
    return 0;
}

void
sg_http_fallback(sg_http_server_t *s, sg_http_handler_pt h, void *arg)
{
    s->fallback = h;
    s->fallback_arg = arg;
}

int
sg_http_route_exists(sg_http_server_t *s, const char *path)
{
    for (int i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) return 1;
    }
    return 0;
}

const char *const *
sg_http_reserved_words(sg_http_server_t *s)
{
    static const char *const none[] = {NULL};
    return s->reserved ? (const char *const *)s->reserved : none;
}

/* ---- connections ------------------------------------------------------------------- */

static void
sg_conn_set_timer(sg_http_conn_t *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    if (seconds <= 0) {
        event_del(c->timer);
        return;
    }
    event_add(c->timer, &tv);
}

static void
sg_req_free(sg_http_req_t *r)
{
    if (r == NULL) return;
    if (r->hdrs) evbuffer_free(r->hdrs);
    free(r->head_copy);
    free(r->body_copy);
    free(r);
}

/* The response is complete (or abandoned): log it, count it, free it. */
static void
sg_req_log(sg_http_req_t *r, size_t unsent)
{
    const char *labels[3];
    char status[8];
    uint64_t sent = r->body_bytes > unsent ? r->body_bytes - unsent : 0;
    double ms = (double)(sg_mono_us() - r->t0_us) / 1000.0;

    snprintf(status, sizeof(status), "%d", r->status ? r->status : 499);
    labels[0] = r->route ? r->route : "none";
    labels[1] = status;
    labels[2] = NULL;
    sg_metric_add(sg_m_requests, labels, 1);
    sg_metric_add(sg_m_bytes, labels, (double)sent);
    if (r->conn->srv->conf.access_log) {
        sg_log(SG_LOG_INFO, "access", "%s %s %s %s %llu %.1fms", r->client,
               r->method ? r->method : "-", r->path ? r->path : "-", status,
               (unsigned long long)sent, ms);
    }
}

static void
sg_conn_close(sg_http_conn_t *c)
{
    sg_http_server_t *s = c->srv;
    sg_http_req_t *r = c->req;

    if (r) {
        c->req = NULL;
        /* An owner still attached learns that the client went away. */
        if (r->state != SG_REQ_DONE && r->on_close) r->on_close(r, r->owner);
        sg_req_log(r, evbuffer_get_length(bufferevent_get_output(c->bev)));
        sg_req_free(r);
    }
    SG_LIST_REMOVE(&s->conns, c);
    s->nconns--;
    event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
}

static void
sg_conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_http_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);

    if (c->state == SG_CONN_CLOSING || c->state == SG_CONN_LINGER) {
        sg_conn_close(c);
        return;
    }
    if ((c->state == SG_CONN_HEAD && evbuffer_get_length(in) > 0) || c->state == SG_CONN_BODY) {
#define SG_408_BODY "{\"error\": \"request not received in time\"}\n"
        char resp[256];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof(SG_408_BODY) - 1, SG_408_BODY);
        /* Best effort: the socket is non-blocking and the answer is tiny. */
        if (write(bufferevent_getfd(c->bev), resp, (size_t)n) < 0) {
            /* nothing to do */
        }
        sg_log(SG_LOG_INFO, "http", "%s: request not received within %d s", c->client,
               c->srv->conf.request_timeout);
    }
    sg_conn_close(c);
}

static void
sg_conn_read_cb(struct bufferevent *bev, void *arg)
{
    sg_http_conn_t *c = arg;
    if (c->state == SG_CONN_LINGER) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->state == SG_CONN_HANDLING) {
        /* Pipelined requests wait; a flood is not buffered without bound. */
        if (evbuffer_get_length(bufferevent_get_input(bev)) > SG_HTTP_MAX_PIPELINED) {
            bufferevent_disable(bev, EV_READ);
        }
        return;
    }
    sg_conn_process(c);
}

static void
sg_conn_write_cb(struct bufferevent *bev, void *arg)
{
    sg_http_conn_t *c = arg;
    sg_http_req_t *r = c->req;

    if (c->state == SG_CONN_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) sg_conn_close(c);
        return;
    }
    if (r == NULL) return;
    if (r->state == SG_REQ_DONE) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) sg_req_finish(r);
        return;
    }
    if (r->state == SG_REQ_STREAMING && r->on_drain) r->on_drain(r, r->owner);
}

static void
sg_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    sg_http_conn_t *c = arg;

    if (what & BEV_EVENT_EOF) {
        c->peer_eof = 1;
        /* Idle or mid-request: the client is gone. While answering: a
         * client that only half-closed still gets its answer, but an
         * attached owner (a stream, a pending render) is told at once. */
        if (c->state != SG_CONN_HANDLING || (c->req && c->req->on_close)) {
            sg_conn_close(c);
        } else {
            bufferevent_disable(bev, EV_READ);
        }
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if ((what & BEV_EVENT_TIMEOUT) && c->req) {
            sg_log(SG_LOG_INFO, "http", "%s: no write progress for %d s, closing", c->client,
                   SG_HTTP_SEND_TIMEOUT);
        }
        sg_conn_close(c);
    }
}

static void
sg_http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                  void *arg)
{
    sg_http_server_t *s = arg;
    sg_http_conn_t *c = calloc(1, sizeof(*c));
    socklen_t llen = sizeof(c ? c->local : (struct sockaddr_storage){0});
    struct timeval wt = {SG_HTTP_SEND_TIMEOUT, 0};
    int one = 1;

    if (c == NULL) {
        close(fd);
        return;
    }
    c->srv = s;
    memcpy(&c->peer, sa, (size_t)salen < sizeof(c->peer) ? (size_t)salen : sizeof(c->peer));
    getsockname(fd, (struct sockaddr *)&c->local, &llen);
    sg_addr_str(sa, c->client, sizeof(c->client), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(s->base, sg_conn_timeout_cb, c);
    if (c->bev == NULL || c->timer == NULL) {
        if (c->bev) {
            bufferevent_free(c->bev);
        } else {
            close(fd);
        }
        if (c->timer) event_free(c->timer);
        free(c);
        return;
    }
    /* a whole file or cached segment in a few writes, not 16 KiB at a time
     * (libevent's default) with a loop turn each */
    bufferevent_set_max_single_write(c->bev, 1u << 20);
    SG_LIST_PUSH(&s->conns, c);
    s->nconns++;
    if (s->conf.nallow > 0 && !sg_cidr_list_match(s->conf.allow, s->conf.nallow, sa)) {
        c->forbidden = 1;
    }
    if (s->nconns > s->conf.max_connections) c->overloaded = 1;
    bufferevent_setcb(c->bev, sg_conn_read_cb, sg_conn_write_cb, sg_conn_event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = SG_CONN_HEAD;
    sg_conn_set_timer(c, s->conf.request_timeout);
}

int
sg_http_listen(sg_http_server_t *s, const char *addr, char *bound, size_t boundlen)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    struct evconnlistener *l, **nl;
    evutil_socket_t fd;
    socklen_t blen = sizeof(ss);

    if (sg_parse_hostport(addr, &ss, &sslen) != 0) {
        sg_log(SG_LOG_ERR, "http", "listen \"%s\": not an address (use \"ip:port\" or \"[ipv6]:port\")",
               addr);
        return -1;
    }
    l = evconnlistener_new_bind(s->base, sg_http_accept_cb, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)&ss, (int)sslen);
    if (l == NULL) {
        sg_log(SG_LOG_ERR, "http", "cannot listen on %s: %s", addr, strerror(errno));
        return -1;
    }
    fd = evconnlistener_get_fd(l);
    getsockname(fd, (struct sockaddr *)&ss, &blen);
    nl = realloc(s->listeners, (size_t)(s->nlisteners + 1) * sizeof(*nl));
    if (nl == NULL) {
        evconnlistener_free(l);
        return -1;
    }
    s->listeners = nl;
    s->listeners[s->nlisteners++] = l;
    if (bound) {
        /* A wildcard address is reported as loopback: a URL to connect to. */
        char a[80];
        if (ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) {
            ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (ss.ss_family == AF_INET6 &&
                   IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
            ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
        }
        sg_addr_str((struct sockaddr *)&ss, a, sizeof(a), 1);
        snprintf(bound, boundlen, "http://%s", a);
    }
    return 0;
}

void
sg_http_server_shutdown(sg_http_server_t *s)
{
    for (int i = 0; i < s->nlisteners; i++) evconnlistener_free(s->listeners[i]);
    free(s->listeners);
    s->listeners = NULL;
    s->nlisteners = 0;
    while (s->conns) sg_conn_close(s->conns);
}

void
sg_http_server_free(sg_http_server_t *s)
{
    if (s == NULL) return;
    sg_http_server_shutdown(s);
    for (int i = 0; i < s->nroutes; i++) free(s->routes[i].path);
    free(s->routes);
    for (int i = 0; i < s->nreserved; i++) free(s->reserved[i]);
    free(s->reserved);
    free(s->public_url);
    free(s->admin_token);
    if (sg_metrics_server == s) sg_metrics_server = NULL;
    free(s);
}

/* ---- request dispatch ------------------------------------------------------------------- */

static int
sg_route_matches(const sg_route_t *rt, const char *path)
{
    if (strncmp(path, rt->path, rt->plen) != 0) return 0;
    if (path[rt->plen] == '\0') return 1;
    return (rt->flags & SG_ROUTE_PREFIX) && path[rt->plen] == '/';
}

static int
sg_http_token_ok(sg_http_req_t *r)
{
    const char *want = r->conn->srv->conf.admin_token;
    const char *auth;
    char tok[256];

    if (want == NULL || want[0] == '\0') return 1;
    auth = sg_http_header(&r->head, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *t = auth + 7;
        while (*t == ' ') t++;
        return sg_secure_streq(t, want);
    }
    if (sg_query_get(r->query, "token", tok, sizeof(tok)) >= 0) return sg_secure_streq(tok, want);
    return 0;
}

int
sg_http_admin_ok(sg_http_req_t *r)
{
    if (sg_http_token_ok(r)) return 1;
    sg_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"streamgate\"");
    sg_http_error(r, 401, "this needs the admin token (Authorization: Bearer ...)");
    return 0;
}

static void
sg_http_dispatch(sg_http_req_t *r)
{
    sg_http_server_t *s = r->conn->srv;
    int is_get = strcmp(r->method, "GET") == 0 || r->is_head;

    if (r->conn->forbidden) {
        r->route = "forbidden";
        sg_http_error(r, 403, "client %s is not in server.allow", r->client);
        return;
    }
    if (r->conn->overloaded) {
        r->route = "overloaded";
        sg_http_add_header(r, "Retry-After", "5");
        sg_http_error(r, 503, "too many connections (server.max_connections = %d)",
                      s->conf.max_connections);
        return;
    }
    for (int i = 0; i < s->nroutes; i++) {
        const sg_route_t *rt = &s->routes[i];
        unsigned want;
        if (!sg_route_matches(rt, r->path)) continue;
        r->route = rt->metric;
        want = strcmp(r->method, "POST") == 0     ? SG_ROUTE_POST
               : strcmp(r->method, "DELETE") == 0 ? SG_ROUTE_DELETE
               : is_get                           ? SG_ROUTE_GET
                                                  : 0;
        if ((rt->flags & want) == 0) {
            char allow[64] = "";
            if (rt->flags & SG_ROUTE_GET) strcat(allow, "GET, HEAD");
            if (rt->flags & SG_ROUTE_POST) strcat(allow, allow[0] ? ", POST" : "POST");
            if (rt->flags & SG_ROUTE_DELETE) strcat(allow, allow[0] ? ", DELETE" : "DELETE");
            sg_http_add_header(r, "Allow", "%s", allow);
            sg_http_error(r, 405, "method %s not allowed on %s", r->method, rt->path);
            return;
        }
        if ((rt->flags & SG_ROUTE_ADMIN) && !sg_http_admin_ok(r)) return;
        rt->h(r, rt->arg);
        return;
    }
    r->route = "channel";
    if (!is_get) {
        sg_http_add_header(r, "Allow", "GET, HEAD");
        sg_http_error(r, 405, "method %s not allowed here", r->method);
        return;
    }
    if (s->fallback) {
        s->fallback(r, s->fallback_arg);
    } else {
        sg_http_error(r, 404, "no such resource");
    }
}

/* A new request on c, which is now handling it. NULL when out of memory. */
static sg_http_req_t *
sg_req_new(sg_http_conn_t *c)
{
    sg_http_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->conn = c;
    r->t0_us = sg_mono_us();
    r->length = -1;
    memcpy(r->client, c->client, sizeof(r->client));
    c->req = r;
    c->state = SG_CONN_HANDLING;
    return r;
}

/* Answer a broken request; the connection closes afterwards (what follows
 * in the input cannot be trusted to start a request). */
static void
sg_req_refuse(sg_http_req_t *r, int status, const char *why)
{
    r->route = "bad_request";
    r->keepalive = 0;
    sg_conn_set_timer(r->conn, 0);
    sg_log(SG_LOG_INFO, "http", "%s: %d %s", r->client, status, why);
    sg_http_error(r, status, "%s", why);
}

static void
sg_conn_bad_request(sg_http_conn_t *c, int status, const char *why)
{
    sg_http_req_t *r = sg_req_new(c);
    if (r == NULL) {
        sg_conn_close(c);
        return;
    }
    sg_req_refuse(r, status, why);
}

static void
sg_conn_start_request(sg_http_conn_t *c, char *head, size_t hlen)
{
    sg_http_req_t *r = sg_req_new(c);
    const char *why = NULL, *conn_hdr, *cl, *te;
    int status;

    if (r == NULL) {
        free(head);
        sg_conn_close(c);
        return;
    }
    r->head_copy = head;
    status = sg_http_parse_head(head, hlen, &r->head, &why);
    if (status != 0) {
        sg_req_refuse(r, status, why);
        return;
    }
    r->method = r->head.method;
    r->path = r->head.path;
    r->query = r->head.query;
    r->is_head = strcmp(r->method, "HEAD") == 0;
    conn_hdr = sg_http_header(&r->head, "Connection");
    if (r->head.minor >= 1) {
        r->keepalive = !(conn_hdr && sg_http_has_token(conn_hdr, "close"));
    } else {
        r->keepalive = conn_hdr && sg_http_has_token(conn_hdr, "keep-alive");
    }
    if (c->srv->conf.keepalive_timeout <= 0) r->keepalive = 0;

    te = sg_http_header(&r->head, "Transfer-Encoding");
    cl = sg_http_header(&r->head, "Content-Length");
    if (te) {
        sg_req_refuse(r, 411, "chunked request bodies are not supported; send Content-Length");
        return;
    }
    if (cl) {
        int64_t n;
        if (sg_parse_int64(cl, strlen(cl), &n) != 0 || n < 0) {
            sg_req_refuse(r, 400, "malformed Content-Length");
            return;
        }
        if (n > (int64_t)SG_HTTP_MAX_BODY) {
            char msg[64];
            snprintf(msg, sizeof(msg), "request body larger than %u bytes", SG_HTTP_MAX_BODY);
            sg_req_refuse(r, 413, msg);
            return;
        }
        if (n > 0) {
            c->body_need = (size_t)n;
            c->state = SG_CONN_BODY;
            return; /* the timer keeps running for the body */
        }
    }
    sg_conn_set_timer(c, 0);
    sg_http_dispatch(r);
}

/* Parse whatever the input buffer holds: a head, a body, or nothing yet. */
static void
sg_conn_process(sg_http_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (c->state == SG_CONN_HEAD || c->state == SG_CONN_BODY) {
        size_t avail = evbuffer_get_length(in);

        if (c->state == SG_CONN_BODY) {
            sg_http_req_t *r = c->req;
            if (avail < c->body_need) return;
            r->body_copy = malloc(c->body_need + 1);
            if (r->body_copy == NULL) {
                sg_conn_close(c);
                return;
            }
            evbuffer_remove(in, r->body_copy, c->body_need);
            r->body_copy[c->body_need] = '\0';
            r->body = r->body_copy;
            r->body_len = c->body_need;
            c->state = SG_CONN_HANDLING;
            sg_conn_set_timer(c, 0);
            sg_http_dispatch(r);
            return;
        }

        if (avail == 0) return;
        if (!c->head_started) {
            /* The slow-request clock starts with the first byte of a head
             * (before that, the idle keep-alive timeout runs). */
            c->head_started = 1;
            sg_conn_set_timer(c, c->srv->conf.request_timeout);
        }
        {
            size_t look = avail < SG_HTTP_MAX_HEAD ? avail : SG_HTTP_MAX_HEAD;
            char *p = (char *)evbuffer_pullup(in, (ev_ssize_t)look);
            ssize_t end = sg_http_head_end(p, look);
            char *head;

            if (end == 0) return; /* need more */
            if (end < 0) {
                evbuffer_drain(in, avail);
                sg_conn_bad_request(c, (int)-end,
                                    end == -414 ? "request line too long" : "request head too large");
                return;
            }
            head = malloc((size_t)end + 1);
            if (head == NULL) {
                sg_conn_close(c);
                return;
            }
            evbuffer_remove(in, head, (size_t)end);
            head[end] = '\0';
            c->head_started = 0;
            sg_conn_start_request(c, head, (size_t)end);
        }
    }
}

/* ---- responses ----------------------------------------------------------------------- */

/* The request is answered and its bytes are out: log, free, and either
 * close or wait for the next request on this connection. */
static void
sg_req_finish(sg_http_req_t *r)
{
    sg_http_conn_t *c = r->conn;
    int keep = r->keepalive && !c->peer_eof && c->state == SG_CONN_HANDLING;

    sg_req_log(r, 0);
    c->req = NULL;
    sg_req_free(r);
    if (!keep) {
        if (c->peer_eof) {
            sg_conn_close(c);
            return;
        }
        /* Lingering close: the client may still be sending (an oversized
         * head, an unread body). Closing now would reset the connection and
         * destroy the answer in flight, so stop writing, drain what comes,
         * and close at EOF or after a short while. */
        c->state = SG_CONN_LINGER;
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
        evbuffer_drain(bufferevent_get_input(c->bev),
                       evbuffer_get_length(bufferevent_get_input(c->bev)));
        bufferevent_disable(c->bev, EV_WRITE);
        bufferevent_enable(c->bev, EV_READ);
        sg_conn_set_timer(c, SG_HTTP_LINGER);
        return;
    }
    c->state = SG_CONN_HEAD;
    sg_conn_set_timer(c, c->srv->conf.keepalive_timeout);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_READ);
    /* A pipelined request may already be waiting. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) sg_conn_process(c);
}

/* Mark done; the write callback finishes the request once the output has
 * drained (deferred, so the caller may still return through r safely). */
static void
sg_req_done(sg_http_req_t *r)
{
    r->state = SG_REQ_DONE;
    bufferevent_trigger(r->conn->bev, EV_WRITE,
                        BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
sg_http_add_header(sg_http_req_t *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (r->state != SG_REQ_NEW) return;
    if (r->hdrs == NULL && (r->hdrs = evbuffer_new()) == NULL) return;
    evbuffer_add_printf(r->hdrs, "%s: ", name);
    va_start(ap, fmt);
    evbuffer_add_vprintf(r->hdrs, fmt, ap);
    va_end(ap);
    evbuffer_add(r->hdrs, "\r\n", 2);
}

static void
sg_req_send_headers(sg_http_req_t *r, int status, const char *ctype, int64_t length)
{
    struct evbuffer *out = bufferevent_get_output(r->conn->bev);
    static time_t last;
    static char date[64];
    time_t now = time(NULL);

    if (now != last) {
        sg_http_date(date, sizeof(date), now);
        last = now;
    }
    r->status = status;
    r->length = length;
    if (length < 0 && status != 304 && status != 204) r->keepalive = 0;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nServer: streamgate/" SG_VERSION "\r\nDate: %s\r\n",
                        status, sg_http_reason(status), date);
    if (ctype) evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (length >= 0) evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)length);
    if (!r->keepalive) {
        evbuffer_add(out, "Connection: close\r\n", 19);
    } else if (r->head.minor == 0) {
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    }
    if (r->hdrs) evbuffer_add_buffer(out, r->hdrs);
    evbuffer_add(out, "\r\n", 2);
    r->state = SG_REQ_SENT;
}

static int
sg_status_has_body(int status)
{
    return status != 204 && status != 304 && !(status >= 100 && status < 200);
}

void
sg_http_reply(sg_http_req_t *r, int status, const char *ctype, const void *body, size_t len)
{
    if (r->state != SG_REQ_NEW) return;
    if (!sg_status_has_body(status)) len = 0;
    sg_req_send_headers(r, status, ctype, (int64_t)len);
    if (!r->is_head && len > 0) {
        evbuffer_add(bufferevent_get_output(r->conn->bev), body, len);
        r->body_bytes = len;
    }
    sg_req_done(r);
}

void
sg_http_reply_ref(sg_http_req_t *r, int status, const char *ctype, const void *body, size_t len,
                  void (*cleanup)(const void *data, size_t len, void *arg), void *arg)
{
    int sent = 0;
    if (r->state == SG_REQ_NEW) {
        if (!sg_status_has_body(status)) len = 0;
        sg_req_send_headers(r, status, ctype, (int64_t)len);
        if (!r->is_head && len > 0 &&
            evbuffer_add_reference(bufferevent_get_output(r->conn->bev), body, len,
                                   (evbuffer_ref_cleanup_cb)cleanup, arg) == 0) {
            r->body_bytes = len;
            sent = 1;
        }
        sg_req_done(r);
    }
    if (!sent) cleanup(body, len, arg);
}

void
sg_http_reply_buffer(sg_http_req_t *r, int status, const char *ctype, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    if (r->state != SG_REQ_NEW) return;
    if (!sg_status_has_body(status)) len = 0;
    sg_req_send_headers(r, status, ctype, (int64_t)len);
    if (!r->is_head && len > 0) {
        evbuffer_add_buffer(bufferevent_get_output(r->conn->bev), b);
        r->body_bytes = len;
    } else {
        evbuffer_drain(b, evbuffer_get_length(b));
    }
    sg_req_done(r);
}

void
sg_http_reply_json(sg_http_req_t *r, int status, void *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    if (text == NULL) {
        json_decref(json);
        sg_http_reply(r, 500, "application/json", "{\"error\": \"out of memory\"}\n", 27);
        return;
    }
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (nl) {
        text = nl;
        text[n++] = '\n';
        text[n] = '\0';
    }
    sg_http_add_header(r, "Cache-Control", "no-cache");
    sg_http_reply(r, status, "application/json", text, n);
    free(text);
    json_decref(json);
}

void
sg_http_error(sg_http_req_t *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sg_http_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static int
sg_etag_matches(const char *header, const char *etag)
{
    const char *p = header;
    size_t el;
    if (header == NULL || etag == NULL) return 0;
    if (strcmp(header, "*") == 0) return 1;
    el = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (strncmp(p, "W/", 2) == 0) p += 2; /* weak comparison (RFC 9110 13.1.2) */
        if (strncmp(p, etag, el) == 0 && (p[el] == '\0' || p[el] == ',' || p[el] == ' ')) return 1;
        while (*p && *p != ',') p++;
    }
    return 0;
}

void
sg_http_reply_fd(sg_http_req_t *r, int fd, int64_t size, const char *ctype, const char *etag,
                 int64_t mtime)
{
    long long first = 0, last = size - 1;
    const char *range = sg_http_header(&r->head, "Range");
    const char *ifrange = sg_http_header(&r->head, "If-Range");
    int status = 200, dfd;
    char lm[64];

    if (r->state != SG_REQ_NEW) return;
    if (etag) sg_http_add_header(r, "ETag", "%s", etag);
    if (mtime > 0) {
        sg_http_date(lm, sizeof(lm), (time_t)mtime);
        sg_http_add_header(r, "Last-Modified", "%s", lm);
    }
    sg_http_add_header(r, "Accept-Ranges", "bytes");
    if (etag && sg_etag_matches(sg_http_header(&r->head, "If-None-Match"), etag)) {
        sg_http_reply(r, 304, NULL, NULL, 0);
        return;
    }
    if (range && ifrange && !(etag && strcmp(ifrange, etag) == 0)) range = NULL;
    switch (sg_http_parse_range(range, size, &first, &last)) {
    case 0:
        status = 206;
        sg_http_add_header(r, "Content-Range", "bytes %lld-%lld/%lld", first, last,
                           (long long)size);
        break;
    case 416: {
        char body[128];
        int n = snprintf(body, sizeof(body),
                         "{\"error\": \"range not satisfiable (size %lld)\"}\n", (long long)size);
        sg_http_add_header(r, "Content-Range", "bytes */%lld", (long long)size);
        sg_http_reply(r, 416, "application/json", body, (size_t)n);
        return;
    }
    default:
        first = 0;
        last = size - 1;
        break;
    }
    sg_req_send_headers(r, status, ctype, last - first + 1);
    if (!r->is_head && last >= first) {
        dfd = dup(fd);
        if (dfd < 0 || evbuffer_add_file(bufferevent_get_output(r->conn->bev), dfd, first,
                                         last - first + 1) != 0) {
            if (dfd >= 0) close(dfd);
            sg_log(SG_LOG_ERR, "http", "cannot send file: %s", strerror(errno));
            r->keepalive = 0;
        } else {
            r->body_bytes = (uint64_t)(last - first + 1);
        }
    }
    sg_req_done(r);
}

void
sg_http_reply_file(sg_http_req_t *r, const char *path, const char *ctype)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char etag[64];

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        sg_http_error(r, 404, "no such file");
        return;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    sg_http_reply_fd(r, fd, (int64_t)st.st_size, ctype, etag, (int64_t)st.st_mtime);
    close(fd);
}

/* ---- streams ----------------------------------------------------------------------------- */

void
sg_http_stream_start(sg_http_req_t *r, int status, const char *ctype, int64_t length)
{
    if (r->state != SG_REQ_NEW) return;
    sg_http_add_header(r, "Cache-Control", "no-cache");
    sg_req_send_headers(r, status, ctype, length);
    if (r->is_head) {
        sg_req_done(r);
        return;
    }
    r->state = SG_REQ_STREAMING;
    /* Streams are batched upstream: let one write take a whole batch. */
    bufferevent_set_max_single_write(r->conn->bev, 1u << 20);
}

/* Below this a write is only queued: small pieces coalesce in the buffer. */
#define SG_HTTP_DIRECT_MIN 4096

size_t
sg_http_stream_write(sg_http_req_t *r, const void *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(r->conn->bev);
    if (r->state == SG_REQ_STREAMING && len > 0) {
        if (r->length >= 0 && r->body_bytes + len > (uint64_t)r->length) {
            len = (size_t)((uint64_t)r->length - r->body_bytes); /* never past Content-Length */
        }
        r->body_bytes += len;
        if (len >= SG_HTTP_DIRECT_MIN && evbuffer_get_length(out) == 0) {
            /* Nothing queued: straight to the socket, no copy into the
             * buffer (a client that keeps up never has anything queued).
             * EAGAIN and errors alike queue the rest; the bufferevent
             * reports a broken connection through its event callback. */
            ssize_t w = send(bufferevent_getfd(r->conn->bev), data, len, MSG_NOSIGNAL);
            if (w > 0) {
                data = (const char *)data + w;
                len -= (size_t)w;
            }
        }
        if (len > 0) evbuffer_add(out, data, len);
    }
    return evbuffer_get_length(out);
}

typedef struct sg_file_ref_s {
    void *owner;
    sg_http_release_pt release;
} sg_file_ref_t;

static void
sg_file_segment_done(struct evbuffer_file_segment const *seg, int flags, void *arg)
{
    sg_file_ref_t *ref = arg;
    (void)seg;
    (void)flags;
    ref->release(ref->owner);
    free(ref);
}

size_t
sg_http_stream_file(sg_http_req_t *r, int fd, uint64_t off, size_t len, void *owner,
                    sg_http_hold_pt hold, sg_http_release_pt release)
{
    struct evbuffer *out = bufferevent_get_output(r->conn->bev);
    struct evbuffer_file_segment *seg;
    sg_file_ref_t *ref;

    if (r->state != SG_REQ_STREAMING || len == 0) return evbuffer_get_length(out);
    if (r->length >= 0 && r->body_bytes + len > (uint64_t)r->length) {
        len = (size_t)((uint64_t)r->length - r->body_bytes);
    }
    r->body_bytes += len;
    if (evbuffer_get_length(out) == 0) {
        off_t o = (off_t)off;
        ssize_t w = sendfile(bufferevent_getfd(r->conn->bev), fd, &o, len);
        /* EAGAIN and errors alike: queue the rest; the bufferevent reports
         * a broken connection through its event callback. */
        if (w > 0) {
            off += (uint64_t)w;
            len -= (size_t)w;
        }
        if (len == 0) return 0;
    }
    ref = malloc(sizeof(*ref));
    seg = ref ? evbuffer_file_segment_new(fd, (ev_off_t)off, (ev_off_t)len, 0) : NULL;
    if (seg == NULL) {
        free(ref);
        return SIZE_MAX; /* out of memory: the caller drops the client as too slow */
    }
    ref->owner = owner;
    ref->release = release;
    hold(owner);
    evbuffer_file_segment_add_cleanup_cb(seg, sg_file_segment_done, ref);
    evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
    evbuffer_file_segment_free(seg); /* the buffer holds its own reference */
    return evbuffer_get_length(out);
}

size_t
sg_http_stream_backlog(sg_http_req_t *r)
{
    return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

void
sg_http_stream_end(sg_http_req_t *r)
{
    if (r->state == SG_REQ_DONE) return;
    if (r->state == SG_REQ_STREAMING && r->length >= 0 && r->body_bytes < (uint64_t)r->length) {
        r->keepalive = 0; /* short body: the client must see the connection end */
    }
    r->on_close = NULL;
    r->on_drain = NULL;
    sg_req_done(r);
}

void
sg_http_abort(sg_http_req_t *r)
{
    sg_http_conn_t *c = r->conn;
    struct timeval now = {0, 0};

    r->on_close = NULL;
    r->on_drain = NULL;
    r->state = SG_REQ_DONE;
    r->keepalive = 0;
    c->state = SG_CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evbuffer_drain(bufferevent_get_output(c->bev), evbuffer_get_length(bufferevent_get_output(c->bev)));
    event_add(c->timer, &now); /* closes on the next loop turn */
}

void
sg_http_stream_watermark(sg_http_req_t *r, size_t lowmark)
{
    bufferevent_setwatermark(r->conn->bev, EV_WRITE, lowmark, 0);
}

void
sg_http_base_url(sg_http_req_t *r, char *buf, size_t len)
{
    const char *host;
    sg_http_server_t *s = r->conn->srv;

    if (s->conf.public_url && s->conf.public_url[0]) {
        snprintf(buf, len, "%s", s->conf.public_url);
        return;
    }
    host = sg_http_header(&r->head, "Host");
    if (host && host[0] && strlen(host) < 256) {
        int ok = 1;
        for (const char *p = host; *p; p++) {
            int ch = (unsigned char)*p;
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_')) {
                ok = 0;
                break;
            }
        }
        if (ok) {
            snprintf(buf, len, "http://%s", host);
            return;
        }
    }
    {
        char a[80];
        sg_addr_str((struct sockaddr *)&r->conn->local, a, sizeof(a), 1);
        snprintf(buf, len, "http://%s", a);
    }
}
