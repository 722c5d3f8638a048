/*
 * Admission: budgets checked before a session may start or a source may
 * open. A slot is taken and its release registered in the same step (the
 * session's finaliser, the hub's close), so no exit path can leak one.
 *
 * Budgets: max_clients (sessions), max_sources (open live sources) and
 * max_kbps (the sum of the measured bitrates of open sources, or the rx
 * rate of admission.iface when set). The hub module applies the source
 * budgets (it knows bitrates and can pre-empt); this module holds the
 * numbers and the metrics.
 */
#ifndef SG_ADMIT_H
#define SG_ADMIT_H

#include <stdint.h>

typedef struct sg_admit_s {
    int max_clients;  /* 0 = unlimited */
    int clients;      /* slots held    */
    int max_sources;  /* 0 = unlimited */
    int sources;      /* open sources (set by the hubs) */
    int64_t max_kbps; /* 0 = unlimited */
    double kbps;      /* in use: measured source bitrates or iface rx */
    char iface[64];   /* measure this interface's rx rate instead   */
    double iface_kbps;
    uint64_t iface_rx, iface_us;
    int iface_ok;
    unsigned long long rejected, preempted;
} sg_admit_t;

/* 0 and a slot held, or -1 with why set (a 503 reason). */
int sg_admit_acquire(sg_admit_t *a, const char **why);
void sg_admit_release(sg_admit_t *a);
/* Count a refusal made elsewhere (reason: "max_sources", "max_kbps"). */
void sg_admit_rejected(sg_admit_t *a, const char *reason);
void sg_admit_preempted(sg_admit_t *a);
/* Once a second: sample admission.iface's rx counter. */
void sg_admit_tick(sg_admit_t *a);
void sg_admit_metrics_init(sg_admit_t *a);

#endif
