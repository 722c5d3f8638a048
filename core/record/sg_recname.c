/* Recording file names. See sg_recname.h. */
#include "record/sg_recname.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SG_RECNAME_MAX 120

size_t
sg_recname_safe(const char *s, char *out, size_t n)
{
    size_t o = 0, cap = n - 1 < SG_RECNAME_MAX ? n - 1 : SG_RECNAME_MAX;

    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o < cap;) {
        const char *rep = NULL;
        size_t len = 1;
        unsigned char c = *p;
        if (c == ':') {
            rep = ",";
        } else if (c == '(') {
            rep = "[";
        } else if (c == ')') {
            rep = "]";
        } else if (c == '.' && p[1] == '.' && p[2] == '.') {
            rep = "\xe2\x80\xa6"; /* … */
            len = 3;
        } else if (c >= 0x80) {
            /* a whole UTF-8 sequence (letters of any script), or nothing */
            size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            size_t i;
            for (i = 1; k && i < k && (p[i] & 0xc0) == 0x80; i++) {
            }
            if (k == 0 || i < k) {
                p++;
                continue;
            }
            if (o + k > cap) break;
            memcpy(out + o, p, k);
            o += k;
            p += k;
            continue;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     strchr(" ,._-![]", c))) {
            /* anything else, '/' and controls included: a space at most */
            if (o > 0 && out[o - 1] != ' ') out[o++] = ' ';
            p++;
            continue;
        }
        if (rep) {
            size_t rl = strlen(rep);
            if (o + rl > cap) break;
            memcpy(out + o, rep, rl);
            o += rl;
        } else {
            if (c == ' ' && (o == 0 || out[o - 1] == ' ')) {
                p++;
                continue;
            }
            if (c == '.' && o == 0) { /* never a hidden name */
                p++;
                continue;
            }
            out[o++] = (char)c;
        }
        p += len;
    }
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.')) o--;
    if (o == 0) {
        snprintf(out, n, "%s", "Recording");
        return strlen(out);
    }
    out[o] = '\0';
    return o;
}

size_t
sg_recname(const sg_recname_in_t *in, char *out, size_t n)
{
    char chan[160] = "", dir[SG_RECNAME_MAX + 1], file[3 * SG_RECNAME_MAX], ep[SG_RECNAME_MAX + 1];
    char date[16] = "", se[32] = "";
    const char *ext = in->ext && in->ext[0] ? in->ext : "mkv";
    int series = in->series && in->series[0];
    int periodic = !series && in->genre && strncasecmp(in->genre, "News", 4) == 0;
    struct tm tm;
    time_t t = (time_t)in->start;
    int w;

    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y%m%d", &tm);
    if (in->per_channel && in->channel && in->channel[0]) {
        char name[SG_RECNAME_MAX + 1];
        sg_recname_safe(in->channel, name, sizeof(name));
        snprintf(chan, sizeof(chan), "%03d. %s/", in->channel_number > 0 ? in->channel_number : 0,
                 name);
    }
    sg_recname_safe(series ? in->series : in->title, dir, sizeof(dir));
    if (series) {
        if (in->season > 0 && in->episode > 0) {
            snprintf(se, sizeof(se), " S%02dE%02d", in->season, in->episode);
        } else if (in->episode > 0) {
            snprintf(se, sizeof(se), " E%02d", in->episode);
        }
        if (in->episode_title && in->episode_title[0]) {
            sg_recname_safe(in->episode_title, ep, sizeof(ep));
            snprintf(file, sizeof(file), "%s%s - %s", dir, se, ep);
        } else if (se[0]) {
            snprintf(file, sizeof(file), "%s%s", dir, se);
        } else {
            snprintf(file, sizeof(file), "%s - %s", dir, date);
        }
    } else if (periodic) {
        snprintf(file, sizeof(file), "%s - %s", dir, date);
    } else {
        snprintf(file, sizeof(file), "%s", dir);
    }
    w = snprintf(out, n, "%s%s/%s.%s", chan, dir, file, ext);
    return w > 0 && (size_t)w < n ? (size_t)w : 0;
}
