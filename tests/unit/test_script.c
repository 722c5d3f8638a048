/* The Lua sandbox: loading, error messages, the instruction budget, the
 * memory cap and the libraries a script must not see. */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <time.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sg_script.h"
#include "sg_test.h"
#include "util/sg_util.h"

static char g_dir[64];
static char g_path[PATH_MAX];
static char g_err[1024];

/* Write text as dir/name.lua and load it; err in g_err. */
static sg_script_t *
load(const char *name, const char *text)
{
    FILE *fp;
    snprintf(g_path, sizeof(g_path), "%s/%s.lua", g_dir, name);
    fp = fopen(g_path, "w");
    if (fp == NULL) {
        SG_FAIL("cannot write %s: %s", g_path, strerror(errno));
        return NULL;
    }
    fputs(text, fp);
    fclose(fp);
    g_err[0] = '\0';
    return sg_script_load(g_path, g_err, sizeof(g_err));
}

/* The error is "<path>:<line>: <message>" and contains what. */
static void
check_err_at(int line, const char *where, const char *what)
{
    char prefix[PATH_MAX + 32];
    /* where NULL: any line */
    snprintf(prefix, sizeof(prefix), "%s:%s", g_path, where ? where : "");
    if (where) strcat(prefix, ": ");
    if (strncmp(g_err, prefix, strlen(prefix)) != 0 || strstr(g_err, what) == NULL) {
        SG_FAIL("line %d: error \"%s\", expected \"%s...%s...\"", line, g_err, prefix, what);
    }
}

#define CHECK_ERR(where, what) check_err_at(__LINE__, where, what)

static void
test_valid(void)
{
    sg_script_t *s = load("valid", "-- timer rules\n"
                                   "local n = 0\n"
                                   "for i = 1, 100 do n = n + i end\n"
                                   "assert(n == 5050)\n"
                                   "assert(string.format('%d', 7) == '7')\n"
                                   "assert(math.max(1, 2) == 2 and utf8.char(241) == '\\u{f1}')\n"
                                   "assert(table.concat({'a', 'b'}, ',') == 'a,b')\n"
                                   "print('loaded', n, nil)\n"
                                   "sg.log('via sg.log')\n"
                                   "function match(p) return p.title == 'News' end\n"
                                   "helper = 5\n"
                                   "local function private() end\n");
    CHECK(s != NULL);
    if (s == NULL) {
        SG_FAIL("error: %s", g_err);
        return;
    }
    CHECK_INT(sg_script_has_function(s, "match"), 1);
    CHECK_INT(sg_script_has_function(s, "helper"), 0);
    CHECK_INT(sg_script_has_function(s, "private"), 0);
    CHECK_INT(sg_script_has_function(s, "nope"), 0);
    CHECK_INT(sg_script_has_function(s, "print"), 1);
    CHECK_STR(sg_script_path(s), g_path);
    sg_script_free(s);
    sg_script_free(NULL);
}

static void
test_errors(void)
{
    CHECK(load("syntax", "-- a comment\nfunction match(\n  return 1\nend\n") == NULL);
    CHECK_ERR("3", "near 'return'");

    CHECK(load("unfinished", "function match()\n  if x then\n") == NULL);
    CHECK_ERR("3", "'end' expected");

    CHECK(load("runtime", "local a = 1\nlocal x = nil\nx.y = a\n") == NULL);
    CHECK_ERR("3", "attempt to index a nil value (local 'x')");

    CHECK(load("error", "\n\nerror('custom failure')\n") == NULL);
    CHECK_ERR("3", "custom failure");

    /* messages without a position get line 0 */
    CHECK(load("nopos", "error('bare', 0)\n") == NULL);
    CHECK_ERR("0", "bare");
    CHECK(load("table_error", "error({})\n") == NULL);
    CHECK_ERR("0", "error");

    /* precompiled chunks are refused */
    CHECK(load("binary", "\x1bLua\x54\x00garbage") == NULL);
    CHECK_ERR("0", "attempt to load a binary chunk");
}

static void
test_missing_file(void)
{
    char want[3 * PATH_MAX];
    snprintf(g_path, sizeof(g_path), "%s/does-not-exist.lua", g_dir);
    g_err[0] = '\0';
    CHECK(sg_script_load(g_path, g_err, sizeof(g_err)) == NULL);
    snprintf(want, sizeof(want), "%s:0: cannot open %s: No such file or directory", g_path, g_path);
    CHECK_STR(g_err, want);

    /* a directory is not a script either */
    snprintf(g_path, sizeof(g_path), "%s", g_dir);
    g_err[0] = '\0';
    CHECK(sg_script_load(g_path, g_err, sizeof(g_err)) == NULL);
    CHECK(strncmp(g_err, g_dir, strlen(g_dir)) == 0 && strstr(g_err, ":0: cannot read") != NULL);

    /* a tiny error buffer is still terminated */
    {
        char tiny[8];
        memset(tiny, 'x', sizeof(tiny));
        CHECK(sg_script_load("/nonexistent/x.lua", tiny, sizeof(tiny)) == NULL);
        CHECK_STR(tiny, "/nonexi");
    }
}

static void
test_budget(void)
{
    uint64_t t0 = sg_mono_ms();
    CHECK(load("loop", "local i = 0\nwhile true do i = i + 1 end\n") == NULL);
    CHECK_ERR(NULL, "instruction budget exhausted (runaway script?)");
    CHECK(sg_mono_ms() - t0 < 5000);
    t0 = sg_mono_ms();
    CHECK(load("recursion", "local function f(n) return f(n + 1) end\nf(1)\n") == NULL);
    CHECK_ERR(NULL, "instruction budget exhausted");
    CHECK(sg_mono_ms() - t0 < 5000);

    /* catching the budget error with pcall() does not buy more time */
    t0 = sg_mono_ms();
    CHECK(load("pcall", "while true do pcall(function() while true do end end) end\n") == NULL);
    CHECK_ERR(NULL, "instruction budget exhausted");
    CHECK(sg_mono_ms() - t0 < 5000);

    /* a busy but finite top level is fine */
    sg_script_t *s = load("finite", "local n = 0\nfor i = 1, 100000 do n = n + i end\n"
                                    "function match() return n end\n");
    CHECK(s != NULL);
    sg_script_free(s);
}

/* A metatable on _G that throws must not reach the daemon outside a
 * protected call. */
static void
test_hostile_globals(void)
{
    sg_script_t *s = load("meta", "function match() return nil end\n"
                                  "setmetatable(_G, {__index = function() error('boom') end})\n");
    CHECK(s != NULL);
    if (s == NULL) return;
    CHECK(sg_script_has_function(s, "match"));
    CHECK(!sg_script_has_function(s, "absent"));
    sg_script_free(s);
}

static void
test_memory_cap(void)
{
    uint64_t t0 = sg_mono_ms();
    CHECK(load("rep", "local s = string.rep('x', 1e9)\nfunction match() return #s end\n") == NULL);
    CHECK_ERR("0", "not enough memory");
    CHECK(sg_mono_ms() - t0 < 5000);

    CHECK(load("concat", "local s = 'x'\nwhile true do s = s .. s end\n") == NULL);
    CHECK_ERR("0", "not enough memory");

    CHECK(load("table", "local t = {}\nfor i = 1, 1e9 do t[i] = {} end\n") == NULL);
    CHECK(strstr(g_err, "not enough memory") != NULL ||
          strstr(g_err, "instruction budget exhausted") != NULL);

    /* well under the cap is fine */
    sg_script_t *s = load("small", "local s = string.rep('x', 1000000)\nassert(#s == 1000000)\n");
    CHECK(s != NULL);
    sg_script_free(s);
}

static void
test_sandbox(void)
{
    char marker[PATH_MAX + 16], text[2 * PATH_MAX + 64];
    struct stat st;
    sg_script_t *s;

    s = load("env", "assert(os == nil and io == nil and debug == nil and package == nil)\n"
                    "assert(require == nil and dofile == nil and loadfile == nil)\n"
                    "assert(load == nil and collectgarbage == nil and coroutine == nil)\n"
                    "assert(type(string.rep) == 'function' and type(pcall) == 'function')\n"
                    "function match() end\n");
    CHECK(s != NULL);
    if (s == NULL) SG_FAIL("error: %s", g_err);
    sg_script_free(s);

    snprintf(marker, sizeof(marker), "%s/marker", g_dir);
    snprintf(text, sizeof(text), "os.execute('touch %s')\n", marker);
    CHECK(load("os_execute", text) == NULL);
    CHECK_ERR("1", "attempt to index a nil value (global 'os')");
    CHECK(stat(marker, &st) != 0);

    snprintf(text, sizeof(text), "local f = io.open('%s', 'w')\n", marker);
    CHECK(load("io_open", text) == NULL);
    CHECK_ERR("1", "attempt to index a nil value (global 'io')");
    CHECK(stat(marker, &st) != 0);

    CHECK(load("require", "\nlocal m = require('os')\n") == NULL);
    CHECK_ERR("2", "attempt to call a nil value (global 'require')");

    CHECK(load("dofile", "dofile('/etc/passwd')\n") == NULL);
    CHECK_ERR("1", "attempt to call a nil value (global 'dofile')");

    CHECK(load("loadstr", "local f = load('return 1')\n") == NULL);
    CHECK_ERR("1", "attempt to call a nil value (global 'load')");

    CHECK(load("loadfile", "loadfile('/etc/passwd')\n") == NULL);
    CHECK_ERR("1", "attempt to call a nil value (global 'loadfile')");
}

static void
test_helpers(void)
{
    sg_script_t *s;
    setenv("TZ", "Europe/Madrid", 1);
    tzset();
    setlocale(LC_CTYPE, "C.UTF-8"); /* as the daemon does */
    s = load("helpers",
             "assert(sg.re('^noticias|^telediario', 'TELEDIARIO 2') == true)\n"
             "assert(sg.re('^noticias', 'Las noticias') == false)\n"
             "assert(sg.re('cap[ií]tulo [0-9]+', 'El Capítulo 12') == true)\n"
             "assert(sg.re('^ÁGUILA', 'águila roja') == true)\n"
             "assert(sg.re('x', '') == false)\n"
             "for i = 1, 200 do assert(sg.re('^p' .. i .. '$', 'P' .. i)) end\n" /* cache churn */
             "assert(sg.re('^p7$', 'p7') and not sg.re('^p7$', 'p70'))\n"
             "assert(sg.fold('Fútbol: ÁÉÍÓÚ Ñandú') == 'futbol: aeiou nandu')\n"
             "assert(sg.fold('Straße') == 'strasse')\n"
             "assert(sg.fold('\\xff\\xfeABC') == '\\xff\\xfeabc')\n" /* not UTF-8 */
             "local t = sg.localtime(1767225600)\n" /* 2026-01-01 00:00 UTC */
             "assert(t.year == 2026 and t.month == 1 and t.day == 1 and t.hour == 1 and t.min == 0)\n"
             "assert(t.weekday == 4 and t.yday == 1 and t.isdst == false)\n"
             "local s = sg.localtime(1783000000)\n" /* 2026-07-02 in summer time */
             "assert(s.isdst == true and s.hour == (1783000000 % 86400) // 3600 + 2)\n"
             "assert(sg.weekday(1767225600) == 4 and sg.weekday(1767225600 + 3 * 86400) == 7)\n"
             "assert(sg.weekday(1767225600 + 4 * 86400) == 1)\n"
             "assert(not pcall(sg.re, '(', 'x'))\n"
             "local ok, e = pcall(sg.re, 'a{', 'x')\n"
             "assert(not ok and e:find('bad pattern', 1, true))\n"
             "assert(not pcall(sg.localtime, 'soon'))\n"
             "function match() end\n");
    if (s == NULL) SG_FAIL("error: %s", g_err);
    sg_script_free(s);
}

static const sg_script_prog_t g_prog = {
    .channel = "1", .channel_name = "La 1", .title = "Noticias 2", .series = "",
    .episode_title = "", .genre = "News", .description = "Today's news",
    .season = 0, .episode = 0, .is_series = 0, .start = 1767225600, .duration = 1800,
};

static void
test_match(void)
{
    sg_script_match_t m;
    sg_script_prog_t p = g_prog;
    char err[512];
    sg_script_t *s = load(
        "match",
        "calls = 0\n"
        "function match(p)\n"
        "  calls = calls + 1\n"
        "  if p.title == 'loop' then while true do end end\n"
        "  if p.title == 'os' then os.execute('true') end\n"
        "  if p.title == 'io' then io.open('/etc/passwd') end\n"
        "  if p.title == 'bad' then return 42 end\n"
        "  if p.title == 'badkeep' then return {record = true, keep = 'x'} end\n"
        "  if p.title == 'yes' then return true end\n"
        "  if p.title == 'count' then return {record = true, rule = tostring(calls)} end\n"
        "  if p.is_series then\n"
        "    return {record = true, vo = true, mp4 = false, keep = 3, folder = 'Series/' .. p.series,\n"
        "            rule = p.series .. ' ' .. p.season .. 'x' .. p.episode .. ' ' .. p.episode_title}\n"
        "  end\n"
        "  if sg.re('^noticias', p.title) and p.channel == '1' and p.channel_name == 'La 1'\n"
        "     and p.genre == 'News' and p.description == \"Today's news\"\n"
        "     and p.start == 1767225600 and p.duration == 1800 then\n"
        "    return {record = true}\n"
        "  end\n"
        "end\n");
    if (s == NULL) {
        SG_FAIL("error: %s", g_err);
        return;
    }
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 1);
    CHECK_INT(m.vo, -1);
    CHECK_INT(m.mp4, -1);
    CHECK_INT(m.keep, 0);
    CHECK_STR(m.folder, "");
    p.title = "Cine";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 0);
    p.title = "Friends";
    p.series = "Friends";
    p.season = 2;
    p.episode = 5;
    p.episode_title = "The One";
    p.is_series = 1;
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 1);
    CHECK_INT(m.vo, 1);
    CHECK_INT(m.mp4, 0);
    CHECK_INT(m.keep, 3);
    CHECK_STR(m.folder, "Series/Friends");
    CHECK_STR(m.rule, "Friends 2x5 The One");
    p = g_prog;
    p.title = "yes";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 1);

    /* a runaway call is stopped, the next one runs with a fresh budget */
    p.title = "loop";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), -2);
    CHECK(strstr(err, "instruction budget exhausted") != NULL);
    p.title = "count";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 1);
    CHECK_STR(m.rule, "6");
    /* hostile calls fail alone */
    p.title = "os";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), -1);
    CHECK(strstr(err, "global 'os'") != NULL);
    p.title = "io";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), -1);
    CHECK(strstr(err, "global 'io'") != NULL);
    p.title = "bad";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), -1);
    CHECK(strstr(err, "returned a number") != NULL);
    p.title = "badkeep";
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), -1);
    p = g_prog;
    CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 1);
    sg_script_free(s);

    /* no match(): nothing is recorded */
    s = load("nomatch", "x = 1\n");
    CHECK(s != NULL);
    if (s) CHECK_INT(sg_script_match(s, &p, &m, err, sizeof(err)), 0);
    sg_script_free(s);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"valid", test_valid},
        {"errors", test_errors},
        {"missing_file", test_missing_file},
        {"budget", test_budget},
        {"memory_cap", test_memory_cap},
        {"sandbox", test_sandbox},
        {"hostile_globals", test_hostile_globals},
        {"helpers", test_helpers},
        {"match", test_match},
        {NULL, NULL},
    };
    return sg_test_run_in_tmpdir(cases, g_dir, sizeof(g_dir), "script");
}
