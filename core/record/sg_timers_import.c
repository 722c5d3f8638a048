/*
 * movistar-u7d's timers.conf -> Lua timer rules (see sg_timers_import.h).
 *
 * The input is TOML, or JSON when its first non-blank character is '{'.
 * TOML is read by a parser for the subset such files use (Debian has no C
 * TOML library): comments, `key = value` with bare, quoted and dotted keys,
 * basic strings with escapes, literal strings, booleans, numbers (and
 * dates, skipped), arrays over several lines with trailing commas and
 * comments, inline tables and [table] headers. Not supported (a clear
 * error): multi-line strings.
 *
 * Both formats become the same value tree, and one pass over it builds
 * the rules: default_language, match.<channel> = [entries], notes (Lua
 * comments) for sync_cloud* and unknown keys.
 */
#include "record/sg_timers_import.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sg_timers_template.h" /* generated from etc/timers.lua */

#define TI_MAX_DEPTH 64          /* nested arrays and inline tables */
#define TI_MAX_INPUT (16u << 20) /* the subcommand's limit on FILE  */

/* ---- values ---------------------------------------------------------------------------- */

enum { TV_STR, TV_BOOL, TV_INT, TV_OTHER, TV_ARRAY, TV_TABLE };

typedef struct tv_s {
    int type, line;
    char *s; /* TV_STR: the text (NUL-terminated, no NUL inside) */
    size_t n;
    char *key; /* a member of a TV_TABLE */
    int keyline;
    struct tv_s *items; /* TV_ARRAY, TV_TABLE */
    size_t nitems, cap;
} tv_t;

static void
tv_clear(tv_t *v)
{
    for (size_t i = 0; i < v->nitems; i++) tv_clear(&v->items[i]);
    free(v->items);
    free(v->s);
    free(v->key);
    memset(v, 0, sizeof(*v));
}

/* A new zeroed item at the end of v's items, or NULL. */
static tv_t *
tv_push(tv_t *v)
{
    if (v->nitems == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 8;
        tv_t *ni = realloc(v->items, nc * sizeof(*ni));
        if (ni == NULL) return NULL;
        v->items = ni;
        v->cap = nc;
    }
    memset(&v->items[v->nitems], 0, sizeof(tv_t));
    return &v->items[v->nitems++];
}

static const char *
tv_type_name(int type)
{
    switch (type) {
    case TV_STR: return "a string";
    case TV_BOOL: return "a boolean";
    case TV_INT: return "an integer";
    case TV_ARRAY: return "an array";
    case TV_TABLE: return "a table";
    default: return "a number or date";
    }
}

/* ---- a growing buffer --------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} ti_buf_t;

static int
buf_add(ti_buf_t *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        char *np;
        while (nc < b->n + n + 1) nc *= 2;
        np = realloc(b->p, nc);
        if (np == NULL) return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int
buf_addc(ti_buf_t *b, char c)
{
    return buf_add(b, &c, 1);
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 if none. */
static size_t
utf8_valid(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    uint32_t cp;
    size_t k;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) k = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) k = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) k = 4, cp = c & 0x07;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return k;
}

static int
utf8_put(ti_buf_t *b, uint32_t cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80) u[0] = (char)cp, k = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    return buf_add(b, u, k);
}

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
    int failed;
} ti_err_t;

#define SG_TI_PRINTF(a, b) __attribute__((format(printf, a, b)))

static int SG_TI_PRINTF(3, 4) ti_fail(ti_err_t *e, int line, const char *fmt, ...);

static int
ti_fail(ti_err_t *e, int line, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (e->failed) return -1; /* the first error is the one that counts */
    e->failed = 1;
    if (e->errlen == 0) return -1;
    k = snprintf(e->err, e->errlen, "%s:%d: ", e->name, line);
    if (k >= 0 && (size_t)k < e->errlen) {
        va_start(ap, fmt);
        vsnprintf(e->err + k, e->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- TOML ------------------------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    int line;
    ti_err_t *e;
} tp_t;

static int
tp_eof(const tp_t *t)
{
    return t->p >= t->end;
}

static int
tp_peek(const tp_t *t, size_t k)
{
    return t->p + k < t->end ? (unsigned char)t->p[k] : -1;
}

static void
tp_ws(tp_t *t)
{
    while (!tp_eof(t) && (*t->p == ' ' || *t->p == '\t')) t->p++;
}

/* A comment, if any, then a newline or the end: 0, or -1 (error set). */
static int
tp_eol(tp_t *t, const char *after)
{
    tp_ws(t);
    if (!tp_eof(t) && *t->p == '#') {
        while (!tp_eof(t) && *t->p != '\n') t->p++;
    }
    if (tp_eof(t)) return 0;
    if (*t->p == '\r' && tp_peek(t, 1) == '\n') t->p++;
    if (*t->p == '\n') {
        t->p++;
        t->line++;
        return 0;
    }
    return ti_fail(t->e, t->line, "unexpected '%c' after %s (expected the end of the line)",
                   isprint((unsigned char)*t->p) ? *t->p : '?', after);
}

/* Blanks, comments and newlines (inside arrays and inline tables). */
static void
tp_skip_all(tp_t *t)
{
    for (;;) {
        tp_ws(t);
        if (tp_eof(t)) return;
        if (*t->p == '#') {
            while (!tp_eof(t) && *t->p != '\n') t->p++;
        } else if (*t->p == '\n') {
            t->p++;
            t->line++;
        } else if (*t->p == '\r' && tp_peek(t, 1) == '\n') {
            t->p += 2;
            t->line++;
        } else {
            return;
        }
    }
}

static int
tp_hex(tp_t *t, int digits, uint32_t *cp)
{
    *cp = 0;
    for (int i = 0; i < digits; i++) {
        int c = tp_peek(t, (size_t)i);
        if (c < 0 || !isxdigit(c)) return -1;
        *cp = *cp * 16 + (uint32_t)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
    }
    t->p += digits;
    return 0;
}

/* A "basic" or 'literal' string at t->p into out (a TV_STR). */
static int
tp_string(tp_t *t, tv_t *out)
{
    char q = *t->p;
    int line = t->line;
    ti_buf_t b = {0};

    if (tp_peek(t, 1) == q && tp_peek(t, 2) == q) {
        return ti_fail(t->e, line, "multi-line strings (%c%c%c) are not supported", q, q, q);
    }
    t->p++;
    if (buf_add(&b, "", 0) != 0) goto oom;
    for (;;) {
        unsigned char c;
        if (tp_eof(t) || *t->p == '\n' || (*t->p == '\r' && tp_peek(t, 1) == '\n')) {
            free(b.p);
            return ti_fail(t->e, line, "unterminated string (a %c without its closing %c)", q, q);
        }
        c = (unsigned char)*t->p;
        if (c == (unsigned char)q) {
            t->p++;
            break;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7F) {
            free(b.p);
            return ti_fail(t->e, line, "control character 0x%02X in a string", c);
        }
        if (c == '\\' && q == '"') {
            int x = tp_peek(t, 1);
            uint32_t cp;
            const char *simple = NULL;
            if (x < 0 || x == '\n' || x == '\r') {
                free(b.p);
                return ti_fail(t->e, line, "unterminated string (a \" without its closing \")");
            }
            t->p += 2;
            switch (x) {
            case 'b': simple = "\b"; break;
            case 't': simple = "\t"; break;
            case 'n': simple = "\n"; break;
            case 'f': simple = "\f"; break;
            case 'r': simple = "\r"; break;
            case 'e': simple = "\033"; break;
            case '"': simple = "\""; break;
            case '\\': simple = "\\"; break;
            case 'x':
            case 'u':
            case 'U':
                if (tp_hex(t, x == 'x' ? 2 : x == 'u' ? 4 : 8, &cp) != 0 || cp == 0 ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    free(b.p);
                    return ti_fail(t->e, line, "bad \\%c escape in a string", x);
                }
                if (utf8_put(&b, cp) != 0) goto oom;
                continue;
            default:
                free(b.p);
                return ti_fail(t->e, line,
                               "invalid escape \\%c in a string (write \\\\%c, or use a "
                               "'literal string' for regular expressions)",
                               isprint(x) ? x : '?', isprint(x) ? x : '?');
            }
            if (buf_add(&b, simple, 1) != 0) goto oom;
            continue;
        }
        if (buf_addc(&b, (char)c) != 0) goto oom;
        t->p++;
    }
    out->type = TV_STR;
    out->line = line;
    out->s = b.p;
    out->n = b.n;
    return 0;
oom:
    free(b.p);
    return ti_fail(t->e, line, "out of memory");
}

static int
is_bare_key_char(int c)
{
    return c >= 0 && (isalnum(c) || c == '_' || c == '-');
}

/* One key (bare or quoted) as a malloc'ed string. */
static int
tp_simple_key(tp_t *t, char **key)
{
    if (!tp_eof(t) && (*t->p == '"' || *t->p == '\'')) {
        tv_t v = {0};
        if (tp_string(t, &v) != 0) return -1;
        *key = v.s;
        return 0;
    }
    {
        const char *s = t->p;
        while (!tp_eof(t) && is_bare_key_char((unsigned char)*t->p)) t->p++;
        if (t->p == s) {
            if (tp_eof(t)) return ti_fail(t->e, t->line, "expected a key");
            return ti_fail(t->e, t->line, "expected a key, found '%c'",
                           isprint((unsigned char)*t->p) ? *t->p : '?');
        }
        *key = strndup(s, (size_t)(t->p - s));
        if (*key == NULL) return ti_fail(t->e, t->line, "out of memory");
    }
    return 0;
}

/* A dotted key into path (an array of TV_STR). */
static int
tp_key(tp_t *t, tv_t *path)
{
    path->type = TV_ARRAY;
    path->line = t->line;
    for (;;) {
        tv_t *seg = tv_push(path);
        if (seg == NULL) return ti_fail(t->e, t->line, "out of memory");
        seg->type = TV_STR;
        seg->line = t->line;
        if (tp_simple_key(t, &seg->s) != 0) return -1;
        seg->n = strlen(seg->s);
        tp_ws(t);
        if (tp_eof(t) || *t->p != '.') return 0;
        t->p++;
        tp_ws(t);
    }
}

static int tp_value(tp_t *t, tv_t *out, int depth);

static int
tp_array(tp_t *t, tv_t *out, int depth)
{
    int line = t->line;
    out->type = TV_ARRAY;
    out->line = line;
    t->p++; /* [ */
    for (;;) {
        tv_t *it;
        tp_skip_all(t);
        if (tp_eof(t)) return ti_fail(t->e, t->line, "unterminated array (opened on line %d)", line);
        if (*t->p == ']') {
            t->p++;
            return 0;
        }
        it = tv_push(out);
        if (it == NULL) return ti_fail(t->e, t->line, "out of memory");
        if (tp_value(t, it, depth + 1) != 0) return -1;
        tp_skip_all(t);
        if (tp_eof(t)) return ti_fail(t->e, t->line, "unterminated array (opened on line %d)", line);
        if (*t->p == ',') {
            t->p++;
        } else if (*t->p != ']') {
            return ti_fail(t->e, t->line, "expected ',' or ']' in the array (opened on line %d), found '%c'",
                           line, isprint((unsigned char)*t->p) ? *t->p : '?');
        }
    }
}

static int
tp_inline_table(tp_t *t, tv_t *out, int depth)
{
    int line = t->line;
    out->type = TV_TABLE;
    out->line = line;
    t->p++; /* { */
    for (;;) {
        tv_t path = {0}, *it;
        tp_skip_all(t);
        if (tp_eof(t)) return ti_fail(t->e, t->line, "unterminated table (opened on line %d)", line);
        if (*t->p == '}') {
            t->p++;
            return 0;
        }
        if (tp_key(t, &path) != 0) {
            tv_clear(&path);
            return -1;
        }
        if (path.nitems != 1) {
            tv_clear(&path);
            return ti_fail(t->e, t->line, "dotted keys inside { } are not supported");
        }
        it = tv_push(out);
        if (it == NULL) {
            tv_clear(&path);
            return ti_fail(t->e, t->line, "out of memory");
        }
        it->key = path.items[0].s;
        it->keyline = t->line;
        path.items[0].s = NULL;
        tv_clear(&path);
        tp_ws(t);
        if (tp_eof(t) || *t->p != '=') return ti_fail(t->e, t->line, "expected '=' after the key");
        t->p++;
        tp_ws(t);
        if (tp_value(t, it, depth + 1) != 0) return -1;
        tp_skip_all(t);
        if (!tp_eof(t) && *t->p == ',') t->p++;
        else if (tp_eof(t) || *t->p != '}') {
            return ti_fail(t->e, t->line, "expected ',' or '}' in the table (opened on line %d)", line);
        }
    }
}

static int
is_token_char(int c)
{
    return c >= 0 && (isalnum(c) || c == '_' || c == '+' || c == '-' || c == '.' || c == ':');
}

/* A number, boolean or date. */
static int
tp_scalar(tp_t *t, tv_t *out)
{
    const char *s = t->p;
    size_t n;
    char tok[64];

    while (!tp_eof(t) && is_token_char((unsigned char)*t->p)) t->p++;
    /* a date and a time separated by a space: 1979-05-27 07:32:00 */
    if (t->p - s == 10 && s[4] == '-' && s[7] == '-' && tp_peek(t, 0) == ' ' && tp_peek(t, 1) >= 0 &&
        isdigit(tp_peek(t, 1))) {
        t->p++;
        while (!tp_eof(t) && is_token_char((unsigned char)*t->p)) t->p++;
    }
    n = (size_t)(t->p - s);
    out->line = t->line;
    if (n == 0) {
        if (tp_eof(t) || *t->p == '\n' || *t->p == '\r' || *t->p == '#') {
            return ti_fail(t->e, t->line, "expected a value after '='");
        }
        return ti_fail(t->e, t->line, "expected a value, found '%c'",
                       isprint((unsigned char)*t->p) ? *t->p : '?');
    }
    if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
        out->type = TV_BOOL;
        return 0;
    }
    snprintf(tok, sizeof(tok), "%.*s", (int)(n < sizeof(tok) ? n : sizeof(tok) - 1), s);
    {
        const char *d = tok + (tok[0] == '+' || tok[0] == '-');
        if (isdigit((unsigned char)d[0]) || strcmp(d, "inf") == 0 || strcmp(d, "nan") == 0) {
            size_t k = strspn(d, "0123456789_");
            out->type = d[k] == '\0' && n < sizeof(tok) ? TV_INT : TV_OTHER;
            return 0;
        }
    }
    return ti_fail(t->e, t->line, "\"%.*s\" is not a value (strings need quotes)",
                   (int)(n > 40 ? 40 : n), s);
}

static int
tp_value(tp_t *t, tv_t *out, int depth)
{
    if (depth > TI_MAX_DEPTH) return ti_fail(t->e, t->line, "arrays or tables nested too deep");
    if (tp_eof(t)) return ti_fail(t->e, t->line, "expected a value after '='");
    switch (*t->p) {
    case '"':
    case '\'': return tp_string(t, out);
    case '[': return tp_array(t, out, depth);
    case '{': return tp_inline_table(t, out, depth);
    default: return tp_scalar(t, out);
    }
}

/* ---- the rules -------------------------------------------------------------------------- */

typedef struct {
    char *key;
    int line;
    tv_t entries; /* TV_ARRAY of TV_STR; taken from the input tree */
} ti_chan_t;

typedef struct {
    ti_err_t *e;
    FILE *warn;
    int json;
    const char *text; /* JSON: to find a key's line */
    size_t len;
    char *deflang;
    int deflang_line;
    ti_chan_t *ch;
    size_t nch, capch;
    ti_buf_t notes; /* "-- ..." lines */
    char **seen;    /* top-level keys already set */
    size_t nseen;
    int match_line; /* where match was defined, 0: not yet */
    int match_how;  /* 1 match = { }, 2 [match], 3 match."x" = [ ] */
} ti_rules_t;

static void
rules_free(ti_rules_t *r)
{
    for (size_t i = 0; i < r->nch; i++) {
        free(r->ch[i].key);
        tv_clear(&r->ch[i].entries);
    }
    free(r->ch);
    free(r->deflang);
    free(r->notes.p);
    for (size_t i = 0; i < r->nseen; i++) free(r->seen[i]);
    free(r->seen);
}

/* s (n bytes) for a Lua comment or a message: printable, one line. */
static void
ti_printable(ti_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_addc(b, c < 0x20 || c == 0x7F ? '?' : (char)c);
    }
}

static int SG_TI_PRINTF(2, 3) rules_note(ti_rules_t *r, const char *fmt, ...);

static int
rules_note(ti_rules_t *r, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return ti_fail(r->e, 0, "out of memory");
    buf_add(&r->notes, "-- ", 3);
    ti_printable(&r->notes, s, (size_t)n);
    buf_addc(&r->notes, '\n');
    free(s);
    return 0;
}

/* A key for a message: "name" with its control characters replaced. */
static char *
ti_show(const char *s)
{
    ti_buf_t b = {0};
    ti_printable(&b, s, strlen(s));
    if (b.p == NULL) return strdup("");
    if (b.n > 60) strcpy(b.p + 57, "...");
    return b.p;
}

/* JSON: the line of the first "key": at or after *from (updated); 0 if not found. */
static int
json_key_line(ti_rules_t *r, const char *key, size_t *from)
{
    size_t kl = strlen(key);
    for (size_t i = *from; i + kl + 2 <= r->len; i++) {
        size_t j;
        if (r->text[i] != '"' || memcmp(r->text + i + 1, key, kl) != 0 || r->text[i + 1 + kl] != '"') {
            continue;
        }
        j = i + kl + 2;
        while (j < r->len && isspace((unsigned char)r->text[j])) j++;
        if (j < r->len && r->text[j] == ':') {
            int line = 1;
            for (size_t k = 0; k < i; k++) line += r->text[k] == '\n';
            *from = j;
            return line;
        }
    }
    return 0;
}

/* What the engine will make of an entry's options (the same checks as
 * etc/timers.lua): 0 fine, 1 an option is ignored, 2 the entry is skipped;
 * why says which. */
static int
entry_check(const char *s, char *why, size_t n)
{
    const char *opt = strstr(s, " ## ");
    int level = 0;

    if (opt == s || s[0] == '\0') {
        snprintf(why, n, "an empty pattern (\".*\" records everything)");
        return 2;
    }
    while (opt) {
        const char *o = opt + 4, *next = strstr(o, " ## ");
        size_t ol = next ? (size_t)(next - o) : strlen(o);
        int w;
        while (ol && isspace((unsigned char)*o)) o++, ol--;
        while (ol && isspace((unsigned char)o[ol - 1])) ol--;
        w = (int)(ol > 20 ? 20 : ol);
        if (ol == 0) {
            snprintf(why, n, "an empty option after \" ## \"");
            return 2;
        }
        if (isdigit((unsigned char)o[0])) {
            /* H:MM or HH:MM, 00:00 .. 23:59 */
            size_t hl = isdigit((unsigned char)o[1]) ? 2 : 1;
            int h = atoi(o), m = ol == hl + 3 ? atoi(o + hl + 1) : -1;
            if (ol != hl + 3 || o[hl] != ':' || !isdigit((unsigned char)o[hl + 1]) ||
                !isdigit((unsigned char)o[hl + 2]) || h > 23 || m > 59) {
                snprintf(why, n, "the time \"%.*s\" is not HH:MM", w, o);
                return 2;
            }
        } else if (ol >= 4 && strncasecmp(o, "keep", 4) == 0) {
            size_t k = 4, d;
            while (k < ol && isspace((unsigned char)o[k])) k++;
            d = k;
            while (k < ol && isdigit((unsigned char)o[k])) k++;
            if (d < k && k + 1 == ol && tolower((unsigned char)o[k]) == 'd') {
                snprintf(why, n, "\"%.*s\" (keep for days) is not supported: every recording is kept",
                         w, o);
                level = 1;
            } else if (k != ol || d == k || k - d > 6 || atoi(o + d) < 1) {
                snprintf(why, n, "\"%.*s\" is not Keep<N> (N from 1)", w, o);
                return 2;
            }
        } else if ((ol == 7 && strncasecmp(o, "comskip", 7) == 0) ||
                   (ol == 10 && strncasecmp(o, "comskipcut", 10) == 0) ||
                   (ol == 9 && strncasecmp(o, "nocomskip", 9) == 0) ||
                   (ol == 5 && strncasecmp(o, "fresh", 5) == 0) ||
                   (ol == 6 && strncasecmp(o, "repeat", 6) == 0) ||
                   (ol >= 5 && strncasecmp(o, "delay", 5) == 0) ||
                   (ol >= 5 && strncasecmp(o, "genre", 5) == 0)) {
            snprintf(why, n, "the movistar-u7d option \"%.*s\" is ignored", w, o);
            level = 1;
        }
        opt = next;
    }
    return level;
}

/* match.<key> = value */
static int
rules_channel(ti_rules_t *r, const char *key, int line, tv_t *v)
{
    ti_chan_t *c;
    char *shown;

    for (size_t i = 0; i < r->nch; i++) {
        if (strcmp(r->ch[i].key, key) == 0) {
            shown = ti_show(key);
            ti_fail(r->e, line, "match: channel \"%s\" is listed twice (first on line %d)", shown,
                    r->ch[i].line);
            free(shown);
            return -1;
        }
    }
    if (v->type == TV_STR) {
        /* one entry without the brackets: take it as a list of one */
        tv_t one = {0}, *it = tv_push(&one);
        if (it == NULL) return ti_fail(r->e, line, "out of memory");
        *it = *v;
        memset(v, 0, sizeof(*v));
        *v = one;
        v->type = TV_ARRAY;
        v->line = it->line;
    } else if (v->type != TV_ARRAY) {
        shown = ti_show(key);
        ti_fail(r->e, line, "match.\"%s\": expected an array of strings, got %s", shown,
                tv_type_name(v->type));
        free(shown);
        return -1;
    }
    for (size_t i = 0; i < v->nitems; i++) {
        tv_t *it = &v->items[i];
        char why[128];
        int level;
        if (it->type != TV_STR) {
            shown = ti_show(key);
            ti_fail(r->e, it->line ? it->line : line,
                    "match.\"%s\"[%zu]: expected a string, got %s", shown, i, tv_type_name(it->type));
            free(shown);
            return -1;
        }
        if (it->n != strlen(it->s)) {
            return ti_fail(r->e, it->line ? it->line : line, "NUL character in a string");
        }
        level = entry_check(it->s, why, sizeof(why));
        if (level && r->warn) {
            char *e = ti_show(it->s);
            ti_buf_t w = {0};
            ti_printable(&w, why, strlen(why));
            fprintf(r->warn, "%s:%d: warning: \"%s\": %s%s\n", r->e->name,
                    it->line ? it->line : line, e, w.p ? w.p : "",
                    level == 2 ? "; streamgate will skip this entry" : "");
            free(w.p);
            free(e);
        }
    }
    if (r->nch == r->capch) {
        size_t nc = r->capch ? r->capch * 2 : 16;
        ti_chan_t *n = realloc(r->ch, nc * sizeof(*n));
        if (n == NULL) return ti_fail(r->e, line, "out of memory");
        r->ch = n;
        r->capch = nc;
    }
    c = &r->ch[r->nch];
    memset(c, 0, sizeof(*c));
    c->key = strdup(key);
    if (c->key == NULL) return ti_fail(r->e, line, "out of memory");
    c->line = line;
    c->entries = *v;
    memset(v, 0, sizeof(*v));
    r->nch++;
    return 0;
}

/* The whole match table. */
static int
rules_match_table(ti_rules_t *r, tv_t *v, int line)
{
    size_t from = 0;
    if (v->type != TV_TABLE) {
        return ti_fail(r->e, line, "match: expected a table of channels, got %s",
                       tv_type_name(v->type));
    }
    if (r->json) json_key_line(r, "match", &from);
    for (size_t i = 0; i < v->nitems; i++) {
        tv_t *it = &v->items[i];
        int kl = it->keyline;
        if (r->json) {
            kl = json_key_line(r, it->key, &from);
            if (kl == 0) kl = line;
        }
        if (rules_channel(r, it->key, kl, it) != 0) return -1;
    }
    return 0;
}

/* A top-level key seen twice is an error (as in TOML). */
static int
rules_seen(ti_rules_t *r, const char *key, int line)
{
    char **n;
    for (size_t i = 0; i < r->nseen; i++) {
        if (strcmp(r->seen[i], key) == 0) {
            char *shown = ti_show(key);
            ti_fail(r->e, line, "\"%s\" is set twice", shown);
            free(shown);
            return -1;
        }
    }
    n = realloc(r->seen, (r->nseen + 1) * sizeof(*n));
    if (n == NULL) return ti_fail(r->e, line, "out of memory");
    r->seen = n;
    if ((r->seen[r->nseen] = strdup(key)) == NULL) return ti_fail(r->e, line, "out of memory");
    r->nseen++;
    return 0;
}

/* A top-level key and its value (taken: v may be emptied). */
static int
rules_top(ti_rules_t *r, const char *key, int line, tv_t *v)
{
    char *shown;
    int rc = 0;

    if (strcmp(key, "match") == 0) {
        if (r->match_line) {
            return ti_fail(r->e, line, "match is defined twice (first on line %d)", r->match_line);
        }
        r->match_line = line ? line : 1;
        r->match_how = 1;
        return rules_match_table(r, v, line);
    }
    if (rules_seen(r, key, line) != 0) return -1;
    if (strcmp(key, "default_language") == 0) {
        if (v->type != TV_STR) {
            return ti_fail(r->e, line, "default_language: expected a string (\"VO\"), got %s",
                           tv_type_name(v->type));
        }
        r->deflang = v->s;
        v->s = NULL;
        r->deflang_line = line;
        return 0;
    }
    shown = ti_show(key);
    if (strcmp(key, "sync_cloud") == 0 || strcmp(key, "sync_cloud_language") == 0) {
        rc = rules_note(r, "%s (line %d): not needed: streamgate serves the cloud recordings "
                           "directly.", shown, line);
    } else if (strcmp(key, "comskip") == 0 || strcmp(key, "comskipcut") == 0) {
        rc = rules_note(r, "%s (line %d): streamgate does not detect commercials; ignored.", shown,
                        line);
    } else {
        rc = rules_note(r, "\"%s\" (line %d): not a movistar-u7d timers setting; ignored.", shown,
                        line);
    }
    free(shown);
    return rc;
}

/* ---- TOML statements ------------------------------------------------------------------------ */

static char *
path_show(const tv_t *path)
{
    ti_buf_t b = {0};
    for (size_t i = 0; i < path->nitems; i++) {
        if (i) buf_addc(&b, '.');
        ti_printable(&b, path->items[i].s, path->items[i].n);
    }
    return b.p ? b.p : strdup("");
}

/* [table] or [[table]]; *table: 1 [match], 2 another one (its keys are ignored) */
static int
toml_header(ti_rules_t *r, tp_t *t, int *table)
{
    int line = t->line, aot = tp_peek(t, 1) == '[', rc = -1;
    tv_t path = {0};
    char *shown = NULL;

    t->p += aot ? 2 : 1;
    tp_ws(t);
    if (tp_key(t, &path) != 0) goto out;
    if (tp_eof(t) || *t->p != ']' || (aot && tp_peek(t, 1) != ']')) {
        ti_fail(r->e, line, "expected '%s' after the table name", aot ? "]]" : "]");
        goto out;
    }
    t->p += aot ? 2 : 1;
    if (tp_eol(t, "the table header") != 0) goto out;
    if (!aot && path.nitems == 1 && strcmp(path.items[0].s, "match") == 0) {
        if (r->match_line) {
            ti_fail(r->e, line, "%s is defined twice (first on line %d)",
                    r->match_how == 2 ? "[match]" : "match", r->match_line);
            goto out;
        }
        r->match_line = line;
        r->match_how = 2;
        *table = 1;
    } else {
        shown = path_show(&path);
        if (rules_note(r, "[%s%s%s] (line %d): not a movistar-u7d timers table; ignored.",
                       aot ? "[" : "", shown ? shown : "", aot ? "]" : "", line) != 0) {
            goto out;
        }
        *table = 2;
    }
    rc = 0;
out:
    free(shown);
    tv_clear(&path);
    return rc;
}

/* key = value, in table (0 the top level, 1 [match], 2 an ignored one) */
static int
toml_keyval(ti_rules_t *r, tp_t *t, int table)
{
    int line = t->line, rc = -1;
    tv_t path = {0}, v = {0};
    char *shown = NULL;

    if (tp_key(t, &path) != 0) goto out;
    tp_ws(t);
    if (tp_eof(t) || *t->p != '=') {
        shown = path_show(&path);
        ti_fail(r->e, line, "expected '=' after the key \"%s\"", shown ? shown : "");
        goto out;
    }
    t->p++;
    tp_ws(t);
    if (tp_value(t, &v, 0) != 0 || tp_eol(t, "the value") != 0) goto out;
    if (table == 2) {
        rc = 0;
    } else if (table == 1 || (path.nitems >= 2 && strcmp(path.items[0].s, "match") == 0)) {
        /* a channel: "1" = [...] under [match], or match."1" = [...] on top */
        size_t want = table == 1 ? 1 : 2;
        if (table == 0) {
            if (r->match_line && r->match_how != 3) {
                ti_fail(r->e, line, "match is defined twice (first on line %d)", r->match_line);
                goto out;
            }
            if (!r->match_line) {
                r->match_line = line;
                r->match_how = 3;
            }
        }
        if (path.nitems != want) {
            shown = path_show(&path);
            ti_fail(r->e, line, "\"%s\" is not a channel of match (\"<channel id>\" = [...])",
                    shown ? shown : "");
            goto out;
        }
        rc = rules_channel(r, path.items[want - 1].s, line, &v);
    } else if (path.nitems == 1) {
        rc = rules_top(r, path.items[0].s, line, &v);
    } else {
        shown = path_show(&path);
        rc = rules_note(r, "\"%s\" (line %d): not a movistar-u7d timers setting; ignored.",
                        shown ? shown : "", line);
    }
out:
    free(shown);
    tv_clear(&path);
    tv_clear(&v);
    return rc;
}

static int
toml_parse(ti_rules_t *r, const char *text, size_t len)
{
    tp_t t = {text, text + len, 1, r->e};
    int table = 0;

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) t.p += 3;
    while (!tp_eof(&t)) {
        tp_ws(&t);
        if (tp_eof(&t)) break;
        if (*t.p == '#' || *t.p == '\n' || *t.p == '\r') {
            if (tp_eol(&t, "a comment") != 0) return -1;
        } else if (*t.p == '[') {
            if (toml_header(r, &t, &table) != 0) return -1;
        } else if (toml_keyval(r, &t, table) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static int
tv_from_json(json_t *j, tv_t *out, ti_err_t *e)
{
    out->line = 0;
    switch (json_typeof(j)) {
    case JSON_STRING:
        out->type = TV_STR;
        out->n = json_string_length(j);
        out->s = malloc(out->n + 1);
        if (out->s == NULL) return ti_fail(e, 0, "out of memory");
        memcpy(out->s, json_string_value(j), out->n + 1);
        return 0;
    case JSON_TRUE:
    case JSON_FALSE: out->type = TV_BOOL; return 0;
    case JSON_INTEGER: out->type = TV_INT; return 0;
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        out->type = TV_ARRAY;
        json_array_foreach(j, i, x) {
            tv_t *it = tv_push(out);
            if (it == NULL) return ti_fail(e, 0, "out of memory");
            if (tv_from_json(x, it, e) != 0) return -1;
        }
        return 0;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        out->type = TV_TABLE;
        json_object_foreach(j, k, x) {
            tv_t *it = tv_push(out);
            if (it == NULL) return ti_fail(e, 0, "out of memory");
            if (tv_from_json(x, it, e) != 0) return -1;
            if ((it->key = strdup(k)) == NULL) return ti_fail(e, 0, "out of memory");
        }
        return 0;
    }
    default: out->type = TV_OTHER; return 0;
    }
}

static int
json_parse(ti_rules_t *r, const char *text, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    tv_t top = {0};
    size_t from = 0;
    int rc = -1;

    if (root == NULL) return ti_fail(r->e, je.line > 0 ? je.line : 0, "%s", je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ti_fail(r->e, 1, "expected a JSON object");
    }
    if (tv_from_json(root, &top, r->e) != 0) goto out;
    for (size_t i = 0; i < top.nitems; i++) {
        size_t f = from;
        int line = json_key_line(r, top.items[i].key, &f);
        if (rules_top(r, top.items[i].key, line, &top.items[i]) != 0) goto out;
    }
    rc = 0;
out:
    tv_clear(&top);
    json_decref(root);
    return rc;
}

/* ---- output --------------------------------------------------------------------------------- */

/* s as a Lua "..." string that means exactly s, whatever its bytes. */
static void
lua_quote(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t k;
        switch (c) {
        case '"': fputs("\\\"", out); continue;
        case '\\': fputs("\\\\", out); continue;
        case '\n': fputs("\\n", out); continue;
        case '\r': fputs("\\r", out); continue;
        case '\t': fputs("\\t", out); continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            fprintf(out, "\\x%02X", c);
        } else if (c < 0x80) {
            fputc(c, out);
        } else if ((k = utf8_valid((const unsigned char *)s + i, n - i)) > 0) {
            fwrite(s + i, 1, k, out);
            i += k - 1;
        } else {
            fprintf(out, "\\x%02X", c);
        }
    }
    fputc('"', out);
}

/* The start of the line "-- <what> TIMERS" in tmpl at or after from, and
 * the start of the line after it. -1 if none. */
static long
find_marker(const char *tmpl, size_t from, const char *marker, size_t *next)
{
    size_t ml = strlen(marker), len = strlen(tmpl);
    size_t i = from;
    while (i < len) {
        const char *nl = memchr(tmpl + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - tmpl) : len, l = e - i;
        if (l && tmpl[i + l - 1] == '\r') l--;
        if (l == ml && memcmp(tmpl + i, marker, ml) == 0) {
            *next = nl ? e + 1 : len;
            return (long)i;
        }
        i = nl ? e + 1 : len;
    }
    return -1;
}

static void
rules_write(const ti_rules_t *r, const char *name, FILE *out)
{
    ti_buf_t shown = {0};
    ti_printable(&shown, name, strlen(name));
    fputs("-- BEGIN TIMERS\n", out);
    fprintf(out, "-- Imported from %s by `streamgate timers-import`.\n", shown.p ? shown.p : "");
    free(shown.p);
    if (r->notes.n) fwrite(r->notes.p, 1, r->notes.n, out);
    fputs("local timers = {\n", out);
    if (r->deflang) {
        fputs("  default_language = ", out);
        lua_quote(out, r->deflang, strlen(r->deflang));
        fputs(",\n", out);
    } else {
        fputs("  default_language = nil, -- not set: the recordings { vo } setting applies\n", out);
    }
    fputs("  match = {\n", out);
    for (size_t i = 0; i < r->nch; i++) {
        const ti_chan_t *c = &r->ch[i];
        fputs("    [", out);
        lua_quote(out, c->key, strlen(c->key));
        fputs("] = {", out);
        if (c->entries.nitems == 0) {
            fputs("},\n", out);
            continue;
        }
        fputs("\n", out);
        for (size_t k = 0; k < c->entries.nitems; k++) {
            const tv_t *it = &c->entries.items[k];
            char why[128];
            int level = entry_check(it->s, why, sizeof(why));
            if (level) {
                ti_buf_t b = {0};
                ti_printable(&b, why, strlen(why));
                fprintf(out, "      -- %s%s\n", b.p ? b.p : "",
                        level == 2 ? ": streamgate skips this entry" : "");
                free(b.p);
            }
            fputs("      ", out);
            lua_quote(out, it->s, it->n);
            fputs(",\n", out);
        }
        fputs("    },\n", out);
    }
    fputs("  },\n}\n-- END TIMERS\n", out);
}

int
sg_timers_import(const char *name, const char *text, size_t len, const char *template_lua,
                 FILE *out, FILE *warn, char *err, size_t errlen)
{
    ti_err_t e = {name, err, errlen, 0};
    ti_rules_t r;
    size_t i = 0, after_begin, after_end;
    long b, end;
    int rc;

    if (errlen) err[0] = '\0';
    memset(&r, 0, sizeof(r));
    r.e = &e;
    r.warn = warn;
    r.text = text;
    r.len = len;
    b = find_marker(template_lua, 0, "-- BEGIN TIMERS", &after_begin);
    end = b < 0 ? -1 : find_marker(template_lua, after_begin, "-- END TIMERS", &after_end);
    if (b < 0 || end < 0) {
        return ti_fail(&e, 0, "the template has no \"-- BEGIN TIMERS\" and \"-- END TIMERS\" lines");
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < len && isspace((unsigned char)text[i])) i++;
    if (i < len && text[i] == '{') {
        r.json = 1;
        rc = json_parse(&r, text, len);
    } else {
        rc = toml_parse(&r, text, len);
    }
    if (rc == 0) {
        fwrite(template_lua, 1, (size_t)b, out);
        rules_write(&r, name, out);
        fputs(template_lua + after_end, out);
    }
    rules_free(&r);
    return rc;
}

const char *
sg_timers_template(void)
{
    return sg_timers_template_text;
}

/* ---- the subcommand ---------------------------------------------------------------------- */

static void
ti_usage(FILE *f)
{
    fprintf(f, "usage: streamgate timers-import FILE\n"
               "\n"
               "Print FILE, movistar-u7d's timers.conf (TOML or JSON), as streamgate's Lua\n"
               "timer rules (etc/timers.lua with your timers), for timers { script = ...; }.\n"
               "FILE - reads the standard input. Exit status 0, or 1 with the problem on\n"
               "stderr as FILE:LINE: message.\n");
}

int
sg_timers_import_main(int argc, char **argv)
{
    const char *path;
    FILE *in, *warn;
    char *text = NULL, *wtext = NULL;
    size_t len = 0, cap = 0, wlen = 0;
    char err[1024];
    int rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        ti_usage(stdout);
        return 0;
    }
    if (argc != 2) {
        ti_usage(stderr);
        return 1;
    }
    path = argv[1];
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (in == NULL) {
        fprintf(stderr, "streamgate: %s: cannot read: %s\n", path, strerror(errno));
        return 1;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nt;
            cap = cap ? cap * 2 : 65536;
            if (cap > TI_MAX_INPUT + 1) cap = TI_MAX_INPUT + 1;
            nt = realloc(text, cap);
            if (nt == NULL) {
                fprintf(stderr, "streamgate: %s: out of memory\n", path);
                goto fail;
            }
            text = nt;
        }
        n = fread(text + len, 1, cap - len, in);
        len += n;
        if (len > TI_MAX_INPUT) {
            fprintf(stderr, "streamgate: %s: larger than %u MiB: not a timers.conf\n", path,
                    TI_MAX_INPUT >> 20);
            goto fail;
        }
        if (n == 0) break;
    }
    if (ferror(in)) {
        fprintf(stderr, "streamgate: %s: cannot read: %s\n", path, strerror(errno));
        goto fail;
    }
    if (in != stdin) fclose(in);
    in = NULL;

    warn = open_memstream(&wtext, &wlen);
    rc = sg_timers_import(strcmp(path, "-") == 0 ? "<stdin>" : path, text ? text : "", len,
                          sg_timers_template(), stdout, warn, err, sizeof(err));
    if (warn) {
        fclose(warn);
        /* every warning line as "streamgate: FILE:LINE: warning: ..." */
        for (char *l = wtext; l && *l;) {
            char *nl = strchr(l, '\n');
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            fprintf(stderr, "streamgate: %.*s\n", (int)n, l);
            l += n + (nl != NULL);
        }
        free(wtext);
    }
    free(text);
    if (rc != 0) {
        fprintf(stderr, "streamgate: %s\n", err);
        return 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "streamgate: cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
fail:
    if (in && in != stdin) fclose(in);
    free(text);
    return 1;
}
