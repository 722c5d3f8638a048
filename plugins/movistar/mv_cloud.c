/* Movistar cloud recordings: recordingList / getRecordingData replies. */
#include "mv_cloud.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "mv_epg.h"

/* A JSON integer, or a string of digits (the appserver writes both). */
static int
mv_json_int(json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        long long n = 0;
        size_t i;
        if (s[0] == '\0' || strlen(s) > 18) return -1;
        for (i = 0; s[i]; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            n = n * 10 + (s[i] - '0');
        }
        *out = n;
        return 0;
    }
    return -1;
}

static void
mv_json_text(json_t *o, const char *key, char *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    out[0] = '\0';
    if (json_is_string(v)) {
        mv_html_decode(json_string_value(v), json_string_length(v), out, n);
    }
}

/* Milliseconds since 1970 between 2000 and 2100: UTC seconds; else 0. */
static int64_t
mv_json_ms(json_t *v)
{
    long long ms;
    if (mv_json_int(v, &ms) != 0 || ms < 946684800000LL || ms > 4102444800000LL) return 0;
    return (int64_t)(ms / 1000);
}

/* resultCode 0 and an object resultData; else NULL with *why. */
static json_t *
mv_result(json_t *root, char *whybuf, size_t whylen, const char **why)
{
    json_t *code = json_object_get(root, "resultCode"), *rd = json_object_get(root, "resultData");
    long long c = 0;

    if (!json_is_object(root)) {
        *why = "not a JSON object";
        return NULL;
    }
    if (code && (mv_json_int(code, &c) != 0 || c != 0)) {
        json_t *text = json_object_get(root, "resultText");
        if (whybuf && json_is_string(text) && json_string_length(text) > 0) {
            mv_html_decode(json_string_value(text), json_string_length(text), whybuf, whylen);
            *why = whybuf;
        } else {
            *why = "the appserver answered with an error";
        }
        return NULL;
    }
    if (!json_is_object(rd)) {
        *why = "no resultData";
        return NULL;
    }
    return rd;
}

int
mv_cloud_list(const char *body, size_t len, mv_cloud_item_t *out, int max, int *skipped,
              int *dropped, const char **why)
{
    json_error_t err;
    json_t *root = json_loadb(body, len, 0, &err), *rd, *list, *e;
    size_t i;
    int n = 0;

    *skipped = *dropped = 0;
    if (root == NULL) {
        *why = "not JSON";
        return -1;
    }
    rd = mv_result(root, NULL, 0, why);
    list = rd ? json_object_get(rd, "result") : NULL;
    if (rd && !json_is_array(list)) {
        *why = "no result list";
        rd = NULL;
    }
    if (rd == NULL) {
        json_decref(root);
        return -1;
    }
    json_array_foreach(list, i, e) {
        long long ch, pid;
        int64_t begin = mv_json_ms(json_object_get(e, "beginTime"));
        if (mv_json_int(json_object_get(e, "serviceUID"), &ch) != 0 || ch <= 0 ||
            mv_json_int(json_object_get(e, "productID"), &pid) != 0 || pid <= 0 || begin == 0) {
            (*skipped)++;
            continue;
        }
        if (n >= max) {
            (*dropped)++;
            continue;
        }
        snprintf(out[n].channel, sizeof(out[n].channel), "%lld", ch);
        snprintf(out[n].pid, sizeof(out[n].pid), "%lld", pid);
        out[n].begin = begin;
        n++;
    }
    json_decref(root);
    return n;
}

int
mv_cloud_data(const char *body, size_t len, mv_cloud_rec_t *out, char *whybuf, size_t whylen)
{
    json_error_t err;
    json_t *root = json_loadb(body, len, 0, &err), *rd;
    const char *why = NULL;
    long long v;

    memset(out, 0, sizeof(*out));
    if (whylen) whybuf[0] = '\0';
    if (root == NULL) {
        snprintf(whybuf, whylen, "not JSON");
        return -1;
    }
    rd = mv_result(root, whybuf, whylen, &why);
    if (rd) {
        json_t *url = json_object_get(rd, "url");
        if (!json_is_string(url) || strncmp(json_string_value(url), "rtsp://", 7) != 0 ||
            json_string_length(url) >= sizeof(out->url)) {
            why = "no rtsp:// URL";
            rd = NULL;
        } else {
            snprintf(out->url, sizeof(out->url), "%s", json_string_value(url));
        }
    }
    if (rd == NULL) {
        if (why != whybuf) snprintf(whybuf, whylen, "%s", why);
        json_decref(root);
        return -1;
    }
    out->start = mv_json_ms(json_object_get(rd, "beginTime"));
    out->stop = mv_json_ms(json_object_get(rd, "endTime"));
    if (mv_json_int(json_object_get(rd, "duration"), &v) == 0 && v > 0 && v < 86400) {
        out->duration = (int)v;
    }
    mv_json_text(rd, "name", out->title, sizeof(out->title));
    mv_json_text(rd, "seriesName", out->series, sizeof(out->series));
    mv_json_text(rd, "theme", out->genre, sizeof(out->genre));
    if (mv_json_int(json_object_get(rd, "season"), &v) == 0 && v > 0 && v < 1000) {
        out->season = (int)v;
    }
    if (mv_json_int(json_object_get(rd, "episode"), &v) == 0 && v > 0 && v < 100000) {
        out->episode = (int)v;
    }
    if (mv_json_int(json_object_get(rd, "ageRatingID"), &v) == 0) out->age = mv_age_years((long)v);
    json_decref(root);
    return 0;
}
