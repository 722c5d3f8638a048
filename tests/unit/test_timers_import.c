/* movistar-u7d's timers.conf (TOML and JSON) as Lua timer rules: the
 * importer's output is loaded in the sandbox and asked about programmes;
 * syntax errors name their line; etc/timers.lua itself works as shipped. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <time.h>

#include "record/sg_timers_import.h"
#include "sg_script.h"
#include "sg_test.h"

#ifndef SG_SOURCE_DIR
#error "SG_SOURCE_DIR: the source tree (set by tests/unit/meson.build)"
#endif

static char g_dir[64];
static char g_err[1024];
static char *g_template; /* etc/timers.lua */

static char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    if (f == NULL) {
        SG_FAIL("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

/* Import text (as file name) with the template; the Lua text (malloc'ed)
 * or NULL with g_err set. warnings, if not NULL, gets the warning lines. */
static char *
import(const char *name, const char *text, size_t len, char **warnings)
{
    char *out = NULL, *w = NULL;
    size_t outlen = 0, wlen = 0;
    FILE *fo = open_memstream(&out, &outlen), *fw = open_memstream(&w, &wlen);
    int rc;

    g_err[0] = '\0';
    rc = sg_timers_import(name, text, len, g_template, fo, fw, g_err, sizeof(g_err));
    fclose(fo);
    fclose(fw);
    if (warnings) *warnings = w;
    else free(w);
    if (rc != 0) {
        CHECK(outlen == 0);
        free(out);
        return NULL;
    }
    CHECK(g_err[0] == '\0');
    return out;
}

static char *
import_str(const char *text, char **warnings)
{
    return import("t.conf", text, strlen(text), warnings);
}

/* Write lua as <dir>/<name>.lua and load it. */
static sg_script_t *
load_lua(const char *name, const char *lua)
{
    char path[PATH_MAX];
    FILE *f;
    sg_script_t *s;
    snprintf(path, sizeof(path), "%s/%s.lua", g_dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        SG_FAIL("cannot write %s: %s", path, strerror(errno));
        return NULL;
    }
    fputs(lua, f);
    fclose(f);
    s = sg_script_load(path, g_err, sizeof(g_err));
    if (s == NULL) SG_FAIL("%s does not load: %s", path, g_err);
    return s;
}

/* Local time (TZ=Europe/Madrid) as Unix seconds. */
static int64_t
at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

/* 2026-01-12 is a Monday. */
#define MON(h, m) at(2026, 1, 12, h, m)

typedef struct {
    int rc, vo, keep;
    char rule[128];
} decision_t;

static decision_t
ask(sg_script_t *s, const char *channel, const char *title, const char *series, int64_t start)
{
    sg_script_prog_t p = {
        .channel = channel, .channel_name = "", .title = title, .series = series,
        .episode_title = "", .genre = "", .description = "", .season = 0, .episode = 0,
        .is_series = series[0] != '\0', .start = start, .duration = 1800,
    };
    sg_script_match_t m;
    char err[512];
    decision_t d;
    d.rc = sg_script_match(s, &p, &m, err, sizeof(err));
    if (d.rc < 0) SG_FAIL("match(%s, \"%s\") failed: %s", channel, title, err);
    d.vo = m.vo;
    d.keep = m.keep;
    snprintf(d.rule, sizeof(d.rule), "%s", m.rule);
    return d;
}

/* Recorded, with vo, keep and the rule name. */
static void
yes_at(int line, sg_script_t *s, const char *ch, const char *title, const char *series,
       int64_t start, int vo, int keep, const char *rule)
{
    decision_t d = ask(s, ch, title, series, start);
    if (d.rc != 1 || d.vo != vo || d.keep != keep || strcmp(d.rule, rule) != 0) {
        SG_FAIL("line %d: [%s] \"%s\": rc %d vo %d keep %d rule \"%s\"; expected 1 %d %d \"%s\"",
                line, ch, title, d.rc, d.vo, d.keep, d.rule, vo, keep, rule);
    }
}

static void
no_at(int line, sg_script_t *s, const char *ch, const char *title, const char *series,
      int64_t start)
{
    decision_t d = ask(s, ch, title, series, start);
    if (d.rc != 0) {
        SG_FAIL("line %d: [%s] \"%s\" recorded by rule \"%s\"; expected no", line, ch, title, d.rule);
    }
}

#define YES(...) yes_at(__LINE__, __VA_ARGS__)
#define NO(...) no_at(__LINE__, __VA_ARGS__)

/* The decisions tests/data/timers.{conf,json} stand for. */
static void
check_sample(sg_script_t *s)
{
    /* a fixed time: 21:00 +- 15 min, Esp */
    YES(s, "1", "Telediario 2", "", MON(21, 5), 0, 0, "1:Telediario 2");
    YES(s, "1", "TELEDIARIO 2", "", MON(20, 45), 0, 0, "1:Telediario 2");
    YES(s, "1", "Telediario 2", "", MON(21, 15), 0, 0, "1:Telediario 2");
    NO(s, "1", "Telediario 2", "", MON(21, 16));
    NO(s, "1", "Telediario 2", "", MON(20, 44));
    NO(s, "1", "Telediario 2", "", MON(15, 0));
    /* at the start only, Keep2 */
    YES(s, "1", "Informe semanal: la crisis", "", MON(22, 0), 0, 2, "1:Informe semanal");
    NO(s, "1", "Especial Informe semanal", "", MON(22, 0));
    /* a Python \d; accents and case */
    YES(s, "1", "Capítulo 12: el regreso", "", MON(10, 0), 0, 0, "1:Cap[ií]tulo \\d+");
    YES(s, "1", "CAPITULO 7", "", MON(10, 0), 0, 0, "1:Cap[ií]tulo \\d+");
    NO(s, "1", "El capítulo 12", "", MON(10, 0));
    NO(s, "1", "Capítulo final", "", MON(10, 0));
    /* another channel's entries do not apply */
    NO(s, "1", "Documentos TV", "", MON(10, 0));
    NO(s, "99", "Documentos TV", "", MON(10, 0));
    NO(s, "", "Friends", "", MON(10, 0));
    /* default_language = "VO" */
    YES(s, "2", "Documentos TV: Marte", "", MON(23, 0), 1, 0, "2:Documentos TV");
    YES(s, "2", "DIAS DE CINE", "", MON(23, 0), 0, 0, "2:Días de cine");
    YES(s, "2", "días de cine", "", MON(23, 0), 0, 0, "2:Días de cine");
    /* VO, Keep3; the series name counts too */
    YES(s, "657", "Friends: el de la boda", "", MON(18, 0), 1, 3, "657:Friends");
    YES(s, "657", "El de la boda", "Friends", MON(18, 0), 1, 3, "657:Friends");
    NO(s, "657", "El de la boda", "", MON(18, 0));
    YES(s, "657", "El universo según Stephen Hawking", "", MON(1, 0), 1, 0,
        "657:^El universo seg[uú]n Stephen Hawking$");
    NO(s, "657", "El universo según Stephen Hawking 2", "", MON(1, 0));
    YES(s, "657", "Area 51: el secreto", "", MON(1, 0), 1, 0, "657:Área 51");
    YES(s, "657", "ÁREA 51", "", MON(1, 0), 1, 0, "657:Área 51");
    /* 23:55 +- 15 min across midnight */
    YES(s, "657", "Noticias 00:05", "", at(2026, 1, 13, 0, 5), 0, 0,
        "657:Noticias\\s+\\d\\d:\\d\\d");
    YES(s, "657", "Noticias 23:45", "", MON(23, 45), 0, 0, "657:Noticias\\s+\\d\\d:\\d\\d");
    YES(s, "657", "Noticias 00:10", "", at(2026, 1, 13, 0, 10), 0, 0,
        "657:Noticias\\s+\\d\\d:\\d\\d");
    NO(s, "657", "Noticias 00:15", "", at(2026, 1, 13, 0, 11));
    NO(s, "657", "Noticias 23:35", "", MON(23, 35));
    NO(s, "657", "Noticias de hoy", "", MON(23, 55));
    /* ComSkipCut is ignored, Esp wins over the default VO */
    YES(s, "657", "Cuarto milenio", "", MON(22, 0), 0, 0, "657:^Cuarto Milenio$");
    NO(s, "657", "Cuarto milenio (R)", "", MON(22, 0));
    /* 21:30 on weekdays (@XXXXX--): Friday yes, Saturday no */
    YES(s, "657", "En dos continentes", "", at(2026, 1, 16, 21, 30), 0, 0,
        "657:^En dos continentes");
    NO(s, "657", "En dos continentes", "", at(2026, 1, 17, 21, 30));
    /* \u00C1 */
    YES(s, "657", "Aguila roja", "", MON(21, 0), 1, 0, "657:Águila roja");
    /* a bare key, a trailing comma, the default VO */
    YES(s, "4714", "American Dad", "", MON(12, 20), 1, 0, "4714:^American Dad$");
    NO(s, "4714", "American Dad", "", MON(15, 0));
}

static void
test_sample_toml_and_json(void)
{
    static const char *const files[] = {"timers.conf", "timers.json"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX], *text, *lua, *warn = NULL;
        size_t len;
        sg_script_t *s;
        snprintf(path, sizeof(path), "%s/tests/data/%s", SG_SOURCE_DIR, files[i]);
        text = read_all(path, &len);
        if (text == NULL) continue;
        lua = import(path, text, len, &warn);
        if (lua == NULL) {
            SG_FAIL("%s: %s", files[i], g_err);
            free(text);
            free(warn);
            continue;
        }
        /* the template around the imported data */
        CHECK(strstr(lua, "-- streamgate timer rules") == lua);
        CHECK(strstr(lua, "\n-- BEGIN TIMERS\n-- Imported from ") != NULL);
        CHECK(strstr(lua, "local timers = {\n  default_language = \"VO\",\n  match = {\n"
                          "    [\"1\"] = {\n      \"Telediario 2 ## 21:00 ## Esp\",\n") != NULL);
        CHECK(strstr(lua, "    [\"657\"] = {\n") != NULL);
        CHECK(strstr(lua, "      \"Cap[ií]tulo \\\\d+ ## Esp\",\n") != NULL);
        CHECK(strstr(lua, "-- sync_cloud (line ") != NULL);
        CHECK(strstr(lua, "-- sync_cloud_language (line ") != NULL);
        CHECK(strstr(lua, "-- comskip (line ") != NULL);
        CHECK(strstr(lua, "\"Documentos TV\"") != NULL);
        CHECK(strstr(lua, "Friends ## VO ## Keep3") != NULL);
        CHECK(strstr(lua, "\nfunction match(p)\n") != NULL);
        CHECK(strstr(lua, "Informativos Telecinco") == NULL); /* the template's own data: gone */
        /* channels in their order */
        CHECK(strstr(lua, "[\"1\"]") < strstr(lua, "[\"2\"]"));
        CHECK(strstr(lua, "[\"2\"]") < strstr(lua, "[\"657\"]"));
        CHECK(strstr(lua, "[\"657\"]") < strstr(lua, "[\"4714\"]"));
        /* the ignored option is said */
        CHECK(warn && strstr(warn, "warning: \"^Cuarto Milenio$ ## ComSkipCut ## Esp\": the "
                                   "movistar-u7d option \"ComSkipCut\" is ignored") != NULL);
        if (i == 0) CHECK(warn && strstr(warn, "timers.conf:24: warning:") != NULL);
        s = load_lua(i == 0 ? "from_toml" : "from_json", lua);
        if (s) check_sample(s);
        sg_script_free(s);
        free(lua);
        free(text);
        free(warn);
    }
}

/* The Python regex rewriting, one entry per channel. */
static void
test_regex_rewriting(void)
{
    char *lua = import_str("[match]\n"
                           "r1 = ['\\D+ \\d']\n"
                           "r2 = ['(?i)news\\s\\w+']\n"
                           "r3 = ['[\\w-]+!']\n"
                           "r4 = ['(?:a|b)c']\n"
                           "r5 = ['x{,2}y']\n"
                           "r6 = ['a{b']\n"
                           "r7 = ['[^\\d]oo']\n"
                           "r8 = ['(?=x)', 'after a bad one']\n"
                           "r9 = ['[]a]b']\n"
                           "r10 = ['\\.net']\n"
                           "r11 = ['c\\+\\+ *\\d']\n"
                           "r12 = ['[\\s\\d]x', '\\W\\S']\n"
                           "r13 = ['(?P<name>ab)+c*?d']\n"
                           "r14 = ['[a-c]{2}\\Z']\n"
                           "r15 = ['[\\^-]z']\n"
                           "r16 = ['\\x41\\u00e9b']\n"
                           "r17 = ['.*mundo']\n"
                           "r18 = ['ab?c']\n"
                           "r19 = ['ab|cd']\n"
                           "r20 = ['x(b|c)d']\n"
                           "r21 = ['Straß*']\n"
                           "r22 = ['(?i)Hoy{2}']\n",
                           NULL);
    sg_script_t *s;
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        return;
    }
    s = load_lua("regex", lua);
    free(lua);
    if (s == NULL) return;
    YES(s, "r1", "Abc 1", "", MON(9, 0), -1, 0, "r1:\\D+ \\d");
    NO(s, "r1", "123 4", "", MON(9, 0));
    YES(s, "r2", "NEWS today", "", MON(9, 0), -1, 0, "r2:(?i)news\\s\\w+");
    NO(s, "r2", "newsy", "", MON(9, 0));
    YES(s, "r3", "foo-bar_1! x", "", MON(9, 0), -1, 0, "r3:[\\w-]+!");
    NO(s, "r3", "foo bar!", "", MON(9, 0));
    YES(s, "r4", "bc", "", MON(9, 0), -1, 0, "r4:(?:a|b)c");
    YES(s, "r5", "xy", "", MON(9, 0), -1, 0, "r5:x{,2}y");
    YES(s, "r5", "y", "", MON(9, 0), -1, 0, "r5:x{,2}y");
    NO(s, "r5", "xxxy", "", MON(9, 0));
    YES(s, "r6", "a{b}", "", MON(9, 0), -1, 0, "r6:a{b");
    YES(s, "r7", "Foo", "", MON(9, 0), -1, 0, "r7:[^\\d]oo");
    NO(s, "r7", "1oo", "", MON(9, 0));
    /* a look-ahead cannot be rewritten: skipped, the next entry works */
    NO(s, "r8", "x", "", MON(9, 0));
    YES(s, "r8", "After a bad one", "", MON(9, 0), -1, 0, "r8:after a bad one");
    YES(s, "r9", "]b", "", MON(9, 0), -1, 0, "r9:[]a]b");
    YES(s, "r9", "Ab", "", MON(9, 0), -1, 0, "r9:[]a]b");
    YES(s, "r10", ".NET hoy", "", MON(9, 0), -1, 0, "r10:\\.net");
    NO(s, "r10", "xnet", "", MON(9, 0));
    YES(s, "r11", "C++ 2", "", MON(9, 0), -1, 0, "r11:c\\+\\+ *\\d");
    YES(s, "r12", "7x", "", MON(9, 0), -1, 0, "r12:[\\s\\d]x");
    YES(s, "r12", "-a", "", MON(9, 0), -1, 0, "r12:\\W\\S");
    NO(s, "r12", "ab", "", MON(9, 0));
    YES(s, "r13", "ababd", "", MON(9, 0), -1, 0, "r13:(?P<name>ab)+c*?d");
    YES(s, "r14", "AB", "", MON(9, 0), -1, 0, "r14:[a-c]{2}\\Z");
    NO(s, "r14", "abc", "", MON(9, 0));
    YES(s, "r15", "^z", "", MON(9, 0), -1, 0, "r15:[\\^-]z");
    YES(s, "r15", "-z", "", MON(9, 0), -1, 0, "r15:[\\^-]z");
    YES(s, "r16", "Aeb", "", MON(9, 0), -1, 0, "r16:\\x41\\u00e9b");
    YES(s, "r17", "Hola, mundo", "", MON(9, 0), -1, 0, "r17:.*mundo");
    /* the literal start match() checks first: only what every match starts with */
    YES(s, "r18", "AC", "", MON(9, 0), -1, 0, "r18:ab?c");
    YES(s, "r18", "abc", "", MON(9, 0), -1, 0, "r18:ab?c");
    YES(s, "r19", "cd", "", MON(9, 0), -1, 0, "r19:ab|cd");
    YES(s, "r19", "ab", "", MON(9, 0), -1, 0, "r19:ab|cd");
    YES(s, "r20", "xcd", "", MON(9, 0), -1, 0, "r20:x(b|c)d");
    NO(s, "r20", "xd", "", MON(9, 0));
    YES(s, "r21", "Stra", "", MON(9, 0), -1, 0, "r21:Straß*");
    YES(s, "r21", "STRASSSS", "", MON(9, 0), -1, 0, "r21:Straß*");
    YES(s, "r22", "HOYY", "", MON(9, 0), -1, 0, "r22:(?i)Hoy{2}");
    NO(s, "r22", "Hoy", "", MON(9, 0));
    sg_script_free(s);
}

/* Whatever the bytes, the output is a Lua string that means them. */
static void
test_escaping(void)
{
    static const char text[] = "[match]\n"
                               "\"we\\\"ird\\\\key]]\" = [\n"
                               "  'Say \"hi\" ]] x',\n"
                               "  \"tab\\there\",\n"
                               "  \"new\\nline\",\n"
                               "  '\xff\xfe" "abc',\n"
                               "  '--\\[\\[ not a comment ]]',\n"
                               "]\n"
                               "\"\\u2028\" = [\"\\u00e9\\U0001F600\"]\n";
    char *lua = import_str(text, NULL);
    sg_script_t *s;
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        return;
    }
    CHECK(strstr(lua, "[\"we\\\"ird\\\\key]]\"] = {") != NULL);
    CHECK(strstr(lua, "\"Say \\\"hi\\\" ]] x\",") != NULL);
    CHECK(strstr(lua, "\"tab\\there\",") != NULL);
    CHECK(strstr(lua, "\"new\\nline\",") != NULL);
    CHECK(strstr(lua, "\"\\xFF\\xFEabc\",") != NULL);
    CHECK(strstr(lua, "\"é\xf0\x9f\x98\x80\"") != NULL);
    s = load_lua("escaping", lua);
    free(lua);
    if (s == NULL) return;
    YES(s, "we\"ird\\key]]", "say \"HI\" ]] x", "", MON(9, 0), -1, 0,
        "we\"ird\\key]]:Say \"hi\" ]] x");
    YES(s, "we\"ird\\key]]", "Tab\there too", "", MON(9, 0), -1, 0, "we\"ird\\key]]:tab\there");
    YES(s, "we\"ird\\key]]", "new\nline", "", MON(9, 0), -1, 0, "we\"ird\\key]]:new\nline");
    YES(s, "we\"ird\\key]]", "\xff\xfe" "ABC", "", MON(9, 0), -1, 0,
        "we\"ird\\key]]:\xff\xfe" "abc");
    YES(s, "we\"ird\\key]]", "--[[ not a comment ]]", "", MON(9, 0), -1, 0,
        "we\"ird\\key]]:--\\[\\[ not a comment ]]");
    YES(s, "\xe2\x80\xa8", "E\xf0\x9f\x98\x80", "", MON(9, 0), -1, 0,
        "\xe2\x80\xa8:\xc3\xa9\xf0\x9f\x98\x80");
    sg_script_free(s);
}

/* The rest of the TOML the parser takes, and what it makes of it. */
static void
test_toml_forms(void)
{
    char *warn = NULL;
    char *lua = import_str("\xEF\xBB\xBF# a BOM, CRLF lines, tabs\r\n"
                           "title = \"x\"\t# unknown\r\n"
                           "numbers = [1, 2.5, -3, 0x1F, 1979-05-27 07:32:00, inf, true]\r\n"
                           "nested = { a = [ [1], { b = 'c' } ] }\r\n"
                           "match.\"7\" = ['Seven']\r\n"
                           "match . 8 = \"Eight\"   # one string: a list of one\r\n"
                           "\r\n"
                           "[other.table]\r\n"
                           "whatever = 'ignored'\r\n"
                           "[[servers]]\r\n"
                           "name = 'x'\r\n",
                           &warn);
    sg_script_t *s;
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        free(warn);
        return;
    }
    CHECK(strstr(lua, "-- \"title\" (line 2): not a movistar-u7d timers setting; ignored.\n") != NULL);
    CHECK(strstr(lua, "-- \"numbers\" (line 3)") != NULL);
    CHECK(strstr(lua, "-- [other.table] (line 8): not a movistar-u7d timers table; ignored.\n") !=
          NULL);
    CHECK(strstr(lua, "-- [[servers]] (line 10)") != NULL);
    CHECK(strstr(lua, "whatever") == NULL);
    CHECK(strstr(lua, "default_language = nil,") != NULL);
    CHECK(warn && warn[0] == '\0');
    s = load_lua("forms", lua);
    free(lua);
    free(warn);
    if (s == NULL) return;
    /* no default_language, no option: vo is left to the recordings settings */
    YES(s, "7", "Seven", "", MON(9, 0), -1, 0, "7:Seven");
    YES(s, "8", "Eight", "", MON(9, 0), -1, 0, "8:Eight");
    sg_script_free(s);

    /* an inline match table; an empty file; {} */
    lua = import_str("match = { \"1\" = [\"A ## Keep1\"], 2 = [] }\n", NULL);
    CHECK(lua != NULL && strstr(lua, "    [\"2\"] = {},\n") != NULL);
    if (lua) {
        s = load_lua("inline", lua);
        if (s) YES(s, "1", "A", "", MON(9, 0), -1, 1, "1:A");
        sg_script_free(s);
    }
    free(lua);
    lua = import_str("", NULL);
    CHECK(lua != NULL && strstr(lua, "  match = {\n  },\n") != NULL);
    free(lua);
    lua = import("t.json", " \n{}", 4, NULL);
    CHECK(lua != NULL);
    free(lua);
}

/* Bad options: warned about, kept in the output with a comment, skipped
 * (and logged) by the engine, the other entries still work. */
static void
test_bad_entries(void)
{
    char *warn = NULL;
    char *lua = import_str("[match]\n"
                           "\"1\" = [\n"
                           "  \"A ## 25:00\",\n"
                           "  \"B ## Keepx\",\n"
                           "  \" ## VO\",\n"
                           "  \"C ##  ## VO\",\n"
                           "  \"D ## 9:05 ## keep 2 ## vo\",\n"
                           "  \"E ## Keep5d ## Genre3\",\n"
                           "]\n",
                           &warn);
    sg_script_t *s;
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        free(warn);
        return;
    }
    CHECK(warn && strstr(warn, "t.conf:3: warning: \"A ## 25:00\": the time \"25:00\" is not "
                               "HH:MM; streamgate will skip this entry\n") != NULL);
    CHECK(warn && strstr(warn, "t.conf:4: warning: \"B ## Keepx\": \"Keepx\" is not Keep<N>") !=
          NULL);
    CHECK(warn && strstr(warn, "t.conf:5: warning: \" ## VO\": an empty pattern") != NULL);
    CHECK(warn && strstr(warn, "t.conf:6: warning: \"C ##  ## VO\": an empty option") != NULL);
    CHECK(warn && strstr(warn, "t.conf:7:") == NULL);
    CHECK(warn && strstr(warn, "t.conf:8: warning: \"E ## Keep5d ## Genre3\": ") != NULL);
    CHECK(strstr(lua, "      -- the time \"25:00\" is not HH:MM: streamgate skips this entry\n"
                      "      \"A ## 25:00\",\n") != NULL);
    s = load_lua("bad_entries", lua);
    free(lua);
    free(warn);
    if (s == NULL) return;
    NO(s, "1", "A", "", MON(1, 0));
    NO(s, "1", "B", "", MON(1, 0));
    NO(s, "1", "C", "", MON(1, 0));
    YES(s, "1", "D", "", MON(9, 0), 1, 2, "1:D");
    NO(s, "1", "D", "", MON(21, 5));
    /* Keep<N>d and Genre<N> are ignored: recorded, every one kept */
    YES(s, "1", "E", "", MON(1, 0), -1, 0, "1:E");
    /* the empty pattern did not turn into "record everything" */
    NO(s, "1", "Anything", "", MON(1, 0));
    sg_script_free(s);
}

/* A long pattern gets a rule name streamgate takes (127 bytes). */
static void
test_long_rule(void)
{
    char text[2048], title[600];
    char *lua;
    sg_script_t *s;
    memset(title, 'a', 400);
    title[400] = '\0';
    snprintf(text, sizeof(text), "[match]\n\"1\" = [\"%s\", \"%sb\"]\n", title, title);
    lua = import_str(text, NULL);
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        return;
    }
    s = load_lua("long", lua);
    free(lua);
    if (s == NULL) return;
    {
        decision_t a = ask(s, "1", title, "", MON(9, 0)), b;
        strcat(title, "b");
        b = ask(s, "1", title, "", MON(9, 0));
        CHECK_INT(a.rc, 1);
        CHECK_INT(b.rc, 1);
        CHECK(strlen(a.rule) <= 127 && strncmp(a.rule, "1:aaaa", 6) == 0);
        CHECK(strcmp(a.rule, b.rule) == 0); /* "aaa...a" matches first: the same entry */
    }
    sg_script_free(s);
}

static void
check_error_at(int line, const char *text, const char *where, const char *what)
{
    char *lua = import_str(text, NULL);
    if (lua != NULL) {
        SG_FAIL("line %d: imported, expected \"%s\"", line, what);
        free(lua);
        return;
    }
    if (strncmp(g_err, where, strlen(where)) != 0 || strstr(g_err, what) == NULL) {
        SG_FAIL("line %d: error \"%s\", expected \"%s...%s...\"", line, g_err, where, what);
    }
}

#define CHECK_ERROR(text, where, what) check_error_at(__LINE__, text, where, what)

static void
test_errors(void)
{
    CHECK_ERROR("[match]\n\"1\" = [\n  \"Noticias\n]\n", "t.conf:3: ",
                "unterminated string");
    CHECK_ERROR("[match]\n\"1\" = ['Noticias]\n", "t.conf:2: ", "unterminated string");
    CHECK_ERROR("a = \"x\\", "t.conf:1: ", "unterminated string");
    CHECK_ERROR("default_language = \"VO\"\n\n[match]\n\"1\" [\"x\"]\n", "t.conf:4: ",
                "expected '=' after the key \"1\"");
    CHECK_ERROR("[match]\n\"1\" = [\"a\" \"b\"]\n", "t.conf:2: ",
                "expected ',' or ']' in the array");
    CHECK_ERROR("[match]\n\"1\" = [\"a\",\n  \"b\",\n", "t.conf:4: ",
                "unterminated array (opened on line 2)");
    CHECK_ERROR("[match]\n\"1\" = [\"a\", ,]\n", "t.conf:2: ", "expected a value");
    CHECK_ERROR("[match]\n\n\"1\" = [\"Cap\\d+\"]\n", "t.conf:3: ",
                "invalid escape \\d in a string");
    CHECK_ERROR("[match]\n\"1\" = [\"a\"]\n1 = [\"b\"]\n", "t.conf:3: ",
                "channel \"1\" is listed twice (first on line 2)");
    CHECK_ERROR("[match]\n\"1\" = 5\n", "t.conf:2: ", "expected an array of strings, got an integer");
    CHECK_ERROR("[match]\n\"1\" = [\"a\", 5]\n", "t.conf:2: ", "expected a string, got an integer");
    CHECK_ERROR("[match]\n\"1\" = [[\"a\"]]\n", "t.conf:2: ", "expected a string, got an array");
    CHECK_ERROR("default_language = true\n", "t.conf:1: ", "default_language: expected a string");
    CHECK_ERROR("x = 1\nx = 2\n", "t.conf:2: ", "\"x\" is set twice");
    CHECK_ERROR("[match]\n[match]\n", "t.conf:2: ", "[match] is defined twice (first on line 1)");
    CHECK_ERROR("match = {}\n[match]\n", "t.conf:2: ", "match is defined twice");
    CHECK_ERROR("[match\n", "t.conf:1: ", "expected ']' after the table name");
    CHECK_ERROR("[match]\n\"1\" = [\"a\"] x\n", "t.conf:2: ", "unexpected 'x' after the value");
    CHECK_ERROR("a = VO\n", "t.conf:1: ", "\"VO\" is not a value (strings need quotes)");
    CHECK_ERROR("a = \"\"\"x\"\"\"\n", "t.conf:1: ", "multi-line strings");
    CHECK_ERROR("a = \"x\ty\x01\"\n", "t.conf:1: ", "control character 0x01");
    CHECK_ERROR("a = \"\\uD800\"\n", "t.conf:1: ", "bad \\u escape");
    CHECK_ERROR("a = \"\\u0000\"\n", "t.conf:1: ", "bad \\u escape");
    CHECK_ERROR("= 1\n", "t.conf:1: ", "expected a key");
    CHECK_ERROR("[match]\na.b = [\"x\"]\n", "t.conf:2: ", "\"a.b\" is not a channel of match");
    {
        char deep[400];
        memset(deep, '[', 300);
        snprintf(deep + 300, sizeof(deep) - 300, "\n");
        char text[420];
        snprintf(text, sizeof(text), "a = %s", deep);
        CHECK_ERROR(text, "t.conf:1: ", "nested too deep");
    }
    /* JSON: jansson's message and line */
    {
        char *lua;
        static const char bad[] = "{\n  \"match\": {\n    \"1\": [\"a\",]\n  }\n}\n";
        static const char type[] = "{\n  \"default_language\": \"VO\",\n  \"match\": {\n"
                                   "    \"1\": [\"a\"],\n    \"2\": [\"b\", 3]\n  }\n}\n";
        static const char dup[] = "{\"match\": {}, \"match\": {}}";
        lua = import("t.json", bad, strlen(bad), NULL);
        CHECK(lua == NULL && strncmp(g_err, "t.json:3: ", 10) == 0);
        free(lua);
        lua = import("t.json", type, strlen(type), NULL);
        CHECK(lua == NULL && strncmp(g_err, "t.json:5: ", 10) == 0 &&
              strstr(g_err, "expected a string, got an integer") != NULL);
        if (lua == NULL && strncmp(g_err, "t.json:5: ", 10) != 0) SG_FAIL("got %s", g_err);
        free(lua);
        lua = import("t.json", dup, strlen(dup), NULL);
        CHECK(lua == NULL && strncmp(g_err, "t.json:1: ", 10) == 0 &&
              strstr(g_err, "duplicate") != NULL);
        free(lua);
        lua = import("t.json", "{\"match\": []}", 13, NULL);
        CHECK(lua == NULL && strstr(g_err, "match: expected a table of channels") != NULL);
        free(lua);
    }
    /* a template without its markers */
    {
        FILE *f = fopen("/dev/null", "w");
        char err[256];
        CHECK_INT(sg_timers_import("t.conf", "", 0, "-- no markers\n", f, NULL, err, sizeof(err)),
                  -1);
        CHECK(strstr(err, "-- BEGIN TIMERS") != NULL);
        fclose(f);
    }
}

/* etc/timers.lua as shipped: it loads, its examples do what they say,
 * and it is the template built into the binary. */
static void
test_shipped_example(void)
{
    char path[PATH_MAX];
    sg_script_t *s;
    snprintf(path, sizeof(path), "%s/etc/timers.lua", SG_SOURCE_DIR);
    CHECK_STR(sg_timers_template(), g_template);
    g_err[0] = '\0';
    s = sg_script_load(path, g_err, sizeof(g_err));
    if (s == NULL) {
        SG_FAIL("%s does not load: %s", path, g_err);
        return;
    }
    CHECK(sg_script_has_function(s, "match"));
    /* default_language = "Esp" */
    YES(s, "1", "Telediario 2", "", MON(21, 10), 0, 0, "1:Telediario 2");
    NO(s, "1", "Telediario 2", "", MON(15, 0));
    YES(s, "1", "Informe semanal", "", MON(22, 0), 0, 4, "1:Informe semanal");
    YES(s, "1", "Cine: Titanic", "", MON(22, 0), 0, 0, "1:Cine: ");
    NO(s, "1", "Cine de barrio", "", MON(22, 0));
    YES(s, "2", "Dias de Cine", "", MON(23, 0), 0, 0, "2:Días de cine");
    YES(s, "2", "Documentos TV", "", MON(23, 0), 0, 0, "2:Documentos TV");
    YES(s, "3", "Informativos Telecinco", "", MON(20, 55), 0, 2,
        "3:Informativos Telecinco");
    YES(s, "4", "El hormiguero 3.0", "", MON(21, 45), 0, 0, "4:El hormiguero");
    YES(s, "4", "Capítulo 5", "", MON(16, 0), 0, 0, "4:Cap[ií]tulo \\d+");
    YES(s, "5", "Cuarto milenio", "", MON(22, 0), 0, 5, "5:Cuarto milenio");
    YES(s, "657", "Friends", "", MON(18, 0), 1, 3, "657:Friends");
    YES(s, "657", "The Big Bang Theory", "", MON(18, 0), 1, 0, "657:(The )?Big Bang");
    YES(s, "657", "Big Bang", "", MON(18, 0), 1, 0, "657:(The )?Big Bang");
    YES(s, "657", "Futbol: LaLiga EA Sports", "", MON(18, 0), 0, 0,
        "657:Fútbol: (LaLiga|Champions)");
    NO(s, "657", "Fútbol: Premier", "", MON(18, 0));
    NO(s, "2", "Cine", "", MON(18, 0));
    NO(s, "42", "Friends", "", MON(18, 0));
    sg_script_free(s);
}

static long
ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Thousands of programmes: well inside the budget, and quick, also with
 * more regexes than sg.re keeps compiled (the literal starts are compared
 * first). */
static void
test_speed(void)
{
    char path[PATH_MAX], *text = NULL, *lua;
    size_t len = 0;
    sg_script_t *s;
    struct timespec t0;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/etc/timers.lua", SG_SOURCE_DIR);
    s = sg_script_load(path, g_err, sizeof(g_err));
    if (s == NULL) return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 5000; i++) {
        static const char *const ch[] = {"1", "2", "657", "4", "99"};
        char title[64];
        snprintf(title, sizeof(title), "Programa número %d", i);
        n += ask(s, ch[i % 5], title, i % 3 ? "" : "Serie", MON(0, 0) + i * 600).rc;
    }
    CHECK_INT(n, 0);
    CHECK(ms_since(&t0) < 3000);
    sg_script_free(s);

    f = open_memstream(&text, &len);
    fputs("[match]\n\"1\" = [\n", f);
    for (int i = 0; i < 300; i++) fprintf(f, "  'Serie %d (S\\d+E\\d+)? ## VO',\n", i);
    fputs("]\n", f);
    fclose(f);
    lua = import("big.conf", text, len, NULL);
    free(text);
    if (lua == NULL) {
        SG_FAIL("import: %s", g_err);
        return;
    }
    s = load_lua("big", lua);
    free(lua);
    if (s == NULL) return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = 0;
    for (int i = 0; i < 2000; i++) {
        char title[64];
        snprintf(title, sizeof(title), "Serie %d S01E%02d", i % 400, i % 20);
        n += ask(s, "1", title, "", MON(0, 0) + i * 600).rc;
    }
    CHECK_INT(n, 1500);
    CHECK(ms_since(&t0) < 3000);
    sg_script_free(s);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"sample_toml_and_json", test_sample_toml_and_json},
        {"regex_rewriting", test_regex_rewriting},
        {"escaping", test_escaping},
        {"toml_forms", test_toml_forms},
        {"bad_entries", test_bad_entries},
        {"long_rule", test_long_rule},
        {"errors", test_errors},
        {"shipped_example", test_shipped_example},
        {"speed", test_speed},
        {NULL, NULL},
    };
    char path[PATH_MAX];
    int rc;

    setenv("TZ", "Europe/Madrid", 1);
    tzset();
    setlocale(LC_CTYPE, "C.UTF-8"); /* as the daemon does */
    snprintf(path, sizeof(path), "%s/etc/timers.lua", SG_SOURCE_DIR);
    g_template = read_all(path, NULL);
    if (g_template == NULL) return 1;
    rc = sg_test_run_in_tmpdir(cases, g_dir, sizeof(g_dir), "timers-import");
    free(g_template);
    return rc;
}
