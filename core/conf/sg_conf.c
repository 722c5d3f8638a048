#include "sg_conf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sg_log.h"
#include "util/sg_util.h"

/* ---- error list ---------------------------------------------------------- */

void
sg_conf_errors_add(sg_conf_errors_t *e, const char *file, int line, const char *fmt, ...)
{
    char body[1024], *msg;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (e == NULL) {
        sg_log(SG_LOG_ERR, "config", "%s:%d: %s", file ? file : "?", line, body);
        return;
    }
    if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        char **m = realloc(e->msg, (size_t)cap * sizeof(*m));
        if (m == NULL) return;
        e->msg = m;
        e->cap = cap;
    }
    if (asprintf(&msg, "%s:%d: %s", file ? file : "?", line, body) < 0) return;
    e->msg[e->n++] = msg;
}

void
sg_conf_errors_free(sg_conf_errors_t *e)
{
    for (int i = 0; i < e->n; i++) free(e->msg[i]);
    free(e->msg);
    memset(e, 0, sizeof(*e));
}

/* ---- helpers ------------------------------------------------------------- */

static const char *
sg_conf_type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group { }";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array [ ]";
    case CONFIG_TYPE_LIST: return "a list ( )";
    default: return "nothing";
    }
}

static const char *
sg_conf_want_name(sg_conf_type_e t)
{
    switch (t) {
    case SG_CONF_BOOL: return "a boolean (true/false)";
    case SG_CONF_INT: return "an integer";
    case SG_CONF_FLOAT: return "a number";
    case SG_CONF_STRING: return "a string";
    case SG_CONF_STRING_LIST: return "a list of strings [ \"...\" ]";
    case SG_CONF_GROUP: return "a group { }";
    case SG_CONF_GROUP_LIST: return "a list of groups ( { }, { } )";
    }
    return "?";
}

static const char *
sg_setting_file(const config_setting_t *s, const char *fallback)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : fallback;
}

static int
sg_setting_line(const config_setting_t *s, int fallback)
{
    int l = s ? (int)config_setting_source_line(s) : 0;
    return l > 0 ? l : fallback;
}

static const sg_conf_key_t *
sg_conf_find_key(const sg_conf_t *c, const char *name, int *index)
{
    for (int i = 0; i < c->nkeys; i++) {
        if (strcmp(c->keys[i].name, name) == 0) {
            if (index) *index = i;
            return &c->keys[i];
        }
    }
    for (int i = 0; i < c->nextra; i++) {
        if (strcmp(c->extra[i].name, name) == 0) {
            if (index) *index = c->nkeys + i;
            return &c->extra[i];
        }
    }
    return NULL;
}

static int
sg_conf_count_keys(const sg_conf_key_t *k)
{
    int n = 0;
    while (k && k[n].name) n++;
    return n;
}

static void
sg_conf_report(const sg_conf_t *c, const config_setting_t *at, const char *key, const char *fmt,
               ...) SG_PRINTF(4, 5);

static void
sg_conf_report(const sg_conf_t *c, const config_setting_t *at, const char *key, const char *fmt,
               ...)
{
    char body[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (at == NULL) at = c->s;
    sg_conf_errors_add(c->errs, sg_setting_file(at, c->file), sg_setting_line(at, c->line),
                       "%s%s%s: %s", c->path, key && c->path[0] ? "." : "", key ? key : "", body);
}

/* Does the directory exist, or could it be created (its nearest existing
 * ancestor is a writable directory)? Reports the reason in why. */
static int
sg_conf_dir_ok(const char *path, char *why, size_t whylen)
{
    char buf[PATH_MAX];
    struct stat st;

    if (sg_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
        snprintf(why, whylen, "path too long");
        return 0;
    }
    if (stat(buf, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, whylen, "\"%s\" exists and is not a directory", path);
            return 0;
        }
        if (access(buf, W_OK | X_OK) != 0) {
            snprintf(why, whylen, "directory \"%s\" is not writable: %s", path, strerror(errno));
            return 0;
        }
        return 1;
    }
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (slash == NULL) {
            strcpy(buf, ".");
        } else if (slash == buf) {
            buf[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(buf, &st) == 0) {
            if (S_ISDIR(st.st_mode) && access(buf, W_OK | X_OK) == 0) return 1;
            snprintf(why, whylen, "cannot create directory \"%s\": \"%s\" is not a writable directory",
                     path, buf);
            return 0;
        }
        if (strcmp(buf, ".") == 0 || strcmp(buf, "/") == 0) break;
    }
    snprintf(why, whylen, "cannot create directory \"%s\"", path);
    return 0;
}

static void
sg_conf_check_string(sg_conf_t *c, const sg_conf_key_t *k, config_setting_t *m)
{
    const char *v = config_setting_get_string(m);
    char why[PATH_MAX + 128];
    struct stat st;

    if (k->choices) {
        int ok = 0;
        char list[256] = "";
        for (const char *const *ch = k->choices; *ch; ch++) {
            if (strcmp(*ch, v) == 0) ok = 1;
            if (strlen(list) + strlen(*ch) + 4 < sizeof(list)) {
                if (list[0]) strcat(list, ", ");
                strcat(list, *ch);
            }
        }
        if (!ok) sg_conf_report(c, m, k->name, "\"%s\" is not one of: %s", v, list);
    }
    if ((k->flags & SG_CONF_FILE) && v[0] != '\0') {
        if (stat(v, &st) != 0) {
            sg_conf_report(c, m, k->name, "cannot read \"%s\": %s", v, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            sg_conf_report(c, m, k->name, "\"%s\" is not a regular file", v);
        } else if (access(v, R_OK) != 0) {
            sg_conf_report(c, m, k->name, "cannot read \"%s\": %s", v, strerror(errno));
        }
    }
    if ((k->flags & SG_CONF_DIR) && v[0] != '\0' && !sg_conf_dir_ok(v, why, sizeof(why))) {
        sg_conf_report(c, m, k->name, "%s", why);
    }
}

static void
sg_conf_check_number(sg_conf_t *c, const sg_conf_key_t *k, config_setting_t *m, double v)
{
    if (k->min < k->max && (v < k->min || v > k->max)) {
        if (k->type == SG_CONF_INT) {
            sg_conf_report(c, m, k->name, "%.0f is out of range (%.0f..%.0f)", v, k->min, k->max);
        } else {
            sg_conf_report(c, m, k->name, "%g is out of range (%g..%g)", v, k->min, k->max);
        }
    }
}

static int
sg_conf_type_ok(sg_conf_type_e want, int have)
{
    switch (want) {
    case SG_CONF_BOOL: return have == CONFIG_TYPE_BOOL;
    case SG_CONF_INT: return have == CONFIG_TYPE_INT || have == CONFIG_TYPE_INT64;
    case SG_CONF_FLOAT:
        return have == CONFIG_TYPE_FLOAT || have == CONFIG_TYPE_INT || have == CONFIG_TYPE_INT64;
    case SG_CONF_STRING: return have == CONFIG_TYPE_STRING;
    case SG_CONF_STRING_LIST: return have == CONFIG_TYPE_ARRAY || have == CONFIG_TYPE_LIST;
    case SG_CONF_GROUP: return have == CONFIG_TYPE_GROUP;
    case SG_CONF_GROUP_LIST: return have == CONFIG_TYPE_LIST;
    }
    return 0;
}

/* "path.key", or "key" at the top level. */
static void
sg_conf_join(char *buf, size_t n, const char *path, const char *key)
{
    snprintf(buf, n, "%s%s%s", path, path[0] ? "." : "", key);
}

static void
sg_conf_kids_push(struct sg_conf_kids_s *kids, sg_conf_t *child)
{
    sg_conf_t **items = realloc(kids->items, (size_t)(kids->n + 1) * sizeof(*items));
    if (items == NULL) {
        sg_conf_free(child);
        return;
    }
    items[kids->n++] = child;
    kids->items = items;
}

static void
sg_conf_validate_member(sg_conf_t *c, const sg_conf_key_t *k, int ki, config_setting_t *m)
{
    int t = config_setting_type(m);
    char sub[512];

    if (!sg_conf_type_ok(k->type, t)) {
        sg_conf_report(c, m, k->name, "expected %s, got %s", sg_conf_want_name(k->type),
                       sg_conf_type_name(t));
        return;
    }
    switch (k->type) {
    case SG_CONF_INT:
        sg_conf_check_number(c, k, m, (double)config_setting_get_int64(m));
        break;
    case SG_CONF_FLOAT:
        sg_conf_check_number(c, k, m,
                             t == CONFIG_TYPE_FLOAT ? config_setting_get_float(m)
                                                    : (double)config_setting_get_int64(m));
        break;
    case SG_CONF_STRING:
        sg_conf_check_string(c, k, m);
        break;
    case SG_CONF_STRING_LIST:
        for (int i = 0; i < config_setting_length(m); i++) {
            config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                sg_conf_report(c, e, k->name, "element %d: expected a string, got %s", i + 1,
                               sg_conf_type_name(config_setting_type(e)));
            }
        }
        break;
    case SG_CONF_GROUP:
        sg_conf_join(sub, sizeof(sub), c->path, k->name);
        sg_conf_kids_push(&c->kids[ki], sg_conf_validate(m, k->sub, NULL, sub, c->s, c->errs));
        break;
    case SG_CONF_GROUP_LIST:
        for (int i = 0; i < config_setting_length(m); i++) {
            config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
                sg_conf_report(c, e, k->name, "element %d: expected a group { }, got %s", i + 1,
                               sg_conf_type_name(config_setting_type(e)));
                continue;
            }
            if (k->sub == NULL) continue; /* validated by its owner */
            {
                char base[480];
                sg_conf_join(base, sizeof(base), c->path, k->name);
                snprintf(sub, sizeof(sub), "%s[%d]", base, i);
            }
            sg_conf_kids_push(&c->kids[ki], sg_conf_validate(e, k->sub, NULL, sub, m, c->errs));
        }
        break;
    case SG_CONF_BOOL:
        break;
    }
}

sg_conf_t *
sg_conf_validate(config_setting_t *s, const sg_conf_key_t *keys, const sg_conf_key_t *extra,
                 const char *path, config_setting_t *parent, sg_conf_errors_t *errs)
{
    sg_conf_t *c = calloc(1, sizeof(*c));
    char sub[512];

    if (c == NULL) return NULL;
    c->s = s;
    c->keys = keys;
    c->extra = extra;
    c->nkeys = sg_conf_count_keys(keys);
    c->nextra = sg_conf_count_keys(extra);
    c->path = strdup(path);
    c->errs = errs;
    c->file = sg_setting_file(s ? s : parent, NULL);
    c->line = sg_setting_line(s ? s : parent, 0);
    c->kids = calloc((size_t)(c->nkeys + c->nextra) + 1, sizeof(*c->kids));
    if (c->path == NULL || c->kids == NULL) {
        sg_conf_free(c);
        return NULL;
    }

    if (s != NULL) {
        for (int i = 0; i < config_setting_length(s); i++) {
            config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
            const char *name = config_setting_name(m);
            int ki;
            const sg_conf_key_t *k = name ? sg_conf_find_key(c, name, &ki) : NULL;
            if (k == NULL) {
                const char *best = NULL;
                int bestd = 3;
                for (int j = 0; j < c->nkeys + c->nextra; j++) {
                    const char *cand = j < c->nkeys ? keys[j].name : extra[j - c->nkeys].name;
                    int d = sg_edit_distance(name ? name : "", cand);
                    if (d < bestd) {
                        bestd = d;
                        best = cand;
                    }
                }
                if (best) {
                    sg_conf_report(c, m, name, "unknown key (did you mean \"%s\"?)", best);
                } else {
                    sg_conf_report(c, m, name, "unknown key");
                }
                continue;
            }
            sg_conf_validate_member(c, k, ki, m);
        }
    }

    for (int i = 0; i < c->nkeys + c->nextra; i++) {
        const sg_conf_key_t *k = i < c->nkeys ? &keys[i] : &extra[i - c->nkeys];
        config_setting_t *m = s ? config_setting_get_member(s, k->name) : NULL;
        /* A wrong-typed value was reported above; it reads as absent. */
        int usable = m != NULL && sg_conf_type_ok(k->type, config_setting_type(m));
        if (m == NULL && (k->flags & SG_CONF_REQUIRED)) {
            sg_conf_report(c, NULL, k->name, "required key is missing");
        }
        /* Absent groups still get a node, so accessors return defaults. */
        if (!usable && k->type == SG_CONF_STRING_LIST && k->def && k->def[0]) {
            const char *p = k->def;
            for (;;) {
                const char *comma = strchr(p, ',');
                size_t l = comma ? (size_t)(comma - p) : strlen(p);
                char **d = realloc(c->kids[i].defs, (size_t)(c->kids[i].ndefs + 1) * sizeof(*d));
                if (d == NULL) break;
                c->kids[i].defs = d;
                d[c->kids[i].ndefs] = strndup(p, l);
                if (d[c->kids[i].ndefs] == NULL) break;
                c->kids[i].ndefs++;
                if (comma == NULL) break;
                p = comma + 1;
            }
        }
        if (!usable && k->type == SG_CONF_GROUP) {
            sg_conf_join(sub, sizeof(sub), c->path, k->name);
            sg_conf_kids_push(&c->kids[i], sg_conf_validate(NULL, k->sub, NULL, sub, s ? s : parent,
                                                            errs));
        }
    }
    return c;
}

void
sg_conf_free(sg_conf_t *c)
{
    if (c == NULL) return;
    if (c->kids) {
        for (int i = 0; i < c->nkeys + c->nextra; i++) {
            for (int j = 0; j < c->kids[i].n; j++) sg_conf_free(c->kids[i].items[j]);
            free(c->kids[i].items);
            for (int j = 0; j < c->kids[i].ndefs; j++) free(c->kids[i].defs[j]);
            free(c->kids[i].defs);
        }
        free(c->kids);
    }
    free(c->path);
    free(c);
}

/* ---- accessors ----------------------------------------------------------- */

static const sg_conf_key_t *
sg_conf_key_or_alert(const sg_conf_t *c, const char *key, int *index)
{
    const sg_conf_key_t *k = c ? sg_conf_find_key(c, key, index) : NULL;
    if (k == NULL) {
        /* A programming error in the caller, not a user error. */
        sg_log(SG_LOG_ALERT, "config", "%s: key \"%s\" read but never declared",
               c ? c->path : "?", key);
    }
    return k;
}

config_setting_t *
sg_conf_setting(const sg_conf_t *c, const char *key)
{
    if (c == NULL || c->s == NULL) return NULL;
    return config_setting_get_member(c->s, key);
}

/* The member if present and of the declared type, else NULL. */
static config_setting_t *
sg_conf_typed(const sg_conf_t *c, const char *key, const sg_conf_key_t **kp, int *ki)
{
    const sg_conf_key_t *k = sg_conf_key_or_alert(c, key, ki);
    config_setting_t *m;

    *kp = k;
    if (k == NULL) return NULL;
    m = sg_conf_setting(c, key);
    if (m == NULL || !sg_conf_type_ok(k->type, config_setting_type(m))) return NULL;
    return m;
}

int
sg_conf_is_set(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    return sg_conf_typed(c, key, &k, NULL) != NULL;
}

int
sg_conf_bool(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    config_setting_t *m = sg_conf_typed(c, key, &k, NULL);
    if (m) return config_setting_get_bool(m);
    return k && k->def && strcmp(k->def, "true") == 0;
}

int64_t
sg_conf_int(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    config_setting_t *m = sg_conf_typed(c, key, &k, NULL);
    if (m) return (int64_t)config_setting_get_int64(m);
    return k && k->def ? strtoll(k->def, NULL, 0) : 0;
}

double
sg_conf_float(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    config_setting_t *m = sg_conf_typed(c, key, &k, NULL);
    if (m) {
        if (config_setting_type(m) == CONFIG_TYPE_FLOAT) return config_setting_get_float(m);
        return (double)config_setting_get_int64(m);
    }
    return k && k->def ? strtod(k->def, NULL) : 0.0;
}

const char *
sg_conf_string(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    config_setting_t *m = sg_conf_typed(c, key, &k, NULL);
    if (m) return config_setting_get_string(m);
    return k ? k->def : NULL;
}

int
sg_conf_count(const sg_conf_t *c, const char *key)
{
    const sg_conf_key_t *k;
    int ki = -1;
    config_setting_t *m = sg_conf_typed(c, key, &k, &ki);

    if (k == NULL) return 0;
    if (k->type == SG_CONF_GROUP) return 1;
    if (k->type == SG_CONF_GROUP_LIST) {
        if (k->sub == NULL) return m ? config_setting_length(m) : 0;
        return c->kids[ki].n;
    }
    if (m) return config_setting_length(m);
    if (k->type == SG_CONF_STRING_LIST) return c->kids[ki].ndefs;
    return 0;
}

const char *
sg_conf_list_string(const sg_conf_t *c, const char *key, int i)
{
    const sg_conf_key_t *k;
    int ki = -1;
    config_setting_t *m = sg_conf_typed(c, key, &k, &ki);

    if (k == NULL || k->type != SG_CONF_STRING_LIST || i < 0) return NULL;
    if (m) {
        config_setting_t *e;
        if (i >= config_setting_length(m)) return NULL;
        e = config_setting_get_elem(m, (unsigned)i);
        return config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
    }
    return i < c->kids[ki].ndefs ? c->kids[ki].defs[i] : NULL;
}

const sg_conf_t *
sg_conf_group(const sg_conf_t *c, const char *key, int i)
{
    int ki = -1;
    const sg_conf_key_t *k = sg_conf_key_or_alert(c, key, &ki);

    if (k == NULL || (k->type != SG_CONF_GROUP && k->type != SG_CONF_GROUP_LIST)) return NULL;
    if (i < 0 || i >= c->kids[ki].n) return NULL;
    return c->kids[ki].items[i];
}

void
sg_conf_verror(const sg_conf_t *c, const char *key, const char *fmt, va_list ap)
{
    char body[768];
    config_setting_t *m = key ? sg_conf_setting(c, key) : NULL;

    vsnprintf(body, sizeof(body), fmt, ap);
    sg_conf_report(c, m, key, "%s", body);
}

void
sg_conf_error(const sg_conf_t *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_conf_verror(c, key, fmt, ap);
    va_end(ap);
}

/* ---- the file ------------------------------------------------------------- */

int
sg_conf_file_load(sg_conf_file_t *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    config_init(&f->cfg);
    f->path = strdup(path);
    if (f->path == NULL) return -1;

    /* @include paths are relative to the including file's directory. */
    {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        if (slash) {
            size_t n = (size_t)(slash - path);
            if (n >= sizeof(dir)) n = sizeof(dir) - 1;
            memcpy(dir, path, n);
            dir[n] = '\0';
            config_set_include_dir(&f->cfg, n ? dir : "/");
        }
    }

    if (config_read_file(&f->cfg, path) != CONFIG_TRUE) {
        if (config_error_type(&f->cfg) == CONFIG_ERR_FILE_IO) {
            sg_conf_errors_add(&f->errs, path, 0, "cannot read the configuration file: %s",
                               strerror(errno ? errno : ENOENT));
        } else {
            sg_conf_errors_add(&f->errs,
                               config_error_file(&f->cfg) ? config_error_file(&f->cfg) : path,
                               config_error_line(&f->cfg), "syntax error: %s",
                               config_error_text(&f->cfg));
        }
        return -1;
    }
    f->parsed = 1;
    f->root = sg_conf_validate(config_root_setting(&f->cfg), sg_conf_root_keys, NULL, "", NULL,
                               &f->errs);
    if (f->root) {
        f->root->file = f->path;
        /* Top-level keys read as "server.listen", not ".server.listen". */
    }
    return f->errs.n == 0 && f->root ? 0 : -1;
}

void
sg_conf_file_free(sg_conf_file_t *f)
{
    sg_conf_free(f->root);
    config_destroy(&f->cfg);
    sg_conf_errors_free(&f->errs);
    free(f->path);
    memset(f, 0, sizeof(*f));
}
