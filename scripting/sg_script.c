#include "sg_script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicase.h>
#include <unictype.h>
#include <unistr.h>

#include "util/sg_log.h"

#define SG_SCRIPT_REGEX_CACHE 64

typedef struct sg_script_re_s {
    char *pattern;
    regex_t re;
    unsigned long used;
} sg_script_re_t;

struct sg_script_s {
    lua_State *L;
    char *path;
    size_t mem;
    long budget;
    /* compiled sg.re patterns: rules run the same few over every programme */
    sg_script_re_t re[SG_SCRIPT_REGEX_CACHE];
    unsigned long re_clock;
};

/* A memory cap for the whole state. */
static void *
sg_script_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sg_script_t *s = ud;
    size_t old = ptr ? osize : 0;
    void *n;

    if (nsize == 0) {
        free(ptr);
        s->mem -= old;
        return NULL;
    }
    if (nsize > old && s->mem + (nsize - old) > SG_SCRIPT_MEMORY) return NULL;
    n = realloc(ptr, nsize);
    if (n) s->mem = s->mem - old + nsize;
    return n;
}

static void
sg_script_hook(lua_State *L, lua_Debug *ar)
{
    sg_script_t *s;
    (void)ar;
    lua_getallocf(L, (void **)&s);
    s->budget -= 1000;
    if (s->budget <= 0) {
        /* From now on every instruction fails, so a script that catches the
         * error with pcall() and carries on is stopped at its next step. */
        lua_sethook(L, sg_script_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "instruction budget exhausted (runaway script?)");
    }
}

static int
sg_lua_log(lua_State *L)
{
    sg_script_t *s;
    luaL_Buffer b;
    int n = lua_gettop(L);

    lua_getallocf(L, (void **)&s);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
        if (i < n) luaL_addchar(&b, ' ');
    }
    luaL_pushresult(&b);
    sg_log(SG_LOG_INFO, "script", "%s: %s", s->path, lua_tostring(L, -1));
    return 0;
}

/* sg.re(pattern, s): does the POSIX extended regular expression match
 * anywhere in s, ignoring case? */
static int
sg_lua_re(lua_State *L)
{
    sg_script_t *s;
    const char *pat = luaL_checkstring(L, 1), *text = luaL_checkstring(L, 2);
    sg_script_re_t *e = NULL, *old = NULL;
    char why[160];
    int rc;

    lua_getallocf(L, (void **)&s);
    for (int i = 0; i < SG_SCRIPT_REGEX_CACHE; i++) {
        sg_script_re_t *c = &s->re[i];
        if (c->pattern && strcmp(c->pattern, pat) == 0) {
            e = c;
            break;
        }
        /* the slot to fill: an empty one, else the least recently used */
        if (old == NULL || (old->pattern && (c->pattern == NULL || c->used < old->used))) old = c;
    }
    if (e == NULL) {
        regex_t re;
        rc = regcomp(&re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &re, why, sizeof(why));
            return luaL_error(L, "sg.re: bad pattern \"%s\": %s", pat, why);
        }
        e = old;
        if (e->pattern) {
            regfree(&e->re);
            free(e->pattern);
        }
        e->pattern = strdup(pat);
        if (e->pattern == NULL) {
            regfree(&re);
            return luaL_error(L, "sg.re: out of memory");
        }
        e->re = re;
    }
    e->used = ++s->re_clock;
    lua_pushboolean(L, regexec(&e->re, text, 0, NULL, 0) == 0);
    return 1;
}

/* sg.fold(s): s case-folded and without accents ("Fútbol" -> "futbol"),
 * for comparisons that ignore both. Bytes that are not UTF-8 only lose
 * their ASCII case. */
static int
sg_lua_fold(lua_State *L)
{
    size_t n, len = 0;
    const char *in = luaL_checklstring(L, 1, &n);
    uint8_t *f = u8_check((const uint8_t *)in, n) != NULL
                     ? NULL
                     : u8_casefold((const uint8_t *)in, n, NULL, UNINORM_NFD, NULL, &len);
    luaL_Buffer b;

    luaL_buffinit(L, &b);
    if (f == NULL) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)in[i];
            luaL_addchar(&b, c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c);
        }
    } else {
        const uint8_t *p = f, *end = f + len;
        while (p < end) {
            ucs4_t uc;
            int k = u8_mbtouc(&uc, p, (size_t)(end - p));
            /* the accents are combining marks after NFD */
            if (!uc_is_general_category(uc, UC_CATEGORY_M)) luaL_addlstring(&b, (const char *)p, k);
            p += k;
        }
        free(f);
    }
    luaL_pushresult(&b);
    return 1;
}

static time_t
sg_lua_time(lua_State *L, struct tm *tm)
{
    time_t t = (time_t)luaL_checknumber(L, 1);
    if (localtime_r(&t, tm) == NULL) luaL_error(L, "time %f out of range", lua_tonumber(L, 1));
    return t;
}

/* Monday 1 .. Sunday 7 */
static int
sg_weekday(const struct tm *tm)
{
    return tm->tm_wday == 0 ? 7 : tm->tm_wday;
}

/* sg.localtime(t): the daemon's local time (its timezone setting) as
 * {year, month, day, hour, min, sec, weekday (1 = Monday), yday, isdst}. */
static int
sg_lua_localtime(lua_State *L)
{
    struct tm tm;
    sg_lua_time(L, &tm);
    lua_createtable(L, 0, 9);
    lua_pushinteger(L, tm.tm_year + 1900);
    lua_setfield(L, -2, "year");
    lua_pushinteger(L, tm.tm_mon + 1);
    lua_setfield(L, -2, "month");
    lua_pushinteger(L, tm.tm_mday);
    lua_setfield(L, -2, "day");
    lua_pushinteger(L, tm.tm_hour);
    lua_setfield(L, -2, "hour");
    lua_pushinteger(L, tm.tm_min);
    lua_setfield(L, -2, "min");
    lua_pushinteger(L, tm.tm_sec);
    lua_setfield(L, -2, "sec");
    lua_pushinteger(L, sg_weekday(&tm));
    lua_setfield(L, -2, "weekday");
    lua_pushinteger(L, tm.tm_yday + 1);
    lua_setfield(L, -2, "yday");
    lua_pushboolean(L, tm.tm_isdst > 0);
    lua_setfield(L, -2, "isdst");
    return 1;
}

/* sg.weekday(t): 1 (Monday) .. 7 (Sunday), local time. */
static int
sg_lua_weekday(lua_State *L)
{
    struct tm tm;
    sg_lua_time(L, &tm);
    lua_pushinteger(L, sg_weekday(&tm));
    return 1;
}

static void
sg_script_open_libs(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},   {NULL, NULL},
    };
    static const char *const unsafe[] = {"dofile", "loadfile", "load", "require", "collectgarbage",
                                         NULL};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    for (const char *const *u = unsafe; *u; u++) {
        lua_pushnil(L);
        lua_setglobal(L, *u);
    }
    /* string.rep can allocate gigabytes in one instruction; the memory cap
     * stops it, but keep print on our log. */
    lua_pushcfunction(L, sg_lua_log);
    lua_setglobal(L, "print");
    {
        static const luaL_Reg sg[] = {
            {"log", sg_lua_log},           {"re", sg_lua_re},
            {"fold", sg_lua_fold},         {"localtime", sg_lua_localtime},
            {"weekday", sg_lua_weekday},   {NULL, NULL},
        };
        luaL_newlib(L, sg);
        lua_setglobal(L, "sg");
    }
}

sg_script_t *
sg_script_load(const char *path, char *err, size_t errlen)
{
    sg_script_t *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL || (s->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(s);
        return NULL;
    }
    s->L = lua_newstate(sg_script_alloc, s);
    if (s->L == NULL) {
        snprintf(err, errlen, "%s: cannot create a Lua state", path);
        sg_script_free(s);
        return NULL;
    }
    sg_script_open_libs(s->L);
    lua_sethook(s->L, sg_script_hook, LUA_MASKCOUNT, 1000);
    s->budget = SG_SCRIPT_BUDGET;
    /* Text only: a precompiled chunk could break the VM's invariants. */
    rc = luaL_loadfilex(s->L, path, "t");
    if (rc == LUA_OK) rc = lua_pcall(s->L, 0, 0, 0);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(s->L, -1);
        /* Lua already prefixes "path:line:"; file errors do not. */
        if (msg && strncmp(msg, path, strlen(path)) == 0) {
            snprintf(err, errlen, "%s", msg);
        } else {
            snprintf(err, errlen, "%s:0: %s", path, msg ? msg : "error");
        }
        sg_script_free(s);
        return NULL;
    }
    return s;
}

void
sg_script_free(sg_script_t *s)
{
    if (s == NULL) return;
    if (s->L) lua_close(s->L);
    for (int i = 0; i < SG_SCRIPT_REGEX_CACHE; i++) {
        if (s->re[i].pattern == NULL) continue;
        regfree(&s->re[i].re);
        free(s->re[i].pattern);
    }
    free(s->path);
    free(s);
}

int
sg_script_has_function(sg_script_t *s, const char *name)
{
    int t;
    /* A raw lookup: a script's metatable on _G cannot run (or throw) here,
     * outside any protected call. */
    lua_rawgeti(s->L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(s->L, name);
    t = lua_rawget(s->L, -2);
    lua_pop(s->L, 2);
    return t == LUA_TFUNCTION;
}

const char *
sg_script_path(sg_script_t *s)
{
    return s->path;
}

/* ---- match(p) ------------------------------------------------------------------------- */

static void
sg_lua_set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v ? v : "");
    lua_setfield(L, -2, k);
}

static void
sg_lua_set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* Protected: builds p and calls match(p); leaves its result. */
static int
sg_script_match_call(lua_State *L)
{
    const sg_script_prog_t *p = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, "match");
    lua_rawget(L, -2);
    lua_createtable(L, 0, 12);
    sg_lua_set_str(L, "channel", p->channel);
    sg_lua_set_str(L, "channel_name", p->channel_name);
    sg_lua_set_str(L, "title", p->title);
    sg_lua_set_str(L, "series", p->series);
    sg_lua_set_str(L, "episode_title", p->episode_title);
    sg_lua_set_str(L, "genre", p->genre);
    sg_lua_set_str(L, "description", p->description);
    sg_lua_set_int(L, "season", p->season);
    sg_lua_set_int(L, "episode", p->episode);
    sg_lua_set_int(L, "start", p->start);
    sg_lua_set_int(L, "duration", p->duration);
    lua_pushboolean(L, p->is_series);
    lua_setfield(L, -2, "is_series");
    lua_call(L, 1, 1);
    return 1;
}

/* An optional boolean field: -1 when absent. */
static int
sg_match_flag(lua_State *L, int t, const char *k)
{
    int v, ty = lua_getfield(L, t, k);
    v = ty == LUA_TNIL ? -1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static int
sg_match_text(lua_State *L, int t, const char *k, char *out, size_t n, char *err, size_t errlen)
{
    int ty = lua_getfield(L, t, k);
    out[0] = '\0';
    if (ty == LUA_TSTRING) {
        size_t len;
        const char *v = lua_tolstring(L, -1, &len);
        if (len >= n || memchr(v, '\0', len)) {
            snprintf(err, errlen, "match() returned a %s that is too long or has a NUL", k);
            lua_pop(L, 1);
            return -1;
        }
        memcpy(out, v, len + 1);
    } else if (ty != LUA_TNIL) {
        snprintf(err, errlen, "match() returned a %s that is not a string", k);
        lua_pop(L, 1);
        return -1;
    }
    lua_pop(L, 1);
    return 0;
}

int
sg_script_match(sg_script_t *s, const sg_script_prog_t *p, sg_script_match_t *out, char *err,
                size_t errlen)
{
    lua_State *L = s->L;
    int rc, top = lua_gettop(L), ret = 0;

    memset(out, 0, sizeof(*out));
    out->vo = out->mp4 = -1;
    err[0] = '\0';
    if (!sg_script_has_function(s, "match")) return 0;
    s->budget = SG_SCRIPT_CALL_BUDGET;
    lua_sethook(L, sg_script_hook, LUA_MASKCOUNT, 1000);
    lua_pushcfunction(L, sg_script_match_call);
    lua_pushlightuserdata(L, (void *)p);
    rc = lua_pcall(L, 1, 1, 0);
    if (rc != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "error (not a string)");
        ret = s->budget <= 0 ? -2 : -1;
    } else if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
        ret = 0;
    } else if (lua_isboolean(L, -1)) {
        ret = 1; /* true: record with the defaults */
    } else if (lua_istable(L, -1)) {
        int t = lua_gettop(L), keep;
        lua_getfield(L, t, "record");
        ret = lua_toboolean(L, -1);
        lua_pop(L, 1);
        out->vo = sg_match_flag(L, t, "vo");
        out->mp4 = sg_match_flag(L, t, "mp4");
        lua_getfield(L, t, "keep");
        keep = (int)lua_tointegerx(L, -1, &rc);
        if (!lua_isnil(L, -1) && (!rc || keep < 0)) {
            snprintf(err, errlen, "match() returned keep that is not a count");
            ret = -1;
        }
        out->keep = rc ? keep : 0;
        lua_pop(L, 1);
        if (ret >= 0 && (sg_match_text(L, t, "folder", out->folder, sizeof(out->folder), err,
                                       errlen) != 0 ||
                         sg_match_text(L, t, "rule", out->rule, sizeof(out->rule), err,
                                       errlen) != 0)) {
            ret = -1;
        }
    } else {
        snprintf(err, errlen, "match() returned a %s; expected nil or a table",
                 luaL_typename(L, -1));
        ret = -1;
    }
    lua_settop(L, top);
    return ret;
}
