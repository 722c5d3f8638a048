/*
 * plugins/ustream: the upstream's documents, parsed without any I/O.
 * See us_api.h.
 */
#include "us_api.h"

#include <ctype.h>
#include <jansson.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
us_why(char *why, size_t n, const char *fmt, const char *arg)
{
    if (why && n) snprintf(why, n, fmt, arg ? arg : "");
}

static int
us_is_id(const char *s, size_t len)
{
    if (len == 0 || len >= 128) return 0;
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return 0;
    }
    return 1;
}

int
us_target_parse(const char *arg, const char *site, us_target_t *t, char *why, size_t n)
{
    const char *rec, *end;
    size_t len;

    memset(t, 0, sizeof(*t));
    if (arg == NULL || arg[0] == '\0') {
        us_why(why, n, "no channel or video given%s", NULL);
        return -1;
    }
    if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0) {
        len = strlen(arg);
        if (!us_is_id(arg, len)) {
            us_why(why, n, "\"%s\" is neither a channel or video URL nor a video id", arg);
            return -1;
        }
        memcpy(t->video, arg, len + 1);
        if ((size_t)snprintf(t->page, sizeof(t->page), "%s%srecorded/%s", site,
                             site[0] && site[strlen(site) - 1] == '/' ? "" : "/", arg) >=
            sizeof(t->page)) {
            us_why(why, n, "the site URL is too long%s", NULL);
            return -1;
        }
        return 0;
    }
    if (strlen(arg) >= sizeof(t->page)) {
        us_why(why, n, "the URL is too long%s", NULL);
        return -1;
    }
    strcpy(t->page, arg);
    if ((rec = strstr(arg, "/recorded/")) != NULL) {
        rec += strlen("/recorded/");
        end = rec + strcspn(rec, "/?#");
        if (!us_is_id(rec, (size_t)(end - rec))) {
            us_why(why, n, "%s: no video id after /recorded/", arg);
            return -1;
        }
        memcpy(t->video, rec, (size_t)(end - rec));
        t->video[end - rec] = '\0';
        return 0;
    }
    if (strstr(arg, "/channel/") == NULL) {
        us_why(why, n, "%s: not a channel (…/channel/NAME) or video (…/recorded/ID) URL", arg);
        return -1;
    }
    return 0;
}

int
us_page_channel_id(const char *html, size_t len, char *out, size_t n)
{
    htmlDocPtr doc;
    xmlXPathContextPtr xc;
    xmlXPathObjectPtr xo = NULL;
    int rc = -1;

    if (len > (size_t)INT32_MAX) return -1;
    doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                         HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                             HTML_PARSE_NONET);
    if (doc == NULL) return -1;
    xc = xmlXPathNewContext(doc);
    if (xc) {
        xo = xmlXPathEvalExpression(BAD_CAST "//meta[@name='ustream:channel_id']/@content", xc);
    }
    if (xo && xo->nodesetval && xo->nodesetval->nodeNr > 0) {
        xmlChar *v = xmlNodeGetContent(xo->nodesetval->nodeTab[0]);
        if (v) {
            size_t l = strlen((const char *)v);
            if (us_is_id((const char *)v, l) && l < n) {
                memcpy(out, v, l + 1);
                rc = 0;
            }
            xmlFree(v);
        }
    }
    xmlXPathFreeObject(xo);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
    return rc;
}

/* A reply's own words for a failure: "error", "message" or "msg". */
static const char *
us_json_error(json_t *root)
{
    static const char *const names[] = {"error", "message", "msg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *e = json_object_get(root, names[i]);
        if (json_is_string(e)) return json_string_value(e);
        if (json_is_object(e) && json_is_string(json_object_get(e, "message"))) {
            return json_string_value(json_object_get(e, "message"));
        }
    }
    return NULL;
}

char *
us_reg_hash(const char *json, size_t len, char *why, size_t n)
{
    json_t *root = json_loadb(json, len, 0, NULL), *h;
    char *out = NULL;

    if (!json_is_object(root)) {
        us_why(why, n, "the registration reply is not a JSON object%s", NULL);
    } else if ((h = json_object_get(root, "hash")) == NULL || json_is_null(h) ||
               json_is_false(h)) {
        const char *e = us_json_error(root);
        us_why(why, n, e ? "registration refused: %s" : "registration refused (no hash)%s", e);
    } else if ((out = json_dumps(h, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        us_why(why, n, "out of memory%s", NULL);
    }
    json_decref(root);
    return out;
}

static void
us_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

int
us_content_videos(const char *json, size_t len, us_video_t **v, size_t *n, char *why, size_t wn)
{
    json_t *root = json_loadb(json, len, 0, NULL), *vids, *it;
    size_t i, k = 0;

    *v = NULL;
    *n = 0;
    vids = json_object_get(json_object_get(json_object_get(root, "exposedVariables"),
                                           "videosData"),
                           "videos");
    if (!json_is_array(vids)) {
        const char *e = us_json_error(root);
        us_why(why, wn, e ? "content.json: %s" : "content.json has no video list%s", e);
        json_decref(root);
        return -1;
    }
    if (json_array_size(vids) && (*v = calloc(json_array_size(vids), sizeof(**v))) == NULL) {
        us_why(why, wn, "out of memory%s", NULL);
        json_decref(root);
        return -1;
    }
    json_array_foreach(vids, i, it) {
        json_t *id = json_object_get(it, "id"), *x;
        us_video_t *o = &(*v)[k];
        if (json_is_string(id)) {
            us_copy(o->id, sizeof(o->id), json_string_value(id));
        } else if (json_is_integer(id)) {
            snprintf(o->id, sizeof(o->id), "%lld", (long long)json_integer_value(id));
        } else {
            continue;
        }
        if (!us_is_id(o->id, strlen(o->id))) continue;
        if (json_is_string(x = json_object_get(it, "title"))) {
            us_copy(o->title, sizeof(o->title), json_string_value(x));
        }
        x = json_object_get(it, "createdAt");
        if (json_is_integer(x)) o->created = json_integer_value(x);
        x = json_object_get(it, "length");
        if (json_is_number(x) && json_number_value(x) > 0) o->length = json_number_value(x);
        k++;
    }
    *n = k;
    if (k == 0) {
        free(*v);
        *v = NULL;
    }
    json_decref(root);
    return 0;
}

char *
us_connect_frame(const char *video, const char *referrer, const char *hash)
{
    json_t *o = json_pack("{s:s, s:[{s:s, s:i, s:i, s:b, s:s, s:s, s:s, s:s}]}", "cmd", "connect",
                          "args", "type", "viewer", "appId", 3, "appVersion", 2,
                          "isOffairRecorded", 1, "referrer", referrer, "media", video,
                          "application", "recorded", "hash", hash);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Replace every "{name}" in tmpl: 0, or -1 when out is too small. */
static int
us_subst(const char *tmpl, const char *name, const char *val, char *out, size_t n)
{
    size_t nl = strlen(name), o = 0;
    for (const char *p = tmpl; *p;) {
        const char *put = p;
        size_t pl = 1;
        if (strncmp(p, name, nl) == 0) {
            put = val;
            pl = strlen(val);
            p += nl;
        } else {
            p++;
        }
        if (o + pl >= n) return -1;
        memcpy(out + o, put, pl);
        o += pl;
    }
    if (o >= n) return -1;
    out[o] = '\0';
    return 0;
}

int
us_ums_url(const char *tmpl, const char *video, unsigned seed, char *out, size_t n)
{
    char digits[9], tmp[2048];
    int used = 0;

    /* 8 distinct digits, the first not 0 (the original's randN(8)) */
    for (int i = 0; i < 8;) {
        int d;
        seed = seed * 1103515245u + 12345u;
        d = (int)((seed >> 16) % 10);
        if ((used & (1 << d)) || (i == 0 && d == 0)) continue;
        used |= 1 << d;
        digits[i++] = (char)('0' + d);
    }
    digits[8] = '\0';
    if (us_subst(tmpl, "{rand}", digits, tmp, sizeof(tmp)) != 0) return -1;
    return us_subst(tmp, "{video}", video, out, n);
}

int
us_cluster_url(const char *ums, const char *host, char *out, size_t n)
{
    const char *scheme = strncmp(ums, "wss://", 6) == 0 ? "wss" : "ws";
    if (host[0] == '\0' || strpbrk(host, " \"\\?#") != NULL) return -1;
    return (size_t)snprintf(out, n, "%s://%s/1/ustream", scheme, host) < n ? 0 : -1;
}

static int
us_key_cmp(const void *a, const void *b)
{
    const us_hashkey_t *x = a, *y = b;
    return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

/* F = streamFormats["flv/segmented"] into *st: 1, or -1 with msg. */
static int
us_stream_parse(json_t *f, const char *cdn, const char *preset, us_stream_t *st, char *msg,
                size_t n)
{
    json_t *path = json_object_get(
        json_object_get(json_array_get(json_object_get(json_object_get(f, "contentAccess"),
                                                       "accessList"),
                                       0),
                        "data"),
        "path");
    json_t *streams = json_object_get(f, "streams"), *hashes = json_object_get(f, "hashes"), *x;
    const char *seg = NULL, *k, *found[8];
    size_t i, nfound = 0;
    json_t *v;

    memset(st, 0, sizeof(*st));
    if (!json_is_string(path)) {
        us_why(msg, n, "the flv/segmented stream has no content path%s", NULL);
        return -1;
    }
    json_array_foreach(streams, i, x) {
        json_t *pr = json_object_get(x, "preset");
        if (json_is_string(pr) && nfound < 8) found[nfound++] = json_string_value(pr);
        if (json_is_string(pr) && strcmp(json_string_value(pr), preset) == 0 &&
            json_is_string(json_object_get(x, "segmentUrl"))) {
            seg = json_string_value(json_object_get(x, "segmentUrl"));
        }
    }
    if (seg == NULL) {
        char list[256] = "";
        for (size_t j = 0; j < nfound; j++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s", j ? ", " : "", found[j]);
        }
        snprintf(msg, n, "no \"%s\" preset in the stream (it has: %s)", preset,
                 nfound ? list : "none");
        return -1;
    }
    {
        const char *p1 = strchr(seg, '%');
        if (p1 == NULL || strchr(p1 + 1, '%') == NULL) {
            us_why(msg, n, "the segment URL \"%s\" lacks its two %% placeholders", seg);
            return -1;
        }
    }
    if ((size_t)snprintf(st->base, sizeof(st->base), "%s%s", cdn, json_string_value(path)) >=
            sizeof(st->base) ||
        (size_t)snprintf(st->segment_url, sizeof(st->segment_url), "%s", seg) >=
            sizeof(st->segment_url)) {
        us_why(msg, n, "the stream's URLs are too long%s", NULL);
        return -1;
    }
    if (!json_is_object(hashes) || json_object_size(hashes) == 0) {
        us_why(msg, n, "the stream has no chunk hashes%s", NULL);
        return -1;
    }
    st->keys = calloc(json_object_size(hashes), sizeof(*st->keys));
    if (st->keys == NULL) {
        us_why(msg, n, "out of memory%s", NULL);
        return -1;
    }
    json_object_foreach(hashes, k, v) {
        char *end;
        long long c = strtoll(k, &end, 10);
        const char *h = json_is_string(v) ? json_string_value(v) : NULL;
        if (*k == '\0' || *end != '\0' || c < 0 || c > INT32_MAX || h == NULL ||
            strlen(h) >= sizeof(st->keys[0].hash) || !us_is_id(h, strlen(h))) {
            us_why(msg, n, "a chunk hash entry \"%s\" is malformed", k);
            us_stream_free(st);
            return -1;
        }
        st->keys[st->nkeys].chunk = c;
        strcpy(st->keys[st->nkeys].hash, h);
        st->nkeys++;
    }
    qsort(st->keys, st->nkeys, sizeof(*st->keys), us_key_cmp);
    x = json_object_get(f, "chunkTime");
    if (json_is_number(x) && json_number_value(x) >= 100 && json_number_value(x) <= 3600000) {
        st->chunk_ms = (int64_t)json_number_value(x);
    }
    x = json_object_get(f, "duration");
    if (json_is_number(x) && json_number_value(x) > 0 && json_number_value(x) < 1e7) {
        st->duration = json_number_value(x);
    }
    return 1;
}

int
us_frame(const char *json, size_t len, const char *cdn, const char *preset, us_stream_t *st,
         char *msg, size_t n)
{
    json_t *root = json_loadb(json, len, 0, NULL), *a0, *x;
    const char *cmd;
    int rc = US_FRAME_OTHER;

    msg[0] = '\0';
    cmd = json_string_value(json_object_get(root, "cmd"));
    a0 = json_array_get(json_object_get(root, "args"), 0);
    if (cmd == NULL) {
        us_why(msg, n, "a websocket frame is not a JSON command%s", NULL);
        json_decref(root);
        return US_FRAME_BAD;
    }
    if (strcmp(cmd, "reject") == 0) {
        rc = US_FRAME_REJECT;
        if (json_is_string(x = json_object_get(json_object_get(a0, "cluster"), "host"))) {
            if (json_string_value(x)[0]) {
                us_copy(msg, n, json_string_value(x));
                rc = US_FRAME_CLUSTER;
            } else {
                us_why(msg, n, "rejected: a cluster redirect without a host%s", NULL);
            }
        } else if ((x = json_object_get(a0, "geoLock")) != NULL && !json_is_false(x)) {
            const char *m = json_string_value(json_object_get(x, "message"));
            us_why(msg, n, "geo-locked: %s", m ? m : "not available in this country");
        } else if ((x = json_object_get(a0, "nonexistent")) != NULL && !json_is_false(x)) {
            us_why(msg, n, "the video does not exist (nonexistent)%s", NULL);
        } else if (json_is_string(
                       x = json_object_get(json_object_get(a0, "referrerLock"), "redirectUrl"))) {
            us_why(msg, n, "referrer-locked: only playable at %s", json_string_value(x));
        } else {
            char *d = a0 ? json_dumps(a0, JSON_COMPACT) : NULL;
            us_why(msg, n, "rejected: %.200s", d ? d : "no reason given");
            free(d);
        }
    } else if (strcmp(cmd, "warning") == 0) {
        const char *c = json_string_value(json_object_get(a0, "code"));
        const char *m = json_string_value(json_object_get(a0, "message"));
        snprintf(msg, n, "%s%s%s", c ? c : "", c && m ? ": " : "", m ? m : "");
        rc = US_FRAME_WARNING;
    } else if (strcmp(cmd, "moduleInfo") == 0) {
        json_t *fmts = json_object_get(json_object_get(a0, "stream"), "streamFormats");
        if (fmts) {
            json_t *f = json_object_get(fmts, "flv/segmented");
            if (f == NULL) {
                us_why(msg, n, "the stream has no flv/segmented format%s", NULL);
                rc = US_FRAME_BAD;
            } else {
                rc = us_stream_parse(f, cdn, preset, st, msg, n) > 0 ? US_FRAME_STREAM
                                                                     : US_FRAME_BAD;
            }
        }
    }
    json_decref(root);
    return rc;
}

void
us_stream_free(us_stream_t *st)
{
    free(st->keys);
    st->keys = NULL;
    st->nkeys = 0;
}

int64_t
us_stream_first(const us_stream_t *st)
{
    return st->nkeys ? st->keys[0].chunk : 0;
}

int64_t
us_stream_planned(const us_stream_t *st)
{
    double ms;
    int64_t c;
    if (st->chunk_ms <= 0 || st->duration <= 0) return 0;
    ms = st->duration * 1000.0 - 1000.0; /* a last sliver under a second: probed */
    c = ms <= 0 ? 1 : (int64_t)((ms + (double)st->chunk_ms - 1) / (double)st->chunk_ms);
    return c < 1 ? 1 : c;
}

const char *
us_stream_hash(const us_stream_t *st, int64_t c)
{
    size_t lo = 0, hi = st->nkeys;
    /* the greatest key <= c */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->keys[mid].chunk <= c) lo = mid + 1;
        else hi = mid;
    }
    return lo ? st->keys[lo - 1].hash : NULL;
}

int
us_chunk_url(const us_stream_t *st, int64_t c, char *out, size_t n)
{
    const char *h = us_stream_hash(st, c), *p1, *p2;
    int w;
    if (h == NULL || (p1 = strchr(st->segment_url, '%')) == NULL ||
        (p2 = strchr(p1 + 1, '%')) == NULL) {
        return -1;
    }
    w = snprintf(out, n, "%s%.*s%lld%.*s%s%s", st->base, (int)(p1 - st->segment_url),
                 st->segment_url, (long long)c, (int)(p2 - p1 - 1), p1 + 1, h, p2 + 1);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

void
us_safe_name(const char *title, char *out, size_t n)
{
    size_t o = 0;
    if (n == 0) return;
    for (const unsigned char *p = (const unsigned char *)title; *p && o + 1 < n; p++) {
        unsigned char c = *p;
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') c = ' ';
        if (o == 0 && (c == '.' || c == ' ')) continue;
        out[o++] = (char)c;
    }
    /* never end inside a UTF-8 sequence */
    while (o > 0 && ((unsigned char)out[o - 1] & 0x80)) {
        size_t s = o - 1, need;
        while (s > 0 && ((unsigned char)out[s] & 0xc0) == 0x80) s--;
        need = ((unsigned char)out[s] & 0xe0) == 0xc0   ? 2
               : ((unsigned char)out[s] & 0xf0) == 0xe0 ? 3
               : ((unsigned char)out[s] & 0xf8) == 0xf0 ? 4
                                                        : 0;
        if (need == o - s) break;
        o = s;
    }
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
    if (o == 0) snprintf(out, n, "video");
}
