#include "sg_admit.h"

#include "metrics/sg_metrics.h"

static sg_metric_t *sg_m_limit, *sg_m_used, *sg_m_rejected;

int
sg_admit_acquire(sg_admit_t *a, const char **why)
{
    if (a->max_clients > 0 && a->clients >= a->max_clients) {
        *why = "client limit reached (admission.max_clients)";
        a->rejected++;
        sg_metric_add(sg_m_rejected, (const char *const[]){"max_clients", NULL}, 1);
        return -1;
    }
    a->clients++;
    return 0;
}

void
sg_admit_release(sg_admit_t *a)
{
    if (a->clients > 0) a->clients--;
}

static void
sg_admit_collect(sg_metric_t *m, void *arg)
{
    sg_admit_t *a = arg;
    if (m == sg_m_limit) {
        sg_metric_set(m, (const char *const[]){"clients", NULL}, a->max_clients);
    } else {
        sg_metric_set(m, (const char *const[]){"clients", NULL}, a->clients);
    }
}

void
sg_admit_metrics_init(sg_admit_t *a)
{
    static const char *const res[] = {"resource", NULL};
    static const char *const reason[] = {"reason", NULL};
    sg_m_limit = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                   .name = "admission_limit",
                                                   .help = "Admission budget per resource (0 = unlimited)",
                                                   .labels = res},
                               "streamgate_", 0);
    sg_m_used = sg_metric_new(&(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                  .name = "admission_used",
                                                  .help = "Admission budget in use per resource",
                                                  .labels = res},
                              "streamgate_", 0);
    sg_m_rejected = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "admission_rejections_total",
                            .help = "Sessions refused by admission control", .labels = reason},
        "streamgate_", 0);
    sg_metric_set_collect(sg_m_limit, sg_admit_collect, a);
    sg_metric_set_collect(sg_m_used, sg_admit_collect, a);
}
