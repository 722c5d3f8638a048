/* Recording file names: the three shapes, per-channel folders, safe names. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record/sg_recname.h"
#include "sg_test.h"

static const char *
name(sg_recname_in_t in)
{
    static char out[1024];
    if (sg_recname(&in, out, sizeof(out)) == 0) return "(does not fit)";
    return out;
}

static const char *
safe(const char *s)
{
    static char out[256];
    sg_recname_safe(s, out, sizeof(out));
    return out;
}

static void
test_shapes(void)
{
    /* 2026-11-20 21:30 in Madrid */
    int64_t t = 1795206600;

    CHECK_STR(name((sg_recname_in_t){.title = "Cuéntame cómo pasó T5 Ep. 5",
                                     .series = "Cuéntame cómo pasó", .season = 5, .episode = 5,
                                     .episode_title = "Vuelta a empezar", .start = t}),
              "Cuéntame cómo pasó/Cuéntame cómo pasó S05E05 - Vuelta a empezar.mkv");
    CHECK_STR(name((sg_recname_in_t){.title = "x", .series = "Serie", .episode = 7, .start = t,
                                     .ext = "mp4"}),
              "Serie/Serie E07.mp4");
    CHECK_STR(name((sg_recname_in_t){.title = "x", .series = "Serie", .start = t}),
              "Serie/Serie - 20261120.mkv");
    CHECK_STR(name((sg_recname_in_t){.title = "Telediario 2", .genre = "News / Current affairs",
                                     .start = t}),
              "Telediario 2/Telediario 2 - 20261120.mkv");
    CHECK_STR(name((sg_recname_in_t){.title = "Relatos salvajes", .genre = "Movie / Drama",
                                     .start = t}),
              "Relatos salvajes/Relatos salvajes.mkv");
    CHECK_STR(name((sg_recname_in_t){.title = "Relatos salvajes", .start = t, .per_channel = 1,
                                     .channel = "La 1 HD", .channel_number = 1}),
              "001. La 1 HD/Relatos salvajes/Relatos salvajes.mkv");
    /* a series' episode number above 99 keeps its digits */
    CHECK_STR(name((sg_recname_in_t){.title = "x", .series = "Saber y ganar", .season = 1,
                                     .episode = 123, .start = t}),
              "Saber y ganar/Saber y ganar S01E123.mkv");
}

static void
test_safe(void)
{
    CHECK_STR(safe("Misión: imposible (1996)"), "Misión, imposible [1996]");
    CHECK_STR(safe("Y entonces..."), "Y entonces…");
    CHECK_STR(safe("AC/DC: Live"), "AC DC, Live");
    CHECK_STR(safe("..hidden"), "hidden");
    CHECK_STR(safe("  spaced   out  "), "spaced out");
    CHECK_STR(safe("tail. . ."), "tail");
    CHECK_STR(safe("¡Ay! ¿Qué?"), "¡Ay! ¿Qué");
    CHECK_STR(safe("tab\there\nnew"), "tab here new");
    CHECK_STR(safe("\xff\xfe bad \xc3"), "bad");
    CHECK_STR(safe(""), "Recording");
    CHECK_STR(safe("///"), "Recording");
    CHECK_STR(safe(NULL), "Recording");
    {
        char longer[400];
        memset(longer, 'a', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        CHECK_INT(strlen(safe(longer)), 120);
    }
    {
        /* a multi-byte letter is never cut in half at the limit */
        char s[200] = "";
        for (int i = 0; i < 60; i++) strcat(s, "é");
        strcat(s, "b");
        CHECK_INT(strlen(safe(s)), 120);
        CHECK_STR(safe(s) + 118, "é");
    }
    {
        char small[8];
        sg_recname_in_t in = {.title = "A long title", .start = 0};
        CHECK_INT(sg_recname(&in, small, sizeof(small)), 0);
    }
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"shapes", test_shapes},
        {"safe", test_safe},
        {NULL, NULL},
    };
    setenv("TZ", "Europe/Madrid", 1);
    tzset();
    return sg_test_run(cases);
}
