/*
 * streamgate: turns TV providers into M3U + XMLTV + Flussonic catchup +
 * MPEG-TS/HLS over HTTP. This file: arguments, configuration check, start-up
 * order, signals, shutdown.
 */
#include <errno.h>
#include <locale.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/sg_catalog.h"
#include "conf/sg_conf.h"
#include "http/sg_http.h"
#include "metrics/sg_metrics.h"
#include "net/sg_net.h"
#include "net/sg_proxy.h"
#include "net/sg_segfetch.h"
#include "plugin/sg_plugin.h"
#include "record/sg_record.h"
#include "record/sg_timers_import.h"
#include "record/sg_timers.h"
#include "sg_config.h"
#include "sg_daemon.h"
#include "sg_routes.h"
#include "sg_script.h"
#include "stream/sg_hub.h"
#include "stream/sg_session.h"
#include "util/sg_cidr.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

static void
sg_usage(FILE *f)
{
    fprintf(f,
            "usage: streamgate [-c FILE] [-t] [--ready-file PATH]\n"
            "       streamgate timers-import TIMERS.CONF   (movistar-u7d's timers as Lua rules)\n"
            "       streamgate ustream URL [-o FILE|DIR] [--video ID] ...  (a ustream channel's\n"
            "                        recorded videos as MP4; streamgate ustream --help)\n"
            "\n"
            "  -c, --config FILE     configuration file (default /etc/streamgate/streamgate.conf)\n"
            "  -t, --test            check the configuration and the plugins, print every\n"
            "                        problem as file:line, exit 0 (good) or 1\n"
            "      --ready-file PATH write the base URL (http://ip:port) to PATH once\n"
            "                        streamgate accepts connections\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this text\n"
            "\n"
            "Signals: TERM/INT stop cleanly; HUP reopens the log file and reloads timer\n"
            "scripts and plugin files.\n");
}

/* Is the running executable inside the build tree it was built in? */
static int
sg_running_from_build_tree(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    size_t rl = strlen(SG_BUILD_ROOT);
    if (n <= 0) return 0;
    exe[n] = '\0';
    return strncmp(exe, SG_BUILD_ROOT, rl) == 0 && exe[rl] == '/';
}

/* Semantic checks of the core's own keys (beyond types). */
static void
sg_core_check(sg_conf_t *root, sg_conf_errors_t *errs)
{
    const sg_conf_t *srv = sg_conf_group(root, "server", 0);
    const char *pub = sg_conf_string(srv, "public_url");
    const char *tz = sg_conf_string(srv, "timezone");

    for (int i = 0; i < sg_conf_count(srv, "listen"); i++) {
        const char *a = sg_conf_list_string(srv, "listen", i);
        struct sockaddr_storage ss;
        unsigned len;
        if (a == NULL || sg_parse_hostport(a, &ss, &len) != 0) {
            sg_conf_error(srv, "listen", "\"%s\" is not \"ip:port\", \"[ipv6]:port\" or \":port\"",
                          a ? a : "");
        }
    }
    if (sg_conf_count(srv, "listen") == 0) sg_conf_error(srv, "listen", "no address to listen on");
    for (int i = 0; i < sg_conf_count(srv, "allow"); i++) {
        sg_cidr_t c;
        const char *a = sg_conf_list_string(srv, "allow", i);
        if (a == NULL || sg_cidr_parse(a, &c) != 0) {
            sg_conf_error(srv, "allow", "\"%s\" is not a network (\"10.0.0.0/8\", \"::1\")",
                          a ? a : "");
        }
    }
    if (pub && pub[0] && !sg_has_prefix(pub, "http://") && !sg_has_prefix(pub, "https://")) {
        sg_conf_error(srv, "public_url", "\"%s\" must start with http:// or https://", pub);
    }
    if (tz && tz[0]) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
        if (strstr(tz, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            sg_conf_error(srv, "timezone", "unknown time zone \"%s\" (see /usr/share/zoneinfo)", tz);
        }
    }
}

/* Everything -t checks, all reported into d->conf.errs; the daemon runs
 * only when this finds nothing. */
static int
sg_check_all(sg_daemon_t *d)
{
    sg_conf_errors_t *errs = &d->conf.errs;

    sg_conf_file_load(&d->conf, d->conf_path);
    if (!d->conf.parsed || d->conf.root == NULL) return -1;
    sg_core_check(d->conf.root, errs);
    {
        const char *pd = sg_conf_string(d->conf.root, "plugin_dir");
        int build = sg_running_from_build_tree();
        d->plugin_dir = strdup(pd && pd[0] ? pd : build ? SG_BUILD_PLUGIN_DIR : SG_PLUGIN_DIR);
        d->module_dir = strdup(build ? SG_BUILD_MODULE_DIR : SG_MODULE_DIR);
        d->recorder_bin = build ? SG_BUILD_RECORDER : SG_RECORDER;
    }
    sg_plugins_load(d, errs);
    sg_plugins_check(d, errs);
    sg_timers_load(d, errs);
    return errs->n ? -1 : 0;
}

/* Messages made with a NULL file print without the "?:0: " prefix. */
static void
sg_print_errors(const sg_conf_errors_t *errs)
{
    for (int i = 0; i < errs->n; i++) {
        const char *m = errs->msg[i];
        if (strncmp(m, "?:0: ", 5) == 0) m += 5;
        fprintf(stderr, "streamgate: %s\n", m);
    }
}

/* ---- running -------------------------------------------------------------------------- */

void
sg_daemon_reload(sg_daemon_t *d, const char *why)
{
    /* The log first, so everything the reload says lands in the new file. */
    if (sg_log_reopen() != 0) {
        sg_log(SG_LOG_ERR, "core", "cannot reopen the log file: %s", strerror(errno));
    }
    sg_log(SG_LOG_NOTICE, "core", "%s: log reopened, reloading timer rules and plugins", why);
    sg_timers_load(d, NULL);
    sg_plugins_reload(d);
}

static void
sg_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    sg_daemon_t *d = arg;
    if (sig == SIGHUP) {
        sg_daemon_reload(d, "SIGHUP");
        return;
    }
    if (!d->stopping) {
        sg_log(SG_LOG_NOTICE, "core", "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        d->stopping = 1;
        event_base_loopexit(d->base, NULL);
    }
}

static int
sg_write_ready_file(const char *path, const char *url)
{
    char tmp[PATH_MAX];
    FILE *f;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) return -1;
    fprintf(f, "%s\n", url);
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

static int
sg_http_setup(sg_daemon_t *d)
{
    const sg_conf_t *srv = sg_conf_group(d->conf.root, "server", 0);
    static sg_cidr_t allow[256];
    sg_http_conf_t hc = {0};
    int n = 0;

    for (int i = 0; i < sg_conf_count(srv, "allow") && n < 256; i++) {
        if (sg_cidr_parse(sg_conf_list_string(srv, "allow", i), &allow[n]) == 0) n++;
    }
    hc.public_url = sg_conf_string(srv, "public_url");
    hc.admin_token = sg_conf_string(srv, "admin_token");
    hc.access_log = sg_conf_bool(srv, "access_log");
    hc.request_timeout = (int)sg_conf_int(srv, "request_timeout");
    hc.keepalive_timeout = (int)sg_conf_int(srv, "keepalive_timeout");
    hc.max_connections = (int)sg_conf_int(srv, "max_connections");
    hc.allow = allow;
    hc.nallow = n;
    d->http = sg_http_server_new(d->base, &hc);
    if (d->http == NULL) return -1;
    sg_http_metrics_init();
    if (sg_routes_setup(d) != 0) return -1;
    for (int i = 0; i < sg_conf_count(srv, "listen"); i++) {
        char bound[128];
        if (sg_http_listen(d->http, sg_conf_list_string(srv, "listen", i), bound, sizeof(bound)) !=
            0) {
            return -1;
        }
        sg_log(SG_LOG_NOTICE, "http", "listening on %s", bound);
        if (d->base_url[0] == '\0') snprintf(d->base_url, sizeof(d->base_url), "%s", bound);
    }
    return 0;
}

static void
sg_live_conf(sg_daemon_t *d)
{
    const sg_conf_t *live = sg_conf_group(d->conf.root, "live", 0);
    sg_hub_conf_t hc = {0};
    hc.ring_ms = (int)(sg_conf_float(live, "ring_seconds") * 1000.0);
    hc.linger_ms = (int)sg_conf_int(live, "linger_ms");
    hc.source_timeout_ms = (int)sg_conf_int(live, "source_timeout") * 1000;
    hc.rejoin_s = (int)sg_conf_int(live, "rejoin_interval");
    hc.start_behind_ms = (int)sg_conf_int(live, "start_behind_live_ms");
    hc.slow_policy = strcmp(sg_conf_string(live, "slow_client"), "resync") == 0 ? SG_SLOW_RESYNC
                                                                                : SG_SLOW_DROP;
    hc.batch_bytes = (size_t)sg_conf_int(live, "batch_kbytes") * 1024;
    hc.batch_ms = (int)sg_conf_int(live, "batch_ms");
    hc.rcvbuf = (int)sg_conf_int(live, "rcvbuf_kbytes") * 1024;
    snprintf(hc.iface, sizeof(hc.iface), "%s", sg_conf_string(live, "iface"));
    sg_hubs_set_conf(d->hubs, &hc);
}

/* Once a second: admission's interface counter. */
static void
sg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_daemon_t *d = arg;
    (void)fd;
    (void)what;
    sg_admit_tick(&d->admit);
}

static int
sg_run(sg_daemon_t *d, const char *ready_file)
{
    const sg_conf_t *root = d->conf.root;
    const sg_conf_t *srv = sg_conf_group(root, "server", 0);
    const sg_conf_t *rec = sg_conf_group(root, "recordings", 0);
    const char *tz = sg_conf_string(srv, "timezone");
    const char *recdir = sg_conf_string(rec, "dir");
    struct event *sigs[3] = {0};
    int sigl[3] = {SIGTERM, SIGINT, SIGHUP};
    int rc = 1;

    d->state_dir = sg_conf_string(srv, "state_dir");
    if (sg_mkdir_p(d->state_dir, 0755) != 0) {
        sg_log(SG_LOG_EMERG, "core", "cannot create state_dir %s: %s", d->state_dir, strerror(errno));
        return 1;
    }
    if (recdir && recdir[0] && sg_mkdir_p(recdir, 0755) != 0) {
        sg_log(SG_LOG_EMERG, "core", "cannot create recordings.dir %s: %s", recdir, strerror(errno));
        return 1;
    }
    if (tz && tz[0]) {
        setenv("TZ", tz, 1);
    }
    tzset();
    signal(SIGPIPE, SIG_IGN);

    evthread_use_pthreads();
    d->base = event_base_new();
    if (d->base == NULL) {
        sg_log(SG_LOG_EMERG, "core", "cannot create the event loop");
        return 1;
    }
    xmlInitParser();
    d->started = time(NULL);
    d->started_mono_ms = sg_mono_ms();
    {
        const sg_conf_t *adm = sg_conf_group(root, "admission", 0);
        d->admit.max_clients = (int)sg_conf_int(adm, "max_clients");
        d->admit.max_sources = (int)sg_conf_int(adm, "max_sources");
        d->admit.max_kbps = sg_conf_int(adm, "max_kbps");
        snprintf(d->admit.iface, sizeof(d->admit.iface), "%s", sg_conf_string(adm, "iface"));
    }
    sg_admit_metrics_init(&d->admit);
    d->hubs = sg_hubs_new(d->base, &d->admit);
    if (d->hubs == NULL) goto out;
    sg_live_conf(d);
    sg_hubs_metrics_init(d->hubs);
    d->tick = event_new(d->base, -1, EV_PERSIST, sg_tick_cb, d);
    if (d->tick) event_add(d->tick, &(struct timeval){1, 0});
    sg_sessions_init(d);

    d->catalog = sg_catalog_open(d->base, d->state_dir,
                                 (int)sg_conf_int(sg_conf_group(root, "catalog", 0), "retention_days"));
    if (d->catalog == NULL) goto out;
    d->net = sg_net_new(d->base, d->module_dir);
    if (d->net == NULL) goto out;
    sg_host_set_net(d->net);
    if (sg_http_setup(d) != 0) goto out;
    d->proxy = sg_proxy_new(d->http, d->net);
    if (d->proxy == NULL) goto out;
    {
        const sg_conf_t *cache = sg_conf_group(root, "cache", 0);
        d->segfetch = sg_segfetch_new(
            d->net, d->base, (size_t)sg_conf_int(cache, "memory_mb") << 20,
            strcmp(sg_conf_string(cache, "backend"), "redis") == 0 ? sg_conf_string(cache, "redis") : "");
    }
    if (d->segfetch == NULL) goto out;
    sg_segfetch_metrics_init(d->segfetch);
    sg_catalog_set_reserved(d->catalog, sg_http_reserved_words(d->http));
    d->recorder = sg_recorder_new(d);
    if (sg_timers_new(d) == NULL) goto out;

    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d->base, sigl[i], sg_signal_cb, d);
        if (sigs[i]) event_add(sigs[i], NULL);
    }
    sg_plugins_start(d);
    if (ready_file && sg_write_ready_file(ready_file, d->base_url) != 0) {
        sg_log(SG_LOG_EMERG, "core", "cannot write the ready file %s: %s", ready_file,
               strerror(errno));
        goto out;
    }
    sg_log(SG_LOG_NOTICE, "core", "streamgate " SG_VERSION " ready at %s (%d plugins)", d->base_url,
           d->nplugins);

    event_base_dispatch(d->base);
    rc = 0;

out:
    /* Order: no new clients; end every session (plugins' close hooks run
     * while plugins are alive); stop plugins; flush the catalog. */
    if (d->http) sg_http_server_shutdown(d->http);
    sg_timers_free(d->rules);
    sg_recorder_free(d->recorder);
    d->recorder = NULL;
    sg_sessions_close_all(d);
    sg_hubs_free(d->hubs);
    d->hubs = NULL;
    if (d->tick) event_free(d->tick);
    d->tick = NULL;
    sg_plugins_stop(d); /* cancels the plugins' segment requests */
    sg_segfetch_free(d->segfetch);
    d->segfetch = NULL;
    sg_catalog_close(d->catalog);
    d->catalog = NULL;
    sg_proxy_free(d->proxy);
    d->proxy = NULL;
    sg_net_free(d->net);
    d->net = NULL;
    sg_plugins_free(d);
    sg_http_server_free(d->http);
    d->http = NULL;
    for (int i = 0; i < 3; i++) {
        if (sigs[i]) event_free(sigs[i]);
    }
    if (ready_file) unlink(ready_file);
    if (rc == 0) sg_log(SG_LOG_NOTICE, "core", "stopped");
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"ready-file", required_argument, NULL, 'R'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    sg_daemon_t d;
    const char *ready_file = NULL;
    int test = 0, c, rc;

    memset(&d, 0, sizeof(d));
    /* Characters are UTF-8 (the timer rules' sg.re brackets and case
     * folding); numbers and messages stay in the C locale. */
    setlocale(LC_CTYPE, "C.UTF-8");
    /* subcommands */
    if (argc >= 2 && strcmp(argv[1], "timers-import") == 0) {
        return sg_timers_import_main(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "ustream") == 0) {
        /* the downloader is a program of its own (FFmpeg, libwebsockets) */
        const char *bin = sg_running_from_build_tree() ? SG_BUILD_USTREAM : SG_USTREAM;
        argv[1] = (char *)bin;
        execv(bin, argv + 1);
        fprintf(stderr, "streamgate: cannot run %s: %s\n", bin, strerror(errno));
        return 2;
    }
    d.conf_path = "/etc/streamgate/streamgate.conf";
    while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': d.conf_path = optarg; break;
        case 't': test = 1; break;
        case 'R': ready_file = optarg; break;
        case 'V': printf("streamgate %s (plugin ABI %d.%d)\n", SG_VERSION, SG_ABI_MAJOR, SG_ABI_MINOR); return 0;
        case 'h': sg_usage(stdout); return 0;
        default: sg_usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "streamgate: unexpected argument \"%s\"\n", argv[optind]);
        sg_usage(stderr);
        return 1;
    }

    rc = sg_check_all(&d);
    if (test) {
        sg_print_errors(&d.conf.errs);
        if (rc == 0) {
            printf("streamgate: %s: configuration OK, %d plugin%s: ", d.conf_path, d.nplugins,
                   d.nplugins == 1 ? "" : "s");
            for (int i = 0; i < d.nplugins; i++) {
                printf("%s%s %s", i ? ", " : "", d.plugins[i]->name,
                       d.plugins[i]->prov.version ? d.plugins[i]->prov.version : "");
            }
            printf("\n");
        } else {
            fprintf(stderr, "streamgate: %s: %d problem%s found\n", d.conf_path, d.conf.errs.n,
                    d.conf.errs.n == 1 ? "" : "s");
        }
        goto done;
    }
    if (rc != 0) {
        sg_print_errors(&d.conf.errs);
        fprintf(stderr, "streamgate: not started: fix the configuration (streamgate -t -c %s)\n",
                d.conf_path);
        goto done;
    }
    {
        const sg_conf_t *srv = sg_conf_group(d.conf.root, "server", 0);
        sg_log_set_level(sg_log_level_parse(sg_conf_string(srv, "log_level")));
        if (sg_log_open(sg_conf_string(srv, "log_file")) != 0) {
            fprintf(stderr, "streamgate: cannot open log_file %s: %s\n",
                    sg_conf_string(srv, "log_file"), strerror(errno));
            rc = 1;
            goto done;
        }
    }
    rc = sg_run(&d, ready_file);

done:
    sg_plugins_free(&d);
    sg_script_free(d.timers);
    sg_metrics_free_all();
    if (d.base) event_base_free(d.base);
    sg_conf_file_free(&d.conf);
    free(d.plugin_dir);
    free(d.module_dir);
    sg_log_close();
    xmlCleanupParser();
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}
