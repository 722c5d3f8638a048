/* The daemon's own HTTP routes: playlists, guide, status, metrics, reload. */
#include "sg_routes.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "http/sg_http.h"
#include "metrics/sg_metrics.h"
#include "net/sg_net.h"
#include "plugin/sg_plugin.h"
#include "sg_config.h"
#include "stream/sg_session.h"
#include "record/sg_recfiles.h"
#include "record/sg_record.h"
#include "stream/sg_hub.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

/* ---- playlists -------------------------------------------------------------------- */

/* The channel list, or (cloud) the channels with cloud recordings. */
static void
sg_route_playlist(sg_http_req_t *r, sg_daemon_t *d, int cloud)
{
    struct evbuffer *b = evbuffer_new();
    char base[512];

    if (b == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    sg_http_base_url(r, base, sizeof(base));
    if ((cloud ? sg_catalog_cloud_m3u : sg_catalog_m3u)(d->catalog, base, b) != 0) {
        evbuffer_free(b);
        sg_http_add_header(r, "Retry-After", "10");
        sg_http_error(r, 503, "the catalog cannot be read; see the log");
        return;
    }
    sg_http_add_header(r, "Cache-Control", "no-cache");
    sg_http_reply_buffer(r, 200, "audio/x-mpegurl; charset=utf-8", b);
    evbuffer_free(b);
}

static void
sg_route_m3u(sg_http_req_t *r, void *arg)
{
    sg_route_playlist(r, arg, 0);
}

static void
sg_route_cloud_m3u(sg_http_req_t *r, void *arg)
{
    sg_route_playlist(r, arg, 1);
}

/* ---- guide --------------------------------------------------------------------------- */

typedef struct sg_guide_req_s {
    sg_daemon_t *d;
    sg_http_req_t *r;
    sg_guide_wait_t *wait;
    int gz;      /* the .gz URL: always the compressed file       */
    int kind;    /* SG_GUIDE_*                                    */
} sg_guide_req_t;

static void
sg_guide_send(sg_http_req_t *r, sg_guide_t *g, int gz_url)
{
    const char *ae = sg_http_header(&r->head, "Accept-Encoding");
    int gzip = gz_url || (ae && sg_http_has_token(ae, "gzip"));

    sg_http_add_header(r, "Cache-Control", "no-cache");
    if (gz_url) {
        sg_http_reply_fd(r, g->gz_fd, g->gz_len, "application/gzip", g->etag_gz, g->generated);
    } else if (gzip) {
        /* The same document, compressed on the wire. */
        sg_http_add_header(r, "Vary", "Accept-Encoding");
        sg_http_add_header(r, "Content-Encoding", "gzip");
        sg_http_reply_fd(r, g->gz_fd, g->gz_len, "application/xml; charset=utf-8", g->etag_gz,
                         g->generated);
    } else {
        sg_http_add_header(r, "Vary", "Accept-Encoding");
        sg_http_reply_fd(r, g->xml_fd, g->xml_len, "application/xml; charset=utf-8", g->etag,
                         g->generated);
    }
}

static void
sg_guide_ready(sg_guide_t *g, void *arg)
{
    sg_guide_req_t *gr = arg;
    if (gr->r) {
        gr->r->on_close = NULL;
        if (g) {
            sg_guide_send(gr->r, g, gr->gz);
        } else {
            sg_http_add_header(gr->r, "Retry-After", "10");
            sg_http_error(gr->r, 503, "the guide could not be rendered; see the log");
        }
    }
    sg_guide_unref(g);
    free(gr);
}

static void
sg_guide_client_gone(sg_http_req_t *r, void *arg)
{
    sg_guide_req_t *gr = arg;
    sg_catalog_guide_cancel(gr->d->catalog, gr->wait);
    free(gr);
}

static void
sg_route_guide_common(sg_http_req_t *r, sg_daemon_t *d, int kind, int gz)
{
    sg_guide_req_t *gr = calloc(1, sizeof(*gr));
    sg_guide_wait_t *wait;
    char base[512];

    if (gr == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    gr->d = d;
    gr->r = r;
    gr->gz = gz;
    gr->kind = kind;
    sg_http_base_url(r, base, sizeof(base));
    /* NULL: the callback already ran (and freed gr). */
    wait = sg_catalog_guide(d->catalog, kind, base, sg_guide_ready, gr);
    if (wait) {
        /* Rendering: answer when it is done, unless the client leaves. */
        gr->wait = wait;
        r->owner = gr;
        r->on_close = sg_guide_client_gone;
    }
}

static void
sg_route_guide(sg_http_req_t *r, void *arg)
{
    sg_route_guide_common(r, arg, SG_GUIDE_MAIN, 0);
}

static void
sg_route_guide_gz(sg_http_req_t *r, void *arg)
{
    sg_route_guide_common(r, arg, SG_GUIDE_MAIN, 1);
}

static void
sg_route_cloud_guide(sg_http_req_t *r, void *arg)
{
    sg_route_guide_common(r, arg, SG_GUIDE_CLOUD, 0);
}

static void
sg_route_cloud_guide_gz(sg_http_req_t *r, void *arg)
{
    sg_route_guide_common(r, arg, SG_GUIDE_CLOUD, 1);
}

/* ---- status ------------------------------------------------------------------------------ */

static json_t *
sg_caps_json(uint32_t caps)
{
    static const char *const names[] = {"channels", "epg", "live", "catchup", "cloud", "routes", "jobs"};
    json_t *a = json_array();
    for (size_t i = 0; i < SG_ARRAY_SIZE(names); i++) {
        if (caps & (1u << i)) json_array_append_new(a, json_string(names[i]));
    }
    return a;
}

static void
sg_route_status(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    json_t *root = json_object(), *plugins = json_array(), *cat = json_object();
    int live, catchup, udpxy;
    char started[32];
    struct tm tm;

    gmtime_r(&d->started, &tm);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(root, "version", json_string(SG_VERSION));
    json_object_set_new(root, "pid", json_integer(getpid()));
    json_object_set_new(root, "started", json_string(started));
    json_object_set_new(root, "uptime_s",
                        json_integer((json_int_t)((sg_mono_ms() - d->started_mono_ms) / 1000)));
    json_object_set_new(root, "listen", json_string(d->base_url));

    for (int i = 0; i < d->nplugins; i++) {
        sg_plugin_t *p = d->plugins[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(p->name));
        json_object_set_new(o, "version", json_string(p->prov.version ? p->prov.version : ""));
        json_object_set_new(o, "summary", json_string(p->prov.summary ? p->prov.summary : ""));
        json_object_set_new(o, "file", json_string(p->file));
        json_object_set_new(o, "state", json_string(sg_plugin_state_name(p)));
        json_object_set_new(o, "status", json_string(p->status));
        json_object_set_new(o, "caps", sg_caps_json(p->prov.caps));
        json_object_set_new(o, "channels",
                            json_integer((json_int_t)sg_catalog_nchannels_of(d->catalog, p->name)));
        json_object_set_new(o, "sessions", json_integer(p->sessions));
        json_object_set_new(o, "memory_bytes", json_integer(p->mem_bytes));
        if (p->lstate == SG_PLUGIN_RUNNING && p->prov.status) {
            sg_status_t *st = sg_status_new();
            if (st) {
                p->prov.status(p, p->state, st);
                json_object_set_new(o, "details", sg_status_take(st));
            }
        }
        json_array_append_new(plugins, o);
    }
    json_object_set_new(root, "plugins", plugins);

    json_object_set_new(cat, "channels", json_integer((json_int_t)sg_catalog_nchannels(d->catalog)));
    json_object_set_new(cat, "programmes", json_integer(sg_catalog_nprogrammes(d->catalog)));
    json_object_set_new(cat, "version", json_integer((json_int_t)sg_catalog_version(d->catalog)));
    json_object_set_new(cat, "pending_updates", json_integer(sg_catalog_busy(d->catalog)));
    json_object_set_new(root, "catalog", cat);

    sg_sessions_count(d, &live, &catchup, &udpxy);
    json_object_set_new(root, "clients",
                        json_pack("{s:i,s:i,s:i,s:i}", "live", live, "catchup", catchup, "udpxy",
                                  udpxy, "total", live + catchup + udpxy));
    json_object_set_new(root, "connections", json_integer(sg_http_connections(d->http)));
    json_object_set_new(
        root, "admission",
        json_pack("{s:i,s:i,s:i,s:i,s:I,s:f,s:I,s:I}", "max_clients", d->admit.max_clients,
                  "clients", d->admit.clients, "max_sources", d->admit.max_sources, "sources",
                  d->admit.sources, "max_kbps", (json_int_t)d->admit.max_kbps, "kbps",
                  d->admit.kbps, "rejected", (json_int_t)d->admit.rejected, "preempted",
                  (json_int_t)d->admit.preempted));
    json_object_set_new(root, "sources", sg_hubs_status_json(d->hubs));
    json_object_set_new(root, "http_client", json_pack("{s:b,s:i}", "loaded", sg_net_loaded(d->net),
                                                       "transfers", sg_net_running(d->net)));
    sg_http_reply_json(r, 200, root);
}

/* ---- metrics --------------------------------------------------------------------------------- */

static void
sg_route_metrics(sg_http_req_t *r, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    sg_metrics_render(b);
    sg_http_add_header(r, "Cache-Control", "no-cache");
    sg_http_reply_buffer(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

static long long
sg_count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    long long n = 0;
    if (dir == NULL) return -1;
    while ((e = readdir(dir))) n += e->d_name[0] != '.';
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

static long long
sg_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, rss = 0;
    if (f == NULL) return -1;
    if (fscanf(f, "%lld %lld", &size, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* Computed gauges and counters: one collector each, run before every
 * exposition. */

static void
sg_collect_rss(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, (double)sg_rss_bytes());
}

static void
sg_collect_fds(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, (double)sg_count_fds());
}

static void
sg_collect_max_fds(sg_metric_t *m, void *arg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) sg_metric_set(m, NULL, (double)rl.rlim_cur);
}

static void
sg_collect_start(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, (double)((sg_daemon_t *)arg)->started);
}

static void
sg_collect_cpu(sg_metric_t *m, void *arg)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    sg_metric_clear(m);
    sg_metric_add(m, NULL,
                  (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static void
sg_collect_uptime(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, (double)(sg_mono_ms() - ((sg_daemon_t *)arg)->started_mono_ms) / 1000.0);
}

static void
sg_collect_build(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, (const char *const[]){SG_VERSION, NULL}, 1);
}

static void
sg_collect_channels(sg_metric_t *m, void *arg)
{
    sg_daemon_t *d = arg;
    sg_metric_clear(m);
    for (int i = 0; i < d->nplugins; i++) {
        sg_metric_set(m, (const char *const[]){d->plugins[i]->name, NULL},
                      (double)sg_catalog_nchannels_of(d->catalog, d->plugins[i]->name));
    }
}

static void
sg_collect_programmes(sg_metric_t *m, void *arg)
{
    sg_metric_set(m, NULL, (double)sg_catalog_nprogrammes(((sg_daemon_t *)arg)->catalog));
}

static void
sg_collect_plugins(sg_metric_t *m, void *arg)
{
    sg_daemon_t *d = arg;
    int n = 0;
    for (int i = 0; i < d->nplugins; i++) n += d->plugins[i]->lstate == SG_PLUGIN_RUNNING;
    sg_metric_set(m, NULL, n);
}

static void
sg_collect_plugin_info(sg_metric_t *m, void *arg)
{
    sg_daemon_t *d = arg;
    sg_metric_clear(m);
    for (int i = 0; i < d->nplugins; i++) {
        sg_plugin_t *p = d->plugins[i];
        sg_metric_set(m,
                      (const char *const[]){p->name, p->prov.version ? p->prov.version : "",
                                            sg_plugin_state_name(p), NULL},
                      1);
    }
}

static void
sg_collect_plugin_memory(sg_metric_t *m, void *arg)
{
    sg_daemon_t *d = arg;
    for (int i = 0; i < d->nplugins; i++) {
        sg_metric_set(m, (const char *const[]){d->plugins[i]->name, NULL},
                      (double)d->plugins[i]->mem_bytes);
    }
}

static void
sg_collect_logs(sg_metric_t *m, void *arg)
{
    sg_metric_clear(m);
    for (int l = 0; l < SG_LOG_LEVELS; l++) {
        sg_metric_add(m, (const char *const[]){sg_log_level_name(l), NULL}, (double)sg_log_count(l));
    }
}

static void
sg_metrics_setup(sg_daemon_t *d)
{
    static const char *const plugin[] = {"plugin", NULL};
    static const char *const pinfo[] = {"plugin", "version", "state", NULL};
    static const char *const level[] = {"level", NULL};
    static const char *const version[] = {"version", NULL};
    static const struct {
        sg_metric_type_e type;
        const char *name, *help;
        const char *const *labels;
        sg_metric_collect_pt collect;
    } table[] = {
        {SG_METRIC_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes", NULL,
         sg_collect_rss},
        {SG_METRIC_GAUGE, "process_open_fds", "Open file descriptors", NULL, sg_collect_fds},
        {SG_METRIC_GAUGE, "process_max_fds", "Maximum number of open file descriptors", NULL,
         sg_collect_max_fds},
        {SG_METRIC_GAUGE, "process_start_time_seconds",
         "Start time of the process since the Unix epoch in seconds", NULL, sg_collect_start},
        {SG_METRIC_COUNTER, "process_cpu_seconds_total",
         "Total user and system CPU time spent in seconds", NULL, sg_collect_cpu},
        {SG_METRIC_GAUGE, "streamgate_uptime_seconds", "Seconds since streamgate started", NULL,
         sg_collect_uptime},
        {SG_METRIC_GAUGE, "streamgate_build_info", "streamgate version (always 1)", version,
         sg_collect_build},
        {SG_METRIC_GAUGE, "streamgate_catalog_channels", "Channels in the catalog, by plugin",
         plugin, sg_collect_channels},
        {SG_METRIC_GAUGE, "streamgate_catalog_programmes", "EPG programmes in the catalog", NULL,
         sg_collect_programmes},
        {SG_METRIC_GAUGE, "streamgate_plugins_loaded", "Plugins loaded and running", NULL,
         sg_collect_plugins},
        {SG_METRIC_GAUGE, "streamgate_plugin_info",
         "Loaded plugins with version and state (always 1)", pinfo, sg_collect_plugin_info},
        {SG_METRIC_GAUGE, "streamgate_plugin_memory_bytes",
         "Bytes allocated by each plugin through the host", plugin, sg_collect_plugin_memory},
        {SG_METRIC_COUNTER, "streamgate_log_messages_total", "Log lines by level", level,
         sg_collect_logs},
    };
    for (size_t i = 0; i < SG_ARRAY_SIZE(table); i++) {
        sg_metric_t *m = sg_metric_new(&(sg_metric_spec_t){.type = table[i].type,
                                                           .name = table[i].name,
                                                           .help = table[i].help,
                                                           .labels = table[i].labels},
                                       "", 0);
        sg_metric_set_collect(m, table[i].collect, d);
    }
}

/* ---- reload, index -------------------------------------------------------------------------- */

static void
sg_route_reload(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    char why[96];
    snprintf(why, sizeof(why), "POST /api/reload from %s", r->client);
    sg_daemon_reload(d, why);
    sg_http_reply_json(r, 200, json_pack("{s:s}", "status", "reloaded"));
}

/* udpxy's /status page: plain HTML, sources and clients. */
static void
sg_route_status_page(sg_http_req_t *r, void *arg)
{
    sg_daemon_t *d = arg;
    struct evbuffer *b = evbuffer_new();
    int live, catchup, udpxy;

    if (b == NULL) {
        sg_http_error(r, 500, "out of memory");
        return;
    }
    sg_sessions_count(d, &live, &catchup, &udpxy);
    evbuffer_add_printf(b,
                        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                        "<meta http-equiv=\"refresh\" content=\"5\">"
                        "<title>streamgate status</title></head>\n<body>\n"
                        "<h1>streamgate %s</h1>\n<p>pid %d, up %llds, listening on %s</p>\n"
                        "<p id=\"summary\">%d clients (%d live, %d catchup, %d udpxy), %d sources, "
                        "%.0f kbit/s in</p>\n",
                        SG_VERSION, (int)getpid(), (long long)(time(NULL) - d->started),
                        d->base_url, live + catchup + udpxy, live, catchup, udpxy,
                        sg_hubs_count(d->hubs), sg_hubs_kbps(d->hubs));
    sg_hubs_status_html(d->hubs, b);
    evbuffer_add_printf(b, "</body></html>\n");
    sg_http_reply_buffer(r, 200, "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

static void
sg_route_api_unknown(sg_http_req_t *r, void *arg)
{
    sg_http_error(r, 404, "no such API endpoint: %s", r->path);
}

static void
sg_route_index(sg_http_req_t *r, void *arg)
{
    char base[512], u[6][600];
    sg_http_base_url(r, base, sizeof(base));
    snprintf(u[0], sizeof(u[0]), "%s/channels.m3u", base);
    snprintf(u[1], sizeof(u[1]), "%s/guide.xml", base);
    snprintf(u[2], sizeof(u[2]), "%s/guide.xml.gz", base);
    snprintf(u[3], sizeof(u[3]), "%s/api/status", base);
    snprintf(u[4], sizeof(u[4]), "%s/metrics", base);
    snprintf(u[5], sizeof(u[5]), "%s/{channel}/mpegts", base);
    sg_http_reply_json(r, 200,
                       json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "streamgate", SG_VERSION,
                                 "urls", "playlist", u[0], "guide", u[1], "guide_gz", u[2],
                                 "status", u[3], "metrics", u[4], "live", u[5]));
}

int
sg_routes_setup(sg_daemon_t *d)
{
    static const char *const m3u[] = {"/channels.m3u", "/canales.m3u", "/MovistarTV.m3u",
                                       "/playlist.m3u"};
    static const char *const cloud_m3u[] = {"/cloud.m3u", "/nube.m3u", "/MovistarTVCloud.m3u"};
    sg_http_server_t *h = d->http;
    int rc = 0;

    for (size_t i = 0; i < SG_ARRAY_SIZE(m3u); i++) {
        rc |= sg_http_route(h, m3u[i], SG_ROUTE_GET, "m3u", sg_route_m3u, d);
    }
    rc |= sg_http_route(h, "/guide.xml", SG_ROUTE_GET, "guide", sg_route_guide, d);
    rc |= sg_http_route(h, "/guia.xml", SG_ROUTE_GET, "guide", sg_route_guide, d);
    rc |= sg_http_route(h, "/guide.xml.gz", SG_ROUTE_GET, "guide", sg_route_guide_gz, d);
    rc |= sg_http_route(h, "/guia.xml.gz", SG_ROUTE_GET, "guide", sg_route_guide_gz, d);
    for (size_t i = 0; i < SG_ARRAY_SIZE(cloud_m3u); i++) {
        rc |= sg_http_route(h, cloud_m3u[i], SG_ROUTE_GET, "cloud_m3u", sg_route_cloud_m3u, d);
    }
    rc |= sg_http_route(h, "/cloud.xml", SG_ROUTE_GET, "cloud_guide", sg_route_cloud_guide, d);
    rc |= sg_http_route(h, "/nube.xml", SG_ROUTE_GET, "cloud_guide", sg_route_cloud_guide, d);
    rc |= sg_http_route(h, "/cloud.xml.gz", SG_ROUTE_GET, "cloud_guide", sg_route_cloud_guide_gz, d);
    rc |= sg_http_route(h, "/nube.xml.gz", SG_ROUTE_GET, "cloud_guide", sg_route_cloud_guide_gz, d);
    /* /cloud/{channel}/{time}: a cloud recording, in the channel grammar */
    rc |= sg_http_route(h, "/cloud", SG_ROUTE_GET | SG_ROUTE_PREFIX, "stream_cloud",
                        sg_cloud_handler, d);
    rc |= sg_recfiles_routes(d);
    rc |= sg_recorder_routes(d); /* before "/api": it has /api/recordings */
    rc |= sg_http_route(h, "/api/status", SG_ROUTE_GET, "status", sg_route_status, d);
    rc |= sg_http_route(h, "/api/reload", SG_ROUTE_POST | SG_ROUTE_ADMIN, "reload", sg_route_reload, d);
    /* Everything else under /api belongs to the API, never to a channel. */
    rc |= sg_http_route(h, "/api", SG_ROUTE_GET | SG_ROUTE_POST | SG_ROUTE_DELETE | SG_ROUTE_PREFIX,
                        "api", sg_route_api_unknown, d);
    rc |= sg_http_route(h, "/metrics", SG_ROUTE_GET, "metrics", sg_route_metrics, d);
    rc |= sg_http_route(h, "/status", SG_ROUTE_GET | SG_ROUTE_PREFIX, "status_page",
                        sg_route_status_page, d);
    if (sg_conf_bool(sg_conf_group(d->conf.root, "server", 0), "udpxy_routes")) {
        rc |= sg_http_route(h, "/udp", SG_ROUTE_GET | SG_ROUTE_PREFIX, "udpxy", sg_udpxy_handler, d);
        rc |= sg_http_route(h, "/rtp", SG_ROUTE_GET | SG_ROUTE_PREFIX, "udpxy", sg_udpxy_handler, d);
    }
    rc |= sg_http_route(h, "/", SG_ROUTE_GET, "index", sg_route_index, d);
    sg_http_fallback(h, sg_channel_handler, d);
    sg_metrics_setup(d);
    return rc ? -1 : 0;
}
