#include "sg_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sg_log.h"

typedef struct sg_metric_child_s {
    struct sg_metric_child_s *next; /* hash chain */
    uint32_t hash;
    char **values;
    double value;                   /* counter, gauge; histogram sum */
    uint64_t count;                 /* histogram                     */
    uint64_t *buckets;              /* histogram, non-cumulative     */
} sg_metric_child_t;

struct sg_metric_s {
    sg_metric_t *next;
    sg_metric_type_e type;
    int owner;
    char *name;
    char *help;
    char **labels;
    int nlabels;
    double *bounds;
    size_t nbounds;
    sg_metric_child_t **table;
    size_t tsize, nchildren;
    sg_metric_collect_pt collect;
    void *collect_arg;
};

static sg_metric_t *sg_metrics_head, *sg_metrics_tail;

static struct sg_metric_child_s *sg_metric_child(sg_metric_t *m, const char *const *values,
                                                 int create);

static int
sg_metric_valid_name(const char *s, int label)
{
    if (s == NULL || *s == '\0') return 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (!label && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return !(label && strncmp(s, "__", 2) == 0);
}

static void
sg_metric_child_free(sg_metric_t *m, sg_metric_child_t *c)
{
    for (int i = 0; i < m->nlabels; i++) free(c->values[i]);
    free(c->values);
    free(c->buckets);
    free(c);
}

static void
sg_metric_free(sg_metric_t *m)
{
    sg_metric_clear(m);
    free(m->table);
    for (int i = 0; i < m->nlabels; i++) free(m->labels[i]);
    free(m->labels);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

sg_metric_t *
sg_metric_new(const sg_metric_spec_t *spec, const char *prefix, int owner)
{
    sg_metric_t *m;
    char full[256];

    snprintf(full, sizeof(full), "%s%s", prefix ? prefix : "", spec->name ? spec->name : "");
    if (!sg_metric_valid_name(full, 0) || spec->help == NULL ||
        (spec->type != SG_METRIC_COUNTER && spec->type != SG_METRIC_GAUGE &&
         spec->type != SG_METRIC_HISTOGRAM)) {
        sg_log(SG_LOG_ALERT, "metrics", "invalid metric \"%s\"", full);
        return NULL;
    }
    for (sg_metric_t *o = sg_metrics_head; o; o = o->next) {
        if (strcmp(o->name, full) == 0) {
            sg_log(SG_LOG_ALERT, "metrics", "metric \"%s\" registered twice", full);
            return NULL;
        }
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) return NULL;
    m->type = spec->type;
    m->owner = owner;
    m->name = strdup(full);
    m->help = strdup(spec->help);
    m->tsize = 16;
    m->table = calloc(m->tsize, sizeof(*m->table));
    if (m->name == NULL || m->help == NULL || m->table == NULL) goto fail;
    if (spec->labels) {
        while (spec->labels[m->nlabels]) m->nlabels++;
        m->labels = calloc((size_t)m->nlabels, sizeof(char *));
        if (m->labels == NULL) goto fail;
        for (int i = 0; i < m->nlabels; i++) {
            if (!sg_metric_valid_name(spec->labels[i], 1) || strcmp(spec->labels[i], "le") == 0) {
                sg_log(SG_LOG_ALERT, "metrics", "metric \"%s\": invalid label \"%s\"", full,
                       spec->labels[i]);
                goto fail;
            }
            m->labels[i] = strdup(spec->labels[i]);
            if (m->labels[i] == NULL) goto fail;
        }
    }
    if (m->type == SG_METRIC_HISTOGRAM) {
        if (spec->nbuckets == 0 || spec->buckets == NULL) {
            sg_log(SG_LOG_ALERT, "metrics", "histogram \"%s\" without buckets", full);
            goto fail;
        }
        m->bounds = malloc(spec->nbuckets * sizeof(double));
        if (m->bounds == NULL) goto fail;
        for (size_t i = 0; i < spec->nbuckets; i++) {
            if (i > 0 && spec->buckets[i] <= spec->buckets[i - 1]) {
                sg_log(SG_LOG_ALERT, "metrics", "histogram \"%s\": buckets not ascending", full);
                goto fail;
            }
            m->bounds[i] = spec->buckets[i];
        }
        m->nbounds = spec->nbuckets;
    }
    /* A metric without labels exists from the start, at zero (as the
     * Prometheus client libraries do), so rate() has a first sample. */
    if (m->nlabels == 0 && sg_metric_child(m, NULL, 1) == NULL) goto fail;
    if (sg_metrics_tail) {
        sg_metrics_tail->next = m;
    } else {
        sg_metrics_head = m;
    }
    sg_metrics_tail = m;
    return m;

fail:
    sg_metric_free(m);
    return NULL;
}

static uint32_t
sg_metric_hash(const sg_metric_t *m, const char *const *values)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < m->nlabels; i++) {
        for (const char *p = values[i] ? values[i] : ""; *p; p++) {
            h = (h ^ (unsigned char)*p) * 16777619u;
        }
        h = (h ^ 0xffu) * 16777619u;
    }
    return h;
}

static int
sg_metric_same(const sg_metric_t *m, const sg_metric_child_t *c, const char *const *values)
{
    for (int i = 0; i < m->nlabels; i++) {
        if (strcmp(c->values[i], values[i] ? values[i] : "") != 0) return 0;
    }
    return 1;
}

static void
sg_metric_grow(sg_metric_t *m)
{
    size_t nsize = m->tsize * 2;
    sg_metric_child_t **nt = calloc(nsize, sizeof(*nt));
    if (nt == NULL) return;
    for (size_t i = 0; i < m->tsize; i++) {
        sg_metric_child_t *c = m->table[i], *next;
        for (; c; c = next) {
            next = c->next;
            c->next = nt[c->hash & (nsize - 1)];
            nt[c->hash & (nsize - 1)] = c;
        }
    }
    free(m->table);
    m->table = nt;
    m->tsize = nsize;
}

static sg_metric_child_t *
sg_metric_child(sg_metric_t *m, const char *const *values, int create)
{
    static const char *const none[1] = {""};
    uint32_t h;
    sg_metric_child_t *c;

    if (m->nlabels > 0 && values == NULL) {
        sg_log(SG_LOG_ALERT, "metrics", "metric \"%s\" used without label values", m->name);
        return NULL;
    }
    if (values == NULL) values = none;
    h = sg_metric_hash(m, values);
    for (c = m->table[h & (m->tsize - 1)]; c; c = c->next) {
        if (c->hash == h && sg_metric_same(m, c, values)) return c;
    }
    if (!create) return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->hash = h;
    if (m->nlabels) {
        c->values = calloc((size_t)m->nlabels, sizeof(char *));
        if (c->values == NULL) goto fail;
        for (int i = 0; i < m->nlabels; i++) {
            c->values[i] = strdup(values[i] ? values[i] : "");
            if (c->values[i] == NULL) goto fail;
        }
    }
    if (m->type == SG_METRIC_HISTOGRAM) {
        c->buckets = calloc(m->nbounds, sizeof(uint64_t));
        if (c->buckets == NULL) goto fail;
    }
    if (m->nchildren + 1 > m->tsize) sg_metric_grow(m);
    c->next = m->table[h & (m->tsize - 1)];
    m->table[h & (m->tsize - 1)] = c;
    m->nchildren++;
    return c;
fail:
    sg_metric_child_free(m, c);
    return NULL;
}

void
sg_metric_add(sg_metric_t *m, const char *const *values, double v)
{
    sg_metric_child_t *c;
    if (m == NULL || (c = sg_metric_child(m, values, 1)) == NULL) return;
    if (m->type == SG_METRIC_COUNTER && v < 0) return; /* counters only go up */
    c->value += v;
}

void
sg_metric_set(sg_metric_t *m, const char *const *values, double v)
{
    sg_metric_child_t *c;
    if (m == NULL || m->type != SG_METRIC_GAUGE) return;
    if ((c = sg_metric_child(m, values, 1)) == NULL) return;
    c->value = v;
}

void
sg_metric_observe(sg_metric_t *m, const char *const *values, double v)
{
    sg_metric_child_t *c;
    if (m == NULL || m->type != SG_METRIC_HISTOGRAM) return;
    if ((c = sg_metric_child(m, values, 1)) == NULL) return;
    for (size_t i = 0; i < m->nbounds; i++) {
        if (v <= m->bounds[i]) {
            c->buckets[i]++;
            break;
        }
    }
    c->count++;
    c->value += v;
}

void
sg_metric_remove(sg_metric_t *m, const char *const *values)
{
    static const char *const none[1] = {""};
    sg_metric_child_t **pp, *c;
    uint32_t h;

    if (m == NULL) return;
    if (values == NULL) {
        if (m->nlabels > 0) return; /* none[] has one element: no child matches */
        values = none;
    }
    h = sg_metric_hash(m, values);
    for (pp = &m->table[h & (m->tsize - 1)]; (c = *pp); pp = &c->next) {
        if (c->hash == h && sg_metric_same(m, c, values)) {
            *pp = c->next;
            m->nchildren--;
            sg_metric_child_free(m, c);
            return;
        }
    }
}

void
sg_metric_clear(sg_metric_t *m)
{
    for (size_t i = 0; i < m->tsize; i++) {
        sg_metric_child_t *c = m->table[i], *next;
        for (; c; c = next) {
            next = c->next;
            sg_metric_child_free(m, c);
        }
        m->table[i] = NULL;
    }
    m->nchildren = 0;
}

void
sg_metric_set_collect(sg_metric_t *m, sg_metric_collect_pt fn, void *arg)
{
    if (m == NULL) return;
    m->collect = fn;
    m->collect_arg = arg;
}

/* ---- exposition ------------------------------------------------------------ */

static void
sg_metric_put_escaped(struct evbuffer *out, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\') rep = "\\\\";
        else if (*s == '\n') rep = "\\n";
        else if (quote && *s == '"') rep = "\\\"";
        if (rep) {
            evbuffer_add(out, run, (size_t)(s - run));
            evbuffer_add(out, rep, strlen(rep));
            run = s + 1;
        }
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

static void
sg_metric_put_value(struct evbuffer *out, double v)
{
    if (isnan(v)) {
        evbuffer_add(out, "NaN", 3);
    } else if (isinf(v)) {
        evbuffer_add_printf(out, "%sInf", v > 0 ? "+" : "-");
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        evbuffer_add_printf(out, "%lld", (long long)v);
    } else {
        evbuffer_add_printf(out, "%.17g", v);
    }
}

static void
sg_metric_put_labels(struct evbuffer *out, const sg_metric_t *m, const sg_metric_child_t *c,
                     const char *le)
{
    int any = 0;
    if (m->nlabels == 0 && le == NULL) return;
    evbuffer_add(out, "{", 1);
    for (int i = 0; i < m->nlabels; i++) {
        evbuffer_add_printf(out, "%s%s=\"", any ? "," : "", m->labels[i]);
        sg_metric_put_escaped(out, c->values[i], 1);
        evbuffer_add(out, "\"", 1);
        any = 1;
    }
    if (le) evbuffer_add_printf(out, "%sle=\"%s\"", any ? "," : "", le);
    evbuffer_add(out, "}", 1);
}

static int
sg_child_cmp(const void *a, const void *b, void *arg)
{
    const sg_metric_t *m = arg;
    const sg_metric_child_t *x = *(sg_metric_child_t *const *)a;
    const sg_metric_child_t *y = *(sg_metric_child_t *const *)b;
    for (int i = 0; i < m->nlabels; i++) {
        int r = strcmp(x->values[i], y->values[i]);
        if (r) return r;
    }
    return 0;
}

static void
sg_metric_render_one(struct evbuffer *out, sg_metric_t *m)
{
    static const char *const types[] = {"", "counter", "gauge", "histogram"};
    sg_metric_child_t **all;
    size_t n = 0;

    if (m->collect) m->collect(m, m->collect_arg);
    evbuffer_add_printf(out, "# HELP %s ", m->name);
    sg_metric_put_escaped(out, m->help, 0);
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
    if (m->nchildren == 0) return;

    /* Stable output order: sorted by label values. */
    all = malloc(m->nchildren * sizeof(*all));
    if (all == NULL) return;
    for (size_t i = 0; i < m->tsize; i++) {
        for (sg_metric_child_t *c = m->table[i]; c; c = c->next) all[n++] = c;
    }
    qsort_r(all, n, sizeof(*all), sg_child_cmp, m);

    for (size_t i = 0; i < n; i++) {
        sg_metric_child_t *c = all[i];
        if (m->type != SG_METRIC_HISTOGRAM) {
            evbuffer_add_printf(out, "%s", m->name);
            sg_metric_put_labels(out, m, c, NULL);
            evbuffer_add(out, " ", 1);
            sg_metric_put_value(out, c->value);
            evbuffer_add(out, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        char le[64];
        for (size_t b = 0; b < m->nbounds; b++) {
            cum += c->buckets[b];
            snprintf(le, sizeof(le), "%g", m->bounds[b]);
            evbuffer_add_printf(out, "%s_bucket", m->name);
            sg_metric_put_labels(out, m, c, le);
            evbuffer_add_printf(out, " %llu\n", (unsigned long long)cum);
        }
        evbuffer_add_printf(out, "%s_bucket", m->name);
        sg_metric_put_labels(out, m, c, "+Inf");
        evbuffer_add_printf(out, " %llu\n%s_sum", (unsigned long long)c->count, m->name);
        sg_metric_put_labels(out, m, c, NULL);
        evbuffer_add(out, " ", 1);
        sg_metric_put_value(out, c->value);
        evbuffer_add_printf(out, "\n%s_count", m->name);
        sg_metric_put_labels(out, m, c, NULL);
        evbuffer_add_printf(out, " %llu\n", (unsigned long long)c->count);
    }
    free(all);
}

void
sg_metrics_render(struct evbuffer *out)
{
    for (sg_metric_t *m = sg_metrics_head; m; m = m->next) sg_metric_render_one(out, m);
}

void
sg_metrics_free_owner(int owner)
{
    sg_metric_t **pp = &sg_metrics_head, *m;
    sg_metrics_tail = NULL;
    while ((m = *pp)) {
        if (m->owner == owner) {
            *pp = m->next;
            sg_metric_free(m);
        } else {
            sg_metrics_tail = m;
            pp = &m->next;
        }
    }
}

void
sg_metrics_free_all(void)
{
    sg_metric_t *m, *next;
    for (m = sg_metrics_head; m; m = next) {
        next = m->next;
        sg_metric_free(m);
    }
    sg_metrics_head = sg_metrics_tail = NULL;
}
