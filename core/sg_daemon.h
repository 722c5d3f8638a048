/* The daemon: everything one running streamgate owns. Loop thread only. */
#ifndef SG_DAEMON_H
#define SG_DAEMON_H

#include <stdint.h>
#include <time.h>

#include "admit/sg_admit.h"
#include "conf/sg_conf.h"

struct event_base;
typedef struct sg_http_server_s sg_http_server_t;
typedef struct sg_catalog_s sg_catalog_t;
typedef struct sg_net_s sg_net_t;
typedef struct sg_script_s sg_script_t;
typedef struct sg_hubs_s sg_hubs_t;

typedef struct sg_daemon_s {
    struct event_base *base;
    sg_conf_file_t conf;
    const char *conf_path;
    const char *state_dir;
    char *plugin_dir;
    char *module_dir;
    const char *recorder_bin;   /* streamgate-record               */
    struct sg_recorder_s *recorder; /* NULL without recordings.dir */
    sg_http_server_t *http;
    sg_catalog_t *catalog;
    sg_net_t *net;
    struct sg_segfetch_s *segfetch; /* the segment cache (host->seg_get) */
    struct sg_proxy_s *proxy;   /* image proxy routes (host->proxy_route) */
    sg_script_t *timers;        /* the rules until d->rules takes them */
    struct sg_timers_s *rules;  /* timer rules' passes (record/sg_timers) */
    sg_plugin_t **plugins;
    int nplugins;
    sg_hubs_t *hubs;
    struct event *tick;
    sg_session_t *sessions;
    int nsessions;
    sg_admit_t admit;
    time_t started;
    uint64_t started_mono_ms;
    char base_url[128];
    int stopping;
} sg_daemon_t;

#endif
