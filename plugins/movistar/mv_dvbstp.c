#include "mv_dvbstp.h"

#include "mv_bytes.h"

#include <stdlib.h>
#include <string.h>

/* Open buffers are also capped in number, whatever max_bytes allows. A
 * carousel sends its segments one after the other, but on a lossy link
 * every segment that lost a section waits a whole cycle: an EPG day group
 * carries some 270 segments, so leave room for all of them. The lookup
 * scans from the most recently fed buffer, which is where the next section
 * almost always belongs. */
#define MV_STP_MAX_OPEN 512
#define MV_STP_NO_SECTION UINT32_MAX

static const uint32_t mv_stp_crc_table[256] = {
    0x00000000, 0x04c11db7, 0x09823b6e, 0x0d4326d9, 0x130476dc, 0x17c56b6b,
    0x1a864db2, 0x1e475005, 0x2608edb8, 0x22c9f00f, 0x2f8ad6d6, 0x2b4bcb61,
    0x350c9b64, 0x31cd86d3, 0x3c8ea00a, 0x384fbdbd, 0x4c11db70, 0x48d0c6c7,
    0x4593e01e, 0x4152fda9, 0x5f15adac, 0x5bd4b01b, 0x569796c2, 0x52568b75,
    0x6a1936c8, 0x6ed82b7f, 0x639b0da6, 0x675a1011, 0x791d4014, 0x7ddc5da3,
    0x709f7b7a, 0x745e66cd, 0x9823b6e0, 0x9ce2ab57, 0x91a18d8e, 0x95609039,
    0x8b27c03c, 0x8fe6dd8b, 0x82a5fb52, 0x8664e6e5, 0xbe2b5b58, 0xbaea46ef,
    0xb7a96036, 0xb3687d81, 0xad2f2d84, 0xa9ee3033, 0xa4ad16ea, 0xa06c0b5d,
    0xd4326d90, 0xd0f37027, 0xddb056fe, 0xd9714b49, 0xc7361b4c, 0xc3f706fb,
    0xceb42022, 0xca753d95, 0xf23a8028, 0xf6fb9d9f, 0xfbb8bb46, 0xff79a6f1,
    0xe13ef6f4, 0xe5ffeb43, 0xe8bccd9a, 0xec7dd02d, 0x34867077, 0x30476dc0,
    0x3d044b19, 0x39c556ae, 0x278206ab, 0x23431b1c, 0x2e003dc5, 0x2ac12072,
    0x128e9dcf, 0x164f8078, 0x1b0ca6a1, 0x1fcdbb16, 0x018aeb13, 0x054bf6a4,
    0x0808d07d, 0x0cc9cdca, 0x7897ab07, 0x7c56b6b0, 0x71159069, 0x75d48dde,
    0x6b93dddb, 0x6f52c06c, 0x6211e6b5, 0x66d0fb02, 0x5e9f46bf, 0x5a5e5b08,
    0x571d7dd1, 0x53dc6066, 0x4d9b3063, 0x495a2dd4, 0x44190b0d, 0x40d816ba,
    0xaca5c697, 0xa864db20, 0xa527fdf9, 0xa1e6e04e, 0xbfa1b04b, 0xbb60adfc,
    0xb6238b25, 0xb2e29692, 0x8aad2b2f, 0x8e6c3698, 0x832f1041, 0x87ee0df6,
    0x99a95df3, 0x9d684044, 0x902b669d, 0x94ea7b2a, 0xe0b41de7, 0xe4750050,
    0xe9362689, 0xedf73b3e, 0xf3b06b3b, 0xf771768c, 0xfa325055, 0xfef34de2,
    0xc6bcf05f, 0xc27dede8, 0xcf3ecb31, 0xcbffd686, 0xd5b88683, 0xd1799b34,
    0xdc3abded, 0xd8fba05a, 0x690ce0ee, 0x6dcdfd59, 0x608edb80, 0x644fc637,
    0x7a089632, 0x7ec98b85, 0x738aad5c, 0x774bb0eb, 0x4f040d56, 0x4bc510e1,
    0x46863638, 0x42472b8f, 0x5c007b8a, 0x58c1663d, 0x558240e4, 0x51435d53,
    0x251d3b9e, 0x21dc2629, 0x2c9f00f0, 0x285e1d47, 0x36194d42, 0x32d850f5,
    0x3f9b762c, 0x3b5a6b9b, 0x0315d626, 0x07d4cb91, 0x0a97ed48, 0x0e56f0ff,
    0x1011a0fa, 0x14d0bd4d, 0x19939b94, 0x1d528623, 0xf12f560e, 0xf5ee4bb9,
    0xf8ad6d60, 0xfc6c70d7, 0xe22b20d2, 0xe6ea3d65, 0xeba91bbc, 0xef68060b,
    0xd727bbb6, 0xd3e6a601, 0xdea580d8, 0xda649d6f, 0xc423cd6a, 0xc0e2d0dd,
    0xcda1f604, 0xc960ebb3, 0xbd3e8d7e, 0xb9ff90c9, 0xb4bcb610, 0xb07daba7,
    0xae3afba2, 0xaafbe615, 0xa7b8c0cc, 0xa379dd7b, 0x9b3660c6, 0x9ff77d71,
    0x92b45ba8, 0x9675461f, 0x8832161a, 0x8cf30bad, 0x81b02d74, 0x857130c3,
    0x5d8a9099, 0x594b8d2e, 0x5408abf7, 0x50c9b640, 0x4e8ee645, 0x4a4ffbf2,
    0x470cdd2b, 0x43cdc09c, 0x7b827d21, 0x7f436096, 0x7200464f, 0x76c15bf8,
    0x68860bfd, 0x6c47164a, 0x61043093, 0x65c52d24, 0x119b4be9, 0x155a565e,
    0x18197087, 0x1cd86d30, 0x029f3d35, 0x065e2082, 0x0b1d065b, 0x0fdc1bec,
    0x3793a651, 0x3352bbe6, 0x3e119d3f, 0x3ad08088, 0x2497d08d, 0x2056cd3a,
    0x2d15ebe3, 0x29d4f654, 0xc5a92679, 0xc1683bce, 0xcc2b1d17, 0xc8ea00a0,
    0xd6ad50a5, 0xd26c4d12, 0xdf2f6bcb, 0xdbee767c, 0xe3a1cbc1, 0xe760d676,
    0xea23f0af, 0xeee2ed18, 0xf0a5bd1d, 0xf464a0aa, 0xf9278673, 0xfde69bc4,
    0x89b8fd09, 0x8d79e0be, 0x803ac667, 0x84fbdbd0, 0x9abc8bd5, 0x9e7d9662,
    0x933eb0bb, 0x97ffad0c, 0xafb010b1, 0xab710d06, 0xa6322bdf, 0xa2f33668,
    0xbcb4666d, 0xb8757bda, 0xb5365d03, 0xb1f740b4,
};

uint32_t
mv_stp_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc = crc << 8 ^ mv_stp_crc_table[(crc >> 24 ^ p[i]) & 0xff];
    }
    return crc;
}

int
mv_stp_parse(const uint8_t *d, size_t n, mv_stp_section_t *s)
{
    size_t off = MV_STP_HEADER, end = n;

    memset(s, 0, sizeof(*s));
    if (n < MV_STP_HEADER) return -1;
    s->version = d[0] >> 6;
    if (s->version != 0) return -1;
    s->encryption = (d[0] >> 1) & 0x03;
    s->crc_flag = d[0] & 0x01;
    s->total_size = (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    s->payload_id = d[4];
    s->segment_id = mv_be16(d + 5);
    s->segment_version = d[7];
    s->section = (uint16_t)(mv_be16(d + 8) >> 4);
    s->last_section = (uint16_t)((d[9] & 0x0f) << 8 | d[10]);
    s->compression = d[11] >> 5;
    s->has_provider_id = (d[11] >> 4) & 0x01;
    if (s->section > s->last_section) return -1;
    if (s->has_provider_id) {
        if (n - off < 4) return -1;
        s->provider_id = mv_be32(d + off);
        off += 4;
    }
    /* private header: a count of 32-bit words, after the provider id */
    if (n - off < 4 * (size_t)(d[11] & 0x0f)) return -1;
    off += 4 * (size_t)(d[11] & 0x0f);
    if (s->crc_flag) {
        if (n - off < 4) return -1;
        end = n - 4;
        s->crc = mv_be32(d + end);
    }
    s->payload = d + off;
    s->payload_len = end - off;
    return 0;
}

/* ---- assembler -------------------------------------------------------- */

typedef struct mv_stp_slot_s {
    uint32_t off, len; /* into buf->data, in arrival order */
} mv_stp_slot_t;

typedef struct mv_stp_buf_s {
    struct mv_stp_buf_s *prev, *next; /* least recently fed first */
    uint8_t payload_id;
    uint16_t segment_id;
    uint8_t version;
    uint32_t total_size;
    uint16_t last_section;
    unsigned have;         /* sections stored */
    uint32_t crc;          /* carried by the last section */
    mv_stp_slot_t *slot;   /* last_section + 1 entries */
    uint8_t *data;
    size_t len, cap;
    size_t cost;           /* bytes charged against max_bytes */
} mv_stp_buf_t;

struct mv_stp_asm_s {
    size_t max_bytes, used, open;
    mv_stp_segment_pt cb;
    void *arg;
    mv_stp_buf_t *head, *tail;
    mv_stp_stats_t st;
};

mv_stp_asm_t *
mv_stp_asm_new(size_t max_bytes, mv_stp_segment_pt cb, void *arg)
{
    mv_stp_asm_t *a = calloc(1, sizeof(*a));
    if (a == NULL) return NULL;
    a->max_bytes = max_bytes;
    a->cb = cb;
    a->arg = arg;
    return a;
}

static void
mv_stp_unlink(mv_stp_asm_t *a, mv_stp_buf_t *b)
{
    if (b->prev) b->prev->next = b->next;
    else a->head = b->next;
    if (b->next) b->next->prev = b->prev;
    else a->tail = b->prev;
    b->prev = b->next = NULL;
    a->used -= b->cost;
    a->open--;
}

static void
mv_stp_append(mv_stp_asm_t *a, mv_stp_buf_t *b)
{
    b->prev = a->tail;
    b->next = NULL;
    if (a->tail) a->tail->next = b;
    else a->head = b;
    a->tail = b;
    a->used += b->cost;
    a->open++;
}

/* Mark b as just fed: it moves to the young end of the eviction order. */
static void
mv_stp_touch(mv_stp_asm_t *a, mv_stp_buf_t *b)
{
    if (a->tail == b) return;
    mv_stp_unlink(a, b);
    mv_stp_append(a, b);
}

static void
mv_stp_buf_free(mv_stp_buf_t *b)
{
    free(b->slot);
    free(b->data);
    free(b);
}

static void
mv_stp_drop(mv_stp_asm_t *a, mv_stp_buf_t *b)
{
    mv_stp_unlink(a, b);
    mv_stp_buf_free(b);
}

void
mv_stp_asm_free(mv_stp_asm_t *a)
{
    if (a == NULL) return;
    while (a->head) mv_stp_drop(a, a->head);
    free(a);
}

const mv_stp_stats_t *
mv_stp_asm_stats(const mv_stp_asm_t *a)
{
    return &a->st;
}

/* Evict the least recently fed buffers, keep excepted, until need more
 * bytes fit. Returns 0 when they do, -1 when nothing is left to evict. */
static int
mv_stp_make_room(mv_stp_asm_t *a, size_t need, const mv_stp_buf_t *keep)
{
    mv_stp_buf_t *b = a->head, *next;
    while (need > a->max_bytes - a->used) {
        while (b && b == keep) b = b->next;
        if (b == NULL) return -1;
        next = b->next;
        mv_stp_drop(a, b);
        a->st.evicted++;
        b = next;
    }
    return 0;
}

static size_t
mv_stp_base_cost(unsigned last_section)
{
    return sizeof(mv_stp_buf_t) + ((size_t)last_section + 1) * sizeof(mv_stp_slot_t);
}

static mv_stp_buf_t *
mv_stp_find(mv_stp_asm_t *a, uint8_t payload_id, uint16_t segment_id)
{
    for (mv_stp_buf_t *b = a->tail; b; b = b->prev) {
        if (b->payload_id == payload_id && b->segment_id == segment_id) return b;
    }
    return NULL;
}

/* A new, empty buffer for the segment of s, charged and linked; NULL when
 * it can never fit (counted) or on allocation failure. */
static mv_stp_buf_t *
mv_stp_open(mv_stp_asm_t *a, const mv_stp_section_t *s)
{
    size_t base = mv_stp_base_cost(s->last_section);
    mv_stp_buf_t *b;

    if (base > a->max_bytes || s->total_size > a->max_bytes - base) {
        a->st.evicted++; /* larger than the whole budget: never assembled */
        return NULL;
    }
    if (a->open >= MV_STP_MAX_OPEN) {
        mv_stp_drop(a, a->head);
        a->st.evicted++;
    }
    if (mv_stp_make_room(a, base, NULL) != 0) return NULL;
    b = calloc(1, sizeof(*b));
    if (b == NULL) return NULL;
    b->slot = malloc(((size_t)s->last_section + 1) * sizeof(*b->slot));
    if (b->slot == NULL) {
        free(b);
        return NULL;
    }
    for (size_t i = 0; i <= s->last_section; i++) b->slot[i].off = MV_STP_NO_SECTION;
    b->payload_id = s->payload_id;
    b->segment_id = s->segment_id;
    b->version = s->segment_version;
    b->total_size = s->total_size;
    b->last_section = s->last_section;
    b->cost = base;
    mv_stp_append(a, b);
    return b;
}

/* Room for n more payload bytes in b (n <= total_size - len, checked by
 * the caller); the growth is charged, evicting older buffers. */
static int
mv_stp_reserve(mv_stp_asm_t *a, mv_stp_buf_t *b, size_t n)
{
    size_t need = b->len + n, cap;
    uint8_t *p;

    if (need <= b->cap) return 0;
    cap = b->cap ? b->cap * 2 : 4096;
    if (cap < need) cap = need;
    if (cap > b->total_size) cap = b->total_size;
    if (mv_stp_make_room(a, cap - b->cap, b) != 0) return -1;
    p = realloc(b->data, cap);
    if (p == NULL) return -1;
    a->used += cap - b->cap;
    b->cost += cap - b->cap;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Every section is in: check the CRC over the payloads in section order
 * and hand the segment out. b is already unlinked; it is freed here. */
static int
mv_stp_complete(mv_stp_asm_t *a, mv_stp_buf_t *b)
{
    static const uint8_t empty[1];
    const uint8_t *out = b->data ? b->data : empty;
    uint8_t *joined = NULL;
    size_t pos = 0;
    int in_order = 1;

    for (size_t i = 0; i <= b->last_section; i++) {
        if (b->slot[i].off != pos) in_order = 0;
        pos += b->slot[i].len;
    }
    if (!in_order) {
        /* arrived shuffled: lay the payloads out in section order */
        joined = malloc(b->len ? b->len : 1);
        if (joined == NULL) {
            mv_stp_buf_free(b);
            return -1;
        }
        pos = 0;
        for (size_t i = 0; i <= b->last_section; i++) {
            memcpy(joined + pos, b->data + b->slot[i].off, b->slot[i].len);
            pos += b->slot[i].len;
        }
        out = joined;
    }
    if (mv_stp_crc32(0xffffffff, out, b->len) != b->crc) {
        a->st.crc_errors++;
        free(joined);
        mv_stp_buf_free(b);
        return -1;
    }
    a->st.segments++;
    if (a->cb) a->cb(a->arg, b->payload_id, b->segment_id, b->version, out, b->len);
    free(joined);
    mv_stp_buf_free(b);
    return 1;
}

int
mv_stp_asm_feed(mv_stp_asm_t *a, const uint8_t *d, size_t n)
{
    mv_stp_section_t s;
    mv_stp_buf_t *b;
    mv_stp_slot_t *sl;

    if (mv_stp_parse(d, n, &s) != 0) {
        a->st.bad++;
        return -1;
    }
    a->st.sections++;
    /* Handing out only checked segments needs the CRC, which comes with
     * the last section; encrypted or compressed payloads would reach the
     * caller unusable, and a section cannot hold more than its segment. */
    if (s.crc_flag != (s.section == s.last_section) || s.encryption != 0 || s.compression != 0
        || s.payload_len > s.total_size) {
        a->st.bad++;
        return -1;
    }
    b = mv_stp_find(a, s.payload_id, s.segment_id);
    if (b && b->version != s.segment_version) {
        mv_stp_drop(a, b);
        a->st.restarts++;
        b = NULL;
    }
    if (b && (b->total_size != s.total_size || b->last_section != s.last_section)) {
        a->st.bad++;
        return -1;
    }
    if (b == NULL && (b = mv_stp_open(a, &s)) == NULL) return -1;
    mv_stp_touch(a, b);
    sl = &b->slot[s.section];
    if (sl->off != MV_STP_NO_SECTION) return 0; /* duplicate */
    if (s.payload_len > b->total_size - b->len) {
        a->st.bad++;
        return -1;
    }
    if (mv_stp_reserve(a, b, s.payload_len) != 0) {
        mv_stp_drop(a, b);
        a->st.evicted++;
        return -1;
    }
    if (s.payload_len) memcpy(b->data + b->len, s.payload, s.payload_len);
    sl->off = (uint32_t)b->len;
    sl->len = (uint32_t)s.payload_len;
    b->len += s.payload_len;
    if (s.crc_flag) b->crc = s.crc;
    if (++b->have <= b->last_section) return 0;
    mv_stp_unlink(a, b);
    return mv_stp_complete(a, b);
}
