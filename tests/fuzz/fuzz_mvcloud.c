/*
 * libFuzzer target: the appserver's cloud recording replies. The input is
 * read as a recordingList reply (every item written must carry a numeric
 * channel and programme id and a start in range) and as a getRecordingData
 * reply (strings NUL-terminated inside their buffers, numbers in range,
 * the URL an rtsp:// one).
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "mv_cloud.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
digits(const char *s)
{
    if (*s == '\0') return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_cloud_item_t it[4];
    mv_cloud_rec_t r;
    char why[64];
    const char *w = NULL;
    int skipped, dropped, n;

    n = mv_cloud_list((const char *)data, size, it, 4, &skipped, &dropped, &w);
    assert(n >= -1 && n <= 4);
    if (n < 0) assert(w != NULL);
    for (int i = 0; i < n; i++) {
        assert(digits(it[i].channel) && digits(it[i].pid));
        assert(it[i].begin >= 946684800 && it[i].begin <= 4102444800);
    }
    if (mv_cloud_data((const char *)data, size, &r, why, sizeof(why)) == 0) {
        assert(strncmp(r.url, "rtsp://", 7) == 0);
        assert(memchr(r.title, 0, sizeof(r.title)) && memchr(r.series, 0, sizeof(r.series)) &&
               memchr(r.genre, 0, sizeof(r.genre)));
        assert(r.duration >= 0 && r.duration < 86400 && r.age >= 0 && r.age <= 18);
        assert(r.season >= 0 && r.episode >= 0);
    } else {
        assert(memchr(why, 0, sizeof(why)));
    }
    return 0;
}
