#include "sg_admit.h"

#include <stdio.h>
#include <string.h>

#include "metrics/sg_metrics.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

static sg_metric_t *sg_m_limit, *sg_m_used, *sg_m_rejected, *sg_m_preempted;

int
sg_admit_acquire(sg_admit_t *a, const char **why)
{
    if (a->max_clients > 0 && a->clients >= a->max_clients) {
        *why = "client limit reached (admission.max_clients)";
        sg_admit_rejected(a, "max_clients");
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

void
sg_admit_rejected(sg_admit_t *a, const char *reason)
{
    a->rejected++;
    sg_metric_add(sg_m_rejected, (const char *const[]){reason, NULL}, 1);
}

void
sg_admit_preempted(sg_admit_t *a)
{
    a->preempted++;
    sg_metric_add(sg_m_preempted, NULL, 1);
}

/* The rx byte counter of `iface` from /proc/net/dev, which (unlike
 * /sys/class/net) always shows the reading process's own network namespace. */
static int
sg_admit_read_rx(const char *iface, unsigned long long *rx)
{
    char line[512];
    size_t n = strlen(iface);
    int found = 0;
    FILE *f = fopen("/proc/net/dev", "r");

    if (f == NULL) return 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char *p = line + strspn(line, " ");
        if (strncmp(p, iface, n) == 0 && p[n] == ':') {
            found = sscanf(p + n + 1, "%llu", rx) == 1;
        }
    }
    fclose(f);
    return found;
}

void
sg_admit_tick(sg_admit_t *a)
{
    unsigned long long rx;
    uint64_t now = sg_mono_us();

    if (a->iface[0] == '\0') return;
    if (!sg_admit_read_rx(a->iface, &rx)) {
        if (a->iface_ok != -1) {
            sg_log(SG_LOG_WARN, "admit", "admission.iface %s: no such interface in /proc/net/dev",
                   a->iface);
        }
        a->iface_ok = -1;
        return;
    }
    if (a->iface_ok == 1 && now > a->iface_us && rx >= a->iface_rx) {
        a->iface_kbps = (double)(rx - a->iface_rx) * 8.0 / 1000.0 / ((double)(now - a->iface_us) / 1e6);
    }
    a->iface_ok = 1;
    a->iface_rx = rx;
    a->iface_us = now;
}

static void
sg_admit_collect(sg_metric_t *m, void *arg)
{
    sg_admit_t *a = arg;
    int lim = m == sg_m_limit;
    sg_metric_set(m, (const char *const[]){"clients", NULL}, lim ? a->max_clients : a->clients);
    sg_metric_set(m, (const char *const[]){"sources", NULL}, lim ? a->max_sources : a->sources);
    sg_metric_set(m, (const char *const[]){"kbps", NULL}, lim ? (double)a->max_kbps : a->kbps);
}

void
sg_admit_metrics_init(sg_admit_t *a)
{
    static const char *const res[] = {"resource", NULL};
    static const char *const reason[] = {"reason", NULL};
    sg_m_limit = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "admission_limit",
                            .help = "Admission budget per resource (0 = unlimited; kbps in kbit/s)",
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
    sg_m_preempted = sg_metric_new(
        &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "admission_preemptions_total",
                            .help = "Lower-priority clients ended to make room for a new source"},
        "streamgate_", 0);
    sg_metric_set_collect(sg_m_limit, sg_admit_collect, a);
    sg_metric_set_collect(sg_m_used, sg_admit_collect, a);
}
