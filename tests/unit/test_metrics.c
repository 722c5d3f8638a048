/* The Prometheus registry: families, children, and the exact text
 * exposition (checked by promtool when it is installed). */
#include <errno.h>
#include <event2/buffer.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/sg_metrics.h"
#include "sg_test.h"
#include "util/sg_log.h"

/* The whole exposition as a NUL-terminated string (caller frees). */
static char *
render(void)
{
    struct evbuffer *b = evbuffer_new();
    char *s;

    if (b == NULL) return NULL;
    sg_metrics_render(b);
    s = sg_test_drain(b);
    evbuffer_free(b);
    return s;
}

#define CHECK_RENDER(expected)                                                  \
    do {                                                                        \
        char *_got = render();                                                  \
        CHECK_STR(_got, expected);                                              \
        free(_got);                                                             \
    } while (0)

static const char *const code_method[] = {"code", "method", NULL};
static const char *const route_label[] = {"route", NULL};

static void
test_exposition(void)
{
    static const double bounds[] = {0.125, 0.5, 1};
    static const char *const build_labels[] = {"name", "version", NULL};
    sg_metric_spec_t cspec = {
        .type = SG_METRIC_COUNTER,
        .name = "requests_total",
        .help = "Requests served.\nSecond line with \\ backslash and \"quotes\".",
        .labels = code_method,
    };
    sg_metric_spec_t gspec = {
        .type = SG_METRIC_GAUGE, .name = "temperature_celsius", .help = "Room temperature.",
    };
    sg_metric_spec_t ispec = {
        .type = SG_METRIC_GAUGE, .name = "build_info", .help = "Label escaping.",
        .labels = build_labels,
    };
    sg_metric_spec_t hspec = {
        .type = SG_METRIC_HISTOGRAM, .name = "latency_seconds", .help = "Request latency.",
        .labels = route_label, .buckets = bounds, .nbuckets = 3,
    };
    sg_metric_spec_t espec = {
        .type = SG_METRIC_GAUGE, .name = "empty_bytes",
        .help = "Never set: a family without labels starts at 0.",
    };
    sg_metric_t *c = sg_metric_new(&cspec, "streamgate_", 0);
    sg_metric_t *g = sg_metric_new(&gspec, "streamgate_", 0);
    sg_metric_t *info = sg_metric_new(&ispec, "streamgate_", 0);
    sg_metric_t *h = sg_metric_new(&hspec, "streamgate_", 0);
    sg_metric_t *e = sg_metric_new(&espec, "streamgate_", 0);

    CHECK(c != NULL && g != NULL && info != NULL && h != NULL && e != NULL);
    if (!(c && g && info && h && e)) {
        sg_metrics_free_all();
        return;
    }
    sg_metric_add(c, (const char *const[]){"404", "GET"}, 1);
    sg_metric_add(c, (const char *const[]){"200", "GET"}, 3);
    sg_metric_add(c, (const char *const[]){"200", "DELETE"}, 1);
    sg_metric_add(c, (const char *const[]){"200", "GET"}, 2);
    sg_metric_add(c, (const char *const[]){"200", "GET"}, -10); /* counters only go up */
    sg_metric_set(c, (const char *const[]){"200", "GET"}, 0);   /* not a gauge: ignored */
    sg_metric_observe(c, (const char *const[]){"200", "GET"}, 1); /* not a histogram */

    sg_metric_set(g, NULL, 21.5);
    sg_metric_add(g, NULL, -1.25); /* gauges go down */
    sg_metric_observe(g, NULL, 100);

    sg_metric_set(info, (const char *const[]){"a\"b\\c\nd", "1.0"}, 1);

    sg_metric_observe(h, (const char *const[]){"/b"}, 0.75);
    sg_metric_observe(h, (const char *const[]){"/a"}, 0.0625);
    sg_metric_observe(h, (const char *const[]){"/a"}, 0.125); /* on the bound: le is <= */
    sg_metric_observe(h, (const char *const[]){"/a"}, 0.25);
    sg_metric_observe(h, (const char *const[]){"/a"}, 2);
    sg_metric_set(h, (const char *const[]){"/a"}, 7); /* ignored */

    CHECK_RENDER(
        "# HELP streamgate_requests_total Requests served.\\nSecond line with \\\\ backslash "
        "and \"quotes\".\n"
        "# TYPE streamgate_requests_total counter\n"
        "streamgate_requests_total{code=\"200\",method=\"DELETE\"} 1\n"
        "streamgate_requests_total{code=\"200\",method=\"GET\"} 5\n"
        "streamgate_requests_total{code=\"404\",method=\"GET\"} 1\n"
        "# HELP streamgate_temperature_celsius Room temperature.\n"
        "# TYPE streamgate_temperature_celsius gauge\n"
        "streamgate_temperature_celsius 20.25\n"
        "# HELP streamgate_build_info Label escaping.\n"
        "# TYPE streamgate_build_info gauge\n"
        "streamgate_build_info{name=\"a\\\"b\\\\c\\nd\",version=\"1.0\"} 1\n"
        "# HELP streamgate_latency_seconds Request latency.\n"
        "# TYPE streamgate_latency_seconds histogram\n"
        "streamgate_latency_seconds_bucket{route=\"/a\",le=\"0.125\"} 2\n"
        "streamgate_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 3\n"
        "streamgate_latency_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
        "streamgate_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
        "streamgate_latency_seconds_sum{route=\"/a\"} 2.4375\n"
        "streamgate_latency_seconds_count{route=\"/a\"} 4\n"
        "streamgate_latency_seconds_bucket{route=\"/b\",le=\"0.125\"} 0\n"
        "streamgate_latency_seconds_bucket{route=\"/b\",le=\"0.5\"} 0\n"
        "streamgate_latency_seconds_bucket{route=\"/b\",le=\"1\"} 1\n"
        "streamgate_latency_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
        "streamgate_latency_seconds_sum{route=\"/b\"} 0.75\n"
        "streamgate_latency_seconds_count{route=\"/b\"} 1\n"
        "# HELP streamgate_empty_bytes Never set: a family without labels starts at 0.\n"
        "# TYPE streamgate_empty_bytes gauge\n"
        "streamgate_empty_bytes 0\n");

    /* remove one child, clear a family */
    sg_metric_remove(c, (const char *const[]){"200", "GET"});
    sg_metric_remove(c, (const char *const[]){"999", "GET"}); /* absent: nothing */
    sg_metric_clear(h);
    sg_metric_remove(info, (const char *const[]){"a\"b\\c\nd", "1.0"});
    sg_metric_set(g, NULL, -3);
    CHECK_RENDER(
        "# HELP streamgate_requests_total Requests served.\\nSecond line with \\\\ backslash "
        "and \"quotes\".\n"
        "# TYPE streamgate_requests_total counter\n"
        "streamgate_requests_total{code=\"200\",method=\"DELETE\"} 1\n"
        "streamgate_requests_total{code=\"404\",method=\"GET\"} 1\n"
        "# HELP streamgate_temperature_celsius Room temperature.\n"
        "# TYPE streamgate_temperature_celsius gauge\n"
        "streamgate_temperature_celsius -3\n"
        "# HELP streamgate_build_info Label escaping.\n"
        "# TYPE streamgate_build_info gauge\n"
        "# HELP streamgate_latency_seconds Request latency.\n"
        "# TYPE streamgate_latency_seconds histogram\n"
        "# HELP streamgate_empty_bytes Never set: a family without labels starts at 0.\n"
        "# TYPE streamgate_empty_bytes gauge\n"
        "streamgate_empty_bytes 0\n");
    /* a cleared family takes children again */
    sg_metric_observe(h, (const char *const[]){"/c"}, 0.5);
    {
        char *s = render();
        CHECK(s != NULL && strstr(s, "streamgate_latency_seconds_bucket{route=\"/c\",le=\"0.5\"} 1\n"
                                     "streamgate_latency_seconds_bucket{route=\"/c\",le=\"1\"} 1\n") !=
                               NULL);
        free(s);
    }
    sg_metrics_free_all();
    CHECK_RENDER("");
}

static void
test_values(void)
{
    static const char *const kind[] = {"kind", NULL};
    sg_metric_spec_t spec = {
        .type = SG_METRIC_GAUGE, .name = "sg_values", .help = "Special values.", .labels = kind,
    };
    sg_metric_t *m = sg_metric_new(&spec, NULL, 0);

    CHECK(m != NULL);
    sg_metric_set(m, (const char *const[]){"nan"}, NAN);
    sg_metric_set(m, (const char *const[]){"inf"}, INFINITY);
    sg_metric_set(m, (const char *const[]){"neg"}, -INFINITY);
    sg_metric_set(m, (const char *const[]){"big"}, 1e20);
    sg_metric_set(m, (const char *const[]){"frac"}, 0.1);
    sg_metric_set(m, (const char *const[]){"int"}, -3);
    sg_metric_set(m, (const char *const[]){"2^53"}, 9007199254740992.0);
    sg_metric_set(m, (const char *const[]){""}, 7); /* an empty label value */
    CHECK_RENDER("# HELP sg_values Special values.\n"
                 "# TYPE sg_values gauge\n"
                 "sg_values{kind=\"\"} 7\n"
                 "sg_values{kind=\"2^53\"} 9007199254740992\n"
                 "sg_values{kind=\"big\"} 1e+20\n"
                 "sg_values{kind=\"frac\"} 0.10000000000000001\n"
                 "sg_values{kind=\"inf\"} +Inf\n"
                 "sg_values{kind=\"int\"} -3\n"
                 "sg_values{kind=\"nan\"} NaN\n"
                 "sg_values{kind=\"neg\"} -Inf\n");
    sg_metrics_free_all();
}

/* Many children: the table grows, the output stays sorted. */
static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_many_children(void)
{
    static const char *const idl[] = {"id", NULL};
    sg_metric_spec_t spec = {
        .type = SG_METRIC_GAUGE, .name = "sg_sessions", .help = "Per session.", .labels = idl,
    };
    enum { N = 300 };
    char ids[N][8];
    char *sorted[N];
    struct evbuffer *want = evbuffer_new();
    sg_metric_t *m = sg_metric_new(&spec, NULL, 0);
    char *got, *exp;

    CHECK(m != NULL && want != NULL);
    if (m == NULL || want == NULL) {
        if (want) evbuffer_free(want);
        sg_metrics_free_all();
        return;
    }
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%d", i);
        sorted[i] = ids[i];
        sg_metric_set(m, (const char *const[]){ids[i]}, i);
    }
    /* every other one ends */
    for (int i = 0; i < N; i += 2) sg_metric_remove(m, (const char *const[]){ids[i]});
    qsort(sorted, N, sizeof(sorted[0]), cmp_str);
    evbuffer_add_printf(want, "# HELP sg_sessions Per session.\n# TYPE sg_sessions gauge\n");
    for (int i = 0; i < N; i++) {
        int v = atoi(sorted[i]);
        if (v % 2 == 0) continue;
        evbuffer_add_printf(want, "sg_sessions{id=\"%s\"} %d\n", sorted[i], v);
    }
    evbuffer_add(want, "", 1);
    exp = (char *)evbuffer_pullup(want, -1);
    got = render();
    CHECK_STR(got, exp);
    free(got);
    evbuffer_free(want);
    sg_metrics_free_all();
}

static int collect_calls;

static void
collect(sg_metric_t *m, void *arg)
{
    collect_calls++;
    sg_metric_set(m, NULL, *(double *)arg);
}

static void
test_collect_and_owner(void)
{
    static double level = 42;
    sg_metric_spec_t core = {.type = SG_METRIC_GAUGE, .name = "open_fds", .help = "Open fds."};
    sg_metric_spec_t plug = {.type = SG_METRIC_COUNTER, .name = "fetches_total", .help = "Fetches."};
    sg_metric_t *a = sg_metric_new(&core, "streamgate_", 0);
    sg_metric_t *b = sg_metric_new(&plug, "streamgate_demo_", 7);

    CHECK(a != NULL && b != NULL);
    sg_metric_set_collect(a, collect, &level);
    sg_metric_add(b, NULL, 2);
    collect_calls = 0;
    CHECK_RENDER("# HELP streamgate_open_fds Open fds.\n"
                 "# TYPE streamgate_open_fds gauge\n"
                 "streamgate_open_fds 42\n"
                 "# HELP streamgate_demo_fetches_total Fetches.\n"
                 "# TYPE streamgate_demo_fetches_total counter\n"
                 "streamgate_demo_fetches_total 2\n");
    CHECK_INT(collect_calls, 1);
    /* the plugin goes away with its families; it can register them again */
    sg_metrics_free_owner(7);
    level = 43;
    CHECK_RENDER("# HELP streamgate_open_fds Open fds.\n"
                 "# TYPE streamgate_open_fds gauge\n"
                 "streamgate_open_fds 43\n");
    b = sg_metric_new(&plug, "streamgate_demo_", 7);
    CHECK(b != NULL);
    /* the tail was fixed up: a new family is appended after it */
    {
        sg_metric_spec_t more = {.type = SG_METRIC_GAUGE, .name = "x_bytes", .help = "X."};
        CHECK(sg_metric_new(&more, "streamgate_", 0) != NULL);
    }
    CHECK_RENDER("# HELP streamgate_open_fds Open fds.\n"
                 "# TYPE streamgate_open_fds gauge\n"
                 "streamgate_open_fds 43\n"
                 "# HELP streamgate_demo_fetches_total Fetches.\n"
                 "# TYPE streamgate_demo_fetches_total counter\n"
                 "streamgate_demo_fetches_total 0\n"
                 "# HELP streamgate_x_bytes X.\n"
                 "# TYPE streamgate_x_bytes gauge\n"
                 "streamgate_x_bytes 0\n");
    CHECK_INT(collect_calls, 3);
    sg_metrics_free_all();
}

static void
test_invalid(void)
{
    static const double ok_bounds[] = {1, 2};
    static const double bad_bounds[] = {1, 1};
    static const char *const dunder[] = {"__reserved", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const digit[] = {"1a", NULL};
    static const char *const colon[] = {"a:b", NULL};
    static const char *const dash[] = {"a-b", NULL};
    static const char *const good_then_bad[] = {"good", "", NULL};
    const struct {
        sg_metric_spec_t spec;
        const char *prefix;
    } bad[] = {
        {{.type = SG_METRIC_GAUGE, .name = "", .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = NULL, .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "1abc", .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "a-b", .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "a b", .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "x", .help = "h"}, "bad-prefix_"},
        {{.type = SG_METRIC_GAUGE, .name = "no_help", .help = NULL}, NULL},
        {{.type = 0, .name = "no_type", .help = "h"}, NULL},
        {{.type = 9, .name = "bad_type", .help = "h"}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l1", .help = "h", .labels = dunder}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l2", .help = "h", .labels = le}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l3", .help = "h", .labels = digit}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l4", .help = "h", .labels = colon}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l5", .help = "h", .labels = dash}, NULL},
        {{.type = SG_METRIC_GAUGE, .name = "l6", .help = "h", .labels = good_then_bad}, NULL},
        {{.type = SG_METRIC_HISTOGRAM, .name = "h1", .help = "h"}, NULL},
        {{.type = SG_METRIC_HISTOGRAM, .name = "h2", .help = "h", .buckets = ok_bounds}, NULL},
        {{.type = SG_METRIC_HISTOGRAM, .name = "h3", .help = "h", .buckets = bad_bounds,
          .nbuckets = 2}, NULL},
    };
    sg_metric_spec_t dup = {.type = SG_METRIC_COUNTER, .name = "dup_total", .help = "h"};
    sg_metric_spec_t colon_name = {.type = SG_METRIC_GAUGE, .name = "job:rate5m", .help = "h"};
    sg_metric_spec_t labeled = {.type = SG_METRIC_GAUGE, .name = "needs_labels", .help = "h",
                                .labels = route_label};
    uint64_t alerts = sg_log_count(SG_LOG_ALERT);
    sg_metric_t *m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sg_metric_new(&bad[i].spec, bad[i].prefix, 0) != NULL) SG_FAIL("bad spec %zu accepted", i);
    }
    CHECK_INT(sg_log_count(SG_LOG_ALERT) - alerts, sizeof(bad) / sizeof(bad[0]));

    CHECK(sg_metric_new(&dup, "sg_", 0) != NULL);
    CHECK(sg_metric_new(&dup, "sg_", 0) == NULL);
    CHECK(sg_metric_new(&dup, "sg_", 3) == NULL); /* another owner: still a duplicate */
    CHECK(sg_metric_new(&dup, "other_", 0) != NULL);
    CHECK(sg_metric_new(&colon_name, NULL, 0) != NULL); /* ':' is fine in names */

    /* label values are required when labels are declared */
    m = sg_metric_new(&labeled, NULL, 0);
    CHECK(m != NULL);
    alerts = sg_log_count(SG_LOG_ALERT);
    sg_metric_set(m, NULL, 1);
    CHECK_INT(sg_log_count(SG_LOG_ALERT) - alerts, 1);
    /* removing without label values from a labelled family: nothing */
    {
        sg_metric_spec_t two = {.type = SG_METRIC_GAUGE, .name = "two_labels", .help = "h",
                                .labels = code_method};
        sg_metric_t *t = sg_metric_new(&two, NULL, 0);
        CHECK(t != NULL);
        sg_metric_set(t, (const char *const[]){"", ""}, 5);
        sg_metric_remove(t, NULL);
        char *txt = render();
        CHECK(txt != NULL && strstr(txt, "two_labels{code=\"\",method=\"\"} 5\n") != NULL);
        free(txt);
        sg_metric_clear(t);
    }
    /* NULL metrics are ignored */
    sg_metric_add(NULL, NULL, 1);
    sg_metric_set(NULL, NULL, 1);
    sg_metric_observe(NULL, NULL, 1);
    sg_metric_remove(NULL, NULL);
    /* a histogram without labels starts with empty buckets */
    {
        static const double one[] = {1};
        sg_metric_spec_t rtt = {.type = SG_METRIC_HISTOGRAM, .name = "rtt_seconds", .help = "h",
                                .buckets = one, .nbuckets = 1};
        CHECK(sg_metric_new(&rtt, "sg_", 0) != NULL);
    }
    CHECK_RENDER("# HELP sg_dup_total h\n# TYPE sg_dup_total counter\nsg_dup_total 0\n"
                 "# HELP other_dup_total h\n# TYPE other_dup_total counter\nother_dup_total 0\n"
                 "# HELP job:rate5m h\n# TYPE job:rate5m gauge\njob:rate5m 0\n"
                 "# HELP needs_labels h\n# TYPE needs_labels gauge\n"
                 "# HELP two_labels h\n# TYPE two_labels gauge\n"
                 "# HELP sg_rtt_seconds h\n# TYPE sg_rtt_seconds histogram\n"
                 "sg_rtt_seconds_bucket{le=\"1\"} 0\n"
                 "sg_rtt_seconds_bucket{le=\"+Inf\"} 0\n"
                 "sg_rtt_seconds_sum 0\n"
                 "sg_rtt_seconds_count 0\n");
    sg_metrics_free_all();
}

/* Render a realistic registry and let promtool lint it, when installed. */
static int
have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

static void
test_promtool(void)
{
    static const double bounds[] = {0.005, 0.05, 0.5, 5};
    static const char *const labels[] = {"plugin", "reason", NULL};
    sg_metric_spec_t s1 = {.type = SG_METRIC_COUNTER, .name = "http_requests_total",
                           .help = "HTTP requests.\nBy code.", .labels = code_method};
    sg_metric_spec_t s2 = {.type = SG_METRIC_HISTOGRAM, .name = "http_request_duration_seconds",
                           .help = "Latency \\ of requests.", .labels = route_label,
                           .buckets = bounds, .nbuckets = 4};
    sg_metric_spec_t s3 = {.type = SG_METRIC_GAUGE, .name = "sessions", .help = "Open sessions.",
                           .labels = labels};
    sg_metric_spec_t s4 = {.type = SG_METRIC_GAUGE, .name = "guide_bytes", .help = "Guide size."};
    sg_metric_t *m1 = sg_metric_new(&s1, "streamgate_", 0);
    sg_metric_t *m2 = sg_metric_new(&s2, "streamgate_", 0);
    sg_metric_t *m3 = sg_metric_new(&s3, "streamgate_", 0);
    sg_metric_t *m4 = sg_metric_new(&s4, "streamgate_", 0);
    char dir[] = "/tmp/sg-test-metrics-XXXXXX", path[64], cmd[160];
    char *text;
    FILE *fp;
    int st;

    CHECK(m1 && m2 && m3 && m4);
    sg_metric_add(m1, (const char *const[]){"200", "GET"}, 10);
    sg_metric_add(m1, (const char *const[]){"404", "HEAD"}, 1);
    sg_metric_observe(m2, (const char *const[]){"/guide.xml"}, 0.004);
    sg_metric_observe(m2, (const char *const[]){"/guide.xml"}, 0.7);
    sg_metric_observe(m2, (const char *const[]){"/ch/{id}/mpegts"}, 12);
    sg_metric_set(m3, (const char *const[]){"de\"mo", "back\\slash\nnew line"}, 3);
    sg_metric_set(m3, (const char *const[]){"4gtv", ""}, 0.1);
    sg_metric_set(m4, NULL, NAN);
    text = render();
    CHECK(text != NULL);

    if (!have_promtool()) {
        printf("note: promtool not on PATH, exposition not linted\n");
    } else if (text && mkdtemp(dir) != NULL) {
        snprintf(path, sizeof(path), "%s/metrics.txt", dir);
        fp = fopen(path, "w");
        CHECK(fp != NULL);
        if (fp) {
            fputs(text, fp);
            fclose(fp);
            snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
            st = system(cmd);
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                SG_FAIL("promtool check metrics failed (status %d) on:\n%s", st, text);
            }
            unlink(path);
        }
        rmdir(dir);
    } else {
        SG_FAIL("mkdtemp: %s", strerror(errno));
    }
    free(text);
    sg_metrics_free_all();
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"exposition", test_exposition},
        {"values", test_values},
        {"many_children", test_many_children},
        {"collect_and_owner", test_collect_and_owner},
        {"invalid", test_invalid},
        {"promtool", test_promtool},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
