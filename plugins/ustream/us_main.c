/*
 * streamgate-ustream: download a ustream channel's recorded videos.
 *
 *   streamgate ustream URL [-o FILE|DIR] [--video ID] [--jobs N] [--flv]
 *       [-c FILE] [--site URL] [--ums URL] [--cdn URL] [--preset NAME]
 *       [--work DIR] [--keep] [--json] [--die-with-parent]
 *
 * (`streamgate ustream` runs this program; the daemon's /ustream/jobs run it
 * too, with --json, so FFmpeg and a stuck download never live in the daemon.)
 *
 * The flow: the channel or video page (libxml2) gives the channel id; the
 * viewer registration gives a hash; content.json lists the videos; for each
 * video a websocket to the UMS host (libwebsockets; a reject with a cluster
 * redirect is followed once) gives the flv/segmented stream: CDN path,
 * segment URL template per preset, hash list, length. Chunks download with
 * the libcurl multi interface, N at a time, each checked (HTTP status, FLV
 * signature, a whole tag walk), retried with backoff, and kept under the
 * work folder, so a run that stops is resumed by the next one: finished
 * chunks are verified again and only the missing ones fetched. The last
 * hash key covers the chunks up to the end: the length says how many, and
 * the download probes past that until the CDN answers 404, so no trailing
 * chunk is lost. Then the FLV joiner (us_flv.c) feeds the recorder's remux
 * engine straight into an MP4 (faststart, title and date tags), streaming:
 * memory does not grow with the video's length. The file is written under a
 * hidden temporary name and renamed when complete.
 *
 * Exit status: 0 every video written; 1 writing or remuxing failed;
 * 2 bad arguments or configuration; 3 no such channel or video, or no
 * recordings; 4 refused by the service (registration, websocket reject,
 * geo-lock); 5 the network or the CDN failed (after retries); 6 interrupted
 * (run again to resume).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libconfig.h>
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record/sg_remux.h"
#include "sg_config.h"
#include "us_api.h"
#include "us_flv.h"
#include "us_fs.h"

enum { US_OK = 0, US_EWRITE = 1, US_EUSAGE = 2, US_ENOTFOUND = 3, US_EREFUSED = 4, US_ENET = 5,
       US_EINTR = 6 };

#define US_TRIES 5
#define US_MAX_CHUNKS 200000
#define US_MAX_CHUNK_BYTES (512u << 20)

typedef struct {
    const char *site, *ums, *cdn, *preset, *out, *video, *work, *ua;
    const char *reg[5];
    int jobs, flv, json, keep, die_with_parent, print_urls;
} us_opts_t;

static const char *const us_reg_names[5] = {"name", "email", "company", "role", "phone"};
static volatile sig_atomic_t us_stop;

/* snprintf where cutting a long path short in a message is fine. */
static int us_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
us_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
static int us_tty;
static us_opts_t O;

static void
us_on_signal(int sig)
{
    (void)sig;
    us_stop = 1;
}

static double
us_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One JSON event line on stdout (--json), for the daemon's job runner. */
static void
us_event(json_t *o)
{
    char *s;
    if (!O.json || o == NULL) {
        json_decref(o);
        return;
    }
    if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
        printf("%s\n", s);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

/* The reason a run failed: on stderr, and as an event with --json. */
static int
us_fail(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (us_tty) fputc('\n', stderr);
    fprintf(stderr, "streamgate ustream: %s\n", msg);
    us_event(json_pack("{s:s, s:i, s:s}", "event", "error", "code", code, "message", msg));
    return code;
}

static void
us_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("streamgate ustream: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- HTTP (the page, registration, content.json) ------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} us_buf_t;

static size_t
us_buf_write(char *d, size_t sz, size_t nm, void *arg)
{
    us_buf_t *b = arg;
    size_t len = sz * nm;
    if (b->n + len + 1 > 8u << 20) return 0; /* 8 MiB is not a page */
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

/* GET (form NULL) or POST a form; the handle keeps the session's cookies.
 * The status, 0 when the transfer failed (why set). */
static long
us_http(CURL *c, const char *url, const char *form, us_buf_t *b, char *why, size_t wn)
{
    char err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc;

    b->n = 0;
    if (b->p) b->p[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, us_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK && us_stop) {
        snprintf(why, wn, "interrupted");
        return 0;
    }
    if (rc != CURLE_OK) {
        us_fmt(why, wn, "%s: %s", url, err[0] ? err : curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (b->p == NULL) us_buf_write("", 0, 0, b);
    return status;
}

/* SIGINT/SIGTERM end a blocking transfer too. */
static int
us_xferinfo(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)arg, (void)dt, (void)dn, (void)ut, (void)un;
    return us_stop ? 1 : 0;
}

static CURL *
us_easy(void)
{
    CURL *c = curl_easy_init();
    if (c == NULL) return NULL;
    curl_easy_setopt(c, CURLOPT_COOKIEFILE, ""); /* the session's cookie engine */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, O.ua);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, us_xferinfo);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    return c;
}

/* "a=1; b=2" from the handle's cookies, for the websocket handshake. */
static void
us_cookie_header(CURL *c, char *out, size_t n)
{
    struct curl_slist *l = NULL;
    size_t o = 0;
    out[0] = '\0';
    if (curl_easy_getinfo(c, CURLINFO_COOKIELIST, &l) != CURLE_OK) return;
    for (struct curl_slist *i = l; i; i = i->next) {
        /* netscape format: domain, flag, path, secure, expiry, name, value */
        const char *f[7];
        const char *p = i->data;
        int k = 0;
        for (f[k++] = p; *p && k < 7; p++) {
            if (*p == '\t') f[k++] = p + 1;
        }
        if (k == 7) {
            int w = us_fmt(out + o, n - o, "%s%.*s=%s", o ? "; " : "",
                             (int)(strchr(f[5], '\t') - f[5]), f[5], f[6]);
            if (w < 0 || (size_t)w >= n - o) break;
            o += (size_t)w;
        }
    }
    curl_slist_free_all(l);
}

/* ---- the websocket -------------------------------------------------------- */

typedef struct {
    char *send;           /* the connect command                    */
    int sent;
    char cookie[1024];
    us_buf_t rx;
    int state;            /* 0 waiting, 1 stream, 2 redirect, -1 failed */
    int code;             /* exit code when failed                  */
    char msg[600];
    us_stream_t st;
} us_ws_t;

static int
us_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    us_ws_t *w = lws_get_opaque_user_data(wsi);
    (void)user;
    if (w == NULL) return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        if (w->cookie[0] &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cookie:",
                                        (const unsigned char *)w->cookie, (int)strlen(w->cookie),
                                        p, end)) {
            return -1;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!w->sent) {
            size_t n = strlen(w->send);
            unsigned char *buf = malloc(LWS_PRE + n);
            int rc;
            if (buf == NULL) return -1;
            memcpy(buf + LWS_PRE, w->send, n);
            rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
            free(buf);
            if (rc < (int)n) return -1;
            w->sent = 1;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (us_buf_write(in, 1, len, &w->rx) != len) {
            w->state = -1;
            w->code = US_ENET;
            us_fmt(w->msg, sizeof(w->msg), "a websocket message is larger than 8 MiB");
            return -1;
        }
        if (lws_is_final_fragment(wsi)) {
            int k = us_frame(w->rx.p, w->rx.n, O.cdn, O.preset, &w->st, w->msg, sizeof(w->msg));
            w->rx.n = 0;
            switch (k) {
            case US_FRAME_STREAM: w->state = 1; return -1;
            case US_FRAME_CLUSTER: w->state = 2; return -1;
            case US_FRAME_REJECT:
                w->state = -1;
                w->code = strstr(w->msg, "nonexistent") ? US_ENOTFOUND : US_EREFUSED;
                return -1;
            case US_FRAME_WARNING: us_info("the service warns: %s", w->msg); break;
            case US_FRAME_BAD: w->state = -1; w->code = US_EREFUSED; return -1;
            default: break;
            }
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (w->state == 0) {
            w->state = -1;
            w->code = US_ENET;
            us_fmt(w->msg, sizeof(w->msg), "websocket: %s",
                     in && len ? (const char *)in : "connection failed");
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (w->state == 0) {
            w->state = -1;
            w->code = US_ENET;
            us_fmt(w->msg, sizeof(w->msg),
                     "the websocket closed before the stream was described");
        }
        break;
    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void
us_lws_log(int level, const char *line)
{
    if (level & LLL_ERR) fprintf(stderr, "streamgate ustream: websocket: %s", line);
}

/* One websocket session to url: 0 with w->state 1 (stream) or 2 (redirect),
 * or the exit code with w->msg. */
static int
us_ws_session(const char *url, us_ws_t *w)
{
    static const struct lws_protocols protos[] = {{"ustream", us_ws_cb, 0, 65536, 0, NULL, 0},
                                                  {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info ci;
    struct lws_client_connect_info cc;
    struct lws_context *ctx;
    char buf[2048], path[2100];
    const char *prot, *host, *p;
    int port;
    double deadline = us_now() + 20;

    us_fmt(buf, sizeof(buf), "%s", url);
    if (lws_parse_uri(buf, &prot, &host, &port, &p) != 0 ||
        (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
        us_fmt(w->msg, sizeof(w->msg), "%s: not a ws:// or wss:// URL", url);
        return US_EUSAGE;
    }
    us_fmt(path, sizeof(path), "/%s", p);
    memset(&ci, 0, sizeof(ci));
    ci.port = CONTEXT_PORT_NO_LISTEN;
    ci.protocols = protos;
    ci.gid = -1;
    ci.uid = -1;
    if (strcmp(prot, "wss") == 0) ci.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if ((ctx = lws_create_context(&ci)) == NULL) {
        us_fmt(w->msg, sizeof(w->msg), "websocket: cannot create a context");
        return US_ENET;
    }
    memset(&cc, 0, sizeof(cc));
    cc.context = ctx;
    cc.address = host;
    cc.port = port;
    cc.path = path;
    cc.host = host;
    cc.origin = host;
    cc.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
    cc.protocol = NULL;
    cc.opaque_user_data = w;
    w->state = 0;
    w->sent = 0;
    if (lws_client_connect_via_info(&cc) == NULL) {
        w->state = -1;
        w->code = US_ENET;
        if (w->msg[0] == '\0') us_fmt(w->msg, sizeof(w->msg), "%s: cannot connect", url);
    }
    while (w->state == 0 && !us_stop && us_now() < deadline) lws_service(ctx, 250);
    lws_context_destroy(ctx);
    if (w->state == 0) {
        us_fmt(w->msg, sizeof(w->msg), us_stop ? "interrupted"
                                                 : "%s: no stream description within 20 s",
                 url);
        return us_stop ? US_EINTR : US_ENET;
    }
    return w->state > 0 ? 0 : w->code;
}

/* The video's stream: the connect command, one cluster redirect followed. */
static int
us_negotiate(const char *video, const char *referrer, const char *hash, const char *cookie,
             us_stream_t *st)
{
    us_ws_t w;
    char url[2048];
    int rc;

    memset(&w, 0, sizeof(w));
    us_fmt(w.cookie, sizeof(w.cookie), "%s", cookie);
    if ((w.send = us_connect_frame(video, referrer, hash)) == NULL) {
        return us_fail(US_EWRITE, "out of memory");
    }
    if (us_ums_url(O.ums, video, (unsigned)time(NULL) ^ (unsigned)getpid(), url, sizeof(url))) {
        free(w.send);
        return us_fail(US_EUSAGE, "the ums URL template is too long");
    }
    for (int hop = 0;; hop++) {
        w.msg[0] = '\0';
        rc = us_ws_session(url, &w);
        if (rc != 0 || w.state == 1 || hop == 1) break;
        /* reject with a cluster: once, to wss://<host>/1/ustream */
        us_info("video %s: redirected to cluster %s", video, w.msg);
        if (us_cluster_url(O.ums, w.msg, url, sizeof(url)) != 0) {
            rc = US_EREFUSED;
            us_fmt(w.msg, sizeof(w.msg), "a cluster redirect names a bad host");
            break;
        }
    }
    free(w.send);
    free(w.rx.p);
    if (rc == 0 && w.state != 1) {
        rc = US_EREFUSED;
        us_fmt(w.msg, sizeof(w.msg), "redirected to another cluster twice");
    }
    if (rc != 0) {
        us_stream_free(&w.st);
        return us_fail(rc, "video %s: %s", video, w.msg);
    }
    *st = w.st;
    return 0;
}

/* ---- chunk files ---------------------------------------------------------- */

static int
us_discard(void *arg, const uint8_t *d, size_t n)
{
    (void)arg, (void)d, (void)n;
    return 0;
}

/* A whole, well-formed FLV file: 0, or -1 with why. */
static int
us_flv_check(const char *path, char *why, size_t n)
{
    uint8_t buf[65536];
    const char *w = NULL;
    us_flv_t *j = us_flv_new(us_discard, NULL);
    FILE *f = fopen(path, "rb");
    size_t r;
    int rc = 0;

    if (j == NULL || f == NULL) {
        us_fmt(why, n, "%s: %s", path, f ? "out of memory" : strerror(errno));
        if (f) fclose(f);
        us_flv_free(j);
        return -1;
    }
    us_flv_chunk(j);
    while (rc == 0 && (r = fread(buf, 1, sizeof(buf), f)) > 0) rc = us_flv_feed(j, buf, r, &w);
    if (rc == 0) rc = us_flv_chunk_end(j, &w);
    if (rc != 0) us_fmt(why, n, "%s", w ? w : "not FLV");
    fclose(f);
    us_flv_free(j);
    return rc;
}

static void
us_chunk_path(const char *work, int64_t c, const char *suffix, char *out, size_t n)
{
    us_fmt(out, n, "%s/%06lld.%s", work, (long long)c, suffix);
}

/* ---- downloading ---------------------------------------------------------- */

enum { CH_TODO = 0, CH_RUN, CH_WAIT, CH_DONE };

typedef struct us_dl_s us_dl_t;

typedef struct {
    us_dl_t *dl;
    CURL *e;
    int64_t c;
    FILE *f;
    char part[4096];
    uint64_t bytes;
    int over;
} us_xfer_t;

struct us_dl_s {
    const us_stream_t *st;
    const char *work, *video;
    CURLM *m;
    int64_t first, planned, end, next; /* chunks [first, end); end unknown = INT64_MAX */
    uint8_t *state;                    /* per chunk - first                          */
    uint8_t *tries;
    double *not_before;
    size_t cap;
    int running;
    us_xfer_t *live[64];               /* the transfers running                      */
    int64_t done, fetched;             /* chunks finished; of those, fetched this run */
    uint64_t bytes_done, bytes_fetched;
    double t0, last_print, rate;
    uint64_t rate_bytes;
    double rate_t;
    int code;
    char why[1024];
};

static int
us_dl_grow(us_dl_t *d, int64_t c)
{
    size_t need = (size_t)(c - d->first) + 1, cap = d->cap ? d->cap : 64;
    if (need <= d->cap) return 0;
    while (cap < need) cap *= 2;
    uint8_t *s = realloc(d->state, cap), *t = realloc(d->tries, cap);
    double *nb = realloc(d->not_before, cap * sizeof(double));
    if (s) d->state = s;
    if (t) d->tries = t;
    if (nb) d->not_before = nb;
    if (!s || !t || !nb) return -1;
    memset(d->state + d->cap, CH_TODO, cap - d->cap);
    memset(d->tries + d->cap, 0, cap - d->cap);
    for (size_t i = d->cap; i < cap; i++) d->not_before[i] = 0;
    d->cap = cap;
    return 0;
}

static int64_t
us_dl_total(const us_dl_t *d)
{
    if (d->end != INT64_MAX) return d->end - d->first;
    return d->planned;
}

static void
us_dl_progress(us_dl_t *d, int force)
{
    double now = us_now(), el;
    int64_t total = us_dl_total(d);
    double est_total, eta = -1;

    if (!force && now - d->last_print < (us_tty ? 0.25 : 1.0)) return;
    d->last_print = now;
    if (now - d->rate_t >= 1.0) {
        double inst = (double)(d->bytes_fetched - d->rate_bytes) / (now - d->rate_t);
        d->rate = d->rate > 0 ? 0.6 * d->rate + 0.4 * inst : inst;
        d->rate_bytes = d->bytes_fetched;
        d->rate_t = now;
    }
    el = now - d->t0;
    if (d->rate <= 0 && el > 0) d->rate = (double)d->bytes_fetched / el;
    est_total = d->done > 0 && total > 0 ? (double)d->bytes_done / (double)d->done * (double)total
                                         : 0;
    if (d->rate > 0 && est_total > (double)d->bytes_done) {
        eta = (est_total - (double)d->bytes_done) / d->rate;
    }
    if (O.json) {
        us_event(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f}", "event", "progress",
                           "video", d->video, "chunks_done", (json_int_t)d->done, "chunks_total",
                           (json_int_t)total, "bytes", (json_int_t)d->bytes_done, "bytes_total",
                           (json_int_t)est_total, "rate", d->rate, "eta", eta));
    } else if (us_tty) {
        char bar[31];
        int fill = total > 0 ? (int)(30 * d->done / total) : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %lld/%lld%s chunks  %.1f/%s%.1f MB  %.2f MB/s  ETA %s",
                d->video, bar, (long long)d->done, (long long)total,
                d->end == INT64_MAX && !d->planned ? "+" : "", (double)d->bytes_done / 1e6,
                d->end == INT64_MAX ? "~" : "", est_total / 1e6, d->rate / 1e6,
                eta >= 0 ? "" : "--");
        if (eta >= 0) fprintf(stderr, "%d:%02d  ", (int)eta / 60, (int)eta % 60);
        fflush(stderr);
    } else if (force || d->done) {
        fprintf(stderr, "%s: %lld/%lld%s chunks, %.1f MB, %.2f MB/s, ETA %s%.0f s\n", d->video,
                (long long)d->done, (long long)total, d->end == INT64_MAX && !d->planned ? "+" : "",
                (double)d->bytes_done / 1e6, d->rate / 1e6, eta >= 0 ? "" : "~",
                eta >= 0 ? eta : 0);
    }
}

static size_t
us_xfer_write(char *p, size_t sz, size_t nm, void *arg)
{
    us_xfer_t *x = arg;
    size_t len = sz * nm;
    if (x->bytes + len > US_MAX_CHUNK_BYTES) {
        x->over = 1;
        return 0;
    }
    if (fwrite(p, 1, len, x->f) != len) return 0;
    x->bytes += len;
    return len;
}

static int
us_dl_start(us_dl_t *d, int64_t c)
{
    us_xfer_t *x = calloc(1, sizeof(*x));
    char url[4096];

    if (x == NULL) return -1;
    if (us_chunk_url(d->st, c, url, sizeof(url)) != 0) {
        free(x);
        d->code = US_EREFUSED;
        us_fmt(d->why, sizeof(d->why), "chunk %lld has no hash or its URL is too long",
                 (long long)c);
        return -1;
    }
    x->dl = d;
    x->c = c;
    us_chunk_path(d->work, c, "part", x->part, sizeof(x->part));
    if ((x->f = fopen(x->part, "wb")) == NULL || (x->e = curl_easy_init()) == NULL) {
        d->code = US_EWRITE;
        us_fmt(d->why, sizeof(d->why), "%s: %s", x->part, strerror(errno));
        if (x->f) fclose(x->f);
        free(x);
        return -1;
    }
    curl_easy_setopt(x->e, CURLOPT_URL, url);
    curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, us_xfer_write);
    curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(x->e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x->e, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(x->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->e, CURLOPT_USERAGENT, O.ua);
    curl_multi_add_handle(d->m, x->e);
    for (int k = 0; k < 64; k++) {
        if (d->live[k] == NULL) {
            d->live[k] = x;
            break;
        }
    }
    d->state[c - d->first] = CH_RUN;
    d->running++;
    return 0;
}

static void
us_xfer_free(us_xfer_t *x, int remove_part)
{
    for (int k = 0; k < 64; k++) {
        if (x->dl->live[k] == x) x->dl->live[k] = NULL;
    }
    curl_multi_remove_handle(x->dl->m, x->e);
    curl_easy_cleanup(x->e);
    if (x->f) fclose(x->f);
    if (remove_part) unlink(x->part);
    free(x);
}

/* A finished transfer: done, retried later, the end found, or fatal. */
static void
us_dl_finish(us_dl_t *d, us_xfer_t *x, CURLcode res)
{
    int64_t c = x->c, i = c - d->first;
    long status = 0;
    char why[512] = "", final[4096];
    int retry = 0;

    d->running--;
    curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
    fclose(x->f);
    x->f = NULL;
    if (res != CURLE_OK) {
        us_fmt(why, sizeof(why), "%s", x->over ? "larger than 512 MiB" : curl_easy_strerror(res));
        retry = !x->over;
    } else if (status == 404 || status == 410) {
        if (d->planned && c < d->first + d->planned) {
            us_fmt(why, sizeof(why), "HTTP %ld (the CDN does not have it)", status);
        } else {
            /* past the plan: the end of the video */
            if (c < d->end) d->end = c;
            d->state[i] = CH_TODO;
            us_xfer_free(x, 1);
            return;
        }
    } else if (status != 200) {
        us_fmt(why, sizeof(why), "HTTP %ld", status);
        retry = status >= 500 || status == 408 || status == 429;
    } else if (us_flv_check(x->part, why, sizeof(why)) != 0) {
        retry = 1; /* an error page, a cut-short body: fetch it again */
    } else {
        us_chunk_path(d->work, c, "flv", final, sizeof(final));
        if (rename(x->part, final) != 0) {
            d->code = US_EWRITE;
            us_fmt(d->why, sizeof(d->why), "%s: %s", final, strerror(errno));
        } else {
            d->state[i] = CH_DONE;
            d->done++;
            d->fetched++;
            d->bytes_done += x->bytes;
        }
        d->bytes_fetched += x->bytes;
        us_xfer_free(x, 0);
        return;
    }
    d->bytes_fetched += x->bytes;
    us_xfer_free(x, 1);
    if (retry && ++d->tries[i] < US_TRIES) {
        double backoff = 0.5 * (1 << (d->tries[i] - 1));
        us_info("chunk %lld: %s; again in %.1f s (try %d of %d)", (long long)c, why, backoff,
                d->tries[i] + 1, US_TRIES);
        d->state[i] = CH_WAIT;
        d->not_before[i] = us_now() + backoff;
        return;
    }
    if (d->code == 0) {
        d->code = US_ENET;
        us_fmt(d->why, sizeof(d->why), "chunk %lld: %s%s", (long long)c, why,
                 retry ? " (after 5 tries)" : "");
    }
}

/* The finished chunks a previous run left: verified, the bad ones removed. */
static void
us_dl_resume(us_dl_t *d)
{
    DIR *dir = opendir(d->work);
    struct dirent *de;
    int64_t kept = 0;

    if (dir == NULL) return;
    while ((de = readdir(dir)) != NULL) {
        char *end, path[4096], why[256];
        long long c = strtoll(de->d_name, &end, 10);
        struct stat sb;
        if (strcmp(end, ".part") == 0) {
            us_fmt(path, sizeof(path), "%s/%s", d->work, de->d_name);
            unlink(path);
            continue;
        }
        if (end == de->d_name || strcmp(end, ".flv") != 0 || c < d->first ||
            c >= d->first + US_MAX_CHUNKS) {
            continue;
        }
        us_fmt(path, sizeof(path), "%s/%s", d->work, de->d_name);
        if (us_flv_check(path, why, sizeof(why)) != 0 || stat(path, &sb) != 0) {
            us_info("%s: %s; fetched again", path, why);
            unlink(path);
            continue;
        }
        if (us_dl_grow(d, c) != 0) break;
        d->state[c - d->first] = CH_DONE;
        d->done++;
        d->bytes_done += (uint64_t)sb.st_size;
        kept++;
    }
    closedir(dir);
    if (kept) us_info("video %s: %lld chunks kept from an earlier run", d->video, (long long)kept);
}

/* Every chunk of the stream into work/: US_OK with *end, or an exit code. */
static int
us_download(const us_stream_t *st, const char *video, const char *work, int64_t *first,
            int64_t *end)
{
    us_dl_t d;
    int rc;

    memset(&d, 0, sizeof(d));
    d.st = st;
    d.video = video;
    d.work = work;
    d.first = d.next = us_stream_first(st);
    d.planned = us_stream_planned(st);
    d.end = INT64_MAX;
    d.t0 = d.rate_t = d.last_print = us_now();
    if ((d.m = curl_multi_init()) == NULL || us_dl_grow(&d, d.first) != 0) {
        curl_multi_cleanup(d.m);
        return us_fail(US_EWRITE, "out of memory");
    }
    curl_multi_setopt(d.m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)O.jobs);
    us_dl_resume(&d);
    if (d.planned) {
        us_info("video %s: %lld chunks from %lld, %d at a time", video, (long long)d.planned,
                (long long)d.first, O.jobs);
    } else {
        us_info("video %s: no length given: chunks from %lld until the CDN says 404, %d at a "
                "time", video, (long long)d.first, O.jobs);
    }
    while (d.code == 0 && !us_stop) {
        double now = us_now(), wake = 1e300;
        int64_t c;
        int still, q, finished;
        CURLMsg *msg;

        /* start what may start: waiting retries first, then the next chunks */
        for (c = d.first; d.running < O.jobs && c < d.next && c < d.end; c++) {
            int64_t i = c - d.first;
            if (d.state[i] == CH_WAIT) {
                if (d.not_before[i] <= now) {
                    if (us_dl_start(&d, c) != 0) break;
                } else if (d.not_before[i] < wake) {
                    wake = d.not_before[i];
                }
            }
        }
        while (d.code == 0 && d.running < O.jobs && d.next < d.end) {
            c = d.next;
            if (c - d.first >= US_MAX_CHUNKS) {
                d.code = US_ENET;
                us_fmt(d.why, sizeof(d.why), "more than %d chunks: the CDN never says 404",
                         US_MAX_CHUNKS);
                break;
            }
            if (us_dl_grow(&d, c) != 0) {
                d.code = US_EWRITE;
                us_fmt(d.why, sizeof(d.why), "out of memory");
                break;
            }
            /* past the plan, one probe at a time: the next only once the
             * previous one turned out to be a chunk */
            if (d.planned && c > d.first + d.planned && d.state[c - 1 - d.first] != CH_DONE) {
                break;
            }
            d.next++;
            if (d.state[c - d.first] == CH_DONE) continue;
            if (us_dl_start(&d, c) != 0) break;
        }
        if (d.code) break;
        /* finished when nothing runs or waits below the end */
        if (d.running == 0) {
            int pending = 0;
            for (c = d.first; c < d.next && c < d.end; c++) {
                if (d.state[c - d.first] != CH_DONE) pending = 1;
            }
            if (!pending && d.next >= d.end) break;
        }
        curl_multi_perform(d.m, &still);
        finished = 0;
        while ((msg = curl_multi_info_read(d.m, &q)) != NULL) {
            us_xfer_t *x = NULL;
            if (msg->msg != CURLMSG_DONE) continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            us_dl_finish(&d, x, msg->data.result);
            finished++;
        }
        us_dl_progress(&d, 0);
        /* a slot came free: fill it now, not after the next wait */
        if (!finished && (d.running || wake < 1e300)) {
            int ms = d.running ? 200 : (int)fmin(200, fmax(1, (wake - us_now()) * 1000));
            curl_multi_poll(d.m, NULL, 0, ms, NULL);
        }
    }
    /* stop what still runs; its part files go */
    for (int k = 0; k < 64; k++) {
        if (d.live[k]) us_xfer_free(d.live[k], 1);
    }
    curl_multi_cleanup(d.m);
    us_dl_progress(&d, 1);
    if (us_tty && !O.json) fputc('\n', stderr);
    if (d.code) {
        rc = us_fail(d.code, "video %s: %s", video, d.why);
    } else if (us_stop) {
        rc = us_fail(US_EINTR, "interrupted; %lld chunks kept in %s, run again to resume",
                     (long long)d.done, work);
    } else if (d.end <= d.first) {
        rc = us_fail(US_ENOTFOUND, "video %s: the CDN has no chunks", video);
    } else {
        double el = us_now() - d.t0;
        us_info("video %s: %lld chunks (%lld fetched, %.1f MB in %.1f s, %.2f MB/s)", video,
                (long long)(d.end - d.first), (long long)d.fetched, (double)d.bytes_fetched / 1e6,
                el, el > 0 ? (double)d.bytes_fetched / 1e6 / el : 0);
        us_event(json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}", "event", "downloaded", "video",
                           video, "chunks", (json_int_t)(d.end - d.first), "fetched",
                           (json_int_t)d.fetched, "bytes", (json_int_t)d.bytes_fetched,
                           "seconds", el));
        *first = d.first;
        *end = d.end;
        rc = US_OK;
    }
    free(d.state);
    free(d.tries);
    free(d.not_before);
    return rc;
}

/* ---- assembling ------------------------------------------------------------ */

typedef struct {
    us_flv_t *j;
    const char *work;
    int64_t c, end;
    FILE *cur, *out;   /* out: --flv writes the joined FLV straight to it */
    uint8_t *pend;     /* joined bytes not yet read by the remuxer        */
    size_t plen, poff, pcap;
    char why[512];
} us_asm_t;

static int
us_asm_out(void *arg, const uint8_t *d, size_t n)
{
    us_asm_t *a = arg;
    if (a->out) return fwrite(d, 1, n, a->out) == n ? 0 : -1;
    if (a->plen + n > a->pcap) {
        size_t cap = (a->plen + n) * 2;
        uint8_t *p = realloc(a->pend, cap);
        if (p == NULL) return -1;
        a->pend = p;
        a->pcap = cap;
    }
    memcpy(a->pend + a->plen, d, n);
    a->plen += n;
    return 0;
}

/* Joined bytes for the remuxer (or the FLV file): reads the next chunk
 * file as they are consumed. */
static int
us_asm_read(void *arg, uint8_t *buf, int size)
{
    us_asm_t *a = arg;
    uint8_t in[65536];
    const char *why = NULL;

    while (a->poff == a->plen) {
        size_t r;
        a->plen = a->poff = 0;
        if (a->why[0] || us_stop) return -1;
        if (a->cur == NULL) {
            char path[4096];
            if (a->c >= a->end) return 0;
            us_chunk_path(a->work, a->c, "flv", path, sizeof(path));
            if ((a->cur = fopen(path, "rb")) == NULL) {
                us_fmt(a->why, sizeof(a->why), "%s: %s", path, strerror(errno));
                return -1;
            }
            us_flv_chunk(a->j);
        }
        r = fread(in, 1, sizeof(in), a->cur);
        if (r > 0) {
            if (us_flv_feed(a->j, in, r, &why) != 0) {
                us_fmt(a->why, sizeof(a->why), "chunk %lld: %s", (long long)a->c, why);
                return -1;
            }
        } else {
            fclose(a->cur);
            a->cur = NULL;
            if (us_flv_chunk_end(a->j, &why) != 0) {
                us_fmt(a->why, sizeof(a->why), "chunk %lld: %s", (long long)a->c, why);
                return -1;
            }
            a->c++;
        }
    }
    if ((size_t)size > a->plen - a->poff) size = (int)(a->plen - a->poff);
    memcpy(buf, a->pend + a->poff, (size_t)size);
    a->poff += (size_t)size;
    return size;
}

static int
us_assemble(const us_video_t *v, const char *work, int64_t first, int64_t end, const char *tmp)
{
    us_asm_t a;
    us_flv_stats_t fs;
    int rc = US_OK;
    double t0 = us_now();

    memset(&a, 0, sizeof(a));
    a.work = work;
    a.c = first;
    a.end = end;
    if ((a.j = us_flv_new(us_asm_out, &a)) == NULL) return us_fail(US_EWRITE, "out of memory");
    if (O.flv) {
        uint8_t buf[65536];
        int r;
        if ((a.out = fopen(tmp, "wb")) == NULL) {
            us_flv_free(a.j);
            return us_fail(US_EWRITE, "%s: %s", tmp, strerror(errno));
        }
        while ((r = us_asm_read(&a, buf, sizeof(buf))) > 0) {
        }
        if (fclose(a.out) != 0 && a.why[0] == '\0') {
            us_fmt(a.why, sizeof(a.why), "%s: %s", tmp, strerror(errno));
        }
        if (r < 0 || a.why[0]) {
            rc = us_fail(us_stop ? US_EINTR : US_EWRITE, "video %s: %s", v->id,
                         a.why[0] ? a.why : "interrupted");
        }
    } else {
        sg_remux_opts_t o = {0};
        sg_remux_result_t res;
        char date[32] = "";
        if (v->created > 0) {
            time_t t = (time_t)v->created;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        o.out_path = tmp;
        o.in_format = "flv";
        o.mp4 = 1;
        o.fragmented = 1; /* constant memory whatever the length */
        o.title = v->title[0] ? v->title : NULL;
        o.date = date[0] ? date : NULL;
        if (sg_remux_run(us_asm_read, &a, &o, &res) != 0 || a.why[0] || us_stop) {
            rc = us_fail(us_stop ? US_EINTR : US_EWRITE, "video %s: %s", v->id,
                         a.why[0] ? a.why : us_stop ? "interrupted" : res.error);
        } else {
            us_info("video %s: %.1f s of video, %d video and %d audio tracks, in %.1f s", v->id,
                    res.duration, res.video, res.audio, us_now() - t0);
        }
    }
    us_flv_stats(a.j, &fs);
    if (rc == US_OK) {
        us_info("video %s: %llu tags joined (%llu repeated metadata and %llu sequence headers "
                "left out, %llu joins re-timed)",
                v->id, (unsigned long long)fs.tags_out, (unsigned long long)fs.dropped_meta,
                (unsigned long long)fs.dropped_seqhdr, (unsigned long long)fs.joins_absorbed);
    }
    if (a.cur) fclose(a.cur);
    free(a.pend);
    us_flv_free(a.j);
    return rc;
}

/* ---- one video ------------------------------------------------------------- */

static int
us_is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int
us_video(const us_video_t *v, const char *referrer, const char *hash, const char *cookie,
         const char *out_dir, const char *out_file)
{
    us_stream_t st;
    char work[4096], final[4096], tmp[4096], name[300], lockp[4200];
    int64_t first = 0, end = 0;
    int rc, lock;

    us_event(json_pack("{s:s, s:s, s:s, s:I}", "event", "video", "video", v->id, "title",
                       v->title, "created", (json_int_t)v->created));
    if ((rc = us_negotiate(v->id, referrer, hash, cookie, &st)) != 0) return rc;
    if (O.print_urls) {
        /* the chunk URLs the length promises, for another downloader */
        int64_t f = us_stream_first(&st), n = us_stream_planned(&st);
        char u[4096];
        if (n == 0) {
            us_stream_free(&st);
            return us_fail(US_EUSAGE, "video %s: the stream gives no length to list", v->id);
        }
        for (int64_t c = f; c < f + n; c++) {
            if (us_chunk_url(&st, c, u, sizeof(u)) == 0) printf("%s\n", u);
        }
        us_stream_free(&st);
        return US_OK;
    }
    if (out_file) {
        us_fmt(final, sizeof(final), "%s", out_file);
    } else {
        char date[16] = "", base[300];
        if (v->created > 0) {
            time_t t = (time_t)v->created;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(date, sizeof(date), " (%Y-%m-%d)", &tm);
        }
        us_safe_name(v->title[0] ? v->title : v->id, name, 200);
        us_fmt(base, sizeof(base), "%s%s [%s].%s", name, date, v->id, O.flv ? "flv" : "mp4");
        us_fmt(final, sizeof(final), "%s%s%s", out_dir,
               out_dir[strlen(out_dir) - 1] == '/' ? "" : "/", base);
    }
    {
        const char *slash = strrchr(final, '/');
        if (slash) {
            us_fmt(tmp, sizeof(tmp), "%.*s/.%s.part", (int)(slash - final), final, slash + 1);
        } else {
            us_fmt(tmp, sizeof(tmp), ".%s.part", final);
        }
    }
    if (O.work) {
        us_fmt(work, sizeof(work), "%s/%s", O.work, v->id);
    } else {
        us_fmt(work, sizeof(work), "%s/.ustream-%s.chunks", out_dir, v->id);
    }
    if (us_mkdirs(work) != 0) {
        us_stream_free(&st);
        return us_fail(US_EWRITE, "%s: %s", work, strerror(errno));
    }
    us_fmt(lockp, sizeof(lockp), "%s/.lock", work);
    if ((lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
        flock(lock, LOCK_EX | LOCK_NB) != 0) {
        if (lock >= 0) close(lock);
        us_stream_free(&st);
        return us_fail(US_EUSAGE, "%s: another download of video %s is using it", work, v->id);
    }
    rc = us_download(&st, v->id, work, &first, &end);
    us_stream_free(&st);
    if (rc == US_OK) {
        rc = us_assemble(v, work, first, end, tmp);
        if (rc == US_OK && rename(tmp, final) != 0) {
            rc = us_fail(US_EWRITE, "%s: %s", final, strerror(errno));
        }
        if (rc != US_OK) unlink(tmp);
    }
    if (rc == US_OK) {
        us_info("video %s: written to %s", v->id, final);
        us_event(json_pack("{s:s, s:s, s:s}", "event", "file", "video", v->id, "path", final));
        if (!O.keep) us_rmtree(work);
    }
    close(lock);
    return rc;
}

/* ---- the channel ---------------------------------------------------------- */

static char *
us_form(CURL *c, const char *const *names, const char *const *vals, int n)
{
    size_t cap = 16, len = 0;
    char *s = malloc(cap);
    if (s == NULL) return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        char *k = curl_easy_escape(c, names[i], 0), *v = curl_easy_escape(c, vals[i], 0);
        size_t need = len + strlen(k ? k : "") + strlen(v ? v : "") + 3;
        if (need > cap) {
            char *p = realloc(s, cap = need * 2);
            if (p == NULL) {
                free(s);
                s = NULL;
            } else {
                s = p;
            }
        }
        if (s) len += (size_t)sprintf(s + len, "%s%s=%s", i ? "&" : "", k ? k : "", v ? v : "");
        curl_free(k);
        curl_free(v);
        if (s == NULL) return NULL;
    }
    return s;
}

static int
us_run(const char *arg, const char *out)
{
    us_target_t t;
    us_buf_t b = {0};
    CURL *c = us_easy();
    char why[1024], cid[128], url[4096], cookie[1024], *hash = NULL, *form = NULL;
    const char *sep = O.site[0] && O.site[strlen(O.site) - 1] == '/' ? "" : "/";
    us_video_t *v = NULL;
    size_t nv = 0, want = 0;
    long status;
    int rc = US_OK, failed = 0, done = 0;
    const char *out_dir = ".", *out_file = NULL;

    if (c == NULL) return us_fail(US_EWRITE, "out of memory");
    if (us_target_parse(arg, O.site, &t, why, sizeof(why)) != 0) {
        rc = us_fail(US_EUSAGE, "%s", why);
        goto out;
    }
    /* the page: the channel id */
    status = us_http(c, t.page, NULL, &b, why, sizeof(why));
    if (status == 0) {
        rc = us_fail(us_stop ? US_EINTR : US_ENET, "%s", why);
        goto out;
    }
    if (status == 404 || status == 410) {
        rc = us_fail(US_ENOTFOUND, "%s: no such %s (HTTP %ld)", t.page,
                     t.video[0] ? "video" : "channel", status);
        goto out;
    }
    if (status != 200) {
        rc = us_fail(US_ENET, "%s: HTTP %ld", t.page, status);
        goto out;
    }
    if (us_page_channel_id(b.p, b.n, cid, sizeof(cid)) != 0) {
        rc = us_fail(US_ENOTFOUND, "%s: the page names no channel (no ustream:channel_id meta)",
                     t.page);
        goto out;
    }
    /* registration: the hash */
    us_fmt(url, sizeof(url), "%s%sajax/viewer-registration/save/%s/channel/%s.json", O.site, sep,
             cid, cid);
    {
        const char *names[5] = {"fields[name]", "fields[email]", "fields[company]",
                                "fields[role]", "fields[phone]"};
        form = us_form(c, names, O.reg, 5);
    }
    status = form ? us_http(c, url, form, &b, why, sizeof(why)) : 0;
    free(form);
    form = NULL;
    if (status == 0) {
        rc = us_fail(us_stop ? US_EINTR : US_ENET, "registration: %s", why);
        goto out;
    }
    if ((hash = us_reg_hash(b.p, b.n, why, sizeof(why))) == NULL) {
        rc = us_fail(status >= 500 ? US_ENET : US_EREFUSED, "channel %s: %s (HTTP %ld)", cid, why,
                     status);
        goto out;
    }
    /* content.json: the videos */
    us_fmt(url, sizeof(url), "%s%sajax/viewing-experience/channel/%s/content.json", O.site, sep,
             cid);
    {
        const char *names[1] = {"hash"}, *vals[1] = {hash};
        form = us_form(c, names, vals, 1);
    }
    status = form ? us_http(c, url, form, &b, why, sizeof(why)) : 0;
    if (status == 0) {
        rc = us_fail(us_stop ? US_EINTR : US_ENET, "content.json: %s", why);
        goto out;
    }
    if (status != 200 || us_content_videos(b.p, b.n, &v, &nv, why, sizeof(why)) != 0) {
        if (status == 200) {
            rc = us_fail(US_EREFUSED, "channel %s: %s", cid, why);
        } else {
            rc = us_fail(status == 404 ? US_ENOTFOUND : status >= 500 ? US_ENET : US_EREFUSED,
                         "channel %s: content.json: HTTP %ld", cid, status);
        }
        goto out;
    }
    if (nv == 0) {
        rc = us_fail(US_ENOTFOUND, "channel %s has no recorded videos", cid);
        goto out;
    }
    {
        const char *sel = O.video ? O.video : t.video[0] ? t.video : NULL;
        for (size_t i = 0; i < nv; i++) {
            if (sel == NULL || strcmp(v[i].id, sel) == 0) want++;
        }
        if (want == 0) {
            rc = us_fail(US_ENOTFOUND, "channel %s has no video %s (it has %zu)", cid, sel, nv);
            goto out;
        }
        /* -o: a folder (existing, or ending in '/'), else the file */
        if (out) {
            if (us_is_dir(out) || out[strlen(out) - 1] == '/') {
                out_dir = out;
            } else if (want > 1) {
                rc = us_fail(US_EUSAGE,
                             "-o %s: channel %s has %zu videos; give a folder or --video ID", out,
                             cid, want);
                goto out;
            } else {
                out_file = out;
                out_dir = ".";
                if (strrchr(out, '/')) {
                    static char dir[4096];
                    us_fmt(dir, sizeof(dir), "%.*s", (int)(strrchr(out, '/') - out), out);
                    out_dir = dir[0] ? dir : "/";
                }
            }
        }
        if (us_mkdirs(out_dir) != 0) {
            rc = us_fail(US_EWRITE, "%s: %s", out_dir, strerror(errno));
            goto out;
        }
        us_cookie_header(c, cookie, sizeof(cookie));
        us_info("channel %s: %zu recorded video%s, %zu to fetch", cid, nv, nv == 1 ? "" : "s",
                want);
        for (size_t i = 0; i < nv && !us_stop; i++) {
            int r;
            if (sel && strcmp(v[i].id, sel) != 0) continue;
            r = us_video(&v[i], t.page, hash, cookie, out_dir, out_file);
            if (r == US_OK) {
                done++;
            } else {
                failed++;
                rc = r;
                if (r == US_EINTR || r == US_EUSAGE) break;
            }
        }
        if (failed && done) us_info("%d of %d videos failed", failed, failed + done);
    }
out:
    free(form);
    free(hash);
    free(v);
    free(b.p);
    curl_easy_cleanup(c);
    return rc;
}

/* --join DIR: the consecutive chunks NNNNNN.flv in DIR (a work folder a
 * run kept) from the smallest, joined and remuxed into out. */
static int
us_join_dir(const char *dir, const char *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t first = INT64_MAX, end;
    us_video_t v;
    char tmp[4200];
    int rc;

    if (d == NULL) return us_fail(US_EUSAGE, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char *e;
        long long c = strtoll(de->d_name, &e, 10);
        if (e != de->d_name && strcmp(e, ".flv") == 0 && c >= 0 && c < first) first = c;
    }
    closedir(d);
    if (first == INT64_MAX) return us_fail(US_ENOTFOUND, "%s: no NNNNNN.flv chunks", dir);
    for (end = first;; end++) {
        char p[4200];
        struct stat sb;
        us_chunk_path(dir, end, "flv", p, sizeof(p));
        if (stat(p, &sb) != 0) break;
    }
    memset(&v, 0, sizeof(v));
    us_fmt(v.id, sizeof(v.id), "%s", "join");
    {
        const char *slash = strrchr(out, '/');
        if (slash) {
            us_fmt(tmp, sizeof(tmp), "%.*s/.%s.part", (int)(slash - out), out, slash + 1);
        } else {
            us_fmt(tmp, sizeof(tmp), ".%s.part", out);
        }
    }
    us_info("joining chunks %lld..%lld of %s", (long long)first, (long long)end - 1, dir);
    rc = us_assemble(&v, dir, first, end, tmp);
    if (rc == US_OK && rename(tmp, out) != 0) rc = us_fail(US_EWRITE, "%s: %s", out, strerror(errno));
    if (rc != US_OK) unlink(tmp);
    return rc;
}

/* ---- options ---------------------------------------------------------------- */

static void
us_usage(FILE *f)
{
    fprintf(f,
            "usage: streamgate ustream URL [-o FILE|DIR] [--video ID] [--jobs N] [--flv]\n"
            "           [-c FILE] [--site URL] [--ums URL] [--cdn URL] [--preset NAME]\n"
            "           [--work DIR] [--keep] [--json] [--print-urls]\n"
            "       streamgate ustream --join DIR -o FILE [--flv]\n"
            "URL: a channel page (…/channel/NAME), a video page (…/recorded/ID) or a video id.\n"
            "Every recorded video of the channel is fetched unless --video picks one; each\n"
            "becomes one MP4 (or FLV with --flv) in DIR (default: the configuration's out_dir,\n"
            "else the current folder). -c reads the \"ustream\" entry of a streamgate\n"
            "configuration's plugins list; the flags override it.\n"
            "--work DIR keeps the chunks there (default: a hidden folder beside the output,\n"
            "removed when done; --keep keeps it); a run that stopped resumes from it.\n"
            "--print-urls lists the chunk URLs instead; --join DIR joins the chunks of a\n"
            "kept work folder into FILE.\n"
            "Exit status: 0 done, 1 writing failed, 2 bad arguments, 3 no such channel, video\n"
            "or recordings, 4 refused by the service, 5 network or CDN failure, 6 interrupted\n"
            "(run again to resume).\n");
}

static char *us_conf_strs[16];
static int us_nconf_strs;

static const char *
us_keep(const char *s)
{
    if (us_nconf_strs < 16 && (us_conf_strs[us_nconf_strs] = strdup(s)) != NULL) {
        return us_conf_strs[us_nconf_strs++];
    }
    return s;
}

/* The ustream entry of a configuration's plugins list. */
static int
us_conf_read(const char *path, const char **out_dir)
{
    config_t cf;
    config_setting_t *pl, *e = NULL;
    const char *s;
    int n, rc = 0;

    config_init(&cf);
    if (config_read_file(&cf, path) != CONFIG_TRUE) {
        fprintf(stderr, "streamgate ustream: %s:%d: %s\n",
                config_error_file(&cf) ? config_error_file(&cf) : path, config_error_line(&cf),
                config_error_text(&cf));
        config_destroy(&cf);
        return -1;
    }
    pl = config_lookup(&cf, "plugins");
    n = pl ? config_setting_length(pl) : 0;
    for (int i = 0; i < n; i++) {
        config_setting_t *g = config_setting_get_elem(pl, (unsigned)i);
        if (config_setting_lookup_string(g, "name", &s) && strcmp(s, "ustream") == 0) e = g;
    }
    if (e == NULL) {
        fprintf(stderr, "streamgate ustream: %s: no { name = \"ustream\"; } entry in plugins\n",
                path);
        config_destroy(&cf);
        return -1;
    }
    {
        static const char *const keys[] = {"site", "ums", "cdn", "preset", "out_dir"};
        const char **dst[] = {&O.site, &O.ums, &O.cdn, &O.preset, out_dir};
        for (size_t i = 0; i < 5; i++) {
            config_setting_t *k = config_setting_get_member(e, keys[i]);
            if (k == NULL) continue;
            if (config_setting_type(k) != CONFIG_TYPE_STRING) {
                fprintf(stderr, "streamgate ustream: %s:%d: %s must be a string\n", path,
                        config_setting_source_line(k), keys[i]);
                rc = -1;
                continue;
            }
            *dst[i] = us_keep(config_setting_get_string(k));
        }
    }
    {
        config_setting_t *k = config_setting_get_member(e, "jobs");
        if (k) {
            int j = config_setting_get_int(k);
            if (config_setting_type(k) != CONFIG_TYPE_INT || j < 1 || j > 64) {
                fprintf(stderr, "streamgate ustream: %s:%d: jobs must be an integer 1..64\n",
                        path, config_setting_source_line(k));
                rc = -1;
            } else {
                O.jobs = j;
            }
        }
    }
    {
        config_setting_t *g = config_setting_get_member(e, "registration");
        for (int i = 0; g && i < 5; i++) {
            if (config_setting_lookup_string(g, us_reg_names[i], &s)) O.reg[i] = us_keep(s);
        }
    }
    config_destroy(&cf);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"video", required_argument, NULL, 'v'},
        {"jobs", required_argument, NULL, 'j'},   {"flv", no_argument, NULL, 'F'},
        {"config", required_argument, NULL, 'c'}, {"site", required_argument, NULL, 'S'},
        {"ums", required_argument, NULL, 'U'},    {"cdn", required_argument, NULL, 'C'},
        {"preset", required_argument, NULL, 'P'}, {"work", required_argument, NULL, 'W'},
        {"keep", no_argument, NULL, 'K'},         {"json", no_argument, NULL, 'J'},
        {"reg", required_argument, NULL, 'r'},    {"die-with-parent", no_argument, NULL, 'D'},
        {"join", required_argument, NULL, 'G'},   {"print-urls", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *conf = NULL, *out = NULL, *conf_out = NULL, *flag[4] = {0}, *join = NULL;
    int ch, jobs = 0, rc;

    O.site = "https://www.ustream.tv";
    O.ums = "wss://r{rand}-1-{video}-recorded-wss-live.ums.ustream.tv/1/ustream";
    O.cdn = "https://vod-cdn.ustream.tv/";
    O.preset = "original";
    O.jobs = 4;
    O.ua = "Mozilla/5.0 (X11; Linux x86_64) streamgate/" SG_VERSION;
    O.reg[0] = "streamgate";
    O.reg[1] = "viewer@example.org";
    O.reg[2] = "-";
    O.reg[3] = "viewer";
    O.reg[4] = "-";
    while ((ch = getopt_long(argc, argv, "o:v:j:c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'v': O.video = optarg; break;
        case 'j':
            jobs = atoi(optarg);
            if (jobs < 1 || jobs > 64) {
                fprintf(stderr, "streamgate ustream: --jobs must be 1..64\n");
                return US_EUSAGE;
            }
            break;
        case 'F': O.flv = 1; break;
        case 'c': conf = optarg; break;
        case 'S': flag[0] = optarg; break;
        case 'U': flag[1] = optarg; break;
        case 'C': flag[2] = optarg; break;
        case 'P': flag[3] = optarg; break;
        case 'W': O.work = optarg; break;
        case 'K': O.keep = 1; break;
        case 'J': O.json = 1; break;
        case 'D': O.die_with_parent = 1; break;
        case 'G': join = optarg; break;
        case 'L': O.print_urls = 1; break;
        case 'r': {
            const char *eq = strchr(optarg, '=');
            int k = -1;
            for (int i = 0; eq && i < 5; i++) {
                if (strlen(us_reg_names[i]) == (size_t)(eq - optarg) &&
                    strncmp(optarg, us_reg_names[i], (size_t)(eq - optarg)) == 0) {
                    k = i;
                }
            }
            if (k < 0) {
                fprintf(stderr, "streamgate ustream: --reg FIELD=VALUE, FIELD one of name, "
                                "email, company, role, phone\n");
                return US_EUSAGE;
            }
            O.reg[k] = eq + 1;
            break;
        }
        case 'h': us_usage(stdout); return 0;
        default: us_usage(stderr); return US_EUSAGE;
        }
    }
    if (join) {
        if (optind != argc || out == NULL) {
            fprintf(stderr, "streamgate ustream: --join DIR needs -o FILE and no URL\n");
            return US_EUSAGE;
        }
        return us_join_dir(join, out);
    }
    if (optind != argc - 1) {
        us_usage(stderr);
        return US_EUSAGE;
    }
    if (O.die_with_parent) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) return US_EINTR;
    }
    if (conf && us_conf_read(conf, &conf_out) != 0) return US_EUSAGE;
    if (flag[0]) O.site = flag[0];
    if (flag[1]) O.ums = flag[1];
    if (flag[2]) O.cdn = flag[2];
    if (flag[3]) O.preset = flag[3];
    if (jobs) O.jobs = jobs;
    if (out == NULL && conf_out && conf_out[0]) {
        /* out_dir is a folder, existing or not */
        static char dir[4096];
        us_fmt(dir, sizeof(dir), "%s%s", conf_out,
               conf_out[strlen(conf_out) - 1] == '/' ? "" : "/");
        out = dir;
    }
    for (int i = 0; i < 3; i++) {
        const char *u = i == 0 ? O.site : O.cdn;
        if (i == 2) u = O.ums;
        if (strncmp(u, i == 2 ? "ws" : "http", i == 2 ? 2 : 4) != 0) {
            fprintf(stderr, "streamgate ustream: %s: %s URL expected\n", u,
                    i == 2 ? "a ws:// or wss://" : "an http:// or https://");
            return US_EUSAGE;
        }
    }
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = us_on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
    }
    us_tty = !O.json && isatty(2);
    lws_set_log_level(LLL_ERR, us_lws_log);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = us_run(argv[optind], out);
    curl_global_cleanup();
    for (int i = 0; i < us_nconf_strs; i++) free(us_conf_strs[i]);
    return rc;
}
