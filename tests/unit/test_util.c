/* Small helpers: URL pieces, ids, integers, strings, directories, UTF-8,
 * host:port, the arena and CIDR lists. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sg_test.h"
#include "util/sg_arena.h"
#include "stream/sg_source.h"
#include "util/sg_cidr.h"
#include "util/sg_util.h"

/* ---- URL decoding and queries -------------------------------------------------- */

/* Decode s whole into a roomy buffer; returns the length or -1. */
static ssize_t
decode(const char *s, int plus, char *out, size_t cap)
{
    memset(out, '#', cap);
    return sg_url_decode(out, cap, s, strlen(s), plus);
}

static void
test_url_decode(void)
{
    char out[64];

    CHECK_INT(decode("a%20b+c", 1, out, sizeof(out)), 5);
    CHECK_STR(out, "a b c");
    CHECK_INT(decode("a%20b+c", 0, out, sizeof(out)), 5);
    CHECK_STR(out, "a b+c");
    CHECK_INT(decode("%41%62%2f%2F", 0, out, sizeof(out)), 4);
    CHECK_STR(out, "Ab//");
    CHECK_INT(decode("%C3%B1%ff", 0, out, sizeof(out)), 3);
    CHECK_STR(out, "\xc3\xb1\xff");
    CHECK_INT(decode("", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "");
    /* an encoded NUL is refused (it would cut the string) */
    CHECK_INT(decode("a%00b", 0, out, sizeof(out)), -1);
    /* malformed and truncated escapes */
    CHECK_INT(decode("%", 0, out, sizeof(out)), -1);
    CHECK_INT(decode("a%4", 0, out, sizeof(out)), -1);
    CHECK_INT(decode("a%g1", 0, out, sizeof(out)), -1);
    CHECK_INT(decode("a%1g", 0, out, sizeof(out)), -1);
    CHECK_INT(decode("a% 1", 0, out, sizeof(out)), -1);
    /* only len bytes are read */
    CHECK_INT(sg_url_decode(out, sizeof(out), "abc%41", 3, 0), 3);
    CHECK_STR(out, "abc");
    CHECK_INT(sg_url_decode(out, sizeof(out), "abc%41", 5, 0), -1); /* "%4" cut */
    /* capacity: the terminator needs room too */
    CHECK_INT(decode("abcd", 0, out, 4), -1);
    CHECK_INT(decode("abcd", 0, out, 5), 4);
    CHECK_STR(out, "abcd");
    CHECK_INT(decode("%41%42", 0, out, 3), 2);
    CHECK_STR(out, "AB");
    CHECK_INT(decode("%41%42", 0, out, 2), -1);
    CHECK_INT(decode("", 0, out, 1), 0);
    CHECK_STR(out, "");
    CHECK_INT(decode("a", 0, out, 1), -1);
    CHECK_INT(sg_url_decode(out, 0, "", 0, 0), -1);
    CHECK_INT(sg_url_decode(out, 0, "a", 1, 0), -1);
}

static void
test_query_get(void)
{
    char v[64];

    CHECK_INT(sg_query_get("a=1&b=2&a=3", "a", v, sizeof(v)), 1);
    CHECK_STR(v, "1");
    CHECK_INT(sg_query_get("a=1&b=2&a=3", "b", v, sizeof(v)), 1);
    CHECK_STR(v, "2");
    CHECK_INT(sg_query_get("a=1&b=2&a=3", "c", v, sizeof(v)), -1);
    CHECK_INT(sg_query_get("a=&b=2", "a", v, sizeof(v)), 0);
    CHECK_STR(v, "");
    CHECK_INT(sg_query_get("flag&b=2", "flag", v, sizeof(v)), 0);
    CHECK_STR(v, "");
    /* a key that is a prefix of another key is not confused with it */
    CHECK_INT(sg_query_get("ab=1&a=2", "a", v, sizeof(v)), 1);
    CHECK_STR(v, "2");
    CHECK_INT(sg_query_get("a=1", "ab", v, sizeof(v)), -1);
    CHECK_INT(sg_query_get("xa=1", "a", v, sizeof(v)), -1);
    /* values are decoded, '+' is a space */
    CHECK_INT(sg_query_get("q=hello+world%21&x=1", "q", v, sizeof(v)), 12);
    CHECK_STR(v, "hello world!");
    CHECK_INT(sg_query_get("token=a%2Fb%3D%3D", "token", v, sizeof(v)), 5);
    CHECK_STR(v, "a/b==");
    /* malformed value */
    CHECK_INT(sg_query_get("x=%zz", "x", v, sizeof(v)), -1);
    CHECK_INT(sg_query_get("x=%00", "x", v, sizeof(v)), -1);
    /* empty segments */
    CHECK_INT(sg_query_get("&&a=5&", "a", v, sizeof(v)), 1);
    CHECK_STR(v, "5");
    CHECK_INT(sg_query_get("", "a", v, sizeof(v)), -1);
    CHECK_INT(sg_query_get(NULL, "a", v, sizeof(v)), -1);
    /* too little room */
    CHECK_INT(sg_query_get("a=12345", "a", v, 5), -1);
    CHECK_INT(sg_query_get("a=12345", "a", v, 6), 5);
    CHECK_STR(v, "12345");
}

/* ---- ids, integers, strings -------------------------------------------------------- */

static void
test_safe_id(void)
{
    char id65[66];

    CHECK_INT(sg_is_safe_id("abc"), 1);
    CHECK_INT(sg_is_safe_id("La-1_2.3~x"), 1);
    CHECK_INT(sg_is_safe_id("0"), 1);
    CHECK_INT(sg_is_safe_id(""), 0);
    CHECK_INT(sg_is_safe_id("."), 0);
    CHECK_INT(sg_is_safe_id(".."), 0);
    CHECK_INT(sg_is_safe_id("..."), 0);
    CHECK_INT(sg_is_safe_id(".x"), 1);
    CHECK_INT(sg_is_safe_id(NULL), 0);
    CHECK_INT(sg_is_safe_id("a/b"), 0);
    CHECK_INT(sg_is_safe_id("a b"), 0);
    CHECK_INT(sg_is_safe_id("a?b"), 0);
    CHECK_INT(sg_is_safe_id("a%20"), 0);
    CHECK_INT(sg_is_safe_id("\xc3\xb1"), 0);
    memset(id65, 'x', 65);
    id65[65] = '\0';
    CHECK_INT(sg_is_safe_id(id65), 0);
    id65[64] = '\0';
    CHECK_INT(sg_is_safe_id(id65), 1);
}

static void
test_parse_int64(void)
{
    int64_t v = 42;

    CHECK_INT(sg_parse_int64("0", 1, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(sg_parse_int64("-0", 2, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(sg_parse_int64("1234567", 7, &v), 0);
    CHECK_INT(v, 1234567);
    CHECK_INT(sg_parse_int64("-1234567", 8, &v), 0);
    CHECK_INT(v, -1234567);
    CHECK_INT(sg_parse_int64("9223372036854775807", 19, &v), 0);
    CHECK_INT(v, INT64_MAX);
    CHECK_INT(sg_parse_int64("-9223372036854775807", 20, &v), 0);
    CHECK_INT(v, -INT64_MAX);
    /* only len bytes */
    CHECK_INT(sg_parse_int64("123abc", 3, &v), 0);
    CHECK_INT(v, 123);
    v = 42;
    /* overflow and junk leave *out alone */
    CHECK_INT(sg_parse_int64("9223372036854775808", 19, &v), -1);
    CHECK_INT(sg_parse_int64("18446744073709551615", 20, &v), -1);
    CHECK_INT(sg_parse_int64("18446744073709551616", 20, &v), -1);
    CHECK_INT(sg_parse_int64("99999999999999999999999", 23, &v), -1);
    CHECK_INT(sg_parse_int64("-", 1, &v), -1);
    CHECK_INT(sg_parse_int64("", 0, &v), -1);
    CHECK_INT(sg_parse_int64("+1", 2, &v), -1);
    CHECK_INT(sg_parse_int64(" 1", 2, &v), -1);
    CHECK_INT(sg_parse_int64("1 ", 2, &v), -1);
    CHECK_INT(sg_parse_int64("1a", 2, &v), -1);
    CHECK_INT(sg_parse_int64("--1", 3, &v), -1);
    CHECK_INT(sg_parse_int64("0x10", 4, &v), -1);
    CHECK_INT(v, 42);
}

static void
test_secure_streq(void)
{
    CHECK_INT(sg_secure_streq("s3cret", "s3cret"), 1);
    CHECK_INT(sg_secure_streq("", ""), 1);
    CHECK_INT(sg_secure_streq("s3cret", "s3creT"), 0);
    CHECK_INT(sg_secure_streq("s3cret", "s3cre"), 0);
    CHECK_INT(sg_secure_streq("s3cre", "s3cret"), 0);
    CHECK_INT(sg_secure_streq("abcabc", "abc"), 0);
    CHECK_INT(sg_secure_streq("", "a"), 0);
    CHECK_INT(sg_secure_streq("a", ""), 0);
}

static void
test_edit_distance(void)
{
    char long65[66];

    CHECK_INT(sg_edit_distance("listen", "listen"), 0);
    CHECK_INT(sg_edit_distance("listn", "listen"), 1);
    CHECK_INT(sg_edit_distance("lsiten", "listen"), 2);
    CHECK_INT(sg_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(sg_edit_distance("flaw", "lawn"), 2);
    CHECK_INT(sg_edit_distance("", "abc"), 3);
    CHECK_INT(sg_edit_distance("abc", ""), 3);
    CHECK_INT(sg_edit_distance("", ""), 0);
    memset(long65, 'a', 65);
    long65[65] = '\0';
    CHECK_INT(sg_edit_distance(long65, "a"), 100);
    CHECK_INT(sg_edit_distance("a", long65), 100);
    long65[64] = '\0';
    CHECK_INT(sg_edit_distance(long65, long65), 0);
}

/* ---- directories ---------------------------------------------------------------------- */

static int
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
test_mkdir_p(void)
{
    char tmpl[] = "/tmp/sg-test-util-XXXXXX";
    char path[PATH_MAX + 64], *tmp = mkdtemp(tmpl);
    char *longp;
    int fd;

    if (tmp == NULL) {
        SG_FAIL("mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(path, sizeof(path), "%s/a/b/c", tmp);
    CHECK_INT(sg_mkdir_p(path, 0755), 0);
    CHECK(is_dir(path));
    CHECK_INT(sg_mkdir_p(path, 0755), 0); /* exists: fine */
    snprintf(path, sizeof(path), "%s/d//e/", tmp);
    CHECK_INT(sg_mkdir_p(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/d/e", tmp);
    CHECK(is_dir(path));
    /* a regular file in the way */
    snprintf(path, sizeof(path), "%s/file", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    snprintf(path, sizeof(path), "%s/file/x", tmp);
    errno = 0;
    CHECK_INT(sg_mkdir_p(path, 0755), -1);
    CHECK_INT(errno, ENOTDIR);
    /* too long */
    longp = malloc(PATH_MAX + 16);
    if (longp) {
        memset(longp, 'x', PATH_MAX + 15);
        longp[0] = '/';
        longp[PATH_MAX + 15] = '\0';
        errno = 0;
        CHECK_INT(sg_mkdir_p(longp, 0755), -1);
        CHECK_INT(errno, ENAMETOOLONG);
        free(longp);
    }
    /* empty: an error, not a read past the terminator */
    errno = 0;
    CHECK_INT(sg_mkdir_p("", 0755), -1);
    CHECK_INT(errno, ENOENT);
    sg_test_rmtree(tmp);
    CHECK(!is_dir(tmp));
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

static void
test_utf8_is_clean(void)
{
    CHECK_INT(sg_utf8_is_clean(""), 1);
    CHECK_INT(sg_utf8_is_clean("plain ascii ~"), 1);
    CHECK_INT(sg_utf8_is_clean("tab\tnl\ncr\r"), 1);
    CHECK_INT(sg_utf8_is_clean("\xc3\xb1 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"), 1);
    CHECK_INT(sg_utf8_is_clean("\xef\xbf\xbd"), 1);  /* U+FFFD itself */
    CHECK_INT(sg_utf8_is_clean("\x01"), 0);
    CHECK_INT(sg_utf8_is_clean("a\x1f"), 0);
    CHECK_INT(sg_utf8_is_clean("\xff"), 0);
    CHECK_INT(sg_utf8_is_clean("\x80"), 0);          /* lone continuation */
    CHECK_INT(sg_utf8_is_clean("\xc0\xaf"), 0);      /* overlong '/' */
    CHECK_INT(sg_utf8_is_clean("\xc1\xbf"), 0);
    CHECK_INT(sg_utf8_is_clean("\xe0\x80\xaf"), 0);  /* overlong, 3 bytes */
    CHECK_INT(sg_utf8_is_clean("\xf0\x8f\xbf\xbf"), 0);
    CHECK_INT(sg_utf8_is_clean("\xed\xa0\x80"), 0);  /* surrogate U+D800 */
    CHECK_INT(sg_utf8_is_clean("\xed\xbf\xbf"), 0);
    CHECK_INT(sg_utf8_is_clean("\xef\xbf\xbe"), 0);  /* U+FFFE */
    CHECK_INT(sg_utf8_is_clean("\xf4\x90\x80\x80"), 0); /* > U+10FFFF */
    CHECK_INT(sg_utf8_is_clean("\xf5\x80\x80\x80"), 0);
    CHECK_INT(sg_utf8_is_clean("ab\xc3"), 0);        /* truncated */
    CHECK_INT(sg_utf8_is_clean("ab\xe2\x82"), 0);
    CHECK_INT(sg_utf8_is_clean("ab\xf0\x9f\x98"), 0);
}

#define FFFD "\xef\xbf\xbd"

static void
test_utf8_clean(void)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"", ""},
        {"clean \xc3\xb1", "clean \xc3\xb1"},
        {"a\xff" "b", "a" FFFD "b"},
        {"\xc0\xaf", FFFD FFFD},                  /* overlong: each byte replaced */
        {"\xe0\x80\xaf", FFFD FFFD FFFD},
        {"\xed\xa0\x80x", FFFD FFFD FFFD "x"},    /* surrogate */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},
        {"ab\xe2\x82", "ab" FFFD FFFD},           /* truncated at the end */
        {"x\x01y\tz\n\r\x1f", "xy\tz\n\r"},       /* controls dropped, tab/LF/CR kept */
        {"\x02\x03", ""},
        {"\xef\xbf\xbe!", FFFD FFFD FFFD "!"},    /* U+FFFE */
        {"\xf0\x9f\x98\x80\x80", "\xf0\x9f\x98\x80" FFFD},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n;
        memset(out, '#', sizeof(out));
        n = sg_utf8_clean(out, rows[i].in);
        if (n != strlen(rows[i].out) || strcmp(out, rows[i].out) != 0) {
            SG_FAIL("row %zu: cleaned to %zu bytes, expected %zu", i, n, strlen(rows[i].out));
        }
        if (!sg_utf8_is_clean(out)) SG_FAIL("row %zu: result is not clean", i);
    }
}

/* ---- host:port ----------------------------------------------------------------------------- */

static void
test_parse_hostport(void)
{
    static const char *const bad[] = {
        ":65536", "1.2.3.4:99999", "1.2.3.4", "1.2.3.4:", "1.2.3.4:-1", "1.2.3.4:80x",
        "1.2.3.4: 80", "[::1]8080", "[::1]", "[::1", "::1:80", "host.example:80",
        "[1.2.3.4]:80", "[]:80", "256.1.1.1:80", "", ":",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]:1",
    };
    struct sockaddr_storage ss;
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    unsigned len = 0;
    char txt[INET6_ADDRSTRLEN];

    CHECK_INT(sg_parse_hostport("127.0.0.1:8888", &ss, &len), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(len, sizeof(struct sockaddr_in));
    CHECK_INT(ntohs(in->sin_port), 8888);
    CHECK_STR(inet_ntop(AF_INET, &in->sin_addr, txt, sizeof(txt)), "127.0.0.1");

    CHECK_INT(sg_parse_hostport(":8888", &ss, &len), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(ntohs(in->sin_port), 8888);
    CHECK_INT(ntohl(in->sin_addr.s_addr), INADDR_ANY);

    CHECK_INT(sg_parse_hostport("0.0.0.0:0", &ss, &len), 0);
    CHECK_INT(ntohs(in->sin_port), 0);
    CHECK_INT(sg_parse_hostport("10.1.2.3:65535", &ss, &len), 0);
    CHECK_INT(ntohs(in->sin_port), 65535);

    CHECK_INT(sg_parse_hostport("[::1]:8080", &ss, &len), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(len, sizeof(struct sockaddr_in6));
    CHECK_INT(ntohs(in6->sin6_port), 8080);
    CHECK_STR(inet_ntop(AF_INET6, &in6->sin6_addr, txt, sizeof(txt)), "::1");
    CHECK_INT(sg_parse_hostport("[2001:db8::5]:0", &ss, &len), 0);
    CHECK_STR(inet_ntop(AF_INET6, &in6->sin6_addr, txt, sizeof(txt)), "2001:db8::5");
    CHECK_INT(sg_parse_hostport("[::]:1", &ss, &len), 0);
    CHECK_INT(ss.ss_family, AF_INET6);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sg_parse_hostport(bad[i], &ss, &len) != -1) SG_FAIL("\"%s\" accepted", bad[i]);
    }
}

/* ---- arena ------------------------------------------------------------------------------------ */

static void
test_arena(void)
{
    sg_arena_t a = {0};
    enum { N = 10000 };
    unsigned char **ptrs = calloc(N, sizeof(*ptrs));
    size_t expect_used = 0;
    unsigned char *big, *after;
    char *s;

    if (ptrs == NULL) {
        SG_FAIL("out of memory");
        return;
    }
    /* many small allocations: aligned, zeroed, disjoint */
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 24) + 1;
        ptrs[i] = sg_arena_alloc(&a, n);
        if (ptrs[i] == NULL) {
            SG_FAIL("allocation %d failed", i);
            break;
        }
        if ((uintptr_t)ptrs[i] % 8 != 0) SG_FAIL("allocation %d not 8-aligned", i);
        for (size_t j = 0; j < n; j++) {
            if (ptrs[i][j] != 0) {
                SG_FAIL("allocation %d not zeroed", i);
                break;
            }
        }
        memset(ptrs[i], i & 0xff, n);
        expect_used += (n + 7) & ~(size_t)7;
    }
    for (int i = 0; i < N && ptrs[i]; i++) {
        size_t n = (size_t)(i % 24) + 1;
        for (size_t j = 0; j < n; j++) {
            if (ptrs[i][j] != (unsigned char)(i & 0xff)) {
                SG_FAIL("allocation %d overwritten", i);
                break;
            }
        }
    }
    CHECK_INT(a.used, expect_used);

    /* one big allocation, then small ones still work */
    big = sg_arena_alloc(&a, 1000000);
    CHECK(big != NULL);
    if (big) {
        CHECK_INT(big[0], 0);
        CHECK_INT(big[999999], 0);
        memset(big, 0xab, 1000000);
    }
    after = sg_arena_alloc(&a, 16);
    CHECK(after != NULL);
    if (after) memset(after, 0xcd, 16);
    if (big) CHECK_INT(big[999999], 0xab);
    CHECK_INT(a.used, expect_used + 1000000 + 16);

    s = sg_arena_strdup(&a, "hello");
    CHECK_STR(s, "hello");
    CHECK(sg_arena_strdup(&a, NULL) == NULL);
    CHECK_STR(sg_arena_strdup(&a, ""), "");
    sg_arena_free(&a);
    CHECK(a.head == NULL);
    CHECK_INT(a.used, 0);
    sg_arena_free(&a); /* twice is harmless */

    /* a big allocation into an empty arena */
    big = sg_arena_alloc(&a, 50000);
    CHECK(big != NULL);
    CHECK_STR(sg_arena_strdup(&a, "x"), "x");
    sg_arena_free(&a);
    free(ptrs);
}

/* ---- CIDR ------------------------------------------------------------------------------------------ */

static void
test_cidr_parse(void)
{
    static const struct {
        const char *s;
        int rc, family;
        unsigned prefix;
    } rows[] = {
        {"10.0.0.0/8", 0, AF_INET, 8},
        {"192.168.1.7", 0, AF_INET, 32},
        {"192.168.1.7/32", 0, AF_INET, 32},
        {"0.0.0.0/0", 0, AF_INET, 0},
        {"::1", 0, AF_INET6, 128},
        {"2001:db8::/32", 0, AF_INET6, 32},
        {"::/0", 0, AF_INET6, 0},
        {"::ffff:10.0.0.0/104", 0, AF_INET6, 104},
        {"10.0.0.1/8", -1, 0, 0},      /* host bits set */
        {"192.168.1.1/31", -1, 0, 0},
        {"2001:db8::1/32", -1, 0, 0},
        {"1.0.0.0/0", -1, 0, 0},
        {"10.0.0.0/33", -1, 0, 0},
        {"::/129", -1, 0, 0},
        {"10.0.0.0/", -1, 0, 0},
        {"/8", -1, 0, 0},
        {"10.0.0.0/-1", -1, 0, 0},
        {"10.0.0.0/8x", -1, 0, 0},
        {"10.0.0/8", -1, 0, 0},
        {"a.b.c.d", -1, 0, 0},
        {"", -1, 0, 0},
        {"localhost", -1, 0, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sg_cidr_t c;
        int rc = sg_cidr_parse(rows[i].s, &c);
        if (rc != rows[i].rc) {
            SG_FAIL("\"%s\": rc %d, expected %d", rows[i].s, rc, rows[i].rc);
        } else if (rc == 0 && (c.family != rows[i].family || c.prefix != rows[i].prefix)) {
            SG_FAIL("\"%s\": family %d prefix %u", rows[i].s, c.family, c.prefix);
        }
    }
}

/* A peer address from text (IPv4 or IPv6). */
static const struct sockaddr *
peer(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(s, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, s, &in6->sin6_addr) != 1) SG_FAIL("bad test address %s", s);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        if (inet_pton(AF_INET, s, &in->sin_addr) != 1) SG_FAIL("bad test address %s", s);
    }
    return (const struct sockaddr *)ss;
}

static void
test_cidr_match(void)
{
    static const struct {
        const char *net, *peer;
        int match;
    } rows[] = {
        {"10.0.0.0/8", "10.1.2.3", 1},
        {"10.0.0.0/8", "11.0.0.1", 0},
        {"10.0.0.0/8", "::ffff:10.1.2.3", 1},  /* v4-mapped peer, v4 entry */
        {"10.0.0.0/8", "::ffff:11.0.0.1", 0},
        {"10.0.0.0/8", "::10.1.2.3", 0},       /* v4-compatible is not mapped */
        {"10.0.0.0/8", "::1", 0},
        {"192.168.1.7", "192.168.1.7", 1},
        {"192.168.1.7", "192.168.1.8", 0},
        {"192.168.0.0/23", "192.168.1.255", 1},
        {"192.168.0.0/23", "192.168.2.0", 0},
        {"0.0.0.0/0", "8.8.8.8", 1},
        {"0.0.0.0/0", "::ffff:8.8.8.8", 1},
        {"0.0.0.0/0", "2001:db8::1", 0},
        {"127.0.0.0/8", "::ffff:127.0.0.1", 1},
        {"::1", "::1", 1},
        {"::1", "127.0.0.1", 0},
        {"::1", "::2", 0},
        {"::/0", "2001:db8::1", 1},
        {"::/0", "::ffff:1.2.3.4", 1},
        {"::/0", "1.2.3.4", 0},
        {"2001:db8::/32", "2001:db8:ffff::1", 1},
        {"2001:db8::/32", "2001:db9::1", 0},
        {"2001:db8::/31", "2001:db9::1", 1},
        {"::ffff:10.0.0.0/104", "::ffff:10.9.9.9", 1},
        {"::ffff:10.0.0.0/104", "::ffff:11.9.9.9", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sg_cidr_t c;
        struct sockaddr_storage ss;
        if (sg_cidr_parse(rows[i].net, &c) != 0) {
            SG_FAIL("\"%s\" did not parse", rows[i].net);
            continue;
        }
        int m = sg_cidr_match(&c, peer(rows[i].peer, &ss));
        if (m != rows[i].match) {
            SG_FAIL("%s vs %s: %d, expected %d", rows[i].net, rows[i].peer, m, rows[i].match);
        }
    }
}

static void
test_cidr_list(void)
{
    sg_cidr_t list[2];
    struct sockaddr_storage ss;

    CHECK_INT(sg_cidr_parse("10.0.0.0/8", &list[0]), 0);
    CHECK_INT(sg_cidr_parse("::1", &list[1]), 0);
    CHECK_INT(sg_cidr_list_match(list, 2, peer("10.0.0.1", &ss)), 1);
    CHECK_INT(sg_cidr_list_match(list, 2, peer("::1", &ss)), 1);
    CHECK_INT(sg_cidr_list_match(list, 2, peer("::ffff:10.0.0.1", &ss)), 1);
    CHECK_INT(sg_cidr_list_match(list, 2, peer("8.8.8.8", &ss)), 0);
    CHECK_INT(sg_cidr_list_match(list, 0, peer("10.0.0.1", &ss)), 0);
}

static void
test_source_parse(void)
{
    sg_source_addr_t a;
    const char *why = NULL;
    static const struct {
        const char *in;
        int udpxy;
        const char *key; /* NULL: refused with why containing err */
        const char *err;
    } cases[] = {
        {"udp://239.0.0.1:8208", 0, "udp://239.0.0.1:8208", NULL},
        {"rtp://@239.0.0.1:8208", 0, "udp://239.0.0.1:8208", NULL},
        {"udp://10.0.0.1@232.1.1.1:5000", 0, "udp://10.0.0.1@232.1.1.1:5000", NULL},
        {"udp://@239.1.1.1:5000?iface=eth1", 0, "udp://239.1.1.1:5000%eth1", NULL},
        {"udp://@:5000", 0, "udp://0.0.0.0:5000", NULL},
        {"udp://[ff15::1]:5000", 0, "udp://[ff15::1]:5000", NULL},
        {"udp://239.1.1.1:5000?foo=1", 0, NULL, "unknown source option"},
        {"udp://10.0.0.1@10.0.0.2:5000", 0, NULL, "needs a multicast group"},
        {"http://239.1.1.1:5000", 0, NULL, "not a udp://"},
        {"udp://239.1.1.1", 0, NULL, "missing :port"},
        {"udp://239.1.1.1:65536", 0, NULL, "bad port"},
        {"udp://[ff15::1@239.1.1.1:1", 0, NULL, "bad source"},
        {"239.1.1.1:5000", 1, "udp://239.1.1.1:5000", NULL},
        {"239.1.1.1%5000", 1, "udp://239.1.1.1:5000", NULL},
        {"239.1.1.1~5000/", 1, "udp://239.1.1.1:5000", NULL},
        {"239.1.1.1+5000", 1, "udp://239.1.1.1:5000", NULL},
        {"239.1.1.1-5000", 1, "udp://239.1.1.1:5000", NULL},
        {"239.1.1.1^5000", 1, "udp://239.1.1.1:5000", NULL},
        {"10.1.1.1@239.1.1.1:5000", 1, "udp://10.1.1.1@239.1.1.1:5000", NULL},
        {"[ff15::1]-5000", 1, "udp://[ff15::1]:5000", NULL},
        {"::1@239.1.1.1:5000", 1, NULL, "bad source"},
        {"[::1]@239.1.1.1:5000", 1, NULL, "different address families"},
        {"239.1.1.1:", 1, NULL, "bad port"},
        {"239.1.1:5000", 1, NULL, "bad group"},
        {"", 1, NULL, "missing :port"},
    };
    for (size_t i = 0; i < SG_ARRAY_SIZE(cases); i++) {
        int rc = cases[i].udpxy ? sg_source_parse_udpxy(cases[i].in, &a, &why)
                                : sg_source_parse_url(cases[i].in, &a, &why);
        if (cases[i].key) {
            CHECK_INT(rc, 0);
            CHECK_STR(a.key, cases[i].key);
        } else {
            CHECK_INT(rc, -1);
            CHECK(why != NULL && strstr(why, cases[i].err) != NULL);
        }
    }
    CHECK(sg_source_parse_udpxy("239.1.1.1:5000", &a, &why) == 0 && a.multicast);
    CHECK(sg_source_parse_url("udp://127.0.0.1:5000", &a, &why) == 0 && !a.multicast);
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"url_decode", test_url_decode},
        {"query_get", test_query_get},
        {"safe_id", test_safe_id},
        {"parse_int64", test_parse_int64},
        {"secure_streq", test_secure_streq},
        {"edit_distance", test_edit_distance},
        {"mkdir_p", test_mkdir_p},
        {"utf8_is_clean", test_utf8_is_clean},
        {"utf8_clean", test_utf8_clean},
        {"parse_hostport", test_parse_hostport},
        {"arena", test_arena},
        {"cidr_parse", test_cidr_parse},
        {"cidr_match", test_cidr_match},
        {"cidr_list", test_cidr_list},
        {"source_parse", test_source_parse},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
