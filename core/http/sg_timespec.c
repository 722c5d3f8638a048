#include "sg_timespec.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sg/plugin.h"
#include "util/sg_util.h"

static int
sg_all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
    }
    return 1;
}

static int
sg_num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

int64_t
sg_timespec_local(const char *d, int len)
{
    struct tm tm;
    time_t t;

    if ((len != 12 && len != 14) || !sg_all_digits(d, (size_t)len)) return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = sg_num(d, 4) - 1900;
    tm.tm_mon = sg_num(d + 4, 2) - 1;
    tm.tm_mday = sg_num(d + 6, 2);
    tm.tm_hour = sg_num(d + 8, 2);
    tm.tm_min = sg_num(d + 10, 2);
    tm.tm_sec = len == 14 ? sg_num(d + 12, 2) : 0;
    tm.tm_isdst = -1;
    if (tm.tm_year < 70 || tm.tm_year > 200 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return -1;
    }
    {
        int mday = tm.tm_mday, mon = tm.tm_mon;
        t = mktime(&tm);
        if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon) return -1; /* Feb 30 */
    }
    return (int64_t)t;
}

/* Split off a known extension; returns the format, or 0 for an unknown one. */
static int
sg_ext_format(const char *ext)
{
    if (ext == NULL || *ext == '\0') return SG_FMT_TS;
    if (strcmp(ext, "ts") == 0) return SG_FMT_TS;
    if (strcmp(ext, "m3u8") == 0) return SG_FMT_HLS;
    if (strcmp(ext, "mp4") == 0) return SG_FMT_MP4;
    return 0;
}

static int
sg_parse_unix(const char *s, size_t n, int64_t *out)
{
    /* 1..11 digits: Unix seconds (a 12/14-digit number is a local date). */
    if (!sg_all_digits(s, n) || n > 11) return -1;
    if (sg_parse_int64(s, n, out) != 0 || *out <= 0) return -1;
    return 0;
}

static int
sg_live_name(const char *s, int *format)
{
    static const struct {
        const char *name;
        int format;
    } live[] = {
        {"mpegts", SG_FMT_TS},       {"live", SG_FMT_TS},        {"live.ts", SG_FMT_TS},
        {"index.m3u8", SG_FMT_HLS},  {"video.m3u8", SG_FMT_HLS}, {"mono.m3u8", SG_FMT_HLS},
        {"playlist.m3u8", SG_FMT_HLS},
    };
    for (size_t i = 0; i < SG_ARRAY_SIZE(live); i++) {
        if (strcmp(s, live[i].name) == 0) {
            *format = live[i].format;
            return 1;
        }
    }
    return 0;
}

/* "{word}-{T}[-{D}|-now]" with the extension already removed. */
static int
sg_parse_word_form(char *s, int64_t now, sg_timespec_t *out, const char **why)
{
    char *dash = strchr(s, '-'), *t, *d;
    size_t wl;

    if (dash == NULL) return 404;
    wl = (size_t)(dash - s);
    if (wl == 0 || wl >= sizeof(out->word)) return 404;
    for (size_t i = 0; i < wl; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) return 404;
    }
    memcpy(out->word, s, wl);
    out->word[wl] = '\0';
    t = dash + 1;

    /* video-timeshift_abs-T, mono-timeshift_rel-S: the inner word rules. */
    if (sg_has_prefix(t, "timeshift_abs-") || sg_has_prefix(t, "timeshift_rel-")) {
        return sg_parse_word_form(t, now, out, why);
    }

    /* Only known words may carry a malformed time; "/ch/some-name" with
     * another word and no digits is simply not a time form. */
    if (!(t[0] >= '0' && t[0] <= '9') && strcmp(out->word, "timeshift_abs") != 0 &&
        strcmp(out->word, "timeshift_rel") != 0 && strcmp(out->word, "archive") != 0 &&
        strcmp(out->word, "index") != 0 && strcmp(out->word, "video") != 0 &&
        strcmp(out->word, "mono") != 0) {
        return 404;
    }
    d = strchr(t, '-');
    if (d) *d++ = '\0';
    if (strcmp(out->word, "timeshift_rel") == 0) {
        int64_t sec;
        if (d || sg_parse_int64(t, strlen(t), &sec) != 0 || sec < 0 || !sg_all_digits(t, strlen(t))) {
            *why = "timeshift_rel needs a number of seconds";
            return 400;
        }
        if (sec > SG_TIMESPEC_MAX_DURATION) {
            *why = "timeshift_rel is longer than 31 days";
            return 400;
        }
        out->start = now - sec;
        out->duration = 0;
        return 0;
    }
    if (sg_parse_unix(t, strlen(t), &out->start) != 0) {
        *why = sg_all_digits(t, strlen(t)) ? "the start time must be Unix seconds (at most 11 digits)"
                                          : "the start time must be Unix seconds";
        return 400;
    }
    if (strcmp(out->word, "timeshift_abs") == 0 && d) {
        *why = "timeshift_abs takes no duration";
        return 400;
    }
    if (d == NULL) {
        out->duration = 0;
    } else if (strcmp(d, "now") == 0) {
        out->to_now = 1;
        out->duration = now > out->start ? now - out->start : 0;
    } else {
        if (!sg_all_digits(d, strlen(d)) || sg_parse_int64(d, strlen(d), &out->duration) != 0 ||
            out->duration <= 0) {
            *why = "the duration must be a positive number of seconds or \"now\"";
            return 400;
        }
    }
    if (out->duration > SG_TIMESPEC_MAX_DURATION) {
        *why = "the duration is longer than 31 days";
        return 400;
    }
    return 0;
}

/* Query forms on a live URL: ?utc=T[&lutc=N] and ?playseek=B-E. */
static int
sg_parse_query_forms(const char *query, int64_t now, sg_timespec_t *out, const char **why)
{
    char v[64];
    ssize_t n;

    if (query == NULL || *query == '\0') return 404;
    if ((n = sg_query_get(query, "utc", v, sizeof(v))) >= 0) {
        if (sg_parse_unix(v, (size_t)n, &out->start) != 0) {
            *why = "utc= must be Unix seconds";
            return 400;
        }
        out->duration = 0;
        snprintf(out->word, sizeof(out->word), "utc");
        return 0;
    }
    n = sg_query_get(query, "playseek", v, sizeof(v));
    if (n < 0) n = sg_query_get(query, "tvdr", v, sizeof(v));
    if (n >= 0) {
        char *dash = strchr(v, '-');
        int64_t b, e = 0;
        if (dash) *dash = '\0';
        b = sg_timespec_local(v, (int)strlen(v));
        if (dash && dash[1]) e = sg_timespec_local(dash + 1, (int)strlen(dash + 1));
        if (b < 0 || e < 0 || (e && e <= b)) {
            *why = "playseek= must be YYYYMMDDHHMMSS-YYYYMMDDHHMMSS";
            return 400;
        }
        out->start = b;
        out->duration = e ? e - b : 0;
        if (out->duration > SG_TIMESPEC_MAX_DURATION) {
            *why = "the duration is longer than 31 days";
            return 400;
        }
        snprintf(out->word, sizeof(out->word), "playseek");
        return 0;
    }
    (void)now;
    return 404;
}

static int
sg_timespec_parse_depth(const char *tail, const char *query, int64_t now, sg_timespec_t *out,
                        const char **why, int depth)
{
    char buf[256], *ext, *slash;
    size_t len = strlen(tail);
    int live_format, rc;

    memset(out, 0, sizeof(*out));
    out->kind = SG_REQ_CATCHUP;
    out->format = SG_FMT_TS;
    *why = NULL;
    if (len == 0 || len >= sizeof(buf)) return 404;
    memcpy(buf, tail, len + 1);

    /* Live names, possibly with a catchup query. */
    if (sg_live_name(buf, &live_format)) {
        rc = sg_parse_query_forms(query, now, out, why);
        if (rc == 404) {
            memset(out, 0, sizeof(*out));
            out->kind = SG_REQ_LIVE;
            out->format = live_format;
            return 0;
        }
        if (rc == 0) out->format = live_format;
        return rc;
    }

    slash = strchr(buf, '/');
    if (slash) {
        /* nested: mpegts/<form>, live/<form> */
        if (depth == 0 && (sg_has_prefix(buf, "mpegts/") || sg_has_prefix(buf, "live/"))) {
            return sg_timespec_parse_depth(slash + 1, query, now, out, why, 1);
        }
        /* legacy Flussonic paths */
        char *parts[5];
        int n = 0;
        for (char *p = buf; p && n < 5; n++) {
            parts[n] = p;
            p = strchr(p, '/');
            if (p) *p++ = '\0';
        }
        if (strcmp(parts[0], "timeshift_abs") == 0 && n == 2) {
            snprintf(out->word, sizeof(out->word), "timeshift_abs");
            if (sg_parse_unix(parts[1], strlen(parts[1]), &out->start) != 0) {
                *why = "the start time must be Unix seconds";
                return 400;
            }
            return 0;
        }
        if (strcmp(parts[0], "timeshift_rel") == 0 && n == 2) {
            char form[64];
            snprintf(form, sizeof(form), "timeshift_rel-%s", parts[1]);
            return sg_parse_word_form(form, now, out, why);
        }
        if (strcmp(parts[0], "archive") == 0 && n == 4) {
            char form[128];
            out->format = strcmp(parts[3], "mpegts") == 0       ? SG_FMT_TS
                          : strcmp(parts[3], "index.m3u8") == 0 ? SG_FMT_HLS
                                                                : 0;
            if (out->format == 0) return 404;
            snprintf(form, sizeof(form), "archive-%s-%s", parts[1], parts[2]);
            rc = sg_parse_word_form(form, now, out, why);
            if (rc == 0 && out->duration == 0 && !out->to_now) {
                *why = "archive/T/D needs a duration";
                return 400;
            }
            return rc;
        }
        return 404;
    }

    ext = strrchr(buf, '.');
    if (ext) {
        *ext++ = '\0';
        out->format = sg_ext_format(ext);
        if (out->format == 0) return 404;
    }

    /* digits only: Unix seconds, or a local YYYYMMDDHHMM[SS] */
    if (sg_all_digits(buf, strlen(buf))) {
        size_t n = strlen(buf);
        snprintf(out->word, sizeof(out->word), "%s", n == 12 || n == 14 ? "local" : "unix");
        if (n == 12 || n == 14) {
            if (ext) return 404; /* not a form anyone sends */
            out->start = sg_timespec_local(buf, (int)n);
            if (out->start < 0) {
                *why = "not a valid YYYYMMDDHHMM[SS] date";
                return 400;
            }
            return 0;
        }
        if (sg_parse_unix(buf, n, &out->start) != 0) {
            *why = "a time must be Unix seconds, YYYYMMDDHHMM or YYYYMMDDHHMMSS";
            return 400;
        }
        return 0;
    }
    return sg_parse_word_form(buf, now, out, why);
}

int
sg_timespec_parse(const char *tail, const char *query, int64_t now, sg_timespec_t *out,
                  const char **why)
{
    int rc = sg_timespec_parse_depth(tail, query, now, out, why, 0);
    if (rc == 0 && out->kind == SG_REQ_CATCHUP && out->start > now + 60) {
        *why = "that time is in the future";
        return 400;
    }
    if (rc == 400 && *why == NULL) *why = "malformed time";
    return rc;
}
