/*
 * A minimal unit-test harness: each test file defines test functions and a
 * table; failures print file:line with the values and the run exits 1.
 */
#ifndef SG_TEST_H
#define SG_TEST_H

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

typedef struct sg_test_case_s {
    const char *name;
    void (*fn)(void);
} sg_test_case_t;

static int
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

#endif
