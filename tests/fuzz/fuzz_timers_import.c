/*
 * libFuzzer target: `streamgate timers-import`, movistar-u7d's timers.conf
 * (our TOML subset, or JSON) to Lua. Every input either fails with
 * "fuzz:LINE: message" and writes nothing, or gives the template's head,
 * the data section and its tail, and that text is Lua that compiles and
 * runs (whatever bytes the keys and entries hold); warnings are whole
 * "fuzz:LINE: warning: ..." lines.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/sg_timers_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char head[] = "-- head\n";
static const char tail[] = "-- END TIMERS\nreturn timers\n";
static const char tmpl[] = "-- head\n-- BEGIN TIMERS\nlocal timers = {}\n-- END TIMERS\nreturn timers\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL, *warn = NULL, err[512];
    size_t outlen = 0, wlen = 0;
    FILE *fo = open_memstream(&out, &outlen), *fw = open_memstream(&warn, &wlen);
    int rc;

    assert(fo != NULL && fw != NULL);
    rc = sg_timers_import("fuzz", (const char *)data, size, tmpl, fo, fw, err, sizeof(err));
    fclose(fo);
    fclose(fw);
    assert(rc == 0 || rc == -1);
    if (rc != 0) {
        assert(outlen == 0);
        assert(strncmp(err, "fuzz:", 5) == 0 && strstr(err, ": ") != NULL);
    } else {
        lua_State *L;
        assert(outlen > sizeof(head) + sizeof(tail));
        assert(memcmp(out, head, sizeof(head) - 1) == 0);
        assert(memcmp(out + outlen - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0);
        assert(strstr(out, "\n-- BEGIN TIMERS\n") != NULL);
        L = luaL_newstate();
        assert(L != NULL);
        if (luaL_loadbufferx(L, out, outlen, "=out", "t") != LUA_OK) {
            fprintf(stderr, "not Lua: %s\n%s\n", lua_tostring(L, -1), out);
            abort();
        }
        assert(lua_pcall(L, 0, 1, 0) == LUA_OK && lua_istable(L, -1));
        lua_getfield(L, -1, "match");
        assert(lua_istable(L, -1));
        lua_close(L);
    }
    /* every warning a whole line of its own */
    for (size_t i = 0; i < wlen;) {
        const char *nl = memchr(warn + i, '\n', wlen - i);
        assert(nl != NULL);
        assert(strncmp(warn + i, "fuzz:", 5) == 0 && memmem(warn + i, (size_t)(nl - warn) - i,
                                                             ": warning: ", 11) != NULL);
        i = (size_t)(nl - warn) + 1;
    }
    free(out);
    free(warn);
    return 0;
}
