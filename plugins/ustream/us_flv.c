/* plugins/ustream: joining FLV chunks (see us_flv.h). */
#include "us_flv.h"

#include <stdlib.h>
#include <string.h>

#define US_FLV_MAX_TAG (16u << 20)   /* DataSize is 24 bits             */
#define US_FLV_JUMP_MS 1000          /* a join further ahead: absorbed  */
#define US_FLV_BACK_MS 500           /* a join this far back: absorbed  */
#define US_FLV_STEP_MS 20            /* the gap a join is closed to     */

enum { S_HEADER = 0, S_SKIP, S_PREV0, S_TAGHDR, S_BODY, S_PREV };

struct us_flv_s {
    us_flv_out_pt out;
    void *arg;
    int state;
    uint8_t hdr[11];
    size_t have;             /* bytes of hdr/body gathered              */
    uint32_t skip;           /* S_SKIP: bytes left to skip              */
    uint8_t *body;           /* the current tag: header + data          */
    size_t body_cap;
    uint32_t size;           /* DataSize of the current tag             */
    int wrote_header;
    int first_chunk_tag;     /* the next media tag starts a chunk       */
    int64_t offset;          /* added to the chunk's timestamps         */
    int64_t last_ts;         /* of the last media tag written, -1 none  */
    int64_t last_type_ts[32];
    uint8_t *meta;           /* the first onMetaData written (a flag)   */
    uint8_t *avc, *aac;      /* the sequence headers written            */
    size_t avc_len, aac_len;
    int chunks;
    us_flv_stats_t st;
};

us_flv_t *
us_flv_new(us_flv_out_pt out, void *arg)
{
    us_flv_t *j = calloc(1, sizeof(*j));
    if (j == NULL) return NULL;
    j->out = out;
    j->arg = arg;
    j->last_ts = -1;
    for (int i = 0; i < 32; i++) j->last_type_ts[i] = -1;
    return j;
}

void
us_flv_free(us_flv_t *j)
{
    if (j == NULL) return;
    free(j->body);
    free(j->avc);
    free(j->aac);
    free(j);
}

void
us_flv_chunk(us_flv_t *j)
{
    j->state = S_HEADER;
    j->have = 0;
    j->first_chunk_tag = j->chunks > 0;
    j->chunks++;
}

static uint32_t
us_be24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static uint32_t
us_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
us_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A sequence header already written with the same bytes? */
static int
us_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return a && alen == blen && memcmp(a, b, alen) == 0;
}

static int
us_keep(uint8_t **dst, size_t *dlen, const uint8_t *src, size_t len)
{
    uint8_t *n = realloc(*dst, len ? len : 1);
    if (n == NULL) return -1;
    memcpy(n, src, len);
    *dst = n;
    *dlen = len;
    return 0;
}

/* The onMetaData kept describes the first chunk only: its duration and
 * filesize numbers become 0 ("unknown"), so players measure the joined
 * file instead of believing the first chunk's length. In place. */
static void
us_flv_meta_unknown(uint8_t *d, uint32_t n)
{
    static const char *const keys[] = {"\x00\x08" "duration" "\x00", "\x00\x08" "filesize" "\x00"};
    for (size_t k = 0; k < 2; k++) {
        for (uint32_t i = 13; i + 11 + 8 <= n; i++) {
            if (memcmp(d + i, keys[k], 11) == 0) {
                memset(d + i + 11, 0, 8); /* AMF0 number +0.0 */
                break;
            }
        }
    }
}

/* The current tag is whole (in j->body: 11-byte header + data): decide,
 * retime, write. */
static int
us_flv_tag(us_flv_t *j, const char **why)
{
    uint8_t *t = j->body;
    const uint8_t *d = t + 11;
    unsigned type = t[0] & 0x1f;
    uint32_t n = j->size;
    int64_t ts = (int64_t)(us_be24(t + 4) | ((uint32_t)t[7] << 24)), out;
    uint8_t prev[4];

    j->st.tags_in++;
    if (type == 18) {
        /* script data: the first onMetaData only */
        if (j->meta || n < 13 || memcmp(d, "\x02\x00\x0aonMetaData", 13) != 0) {
            j->st.dropped_meta++;
            return 0;
        }
        j->meta = (uint8_t *)1;
        ts = 0;
        us_flv_meta_unknown(t + 11, n);
    } else if (type == 9 && n >= 2 && (d[0] & 0x0f) == 7 && d[1] == 0) {
        /* AVC sequence header: once, unless it changes */
        if (us_same(j->avc, j->avc_len, d, n)) {
            j->st.dropped_seqhdr++;
            return 0;
        }
        if (us_keep(&j->avc, &j->avc_len, d, n) != 0) goto oom;
    } else if (type == 8 && n >= 2 && (d[0] >> 4) == 10 && d[1] == 0) {
        if (us_same(j->aac, j->aac_len, d, n)) {
            j->st.dropped_seqhdr++;
            return 0;
        }
        if (us_keep(&j->aac, &j->aac_len, d, n) != 0) goto oom;
    } else if (type != 8 && type != 9) {
        j->st.dropped_meta++; /* unknown tag types: not ours to pass on */
        return 0;
    }
    if (type == 8 || type == 9) {
        if (type == 8) j->st.has_audio = 1;
        if (type == 9) j->st.has_video = 1;
        out = ts + j->offset;
        /* a join: continue from where the last chunk ended */
        if (j->first_chunk_tag && j->last_ts >= 0 &&
            (out < j->last_ts - US_FLV_BACK_MS || out > j->last_ts + US_FLV_JUMP_MS)) {
            j->offset += j->last_ts + US_FLV_STEP_MS - out;
            out = j->last_ts + US_FLV_STEP_MS;
            j->st.joins_absorbed++;
        }
        j->first_chunk_tag = 0;
        /* never backwards within a type */
        if (j->last_type_ts[type] >= 0 && out < j->last_type_ts[type]) out = j->last_type_ts[type];
        if (out < 0) out = 0;
        if (out > 0x7fffffff) out = 0x7fffffff;
        j->last_type_ts[type] = out;
        if (out > j->last_ts) j->last_ts = out;
        ts = out;
    }
    t[4] = (uint8_t)(ts >> 16);
    t[5] = (uint8_t)(ts >> 8);
    t[6] = (uint8_t)ts;
    t[7] = (uint8_t)(ts >> 24);
    t[0] &= 0x1f; /* no filter (encryption) bit: we pass clear tags only */
    us_put32(prev, 11 + n);
    if (j->out(j->arg, t, 11 + (size_t)n) != 0 || j->out(j->arg, prev, 4) != 0) {
        *why = "output";
        return -1;
    }
    j->st.tags_out++;
    if (type != 18) j->st.last_ts = (uint32_t)ts;
    return 0;
oom:
    *why = "out of memory";
    return -1;
}

/* Gather into dst up to want bytes in all (j->have so far): 1 when whole. */
static int
us_gather(us_flv_t *j, uint8_t *dst, size_t want, const uint8_t **p, size_t *len)
{
    size_t take = want - j->have < *len ? want - j->have : *len;
    memcpy(dst + j->have, *p, take);
    j->have += take;
    *p += take;
    *len -= take;
    return j->have == want;
}

int
us_flv_feed(us_flv_t *j, const uint8_t *p, size_t len, const char **why)
{
    while (len > 0) {
        size_t take;
        switch (j->state) {
        case S_HEADER:
            if (!us_gather(j, j->hdr, 9, &p, &len)) break;
            if (memcmp(j->hdr, "FLV", 3) != 0 || j->hdr[3] != 1) {
                *why = "not an FLV file (no FLV signature)";
                return -1;
            }
            {
                uint32_t off = us_be32(j->hdr + 5);
                if (off < 9 || off > 1024) {
                    *why = "a bad FLV header (DataOffset)";
                    return -1;
                }
                if (!j->wrote_header) {
                    /* one header for all: FLV v1, audio + video as the first
                     * chunk says, DataOffset 9, PreviousTagSize0 0 */
                    uint8_t h[13] = {'F', 'L', 'V', 1, (uint8_t)(j->hdr[4] & 0x05), 0, 0, 0, 9, 0, 0, 0, 0};
                    if (j->out(j->arg, h, sizeof(h)) != 0) {
                        *why = "output";
                        return -1;
                    }
                    j->wrote_header = 1;
                }
                j->skip = off - 9;
            }
            j->state = S_SKIP;
            j->have = 0;
            break;
        case S_SKIP:
            take = j->skip < len ? j->skip : len;
            j->skip -= (uint32_t)take;
            p += take;
            len -= take;
            if (j->skip == 0) j->state = S_PREV0;
            break;
        case S_PREV0:
        case S_PREV:
            if (!us_gather(j, j->hdr, 4, &p, &len)) break;
            if (j->state == S_PREV0 ? us_be32(j->hdr) != 0 : us_be32(j->hdr) != 11 + j->size) {
                *why = j->state == S_PREV0 ? "PreviousTagSize0 is not 0"
                                           : "a PreviousTagSize does not match its tag";
                return -1;
            }
            j->state = S_TAGHDR;
            j->have = 0;
            break;
        case S_TAGHDR:
            if (!us_gather(j, j->hdr, 11, &p, &len)) break;
            j->size = us_be24(j->hdr + 1);
            if (j->size > US_FLV_MAX_TAG || us_be24(j->hdr + 8) != 0) {
                *why = "a malformed FLV tag header";
                return -1;
            }
            if (j->body_cap < 11 + (size_t)j->size) {
                uint8_t *b = realloc(j->body, 11 + (size_t)j->size);
                if (b == NULL) {
                    *why = "out of memory";
                    return -1;
                }
                j->body = b;
                j->body_cap = 11 + (size_t)j->size;
            }
            memcpy(j->body, j->hdr, 11);
            j->have = 0;
            j->state = S_BODY;
            if (j->size == 0 && us_flv_tag(j, why) != 0) return -1;
            if (j->size == 0) j->state = S_PREV;
            break;
        case S_BODY:
            if (!us_gather(j, j->body + 11, j->size, &p, &len)) break;
            if (us_flv_tag(j, why) != 0) return -1;
            j->state = S_PREV;
            j->have = 0;
            break;
        }
    }
    return 0;
}

int
us_flv_chunk_end(us_flv_t *j, const char **why)
{
    /* a chunk ends after a PreviousTagSize: the next would be a tag */
    if (j->state != S_TAGHDR || j->have != 0) {
        *why = j->state == S_HEADER ? "the chunk is not an FLV file (too short)"
                                    : "the chunk is truncated (it ends inside a tag)";
        return -1;
    }
    return 0;
}

void
us_flv_stats(const us_flv_t *j, us_flv_stats_t *out)
{
    *out = j->st;
}
