/*
 * libFuzzer target: libconfig's parser plus our validator against the core
 * key tables, through sg_conf_file_load() on a temp file that is created
 * once and rewritten for every input.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/sg_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 (Debian 12) leaks the string it was scanning when a syntax
 * error follows it (the input `""` is enough); not ours to fix here. */
const char *
__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

static char path[64];
static int fd = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_conf_file_t f;
    int rc;

    /* @include would make libconfig read any file the input names,
     * /dev/zero or a FIFO among them: not what this target is about. */
    if (memmem(data, size, "include", 7) != NULL) return 0;
    if (fd < 0) {
        /* libFuzzer ends with _Exit(): unlink at once, read it back through
         * /proc so nothing is left in /tmp */
        char tmpl[] = "/tmp/sg-fuzz-conf-XXXXXX";
        fd = mkstemp(tmpl);
        if (fd < 0) abort();
        unlink(tmpl);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();

    rc = sg_conf_file_load(&f, path);
    assert(rc == 0 || rc == -1);
    assert((rc == 0) == (f.errs.n == 0 && f.root != NULL));
    for (int i = 0; i < f.errs.n; i++) assert(f.errs.msg[i] != NULL && f.errs.msg[i][0] != '\0');
    if (f.root) {
        /* the accessors the daemon uses, on whatever validated */
        const sg_conf_t *srv = sg_conf_group(f.root, "server", 0);
        assert(srv != NULL);
        for (int i = 0; i < sg_conf_count(srv, "listen"); i++) {
            (void)sg_conf_list_string(srv, "listen", i);
        }
        (void)sg_conf_int(srv, "keepalive_timeout");
        (void)sg_conf_bool(srv, "access_log");
        (void)sg_conf_string(srv, "state_dir");
        (void)sg_conf_int(sg_conf_group(f.root, "catalog", 0), "retention_days");
        (void)sg_conf_count(f.root, "plugins");
        sg_conf_error(srv, "listen", "a check() report");
    }
    sg_conf_file_free(&f);
    return 0;
}
