/* The segment cache: single flight, LRU by bytes, TTL, references. */
#include <string.h>

#include "sg_test.h"
#include "stream/sg_segcache.h"

typedef struct {
    int calls, status;
    sg_seg_t *seg;
    const char *why;
} got_t;

static void
ready(void *arg, sg_seg_t *seg, int status, const char *why)
{
    got_t *g = arg;
    g->calls++;
    g->status = status;
    if (g->seg) sg_seg_unref(g->seg);
    g->seg = seg;
    g->why = why;
}

static void
test_single_flight(void)
{
    sg_segcache_t *c = sg_segcache_new(1 << 20);
    got_t a = {0}, b = {0}, x = {0};
    sg_seg_t *seg;
    sg_segwait_t *wa, *wb, *wx;
    int fill;
    sg_segcache_stats_t st;

    /* the first asker fills, the others wait */
    CHECK_INT(sg_segcache_get(c, "ch1/100", 0, ready, &a, &seg, &wa, &fill), 0);
    CHECK_INT(fill, 1);
    CHECK_INT(sg_segcache_get(c, "ch1/100", 0, ready, &b, &seg, &wb, &fill), 0);
    CHECK_INT(fill, 0);
    CHECK_INT(sg_segcache_get(c, "ch1/100", 0, ready, &x, &seg, &wx, &fill), 0);
    CHECK_INT(fill, 0);
    CHECK_INT(sg_segcache_inflight(c, "ch1/100"), 1);
    sg_segcache_cancel(c, wx); /* that client left */
    sg_segcache_put(c, "ch1/100", "0123456789", 10, 5000, 0);
    CHECK_INT(a.calls, 1);
    CHECK_INT(b.calls, 1);
    CHECK_INT(a.status, 200);
    CHECK_INT(x.calls, 0);
    CHECK(a.seg && a.seg == b.seg && a.seg->len == 10 && memcmp(a.seg->data, "0123456789", 10) == 0);
    CHECK_INT(sg_segcache_inflight(c, "ch1/100"), 0);
    /* now a hit */
    CHECK_INT(sg_segcache_get(c, "ch1/100", 4999, ready, &x, &seg, &wx, &fill), 1);
    CHECK(seg == a.seg);
    sg_seg_unref(seg);
    /* expired: a miss, and a new fill */
    CHECK_INT(sg_segcache_get(c, "ch1/100", 5000, ready, &x, &seg, &wx, &fill), 0);
    CHECK_INT(fill, 1);
    sg_segcache_fail(c, "ch1/100", 404, "HTTP 404");
    CHECK_INT(x.calls, 1);
    CHECK_INT(x.status, 404);
    CHECK(x.seg == NULL && x.why && strcmp(x.why, "HTTP 404") == 0);
    sg_segcache_stats(c, &st);
    CHECK_INT(st.fills, 2);
    CHECK_INT(st.waits, 2);
    CHECK_INT(st.hits, 1);
    CHECK_INT(st.expired, 1);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.inflight, 0);
    /* the old bytes live as long as someone holds them */
    CHECK(a.seg->len == 10);
    sg_seg_unref(a.seg);
    sg_seg_unref(b.seg);
    sg_segcache_free(c);
}

static void
test_lru_bytes(void)
{
    sg_segcache_t *c = sg_segcache_new(100);
    char buf[40] = {0};
    sg_seg_t *seg, *held;
    sg_segwait_t *w;
    int fill;
    got_t g = {0};
    sg_segcache_stats_t st;

    sg_segcache_put(c, "a", buf, 40, 1000, 0);
    sg_segcache_put(c, "b", buf, 40, 1000, 0);
    /* a is used: b is now the least recently used */
    CHECK_INT(sg_segcache_get(c, "a", 1, ready, &g, &held, &w, &fill), 1);
    sg_segcache_put(c, "c", buf, 40, 1000, 0);
    sg_segcache_stats(c, &st);
    CHECK_INT(st.bytes, 80);
    CHECK_INT(st.entries, 2);
    CHECK_INT(st.evictions, 1);
    CHECK_INT(sg_segcache_get(c, "b", 1, ready, &g, &seg, &w, &fill), 0); /* gone */
    CHECK_INT(fill, 1);
    sg_segcache_fail(c, "b", 0, "test");
    /* evicting a held entry keeps its bytes for the holder */
    sg_segcache_put(c, "d", buf, 40, 1000, 0);
    sg_segcache_put(c, "e", buf, 40, 1000, 0);
    CHECK(held->len == 40);
    sg_seg_unref(held);
    /* a body larger than the cache reaches its waiter but is not kept */
    {
        char big[200] = {1};
        got_t h = {0};
        CHECK_INT(sg_segcache_get(c, "big", 1, ready, &h, &seg, &w, &fill), 0);
        sg_segcache_put(c, "big", big, sizeof(big), 1000, 1);
        CHECK(h.seg && h.seg->len == 200);
        sg_seg_unref(h.seg);
        sg_segcache_stats(c, &st);
        CHECK(st.bytes <= 100);
    }
    if (g.seg) sg_seg_unref(g.seg);
    sg_segcache_free(c);
}

static void
test_free_wakes_waiters(void)
{
    sg_segcache_t *c = sg_segcache_new(1000);
    got_t g = {0};
    sg_seg_t *seg;
    sg_segwait_t *w;
    int fill;
    CHECK_INT(sg_segcache_get(c, "k", 0, ready, &g, &seg, &w, &fill), 0);
    sg_segcache_free(c);
    CHECK_INT(g.calls, 1);
    CHECK(g.seg == NULL && g.why != NULL);
}

int
main(void)
{
    sg_test_current = "single_flight";
    test_single_flight();
    sg_test_current = "lru_bytes";
    test_lru_bytes();
    sg_test_current = "free_wakes_waiters";
    test_free_wakes_waiters();
    if (sg_test_failures) {
        fprintf(stderr, "%d failure(s)\n", sg_test_failures);
        return 1;
    }
    return 0;
}
