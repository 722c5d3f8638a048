/*
 * libFuzzer target: plugins/ustream's document parsers (us_api.c). The
 * first byte picks the parser: the page, the registration reply,
 * content.json or a websocket frame; a stream that parses must give a hash
 * and a URL for every chunk from its first key, and a plan that fits.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "us_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;
    char out[256], why[256];

    if (size < 1) return 0;
    size--;
    switch (data[0] % 4) {
    case 0:
        if (us_page_channel_id(s, size, out, sizeof(out)) == 0) assert(out[0] != '\0');
        break;
    case 1: {
        char *h = us_reg_hash(s, size, why, sizeof(why));
        assert(h != NULL || why[0] != '\0');
        free(h);
        break;
    }
    case 2: {
        us_video_t *v;
        size_t n;
        if (us_content_videos(s, size, &v, &n, why, sizeof(why)) == 0) {
            for (size_t i = 0; i < n; i++) assert(v[i].id[0] != '\0');
            free(v);
        }
        break;
    }
    default: {
        us_stream_t st;
        char url[4096];
        int k = us_frame(s, size, "http://cdn/", "original", &st, why, sizeof(why));
        if (k == US_FRAME_STREAM) {
            int64_t f = us_stream_first(&st), p = us_stream_planned(&st);
            assert(st.nkeys > 0 && p >= 0);
            for (int64_t c = f; c < f + 40; c++) {
                assert(us_stream_hash(&st, c) != NULL);
                assert(us_chunk_url(&st, c, url, sizeof(url)) == 0);
                assert(strncmp(url, "http://cdn/", 11) == 0);
            }
            assert(us_stream_hash(&st, f - 1) == NULL);
            us_stream_free(&st);
        } else if (k == US_FRAME_BAD || k == US_FRAME_REJECT || k == US_FRAME_CLUSTER) {
            assert(why[0] != '\0');
        }
        break;
    }
    }
    return 0;
}
