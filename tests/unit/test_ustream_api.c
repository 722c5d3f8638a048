/*
 * plugins/ustream's document parsers (us_api.c) on hand-built bytes shaped
 * like the service's: pages, registration, content.json, websocket frames,
 * the chunk plan.
 */
#include <stdlib.h>
#include <string.h>

#include "sg_test.h"
#include "us_api.h"

#define S(lit) lit, sizeof(lit) - 1

static void
test_target(void)
{
    us_target_t t;
    char why[256];
    CHECK_INT(us_target_parse("https://www.ustream.tv/channel/nasa-hd", "https://x", &t, why,
                              sizeof(why)),
              0);
    CHECK_STR(t.page, "https://www.ustream.tv/channel/nasa-hd");
    CHECK_STR(t.video, "");
    CHECK_INT(us_target_parse("http://h/recorded/123456?utm=1", "https://x", &t, why, sizeof(why)),
              0);
    CHECK_STR(t.video, "123456");
    CHECK_INT(us_target_parse("v100", "http://127.0.0.1:8/", &t, why, sizeof(why)), 0);
    CHECK_STR(t.page, "http://127.0.0.1:8/recorded/v100");
    CHECK_STR(t.video, "v100");
    CHECK_INT(us_target_parse("v100", "http://s", &t, why, sizeof(why)), 0);
    CHECK_STR(t.page, "http://s/recorded/v100");
    CHECK_INT(us_target_parse("http://h/whatever", "http://s", &t, why, sizeof(why)), -1);
    CHECK(strstr(why, "not a channel") != NULL);
    CHECK_INT(us_target_parse("a b", "http://s", &t, why, sizeof(why)), -1);
    CHECK_INT(us_target_parse("http://h/recorded/", "http://s", &t, why, sizeof(why)), -1);
    CHECK_INT(us_target_parse("", "http://s", &t, why, sizeof(why)), -1);
}

static void
test_page(void)
{
    char id[64];
    static const char page[] =
        "<!DOCTYPE html><html><head><meta charset=utf-8>"
        "<meta property=\"og:title\" content=\"NASA\">"
        "<meta name=\"ustream:channel_id\" content=\"6540154\">"
        "<script>var x = '<meta name=\"ustream:channel_id\" content=\"1\">';</script>"
        "</head><body><p>unclosed<div></body></html>";
    CHECK_INT(us_page_channel_id(S(page), id, sizeof(id)), 0);
    CHECK_STR(id, "6540154");
    CHECK_INT(us_page_channel_id(S("<html><head><meta name=x content=y></head></html>"), id,
                                 sizeof(id)),
              -1);
    /* a value that is not an id is not taken */
    CHECK_INT(us_page_channel_id(S("<meta name='ustream:channel_id' content='1 OR 1'>"), id,
                                 sizeof(id)),
              -1);
    CHECK_INT(us_page_channel_id(S(""), id, sizeof(id)), -1);
}

static void
test_registration(void)
{
    char why[256];
    char *h = us_reg_hash(S("{\"success\":true,\"hash\":{\"viewer\":\"ab\",\"sig\":\"cd\"}}"), why,
                          sizeof(why));
    CHECK_STR(h, "{\"viewer\":\"ab\",\"sig\":\"cd\"}");
    free(h);
    h = us_reg_hash(S("{\"hash\":\"plain\"}"), why, sizeof(why));
    CHECK_STR(h, "\"plain\"");
    free(h);
    CHECK(us_reg_hash(S("{\"success\":false,\"error\":\"name and email are required\"}"), why,
                      sizeof(why)) == NULL);
    CHECK_STR(why, "registration refused: name and email are required");
    CHECK(us_reg_hash(S("<html>"), why, sizeof(why)) == NULL);
    CHECK(strstr(why, "not a JSON object") != NULL);
}

static void
test_content(void)
{
    us_video_t *v;
    size_t n;
    char why[256];
    static const char js[] =
        "{\"exposedVariables\":{\"videosData\":{\"videos\":["
        "{\"id\":\"v100\",\"title\":\"Launch day\",\"createdAt\":1700000000,\"length\":60.1},"
        "{\"id\":123,\"title\":\"Numbers\"},"
        "{\"id\":\"bad id/../x\"},{\"title\":\"no id\"}]}}}";
    CHECK_INT(us_content_videos(S(js), &v, &n, why, sizeof(why)), 0);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(v[0].id, "v100");
        CHECK_STR(v[0].title, "Launch day");
        CHECK_INT(v[0].created, 1700000000);
        CHECK(v[0].length > 60 && v[0].length < 60.2);
        CHECK_STR(v[1].id, "123");
    }
    free(v);
    CHECK_INT(us_content_videos(S("{\"exposedVariables\":{\"videosData\":{\"videos\":[]}}}"), &v,
                                &n, why, sizeof(why)),
              0);
    CHECK_INT(n, 0);
    CHECK_INT(us_content_videos(S("{\"error\":\"registration required\"}"), &v, &n, why,
                                sizeof(why)),
              -1);
    CHECK_STR(why, "content.json: registration required");
}

static void
test_connect_and_urls(void)
{
    char *f = us_connect_frame("v1", "http://r/", "{\"a\":1}"), url[512];
    CHECK(f && strstr(f, "\"cmd\":\"connect\""));
    CHECK(f && strstr(f, "\"hash\":\"{\\\"a\\\":1}\""));
    CHECK(f && strstr(f, "\"isOffairRecorded\":true"));
    CHECK(f && strstr(f, "\"application\":\"recorded\""));
    free(f);
    CHECK_INT(us_ums_url("wss://r{rand}-1-{video}-recorded-wss-live.ums.ustream.tv/1/ustream", "77",
                         12345, url, sizeof(url)),
              0);
    {
        const char *r = url + strlen("wss://r");
        int seen = 0;
        CHECK(r[0] != '0');
        for (int i = 0; i < 8; i++) {
            CHECK(r[i] >= '0' && r[i] <= '9');
            CHECK(!(seen & (1 << (r[i] - '0'))));
            seen |= 1 << (r[i] - '0');
        }
        CHECK(strcmp(r + 8, "-1-77-recorded-wss-live.ums.ustream.tv/1/ustream") == 0);
    }
    CHECK_INT(us_ums_url("ws://h/{video}/{video}", "v", 1, url, sizeof(url)), 0);
    CHECK_STR(url, "ws://h/v/v");
    CHECK_INT(us_ums_url("ws://h/{video}", "v", 1, url, 8), -1);
    CHECK_INT(us_cluster_url("wss://a/1/ustream", "c2.example:443", url, sizeof(url)), 0);
    CHECK_STR(url, "wss://c2.example:443/1/ustream");
    CHECK_INT(us_cluster_url("ws://a", "127.0.0.1:9/c2", url, sizeof(url)), 0);
    CHECK_STR(url, "ws://127.0.0.1:9/c2/1/ustream");
    CHECK_INT(us_cluster_url("ws://a", "x y", url, sizeof(url)), -1);
}

static const char stream_frame[] =
    "{\"cmd\":\"moduleInfo\",\"args\":[{\"stream\":{\"streamFormats\":{"
    "\"mp4/segmented\":{\"contentAccess\":{\"accessList\":[{\"data\":{\"path\":\"x/mp4/\"}}]}},"
    "\"flv/segmented\":{\"contentAccess\":{\"accessList\":[{\"data\":{\"path\":\"v100/flv/\"}}]},"
    "\"chunkId\":0,\"chunkTime\":6000,\"duration\":60.02,"
    "\"hashes\":{\"8\":\"h8\",\"0\":\"h0\",\"4\":\"h4\"},"
    "\"streams\":[{\"preset\":\"mobile\",\"segmentUrl\":\"m/%_%.flv\"},"
    "{\"preset\":\"original\",\"segmentUrl\":\"o/%_%.flv\"}]}}}}]}";

static void
test_frames(void)
{
    us_stream_t st;
    char msg[512], url[512];

    memset(&st, 0, sizeof(st));
    CHECK_INT(us_frame(S("{\"cmd\":\"tracking\",\"args\":[{\"host\":\"h\"}]}"), "c/", "original",
                       &st, msg, sizeof(msg)),
              US_FRAME_OTHER);
    CHECK_INT(us_frame(S("{\"cmd\":\"moduleInfo\",\"args\":[{\"cdnConfig\":{}}]}"), "c/",
                       "original", &st, msg, sizeof(msg)),
              US_FRAME_OTHER);
    CHECK_INT(us_frame(S("{\"cmd\":\"reject\",\"args\":[{\"cluster\":{\"name\":\"c2\",\"host\":"
                         "\"h2:1/c2\"}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_CLUSTER);
    CHECK_STR(msg, "h2:1/c2");
    /* a redirect to nowhere is a reject with a reason (found by the fuzzer) */
    CHECK_INT(us_frame(S("{\"cmd\":\"reject\",\"args\":[{\"cluster\":{\"host\":\"\"}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_REJECT);
    CHECK_STR(msg, "rejected: a cluster redirect without a host");
    CHECK_INT(us_frame(S("{\"cmd\":\"reject\",\"args\":[{\"geoLock\":{\"countryCode\":\"ES\","
                         "\"message\":\"not here\"}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_REJECT);
    CHECK_STR(msg, "geo-locked: not here");
    CHECK_INT(us_frame(S("{\"cmd\":\"reject\",\"args\":[{\"nonexistent\":true}]}"), "c/",
                       "original", &st, msg, sizeof(msg)),
              US_FRAME_REJECT);
    CHECK(strstr(msg, "does not exist") != NULL);
    CHECK_INT(us_frame(S("{\"cmd\":\"reject\",\"args\":[{\"odd\":1}]}"), "c/", "original", &st, msg,
                       sizeof(msg)),
              US_FRAME_REJECT);
    CHECK_STR(msg, "rejected: {\"odd\":1}");
    CHECK_INT(us_frame(S("{\"cmd\":\"warning\",\"args\":[{\"code\":\"W1\",\"message\":\"m\"}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_WARNING);
    CHECK_STR(msg, "W1: m");
    CHECK_INT(us_frame(S("not json"), "c/", "original", &st, msg, sizeof(msg)), US_FRAME_BAD);
    /* a preset the stream does not have: named, with what it has */
    CHECK_INT(us_frame(S(stream_frame), "c/", "hd", &st, msg, sizeof(msg)), US_FRAME_BAD);
    CHECK_STR(msg, "no \"hd\" preset in the stream (it has: mobile, original)");

    CHECK_INT(us_frame(S(stream_frame), "http://cdn/", "original", &st, msg, sizeof(msg)),
              US_FRAME_STREAM);
    CHECK_STR(st.base, "http://cdn/v100/flv/");
    CHECK_INT(st.nkeys, 3);
    CHECK_INT(st.chunk_ms, 6000);
    CHECK_INT(us_stream_first(&st), 0);
    /* 60.02 s of 6 s chunks: 10 planned; the sliver past 60 s is probed */
    CHECK_INT(us_stream_planned(&st), 10);
    CHECK_STR(us_stream_hash(&st, 0), "h0");
    CHECK_STR(us_stream_hash(&st, 3), "h0");
    CHECK_STR(us_stream_hash(&st, 4), "h4");
    /* the last key covers every chunk after it */
    CHECK_STR(us_stream_hash(&st, 8), "h8");
    CHECK_STR(us_stream_hash(&st, 9), "h8");
    CHECK_STR(us_stream_hash(&st, 1000), "h8");
    CHECK_INT(us_chunk_url(&st, 9, url, sizeof(url)), 0);
    CHECK_STR(url, "http://cdn/v100/flv/o/9_h8.flv");
    CHECK_INT(us_chunk_url(&st, 9, url, 20), -1);
    st.duration = 66.5;
    CHECK_INT(us_stream_planned(&st), 11);
    st.duration = 0.4;
    CHECK_INT(us_stream_planned(&st), 1);
    st.chunk_ms = 0;
    CHECK_INT(us_stream_planned(&st), 0);
    us_stream_free(&st);

    /* keys that do not start at 0: nothing before the first */
    CHECK_INT(us_frame(S("{\"cmd\":\"moduleInfo\",\"args\":[{\"stream\":{\"streamFormats\":{"
                         "\"flv/segmented\":{\"contentAccess\":{\"accessList\":[{\"data\":{"
                         "\"path\":\"p/\"}}]},\"hashes\":{\"20\":\"a\",\"30\":\"b\"},"
                         "\"streams\":[{\"preset\":\"original\",\"segmentUrl\":\"%-%\"}]}}}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_STREAM);
    CHECK_INT(us_stream_first(&st), 20);
    CHECK(us_stream_hash(&st, 19) == NULL);
    CHECK_INT(us_chunk_url(&st, 19, url, sizeof(url)), -1);
    CHECK_INT(us_stream_planned(&st), 0);
    us_stream_free(&st);

    /* malformed hash lists and templates are refused with a reason */
    CHECK_INT(us_frame(S("{\"cmd\":\"moduleInfo\",\"args\":[{\"stream\":{\"streamFormats\":{"
                         "\"flv/segmented\":{\"contentAccess\":{\"accessList\":[{\"data\":{"
                         "\"path\":\"p/\"}}]},\"hashes\":{\"x\":\"a\"},"
                         "\"streams\":[{\"preset\":\"original\",\"segmentUrl\":\"%-%\"}]}}}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_BAD);
    CHECK(strstr(msg, "malformed") != NULL);
    CHECK_INT(us_frame(S("{\"cmd\":\"moduleInfo\",\"args\":[{\"stream\":{\"streamFormats\":{"
                         "\"flv/segmented\":{\"contentAccess\":{\"accessList\":[{\"data\":{"
                         "\"path\":\"p/\"}}]},\"hashes\":{\"0\":\"a\"},"
                         "\"streams\":[{\"preset\":\"original\",\"segmentUrl\":\"one%\"}]}}}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_BAD);
    CHECK(strstr(msg, "placeholders") != NULL);
    CHECK_INT(us_frame(S("{\"cmd\":\"moduleInfo\",\"args\":[{\"stream\":{\"streamFormats\":{"
                         "\"mp4/segmented\":{}}}}]}"),
                       "c/", "original", &st, msg, sizeof(msg)),
              US_FRAME_BAD);
    CHECK(strstr(msg, "flv/segmented") != NULL);
}

static void
test_safe_name(void)
{
    char out[32];
    us_safe_name("Launch day", out, sizeof(out));
    CHECK_STR(out, "Launch day");
    us_safe_name("../a/b\n", out, sizeof(out));
    CHECK_STR(out, "a b");
    us_safe_name("...", out, sizeof(out));
    CHECK_STR(out, "video");
    /* cut on a UTF-8 boundary: "ñ" is 2 bytes */
    us_safe_name("aaaaaaaaañ", out, 11);
    CHECK_STR(out, "aaaaaaaaa");
    us_safe_name("aaaaaaaañ", out, 11);
    CHECK_STR(out, "aaaaaaaañ");
}

int
main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"target", test_target},   {"page", test_page},
        {"registration", test_registration}, {"content", test_content},
        {"connect_and_urls", test_connect_and_urls}, {"frames", test_frames},
        {"safe_name", test_safe_name},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        sg_test_current = tests[i].name;
        tests[i].fn();
    }
    if (sg_test_failures) {
        fprintf(stderr, "%d failure(s)\n", sg_test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
