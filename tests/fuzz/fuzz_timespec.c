/*
 * libFuzzer target: the catchup/timeshift URL grammar. The input is
 * "<tail>?<query>", split at the first '?' into NUL-terminated copies.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/sg_timespec.h"
#include "sg/plugin.h"

#define NOW 1800000000LL /* 2027-01-15T08:00:00Z, as in test_timespec */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
copy(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    const uint8_t *q = memchr(data, '?', size);
    size_t tl = q ? (size_t)(q - data) : size;
    char *tail, *query;
    sg_timespec_t ts;
    const char *why = NULL;
    int rc;

    if (!once) {
        setenv("TZ", "UTC", 1);
        tzset();
        once = 1;
    }
    tail = copy(data, tl);
    query = q ? copy(q + 1, size - tl - 1) : copy(data, 0);
    if (tail == NULL || query == NULL) {
        free(tail);
        free(query);
        return 0;
    }
    rc = sg_timespec_parse(tail, query, NOW, &ts, &why);
    assert(rc == 0 || rc == 400 || rc == 404);
    if (rc == 400) assert(why != NULL && why[0] != '\0');
    if (rc == 0) {
        assert(memchr(ts.word, '\0', sizeof(ts.word)) != NULL);
        assert(ts.format == SG_FMT_TS || ts.format == SG_FMT_HLS || ts.format == SG_FMT_MP4);
        if (ts.kind == SG_REQ_CATCHUP) {
            assert(ts.start <= NOW + 60);
            assert(ts.duration >= 0 && ts.duration <= SG_TIMESPEC_MAX_DURATION);
        } else {
            assert(ts.kind == SG_REQ_LIVE && ts.start == 0 && ts.duration == 0);
        }
    }
    free(tail);
    free(query);
    return 0;
}
