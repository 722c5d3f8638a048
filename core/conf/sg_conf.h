/*
 * Configuration: libconfig parsing plus validation against declarative key
 * tables (sg_conf_key_t). The core's own keys and every plugin's keys go
 * through the same validator, so unknown keys, wrong types, bad values and
 * missing files are all reported the same way: "file:line: path: message".
 */
#ifndef SG_CONF_H
#define SG_CONF_H

#include <libconfig.h>

#include "sg/plugin.h"

typedef struct sg_conf_errors_s {
    char **msg;
    int n, cap;
} sg_conf_errors_t;

void sg_conf_errors_add(sg_conf_errors_t *e, const char *file, int line, const char *fmt, ...)
    SG_PRINTF(4, 5);
void sg_conf_errors_free(sg_conf_errors_t *e);

struct sg_conf_s {
    config_setting_t *s;        /* the group; NULL when absent (defaults) */
    const sg_conf_key_t *keys;  /* keys allowed here                      */
    const sg_conf_key_t *extra; /* more allowed keys (plugin entry: name) */
    char *path;                 /* "server", "plugins.movistar", ...      */
    const char *file;           /* for messages about absent groups       */
    int line;
    sg_conf_errors_t *errs;     /* where conf_error() reports, may be NULL */
    int nkeys, nextra;
    struct sg_conf_kids_s {     /* per key:                                */
        struct sg_conf_s **items; /* GROUP/GROUP_LIST: validated elements  */
        int n;
        char **defs;            /* absent STRING_LIST: default elements    */
        int ndefs;
    } *kids;                    /* indexed like keys, then extra          */
};

/*
 * Validate group s (may be NULL: all defaults) against keys (+ extra).
 * Every problem is added to errs; the returned tree is usable either way
 * (invalid values read as their defaults). parent gives the line for
 * messages about a missing group. GROUP_LIST keys whose sub is NULL are
 * only checked to be lists of groups (the plugin loader validates them).
 */
sg_conf_t *sg_conf_validate(config_setting_t *s, const sg_conf_key_t *keys,
                            const sg_conf_key_t *extra, const char *path,
                            config_setting_t *parent, sg_conf_errors_t *errs);
void sg_conf_free(sg_conf_t *c);

/* Accessors (the same as the host table's). */
int sg_conf_is_set(const sg_conf_t *c, const char *key);
int sg_conf_bool(const sg_conf_t *c, const char *key);
int64_t sg_conf_int(const sg_conf_t *c, const char *key);
double sg_conf_float(const sg_conf_t *c, const char *key);
const char *sg_conf_string(const sg_conf_t *c, const char *key);
int sg_conf_count(const sg_conf_t *c, const char *key);
const char *sg_conf_list_string(const sg_conf_t *c, const char *key, int i);
const sg_conf_t *sg_conf_group(const sg_conf_t *c, const char *key, int i);
void sg_conf_error(const sg_conf_t *c, const char *key, const char *fmt, ...) SG_PRINTF(3, 4);
void sg_conf_verror(const sg_conf_t *c, const char *key, const char *fmt, va_list ap);
config_setting_t *sg_conf_setting(const sg_conf_t *c, const char *key);

/* The whole file. */
typedef struct sg_conf_file_s {
    config_t cfg;
    int parsed;
    char *path;
    sg_conf_t *root;
    sg_conf_errors_t errs;
} sg_conf_file_t;

/* Parse and validate the core keys. Returns 0 when there were no errors;
 * errors (parse or validation) are in f->errs either way. */
int sg_conf_file_load(sg_conf_file_t *f, const char *path);
void sg_conf_file_free(sg_conf_file_t *f);

/* The core's key tables. */
extern const sg_conf_key_t sg_conf_root_keys[];
extern const sg_conf_key_t sg_conf_plugin_entry_keys[];

#endif
