/* The DNS answer reader behind host->net_dns, on hand-built replies. */
#include <string.h>

#include "net/sg_dns.h"
#include "sg_test.h"

/* A reply to "a.imagenio.telefonica.net A" with id 0x1234: header, the
 * question, then ans answers (name by pointer 0xC00C). */
static size_t
reply(uint8_t *b, uint16_t id, int rcode, const uint16_t *types, int ans, uint32_t ttl)
{
    static const uint8_t q[] = {1, 'a', 8, 'i', 'm', 'a', 'g', 'e', 'n', 'i', 'o', 10, 't', 'e',
                                'l', 'e', 'f', 'o', 'n', 'i', 'c', 'a', 3, 'n', 'e', 't', 0,
                                0, 1, 0, 1};
    size_t n = 0;
    b[n++] = (uint8_t)(id >> 8);
    b[n++] = (uint8_t)id;
    b[n++] = 0x81; /* QR, RD */
    b[n++] = (uint8_t)(0x80 | rcode);
    b[n++] = 0, b[n++] = 1, b[n++] = 0, b[n++] = (uint8_t)ans, b[n++] = 0, b[n++] = 0, b[n++] = 0,
    b[n++] = 0;
    memcpy(b + n, q, sizeof(q));
    n += sizeof(q);
    for (int i = 0; i < ans; i++) {
        int aaaa = types[i] == 28;
        b[n++] = 0xC0, b[n++] = 0x0C;
        b[n++] = 0, b[n++] = (uint8_t)types[i], b[n++] = 0, b[n++] = 1;
        b[n++] = (uint8_t)(ttl >> 24), b[n++] = (uint8_t)(ttl >> 16), b[n++] = (uint8_t)(ttl >> 8),
        b[n++] = (uint8_t)ttl;
        b[n++] = 0, b[n++] = aaaa ? 16 : 4;
        for (int k = 0; k < (aaaa ? 16 : 4); k++) b[n++] = (uint8_t)(aaaa ? 0x20 : 172 - k * 73 + i);
    }
    return n;
}

static void
test_answer(void)
{
    uint8_t b[512];
    char addr[16];
    uint32_t ttl = 0;
    const char *why = NULL;
    const uint16_t t[] = {28, 1, 1};
    size_t n = reply(b, 0x1234, 0, t, 3, 300);

    /* the first A record, after an AAAA */
    CHECK_INT(sg_dns_parse_a(b, n, 0x1234, addr, sizeof(addr), &ttl, &why), 0);
    CHECK_STR(addr, "173.100.27.210");
    CHECK_INT(ttl, 300);
    /* another id: not ours */
    CHECK_INT(sg_dns_parse_a(b, n, 0x1235, addr, sizeof(addr), &ttl, &why), -1);
    CHECK_STR(why, "not the answer to our query");
    /* every truncation is refused, never read past */
    for (size_t cut = 0; cut < n - 4; cut++) {
        uint8_t c[512];
        memcpy(c, b, cut);
        CHECK(sg_dns_parse_a(c, cut, 0x1234, addr, sizeof(addr), &ttl, &why) == -1);
    }
}

static void
test_errors(void)
{
    uint8_t b[512];
    char addr[16];
    uint32_t ttl;
    const char *why = NULL;
    const uint16_t aaaa[] = {28};
    size_t n = reply(b, 7, 3, NULL, 0, 0);

    CHECK_INT(sg_dns_parse_a(b, n, 7, addr, sizeof(addr), &ttl, &why), -1);
    CHECK_STR(why, "no such name");
    n = reply(b, 7, 2, NULL, 0, 0);
    CHECK_INT(sg_dns_parse_a(b, n, 7, addr, sizeof(addr), &ttl, &why), -1);
    CHECK_STR(why, "server failure");
    n = reply(b, 7, 0, aaaa, 1, 60);
    CHECK_INT(sg_dns_parse_a(b, n, 7, addr, sizeof(addr), &ttl, &why), -1);
    CHECK_STR(why, "no address");
    b[2] &= 0x7F; /* a query, not an answer */
    CHECK_INT(sg_dns_parse_a(b, n, 7, addr, sizeof(addr), &ttl, &why), -1);
}

static void
test_server_check(void)
{
    CHECK_INT(sg_dns_server_check("172.26.23.3"), 0);
    CHECK_INT(sg_dns_server_check("127.0.0.1:5353"), 0);
    CHECK_INT(sg_dns_server_check("127.0.0.1:0"), -1);
    CHECK_INT(sg_dns_server_check("127.0.0.1:x"), -1);
    CHECK_INT(sg_dns_server_check("dns.example"), -1);
    CHECK_INT(sg_dns_server_check(""), -1);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"answer", test_answer},
        {"errors", test_errors},
        {"server_check", test_server_check},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
