/* HLS playlist parser: media and master playlists, times, bad input. */
#include <string.h>

#include "sg/m3u8.h"
#include "sg_test.h"

static int
parse(const char *text, sg_m3u8_t *m, const char **why)
{
    *why = NULL;
    return sg_m3u8_parse(text, strlen(text), m, why);
}

static void
test_media(void)
{
    const char *why;
    sg_m3u8_t m;
    /* a live playlist as packagers write it: CRLF, PDT, a discontinuity */
    const char *pl = "#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:2\r\n"
                     "#EXT-X-MEDIA-SEQUENCE:19888564\r\n"
                     "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T16:00:00.000Z\r\n"
                     "#EXTINF:2.000,\r\nc_19888564.ts\r\n"
                     "#EXTINF:1.960,title\r\nc_19888565.ts\r\n"
                     "#EXT-X-DISCONTINUITY\r\n"
                     "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T17:00:30.5+01:00\r\n"
                     "#EXT-X-UNKNOWN-TAG:whatever\r\n"
                     "#EXTINF:2,\r\nhttp://cdn.example/x/c_19888566.ts?t=1\r\n";
    CHECK_INT(parse(pl, &m, &why), 0);
    CHECK_INT(m.master, 0);
    CHECK_INT(m.version, 3);
    CHECK(m.target == 2.0);
    CHECK_INT(m.media_seq, 19888564);
    CHECK_INT(m.nsegs, 3);
    CHECK_STR(m.segs[0].uri, "c_19888564.ts");
    CHECK_INT(m.segs[0].seq, 19888564);
    CHECK_INT(m.segs[0].pdt_ms, 1795276800000LL);
    CHECK_INT(m.segs[0].disc, 0);
    CHECK(m.segs[1].duration > 1.959 && m.segs[1].duration < 1.961);
    CHECK_INT(m.segs[1].pdt_ms, -1);
    CHECK_INT(m.segs[2].seq, 19888566);
    CHECK_INT(m.segs[2].disc, 1);
    CHECK_INT(m.segs[2].pdt_ms, 1795276830500LL);
    CHECK_STR(m.segs[2].uri, "http://cdn.example/x/c_19888566.ts?t=1");
    CHECK_INT(m.endlist, 0);
    sg_m3u8_free(&m);

    CHECK_INT(parse("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-KEY:METHOD=AES-128,URI=\"k,1\","
                    "IV=0x01\n#EXTINF:4,\na.ts\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:4,\nb.ts\n"
                    "#EXT-X-ENDLIST\n",
                    &m, &why),
              0);
    CHECK_INT(m.vod, 1);
    CHECK_INT(m.endlist, 1);
    CHECK_INT(m.nsegs, 2);
    CHECK_INT(m.segs[0].key_method, SG_M3U8_KEY_AES128);
    CHECK_INT(m.segs[1].key_method, SG_M3U8_KEY_NONE);
    CHECK_INT(m.segs[0].seq, 0);
    sg_m3u8_free(&m);

    /* no segments yet is a valid playlist */
    CHECK_INT(parse("#EXTM3U\n#EXT-X-TARGETDURATION:6\n", &m, &why), 0);
    CHECK_INT(m.nsegs, 0);
    sg_m3u8_free(&m);
}

static void
test_master(void)
{
    const char *why;
    sg_m3u8_t m;
    const char *pl = "\xEF\xBB\xBF#EXTM3U\n"
                     "#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS=\"avc1.4d401e,mp4a.40.2\","
                     "RESOLUTION=320x180\nlow/index.m3u8\n"
                     "#EXT-X-STREAM-INF:RESOLUTION=640x360,BANDWIDTH=1200000\nhigh/index.m3u8\n";
    CHECK_INT(parse(pl, &m, &why), 0);
    CHECK_INT(m.master, 1);
    CHECK_INT(m.nvars, 2);
    CHECK_STR(m.vars[0].uri, "low/index.m3u8");
    CHECK_INT(m.vars[0].bandwidth, 400000);
    CHECK_INT(m.vars[0].width, 320);
    CHECK_INT(m.vars[1].bandwidth, 1200000);
    CHECK_INT(m.vars[1].height, 360);
    sg_m3u8_free(&m);
}

static void
test_bad(void)
{
    static const char *const bad[] = {
        "",
        "<html>502 Bad Gateway</html>",
        "#EXTM3U\n#EXTINF:abc,\na.ts\n",
        "#EXTM3U\n#EXTINF:2,\n",
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\na.ts\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:2,\na.ts\n",
        "#EXTM3U\n#EXT-X-KEY:URI=\"k\"\n",
    };
    {
        /* a NUL byte: not text (a URI would end early) */
        static const char nul[] = "#EXTM3U\n#EXTINF:2,\n\0a.ts\n";
        const char *why = NULL;
        sg_m3u8_t m;
        CHECK_INT(sg_m3u8_parse(nul, sizeof(nul) - 1, &m, &why), -1);
        CHECK(why != NULL);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        sg_m3u8_t m;
        if (parse(bad[i], &m, &why) == 0) {
            SG_FAIL("accepted bad playlist %zu", i);
            sg_m3u8_free(&m);
        } else {
            CHECK(why != NULL);
        }
    }
}

static void
test_times(void)
{
    char buf[32];
    CHECK_INT(sg_m3u8_parse_time("1970-01-01T00:00:00Z", 20), 0);
    CHECK_INT(sg_m3u8_parse_time("2024-02-29T23:59:59.999Z", 24), 1709251199999LL);
    CHECK_INT(sg_m3u8_parse_time("2026-11-21T17:00:00+0100", 24), 1795276800000LL);
    CHECK_INT(sg_m3u8_parse_time("2026-11-21T11:00:00-05:00", 25), 1795276800000LL);
    CHECK_INT(sg_m3u8_parse_time("2026-11-21T16:00:00", 19), -1);   /* no zone */
    CHECK_INT(sg_m3u8_parse_time("2026-02-30T16:00:00Z", 20), -1);  /* no such day */
    CHECK_INT(sg_m3u8_parse_time("2026-11-21T16:00:00.Z", 21), -1);
    CHECK_INT(sg_m3u8_parse_time("2026-11-21T16:00:00Zjunk", 24), -1);
    sg_m3u8_format_time(1795276830500LL, buf, sizeof(buf));
    CHECK_STR(buf, "2026-11-21T16:00:30.500Z");
    sg_m3u8_format_time(0, buf, sizeof(buf));
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
}

int
main(void)
{
    sg_test_current = "media";
    test_media();
    sg_test_current = "master";
    test_master();
    sg_test_current = "bad";
    test_bad();
    sg_test_current = "times";
    test_times();
    if (sg_test_failures) {
        fprintf(stderr, "%d failure(s)\n", sg_test_failures);
        return 1;
    }
    return 0;
}
