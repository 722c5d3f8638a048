/*
 * libFuzzer target: the DNS answer reader (net/sg_dns.c). The input is one
 * UDP reply; its own first two bytes are taken as the query id so that the
 * parser gets past the id check.
 */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sg_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char addr[16];
    uint32_t ttl;
    const char *why = NULL;
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;

    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    if (sg_dns_parse_a(copy, size, id, addr, sizeof(addr), &ttl, &why) == 0) {
        assert(strlen(addr) >= 7 && strlen(addr) <= 15);
    } else {
        assert(why != NULL);
    }
    free(copy);
    return 0;
}
