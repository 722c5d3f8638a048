/*
 * Plugin loader and registry. A plugin is loaded with dlopen(RTLD_NOW |
 * RTLD_LOCAL), its one entry symbol is called, the provider table it returns
 * is checked (ABI major equal, minor not newer, name matching) and copied
 * into a zeroed core-owned table, and its config group is validated against
 * its declared keys. Every refusal names the file.
 */
#ifndef SG_PLUGIN_LOADER_H
#define SG_PLUGIN_LOADER_H

#include "sg/plugin.h"
#include "sg_daemon.h"

typedef struct sg_ptimer_list_s sg_ptimer_list_t;

typedef enum {
    SG_PLUGIN_LOADED = 1, /* loaded and validated, not started    */
    SG_PLUGIN_RUNNING,    /* init() succeeded                      */
    SG_PLUGIN_FAILED,     /* init() failed: serves nothing         */
    SG_PLUGIN_STOPPED,    /* fini() ran                            */
} sg_plugin_state_e;

struct sg_plugin_s {
    int index;                /* 1.. (0 is the core, for metrics)      */
    char *name;
    char *file;
    void *dl;
    sg_provider_t prov;       /* min(size, sizeof) of the plugin's     */
    void *state;              /* plugin_size bytes, zeroed             */
    sg_conf_t *conf;
    sg_plugin_state_e lstate;
    char status[160];         /* set_state()                           */
    char *state_dir;
    int64_t mem_bytes, mem_allocs;
    struct sg_timer_s *timers;
    struct sg_fetch_s *fetches;
    struct sg_dgram_s *dgrams;
    void *cookies;            /* the HTTP client's cookie store        */
    char dns[64];             /* net_dns(): "ip[:port]", "" = system    */
    int sessions;
    struct sg_proute_s *routes; /* route(): freed with the plugin      */
    struct sg_segreq_s *segreqs; /* seg_get() requests pending          */
    char metric_prefix[80];
    sg_daemon_t *d;
};

/* Load every plugin of the config's plugins list and validate its group;
 * problems go to errs. Plugins that loaded are put in d->plugins even if
 * others failed (so -t reports everything). Returns the number of errors. */
int sg_plugins_load(sg_daemon_t *d, sg_conf_errors_t *errs);
/* check() of each loaded plugin (config semantics, no I/O). */
int sg_plugins_check(sg_daemon_t *d, sg_conf_errors_t *errs);
/* init() each; a failing plugin is marked failed and logged, the daemon
 * goes on with the others. */
void sg_plugins_start(sg_daemon_t *d);
void sg_plugins_reload(sg_daemon_t *d);
/* fini() each and release what the core holds for it; dlclose. */
void sg_plugins_stop(sg_daemon_t *d);
void sg_plugins_free(sg_daemon_t *d);

sg_plugin_t *sg_plugin_find(sg_daemon_t *d, const char *name);
const char *sg_plugin_state_name(const sg_plugin_t *p);

/* The host table handed to plugins (core/plugin/sg_host.c). */
extern const sg_host_t sg_host_table;
/* The plugin's route() records (the HTTP server keeps the routes, which
 * answer 503 once the plugin stopped; they are never called after this). */
void sg_host_routes_free(sg_plugin_t *p);
/* Release timers and fetches a plugin left behind. */
void sg_host_release(sg_plugin_t *p);
/* A plugin's /api/status part: a JSON object (jansson json_t *). */
sg_status_t *sg_status_new(void);
void *sg_status_take(sg_status_t *st); /* returns the json_t *, frees st */
/* The process's HTTP client, for host->fetch_header(). */
struct sg_net_s;
void sg_host_set_net(struct sg_net_s *net);

#endif
