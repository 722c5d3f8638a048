/*
 * Admission: budgets checked before a session may start. A slot is taken
 * and its release registered in the same step (the session's finaliser),
 * so no exit path can leak one.
 */
#ifndef SG_ADMIT_H
#define SG_ADMIT_H

typedef struct sg_admit_s {
    int max_clients;  /* 0 = unlimited */
    int clients;      /* slots held    */
    unsigned long long rejected;
} sg_admit_t;

/* 0 and a slot held, or -1 with why set (a 503 reason). */
int sg_admit_acquire(sg_admit_t *a, const char **why);
void sg_admit_release(sg_admit_t *a);
void sg_admit_metrics_init(sg_admit_t *a);

#endif
