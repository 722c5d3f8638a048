#include "sg_script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sg_log.h"

struct sg_script_s {
    lua_State *L;
    char *path;
    size_t mem;
    long budget;
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
    lua_newtable(L);
    lua_pushcfunction(L, sg_lua_log);
    lua_setfield(L, -2, "log");
    lua_setglobal(L, "sg");
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
