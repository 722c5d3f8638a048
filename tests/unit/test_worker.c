/* The worker thread: FIFO work off the loop, done() on the loop thread in
 * submission order, and sg_worker_free() draining what is left. */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>

#include "jobs/sg_worker.h"
#include "sg_test.h"
#include "util/sg_util.h"

enum { NJOBS = 1000 };

typedef struct job_s {
    int seq;
    pthread_t work_thread, done_thread;
    int worked;       /* work() ran                  */
    int work_pos;     /* position among work() calls */
    int done_pos;     /* position among done() calls */
    int submit_rc;    /* a submit from done(), during free */
} job_t;

static struct event_base *g_base;
static sg_worker_t *g_worker;
static int g_work_count;   /* worker thread only */
static int g_done_count;   /* loop thread only   */
static job_t g_jobs[NJOBS];

static void
work(void *arg)
{
    job_t *j = arg;
    j->work_thread = pthread_self();
    j->work_pos = g_work_count++;
    j->worked = 1;
}

static void
done(void *arg)
{
    job_t *j = arg;
    j->done_thread = pthread_self();
    j->done_pos = g_done_count++;
}

static void
done_then_submit(void *arg)
{
    job_t *j = arg;
    done(arg);
    j->submit_rc = sg_worker_submit(g_worker, work, done, arg);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until *count reaches want or 10 s pass. */
static void
run_until(const int *count, int want)
{
    uint64_t deadline = sg_mono_ms() + 10000;
    while (*count < want && sg_mono_ms() < deadline) event_base_loop(g_base, EVLOOP_ONCE);
    if (*count < want) SG_FAIL("timed out: %d of %d callbacks", *count, want);
}

static void
reset(void)
{
    memset(g_jobs, 0, sizeof(g_jobs));
    g_work_count = g_done_count = 0;
    for (int i = 0; i < NJOBS; i++) {
        g_jobs[i].seq = i;
        g_jobs[i].submit_rc = 99;
    }
}

static void
test_order(void)
{
    pthread_t self = pthread_self();
    int pending;

    reset();
    g_worker = sg_worker_new(g_base, "sg-test");
    CHECK(g_worker != NULL);
    if (g_worker == NULL) return;
    for (int i = 0; i < NJOBS; i++) CHECK_INT(sg_worker_submit(g_worker, work, done, &g_jobs[i]), 0);
    pending = sg_worker_pending(g_worker);
    CHECK(pending >= 0 && pending <= NJOBS);
    /* done() only ever runs from the loop */
    CHECK_INT(g_done_count, 0);
    run_until(&g_done_count, NJOBS);
    CHECK_INT(g_done_count, NJOBS);
    CHECK_INT(sg_worker_pending(g_worker), 0);
    for (int i = 0; i < NJOBS; i++) {
        const job_t *j = &g_jobs[i];
        if (!j->worked) SG_FAIL("job %d: work() did not run", i);
        if (j->work_pos != i) SG_FAIL("job %d: work() ran as number %d", i, j->work_pos);
        if (j->done_pos != i) SG_FAIL("job %d: done() ran as number %d", i, j->done_pos);
        if (!pthread_equal(j->done_thread, self)) SG_FAIL("job %d: done() off the loop thread", i);
        if (pthread_equal(j->work_thread, self)) SG_FAIL("job %d: work() on the loop thread", i);
        if (!pthread_equal(j->work_thread, g_jobs[0].work_thread)) {
            SG_FAIL("job %d: work() on another worker thread", i);
        }
    }

    /* done may be NULL; FIFO still holds for the next job */
    reset();
    CHECK_INT(sg_worker_submit(g_worker, work, NULL, &g_jobs[0]), 0);
    CHECK_INT(sg_worker_submit(g_worker, work, done, &g_jobs[1]), 0);
    run_until(&g_done_count, 1);
    CHECK_INT(g_jobs[0].worked, 1);
    CHECK_INT(g_jobs[0].work_pos, 0);
    CHECK_INT(g_jobs[1].work_pos, 1);
    CHECK_INT(g_jobs[1].done_pos, 0);
    /* work may be NULL too: done() alone, in order */
    CHECK_INT(sg_worker_submit(g_worker, NULL, done, &g_jobs[2]), 0);
    run_until(&g_done_count, 2);
    CHECK_INT(g_jobs[2].worked, 0);
    CHECK_INT(g_jobs[2].done_pos, 1);
    sg_worker_free(g_worker);
    g_worker = NULL;
}

static void
test_free_drains(void)
{
    pthread_t self = pthread_self();

    reset();
    g_worker = sg_worker_new(g_base, "sg-test-free");
    CHECK(g_worker != NULL);
    if (g_worker == NULL) return;
    for (int i = 0; i < NJOBS; i++) {
        CHECK_INT(sg_worker_submit(g_worker, work, i % 100 == 0 ? done_then_submit : done,
                                   &g_jobs[i]),
                  0);
    }
    /* the loop never runs: sg_worker_free runs every job and every done() */
    sg_worker_free(g_worker);
    g_worker = NULL;
    CHECK_INT(g_work_count, NJOBS);
    CHECK_INT(g_done_count, NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        const job_t *j = &g_jobs[i];
        if (!j->worked || j->work_pos != i || j->done_pos != i) {
            SG_FAIL("job %d: worked %d at %d, done at %d", i, j->worked, j->work_pos, j->done_pos);
        }
        if (!pthread_equal(j->done_thread, self)) SG_FAIL("job %d: done() off the caller", i);
        /* a worker that is stopping refuses new work */
        if (i % 100 == 0 && j->submit_rc != -1) SG_FAIL("job %d: submit while stopping: %d", i,
                                                         j->submit_rc);
    }
    /* the loop has nothing left to run for the freed worker */
    event_base_loop(g_base, EVLOOP_NONBLOCK);
    CHECK_INT(g_done_count, NJOBS);
}

static void
test_free_idle(void)
{
    sg_worker_t *w = sg_worker_new(g_base, "sg-test-idle");
    CHECK(w != NULL);
    if (w) CHECK_INT(sg_worker_pending(w), 0);
    sg_worker_free(w);
    sg_worker_free(NULL);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"order", test_order},
        {"free_drains", test_free_drains},
        {"free_idle", test_free_idle},
        {NULL, NULL},
    };
    struct event *ev;
    struct timeval tv = {0, 50000};
    int rc;

    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "evthread_use_pthreads failed\n");
        return 1;
    }
    g_base = event_base_new();
    if (g_base == NULL) {
        fprintf(stderr, "event_base_new failed\n");
        return 1;
    }
    /* A heartbeat so EVLOOP_ONCE blocks (and returns) instead of spinning. */
    ev = event_new(g_base, -1, EV_PERSIST, tick, NULL);
    event_add(ev, &tv);
    rc = sg_test_run(cases);
    event_free(ev);
    event_base_free(g_base);
    libevent_global_shutdown();
    return rc;
}
