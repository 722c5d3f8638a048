/* Small helpers shared by the core: clocks, strings, URL pieces. */
#ifndef SG_UTIL_H
#define SG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SG_MAX(a, b) ((a) > (b) ? (a) : (b))

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds / microseconds. */
uint64_t sg_mono_ms(void);
uint64_t sg_mono_us(void);
int64_t sg_real_ms(void);

/* strlcpy semantics: returns strlen(src); dst always terminated (n > 0). */
size_t sg_strlcpy(char *dst, const char *src, size_t n);
int sg_has_prefix(const char *s, const char *prefix);
int sg_has_suffix(const char *s, const char *suffix);
/* All characters in [A-Za-z0-9._~-], non-empty, at most 64 bytes. */
int sg_is_safe_id(const char *s);
/* Parse a whole decimal int64 (optional leading '-'); 0 ok, -1 not a number
 * or out of range. */
int sg_parse_int64(const char *s, size_t len, int64_t *out);

/* Percent-decode src[0..len) into dst (capacity cap, NUL-terminated).
 * plus_is_space for query strings. Returns the decoded length, or -1 for a
 * malformed escape, an encoded NUL or too little room. */
ssize_t sg_url_decode(char *dst, size_t cap, const char *src, size_t len, int plus_is_space);

/* Find name=value in a query string ("a=1&b=2"), decode the value into
 * dst. Returns the decoded length, or -1 when absent or malformed. */
ssize_t sg_query_get(const char *query, const char *name, char *dst, size_t cap);

/* Constant-time comparison of two strings (for tokens). 1 when equal. */
int sg_secure_streq(const char *a, const char *b);

/* Minimal edit distance (for "did you mean" hints); capped at 100. */
int sg_edit_distance(const char *a, const char *b);

/* mkdir -p; 0 or -1 with errno. */
int sg_mkdir_p(const char *path, mode_t mode);

/* Is s valid UTF-8 without characters XML 1.0 forbids (C0 controls other
 * than tab, LF, CR)? */
int sg_utf8_is_clean(const char *s);
/* Copy src into dst (room for 3 * strlen(src) + 1 bytes) replacing invalid
 * UTF-8 with U+FFFD and dropping forbidden controls. Returns the length. */
size_t sg_utf8_clean(char *dst, const char *src);

/* "ip:port", "[ipv6]:port" or ":port" (every IPv4 address); port 0..65535.
 * 0, or -1 when malformed. */
struct sockaddr_storage;
int sg_parse_hostport(const char *s, struct sockaddr_storage *ss, unsigned *len);

#endif
