#include "sg_worker.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util/sg_log.h"

typedef struct sg_job_s {
    struct sg_job_s *next;
    sg_work_pt work;
    sg_work_done_pt done;
    void *arg;
} sg_job_t;

struct sg_worker_s {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    sg_job_t *head, *tail;       /* queued                     */
    sg_job_t *dhead, *dtail;     /* finished, done() pending   */
    int queued;
    int stop;
    int started;
    struct event *done_ev;
    char name[16];
};

static void
sg_worker_append(sg_job_t **head, sg_job_t **tail, sg_job_t *j)
{
    j->next = NULL;
    if (*tail) {
        (*tail)->next = j;
    } else {
        *head = j;
    }
    *tail = j;
}

static void *
sg_worker_main(void *arg)
{
    sg_worker_t *w = arg;

    pthread_setname_np(pthread_self(), w->name);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        sg_job_t *j;
        while (w->head == NULL && !w->stop) pthread_cond_wait(&w->cond, &w->mu);
        if (w->head == NULL) break; /* stop requested and queue drained */
        j = w->head;
        w->head = j->next;
        if (w->head == NULL) w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);

        if (j->work) j->work(j->arg);

        pthread_mutex_lock(&w->mu);
        sg_worker_append(&w->dhead, &w->dtail, j);
        event_active(w->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void
sg_worker_run_done(sg_worker_t *w)
{
    sg_job_t *j, *next;

    pthread_mutex_lock(&w->mu);
    j = w->dhead;
    w->dhead = w->dtail = NULL;
    pthread_mutex_unlock(&w->mu);
    for (; j; j = next) {
        next = j->next;
        if (j->done) j->done(j->arg);
        free(j);
    }
}

static void
sg_worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_worker_run_done(arg);
}

sg_worker_t *
sg_worker_new(struct event_base *base, const char *name)
{
    sg_worker_t *w = calloc(1, sizeof(*w));
    sigset_t all, old;

    if (w == NULL) return NULL;
    snprintf(w->name, sizeof(w->name), "%s", name);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done_ev = event_new(base, -1, 0, sg_worker_done_cb, w);
    if (w->done_ev == NULL) goto fail;

    /* Signals are the main thread's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&w->thread, NULL, sg_worker_main, w) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto fail;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    w->started = 1;
    return w;

fail:
    sg_log(SG_LOG_CRIT, "worker", "cannot start worker thread \"%s\"", name);
    if (w->done_ev) event_free(w->done_ev);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w);
    return NULL;
}

int
sg_worker_submit(sg_worker_t *w, sg_work_pt work, sg_work_done_pt done, void *arg)
{
    sg_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return -1;
    }
    sg_worker_append(&w->head, &w->tail, j);
    w->queued++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int
sg_worker_pending(sg_worker_t *w)
{
    int n;
    pthread_mutex_lock(&w->mu);
    n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void
sg_worker_free(sg_worker_t *w)
{
    if (w == NULL) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (w->started) pthread_join(w->thread, NULL);
    sg_worker_run_done(w);
    event_free(w->done_ev);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w);
}
