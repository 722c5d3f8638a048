/* plugins/4gtv: the pure parts (see tv_model.h). */
#include "tv_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
tv_edge(const tv_anchor_t *a, double now)
{
    double d = now - a->t0;
    if (a->step <= 0) return a->edge_seq;
    return a->edge_seq + (int64_t)floor(d / a->step);
}

int64_t
tv_begin(double step, int64_t seq, int64_t offset)
{
    return (int64_t)llround(step * (double)seq) + offset;
}

int
tv_expand(const char *tmpl, const char *fid, int hd, int64_t seq, int64_t begin, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = tmpl; *p;) {
        char tmp[32];
        const char *rep = NULL;
        size_t l;
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (e == NULL) return -1;
            l = (size_t)(e - p - 1);
            if (l == 3 && strncmp(p + 1, "fid", 3) == 0) {
                rep = fid;
            } else if (l == 2 && strncmp(p + 1, "hd", 2) == 0) {
                snprintf(tmp, sizeof(tmp), "%d", hd);
                rep = tmp;
            } else if (l == 3 && strncmp(p + 1, "seq", 3) == 0) {
                snprintf(tmp, sizeof(tmp), "%lld", (long long)seq);
                rep = tmp;
            } else if (l == 5 && strncmp(p + 1, "begin", 5) == 0) {
                snprintf(tmp, sizeof(tmp), "%lld", (long long)begin);
                rep = tmp;
            } else {
                return -1;
            }
            l = strlen(rep);
            if (o + l >= n) return -1;
            memcpy(out + o, rep, l);
            o += l;
            p = e + 1;
            continue;
        }
        if (o + 1 >= n) return -1;
        out[o++] = *p++;
    }
    if (o >= n) return -1;
    out[o] = 0;
    return 0;
}

int64_t
tv_expiry(const char *url)
{
    const char *q = strchr(url, '?');
    int64_t best = -1;
    while (q && *q) {
        const char *name = q + 1, *eq = strchr(name, '='), *amp = strchr(name, '&');
        if (eq && (amp == NULL || eq < amp) &&
            ((eq - name == 7 && strncmp(name, "expires", 7) == 0) ||
             (eq - name == 8 && strncmp(name, "expires1", 8) == 0))) {
            char *end;
            long long v = strtoll(eq + 1, &end, 10);
            if (end != eq + 1 && (*end == 0 || *end == '&') && v > 0 && (best < 0 || v < best)) {
                best = v;
            }
        }
        q = amp;
    }
    return best;
}

/* "YYYY-MM-DD" + "HH:MM[:SS]" in +0800 to UTC, or -1 */
static int64_t
tv_time(const char *date, const char *clock)
{
    int y, mo, d, h, mi, s = 0, n = -1, m = -1;
    struct tm tm = {0}, back;
    time_t t;
    if (date == NULL || clock == NULL || sscanf(date, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
        n < 0 || date[n] != 0) {
        return -1;
    }
    if (sscanf(clock, "%2d:%2d:%2d%n", &h, &mi, &s, &m) != 3) {
        s = 0;
        m = -1;
        if (sscanf(clock, "%2d:%2d%n", &h, &mi, &m) != 2) return -1;
    }
    if (m < 0 || clock[m] != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
        h > 24 || mi < 0 || mi > 59 || s < 0 || s > 59) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h; /* 24:00 rolls over to the next day */
    tm.tm_min = mi;
    tm.tm_sec = s;
    t = timegm(&tm);
    if (h < 24 && (gmtime_r(&t, &back) == NULL || back.tm_mday != d)) return -1;
    return (int64_t)t - 8 * 3600;
}

int
tv_proglist_parse(const char *text, size_t len, void (*cb)(void *arg, const tv_prog_t *p), void *arg,
                  int *skipped, const char **why)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    size_t i;
    json_t *e;
    int n = 0;

    *skipped = 0;
    if (root && json_is_object(root)) {
        /* some copies wrap the list: {"Data": [...]} */
        json_t *inner = json_object_get(root, "Data");
        if (json_is_array(inner)) {
            json_incref(inner);
            json_decref(root);
            root = inner;
        }
    }
    if (root == NULL || !json_is_array(root)) {
        json_decref(root);
        *why = "not a JSON list of programmes";
        return -1;
    }
    json_array_foreach(root, i, e) {
        tv_prog_t p;
        p.title = json_string_value(json_object_get(e, "title"));
        p.start = tv_time(json_string_value(json_object_get(e, "sdate")),
                          json_string_value(json_object_get(e, "stime")));
        p.stop = tv_time(json_string_value(json_object_get(e, "edate")),
                         json_string_value(json_object_get(e, "etime")));
        if (p.title == NULL || p.title[0] == 0 || p.start < 0 || p.stop <= p.start ||
            p.stop - p.start > 2 * 86400) {
            (*skipped)++;
            continue;
        }
        cb(arg, &p);
        n++;
    }
    json_decref(root);
    return n;
}
