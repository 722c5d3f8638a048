/*
 * libFuzzer target: plugins/4gtv's network-facing parsers (tv_model.c): the
 * programme list (JSON from www.4gtv.tv), the signed URL's expiry, and the
 * template expansion with the input as a template.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tv_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
seen(void *arg, const tv_prog_t *p)
{
    (void)arg;
    assert(p->title && p->title[0] && p->stop > p->start && p->stop - p->start <= 2 * 86400);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), out[512];
    const char *why = NULL;
    int skipped = -1, n;

    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    n = tv_proglist_parse(text, size, seen, NULL, &skipped, &why);
    assert(n >= -1 && (n >= 0 || why != NULL) && skipped >= 0);
    (void)tv_expiry(text);
    if (tv_expand(text, "4gtv-4gtv001", 720, 62361998, 249448004, out, sizeof(out)) == 0) {
        assert(strlen(out) < sizeof(out));
    }
    free(text);
    return 0;
}
