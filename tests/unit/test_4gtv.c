/* plugins/4gtv's pure parts: the clock model, templates, the signed URL's
 * expiry, programme lists (+0800 to UTC, bad entries skipped). */
#include <string.h>

#include "sg_test.h"
#include "tv_model.h"

static void
test_clock(void)
{
    tv_anchor_t a = {.edge_seq = 62361998, .t0 = 1669530000.0, .step = 4};
    CHECK_INT(tv_edge(&a, 1669530000.0), 62361998);
    CHECK_INT(tv_edge(&a, 1669530003.9), 62361998);
    CHECK_INT(tv_edge(&a, 1669530004.0), 62361999);
    CHECK_INT(tv_edge(&a, 1669530400.0), 62362098);
    /* issue #31's sample: begin = 4 * seq + 12 */
    CHECK_INT(tv_begin(4, 62361998, 12), 249448004);
}

static void
test_expand(void)
{
    char out[256];
    CHECK_INT(tv_expand("/live/pool/{fid}/4gtv-live-mid/{fid}-avc1_2000000=3-mp4a_131000=7-begin={begin}"
                        "0666666-dur=40000000-seq={seq}.ts",
                        "4gtv-4gtv002", 720, 62361998, 249448004, out, sizeof(out)),
              0);
    CHECK_STR(out, "/live/pool/4gtv-4gtv002/4gtv-live-mid/4gtv-4gtv002-avc1_2000000=3-mp4a_131000=7-"
                   "begin=2494480040666666-dur=40000000-seq=62361998.ts");
    CHECK_INT(tv_expand("/{fid}-{hd}{seq}.ts", "4gtv-live007", 720, 30000123, 0, out, sizeof(out)), 0);
    CHECK_STR(out, "/4gtv-live007-72030000123.ts");
    CHECK_INT(tv_expand("/{nope}.ts", "x", 720, 1, 1, out, sizeof(out)), -1);
    CHECK_INT(tv_expand("/{seq", "x", 720, 1, 1, out, sizeof(out)), -1);
    CHECK_INT(tv_expand("/{fid}/{fid}/{fid}", "a-very-long-channel-id", 720, 1, 1, out, 20), -1);
}

static void
test_expiry(void)
{
    CHECK_INT(tv_expiry("http://x/y.m3u8?token=ab&expires=1669530198&token1=cd&expires1=1669530100"),
              1669530100);
    CHECK_INT(tv_expiry("http://x/y.m3u8?expires1=1669530198"), 1669530198);
    CHECK_INT(tv_expiry("http://x/y.m3u8?notexpires=5&expires=abc"), -1);
    CHECK_INT(tv_expiry("http://x/y.m3u8"), -1);
}

typedef struct {
    int n;
    tv_prog_t p[8];
    char t[8][64];
} progs_t;

static void
add(void *arg, const tv_prog_t *p)
{
    progs_t *x = arg;
    if (x->n < 8) {
        x->p[x->n] = *p;
        snprintf(x->t[x->n], sizeof(x->t[x->n]), "%s", p->title);
        x->n++;
    }
}

static void
test_proglist(void)
{
    const char *why = NULL;
    int skipped = 0;
    progs_t x = {0};
    const char *j =
        "[{\"sdate\":\"2026-11-21\",\"stime\":\"08:00:00\",\"edate\":\"2026-11-21\",\"etime\":\"09:00:00\","
        "\"title\":\"\\u65b0\\u805e\"},"
        "{\"sdate\":\"2026-11-21\",\"stime\":\"23:30\",\"edate\":\"2026-11-22\",\"etime\":\"00:30\","
        "\"title\":\"Tom & Jerry <Classic>\"},"
        "{\"sdate\":\"2026-11-21\",\"stime\":\"25:00:00\",\"edate\":\"2026-11-21\",\"etime\":\"26:00:00\","
        "\"title\":\"bad hour\"},"
        "{\"sdate\":\"2026-02-30\",\"stime\":\"08:00:00\",\"edate\":\"2026-02-30\",\"etime\":\"09:00:00\","
        "\"title\":\"no such day\"},"
        "{\"stime\":\"08:00:00\",\"title\":\"no date\"},"
        "{\"sdate\":\"2026-11-21\",\"stime\":\"10:00:00\",\"edate\":\"2026-11-21\",\"etime\":\"09:00:00\","
        "\"title\":\"ends first\"}, 5]";
    CHECK_INT(tv_proglist_parse(j, strlen(j), add, &x, &skipped, &why), 2);
    CHECK_INT(skipped, 5);
    /* 08:00 +0800 = 00:00Z */
    CHECK_INT(x.p[0].start, 1795219200);
    CHECK_INT(x.p[0].stop, 1795222800);
    CHECK_STR(x.t[0], "\xe6\x96\xb0\xe8\x81\x9e");
    CHECK_INT(x.p[1].start, 1795275000);
    CHECK_INT(x.p[1].stop, 1795278600);
    CHECK_INT(tv_proglist_parse("{\"Data\":[]}", 11, add, &x, &skipped, &why), 0);
    CHECK_INT(tv_proglist_parse("<html>", 6, add, &x, &skipped, &why), -1);
    CHECK(why != NULL);
}

int
main(void)
{
    sg_test_current = "clock";
    test_clock();
    sg_test_current = "expand";
    test_expand();
    sg_test_current = "expiry";
    test_expiry();
    sg_test_current = "proglist";
    test_proglist();
    if (sg_test_failures) {
        fprintf(stderr, "%d failure(s)\n", sg_test_failures);
        return 1;
    }
    return 0;
}
