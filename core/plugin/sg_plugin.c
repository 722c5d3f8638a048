#include "sg_plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics/sg_metrics.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

/* The first hook: a table shorter than this cannot be a provider table. */
#define SG_PROVIDER_MIN_SIZE offsetof(sg_provider_t, check)

const char *
sg_plugin_state_name(const sg_plugin_t *p)
{
    switch (p->lstate) {
    case SG_PLUGIN_LOADED: return "loaded";
    case SG_PLUGIN_RUNNING: return "running";
    case SG_PLUGIN_FAILED: return "failed";
    case SG_PLUGIN_STOPPED: return "stopped";
    }
    return "?";
}

sg_plugin_t *
sg_plugin_find(sg_daemon_t *d, const char *name)
{
    for (int i = 0; i < d->nplugins; i++) {
        if (strcmp(d->plugins[i]->name, name) == 0) return d->plugins[i];
    }
    return NULL;
}

static void
sg_plugin_free(sg_plugin_t *p)
{
    if (p == NULL) return;
    sg_host_routes_free(p);
    sg_conf_free(p->conf);
    free(p->state);
    free(p->state_dir);
    free(p->name);
    free(p->file);
    if (p->dl) dlclose(p->dl);
    free(p);
}

/* "4gtv" -> "sg_4gtv_plugin_entry"; anything not [A-Za-z0-9_] becomes '_'. */
static void
sg_plugin_symbol(const char *name, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "sg_");
    for (const char *p = name; *p && o + 1 < n; p++) {
        char c = *p;
        buf[o++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                       ? c
                       : '_';
    }
    buf[o] = '\0';
    snprintf(buf + o, n - o, "_plugin_entry");
}

static const char *
sg_setting_file(config_setting_t *s, const char *fallback)
{
    const char *f = config_setting_source_file(s);
    return f ? f : fallback;
}

/* Find the entry symbol, call it and check the table it returns. NULL with
 * why set (a phrase that follows the file name) when it is refused. */
static const sg_provider_t *
sg_plugin_resolve(void *dl, const char *name, char *why, size_t n)
{
    char sym[160];
    sg_plugin_entry_pt entry;
    const sg_provider_t *prov;

    sg_plugin_symbol(name, sym, sizeof(sym));
    *(void **)&entry = dlsym(dl, sym);
    if (entry == NULL) {
        snprintf(why, n, "has no symbol %s: not a streamgate plugin (or built for another name)", sym);
        return NULL;
    }
    prov = entry();
    if (prov == NULL) {
        snprintf(why, n, "returned no provider table");
    } else if (prov->abi_major != SG_ABI_MAJOR) {
        snprintf(why, n, "was built for plugin ABI %u.%u; this streamgate speaks %d.%d "
                 "(rebuild the plugin)", prov->abi_major, prov->abi_minor, SG_ABI_MAJOR, SG_ABI_MINOR);
    } else if (prov->abi_minor > SG_ABI_MINOR) {
        snprintf(why, n, "needs plugin ABI %u.%u, newer than this streamgate's %d.%d "
                 "(upgrade streamgate)", prov->abi_major, prov->abi_minor, SG_ABI_MAJOR, SG_ABI_MINOR);
    } else if (prov->size < SG_PROVIDER_MIN_SIZE) {
        snprintf(why, n, "has a truncated provider table (%u bytes)", prov->size);
    } else if (prov->name == NULL || strcmp(prov->name, name) != 0) {
        snprintf(why, n, "calls itself \"%s\"", prov->name ? prov->name : "(null)");
    } else {
        return prov;
    }
    return NULL;
}

/* Load one plugin list element. NULL when refused (reason in errs). */
static sg_plugin_t *
sg_plugin_load_one(sg_daemon_t *d, config_setting_t *elem, int i, sg_conf_errors_t *errs)
{
    const char *file = sg_setting_file(elem, d->conf.path);
    int line = (int)config_setting_source_line(elem);
    config_setting_t *nm = config_setting_get_member(elem, "name");
    config_setting_t *pt = config_setting_get_member(elem, "path");
    const char *name, *path_conf;
    char path[PATH_MAX], where[96], why[256];
    const sg_provider_t *prov;
    sg_plugin_t *p;
    void *dl;

    if (nm == NULL || config_setting_type(nm) != CONFIG_TYPE_STRING) {
        sg_conf_errors_add(errs, file, line, "plugins[%d].name: required string is missing", i);
        return NULL;
    }
    name = config_setting_get_string(nm);
    snprintf(where, sizeof(where), "plugins.%s", name);
    if (!sg_is_safe_id(name) || strchr(name, '.')) {
        sg_conf_errors_add(errs, file, (int)config_setting_source_line(nm),
                           "%s: a plugin name is letters, digits, '_' and '-'", where);
        return NULL;
    }
    for (int j = 0; j < d->nplugins; j++) {
        if (strcmp(d->plugins[j]->name, name) == 0) {
            sg_conf_errors_add(errs, file, line, "%s: this plugin is listed twice", where);
            return NULL;
        }
    }
    path_conf = pt && config_setting_type(pt) == CONFIG_TYPE_STRING ? config_setting_get_string(pt)
                                                                     : "";
    if (path_conf[0]) {
        snprintf(path, sizeof(path), "%s", path_conf);
    } else {
        snprintf(path, sizeof(path), "%s/%s.so", d->plugin_dir, name);
    }
    if (access(path, F_OK) != 0) {
        sg_conf_errors_add(errs, file, line, "%s: plugin file %s: %s", where, path,
                           strerror(errno));
        return NULL;
    }
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        sg_conf_errors_add(errs, file, line, "%s: cannot load %s: %s", where, path, dlerror());
        return NULL;
    }
    prov = sg_plugin_resolve(dl, name, why, sizeof(why));
    if (prov == NULL) {
        sg_conf_errors_add(errs, file, line, "%s: %s %s", where, path, why);
        dlclose(dl);
        return NULL;
    }

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        dlclose(dl);
        return NULL;
    }
    /* Hooks the plugin was built without stay NULL. */
    memcpy(&p->prov, prov, prov->size < sizeof(p->prov) ? prov->size : sizeof(p->prov));
    p->dl = dl;
    p->d = d;
    p->name = strdup(name);
    p->file = strdup(path);
    p->lstate = SG_PLUGIN_LOADED;
    snprintf(p->status, sizeof(p->status), "loaded");
    {
        /* streamgate_<name>_ with [^A-Za-z0-9_] turned into '_' */
        size_t o = (size_t)snprintf(p->metric_prefix, sizeof(p->metric_prefix), "streamgate_");
        for (const char *c = name; *c && o + 2 < sizeof(p->metric_prefix); c++) {
            p->metric_prefix[o++] = (*c == '-') ? '_' : *c;
        }
        p->metric_prefix[o++] = '_';
        p->metric_prefix[o] = '\0';
    }
    p->conf = sg_conf_validate(elem, p->prov.conf_keys, sg_conf_plugin_entry_keys, where,
                               config_setting_parent(elem), errs);
    p->state = calloc(1, p->prov.plugin_size ? p->prov.plugin_size : 1);
    if (p->name == NULL || p->file == NULL || p->conf == NULL || p->state == NULL) {
        sg_plugin_free(p);
        return NULL;
    }
    return p;
}

int
sg_plugins_load(sg_daemon_t *d, sg_conf_errors_t *errs)
{
    config_setting_t *list = sg_conf_setting(d->conf.root, "plugins");
    int before = errs->n;

    if (list == NULL || !config_setting_is_list(list)) return 0;
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *elem = config_setting_get_elem(list, (unsigned)i);
        sg_plugin_t *p, **np;
        if (config_setting_type(elem) != CONFIG_TYPE_GROUP) continue; /* reported by conf */
        p = sg_plugin_load_one(d, elem, i, errs);
        if (p == NULL) continue;
        np = realloc(d->plugins, (size_t)(d->nplugins + 1) * sizeof(*np));
        if (np == NULL) {
            sg_plugin_free(p);
            continue;
        }
        d->plugins = np;
        p->index = d->nplugins + 1;
        d->plugins[d->nplugins++] = p;
    }
    return errs->n - before;
}

int
sg_plugins_check(sg_daemon_t *d, sg_conf_errors_t *errs)
{
    int before = errs->n;
    for (int i = 0; i < d->nplugins; i++) {
        sg_plugin_t *p = d->plugins[i];
        if (p->prov.check == NULL) continue;
        p->conf->errs = errs;
        p->prov.check(p, p->state, &sg_host_table);
        p->conf->errs = NULL;
    }
    return errs->n - before;
}

void
sg_plugins_start(sg_daemon_t *d)
{
    for (int i = 0; i < d->nplugins; i++) {
        sg_plugin_t *p = d->plugins[i];
        int rc = p->prov.init ? p->prov.init(p, p->state, &sg_host_table) : SG_OK;
        if (rc == SG_OK) {
            p->lstate = SG_PLUGIN_RUNNING;
            if (strcmp(p->status, "loaded") == 0) snprintf(p->status, sizeof(p->status), "running");
            sg_log(SG_LOG_NOTICE, "plugin", "%s %s started (%s): %s", p->name,
                   p->prov.version ? p->prov.version : "", p->file, p->status);
        } else {
            p->lstate = SG_PLUGIN_FAILED;
            sg_log(SG_LOG_ERR, "plugin", "%s failed to start; it serves nothing until the next "
                   "restart (%s)", p->name, p->status);
            /* Whatever it registered before failing goes now. */
            sg_host_release(p);
        }
    }
}

void
sg_plugins_reload(sg_daemon_t *d)
{
    for (int i = 0; i < d->nplugins; i++) {
        sg_plugin_t *p = d->plugins[i];
        if (p->lstate == SG_PLUGIN_RUNNING && p->prov.reload) p->prov.reload(p, p->state);
    }
}

void
sg_plugins_stop(sg_daemon_t *d)
{
    for (int i = d->nplugins - 1; i >= 0; i--) {
        sg_plugin_t *p = d->plugins[i];
        if (p->lstate == SG_PLUGIN_RUNNING && p->prov.fini) p->prov.fini(p, p->state);
        if (p->lstate == SG_PLUGIN_RUNNING || p->lstate == SG_PLUGIN_FAILED) {
            p->lstate = SG_PLUGIN_STOPPED;
        }
        sg_host_release(p);
        if (p->mem_bytes != 0) {
            sg_log(SG_LOG_WARN, "plugin", "%s leaked %lld bytes in %lld allocations", p->name,
                   (long long)p->mem_bytes, (long long)p->mem_allocs);
        }
    }
}

void
sg_plugins_free(sg_daemon_t *d)
{
    for (int i = 0; i < d->nplugins; i++) {
        sg_metrics_free_owner(d->plugins[i]->index);
        sg_plugin_free(d->plugins[i]);
    }
    free(d->plugins);
    d->plugins = NULL;
    d->nplugins = 0;
}
