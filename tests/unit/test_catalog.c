/* The catalog: transactions applied on the worker, channel ids (collisions,
 * reserved words, replacement), programme overlap repair, retention, the
 * M3U and XMLTV outputs, persistence, corrupt databases and the kv store. */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "catalog/sg_catalog.h"
#include "sg_test.h"
#include "util/sg_util.h"

#define BASE_URL "http://h:8888"

static struct event_base *g_base;
static char g_dir[64];       /* state dir of the shared catalog */
static sg_catalog_t *g_cat;
static int64_t g_t0;         /* an hour boundary, an hour ago */

/* ---- event-loop helpers ------------------------------------------------------------ */

static void
tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until *flag is set or 10 s pass. */
static int
run_until(const int *flag)
{
    uint64_t deadline = sg_mono_ms() + 10000;
    while (!*flag && sg_mono_ms() < deadline) event_base_loop(g_base, EVLOOP_ONCE);
    if (!*flag) SG_FAIL("timed out waiting for a callback");
    return *flag;
}

typedef struct {
    int called;
    int rc;
} commit_wait_t;

static void
on_commit(void *arg, int rc)
{
    commit_wait_t *w = arg;
    w->called++;
    w->rc = rc;
}

/* Commit t and wait for its done callback; returns its rc. */
static int
commit(sg_txn_t *t)
{
    commit_wait_t w = {0, 12345};
    if (sg_txn_commit(t, on_commit, &w) != SG_OK) {
        SG_FAIL("sg_txn_commit refused the transaction");
        return SG_ERROR;
    }
    run_until(&w.called);
    CHECK_INT(w.called, 1);
    return w.rc;
}

typedef struct {
    int called;
    sg_guide_t *g;
} guide_wait_t;

static void
on_guide(sg_guide_t *g, void *arg)
{
    guide_wait_t *w = arg;
    w->called++;
    w->g = g;
}

/* A guide (SG_GUIDE_*) for base, waiting for the render when needed
 * (caller unrefs). */
static sg_guide_t *
guide_of(sg_catalog_t *c, int kind, const char *base)
{
    guide_wait_t w = {0, NULL};
    sg_catalog_guide(c, kind, base, on_guide, &w);
    run_until(&w.called);
    CHECK_INT(w.called, 1);
    return w.g;
}

static sg_guide_t *
guide(sg_catalog_t *c, const char *base)
{
    return guide_of(c, SG_GUIDE_MAIN, base);
}

/* The guide's XML, read through its fd (NUL-terminated; caller frees). */
static char *
guide_xml(const sg_guide_t *g)
{
    char *s = malloc((size_t)g->xml_len + 1);
    if (s == NULL) return NULL;
    if (pread(g->xml_fd, s, (size_t)g->xml_len, 0) != (ssize_t)g->xml_len) {
        SG_FAIL("pread of the guide failed");
        free(s);
        return NULL;
    }
    s[g->xml_len] = '\0';
    return s;
}

/* The rendered guide with the shared base URL, as text. */
static char *
current_xml(void)
{
    sg_guide_t *g = guide(g_cat, BASE_URL);
    char *s = g ? guide_xml(g) : NULL;
    sg_guide_unref(g);
    return s;
}

static char *
m3u(sg_catalog_t *c, const char *base)
{
    struct evbuffer *b = evbuffer_new();
    char *s;
    sg_catalog_m3u(c, base, b);
    s = sg_test_drain(b);
    evbuffer_free(b);
    return s;
}

/* A programme on channel ch of [start, start + dur). */
static sg_programme_t
prog(const char *ch, int64_t start, int64_t dur, const char *title)
{
    sg_programme_t p = {.channel = ch, .start = start, .stop = start + dur, .title = title};
    return p;
}

/* "Morning News" on channel 1 with every optional field set. */
static sg_programme_t
full_prog(int64_t start)
{
    sg_programme_t p = prog("1", start, 3600, "Morning News");
    p.sub_title = "Headlines";
    p.description = "The day's <news> & \"views\".";
    p.season = 2;
    p.episode = 5;
    p.year = 2024;
    p.genre = "News";
    p.age_rating = 12;
    p.icon = "/img/p.png";
    return p;
}

/* ---- transactions -------------------------------------------------------------------- */

static void
test_publish(void)
{
    sg_channel_t one = {.id = "1", .name = "One", .number = 1, .logo = "/Logos/1.png",
                        .groups = "News;HD", .caps = SG_CAP_LIVE | SG_CAP_CATCHUP,
                        .catchup_days = 7};
    sg_channel_t two = {.id = "2", .tvg_id = "two.tv", .name = "Two", .number = 2,
                        .logo = "http://img.example/2.png", .caps = SG_CAP_LIVE,
                        .catchup_days = -3};
    sg_programme_t news = full_prog(g_t0);
    sg_programme_t midday = prog("1", g_t0 + 3600, 3600, "Midday");
    sg_programme_t film = prog("2", g_t0, 7200, "Film");
    sg_programme_t orphan = prog("nope", g_t0, 60, "For an unknown channel");
    uint64_t v0 = sg_catalog_version(g_cat);
    const sg_chan_t *ch;
    sg_txn_t *t;

    news.pid = "p-1";

    CHECK_INT(sg_catalog_nchannels(g_cat), 0);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), 0);
    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK(t != NULL);
    if (t == NULL) return;
    sg_txn_set_owner(t, &v0);
    CHECK(sg_txn_owner(t) == &v0);
    CHECK_INT(sg_txn_channel(t, &one), SG_OK);
    CHECK_INT(sg_txn_channel(t, &two), SG_OK);
    CHECK_INT(sg_txn_programme(t, &news), SG_OK);
    CHECK_INT(sg_txn_programme(t, &midday), SG_OK);
    CHECK_INT(sg_txn_programme(t, &film), SG_OK);
    CHECK_INT(sg_txn_programme(t, &orphan), SG_OK); /* accepted, skipped when applied */
    /* refused at once */
    {
        sg_channel_t bad_id = {.id = "bad id", .name = "X"};
        sg_channel_t slash = {.id = "a/b", .name = "X"};
        sg_channel_t no_id = {.name = "X"};
        sg_channel_t no_name = {.id = "x"};
        sg_channel_t empty_name = {.id = "x", .name = ""};
        sg_programme_t backwards = prog("1", g_t0, -60, "Backwards");
        sg_programme_t empty = prog("1", g_t0, 0, "Empty");
        sg_programme_t untitled = prog("1", g_t0, 60, "");
        sg_programme_t no_title = prog("1", g_t0, 60, NULL);
        sg_programme_t no_channel = prog(NULL, g_t0, 60, "T");
        CHECK_INT(sg_txn_channel(t, &bad_id), SG_ERROR);
        CHECK_INT(sg_txn_channel(t, &slash), SG_ERROR);
        CHECK_INT(sg_txn_channel(t, &no_id), SG_ERROR);
        CHECK_INT(sg_txn_channel(t, &no_name), SG_ERROR);
        CHECK_INT(sg_txn_channel(t, &empty_name), SG_ERROR);
        CHECK_INT(sg_txn_programme(t, &backwards), SG_ERROR);
        CHECK_INT(sg_txn_programme(t, &empty), SG_ERROR);
        CHECK_INT(sg_txn_programme(t, &untitled), SG_ERROR);
        CHECK_INT(sg_txn_programme(t, &no_title), SG_ERROR);
        CHECK_INT(sg_txn_programme(t, &no_channel), SG_ERROR);
    }
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_busy(g_cat), 0);
    CHECK_INT(sg_catalog_version(g_cat), v0 + 1);
    CHECK_INT(sg_catalog_nchannels(g_cat), 2);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "a"), 2);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "b"), 0);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), 3);

    ch = sg_catalog_channel(g_cat, "1");
    CHECK(ch != NULL);
    if (ch) {
        CHECK_STR(ch->id, "1");
        CHECK_STR(ch->plugin, "a");
        CHECK_STR(ch->provider_id, "1");
        CHECK_STR(ch->tvg_id, "1.a"); /* NULL: "<id>.<plugin>" */
        CHECK_STR(ch->name, "One");
        CHECK_INT(ch->number, 1);
        CHECK_STR(ch->logo, "/Logos/1.png");
        CHECK_STR(ch->groups, "News;HD");
        CHECK_INT(ch->caps, SG_CAP_LIVE | SG_CAP_CATCHUP);
        CHECK_INT(ch->catchup_days, 7);
    }
    ch = sg_catalog_channel(g_cat, "2");
    CHECK(ch != NULL);
    if (ch) {
        CHECK_STR(ch->tvg_id, "two.tv");
        CHECK_INT(ch->catchup_days, 0); /* negative: none */
        CHECK(ch->groups == NULL);
    }
    CHECK(sg_catalog_channel(g_cat, "3") == NULL);
    CHECK(sg_catalog_channel(g_cat, "") == NULL);
    CHECK_STR(sg_catalog_channel_at(g_cat, 0)->id, "1");
    CHECK_STR(sg_catalog_channel_at(g_cat, 1)->id, "2");
    CHECK(sg_catalog_channel_at(g_cat, 2) == NULL);

    /* an aborted transaction changes nothing */
    t = sg_catalog_begin(g_cat, "a", SG_TXN_REPLACE_CHANNELS);
    CHECK(t != NULL);
    sg_txn_abort(t);
    sg_txn_abort(NULL);
    CHECK_INT(sg_catalog_nchannels(g_cat), 2);
    CHECK_INT(sg_catalog_version(g_cat), v0 + 1);
}

static void
test_collisions(void)
{
    static const char *const reserved[] = {"api", "guide.xml", NULL};
    sg_channel_t b1 = {.id = "1", .name = "B One", .number = 10};
    sg_channel_t b3 = {.id = "3", .name = "Three"};
    sg_channel_t c1 = {.id = "1", .name = "C One"};
    sg_channel_t cb1 = {.id = "b-1", .name = "C as b-1"};
    sg_channel_t api = {.id = "api", .name = "Api TV"};
    sg_channel_t guide_ch = {.id = "guide.xml", .name = "Guide"};
    const sg_chan_t *ch;
    sg_txn_t *t;

    t = sg_catalog_begin(g_cat, "b", 0);
    CHECK_INT(sg_txn_channel(t, &b1), SG_OK);
    CHECK_INT(sg_txn_channel(t, &b3), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    ch = sg_catalog_channel(g_cat, "b-1");
    CHECK(ch != NULL);
    if (ch) {
        CHECK_STR(ch->plugin, "b");
        CHECK_STR(ch->provider_id, "1");
        CHECK_STR(ch->name, "B One");
        CHECK_STR(ch->tvg_id, "1.b");
    }
    CHECK_STR(sg_catalog_channel(g_cat, "1")->plugin, "a");
    CHECK_STR(sg_catalog_channel(g_cat, "3")->plugin, "b");

    /* published again: the stored id stays */
    b1.name = "B One HD";
    t = sg_catalog_begin(g_cat, "b", 0);
    CHECK_INT(sg_txn_channel(t, &b1), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_STR(sg_catalog_channel(g_cat, "b-1")->name, "B One HD");
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "b"), 2);

    /* a third plugin; and an id that is some other channel's renamed id */
    t = sg_catalog_begin(g_cat, "c", 0);
    CHECK_INT(sg_txn_channel(t, &c1), SG_OK);
    CHECK_INT(sg_txn_channel(t, &cb1), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_STR(sg_catalog_channel(g_cat, "c-1")->name, "C One");
    CHECK_STR(sg_catalog_channel(g_cat, "b-1")->plugin, "b");
    CHECK_STR(sg_catalog_channel(g_cat, "c-b-1")->name, "C as b-1");

    /* route words */
    sg_catalog_set_reserved(g_cat, reserved);
    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK_INT(sg_txn_channel(t, &api), SG_OK);
    CHECK_INT(sg_txn_channel(t, &guide_ch), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK(sg_catalog_channel(g_cat, "api") == NULL);
    CHECK(sg_catalog_channel(g_cat, "guide.xml") == NULL);
    CHECK_STR(sg_catalog_channel(g_cat, "a-api")->name, "Api TV");
    CHECK_STR(sg_catalog_channel(g_cat, "a-guide.xml")->name, "Guide");
    sg_catalog_set_reserved(g_cat, NULL);
    CHECK_INT(sg_catalog_nchannels(g_cat), 8);
}

/* The titles of channel ch in the guide, in order, as "a|b|c". */
static void
titles_of(const char *xml, const char *tvg_id, char *out, size_t n)
{
    char attr[128];
    const char *p = xml;
    out[0] = '\0';
    snprintf(attr, sizeof(attr), "channel=\"%s\">", tvg_id);
    while ((p = strstr(p, attr)) != NULL) {
        const char *t = strstr(p, "<title>"), *e;
        if (t == NULL) break;
        t += 7;
        e = strstr(t, "</title>");
        if (e == NULL) break;
        if (out[0]) strncat(out, "|", n - strlen(out) - 1);
        strncat(out, t, SG_MIN((size_t)(e - t), n - strlen(out) - 1));
        p = e;
    }
}

static void
test_overlap(void)
{
    sg_programme_t special = prog("1", g_t0 + 1800, 3600, "Special");
    sg_programme_t late = prog("1", g_t0 + 7200, 1800, "Late");
    sg_programme_t same = prog("2", g_t0, 7200, "Film (restored)");
    char *xml, titles[512];
    int64_t before = sg_catalog_nprogrammes(g_cat);
    sg_txn_t *t;

    xml = current_xml();
    CHECK(xml != NULL);
    if (xml) {
        titles_of(xml, "1.a", titles, sizeof(titles));
        CHECK_STR(titles, "Morning News|Midday");
    }
    free(xml);

    /* [t0+30m, t0+90m) overlaps both [t0, t0+1h) and [t0+1h, t0+2h) */
    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK_INT(sg_txn_programme(t, &special), SG_OK);
    CHECK_INT(sg_txn_programme(t, &late), SG_OK); /* adjacent: nothing replaced */
    CHECK_INT(sg_txn_programme(t, &same), SG_OK); /* same slot: replaced */
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), before - 2 + 2 - 1 + 1);

    xml = current_xml();
    CHECK(xml != NULL);
    if (xml) {
        titles_of(xml, "1.a", titles, sizeof(titles));
        CHECK_STR(titles, "Special|Late");
        titles_of(xml, "two.tv", titles, sizeof(titles));
        CHECK_STR(titles, "Film (restored)");
    }
    free(xml);
}

static void
test_replace_channels(void)
{
    sg_channel_t x = {.id = "x", .name = "X"}, y = {.id = "y", .name = "Y"},
                 z = {.id = "z", .name = "Z"};
    sg_channel_t other_y = {.id = "y", .name = "Other Y"};
    sg_programme_t py = prog("y", g_t0, 600, "On Y");
    int64_t progs;
    sg_txn_t *t;

    t = sg_catalog_begin(g_cat, "r", SG_TXN_REPLACE_CHANNELS);
    CHECK_INT(sg_txn_channel(t, &x), SG_OK);
    CHECK_INT(sg_txn_channel(t, &y), SG_OK);
    CHECK_INT(sg_txn_channel(t, &z), SG_OK);
    CHECK_INT(sg_txn_programme(t, &py), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "r"), 3);
    progs = sg_catalog_nprogrammes(g_cat);

    /* y is not published this round: it goes, with its programmes */
    t = sg_catalog_begin(g_cat, "r", SG_TXN_REPLACE_CHANNELS);
    CHECK_INT(sg_txn_channel(t, &x), SG_OK);
    CHECK_INT(sg_txn_channel(t, &z), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "r"), 2);
    CHECK(sg_catalog_channel(g_cat, "y") == NULL);
    CHECK(sg_catalog_channel(g_cat, "x") != NULL);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), progs - 1);

    /* without the flag nothing is removed */
    t = sg_catalog_begin(g_cat, "r", 0);
    CHECK_INT(sg_txn_channel(t, &x), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "r"), 2);

    /* the id of a channel that went away is still kept for it */
    t = sg_catalog_begin(g_cat, "s", 0);
    CHECK_INT(sg_txn_channel(t, &other_y), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK(sg_catalog_channel(g_cat, "y") == NULL);
    CHECK_STR(sg_catalog_channel(g_cat, "s-y")->name, "Other Y");

    /* y comes back under the same id, with its past programmes */
    t = sg_catalog_begin(g_cat, "r", SG_TXN_REPLACE_CHANNELS);
    CHECK_INT(sg_txn_channel(t, &x), SG_OK);
    CHECK_INT(sg_txn_channel(t, &y), SG_OK);
    CHECK_INT(sg_txn_channel(t, &z), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "r"), 3);
    CHECK(sg_catalog_channel(g_cat, "y") != NULL);
    if (sg_catalog_channel(g_cat, "y")) CHECK_STR(sg_catalog_channel(g_cat, "y")->plugin, "r");
    CHECK_INT(sg_catalog_nprogrammes(g_cat), progs);

    /* replacing with nothing empties the plugin */
    t = sg_catalog_begin(g_cat, "s", SG_TXN_REPLACE_CHANNELS);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nchannels_of(g_cat, "s"), 0);
}

static void
test_clean_utf8(void)
{
    sg_channel_t bad = {.id = "u", .name = "Caf\xe9 \x01TV\xed\xa0\x80"};
    sg_programme_t p = prog("u", g_t0, 600, "Caf\xe9 \x01Noir\xc3");
    char *xml, titles[256];
    sg_txn_t *t;

    p.description = "line1\nline2\x7f\x1b";
    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK_INT(sg_txn_channel(t, &bad), SG_OK);
    CHECK_INT(sg_txn_programme(t, &p), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK(sg_catalog_channel(g_cat, "u") != NULL);
    if (sg_catalog_channel(g_cat, "u")) {
        CHECK_STR(sg_catalog_channel(g_cat, "u")->name,
                  "Caf\xef\xbf\xbd TV\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    }
    xml = current_xml();
    CHECK(xml != NULL);
    if (xml) {
        titles_of(xml, "u.a", titles, sizeof(titles));
        CHECK_STR(titles, "Caf\xef\xbf\xbd Noir\xef\xbf\xbd");
        CHECK(strstr(xml, "<desc>line1\nline2\x7f</desc>") != NULL);
        CHECK(strstr(xml, "<display-name>Caf\xef\xbf\xbd TV") != NULL);
    }
    free(xml);
}

static void
test_retention(void)
{
    int64_t now = (int64_t)time(NULL);
    sg_programme_t old = prog("2", now - 9 * 86400, 3600, "Nine days ago");
    sg_programme_t kept = prog("2", now - 7 * 86400, 3600, "Seven days ago");
    int64_t before = sg_catalog_nprogrammes(g_cat);
    char *xml;
    sg_txn_t *t;

    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK_INT(sg_txn_programme(t, &old), SG_OK);
    CHECK_INT(sg_txn_programme(t, &kept), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), before + 1);
    xml = current_xml();
    CHECK(xml != NULL);
    if (xml) {
        CHECK(strstr(xml, "Seven days ago") != NULL);
        CHECK(strstr(xml, "Nine days ago") == NULL);
    }
    free(xml);
}

/* ---- the guide ----------------------------------------------------------------------------- */

static int
have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static void
test_guide(void)
{
    char path[PATH_MAX], gzpath[PATH_MAX], start[32], stop[32], frag[512], etag[48];
    sg_guide_t *g, *again;
    char *xml, *unz;
    struct stat st;
    gzFile gz;
    int n;

    g = guide(g_cat, BASE_URL);
    CHECK(g != NULL);
    if (g == NULL) return;
    xml = guide_xml(g);
    CHECK(xml != NULL);
    if (xml == NULL) {
        sg_guide_unref(g);
        return;
    }
    CHECK_STR(g->base, BASE_URL);
    CHECK_INT(g->version, sg_catalog_version(g_cat));
    CHECK_INT(g->programmes, sg_catalog_nprogrammes(g_cat));
    CHECK(g->generated > 0 && g->gz_len > 0 && g->gz_len < g->xml_len);
    CHECK(sg_has_prefix(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv"));
    CHECK(strstr(xml, "SYSTEM \"xmltv.dtd\">\n<tv date=\"") != NULL);
    CHECK(strstr(xml, "source-info-name=\"streamgate\" generator-info-name=\"streamgate/") != NULL);
    CHECK(strstr(xml, "  <channel id=\"1.a\">\n"
                      "    <display-name>One</display-name>\n"
                      "    <icon src=\"" BASE_URL "/Logos/1.png\"/>\n"
                      "  </channel>\n") != NULL);
    CHECK(strstr(xml, "  <channel id=\"two.tv\">\n"
                      "    <display-name>Two</display-name>\n"
                      "    <icon src=\"http://img.example/2.png\"/>\n"
                      "  </channel>\n") != NULL);
    CHECK(strstr(xml, "  <channel id=\"1.b\">\n"
                      "    <display-name>B One HD</display-name>\n"
                      "  </channel>\n") != NULL);
    /* the full programme from test_publish was replaced; publish one more */
    sg_xmltv_time(g_t0 + 86400, start, sizeof(start));
    sg_xmltv_time(g_t0 + 86400 + 3600, stop, sizeof(stop));
    CHECK_INT(strlen(start), 20);
    sg_guide_unref(g);
    free(xml);

    {
        sg_programme_t full = full_prog(g_t0 + 86400);
        sg_txn_t *t = sg_catalog_begin(g_cat, "a", 0);
        CHECK_INT(sg_txn_programme(t, &full), SG_OK);
        CHECK_INT(commit(t), SG_OK);
    }
    g = guide(g_cat, BASE_URL);
    CHECK(g != NULL);
    if (g == NULL) return;
    xml = guide_xml(g);
    CHECK(xml != NULL);
    if (xml == NULL) {
        sg_guide_unref(g);
        return;
    }
    snprintf(frag, sizeof(frag),
             "  <programme start=\"%s\" stop=\"%s\" channel=\"1.a\">\n"
             "    <title>Morning News</title>\n"
             "    <sub-title>Headlines</sub-title>\n"
             "    <desc>The day's &lt;news&gt; &amp; &quot;views&quot;.</desc>\n"
             "    <date>2024</date>\n"
             "    <category>News</category>\n"
             "    <icon src=\"" BASE_URL "/img/p.png\"/>\n"
             "    <episode-num system=\"xmltv_ns\">1.4.</episode-num>\n"
             "    <rating>\n"
             "      <value>12</value>\n"
             "    </rating>\n"
             "  </programme>\n",
             start, stop);
    if (strstr(xml, frag) == NULL) SG_FAIL("programme not found in the guide:\n%s\n%s", frag, xml);
    CHECK(sg_has_suffix(xml, "</tv>\n"));

    /* the files in state_dir hold this version */
    snprintf(path, sizeof(path), "%s/guide.xml", g_dir);
    snprintf(gzpath, sizeof(gzpath), "%s/guide.xml.gz", g_dir);
    CHECK(stat(path, &st) == 0 && st.st_size == g->xml_len);
    CHECK(stat(gzpath, &st) == 0 && st.st_size == g->gz_len);
    unz = malloc((size_t)g->xml_len + 2);
    gz = gzopen(gzpath, "rb");
    CHECK(gz != NULL && unz != NULL);
    if (gz && unz) {
        n = gzread(gz, unz, (unsigned)g->xml_len + 1);
        CHECK_INT(n, g->xml_len);
        CHECK(n == g->xml_len && memcmp(unz, xml, (size_t)n) == 0);
    }
    if (gz) gzclose(gz);
    free(unz);
    {
        char want[48];
        snprintf(want, sizeof(want), "\"%08lx-%llx\"",
                 (unsigned long)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)xml, (uInt)g->xml_len),
                 (unsigned long long)g->xml_len);
        CHECK_STR(g->etag, want);
        want[strlen(want) - 1] = '\0';
        strcat(want, "-gz\"");
        CHECK_STR(g->etag_gz, want);
    }

    /* the DTD agrees, when the tools are there */
    if (!have_tool("xmllint") || access("/usr/share/xmltv/xmltv.dtd", R_OK) != 0) {
        printf("note: xmllint or /usr/share/xmltv/xmltv.dtd missing, guide not validated\n");
    } else {
        char cmd[3 * PATH_MAX], log[PATH_MAX];
        int rc;
        /* its output (a warning about the relative DTD name) only on failure */
        snprintf(log, sizeof(log), "%s/xmllint.log", g_dir);
        snprintf(cmd, sizeof(cmd),
                 "xmllint --noout --nonet --dtdvalid /usr/share/xmltv/xmltv.dtd %s >%s 2>&1", path,
                 log);
        rc = system(cmd);
        if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0)) {
            snprintf(cmd, sizeof(cmd), "cat %s >&2", log);
            if (system(cmd) != 0) fprintf(stderr, "(no xmllint output)\n");
            SG_FAIL("xmllint rejected %s", path);
        }
        unlink(log);
    }

    /* cached: served at once, the same guide */
    {
        guide_wait_t w = {0, NULL};
        CHECK(sg_catalog_guide(g_cat, SG_GUIDE_MAIN, BASE_URL, on_guide, &w) == NULL);
        CHECK_INT(w.called, 1);
        CHECK(w.g == g);
        CHECK_INT(g->refs, 3); /* the catalog's, ours, this one */
        sg_guide_unref(w.g);
    }

    /* a commit makes a new version with a new etag; ours stays readable */
    snprintf(etag, sizeof(etag), "%s", g->etag);
    {
        sg_programme_t more = prog("2", g_t0 + 86400, 600, "Late addition");
        sg_txn_t *t = sg_catalog_begin(g_cat, "a", 0);
        CHECK_INT(sg_txn_programme(t, &more), SG_OK);
        CHECK_INT(commit(t), SG_OK);
    }
    again = guide(g_cat, BASE_URL);
    CHECK(again != NULL);
    if (again) {
        char *xml2 = guide_xml(again);
        CHECK(again != g);
        CHECK(strcmp(again->etag, etag) != 0);
        CHECK(again->version > g->version);
        CHECK(xml2 != NULL && strstr(xml2, "Late addition") != NULL);
        free(xml2);
        sg_guide_unref(again);
    }
    {
        char *old = guide_xml(g);
        CHECK(old != NULL && strcmp(old, xml) == 0);
        free(old);
    }
    free(xml);
    sg_guide_unref(g);

    /* another base URL: another render, with its URLs */
    g = guide(g_cat, "https://tv.example");
    CHECK(g != NULL);
    if (g) {
        xml = guide_xml(g);
        CHECK(xml != NULL && strstr(xml, "<icon src=\"https://tv.example/Logos/1.png\"/>") != NULL);
        free(xml);
        sg_guide_unref(g);
    }

    /* a cancelled wait is never called */
    {
        guide_wait_t cancelled = {0, NULL};
        sg_guide_wait_t *w = sg_catalog_guide(g_cat, SG_GUIDE_MAIN, "http://third", on_guide, &cancelled);
        CHECK(w != NULL);
        if (w) sg_catalog_guide_cancel(g_cat, w);
        g = guide(g_cat, "http://third");
        CHECK(g != NULL);
        sg_guide_unref(g);
        CHECK_INT(cancelled.called, 0);
    }
}

/* ---- M3U -------------------------------------------------------------------------------------- */

static void
test_m3u(void)
{
    char dir[64];
    sg_catalog_t *c;
    sg_channel_t one = {.id = "1", .name = "One", .number = 1, .logo = "/Logos/1.png",
                        .groups = "News;HD", .caps = SG_CAP_LIVE | SG_CAP_CATCHUP,
                        .catchup_days = 7};
    sg_channel_t two = {.id = "z2", .tvg_id = "two.tv", .name = "Two \"quoted\"\nname",
                        .logo = "http://img.example/2.png", .caps = SG_CAP_LIVE,
                        .catchup_days = 3};
    sg_channel_t three = {.id = "a3", .name = "Alpha", .caps = SG_CAP_CATCHUP};
    sg_txn_t *t;
    char *text;

    if (sg_test_mkdtemp(dir, sizeof(dir), "m3u") != 0) return;
    c = sg_catalog_open(g_base, dir, 8);
    CHECK(c != NULL);
    if (c == NULL) {
        sg_test_rmtree(dir);
        return;
    }
    text = m3u(c, BASE_URL);
    CHECK_STR(text, "#EXTM3U url-tvg=\"" BASE_URL "/guide.xml.gz\" x-tvg-url=\"" BASE_URL
                    "/guide.xml.gz\"\n");
    free(text);

    t = sg_catalog_begin(c, "a", 0);
    CHECK_INT(sg_txn_channel(t, &two), SG_OK);
    CHECK_INT(sg_txn_channel(t, &one), SG_OK);
    CHECK_INT(sg_txn_channel(t, &three), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    text = m3u(c, BASE_URL);
    /* numbered channels first, then by name */
    CHECK_STR(text,
              "#EXTM3U url-tvg=\"" BASE_URL "/guide.xml.gz\" x-tvg-url=\"" BASE_URL
              "/guide.xml.gz\"\n"
              "#EXTINF:-1 tvg-id=\"1.a\" tvg-name=\"One\" tvg-logo=\"" BASE_URL "/Logos/1.png\""
              " tvg-chno=\"1\" ch-number=\"1\" group-title=\"News;HD\" catchup=\"flussonic-ts\""
              " catchup-days=\"7\",One\n"
              BASE_URL "/1/mpegts\n"
              "#EXTINF:-1 tvg-id=\"a3.a\" tvg-name=\"Alpha\",Alpha\n"
              BASE_URL "/a3/mpegts\n"
              "#EXTINF:-1 tvg-id=\"two.tv\" tvg-name=\"Two 'quoted' name\""
              " tvg-logo=\"http://img.example/2.png\",Two \"quoted\" name\n"
              BASE_URL "/z2/mpegts\n");
    free(text);

    /* a new version and another base URL are rendered afresh; the default
     * XMLTV id turns other characters into '-' and drops empty labels */
    {
        sg_channel_t odd = {.id = "la_1..hd~", .name = "Odd", .number = 5};
        t = sg_catalog_begin(c, "a", 0);
        CHECK_INT(sg_txn_channel(t, &odd), SG_OK);
        CHECK_INT(commit(t), SG_OK);
    }
    text = m3u(c, "https://tv.example");
    CHECK(text != NULL && strstr(text, "\n#EXTINF:-1 tvg-id=\"la-1.hd-.a\" tvg-name=\"Odd\""
                                       " tvg-chno=\"5\" ch-number=\"5\",Odd\n"
                                       "https://tv.example/la_1..hd~/mpegts\n") != NULL);
    CHECK(text != NULL && strstr(text, "tvg-logo=\"https://tv.example/Logos/1.png\"") != NULL);
    free(text);
    text = m3u(c, BASE_URL);
    CHECK(text != NULL && strstr(text, BASE_URL "/la_1..hd~/mpegts\n") != NULL);
    CHECK(text != NULL && strstr(text, "tv.example/Logos") == NULL);
    free(text);
    sg_catalog_close(c);
    sg_test_rmtree(dir);
}

/* ---- persistence, corruption, close ------------------------------------------------------------ */

static void
test_reopen(void)
{
    size_t nch = sg_catalog_nchannels(g_cat);
    int64_t nprog = sg_catalog_nprogrammes(g_cat);
    commit_wait_t w = {0, 12345};
    sg_channel_t late = {.id = "late", .name = "Committed before close"};
    sg_txn_t *t;

    CHECK(nch > 0 && nprog > 0);
    /* a commit still queued when the catalog closes is applied, done() runs */
    t = sg_catalog_begin(g_cat, "a", 0);
    CHECK_INT(sg_txn_channel(t, &late), SG_OK);
    CHECK_INT(sg_txn_commit(t, on_commit, &w), SG_OK);
    sg_catalog_close(g_cat);
    CHECK_INT(w.called, 1);
    CHECK_INT(w.rc, SG_OK);

    g_cat = sg_catalog_open(g_base, g_dir, 8);
    CHECK(g_cat != NULL);
    if (g_cat == NULL) return;
    CHECK_INT(sg_catalog_nchannels(g_cat), nch + 1);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), nprog);
    CHECK_STR(sg_catalog_channel(g_cat, "b-1")->name, "B One HD");
    CHECK_STR(sg_catalog_channel(g_cat, "late")->name, "Committed before close");
    CHECK_STR(sg_catalog_channel(g_cat, "1")->logo, "/Logos/1.png");
    CHECK(sg_catalog_channel(g_cat, "y") != NULL);
    /* stored ids are stable across restarts */
    {
        sg_channel_t b1 = {.id = "1", .name = "B One HD"};
        t = sg_catalog_begin(g_cat, "b", 0);
        CHECK_INT(sg_txn_channel(t, &b1), SG_OK);
        CHECK_INT(commit(t), SG_OK);
        CHECK_INT(sg_catalog_nchannels(g_cat), nch + 1);
        CHECK_STR(sg_catalog_channel(g_cat, "b-1")->plugin, "b");
    }

    /* closing with a guide render pending: the waiter still hears back once */
    {
        guide_wait_t gw = {0, NULL};
        CHECK(sg_catalog_guide(g_cat, SG_GUIDE_MAIN, "http://closing", on_guide, &gw) != NULL);
        sg_catalog_close(g_cat);
        g_cat = NULL;
        CHECK_INT(gw.called, 1);
        sg_guide_unref(gw.g); /* a guide or NULL, either is fine */
    }
    g_cat = sg_catalog_open(g_base, g_dir, 8);
    CHECK(g_cat != NULL);
}

static void
test_corrupt(void)
{
    char dir[64], path[128];
    const char junk[] = "this is not an SQLite database, just some garbage bytes\n";
    sg_catalog_t *c;
    int fd, found = 0;
    DIR *d;
    struct dirent *e;

    if (sg_test_mkdtemp(dir, sizeof(dir), "corrupt") != 0) return;
    snprintf(path, sizeof(path), "%s/catalog.db", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) {
        for (int i = 0; i < 200; i++) CHECK(write(fd, junk, sizeof(junk) - 1) > 0);
        close(fd);
    }
    c = sg_catalog_open(g_base, dir, 8);
    CHECK(c != NULL);
    if (c) {
        sg_channel_t ch = {.id = "fresh", .name = "Fresh"};
        sg_txn_t *t = sg_catalog_begin(c, "a", 0);
        CHECK_INT(sg_catalog_nchannels(c), 0);
        CHECK_INT(sg_txn_channel(t, &ch), SG_OK);
        CHECK_INT(commit(t), SG_OK);
        CHECK_INT(sg_catalog_nchannels(c), 1);
        sg_catalog_close(c);
    }
    d = opendir(dir);
    CHECK(d != NULL);
    while (d && (e = readdir(d)) != NULL) {
        if (sg_has_prefix(e->d_name, "catalog.db.corrupt-")) {
            char moved[PATH_MAX], buf[sizeof(junk)];
            found++;
            snprintf(moved, sizeof(moved), "%s/%s", dir, e->d_name);
            fd = open(moved, O_RDONLY);
            CHECK(fd >= 0 && read(fd, buf, sizeof(junk) - 1) == (ssize_t)sizeof(junk) - 1);
            CHECK(fd >= 0 && memcmp(buf, junk, sizeof(junk) - 1) == 0);
            if (fd >= 0) close(fd);
        }
    }
    if (d) closedir(d);
    CHECK_INT(found, 1);
    /* the new database is a real one */
    c = sg_catalog_open(g_base, dir, 8);
    CHECK(c != NULL);
    if (c) CHECK_STR(sg_catalog_channel(c, "fresh")->name, "Fresh");
    sg_catalog_close(c);
    sg_catalog_close(NULL);
    sg_test_rmtree(dir);

    /* a state dir that cannot hold a database: NULL, not a crash */
    CHECK(sg_catalog_open(g_base, "/nonexistent/sg-test/state", 8) == NULL);
}

/* A version-1 database (before credits) is upgraded in place, keeps its
 * rows, and credits come out in the DTD's role order. */
static void
test_migrate_credits(void)
{
    char dir[64], path[128];
    sqlite3 *db = NULL;
    sg_catalog_t *c;
    sg_guide_t *g;
    char *xml;

    if (sg_test_mkdtemp(dir, sizeof(dir), "v1") != 0) return;
    snprintf(path, sizeof(path), "%s/catalog.db", dir);
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "CREATE TABLE channels(cid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                           " plugin TEXT NOT NULL, provider_id TEXT NOT NULL, tvg_id TEXT,"
                           " name TEXT NOT NULL, number INTEGER NOT NULL DEFAULT 0, logo TEXT,"
                           " groups TEXT, caps INTEGER NOT NULL DEFAULT 0,"
                           " catchup_days INTEGER NOT NULL DEFAULT 0,"
                           " active INTEGER NOT NULL DEFAULT 1, gen INTEGER NOT NULL DEFAULT 0,"
                           " UNIQUE(plugin, provider_id));"
                           "CREATE TABLE programmes(cid INTEGER NOT NULL, start INTEGER NOT NULL,"
                           " stop INTEGER NOT NULL, title TEXT NOT NULL, sub_title TEXT,"
                           " description TEXT, series TEXT, season INTEGER NOT NULL DEFAULT 0,"
                           " episode INTEGER NOT NULL DEFAULT 0, year INTEGER NOT NULL DEFAULT 0,"
                           " genre TEXT, age_rating INTEGER NOT NULL DEFAULT 0, icon TEXT, pid TEXT,"
                           " PRIMARY KEY(cid, start)) WITHOUT ROWID;"
                           "INSERT INTO channels(cid, id, plugin, provider_id, name)"
                           " VALUES(1, 'old', 'a', 'old', 'Old');"
                           "INSERT INTO programmes(cid, start, stop, title)"
                           " VALUES(1, 4000000000, 4000003600, 'Kept');"
                           "PRAGMA user_version=1;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);

    c = sg_catalog_open(g_base, dir, 8);
    CHECK(c != NULL);
    if (c == NULL) return;
    {
        sg_txn_t *t = sg_catalog_begin(c, "a", 0);
        sg_programme_t pr = {.channel = "old", .start = 4000003600, .stop = 4000007200,
                             .title = "With people",
                             .credits = "actor:Ana Ñ\nproducer:Pat\ndirector:Dee\nnobody:X\n"
                                        "actor:Bo & Co"};
        CHECK_INT(sg_txn_programme(t, &pr), SG_OK);
        CHECK_INT(commit(t), SG_OK);
    }
    g = guide(c, BASE_URL);
    xml = g ? guide_xml(g) : NULL;
    CHECK(xml != NULL);
    if (xml) {
        CHECK(strstr(xml, "<title>Kept</title>") != NULL);
        CHECK(strstr(xml, "<title>With people</title>\n"
                          "    <credits>\n"
                          "      <director>Dee</director>\n"
                          "      <actor>Ana Ñ</actor>\n"
                          "      <actor>Bo &amp; Co</actor>\n"
                          "      <producer>Pat</producer>\n"
                          "    </credits>\n") != NULL);
        CHECK(strstr(xml, "nobody") == NULL);
    }
    free(xml);
    if (g) sg_guide_unref(g);
    sg_catalog_close(c);
    sg_test_rmtree(dir);
}

/* ---- cloud recordings ------------------------------------------------------------------------ */

static void
test_cloud(void)
{
    int64_t now = (int64_t)time(NULL);
    /* far older than the retention: recordings are kept regardless */
    sg_programme_t r1 = prog("1", now - 40 * 86400, 3000, "Recorded film");
    sg_programme_t r2 = prog("1", now - 40 * 86400 + 3000, 1800, "Recorded next");
    sg_programme_t r3 = prog("2", now - 20 * 86400, 600, "Second channel");
    sg_programme_t gone = prog("2", now - 10 * 86400, 600, "Deleted later");
    int64_t epg = sg_catalog_nprogrammes(g_cat);
    sg_prog_hit_t hit;
    sg_guide_t *g;
    char *xml, *list;
    struct evbuffer *b;
    sg_txn_t *t;

    r1.pid = "111";
    r2.pid = "222";
    r3.pid = "333";
    CHECK(!sg_catalog_has_cloud(g_cat, "1"));
    t = sg_catalog_begin(g_cat, "a", SG_TXN_CLOUD);
    CHECK_INT(sg_txn_programme(t, &r1), SG_OK);
    CHECK_INT(sg_txn_programme(t, &r3), SG_OK);
    CHECK_INT(sg_txn_programme(t, &gone), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    /* the set is replaced as a whole: "gone" leaves, r2 comes */
    t = sg_catalog_begin(g_cat, "a", SG_TXN_CLOUD);
    CHECK_INT(sg_txn_programme(t, &r1), SG_OK);
    CHECK_INT(sg_txn_programme(t, &r2), SG_OK);
    CHECK_INT(sg_txn_programme(t, &r3), SG_OK);
    CHECK_INT(commit(t), SG_OK);
    CHECK_INT(sg_catalog_nprogrammes(g_cat), epg); /* not the EPG */
    CHECK(sg_catalog_has_cloud(g_cat, "1") && sg_catalog_has_cloud(g_cat, "2"));
    CHECK(!sg_catalog_has_cloud(g_cat, "nope"));

    /* lookups among the recordings, not the guide */
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "1", r1.start + 100,
                                      SG_PROG_AIRING | SG_PROG_CLOUD, &hit), SG_OK);
    CHECK_STR(hit.pid, "111");
    CHECK_INT(hit.start, r1.start);
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "1", r1.start + 1,
                                      SG_PROG_FROM | SG_PROG_CLOUD, &hit), SG_OK);
    CHECK_STR(hit.pid, "222");
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "1", r2.stop + 5,
                                      SG_PROG_AIRING | SG_PROG_CLOUD, &hit), SG_DECLINED);
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "1", r1.start + 100, SG_PROG_AIRING, &hit),
              SG_DECLINED);
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "2", r3.start + 100,
                                      SG_PROG_UNTIL | SG_PROG_CLOUD, &hit), SG_OK);
    CHECK_INT(sg_catalog_programme_at(g_cat, "a", "2", 0, 7 | SG_PROG_CLOUD, &hit), SG_ERROR);

    /* the cloud playlist: the channels with recordings, under /cloud/ */
    b = evbuffer_new();
    CHECK_INT(sg_catalog_cloud_m3u(g_cat, BASE_URL, b), 0);
    list = sg_test_drain(b);
    evbuffer_free(b);
    CHECK(list != NULL);
    if (list) {
        CHECK(strncmp(list, "#EXTM3U name=\"Cloud recordings\" url-tvg=\"" BASE_URL "/cloud.xml\"",
                      57) == 0);
        CHECK(strstr(list, "catchup=\"flussonic-ts\" catchup-days=\"9999\",One\n" BASE_URL
                           "/cloud/1/mpegts\n") != NULL);
        CHECK(strstr(list, BASE_URL "/cloud/2/mpegts\n") != NULL);
        CHECK(strstr(list, "catchup-days=\"7\"") == NULL);
    }
    free(list);

    /* the cloud guide: only the recordings; the main guide without them */
    g = guide_of(g_cat, SG_GUIDE_CLOUD, BASE_URL);
    xml = g ? guide_xml(g) : NULL;
    CHECK(xml != NULL);
    if (xml) {
        CHECK(strstr(xml, "<title>Recorded film</title>") != NULL);
        CHECK(strstr(xml, "<title>Recorded next</title>") != NULL);
        CHECK(strstr(xml, "<title>Second channel</title>") != NULL);
        CHECK(strstr(xml, "Deleted later") == NULL);
        CHECK(strstr(xml, "Morning News") == NULL);
        CHECK_INT(g->programmes, 3);
    }
    free(xml);
    if (g) sg_guide_unref(g);
    xml = current_xml();
    CHECK(xml != NULL && strstr(xml, "Recorded film") == NULL);
    free(xml);

    /* a plugin's empty set clears its recordings */
    t = sg_catalog_begin(g_cat, "a", SG_TXN_CLOUD);
    CHECK_INT(commit(t), SG_OK);
    CHECK(!sg_catalog_has_cloud(g_cat, "1"));
    b = evbuffer_new();
    CHECK_INT(sg_catalog_cloud_m3u(g_cat, BASE_URL, b), 0);
    list = sg_test_drain(b);
    evbuffer_free(b);
    CHECK(list && strstr(list, "/cloud/") == NULL);
    free(list);
}

/* ---- kv ------------------------------------------------------------------------------------------- */

static void
test_kv(void)
{
    static const char bin[] = {'a', '\0', 'b', '\0', '\xff', 'c'};
    void *val = (void *)1;
    size_t len = 99;

    CHECK_INT(sg_catalog_kv_get(g_cat, "a", "token", &val, &len), SG_DECLINED);
    CHECK(val == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(sg_catalog_kv_set(g_cat, "a", "token", "hello", 5), SG_OK);
    CHECK_INT(sg_catalog_kv_get(g_cat, "a", "token", &val, &len), SG_OK);
    CHECK_INT(len, 5);
    CHECK_STR(val, "hello");
    free(val);
    /* the same key of another plugin is another entry */
    CHECK_INT(sg_catalog_kv_get(g_cat, "b", "token", &val, &len), SG_DECLINED);
    CHECK_INT(sg_catalog_kv_set(g_cat, "b", "token", "other", 5), SG_OK);
    /* overwrite, binary with NUL bytes */
    CHECK_INT(sg_catalog_kv_set(g_cat, "a", "token", bin, sizeof(bin)), SG_OK);
    CHECK_INT(sg_catalog_kv_get(g_cat, "a", "token", &val, &len), SG_OK);
    CHECK_INT(len, sizeof(bin));
    CHECK(val != NULL && memcmp(val, bin, sizeof(bin)) == 0);
    CHECK(val != NULL && ((char *)val)[sizeof(bin)] == '\0');
    free(val);
    /* len may be NULL */
    CHECK_INT(sg_catalog_kv_get(g_cat, "b", "token", &val, NULL), SG_OK);
    CHECK_STR(val, "other");
    free(val);
    /* empty value */
    CHECK_INT(sg_catalog_kv_set(g_cat, "a", "empty", "", 0), SG_OK);
    CHECK_INT(sg_catalog_kv_get(g_cat, "a", "empty", &val, &len), SG_OK);
    CHECK_INT(len, 0);
    CHECK_STR(val, "");
    free(val);
    /* delete */
    CHECK_INT(sg_catalog_kv_del(g_cat, "a", "token"), SG_OK);
    CHECK_INT(sg_catalog_kv_get(g_cat, "a", "token", &val, &len), SG_DECLINED);
    CHECK_INT(sg_catalog_kv_del(g_cat, "a", "token"), SG_OK); /* absent: fine */
    CHECK_INT(sg_catalog_kv_get(g_cat, "b", "token", &val, &len), SG_OK);
    free(val);
    /* survives a reopen */
    sg_catalog_close(g_cat);
    g_cat = sg_catalog_open(g_base, g_dir, 8);
    CHECK(g_cat != NULL);
    if (g_cat == NULL) return;
    CHECK_INT(sg_catalog_kv_get(g_cat, "b", "token", &val, &len), SG_OK);
    CHECK_STR(val, "other");
    free(val);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"publish", test_publish},
        {"collisions", test_collisions},
        {"overlap", test_overlap},
        {"replace_channels", test_replace_channels},
        {"clean_utf8", test_clean_utf8},
        {"retention", test_retention},
        {"guide", test_guide},
        {"m3u", test_m3u},
        {"reopen", test_reopen},
        {"corrupt", test_corrupt},
        {"migrate_credits", test_migrate_credits},
        {"cloud", test_cloud},
        {"kv", test_kv},
        {NULL, NULL},
    };
    struct event *ev;
    struct timeval tv = {0, 50000};
    int rc;

    setenv("TZ", "UTC", 1);
    tzset();
    g_t0 = ((int64_t)time(NULL) / 3600 - 1) * 3600;
    if (evthread_use_pthreads() != 0 || (g_base = event_base_new()) == NULL) {
        fprintf(stderr, "cannot set up libevent\n");
        return 1;
    }
    ev = event_new(g_base, -1, EV_PERSIST, tick, NULL); /* EVLOOP_ONCE wakes up */
    event_add(ev, &tv);
    if (sg_test_mkdtemp(g_dir, sizeof(g_dir), "state") != 0) return 1;
    g_cat = sg_catalog_open(g_base, g_dir, 8);
    if (g_cat == NULL) {
        fprintf(stderr, "cannot open the catalog in %s\n", g_dir);
        sg_test_rmtree(g_dir);
        return 1;
    }
    rc = sg_test_run(cases);
    sg_catalog_close(g_cat);
    sg_test_rmtree(g_dir);
    event_free(ev);
    event_base_free(g_base);
    libevent_global_shutdown();
    return rc || sg_test_failures ? 1 : 0;
}
