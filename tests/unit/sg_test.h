/*
 * A minimal unit-test harness: each test file defines test functions and a
 * table; failures print file:line with the values and the run exits 1.
 */
#ifndef SG_TEST_H
#define SG_TEST_H

#include <errno.h>
#include <event2/buffer.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sg_test_failures;
static const char *sg_test_current;

#define SG_FAIL(...)                                                            \
    do {                                                                        \
        fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, sg_test_current);    \
        fprintf(stderr, __VA_ARGS__);                                           \
        fprintf(stderr, "\n");                                                  \
        sg_test_failures++;                                                     \
    } while (0)

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) SG_FAIL("check failed: %s", #cond);                        \
    } while (0)

#define CHECK_INT(a, b)                                                         \
    do {                                                                        \
        long long _a = (long long)(a), _b = (long long)(b);                     \
        if (_a != _b) SG_FAIL("%s == %lld, expected %lld", #a, _a, _b);         \
    } while (0)

#define CHECK_STR(a, b)                                                         \
    do {                                                                        \
        const char *_a = (a), *_b = (b);                                        \
        if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0)                    \
            SG_FAIL("%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)",    \
                    _b ? _b : "(null)");                                        \
    } while (0)

/* ---- helpers shared by the test files ------------------------------------ */

static __attribute__((unused)) int
sg_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf dir; a failure counts as a test failure. */
static __attribute__((unused)) void
sg_test_rmtree(const char *dir)
{
    if (nftw(dir, sg_test_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        SG_FAIL("cannot remove %s: %s", dir, strerror(errno));
    }
}

/* A fresh directory /tmp/sg-test-<what>-XXXXXX in buf; 0 or -1. */
static __attribute__((unused)) int
sg_test_mkdtemp(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "/tmp/sg-test-%s-XXXXXX", what);
    if (mkdtemp(buf) == NULL) {
        SG_FAIL("mkdtemp: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Drain an evbuffer into a malloc'ed, NUL-terminated string. */
static __attribute__((unused)) char *
sg_test_drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    if (s) {
        evbuffer_remove(b, s, n);
        s[n] = '\0';
    }
    return s;
}

typedef struct sg_test_case_s {
    const char *name;
    void (*fn)(void);
} sg_test_case_t;

static __attribute__((unused)) int
sg_test_run(const sg_test_case_t *cases)
{
    int n = 0;
    for (const sg_test_case_t *c = cases; c->name; c++, n++) {
        int before = sg_test_failures;
        sg_test_current = c->name;
        c->fn();
        printf("%s %s\n", sg_test_failures == before ? "ok  " : "FAIL", c->name);
    }
    printf("%d tests, %d failures\n", n, sg_test_failures);
    return sg_test_failures ? 1 : 0;
}

/* Run the cases with a temporary directory in dir (removed afterwards). */
static __attribute__((unused)) int
sg_test_run_in_tmpdir(const sg_test_case_t *cases, char *dir, size_t n, const char *what)
{
    int rc;
    if (sg_test_mkdtemp(dir, n, what) != 0) return 1;
    rc = sg_test_run(cases);
    sg_test_rmtree(dir);
    return rc || sg_test_failures ? 1 : 0;
}

#endif
