#include "sg_rtsp_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "sg_config.h"
#include "net/sg_rtsp.h"
#include "util/sg_list.h"
#include "util/sg_log.h"

#define SG_RTSP_KEEPALIVE_S 30
#define SG_RTSP_STOP_WAIT_MS 2000
#define SG_RTSP_URL_MAX 2048

enum { ST_CONNECT, ST_SETUP, ST_PLAY, ST_PLAYING, ST_FAILED, ST_TEARDOWN };

struct sg_rtsp_client_s {
    sg_rtsp_client_t *prev, *next;
    struct bufferevent *bev;
    struct event *timer;     /* connect/reply timeout, keep-alive, stop wait */
    sg_rtsp_parser_t *parser;
    const sg_rtsp_client_ops_t *ops;
    void *arg;
    int state;
    int stopped;             /* the owner let go: no more callbacks          */
    int setup_inflight;      /* stopped before SETUP's reply: wait for it    */
    int cseq, wait_cseq;     /* last sent; the reply awaited (0 = none)      */
    int keepalive_s;
    int reply_timeout_ms;
    int client_port;
    double start;
    char url[SG_RTSP_URL_MAX];
    char transport[160];
    char ua[128];
    char session[128];
};

static sg_rtsp_client_t *sg_rtsp_clients;

static const char *
sg_rtsp_method(int state)
{
    switch (state) {
    case ST_SETUP: return "SETUP";
    case ST_PLAY: return "PLAY";
    case ST_PLAYING: return "GET_PARAMETER";
    case ST_TEARDOWN: return "TEARDOWN";
    default: return "connect";
    }
}

static void
sg_rtsp_client_free(sg_rtsp_client_t *c)
{
    SG_LIST_REMOVE(&sg_rtsp_clients, c);
    if (c->bev) bufferevent_free(c->bev);
    if (c->timer) event_free(c->timer);
    sg_rtsp_free(c->parser);
    free(c);
}

static void
sg_rtsp_arm(sg_rtsp_client_t *c, int ms)
{
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* One request: "METHOD url RTSP/1.0", CSeq, User-Agent, Session (once
 * known), then the extra header lines (each ending in CRLF). */
static void
sg_rtsp_send(sg_rtsp_client_t *c, const char *method, const char *fmt, ...)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    va_list ap;

    c->cseq++;
    evbuffer_add_printf(out, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: %s\r\n", method, c->url,
                        c->cseq, c->ua);
    if (c->session[0]) evbuffer_add_printf(out, "Session: %s\r\n", c->session);
    if (fmt) {
        va_start(ap, fmt);
        evbuffer_add_vprintf(out, fmt, ap);
        va_end(ap);
    }
    evbuffer_add(out, "\r\n", 2);
    c->wait_cseq = c->cseq;
    sg_rtsp_arm(c, c->reply_timeout_ms);
}

static void
sg_rtsp_teardown(sg_rtsp_client_t *c)
{
    int live = c->bev && (bufferevent_get_enabled(c->bev) & EV_WRITE);

    c->setup_inflight = live && c->state == ST_SETUP && c->wait_cseq != 0;
    c->state = ST_TEARDOWN;
    if (c->session[0] && live) {
        sg_rtsp_send(c, "TEARDOWN", NULL);
        sg_rtsp_arm(c, SG_RTSP_STOP_WAIT_MS);
    } else if (c->setup_inflight) {
        /* The server may be creating a session right now: wait for the
         * SETUP reply to tear it down. */
        sg_rtsp_arm(c, SG_RTSP_STOP_WAIT_MS);
    } else {
        sg_rtsp_arm(c, 0); /* nothing to say: free on the next turn */
    }
}

/* The session is over for the owner: tell it once. The owner then calls
 * sg_rtsp_stop(), which tears down a session that exists. */
static void
sg_rtsp_fail(sg_rtsp_client_t *c, int status, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    if (c->stopped || c->state == ST_FAILED) return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sg_log(SG_LOG_INFO, "rtsp", "%s: %s", c->url, why);
    c->state = ST_FAILED;
    c->wait_cseq = 0;
    event_del(c->timer);
    c->ops->failed(c->arg, status, why);
}

static void
sg_rtsp_on_reply(sg_rtsp_client_t *c, const sg_rtsp_reply_t *rep)
{
    const char *method = sg_rtsp_method(c->state);

    if (c->state == ST_TEARDOWN && c->setup_inflight && rep->cseq == c->wait_cseq) {
        c->setup_inflight = 0;
        if (rep->status == 200 && rep->session[0]) {
            snprintf(c->session, sizeof(c->session), "%s", rep->session);
            sg_rtsp_send(c, "TEARDOWN", NULL);
            sg_rtsp_arm(c, SG_RTSP_STOP_WAIT_MS);
        } else {
            sg_rtsp_arm(c, 0);
        }
        return;
    }
    if (rep->cseq != c->wait_cseq) {
        sg_log(SG_LOG_DEBUG, "rtsp", "%s: ignoring a reply for CSeq %d", c->url, rep->cseq);
        return;
    }
    c->wait_cseq = 0;
    event_del(c->timer);
    if (c->state == ST_TEARDOWN) {
        sg_rtsp_arm(c, 0);
        return;
    }
    if (c->state == ST_FAILED) return;
    if (rep->status != 200) {
        sg_rtsp_fail(c, rep->status, "RTSP %s answered %d %s", method, rep->status, rep->reason);
        return;
    }
    switch (c->state) {
    case ST_SETUP:
        if (rep->session[0] == '\0') {
            sg_rtsp_fail(c, 0, "RTSP SETUP answered without a Session");
            return;
        }
        snprintf(c->session, sizeof(c->session), "%s", rep->session);
        if (rep->timeout > 0 && rep->timeout / 2 < c->keepalive_s) {
            c->keepalive_s = rep->timeout / 2 > 0 ? rep->timeout / 2 : 1;
        }
        c->state = ST_PLAY;
        sg_rtsp_send(c, "PLAY",
                     "Range: npt=%.3f-end\r\nScale: 1.000\r\nx-playNow:\r\nx-noFlush:\r\n",
                     c->start);
        break;
    case ST_PLAY:
        c->state = ST_PLAYING;
        sg_log(SG_LOG_DEBUG, "rtsp", "%s: playing from %.3f s, session %s", c->url, c->start,
               c->session);
        sg_rtsp_arm(c, c->keepalive_s * 1000);
        c->ops->playing(c->arg);
        break;
    case ST_PLAYING:
        sg_rtsp_arm(c, c->keepalive_s * 1000);
        break;
    default:
        break;
    }
}

static void
sg_rtsp_read_cb(struct bufferevent *bev, void *arg)
{
    sg_rtsp_client_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    unsigned char buf[SG_RTSP_FEED_MAX];
    const char *why = NULL;

    while (evbuffer_get_length(in) > 0) {
        int n = evbuffer_remove(in, buf, sizeof(buf)), rc;
        if (n <= 0) break;
        rc = sg_rtsp_feed(c->parser, buf, (size_t)n, &why);
        while (rc == 1) {
            sg_rtsp_on_reply(c, sg_rtsp_reply(c->parser));
            /* After a failure the rest does not matter. (Nothing here frees
             * c: a stop from a callback frees it on a later turn.) */
            if (c->state == ST_FAILED) {
                evbuffer_drain(in, evbuffer_get_length(in));
                return;
            }
            rc = sg_rtsp_next(c->parser, &why);
        }
        if (rc < 0) {
            if (c->state == ST_TEARDOWN) {
                sg_rtsp_arm(c, 0);
            } else if (c->state != ST_FAILED) {
                sg_rtsp_fail(c, 0, "bad RTSP reply to %s: %s", sg_rtsp_method(c->state), why);
            }
            evbuffer_drain(in, evbuffer_get_length(in));
            return;
        }
    }
}

static void
sg_rtsp_event_cb(struct bufferevent *bev, short what, void *arg)
{
    sg_rtsp_client_t *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        c->state = ST_SETUP;
        if (c->stopped) {
            sg_rtsp_arm(c, 0);
            return;
        }
        sg_rtsp_send(c, "SETUP", "Transport: %s\r\n", c->transport);
        return;
    }
    /* EOF or an error: the connection is gone, nothing more can be sent. */
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    if (c->stopped) {
        sg_rtsp_arm(c, 0);
        return;
    }
    c->session[0] = '\0'; /* no way to tear it down any more */
    if (c->state == ST_FAILED) return;
    if (c->state == ST_CONNECT) {
        sg_rtsp_fail(c, 0, "cannot connect to the RTSP server: %s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    } else {
        sg_rtsp_fail(c, 0, "the RTSP server closed the connection%s",
                     c->state == ST_PLAYING ? "" : " during negotiation");
    }
}

static void
sg_rtsp_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_rtsp_client_t *c = arg;
    (void)fd;
    (void)what;

    if (c->stopped) {
        sg_rtsp_client_free(c);
        return;
    }
    if (c->wait_cseq) {
        sg_rtsp_fail(c, 0, "the RTSP server did not answer %s within %d ms",
                     sg_rtsp_method(c->state), c->reply_timeout_ms);
        return;
    }
    if (c->state == ST_PLAYING) sg_rtsp_send(c, "GET_PARAMETER", NULL);
}

sg_rtsp_client_t *
sg_rtsp_play(struct event_base *base, const sg_rtsp_play_t *req, const sg_rtsp_client_ops_t *ops,
             void *arg, const char **why)
{
    struct sockaddr_storage ss;
    int sslen = (int)sizeof(ss);
    char hostport[300];
    const char *h, *end;
    size_t n;
    sg_rtsp_client_t *c;

    if (req->url == NULL || strncasecmp(req->url, "rtsp://", 7) != 0) {
        *why = "not an rtsp:// URL";
        return NULL;
    }
    if (strlen(req->url) >= SG_RTSP_URL_MAX || strpbrk(req->url, " \r\n\t") != NULL) {
        *why = "the RTSP URL is too long or has spaces";
        return NULL;
    }
    h = req->url + 7;
    end = h + strcspn(h, "/?#");
    if (memchr(h, '@', (size_t)(end - h)) != NULL) {
        *why = "RTSP URLs with credentials are not supported";
        return NULL;
    }
    n = (size_t)(end - h);
    if (n == 0 || n + 5 >= sizeof(hostport)) {
        *why = "the RTSP URL has no host";
        return NULL;
    }
    memcpy(hostport, h, n);
    hostport[n] = '\0';
    /* No port: 554. "[v6]" and "a.b.c.d" get it appended. */
    if (hostport[n - 1] == ']' || strchr(hostport, ':') == NULL) strcat(hostport, ":554");
    memset(&ss, 0, sizeof(ss));
    if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&ss, &sslen) != 0) {
        *why = "the RTSP server must be given as an IP address";
        return NULL;
    }
    if (req->client_port <= 0 || req->client_port > 65534) {
        *why = "bad client port";
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        *why = "out of memory";
        return NULL;
    }
    c->ops = ops;
    c->arg = arg;
    c->state = ST_CONNECT;
    c->keepalive_s = SG_RTSP_KEEPALIVE_S;
    c->reply_timeout_ms = req->reply_timeout_ms > 0 ? req->reply_timeout_ms : 10000;
    c->client_port = req->client_port;
    c->start = req->start > 0 ? req->start : 0;
    snprintf(c->url, sizeof(c->url), "%s", req->url);
    snprintf(c->ua, sizeof(c->ua), "%s", req->user_agent ? req->user_agent : "streamgate/" SG_VERSION);
    if (req->transport == NULL) {
        snprintf(c->transport, sizeof(c->transport), "RTP/AVP;unicast;client_port=%d-%d",
                 req->client_port, req->client_port + 1);
    } else {
        snprintf(c->transport, sizeof(c->transport), "%s;client_port=%d", req->transport,
                 req->client_port);
    }
    SG_LIST_PUSH(&sg_rtsp_clients, c);
    c->parser = sg_rtsp_new();
    c->timer = evtimer_new(base, sg_rtsp_timer_cb, c);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->parser == NULL || c->timer == NULL || c->bev == NULL) {
        sg_rtsp_client_free(c);
        *why = "out of memory";
        return NULL;
    }
    bufferevent_setcb(c->bev, sg_rtsp_read_cb, NULL, sg_rtsp_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, sslen) != 0) {
        sg_rtsp_client_free(c);
        *why = "cannot open a connection to the RTSP server";
        return NULL;
    }
    sg_rtsp_arm(c, c->reply_timeout_ms);
    return c;
}

void
sg_rtsp_stop(sg_rtsp_client_t *c)
{
    if (c == NULL || c->stopped) return;
    c->stopped = 1;
    if (c->state == ST_CONNECT) {
        sg_rtsp_arm(c, 0);
        return;
    }
    sg_rtsp_teardown(c);
}

void
sg_rtsp_flush_all(void)
{
    while (sg_rtsp_clients) {
        sg_rtsp_client_t *c = sg_rtsp_clients;
        if (!c->stopped) {
            c->stopped = 1;
            if (c->state != ST_CONNECT && c->state != ST_TEARDOWN) sg_rtsp_teardown(c);
        }
        if (c->bev) {
            evutil_socket_t fd = bufferevent_getfd(c->bev);
            struct evbuffer *out = bufferevent_get_output(c->bev);
            if (fd >= 0) {
                char buf[4096];
                /* The bufferevent keeps its output's front frozen outside its
                 * own write callback; it is being freed, so write here. */
                evbuffer_unfreeze(out, 1);
                if (evbuffer_get_length(out) > 0 && evbuffer_write(out, fd) < 0) {
                    sg_log(SG_LOG_INFO, "rtsp", "%s: TEARDOWN not sent: %s", c->url,
                           strerror(errno));
                }
                /* A close with unread replies would reset the connection,
                 * and the server could drop the TEARDOWN still unread on
                 * its side: read what is pending, then end politely. */
                while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
                }
                shutdown(fd, SHUT_WR);
            }
        }
        sg_rtsp_client_free(c);
    }
}

int
sg_rtsp_count(int *stopping)
{
    int n = 0, s = 0;
    for (sg_rtsp_client_t *c = sg_rtsp_clients; c; c = c->next) {
        if (c->stopped) {
            s++;
        } else {
            n++;
        }
    }
    if (stopping) *stopping = s;
    return n;
}
