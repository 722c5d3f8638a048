/*
 * Prometheus metrics registry and text exposition (format 0.0.4).
 * Families are registered once; children (label value sets) are created on
 * first use. Loop thread only.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <event2/buffer.h>

#include "sg/host.h"

/* Called before each exposition so computed gauges can refresh. */
typedef void (*sg_metric_collect_pt)(sg_metric_t *m, void *arg);

/* prefix is prepended to spec->name ("streamgate_"). owner tags plugin
 * metrics (0 = core) so a plugin's families can be dropped together.
 * NULL (and an alert logged) for an invalid or duplicate name. */
sg_metric_t *sg_metric_new(const sg_metric_spec_t *spec, const char *prefix, int owner);
void sg_metric_add(sg_metric_t *m, const char *const *values, double v);
void sg_metric_set(sg_metric_t *m, const char *const *values, double v);
void sg_metric_observe(sg_metric_t *m, const char *const *values, double v);
/* Drop one child (a per-session series that ended). */
void sg_metric_remove(sg_metric_t *m, const char *const *values);
/* Drop every child (a gauge rebuilt from scratch by its collector). */
void sg_metric_clear(sg_metric_t *m);
void sg_metric_set_collect(sg_metric_t *m, sg_metric_collect_pt fn, void *arg);

void sg_metrics_render(struct evbuffer *out);
void sg_metrics_free_owner(int owner);
void sg_metrics_free_all(void);

#endif
