/*
 * A worker thread with a FIFO of jobs. work() runs on the worker thread;
 * done() runs afterwards on the event-loop thread, in submission order.
 * Used for everything that must not stall the loop: database writes,
 * guide rendering, big parses.
 */
#ifndef SG_WORKER_H
#define SG_WORKER_H

struct event_base;

typedef struct sg_worker_s sg_worker_t;
typedef void (*sg_work_pt)(void *arg);
typedef void (*sg_work_done_pt)(void *arg);

/* Requires evthread_use_pthreads() before the base was created. */
sg_worker_t *sg_worker_new(struct event_base *base, const char *name);
/* 0, or -1 when out of memory or stopping. done may be NULL. */
int sg_worker_submit(sg_worker_t *w, sg_work_pt work, sg_work_done_pt done, void *arg);
/* Jobs queued but not started. */
int sg_worker_pending(sg_worker_t *w);
/* Runs what is queued, joins the thread, then runs the pending done()s. */
void sg_worker_free(sg_worker_t *w);

#endif
