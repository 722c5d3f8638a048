/*
 * libFuzzer target: the HLS playlist parser (core/hls/sg_m3u8.c). Every
 * playlist it accepts is checked for sane fields; the time parser gets the
 * same bytes too.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sg/m3u8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: reads past the end are caught */
    char *text = malloc(size ? size : 1);
    const char *why = NULL;
    sg_m3u8_t m;
    char buf[32];
    int64_t t;

    if (text == NULL) return 0;
    memcpy(text, data, size);
    if (sg_m3u8_parse(text, size, &m, &why) == 0) {
        assert(m.nsegs >= 0 && m.nvars >= 0 && !(m.master && m.nsegs));
        for (int i = 0; i < m.nsegs; i++) {
            assert(m.segs[i].uri && m.segs[i].uri[0] && m.segs[i].duration >= 0);
            assert(m.segs[i].seq == m.media_seq + i);
            assert(strlen(m.segs[i].uri) <= size);
        }
        for (int i = 0; i < m.nvars; i++) assert(m.vars[i].uri && m.vars[i].bandwidth >= 0);
        sg_m3u8_free(&m);
    } else {
        assert(why != NULL);
    }
    t = sg_m3u8_parse_time(text, size);
    if (t >= 0 && t < 253402300800000LL) {
        /* what parses prints back to an instant that parses to itself */
        sg_m3u8_format_time(t, buf, sizeof(buf));
        assert(sg_m3u8_parse_time(buf, strlen(buf)) == t);
    }
    free(text);
    return 0;
}
