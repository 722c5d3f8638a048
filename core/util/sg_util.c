#include "sg_util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

uint64_t
sg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
sg_mono_ms(void)
{
    return sg_mono_us() / 1000u;
}

int64_t
sg_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
sg_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n > 0) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return len;
}

int
sg_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
sg_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int
sg_is_safe_id(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0') return 0;
    if (strspn(s, ".") == strlen(s)) return 0; /* ".", "..": path segments, not ids */
    for (; *s; s++, n++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-')) {
            return 0;
        }
    }
    return n <= 64;
}

int
sg_parse_int64(const char *s, size_t len, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0;
    size_t i = 0;

    if (len == 0) return -1;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (len == 1) return -1;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)INT64_MAX) return -1;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int
sg_hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ssize_t
sg_url_decode(char *dst, size_t cap, const char *src, size_t len, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len) return -1;
            h = sg_hexval((unsigned char)src[i + 1]);
            l = sg_hexval((unsigned char)src[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = h * 16 + l;
            if (c == 0) return -1;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = (char)c;
    }
    if (cap == 0) return -1;
    dst[o] = '\0';
    return (ssize_t)o;
}

ssize_t
sg_query_get(const char *query, const char *name, char *dst, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = query;

    if (query == NULL) return -1;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg >= nlen && memcmp(p, name, nlen) == 0 && (seg == nlen || p[nlen] == '=')) {
            const char *v = seg == nlen ? p + nlen : p + nlen + 1;
            size_t vlen = seg == nlen ? 0 : seg - nlen - 1;
            return sg_url_decode(dst, cap, v, vlen, 1);
        }
        if (end == NULL) break;
        p = end + 1;
    }
    return -1;
}

int
sg_secure_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) {
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    }
    return diff == 0 && la == lb;
}

int
sg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];

    if (la > 64 || lb > 64) return 100;
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = prev + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

int
sg_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = sg_strlcpy(buf, path, sizeof(buf));

    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (len == 0) { /* the loop below would start past the terminator */
        errno = ENOENT;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static int
sg_utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[1] < 0xa0) return 0;                 /* overlong   */
        if (c == 0xed && s[1] >= 0xa0) return 0;                /* surrogates */
        if (c == 0xef && s[1] == 0xbf && s[2] >= 0xbe) return 0; /* U+FFFE/F  */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
        if (c == 0xf0 && s[1] < 0x90) return 0;
        if (c == 0xf4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

static int
sg_xml_forbidden(unsigned c)
{
    return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

int
sg_utf8_is_clean(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int n = sg_utf8_seq(s);
        if (n == 0 || (n == 1 && sg_xml_forbidden(*s))) return 0;
        s += n;
    }
    return 1;
}

size_t
sg_utf8_clean(char *dst, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    while (*s) {
        int n = sg_utf8_seq(s);
        if (n == 0) {
            memcpy(dst + o, "\xef\xbf\xbd", 3);
            o += 3;
            s++;
        } else if (n == 1 && sg_xml_forbidden(*s)) {
            s++;
        } else {
            memcpy(dst + o, s, (size_t)n);
            o += (size_t)n;
            s += n;
        }
    }
    dst[o] = '\0';
    return o;
}

int
sg_parse_hostport(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
    char host[64];
    const char *colon, *hs = s, *he;
    int64_t port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (he == NULL || he[1] != ':') return -1;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        he = colon;
    }
    if (sg_parse_int64(colon + 1, strlen(colon + 1), &port) != 0 || port < 0 || port > 65535) {
        return -1;
    }
    if ((size_t)(he - hs) >= sizeof(host)) return -1;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    if (s[0] == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) return -1;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        if (host[0] == '\0') {
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            return -1;
        }
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof(*in);
    }
    return 0;
}
