/* The Flussonic time grammar, as a table. Times are fixed, TZ is pinned. */
#include <time.h>

#include "http/sg_timespec.h"
#include "sg/plugin.h"
#include "sg_test.h"

#define NOW 1800000000LL /* 2027-01-15T08:00:00Z */

typedef struct {
    const char *tail, *query;
    int rc;          /* 0, 400 or 404 */
    int kind, format;
    long long start, duration;
    int to_now;
    const char *word;
} row_t;

static const row_t rows[] = {
    /* live names */
    {"mpegts", "", 0, SG_REQ_LIVE, SG_FMT_TS, 0, 0, 0, ""},
    {"live", "", 0, SG_REQ_LIVE, SG_FMT_TS, 0, 0, 0, ""},
    {"index.m3u8", "", 0, SG_REQ_LIVE, SG_FMT_HLS, 0, 0, 0, ""},
    {"video.m3u8", "", 0, SG_REQ_LIVE, SG_FMT_HLS, 0, 0, 0, ""},
    {"mono.m3u8", "", 0, SG_REQ_LIVE, SG_FMT_HLS, 0, 0, 0, ""},
    {"playlist.m3u8", "", 0, SG_REQ_LIVE, SG_FMT_HLS, 0, 0, 0, ""},
    /* absolute */
    {"1799990000", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "unix"},
    {"1799990000.ts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "unix"},
    {"202701150700", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799996400, 0, 0, "local"},
    {"20270115070030", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799996430, 0, 0, "local"},
    /* word forms */
    {"timeshift_abs-1799990000.ts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "timeshift_abs"},
    {"archive-1799990000-3600.ts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 3600, 0, "archive"},
    {"index-1799990000-3600.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 3600, 0, "index"},
    {"video-1799990000-3600.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 3600, 0, "video"},
    {"mono-1799990000-60.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 60, 0, "mono"},
    {"index-1799990000-now.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 10000, 1, "index"},
    {"archive-1799990000-60.mp4", "", 0, SG_REQ_CATCHUP, SG_FMT_MP4, 1799990000, 60, 0, "archive"},
    {"anything-1799990000-60", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 60, 0, "anything"},
    {"timeshift_rel-600.ts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, NOW - 600, 0, 0, "timeshift_rel"},
    {"video-timeshift_abs-1799990000.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 0, 0, "timeshift_abs"},
    {"mono-timeshift_rel-60.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, NOW - 60, 0, 0, "timeshift_rel"},
    /* legacy paths */
    {"archive/1799990000/3600/mpegts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 3600, 0, "archive"},
    {"archive/1799990000/3600/index.m3u8", "", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 3600, 0, "archive"},
    {"timeshift_abs/1799990000", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "timeshift_abs"},
    {"timeshift_rel/60", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, NOW - 60, 0, 0, "timeshift_rel"},
    {"mpegts/timeshift_abs-1799990000.ts", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "timeshift_abs"},
    {"live/1799990000", "", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "unix"},
    /* query forms on live names */
    {"mpegts", "utc=1799990000&lutc=1800000000", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799990000, 0, 0, "utc"},
    {"index.m3u8", "utc=1799990000", 0, SG_REQ_CATCHUP, SG_FMT_HLS, 1799990000, 0, 0, "utc"},
    {"mpegts", "playseek=20270115070000-20270115073000", 0, SG_REQ_CATCHUP, SG_FMT_TS, 1799996400, 1800, 0, "playseek"},
    {"mpegts", "token=abc", 0, SG_REQ_LIVE, SG_FMT_TS, 0, 0, 0, ""},
    /* malformed: 400 */
    {"202713150700", "", 400, 0, 0, 0, 0, 0, NULL},
    {"20270230070000", "", 400, 0, 0, 0, 0, 0, NULL},
    {"1799990000000", "", 400, 0, 0, 0, 0, 0, NULL},
    {"archive-1799990000-0.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"archive-1799990000-x.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"archive-abc-60.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"timeshift_abs-1799990000-60.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"timeshift_rel-x.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"archive-1799990000-9999999.ts", "", 400, 0, 0, 0, 0, 0, NULL},
    {"1900000000", "", 400, 0, 0, 0, 0, 0, NULL},  /* the future */
    {"mpegts", "utc=abc", 400, 0, 0, 0, 0, 0, NULL},
    {"mpegts", "playseek=2027-01", 400, 0, 0, 0, 0, 0, NULL},
    {"archive/1799990000/0/mpegts", "", 400, 0, 0, 0, 0, 0, NULL},
    /* not a time form: 404 */
    {"", "", 404, 0, 0, 0, 0, 0, NULL},
    {"favicon.ico", "", 404, 0, 0, 0, 0, 0, NULL},
    {"some-name", "", 404, 0, 0, 0, 0, 0, NULL},
    {"1799990000.avi", "", 404, 0, 0, 0, 0, 0, NULL},
    {"archive/1799990000/60/other", "", 404, 0, 0, 0, 0, 0, NULL},
    {"a/b/c/d/e/f", "", 404, 0, 0, 0, 0, 0, NULL},
    {"mpegts/mpegts/1799990000", "", 404, 0, 0, 0, 0, 0, NULL},
};

static void
test_table(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        sg_timespec_t ts;
        const char *why = NULL;
        int rc = sg_timespec_parse(r->tail, r->query, NOW, &ts, &why);
        if (rc != r->rc) {
            SG_FAIL("\"%s?%s\": rc %d, expected %d (%s)", r->tail, r->query, rc, r->rc,
                    why ? why : "");
            continue;
        }
        if (rc == 400) {
            if (why == NULL || why[0] == '\0') SG_FAIL("\"%s\": 400 without a reason", r->tail);
            continue;
        }
        if (rc != 0) continue;
        if (ts.kind != r->kind || ts.format != r->format || ts.start != r->start ||
            ts.duration != r->duration || ts.to_now != r->to_now || strcmp(ts.word, r->word) != 0) {
            SG_FAIL("\"%s?%s\": kind %d format %d start %lld duration %lld now %d word \"%s\"; expected "
                    "%d %d %lld %lld %d \"%s\"",
                    r->tail, r->query, ts.kind, ts.format, (long long)ts.start,
                    (long long)ts.duration, ts.to_now, ts.word, r->kind, r->format, r->start,
                    r->duration, r->to_now, r->word);
        }
    }
}

static void
test_local_time_zone(void)
{
    /* The same wall-clock time is an hour earlier in UTC in Madrid (CET). */
    setenv("TZ", "Europe/Madrid", 1);
    tzset();
    CHECK_INT(sg_timespec_local("202701150800", 12), 1799996400);
    /* summer time: CEST, +2 */
    CHECK_INT(sg_timespec_local("20270715080000", 14), 1815631200);
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_INT(sg_timespec_local("202701150700", 12), 1799996400);
    CHECK_INT(sg_timespec_local("2027011507", 10), -1);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"timespec_table", test_table},
        {"timespec_local_time_zone", test_local_time_zone},
        {NULL, NULL},
    };
    setenv("TZ", "UTC", 1);
    tzset();
    return sg_test_run(cases);
}
