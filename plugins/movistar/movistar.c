/*
 * plugins/movistar: Movistar Spain IPTV.
 *
 * Part 1 (this file): find the IPTV network, bootstrap over the appserver
 * JSON API, discover the channels over DVB-STP (entry point 1_0 -> the
 * region's provider group 2_0/5_0/6_0), sample each channel for TS
 * scrambling, publish the unencrypted ones, ingest the 8-day binary EPG
 * from the day groups, refresh every hour, and serve live channels through
 * the core's live relay. Part 2: catchup over RTSP (the programme at T from
 * the catalog, getCatchUpUrl, the core's RTSP client, continuous playback)
 * and cloud recordings (recordingList + getRecordingData with each EPG
 * update, published as the catalog's cloud set, played the same way).
 *
 * Everything runs on the event loop: fetches through host->fetch, datagrams
 * through host->dgram_open, state in a handful of timers. The pure parsers
 * (mv_dvbstp.c, mv_sds.c, mv_epg.c) are unit-tested and fuzzed alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mv_cloud.h"
#include "mv_dvbstp.h"
#include "mv_epg.h"
#include "mv_sds.h"
#include "sg/plugin.h"

#include <sqlite3.h>

#define MV_UA "libcurl-agent/1.0 [IAL] WidgetManager Safari/538.1 CAP:803fd12a 1"
#define MV_MAX_DAYS 8
#define MV_EPG_PARALLEL 4      /* day groups joined at once (more stalls real networks) */
#define MV_PROBE_PARALLEL 4    /* channels sampled at once for scrambling        */
#define MV_PROBE_MS 3000       /* a channel silent this long is "no data"        */
#define MV_PROBE_PACKETS 200
#define MV_PROBE_WAIT_S 5      /* re-ask for admission room this often         */
#define MV_PROBE_WAIT_MAX_S 60 /* then go on without the unchecked channels    */   /* TS packets looked at per channel               */
#define MV_STP_BYTES (32u << 20)
#define MV_RETRY_S 60
#define MV_INFO_PARALLEL 4       /* epgInfov2 requests at once                 */
#define MV_INFO_AHEAD (26 * 3600) /* extended info for what airs this far ahead */
#define MV_INFO_MAX 6000
#define MV_IMAGE_AGE (7 * 86400) /* logos and covers kept this long */
#define MV_CLOUD_MAX 999         /* recordingList numItems, as the STBs ask */

typedef struct mv_chan_s {
    char *id;          /* ServiceName                               */
    char *name;
    char *logo;        /* absolute URL or NULL                      */
    char *genre;
    char *epg_id;      /* replacement service id, else id           */
    char group[48];
    int port;
    int lcn;
    int enc;           /* -1 unknown, 0 clear, 1 scrambled, 2 no data */
    int prev_enc;      /* the last round's 0/1 verdict, -1 none      */
} mv_chan_t;

typedef struct mv_state_s mv_state_t;
typedef struct mv_info_slot_s mv_info_slot_t;

typedef struct mv_probe_s {
    mv_state_t *st;
    mv_chan_t *ch;
    sg_dgram_t *dg;
    sg_timer_t *timer;
    int packets, scrambled;
} mv_probe_t;

typedef struct mv_day_s {
    mv_state_t *st;
    int day, active, done, complete;
    sg_dgram_t *dg;
    mv_stp_asm_t *as;
    sg_timer_t *timer;
    sg_txn_t *txn;
    size_t nseg;        /* segments listed in 6_0            */
    uint16_t *seg;
    uint8_t *got;       /* per listed segment: received      */
    size_t ngot;
    uint32_t first_key; /* cycle detection without a list    */
    int cycle;
    size_t programmes;
    int truncated;
    char addr[64];
} mv_day_t;

struct mv_state_s {
    sg_plugin_t *p;
    const sg_host_t *h;

    /* configuration */
    char iptv_conf[64];  /* iptv_address as configured          */
    char iptv_addr[64];  /* in use: configured or found via dns  */
    char dns[64];
    int nappserver;
    const char *appserver[8];
    int demarcation_conf;
    char entry_conf[64];
    int epg_days;
    int64_t refresh_s;
    int want_logos;
    int gap_ms;
    int continuous;
    int want_cloud;

    /* bootstrap results */
    int ep;             /* appserver in use */
    int demarcation;
    char *packages;
    char entry[64];
    char *res_base;     /* getPlatformProfile's RES_BASE_URI */
    sg_fetch_t *fetch;
    int boot_step;
    int boot_backoff;   /* seconds; 0 after a good bootstrap */

    /* discovery */
    int phase;          /* 0 idle, 1 entry, 2 provider group, 3 probing, 4 epg */
    sg_dgram_t *dg;
    mv_stp_asm_t *as;
    sg_timer_t *deadline, *retry, *refresh;
    char sp_group[80];
    char *xml[3];       /* 2_0, 5_0, 6_0 */
    size_t xml_len[3];
    uint8_t xml_ver[3];
    int have[3];
    mv_epg_days_t days;
    uint64_t t0_ms;

    /* channels */
    mv_chan_t *chans;
    size_t nchans;
    mv_probe_t probes[MV_PROBE_PARALLEL];
    size_t probe_next;
    size_t published;
    size_t probed;      /* channels sampled this round   */
    int64_t probe_waiting; /* since when waiting for admission room, 0 = not */
    int64_t last_probe; /* when every channel was sampled */

    /* EPG */
    mv_day_t day[MV_MAX_DAYS];
    int days_next, days_done;
    size_t programmes;
    int64_t last_epg;

    /* extended info */
    sqlite3 *db;
    sqlite3_stmt *q_get, *q_put;
    struct mv_prog_s *want;     /* programmes of the next hours without info */
    size_t nwant, want_cap, want_next, info_done, put;
    struct mv_info_slot_s {
        mv_state_t *st;
        sg_fetch_t *fetch;
        size_t index;
        int busy;
    } info[4];
    sg_txn_t *info_txn;
    int info_batch;
    int info_pruned;    /* this round */

    /* cloud recordings: this round's list, and what getRecordingData said
     * about each (kept across rounds: only new recordings are asked for) */
    sg_fetch_t *cloud_fetch;
    mv_cloud_item_t *cloud_list;
    int cloud_n, cloud_next, cloud_failed;
    struct mv_cloud_known_s {
        mv_cloud_item_t it;
        mv_cloud_rec_t rec;
    } *cloud;
    int ncloud, cloud_cap;
    int cloud_published;

    /* metrics */
    sg_metric_t *m_info, *m_cloud, *m_cloud_fetch;
    sg_metric_t *m_catchup;
    sg_metric_t *m_channels, *m_programmes, *m_sections, *m_runs, *m_probe;
    char state[160];
};

static void mv_boot(mv_state_t *st);
static void mv_discover_entry(mv_state_t *st);
static void mv_epg_next(mv_state_t *st);
static void mv_info_cancel(mv_state_t *st);
static void mv_info_next(mv_state_t *st);
static void mv_cloud_refresh(mv_state_t *st);

/* ---- small helpers ------------------------------------------------------------------------- */

static uint64_t
mv_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
mv_state(mv_state_t *st, const char *fmt, ...) SG_PRINTF(2, 3);

static void
mv_state(mv_state_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->state, sizeof(st->state), fmt, ap);
    va_end(ap);
    st->h->set_state(st->p, st->state);
}

static char *
mv_strdup(mv_state_t *st, const char *s)
{
    return s ? st->h->strdup(st->p, s) : NULL;
}

/* HTML entities in appserver strings resolved (a new string). */
static char *
mv_unescape(mv_state_t *st, const char *s)
{
    size_t n = strlen(s);
    char *out = st->h->alloc(st->p, 3 * n + 1);
    if (out) mv_html_decode(s, n, out, 3 * n + 1);
    return out;
}

static void
mv_retry(mv_state_t *st, void (*fn)(void *), int seconds)
{
    if (st->retry) st->h->timer_stop(st->retry);
    st->retry = st->h->timer_start(st->p, (uint64_t)seconds * 1000, 0, fn, st);
}

static void
mv_source_url(mv_state_t *st, const char *hostport, char *out, size_t n)
{
    if (st->iptv_addr[0]) {
        snprintf(out, n, "udp://%s?iface=%s", hostport, st->iptv_addr);
    } else {
        snprintf(out, n, "udp://%s", hostport);
    }
}

/* ---- channel map cache (kv) ------------------------------------------------------------------ */

static void
mv_chans_free(mv_state_t *st)
{
    for (size_t i = 0; i < st->nchans; i++) {
        mv_chan_t *c = &st->chans[i];
        st->h->free(c->id);
        st->h->free(c->name);
        st->h->free(c->logo);
        st->h->free(c->genre);
        st->h->free(c->epg_id);
    }
    st->h->free(st->chans);
    st->chans = NULL;
    st->nchans = 0;
}

static mv_chan_t *
mv_chan(mv_state_t *st, const char *id)
{
    for (size_t i = 0; i < st->nchans; i++) {
        if (strcmp(st->chans[i].id, id) == 0) return &st->chans[i];
    }
    return NULL;
}

/* "id\tgroup:port\n" per published channel: enough to serve live after a
 * restart while the IPTV network (or its discovery) is down. */
static void
mv_chanmap_save(mv_state_t *st)
{
    size_t cap = 1, len = 0;
    char *buf;
    for (size_t i = 0; i < st->nchans; i++) {
        cap += strlen(st->chans[i].id) + strlen(st->chans[i].group) + 16;
    }
    buf = st->h->alloc(st->p, cap);
    if (buf == NULL) return;
    for (size_t i = 0; i < st->nchans; i++) {
        const mv_chan_t *c = &st->chans[i];
        if (c->enc != 0 || c->port == 0) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s\t%s:%d\n", c->id, c->group, c->port);
    }
    st->h->kv_set(st->p, "chanmap", buf, len);
    st->h->free(buf);
}

static void
mv_chanmap_load(mv_state_t *st)
{
    void *val;
    size_t len;
    char *line, *save = NULL;
    size_t n = 0;

    if (st->h->kv_get(st->p, "chanmap", &val, &len) != SG_OK) return;
    for (size_t i = 0; i < len; i++) n += ((char *)val)[i] == '\n';
    st->chans = st->h->alloc(st->p, (n + 1) * sizeof(mv_chan_t));
    if (st->chans == NULL) {
        st->h->free(val);
        return;
    }
    for (line = strtok_r(val, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t'), *colon;
        mv_chan_t *c = &st->chans[st->nchans];
        if (tab == NULL || (colon = strrchr(tab, ':')) == NULL) continue;
        *tab = *colon = '\0';
        c->id = mv_strdup(st, line);
        snprintf(c->group, sizeof(c->group), "%s", tab + 1);
        c->port = atoi(colon + 1);
        c->enc = 0;
        st->nchans++;
    }
    st->h->free(val);
    if (st->nchans) {
        st->h->log(st->p, SG_LOG_INFO, "serving %zu cached channels until discovery completes",
                   st->nchans);
    }
}

/* ---- IPTV network --------------------------------------------------------------------------- */

/* The local address that routes to the IPTV DNS server (no packet is sent):
 * the interface multicast is joined on. 0, or -1 with why. */
static int
mv_find_iptv(mv_state_t *st, const char **why)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)}, me;
    socklen_t len = sizeof(me);
    char ip[64];
    int fd;

    snprintf(ip, sizeof(ip), "%s", st->dns);
    ip[strcspn(ip, ":")] = '\0'; /* "ip:port" */
    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) {
        *why = "dns is not an IPv4 address";
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 ||
        getsockname(fd, (struct sockaddr *)&me, &len) != 0) {
        *why = errno == ENETUNREACH ? "no route" : strerror(errno);
        close(fd);
        return -1;
    }
    close(fd);
    inet_ntop(AF_INET, &me.sin_addr, st->iptv_addr, sizeof(st->iptv_addr));
    return 0;
}

static void
mv_start_cb(void *arg)
{
    mv_state_t *st = arg;
    const char *why = NULL;

    st->retry = NULL;
    if (st->iptv_conf[0]) {
        snprintf(st->iptv_addr, sizeof(st->iptv_addr), "%s", st->iptv_conf);
    } else if (st->dns[0] && mv_find_iptv(st, &why) != 0) {
        st->h->log(st->p, SG_LOG_WARN,
                   "Movistar IPTV network not reachable: %s to %.*s; retrying in %d s", why,
                   (int)strcspn(st->dns, ":"), st->dns, MV_RETRY_S);
        mv_state(st, "IPTV network not reachable (%s to %s)", why, st->dns);
        mv_retry(st, mv_start_cb, MV_RETRY_S);
        return;
    }
    st->boot_step = 0;
    st->ep = 0;
    mv_boot(st);
}

/* ---- appserver bootstrap ---------------------------------------------------------------------- */

static const char *const mv_boot_actions[] = {
    "getClientProfile",
    "getPlatformProfile",
    "getConfigurationParams",
};

static json_t *
mv_json_path(json_t *o, const char *a, const char *b)
{
    o = json_object_get(o, a);
    return b ? json_object_get(o, b) : o;
}

/* The base-URI key's spelling varies (RES_BASE_URI, res_BASE_URI...). */
static const char *
mv_base_uri(json_t *rd)
{
    const char *k;
    json_t *v;
    json_object_foreach(rd, k, v) {
        if (json_is_string(v) && strcasecmp(k, "res_base_uri") == 0) return json_string_value(v);
    }
    return NULL;
}

static void mv_boot_done(const sg_fetch_resp_t *r, void *arg);

static void
mv_boot_next_cb(void *arg)
{
    mv_state_t *st = arg;
    st->retry = NULL;
    mv_boot(st);
}

static void
mv_boot(mv_state_t *st)
{
    char url[512];
    const char *hdr[] = {"Accept: application/json", NULL};

    if (st->ep >= st->nappserver) {
        /* Back off 2, 4, 8 ... 60 s: a flapping appserver is back soon,
         * a dead one is not hammered. */
        st->boot_backoff = st->boot_backoff ? st->boot_backoff * 2 : 2;
        if (st->boot_backoff > MV_RETRY_S) st->boot_backoff = MV_RETRY_S;
        st->h->log(st->p, SG_LOG_WARN,
                   "Movistar appserver unreachable (tried %d endpoints); retrying in %d s",
                   st->nappserver, st->boot_backoff);
        mv_state(st, "appserver unreachable");
        st->ep = 0;
        mv_retry(st, mv_start_cb, st->boot_backoff);
        return;
    }
    snprintf(url, sizeof(url), "%s/appserver/mvtv.do?action=%s", st->appserver[st->ep],
             mv_boot_actions[st->boot_step]);
    mv_state(st, "bootstrap: %s", mv_boot_actions[st->boot_step]);
    st->fetch = st->h->fetch(st->p,
                             &(sg_fetch_req_t){.url = url, .headers = hdr, .timeout_ms = 15000,
                                               .max_bytes = 4u << 20, .cookies = 1,
                                               .user_agent = MV_UA},
                             mv_boot_done, st);
    if (st->fetch == NULL) {
        st->ep++;
        st->boot_step = 0;
        mv_retry(st, mv_boot_next_cb, 1);
    }
}

static void
mv_boot_done(const sg_fetch_resp_t *r, void *arg)
{
    mv_state_t *st = arg;
    json_error_t jerr;
    json_t *root = NULL, *rd;
    const char *action = mv_boot_actions[st->boot_step];

    st->fetch = NULL;
    if (r->status != 200) {
        st->h->log(st->p, SG_LOG_WARN, "appserver %s %s: %s", st->appserver[st->ep], action,
                   r->error ? r->error : "HTTP error");
        if (r->status) st->h->log(st->p, SG_LOG_DEBUG, "status %d", r->status);
        goto next_endpoint;
    }
    root = json_loadb(r->body, r->len, 0, &jerr);
    rd = json_object_get(root, "resultData");
    if (!json_is_object(rd)) {
        st->h->log(st->p, SG_LOG_WARN, "appserver %s %s: no resultData (%s)",
                   st->appserver[st->ep], action, root ? "bad shape" : jerr.text);
        goto next_endpoint;
    }
    if (st->boot_step == 0) {
        json_t *dem = json_object_get(rd, "demarcation");
        const char *pk = json_string_value(json_object_get(rd, "tvPackages"));
        st->demarcation = st->demarcation_conf ? st->demarcation_conf : (int)json_integer_value(dem);
        st->h->free(st->packages);
        st->packages = mv_unescape(st, pk && pk[0] ? pk : "ALL");
        if (st->demarcation <= 0) {
            st->h->log(st->p, SG_LOG_WARN, "getClientProfile: no demarcation; set demarcation");
            goto next_endpoint;
        }
    } else if (st->boot_step == 1) {
        const char *ep = json_string_value(mv_json_path(rd, "dvbConfig", "dvbipiEntryPoint"));
        const char *base = mv_base_uri(rd);
        if (st->entry_conf[0]) {
            snprintf(st->entry, sizeof(st->entry), "%s", st->entry_conf);
        } else {
            snprintf(st->entry, sizeof(st->entry), "%s", ep && ep[0] ? ep : "239.0.2.129:3937");
        }
        st->h->free(st->res_base);
        st->res_base = base ? mv_strdup(st, base) : NULL;
    } else if (st->res_base) {
        /* Images: channel logos and portrait covers, through our proxy. */
        const char *lp = json_string_value(json_object_get(rd, "tvChannelLogoPath"));
        const char *cp = json_string_value(json_object_get(rd, "tvCoversPath"));
        const char *pp = json_string_value(json_object_get(rd, "portraitSubPath"));
        char url[1024];
        snprintf(url, sizeof(url), "%s%s", st->res_base, lp ? lp : "incoming/epg/channelLogo/");
        if (st->want_logos) st->h->proxy_route(st->p, "/Logos", url, MV_IMAGE_AGE);
        snprintf(url, sizeof(url), "%s%s%s290x429/", st->res_base,
                 cp ? cp : "incoming/covers/programmeImages/", pp ? pp : "portrait/");
        st->h->proxy_route(st->p, "/Covers", url, MV_IMAGE_AGE);
    }
    json_decref(root);
    if (++st->boot_step < (int)(sizeof(mv_boot_actions) / sizeof(mv_boot_actions[0]))) {
        mv_boot(st);
        return;
    }
    st->boot_backoff = 0;
    st->h->log(st->p, SG_LOG_INFO, "appserver %s: demarcation %d, packages %s, entry point %s",
               st->appserver[st->ep], st->demarcation, st->packages, st->entry);
    mv_discover_entry(st);
    return;

next_endpoint:
    json_decref(root);
    st->ep++;
    st->boot_step = 0;
    mv_retry(st, mv_boot_next_cb, 0);
}

/* ---- DVB-STP discovery ------------------------------------------------------------------------ */

static void
mv_disc_close(mv_state_t *st)
{
    if (st->dg) st->h->dgram_close(st->dg);
    st->dg = NULL;
    if (st->as) mv_stp_asm_free(st->as);
    st->as = NULL;
    if (st->deadline) st->h->timer_stop(st->deadline);
    st->deadline = NULL;
}

static void
mv_disc_timeout(void *arg)
{
    mv_state_t *st = arg;
    st->deadline = NULL;
    st->h->log(st->p, SG_LOG_WARN, "no complete %s on %s within 60 s; retrying in %d s",
               st->phase == 1 ? "service provider discovery (1_0)" : "2_0/5_0/6_0",
               st->phase == 1 ? st->entry : st->sp_group, MV_RETRY_S);
    mv_state(st, "discovery timed out");
    mv_disc_close(st);
    st->phase = 0;
    mv_retry(st, mv_start_cb, MV_RETRY_S);
}

static void
mv_disc_rx(void *arg, const uint8_t *d, size_t n)
{
    mv_state_t *st = arg;
    mv_stp_asm_feed(st->as, d, n);
}

static int
mv_disc_listen(mv_state_t *st, const char *hostport, mv_stp_segment_pt cb)
{
    char url[160];
    const char *why = NULL;

    mv_disc_close(st);
    mv_source_url(st, hostport, url, sizeof(url));
    st->as = mv_stp_asm_new(MV_STP_BYTES, cb, st);
    st->dg = st->as ? st->h->dgram_open(st->p, url, mv_disc_rx, st, &why) : NULL;
    if (st->dg == NULL) {
        st->h->log(st->p, SG_LOG_WARN, "cannot listen on %s: %s; retrying in %d s", url,
                   why ? why : "out of memory", MV_RETRY_S);
        mv_disc_close(st);
        mv_retry(st, mv_start_cb, MV_RETRY_S);
        return -1;
    }
    st->deadline = st->h->timer_start(st->p, 60000, 0, mv_disc_timeout, st);
    return 0;
}

static void mv_sp_segment(void *arg, uint8_t pid, uint16_t seg, uint8_t ver, const uint8_t *data,
                          size_t len);
static void mv_channels_build(mv_state_t *st);

/* Segment callbacks run inside mv_stp_asm_feed(): what closes the
 * assembler runs on the next loop turn instead. */
static void
mv_sp_listen_cb(void *arg)
{
    mv_state_t *st = arg;
    st->retry = NULL;
    mv_disc_listen(st, st->sp_group, mv_sp_segment);
}

static void
mv_channels_build_cb(void *arg)
{
    mv_state_t *st = arg;
    st->retry = NULL;
    mv_channels_build(st);
}

static void
mv_entry_segment(void *arg, uint8_t pid, uint16_t seg, uint8_t ver, const uint8_t *data, size_t len)
{
    mv_state_t *st = arg;
    char addr[64], err[256];
    int port;

    (void)seg;
    (void)ver;
    if (pid != 0x01 || st->phase != 1) return;
    if (mv_sds_provider((const char *)data, len, st->demarcation, addr, sizeof(addr), &port, err,
                        sizeof(err)) != 0) {
        st->h->log(st->p, SG_LOG_WARN, "entry point %s: %s", st->entry, err);
        return; /* the next cycle may be better; the deadline bounds it */
    }
    snprintf(st->sp_group, sizeof(st->sp_group), "%s:%d", addr, port);
    st->h->log(st->p, SG_LOG_INFO, "demarcation %d: service provider group %s", st->demarcation,
               st->sp_group);
    st->phase = 2;
    memset(st->have, 0, sizeof(st->have));
    mv_state(st, "discovery: reading %s", st->sp_group);
    mv_retry(st, mv_sp_listen_cb, 0);
}

static void
mv_discover_entry(mv_state_t *st)
{
    st->t0_ms = mv_ms();
    st->phase = 1;
    mv_state(st, "discovery: reading entry point %s", st->entry);
    mv_disc_listen(st, st->entry, mv_entry_segment);
}

static void
mv_sp_segment(void *arg, uint8_t pid, uint16_t seg, uint8_t ver, const uint8_t *data, size_t len)
{
    mv_state_t *st = arg;
    int k = pid == 0x02 ? 0 : pid == 0x05 ? 1 : pid == 0x06 ? 2 : -1;

    (void)seg;
    if (k < 0 || st->phase != 2) return;
    if (st->have[k] && st->xml_ver[k] == ver) return;
    st->h->free(st->xml[k]);
    st->xml[k] = st->h->alloc(st->p, len + 1);
    if (st->xml[k] == NULL) return;
    memcpy(st->xml[k], data, len);
    st->xml_len[k] = len;
    st->xml_ver[k] = ver;
    st->have[k] = 1;
    if (st->have[0] && st->have[1] && st->have[2]) {
        st->phase = 3;
        mv_retry(st, mv_channels_build_cb, 0);
    }
}

/* ---- channels ----------------------------------------------------------------------------- */

static void mv_probe_next(mv_state_t *st);
static void mv_publish(mv_state_t *st);

static void
mv_trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '.' || s[n - 1] == '*')) s[--n] = '\0';
}

static void
mv_channels_build(mv_state_t *st)
{
    const sg_conf_t *c = st->h->conf(st->p);
    mv_services_t svc = {0};
    char err[256];
    int matched = 0, nwant = st->h->conf_count(c, "channels");
    size_t n = 0;

    mv_disc_close(st);
    if (mv_sds_services(st->xml[0], st->xml_len[0], &svc, err, sizeof(err)) != 0 ||
        mv_sds_packages(st->xml[1], st->xml_len[1], st->packages, &svc, &matched, err,
                        sizeof(err)) != 0) {
        st->h->log(st->p, SG_LOG_WARN, "discovery: %s; retrying in %d s", err, MV_RETRY_S);
        mv_sds_services_free(&svc);
        st->phase = 0;
        mv_retry(st, mv_start_cb, MV_RETRY_S);
        return;
    }
    mv_sds_epg_days_free(&st->days);
    if (mv_sds_epg_days(st->xml[2], st->xml_len[2], &st->days, err, sizeof(err)) != 0) {
        st->h->log(st->p, SG_LOG_WARN, "discovery: %s (no EPG this round)", err);
    }
    if (matched == 0 && strcmp(st->packages, "ALL") != 0) {
        st->h->log(st->p, SG_LOG_WARN, "none of the packages %s is in 5_0", st->packages);
    }

    /* The new channel table: subscribed services with a stream address
     * (or listed in channels/extra_channels). */
    mv_chan_t *old = st->chans;
    size_t nold = st->nchans;
    st->chans = st->h->alloc(st->p, (svc.n + 1) * sizeof(mv_chan_t));
    st->nchans = 0;
    if (st->chans == NULL) {
        st->chans = old;
        st->nchans = nold;
        mv_sds_services_free(&svc);
        st->phase = 0;
        mv_retry(st, mv_start_cb, MV_RETRY_S);
        return;
    }
    for (size_t i = 0; i < svc.n; i++) {
        mv_service_t *s = &svc.v[i];
        int listed = 0, extra = 0;
        for (int j = 0; j < nwant; j++) {
            listed |= strcmp(st->h->conf_list_string(c, "channels", j), s->id) == 0;
        }
        for (int j = 0; j < st->h->conf_count(c, "extra_channels"); j++) {
            extra |= strcmp(st->h->conf_list_string(c, "extra_channels", j), s->id) == 0;
        }
        if (s->addr[0] == '\0' || s->port == 0) continue;
        if (nwant ? !listed : (s->lcn < 0 && !extra)) continue;
        mv_chan_t *ch = &st->chans[n++];
        ch->id = mv_strdup(st, s->id);
        ch->name = mv_strdup(st, s->name && s->name[0] ? s->name : s->id);
        if (ch->name) mv_trim(ch->name);
        ch->genre = mv_strdup(st, s->genre);
        ch->epg_id = mv_strdup(st, s->replacement && mv_sds_service(&svc, s->replacement)
                                       ? s->replacement
                                       : s->id);
        snprintf(ch->group, sizeof(ch->group), "%s", s->addr);
        ch->port = s->port;
        ch->lcn = s->lcn < 0 ? 0 : s->lcn;
        ch->enc = nwant ? 0 : -1; /* an explicit list is trusted */
        if (s->logo_uri && s->logo_uri[0]) {
            /* served by our /Logos proxy (players need no route to the
             * provider's image hosts; each logo is fetched once) */
            size_t l = strlen(s->logo_uri) + 8;
            ch->logo = st->h->alloc(st->p, l);
            if (ch->logo) snprintf(ch->logo, l, "/Logos/%s", s->logo_uri);
        }
        /* Scrambling verdicts are re-checked once a day; a silent channel
         * is tried again every round. */
        ch->prev_enc = -1;
        for (size_t k = 0; k < nold; k++) {
            if (strcmp(old[k].id, ch->id) != 0) continue;
            if (old[k].enc == 0 || old[k].enc == 1) ch->prev_enc = old[k].enc;
            else if (old[k].prev_enc >= 0) ch->prev_enc = old[k].prev_enc;
            if (ch->enc < 0 && (old[k].enc == 0 || old[k].enc == 1) && st->last_probe &&
                time(NULL) - st->last_probe < 86400) {
                ch->enc = old[k].enc;
            }
        }
    }
    st->nchans = n;
    mv_sds_services_free(&svc);
    {
        /* free the old table */
        mv_chan_t *keep = st->chans;
        size_t nkeep = st->nchans;
        st->chans = old;
        st->nchans = nold;
        mv_chans_free(st);
        st->chans = keep;
        st->nchans = nkeep;
    }
    st->h->log(st->p, SG_LOG_INFO, "discovery: %zu channels in the subscribed packages, %zu EPG days",
               st->nchans, st->days.n);
    st->phase = 3;
    st->probe_next = 0;
    st->probed = 0;
    st->probe_waiting = 0;
    mv_state(st, "checking %zu channels for encryption", st->nchans);
    for (int i = 0; i < MV_PROBE_PARALLEL; i++) mv_probe_next(st);
}

/* ---- scrambling probe ------------------------------------------------------------------------ */

static void
mv_probe_end(mv_probe_t *pr, int verdict)
{
    mv_state_t *st = pr->st;
    if (pr->dg) st->h->dgram_close(pr->dg);
    if (pr->timer) st->h->timer_stop(pr->timer);
    pr->ch->enc = verdict;
    st->h->metric_add(st->m_probe,
                      (const char *const[]){verdict == 1   ? "encrypted"
                                            : verdict == 0 ? "clear"
                                                           : "no_data",
                                            NULL},
                      1);
    if (verdict == 1) {
        st->h->log(st->p, SG_LOG_INFO, "channel %s (%s) is encrypted: not published", pr->ch->id,
                   pr->ch->name);
    } else if (verdict == 2) {
        st->h->log(st->p, SG_LOG_NOTICE, "channel %s (%s): no data within %d ms; not published",
                   pr->ch->id, pr->ch->name, MV_PROBE_MS);
    }
    memset(pr, 0, sizeof(*pr));
    mv_probe_next(st);
}

static void
mv_probe_rx(void *arg, const uint8_t *d, size_t n)
{
    mv_probe_t *pr = arg;
    size_t off = 0;

    if (pr->ch == NULL) return;
    if (n >= 12 && (d[0] >> 6) == 2 && d[0] != 0x47) {
        /* RTP: fixed header, CSRCs, extension */
        off = 12 + 4u * (d[0] & 0x0F);
        if ((d[0] & 0x10) && off + 4 <= n) off += 4 + 4u * (((size_t)d[off + 2] << 8) | d[off + 3]);
    }
    for (; off + 188 <= n; off += 188) {
        const uint8_t *t = d + off;
        unsigned pid = ((unsigned)(t[1] & 0x1F) << 8) | t[2];
        if (t[0] != 0x47 || pid == 0 || pid == 0x1FFF || !(t[3] & 0x10)) continue;
        pr->packets++;
        pr->scrambled += (t[3] >> 6) != 0;
    }
    if (pr->packets >= MV_PROBE_PACKETS) mv_probe_end(pr, pr->scrambled * 4 > pr->packets ? 1 : 0);
}

static void
mv_probe_timeout(void *arg)
{
    mv_probe_t *pr = arg;
    pr->timer = NULL;
    mv_probe_end(pr, pr->packets ? (pr->scrambled * 4 > pr->packets ? 1 : 0) : 2);
}

static void
mv_probe_wait_cb(void *arg)
{
    mv_state_t *st = arg;
    st->retry = NULL;
    for (int i = 0; i < MV_PROBE_PARALLEL; i++) mv_probe_next(st);
}

static void
mv_probe_next(mv_state_t *st)
{
    mv_probe_t *pr = NULL;
    int busy = 0;

    for (int i = 0; i < MV_PROBE_PARALLEL; i++) {
        if (st->probes[i].ch) busy++;
        else if (pr == NULL) pr = &st->probes[i];
    }
    while (pr && st->probe_next < st->nchans) {
        mv_chan_t *ch = &st->chans[st->probe_next++];
        char hp[64], url[160];
        const char *why = NULL;
        if (ch->enc >= 0) continue;
        /* the checks running now count against the room too */
        if (st->h->admission_room(st->p) <= busy) {
            /* Checks never take a viewer's room: a channel checked before
             * keeps its verdict, the others wait for room. */
            if (ch->prev_enc >= 0) {
                ch->enc = ch->prev_enc;
                continue;
            }
            if (st->probe_waiting && time(NULL) - st->probe_waiting >= MV_PROBE_WAIT_MAX_S) {
                continue; /* not this round: published once it has been checked */
            }
            st->probe_next--;
            if (busy == 0 && st->retry == NULL) {
                if (!st->probe_waiting) {
                    st->h->log(st->p, SG_LOG_NOTICE,
                               "waiting for room in the admission budget to check channels "
                               "for encryption");
                    mv_state(st, "waiting for admission room to check channels");
                    st->probe_waiting = time(NULL);
                }
                mv_retry(st, mv_probe_wait_cb, MV_PROBE_WAIT_S);
            }
            return;
        }
        snprintf(hp, sizeof(hp), "%s:%d", ch->group, ch->port);
        mv_source_url(st, hp, url, sizeof(url));
        pr->st = st;
        pr->ch = ch;
        pr->dg = st->h->dgram_open(st->p, url, mv_probe_rx, pr, &why);
        if (pr->dg == NULL) {
            st->h->log(st->p, SG_LOG_WARN, "channel %s: cannot join %s: %s", ch->id, url, why);
            ch->enc = 2;
            memset(pr, 0, sizeof(*pr));
            continue;
        }
        pr->timer = st->h->timer_start(st->p, MV_PROBE_MS, 0, mv_probe_timeout, pr);
        st->probed++;
        return;
    }
    if (busy == 0 && st->phase == 3) {
        if (st->probed && (st->last_probe == 0 || time(NULL) - st->last_probe >= 86400)) {
            st->last_probe = time(NULL);
        }
        mv_publish(st);
    }
}

/* ---- publishing -------------------------------------------------------------------------------- */

static void
mv_committed(void *arg, int rc)
{
    mv_state_t *st = arg;
    if (rc != SG_OK) st->h->log(st->p, SG_LOG_ERR, "catalog update failed");
}

static void
mv_publish(mv_state_t *st)
{
    sg_txn_t *t = st->h->catalog_begin(st->p, SG_TXN_REPLACE_CHANNELS);
    size_t published = 0;
    char groups[160];

    if (t == NULL) {
        st->phase = 0;
        mv_retry(st, mv_start_cb, MV_RETRY_S);
        return;
    }
    for (size_t i = 0; i < st->nchans; i++) {
        const mv_chan_t *ch = &st->chans[i];
        char tvg[64];
        if (ch->enc != 0) continue;
        snprintf(tvg, sizeof(tvg), "%s.movistar.tv", ch->id);
        snprintf(groups, sizeof(groups), "Movistar TV%s%s", ch->genre ? ";" : "",
                 ch->genre ? ch->genre : "");
        st->h->catalog_channel(t, &(sg_channel_t){
                                      .id = ch->id,
                                      .tvg_id = tvg,
                                      .name = ch->name,
                                      /* the promo channel (LCN 0) goes last */
                                      .number = ch->lcn ? ch->lcn : 999,
                                      .logo = st->want_logos ? ch->logo : NULL,
                                      .groups = groups,
                                      .caps = SG_CAP_LIVE | SG_CAP_CATCHUP,
                                      .catchup_days = st->epg_days,
                                  });
        published++;
    }
    st->h->catalog_commit(t, mv_committed, st);
    st->h->metric_set(st->m_channels, NULL, (double)published);
    st->published = published;
    mv_chanmap_save(st);
    st->h->log(st->p, SG_LOG_INFO, "published %zu channels (%zu not: encrypted or silent)", published,
               st->nchans - published);
    st->phase = 4;
    st->days_next = st->days_done = 0;
    st->programmes = 0;
    mv_state(st, "reading the EPG (%zu day groups)",
             st->days.n < (size_t)st->epg_days ? st->days.n : (size_t)st->epg_days);
    mv_info_cancel(st); /* a slow pass of the last round gives way */
    mv_epg_next(st);
}

/* ---- EPG ----------------------------------------------------------------------------------------- */

static const char *
mv_genre_name(uint8_t g)
{
    static const char *const names[16] = {
        "Arts / Culture", "Movie / Drama", "Social / Political issues", "News / Current affairs",
        "Sports", "Children's / Youth", "Music / Ballet / Dance", "Show / Game show",
        "Education / Science / Factual topics", "Adult movie", "Leisure hobbies", "Special",
        NULL, NULL, NULL, NULL};
    return names[g >> 4];
}

/* One programme as the catalog gets it: the binary record's fields plus
 * the extended info (epgInfov2) when it is known. */
typedef struct mv_prog_s {
    uint32_t pid;
    int64_t start;
    uint32_t duration;
    char *title, *sub, *series;
    int season, episode, year, age;
    uint8_t genre;
    char epg_id[16];
} mv_prog_t;

typedef struct mv_info_s {
    const char *description, *cover, *episode, *credits;
    int year;
} mv_info_t;

static void
mv_put_programme(mv_state_t *st, sg_txn_t *txn, const mv_prog_t *pr, const mv_info_t *in)
{
    char pid[16], icon[300];
    const char *sub = pr->sub;

    snprintf(pid, sizeof(pid), "%u", pr->pid);
    icon[0] = '\0';
    if (in && in->cover && in->cover[0]) snprintf(icon, sizeof(icon), "/Covers/%s", in->cover);
    if ((sub == NULL || sub[0] == '\0') && in && in->episode && in->episode[0]) sub = in->episode;
    for (size_t i = 0; i < st->nchans; i++) {
        const mv_chan_t *ch = &st->chans[i];
        if (ch->enc != 0 || ch->epg_id == NULL || strcmp(ch->epg_id, pr->epg_id) != 0) continue;
        st->h->catalog_programme(txn, &(sg_programme_t){
                                          .channel = ch->id,
                                          .start = pr->start,
                                          .stop = pr->start + pr->duration,
                                          .title = pr->title,
                                          .sub_title = sub && sub[0] ? sub : NULL,
                                          .description = in ? in->description : NULL,
                                          .series = pr->series,
                                          .season = pr->season,
                                          .episode = pr->episode,
                                          .year = pr->year ? pr->year : (in ? in->year : 0),
                                          .genre = mv_genre_name(pr->genre),
                                          .age_rating = pr->age,
                                          .icon = icon[0] ? icon : NULL,
                                          .pid = pid,
                                          .credits = in ? in->credits : NULL,
                                      });
        st->put++;
    }
}

/* ---- extended programme info (epgInfov2), cached in SQLite -------------------------------- */

static int
mv_info_open(mv_state_t *st)
{
    char path[1024];
    const char *dir = st->h->state_dir(st->p);

    if (dir == NULL) return -1;
    snprintf(path, sizeof(path), "%s/epginfo.db", dir);
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        sqlite3_exec(st->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS info(pid INTEGER PRIMARY KEY, stop INTEGER,"
                     " description TEXT, cover TEXT, episode TEXT, year INTEGER, credits TEXT);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        /* a file from before credits: add the column (an error when it is
         * there already, which is fine) */
        (sqlite3_exec(st->db, "ALTER TABLE info ADD COLUMN credits TEXT", NULL, NULL, NULL), 0) ||
        sqlite3_prepare_v2(st->db,
                           "SELECT description, cover, episode, year, credits FROM info"
                           " WHERE pid = ?",
                           -1, &st->q_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO info(pid, stop, description, cover, episode,"
                           " year, credits) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &st->q_put, NULL) != SQLITE_OK) {
        st->h->log(st->p, SG_LOG_ERR, "%s: %s; extended programme info is off", path,
                   st->db ? sqlite3_errmsg(st->db) : "cannot open");
        sqlite3_finalize(st->q_get);
        sqlite3_finalize(st->q_put);
        sqlite3_close(st->db);
        st->db = NULL;
        st->q_get = st->q_put = NULL;
        return -1;
    }
    return 0;
}

/* The cached info of pid into in (strings valid until the next lookup). */
static int
mv_info_get(mv_state_t *st, uint32_t pid, mv_info_t *in)
{
    if (st->q_get == NULL) return 0;
    sqlite3_reset(st->q_get);
    sqlite3_bind_int64(st->q_get, 1, pid);
    if (sqlite3_step(st->q_get) != SQLITE_ROW) return 0;
    in->description = (const char *)sqlite3_column_text(st->q_get, 0);
    in->cover = (const char *)sqlite3_column_text(st->q_get, 1);
    in->episode = (const char *)sqlite3_column_text(st->q_get, 2);
    in->year = sqlite3_column_int(st->q_get, 3);
    in->credits = (const char *)sqlite3_column_text(st->q_get, 4);
    return 1;
}

static void
mv_want_free(mv_state_t *st)
{
    for (size_t i = 0; i < st->nwant; i++) {
        st->h->free(st->want[i].title);
        st->h->free(st->want[i].sub);
        st->h->free(st->want[i].series);
    }
    st->h->free(st->want);
    st->want = NULL;
    st->nwant = st->want_cap = st->want_next = 0;
}

static void
mv_epg_record(void *arg, uint16_t service_id, const mv_epg_rec_t *r)
{
    mv_day_t *d = arg;
    mv_state_t *st = d->st;
    char sub[512];
    mv_prog_t pr = {.pid = r->pid, .start = r->start, .duration = r->duration,
                    .title = (char *)r->title, .season = r->season, .episode = r->episode,
                    .year = r->year, .age = r->age, .genre = r->genre};
    mv_info_t in;
    int64_t now = (int64_t)time(NULL);
    size_t before = st->put;

    if (r->duration == 0 || r->title[0] == '\0') return;
    snprintf(pr.epg_id, sizeof(pr.epg_id), "%u", service_id);
    if (r->series_id && r->series[0]) {
        /* "<Series> T2 Ep. 5 - <Episode>": the series is the title, the
         * rest after " - " the episode's own title. */
        const char *dash = strstr(r->title, " - ");
        pr.title = (char *)r->series;
        pr.series = (char *)r->series;
        if (dash && dash[3]) {
            snprintf(sub, sizeof(sub), "%s", dash + 3);
            pr.sub = sub;
        }
    }
    if (mv_info_get(st, r->pid, &in)) {
        mv_put_programme(st, d->txn, &pr, &in);
    } else {
        mv_put_programme(st, d->txn, &pr, NULL);
        /* Not known yet: fetched after this round if it airs soon. */
        if (st->put > before && r->start + (int64_t)r->duration > now - 2 * 3600 &&
            r->start < now + MV_INFO_AHEAD && st->nwant < MV_INFO_MAX) {
            if (st->nwant == st->want_cap) {
                size_t cap = st->want_cap ? 2 * st->want_cap : 256;
                mv_prog_t *w = st->want ? st->h->realloc(st->want, cap * sizeof(*w))
                                        : st->h->alloc(st->p, cap * sizeof(*w));
                if (w == NULL) {
                    d->programmes += st->put - before;
                    return;
                }
                st->want = w;
                st->want_cap = cap;
            }
            mv_prog_t *w = &st->want[st->nwant++];
            *w = pr;
            w->title = mv_strdup(st, pr.title);
            w->sub = mv_strdup(st, pr.sub);
            w->series = mv_strdup(st, pr.series);
        }
    }
    d->programmes += st->put - before;
}

static void
mv_info_commit(mv_state_t *st)
{
    if (st->info_txn) st->h->catalog_commit(st->info_txn, mv_committed, st);
    st->info_txn = NULL;
    st->info_batch = 0;
}

static const char *
mv_json_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && v[0] ? v : NULL;
}

/* directors, mainActors and producer (JSON lists, or ", "-joined
 * strings) as "<role>:<name>" lines; NULL when there is nobody. */
static char *
mv_credits(mv_state_t *st, json_t *rd)
{
    static const char *const keys[][2] = {
        {"directors", "director"}, {"mainActors", "actor"}, {"producer", "producer"}};
    char buf[2048];
    size_t len = 0;

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        json_t *v = json_object_get(rd, keys[k][0]), *x;
        size_t i;
        const char *one;
        if (json_is_array(v)) {
            json_array_foreach(v, i, x) {
                if ((one = json_string_value(x)) == NULL || one[0] == '\0') continue;
                len += (size_t)snprintf(buf + len, len < sizeof(buf) ? sizeof(buf) - len : 0,
                                        "%s:%s\n", keys[k][1], one);
                if (len >= sizeof(buf)) break;
            }
        } else if ((one = json_string_value(v)) != NULL) {
            while (*one && len < sizeof(buf)) {
                size_t n = strcspn(one, ",");
                while (*one == ' ') one++, n--;
                if (n > 0 && n < 200) {
                    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s:%.*s\n",
                                            keys[k][1], (int)n, one);
                }
                one += n;
                if (*one == ',') one++;
            }
        }
        if (len >= sizeof(buf)) {
            len = sizeof(buf) - 1;
            break;
        }
    }
    if (len == 0) return NULL;
    buf[len] = '\0';
    return mv_unescape(st, buf);
}

static void
mv_info_done(const sg_fetch_resp_t *r, void *arg)
{
    mv_info_slot_t *slot = arg;
    mv_state_t *st = slot->st;
    const mv_prog_t *pr = &st->want[slot->index];
    json_t *root = NULL, *rd;
    const char *res = "error";

    slot->fetch = NULL;
    slot->busy = 0;
    if (r->status == 200 && (root = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
        json_is_object(rd = json_object_get(root, "resultData"))) {
        const char *desc = mv_json_str(rd, "description");
        const char *cover = mv_json_str(rd, "cover");
        const char *ep = mv_json_str(rd, "episodeName");
        const char *pd = mv_json_str(rd, "productionDate");
        char *d = mv_unescape(st, desc ? desc : mv_json_str(rd, "synopsis") ? mv_json_str(rd, "synopsis") : "");
        char *e = ep ? mv_unescape(st, ep) : NULL;
        int year = pd ? atoi(pd) : (int)json_integer_value(json_object_get(rd, "productionDate"));
        char *cr = mv_credits(st, rd);
        mv_info_t in = {.description = d && d[0] ? d : NULL, .cover = cover, .episode = e,
                        .credits = cr, .year = year > 1800 && year < 2200 ? year : 0};
        if (st->q_put) {
            sqlite3_reset(st->q_put);
            sqlite3_bind_int64(st->q_put, 1, pr->pid);
            sqlite3_bind_int64(st->q_put, 2, pr->start + pr->duration);
            sqlite3_bind_text(st->q_put, 3, in.description, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st->q_put, 4, in.cover, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st->q_put, 5, in.episode, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(st->q_put, 6, in.year);
            sqlite3_bind_text(st->q_put, 7, in.credits, -1, SQLITE_TRANSIENT);
            sqlite3_step(st->q_put);
        }
        if (st->info_txn == NULL) st->info_txn = st->h->catalog_begin(st->p, 0);
        if (st->info_txn) {
            mv_put_programme(st, st->info_txn, pr, &in);
            if (++st->info_batch >= 200) mv_info_commit(st);
        }
        st->h->free(d);
        st->h->free(e);
        st->h->free(cr);
        res = "ok";
    } else if (r->status == 200) {
        res = "no_info"; /* resultCode -1: the appserver has nothing for it */
        if (st->q_put) { /* remembered, so it is not asked again every hour */
            sqlite3_reset(st->q_put);
            sqlite3_bind_int64(st->q_put, 1, pr->pid);
            sqlite3_bind_int64(st->q_put, 2, pr->start + pr->duration);
            for (int k = 3; k <= 7; k++) sqlite3_bind_null(st->q_put, k);
            sqlite3_step(st->q_put);
        }
    }
    json_decref(root);
    st->h->metric_add(st->m_info, (const char *const[]){res, NULL}, 1);
    st->info_done++;
    mv_info_next(st);
}

/* Fetch the extended info of the programmes of the coming hours, a few at a
 * time, after the round. */
static void
mv_info_next(mv_state_t *st)
{
    int busy = 0;
    for (int i = 0; i < MV_INFO_PARALLEL; i++) {
        mv_info_slot_t *slot = &st->info[i];
        if (slot->busy) {
            busy++;
            continue;
        }
        while (st->want_next < st->nwant) {
            const mv_prog_t *pr = &st->want[st->want_next];
            char url[600];
            mv_info_t in;
            slot->index = st->want_next++;
            if (mv_info_get(st, pr->pid, &in)) continue; /* a repeat on another day */
            snprintf(url, sizeof(url), "%s/appserver/mvtv.do?action=epgInfov2&productID=%u&channelID=%s",
                     st->appserver[st->ep < st->nappserver ? st->ep : 0], pr->pid, pr->epg_id);
            slot->st = st;
            slot->fetch = st->h->fetch(st->p,
                                       &(sg_fetch_req_t){.url = url, .timeout_ms = 15000,
                                                         .max_bytes = 1u << 20, .cookies = 1,
                                                         .user_agent = MV_UA},
                                       mv_info_done, slot);
            if (slot->fetch) {
                slot->busy = 1;
                busy++;
                break;
            }
        }
    }
    if (busy == 0) {
        if (st->nwant) {
            st->h->log(st->p, SG_LOG_INFO,
                       "extended info: %zu programmes of the next hours fetched", st->info_done);
        }
        mv_info_commit(st);
        mv_want_free(st);
        if (st->db && !st->info_pruned) {
            char sql[128];
            snprintf(sql, sizeof(sql), "DELETE FROM info WHERE stop < %lld",
                     (long long)time(NULL) - 9 * 86400);
            sqlite3_exec(st->db, sql, NULL, NULL, NULL);
            st->info_pruned = 1;
        }
        /* then the cloud recordings: the appserver never sees more than
         * MV_INFO_PARALLEL requests of ours at once */
        mv_cloud_refresh(st);
    }
}

static void
mv_info_cancel(mv_state_t *st)
{
    for (int i = 0; i < MV_INFO_PARALLEL; i++) {
        if (st->info[i].fetch) st->h->fetch_cancel(st->info[i].fetch);
        st->info[i].fetch = NULL;
        st->info[i].busy = 0;
    }
    mv_info_commit(st);
    mv_want_free(st);
}

static void
mv_day_finish(mv_day_t *d, const char *how)
{
    mv_state_t *st = d->st;
    if (!d->active) return;
    d->active = 0;
    d->done = 1;
    if (d->dg) st->h->dgram_close(d->dg);
    d->dg = NULL;
    if (d->timer) st->h->timer_stop(d->timer);
    d->timer = NULL;
    if (d->as) {
        const mv_stp_stats_t *s = mv_stp_asm_stats(d->as);
        st->h->metric_add(st->m_sections, (const char *const[]){"ok", NULL},
                          (double)(s->sections - s->bad));
        st->h->metric_add(st->m_sections, (const char *const[]){"bad", NULL}, (double)s->bad);
        st->h->metric_add(st->m_sections, (const char *const[]){"crc_error", NULL},
                          (double)s->crc_errors);
        mv_stp_asm_free(d->as);
    }
    d->as = NULL;
    if (d->txn) st->h->catalog_commit(d->txn, mv_committed, st);
    d->txn = NULL;
    st->programmes += d->programmes;
    st->h->log(st->p, SG_LOG_INFO, "EPG day %d (%s): %zu programmes, %zu/%zu segments%s (%s)", d->day,
               d->addr, d->programmes, d->ngot, d->nseg, d->truncated ? ", some truncated" : "", how);
    st->h->free(d->got);
    d->got = NULL;
    st->days_done++;
    mv_epg_next(st);
}

static void
mv_day_timeout(void *arg)
{
    mv_day_t *d = arg;
    d->timer = NULL;
    mv_day_finish(d, d->complete ? (d->nseg ? "complete" : "one carousel cycle")
                                 : "timed out; the rest next round");
}

/* From inside the assembler: finish on the next loop turn. */
static void
mv_day_complete(mv_day_t *d)
{
    d->complete = 1;
    if (d->timer) d->st->h->timer_stop(d->timer);
    d->timer = d->st->h->timer_start(d->st->p, 0, 0, mv_day_timeout, d);
}

static void
mv_day_segment(void *arg, uint8_t pid, uint16_t seg, uint8_t ver, const uint8_t *data, size_t len)
{
    mv_day_t *d = arg;
    mv_epg_result_t res;
    uint32_t key = ((uint32_t)seg << 8) | ver;
    size_t i;

    if (pid != 0xF1 || !d->active || d->complete) return;
    if (d->nseg) {
        for (i = 0; i < d->nseg && d->seg[i] != seg; i++) {
        }
        if (i == d->nseg || d->got[i]) return; /* unlisted, or already in */
        d->got[i] = 1;
    } else {
        /* No segment list: a carousel cycle is over when the first segment
         * comes round again. */
        if (d->first_key == 0) {
            d->first_key = key | 0x80000000u;
        } else if ((key | 0x80000000u) == d->first_key) {
            mv_day_complete(d);
            return;
        }
    }
    d->ngot++;
    if (mv_epg_parse(data, len, mv_epg_record, d, &res) != 0) {
        d->st->h->log(d->st->p, SG_LOG_DEBUG, "EPG day %d: unreadable blob (segment 0x%04x)", d->day,
                      seg);
    }
    d->truncated |= res.truncated;
    if (d->nseg && d->ngot == d->nseg) mv_day_complete(d);
}

static void
mv_day_rx(void *arg, const uint8_t *p, size_t n)
{
    mv_day_t *d = arg;
    if (d->as && !d->complete) mv_stp_asm_feed(d->as, p, n);
}

static void
mv_epg_next(mv_state_t *st)
{
    int active = 0;
    size_t ndays = st->days.n < (size_t)st->epg_days ? st->days.n : (size_t)st->epg_days;

    for (int i = 0; i < MV_MAX_DAYS; i++) active += st->day[i].active;
    while (active < MV_EPG_PARALLEL && (size_t)st->days_next < ndays) {
        const mv_epg_day_t *e = &st->days.v[st->days_next];
        mv_day_t *d = &st->day[st->days_next++];
        char hp[80], url[160];
        const char *why = NULL;

        memset(d, 0, sizeof(*d));
        d->st = st;
        d->day = e->day;
        snprintf(d->addr, sizeof(d->addr), "%s:%d", e->addr, e->port);
        snprintf(hp, sizeof(hp), "%s:%d", e->addr, e->port);
        mv_source_url(st, hp, url, sizeof(url));
        d->nseg = e->nsegments;
        d->seg = e->segments;
        d->got = d->nseg ? st->h->alloc(st->p, d->nseg) : NULL;
        d->as = mv_stp_asm_new(MV_STP_BYTES, mv_day_segment, d);
        d->txn = st->h->catalog_begin(st->p, 0);
        d->active = 1;
        d->dg = d->as && d->txn && (d->got || !d->nseg)
                    ? st->h->dgram_open(st->p, url, mv_day_rx, d, &why)
                    : NULL;
        if (d->dg == NULL) {
            st->h->log(st->p, SG_LOG_WARN, "EPG day %d: cannot listen on %s: %s", d->day, url,
                       why ? why : "out of memory");
            if (d->txn) st->h->catalog_abort(d->txn);
            d->txn = NULL;
            mv_day_finish(d, "failed");
            return;
        }
        d->timer = st->h->timer_start(st->p, 180000, 0, mv_day_timeout, d);
        active++;
    }
    if (active == 0 && st->phase == 4 && st->days_done >= (int)ndays) {
        st->phase = 0;
        st->last_epg = time(NULL);
        st->h->metric_set(st->m_programmes, NULL, (double)st->programmes);
        st->h->metric_add(st->m_runs, NULL, 1);
        st->h->log(st->p, SG_LOG_NOTICE,
                   "discovery and EPG done in %.1f s: %zu programmes over %zu days", (double)(mv_ms() - st->t0_ms) / 1000.0, st->programmes, ndays);
        mv_state(st, "ready: %zu channels, %zu programmes in the last update", st->published,
                 st->programmes);
        st->info_done = 0;
        st->info_pruned = 0;
        mv_info_next(st);
    }
}

/* ---- refresh ----------------------------------------------------------------------------------- */

static void mv_refresh_cb(void *arg);

/* Next refresh: the refresh period aligned to the wall clock (on the hour
 * for the default 3600 s). */
static void
mv_schedule_refresh(mv_state_t *st)
{
    int64_t now = (int64_t)time(NULL);
    int64_t next = (now / st->refresh_s + 1) * st->refresh_s;
    st->refresh = st->h->timer_start(st->p, (uint64_t)(next - now) * 1000, 0, mv_refresh_cb, st);
}

static void
mv_refresh_cb(void *arg)
{
    mv_state_t *st = arg;
    st->refresh = NULL;
    mv_schedule_refresh(st);
    /* The previous round is still running, or waiting to retry: never start
     * a second chain beside it. */
    if (st->phase != 0 || st->fetch || st->retry) return;
    mv_start_cb(st);
}

/* ---- plugin hooks --------------------------------------------------------------------------------- */

/* ---- catchup: appserver URL, then RTSP by the core -------------------------------------------- */

#define MV_RTSP_UA "MICA-IP-STB"
#define MV_RTSP_TRANSPORT "MP2T/H2221/UDP;unicast"

typedef struct mv_sess_s {
    mv_state_t *st;
    sg_session_t *s;
    sg_fetch_t *fetch;
    char chan[64];          /* the channel's id                              */
    char pid[32];           /* the programme now negotiated                  */
    int64_t pstart, pstop;
    int64_t at;             /* content time (UTC) the stream starts at       */
    int64_t end_at;         /* archive-T-D: stop at this content time; 0 = open */
    int ep, tries;          /* appserver endpoint, attempts on it            */
    int joins;              /* programmes negotiated in this response        */
    int cloud;              /* a cloud recording: getRecordingData           */
} mv_sess_t;

static void mv_catchup_fetch(mv_sess_t *ms);

static void
mv_iso(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
mv_catchup_count(mv_state_t *st, const char *result)
{
    st->h->metric_add(st->m_catchup, (const char *const[]){result, NULL}, 1);
}

static void
mv_catchup_done(const sg_fetch_resp_t *r, void *arg)
{
    mv_sess_t *ms = arg;
    mv_state_t *st = ms->st;
    json_error_t jerr;
    json_t *root, *rd;
    const char *url;
    char reason[300];
    sg_source_opts_t o = {0};

    ms->fetch = NULL;
    if (r->status != 200) {
        st->h->log(st->p, SG_LOG_WARN, "%s on %s: %s",
                   ms->cloud ? "getRecordingData" : "getCatchUpUrl", st->appserver[ms->ep],
                   r->error ? r->error : "HTTP error");
        /* once more on this endpoint, then the next one */
        if (++ms->tries >= 2) {
            ms->tries = 0;
            ms->ep++;
        }
        if (ms->ep < st->nappserver) {
            mv_catchup_fetch(ms);
            return;
        }
        mv_catchup_count(st, "unreachable");
        st->h->session_fail(ms->s, 503, "Movistar catchup service unreachable");
        return;
    }
    root = json_loadb(r->body, r->len, 0, &jerr);
    rd = json_object_get(root, "resultData");
    url = json_string_value(json_object_get(rd, "url"));
    if (url == NULL || strncmp(url, "rtsp://", 7) != 0) {
        const char *text = json_string_value(json_object_get(root, "resultText"));
        char *msg = mv_unescape(st, text && text[0] ? text : root ? "no catchup URL" : jerr.text);
        snprintf(reason, sizeof(reason), "Movistar has no %srecording of programme %s on %s: %s",
                 ms->cloud ? "cloud " : "", ms->pid, ms->chan, msg ? msg : "error");
        st->h->free(msg);
        json_decref(root);
        mv_catchup_count(st, "not_found");
        st->h->session_fail(ms->s, 404, reason);
        return;
    }
    o.start = (double)(ms->at - ms->pstart);
    o.duration_ms = ms->end_at ? (ms->end_at - ms->at) * 1000 : 0;
    o.gap_ms = st->gap_ms;
    o.bind = st->iptv_addr[0] ? st->iptv_addr : NULL;
    o.transport = MV_RTSP_TRANSPORT;
    o.user_agent = MV_RTSP_UA;
    ms->joins++;
    mv_catchup_count(st, "ok");
    st->h->log(st->p, SG_LOG_INFO, "%s %s programme %s from %+.0f s%s",
               ms->cloud ? "cloud recording" : "catchup", ms->chan, ms->pid, o.start,
               ms->joins > 1 ? " (continuing)" : "");
    st->h->session_source_ex(ms->s, url, &o);
    json_decref(root);
}

static void
mv_catchup_fetch(mv_sess_t *ms)
{
    mv_state_t *st = ms->st;
    char url[600];

    snprintf(url, sizeof(url), "%s/appserver/mvtv.do?action=%s&extInfoID=%s&channelID=%s&mode=1",
             st->appserver[ms->ep], ms->cloud ? "getRecordingData" : "getCatchUpUrl", ms->pid,
             ms->chan);
    ms->fetch = st->h->fetch(st->p,
                             &(sg_fetch_req_t){.url = url, .timeout_ms = 5000,
                                               .max_bytes = 1u << 20, .cookies = 1,
                                               .user_agent = MV_UA},
                             mv_catchup_done, ms);
    if (ms->fetch == NULL) {
        mv_catchup_count(st, "unreachable");
        st->h->session_fail(ms->s, 503, "Movistar catchup service unreachable");
    }
}

/* Which programme a time means (the last one starting at or before it),
 * then its RTSP URL from the appserver. */
static int
mv_catchup_open(mv_state_t *st, sg_session_t *s, mv_sess_t *ms, const mv_chan_t *ch,
                const sg_stream_req_t *req)
{
    sg_programme_t pr;
    char reason[300], at[32];
    int cloud = req->cloud ? SG_PROG_CLOUD : 0;
    const char *what = cloud ? "cloud recording" : "programme";

    mv_iso(req->start, at, sizeof(at));
    if (st->h->programme_at(st->p, ch->id, req->start, SG_PROG_AIRING | cloud, &pr) != SG_OK) {
        char from[32] = "", to[32] = "";
        sg_programme_t first, last;
        if (st->h->programme_at(st->p, ch->id, INT64_MIN, SG_PROG_FROM | cloud, &first) == SG_OK &&
            st->h->programme_at(st->p, ch->id, INT64_MAX, SG_PROG_UNTIL | cloud, &last) == SG_OK) {
            mv_iso(first.start, from, sizeof(from));
            mv_iso(last.stop, to, sizeof(to));
            snprintf(reason, sizeof(reason), "no %s on channel %s at %s (%s %s to %s)", what,
                     ch->id, at, cloud ? "its recordings span" : "its guide covers", from, to);
        } else {
            snprintf(reason, sizeof(reason), "no %s on channel %s at %s (%s)", what, ch->id, at,
                     cloud ? "no cloud recordings" : "no guide yet");
        }
        mv_catchup_count(st, "not_found");
        st->h->session_fail(s, 404, reason);
        return SG_DECLINED;
    }
    if (pr.pid == NULL) {
        snprintf(reason, sizeof(reason), "the programme on channel %s at %s has no Movistar id",
                 ch->id, at);
        st->h->session_fail(s, 404, reason);
        return SG_DECLINED;
    }
    ms->st = st;
    ms->s = s;
    ms->cloud = cloud != 0;
    snprintf(ms->chan, sizeof(ms->chan), "%s", ch->id);
    snprintf(ms->pid, sizeof(ms->pid), "%s", pr.pid);
    ms->pstart = pr.start;
    ms->pstop = pr.stop;
    ms->at = req->start;
    ms->end_at = req->duration > 0 ? req->start + req->duration : 0;
    if (req->head) return SG_OK; /* 200, nothing negotiated */
    ms->ep = st->ep < st->nappserver ? st->ep : 0;
    mv_catchup_fetch(ms);
    return ms->fetch ? SG_AGAIN : SG_ERROR;
}

/* Movistar plays one programme and stops: go on with the next one in the
 * same response (unless continuous = false, or the asked duration is done). */
static int
mv_source_ended(sg_session_t *s, void *state, void *sstate, int how)
{
    mv_state_t *st = state;
    mv_sess_t *ms = sstate;
    sg_programme_t next;
    int64_t now = (int64_t)time(NULL);

    (void)s;
    if (how == SG_SOURCE_DURATION || !st->continuous || ms->st == NULL) return SG_DONE;
    if (st->h->programme_at(st->p, ms->chan, ms->pstart + 1,
                            SG_PROG_FROM | (ms->cloud ? SG_PROG_CLOUD : 0), &next) != SG_OK ||
        next.pid == NULL || next.start > now || (ms->end_at && next.start >= ms->end_at)) {
        return SG_DONE;
    }
    /* recordings go on into the next one only when it follows on */
    if (ms->cloud && next.start > ms->pstop + 60) return SG_DONE;
    snprintf(ms->pid, sizeof(ms->pid), "%s", next.pid);
    ms->pstart = ms->at = next.start;
    ms->pstop = next.stop;
    ms->tries = 0;
    mv_catchup_fetch(ms);
    return ms->fetch ? SG_AGAIN : SG_DONE;
}

static void
mv_close(sg_session_t *s, void *state, void *sstate)
{
    mv_sess_t *ms = sstate;
    (void)s;
    if (ms->fetch) {
        ((mv_state_t *)state)->h->fetch_cancel(ms->fetch);
        ms->fetch = NULL;
    }
}

/* ---- cloud recordings --------------------------------------------------------------------------- */

static void mv_cloud_next(mv_state_t *st);

static struct mv_cloud_known_s *
mv_cloud_known(mv_state_t *st, const mv_cloud_item_t *it)
{
    for (int i = 0; i < st->ncloud; i++) {
        if (strcmp(st->cloud[i].it.pid, it->pid) == 0 &&
            strcmp(st->cloud[i].it.channel, it->channel) == 0) {
            return &st->cloud[i];
        }
    }
    return NULL;
}

static void
mv_cloud_count(mv_state_t *st, const char *result)
{
    st->h->metric_add(st->m_cloud_fetch, (const char *const[]){result, NULL}, 1);
}

static void
mv_cloud_url(mv_state_t *st, char *url, size_t n, const char *query)
{
    int ep = st->ep < st->nappserver ? st->ep : 0;
    snprintf(url, n, "%s/appserver/mvtv.do?action=%s", st->appserver[ep], query);
}

/* The round's list, as the catalog's cloud set: what getRecordingData
 * described, on channels that are published. Forgets what left the list. */
static void
mv_cloud_publish(mv_state_t *st)
{
    sg_txn_t *t = st->h->catalog_begin(st->p, SG_TXN_CLOUD);
    int put = 0, kept = 0;

    if (t == NULL) return;
    for (int i = 0; i < st->cloud_n; i++) {
        const mv_cloud_item_t *it = &st->cloud_list[i];
        struct mv_cloud_known_s *k = mv_cloud_known(st, it);
        const mv_chan_t *ch = mv_chan(st, it->channel);
        const mv_cloud_rec_t *r;
        int64_t stop;
        if (k == NULL || ch == NULL || ch->enc != 0) continue;
        r = &k->rec;
        stop = r->stop > it->begin ? r->stop : it->begin + (r->duration > 0 ? r->duration : 3600);
        if (st->h->catalog_programme(t, &(sg_programme_t){
                                            .channel = ch->id,
                                            .start = it->begin,
                                            .stop = stop,
                                            .title = r->title[0] ? r->title : "Grabación",
                                            .series = r->series[0] ? r->series : NULL,
                                            .season = r->season,
                                            .episode = r->episode,
                                            .genre = r->genre[0] ? r->genre : NULL,
                                            .age_rating = r->age,
                                            .pid = it->pid,
                                        }) == SG_OK) {
            put++;
        }
    }
    st->h->catalog_commit(t, mv_committed, st);
    /* keep only what is still listed */
    for (int i = 0; i < st->ncloud; i++) {
        int listed = 0;
        for (int j = 0; j < st->cloud_n && !listed; j++) {
            listed = strcmp(st->cloud[i].it.pid, st->cloud_list[j].pid) == 0 &&
                     strcmp(st->cloud[i].it.channel, st->cloud_list[j].channel) == 0;
        }
        if (listed) st->cloud[kept++] = st->cloud[i];
    }
    st->ncloud = kept;
    st->cloud_published = put;
    st->h->metric_set(st->m_cloud, NULL, (double)put);
    st->h->log(st->p, SG_LOG_INFO, "cloud recordings: %d published (%d listed, %d not described)",
               put, st->cloud_n, st->cloud_failed);
}

static void
mv_cloud_data_done(const sg_fetch_resp_t *r, void *arg)
{
    mv_state_t *st = arg;
    const mv_cloud_item_t *it = &st->cloud_list[st->cloud_next];
    mv_cloud_rec_t rec;
    char why[200];

    st->cloud_fetch = NULL;
    if (r->status == 200 && mv_cloud_data(r->body, r->len, &rec, why, sizeof(why)) == 0) {
        if (st->ncloud == st->cloud_cap) {
            int cap = st->cloud_cap ? st->cloud_cap * 2 : 32;
            size_t bytes = (size_t)cap * sizeof(*st->cloud);
            void *nv = st->cloud ? st->h->realloc(st->cloud, bytes) : st->h->alloc(st->p, bytes);
            if (nv) {
                st->cloud = nv;
                st->cloud_cap = cap;
            }
        }
        if (st->ncloud < st->cloud_cap) {
            st->cloud[st->ncloud].it = *it;
            st->cloud[st->ncloud].rec = rec;
            st->ncloud++;
        } else {
            st->cloud_failed++;
            st->h->log(st->p, SG_LOG_ERR, "cloud recording %s: out of memory", it->pid);
        }
        mv_cloud_count(st, "ok");
    } else {
        st->cloud_failed++;
        mv_cloud_count(st, "error");
        st->h->log(st->p, SG_LOG_WARN, "getRecordingData for programme %s on %s: %s", it->pid,
                   it->channel,
                   r->status != 200 ? (r->error ? r->error : "HTTP error") : why);
    }
    st->cloud_next++;
    mv_cloud_next(st);
}

/* One getRecordingData at a time, for the recordings not described yet. */
static void
mv_cloud_next(mv_state_t *st)
{
    char url[600], q[200];

    while (st->cloud_next < st->cloud_n && mv_cloud_known(st, &st->cloud_list[st->cloud_next])) {
        st->cloud_next++;
    }
    if (st->cloud_next >= st->cloud_n) {
        mv_cloud_publish(st);
        return;
    }
    snprintf(q, sizeof(q), "getRecordingData&extInfoID=%s&channelID=%s&mode=1",
             st->cloud_list[st->cloud_next].pid, st->cloud_list[st->cloud_next].channel);
    mv_cloud_url(st, url, sizeof(url), q);
    st->cloud_fetch = st->h->fetch(st->p,
                                   &(sg_fetch_req_t){.url = url, .timeout_ms = 10000,
                                                     .max_bytes = 1u << 20, .cookies = 1,
                                                     .user_agent = MV_UA},
                                   mv_cloud_data_done, st);
    if (st->cloud_fetch == NULL) mv_cloud_publish(st); /* what is known so far */
}

static void
mv_cloud_list_done(const sg_fetch_resp_t *r, void *arg)
{
    mv_state_t *st = arg;
    const char *why = "HTTP error";
    int n = -1, skipped = 0, dropped = 0;

    st->cloud_fetch = NULL;
    if (st->cloud_list == NULL) {
        st->cloud_list = st->h->alloc(st->p, MV_CLOUD_MAX * sizeof(*st->cloud_list));
    }
    if (r->status == 200 && st->cloud_list) {
        n = mv_cloud_list(r->body, r->len, st->cloud_list, MV_CLOUD_MAX, &skipped, &dropped, &why);
    } else if (r->error) {
        why = r->error;
    }
    if (n < 0) {
        /* the previous set stays published */
        mv_cloud_count(st, "error");
        st->h->log(st->p, SG_LOG_WARN, "recordingList: %s; cloud recordings unchanged", why);
        return;
    }
    mv_cloud_count(st, "ok");
    if (skipped || dropped) {
        st->h->log(st->p, SG_LOG_WARN, "recordingList: %d entries unusable, %d beyond %d", skipped,
                   dropped, MV_CLOUD_MAX);
    }
    st->cloud_n = n;
    st->cloud_next = 0;
    st->cloud_failed = 0;
    mv_cloud_next(st);
}

/* With each EPG update: the recordings list, then what is new in it. */
static void
mv_cloud_refresh(mv_state_t *st)
{
    char url[600];

    if (!st->want_cloud || st->cloud_fetch || st->nappserver == 0) return;
    mv_cloud_url(st, url, sizeof(url), "recordingList&mode=0&state=2&firstItem=0&numItems=999");
    st->cloud_fetch = st->h->fetch(st->p,
                                   &(sg_fetch_req_t){.url = url, .timeout_ms = 10000,
                                                     .max_bytes = 8u << 20, .cookies = 1,
                                                     .user_agent = MV_UA},
                                   mv_cloud_list_done, st);
}

static const sg_conf_key_t mv_keys[] = {
    {.name = "iptv_address", .type = SG_CONF_STRING, .def = "",
     .help = "local address on the IPTV network (default: the one that routes to dns)"},
    {.name = "dns", .type = SG_CONF_STRING, .def = "172.26.23.3",
     .help = "IPTV DNS server (ip[:port]): finds the IPTV interface and resolves the appserver "
             "and image host names; empty = the system resolver"},
    {.name = "appserver", .type = SG_CONF_STRING_LIST,
     .def = "http://portalnc.imagenio.telefonica.net:2001,"
            "http://asfenc.imagenio.telefonica.net:2001",
     .help = "appserver base URLs, tried in order"},
    {.name = "demarcation", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 99,
     .help = "region code; 0 = from getClientProfile"},
    {.name = "entry_point", .type = SG_CONF_STRING, .def = "",
     .help = "SD&S entry point group:port; empty = from getPlatformProfile"},
    {.name = "channels", .type = SG_CONF_STRING_LIST, .def = "",
     .help = "service ids to publish; empty = every unencrypted subscribed channel"},
    {.name = "extra_channels", .type = SG_CONF_STRING_LIST, .def = "",
     .help = "service ids to add although no subscribed package lists them"},
    {.name = "epg_days", .type = SG_CONF_INT, .def = "8", .min = 1, .max = 8,
     .help = "EPG day groups to read"},
    {.name = "refresh", .type = SG_CONF_INT, .def = "3600", .min = 60, .max = 86400,
     .help = "seconds between refreshes, aligned to the clock"},
    {.name = "logos", .type = SG_CONF_BOOL, .def = "true", .help = "publish channel logos"},
    {.name = "gap_ms", .type = SG_CONF_INT, .def = "1000", .min = 200, .max = 60000,
     .help = "catchup: this much silence means the programme ended"},
    {.name = "continuous", .type = SG_CONF_BOOL, .def = "true",
     .help = "catchup: go on with the next programme in the same response"},
    {.name = "cloud", .type = SG_CONF_BOOL, .def = "true",
     .help = "read the cloud recordings (recordingList) with each EPG update"},
    {.name = NULL},
};

static int
mv_check(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    const sg_conf_t *c = h->conf(p);
    struct in_addr a;
    int rc = SG_OK;
    const char *dns = h->conf_string(c, "dns");
    const char *ep = h->conf_string(c, "entry_point");
    char ip[64];
    int port;

    (void)state;
    if (dns[0]) {
        char dip[64];
        int dport = 53;
        const char *colon = strchr(dns, ':');
        if (sscanf(dns, "%63[0-9.]:%d", dip, &dport) < 1 || inet_pton(AF_INET, dip, &a) != 1 ||
            strlen(dip) != (size_t)(colon ? colon - dns : (ptrdiff_t)strlen(dns)) ||
            (colon && (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))) ||
            dport <= 0 || dport > 65535) {
            h->conf_error(c, "dns", "not an IPv4 address (optionally :port): \"%s\"", dns);
            rc = SG_ERROR;
        }
    }
    if (ep[0] && (sscanf(ep, "%63[0-9.]:%d", ip, &port) != 2 || inet_pton(AF_INET, ip, &a) != 1 ||
                  port <= 0 || port > 65535)) {
        h->conf_error(c, "entry_point", "expected group:port, e.g. 239.0.2.129:3937, not \"%s\"", ep);
        rc = SG_ERROR;
    }
    for (int i = 0; i < h->conf_count(c, "appserver"); i++) {
        const char *u = h->conf_list_string(c, "appserver", i);
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
            h->conf_error(c, "appserver", "not an http(s) URL: \"%s\"", u);
            rc = SG_ERROR;
        }
    }
    if (h->conf_count(c, "appserver") > 8) {
        h->conf_error(c, "appserver", "at most 8 endpoints");
        rc = SG_ERROR;
    }
    return rc;
}

static int
mv_init(sg_plugin_t *p, void *state, const sg_host_t *h)
{
    mv_state_t *st = state;
    const sg_conf_t *c = h->conf(p);
    static const char *const result[] = {"result", NULL};

    st->p = p;
    st->h = h;
    snprintf(st->iptv_conf, sizeof(st->iptv_conf), "%s", h->conf_string(c, "iptv_address"));
    snprintf(st->iptv_addr, sizeof(st->iptv_addr), "%s", st->iptv_conf);
    snprintf(st->dns, sizeof(st->dns), "%s", h->conf_string(c, "dns"));
    snprintf(st->entry_conf, sizeof(st->entry_conf), "%s", h->conf_string(c, "entry_point"));
    st->nappserver = h->conf_count(c, "appserver");
    for (int i = 0; i < st->nappserver && i < 8; i++) {
        st->appserver[i] = h->conf_list_string(c, "appserver", i);
    }
    st->demarcation_conf = (int)h->conf_int(c, "demarcation");
    st->epg_days = (int)h->conf_int(c, "epg_days");
    st->refresh_s = h->conf_int(c, "refresh");
    st->want_logos = h->conf_bool(c, "logos");
    st->gap_ms = (int)h->conf_int(c, "gap_ms");
    st->continuous = h->conf_bool(c, "continuous");
    st->want_cloud = h->conf_bool(c, "cloud");

    st->m_channels = h->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_GAUGE,
                                                          .name = "channels",
                                                          .help = "Channels published"});
    st->m_programmes = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "epg_programmes",
                               .help = "Programmes read in the last EPG update"});
    st->m_sections = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "dvbstp_sections_total",
                               .help = "DVB-STP EPG sections received, by result", .labels = result});
    st->m_runs = h->metric_new(p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER,
                                                      .name = "epg_updates_total",
                                                      .help = "Completed discovery and EPG rounds"});
    st->m_probe = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "channel_probes_total",
                               .help = "Channels sampled for TS scrambling, by verdict",
                               .labels = result});
    st->m_info = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "epg_info_fetches_total",
                               .help = "Extended programme info (epgInfov2) requests, by result",
                               .labels = result});
    st->m_catchup = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "catchup_negotiations_total",
                               .help = "Catchup URL requests (getCatchUpUrl), by result",
                               .labels = result});
    st->m_cloud = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_GAUGE, .name = "cloud_recordings",
                               .help = "Cloud recordings published"});
    st->m_cloud_fetch = h->metric_new(
        p, &(sg_metric_spec_t){.type = SG_METRIC_COUNTER, .name = "cloud_fetches_total",
                               .help = "recordingList and getRecordingData requests, by result",
                               .labels = result});
    mv_info_open(st);
    /* The appserver and image hosts have names only the IPTV DNS knows. */
    if (st->dns[0]) h->net_dns(p, st->dns);
    mv_chanmap_load(st);
    /* Known routes from the start: cached images are served even before
     * (or without) a bootstrap. */
    if (st->want_logos) h->proxy_route(p, "/Logos", NULL, MV_IMAGE_AGE);
    h->proxy_route(p, "/Covers", NULL, MV_IMAGE_AGE);
    mv_state(st, "starting");
    mv_schedule_refresh(st);
    st->retry = h->timer_start(p, 0, 0, mv_start_cb, st);
    return SG_OK;
}

static void
mv_fini(sg_plugin_t *p, void *state)
{
    mv_state_t *st = state;
    (void)p;
    /* Timers, fetches and sockets are released by the core; free the rest. */
    if (st->as) mv_stp_asm_free(st->as);
    for (int i = 0; i < MV_MAX_DAYS; i++) {
        if (st->day[i].as) mv_stp_asm_free(st->day[i].as);
        if (st->day[i].txn) st->h->catalog_abort(st->day[i].txn);
        st->h->free(st->day[i].got);
    }
    for (int i = 0; i < 3; i++) st->h->free(st->xml[i]);
    if (st->info_txn) st->h->catalog_abort(st->info_txn);
    mv_want_free(st);
    sqlite3_finalize(st->q_get);
    sqlite3_finalize(st->q_put);
    sqlite3_close(st->db);
    mv_sds_epg_days_free(&st->days);
    mv_chans_free(st);
    st->h->free(st->cloud_list);
    st->h->free(st->cloud);
    st->h->free(st->packages);
    st->h->free(st->res_base);
}

static int
mv_open(sg_session_t *s, void *state, void *sstate, const sg_stream_req_t *req)
{
    mv_state_t *st = state;
    const mv_chan_t *ch = mv_chan(st, req->channel);
    char hp[80], url[160];

    if (ch == NULL || !(ch->enc == 0 || (ch->enc < 0 && ch->prev_enc == 0))) {
        st->h->session_fail(s, 404, "no such Movistar channel");
        return SG_DECLINED;
    }
    if (req->kind == SG_REQ_CATCHUP) {
        if (req->format != SG_FMT_TS) {
            st->h->session_fail(s, 404, "Movistar catchup is offered as MPEG-TS (.ts) only");
            return SG_DECLINED;
        }
        return mv_catchup_open(st, s, sstate, ch, req);
    }
    snprintf(hp, sizeof(hp), "%s:%d", ch->group, ch->port);
    mv_source_url(st, hp, url, sizeof(url));
    return st->h->session_source(s, url);
}

static void
mv_status(sg_plugin_t *p, void *state, sg_status_t *s)
{
    mv_state_t *st = state;
    (void)p;
    st->h->status_int(s, "channels", (int64_t)st->nchans);
    st->h->status_int(s, "programmes_last_update", (int64_t)st->programmes);
    st->h->status_int(s, "demarcation", st->demarcation);
    st->h->status_string(s, "entry_point", st->entry);
    st->h->status_string(s, "provider_group", st->sp_group);
    st->h->status_string(s, "iptv_address", st->iptv_addr);
    st->h->status_int(s, "last_epg", st->last_epg);
    st->h->status_int(s, "info_pending", (int64_t)(st->nwant - st->want_next));
    st->h->status_int(s, "cloud_recordings", st->cloud_published);
}

static const sg_provider_t sg_movistar_provider = {
    SG_PROVIDER_HEADER,
    .name = "movistar",
    .version = "0.1.0",
    .summary = "Movistar Spain IPTV: multicast live, 7-day catchup over RTSP, cloud recordings",
    .caps = SG_CAP_CHANNELS | SG_CAP_EPG | SG_CAP_LIVE | SG_CAP_CATCHUP,
    .plugin_size = sizeof(mv_state_t),
    .conf_keys = mv_keys,
    .check = mv_check,
    .init = mv_init,
    .fini = mv_fini,
    .session_size = sizeof(mv_sess_t),
    .open = mv_open,
    .close = mv_close,
    .status = mv_status,
    .source_ended = mv_source_ended,
};

SG_PLUGIN_DEFINE(movistar, sg_movistar_provider)
