/*
 * Live hubs: one per source (a multicast group or a unicast port), shared by
 * every client of that source.
 *
 * Datagrams (raw TS or RTP, detected per source; RTP reordered within a
 * small window) are stripped to 188-byte TS packets and appended once to a
 * ring of refcounted chunks sized in seconds. Clients never get copies: a
 * flush (every batch_bytes or batch_ms, whichever comes first) hands each
 * client references to the new bytes, written straight to its socket when
 * its queue is empty. A new client first gets the current PAT/PMT, then the
 * ring from the newest keyframe (fast start). A client whose queue exceeds
 * the ring is dropped or resynchronised at a later keyframe; it never slows
 * the hub or the other clients.
 *
 * Lifetime: a hub opens (joins) on its first client, keeps reading for
 * linger_ms after its last one leaves (zapping back is instant), and ends
 * every client when no datagram came for source_timeout_ms.
 */
#ifndef SG_HUB_H
#define SG_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "stream/sg_source.h"

struct event_base;
struct evbuffer;
struct json_t;
typedef struct sg_admit_s sg_admit_t;
typedef struct sg_http_req_s sg_http_req_t;
typedef struct sg_hubs_s sg_hubs_t;
typedef struct sg_hub_s sg_hub_t;
typedef struct sg_hub_client_s sg_hub_client_t;

enum { SG_SLOW_DROP = 0, SG_SLOW_RESYNC = 1 };

typedef struct sg_hub_conf_s {
    int ring_ms;              /* ring length in time at the measured bitrate */
    int linger_ms;            /* keep the source after the last client      */
    int source_timeout_ms;    /* no data: end every client                  */
    int rejoin_s;             /* re-send the join every N s; 0 = never      */
    int start_behind_ms;      /* start a new client this far behind live    */
    int slow_policy;          /* SG_SLOW_DROP or SG_SLOW_RESYNC             */
    int batch_ms;             /* flush at least this often                  */
    size_t batch_bytes;       /* flush when this much is pending            */
    int rcvbuf;               /* socket receive buffer, bytes               */
    char iface[64];           /* default join interface (name or address)   */
} sg_hub_conf_t;

/* How a hub ended a client cleanly (ops->end's how). */
enum {
    SG_HUB_END_OTHER = 0,    /* error, shutdown, pre-emption, slow client  */
    SG_HUB_END_SOURCE = 1,   /* a private source ended: silence, server    */
    SG_HUB_END_DURATION = 2, /* a private source reached its max_ms        */
};

/* What a client asks for. A shared source is found by addr.key; with
 * rtsp_url set the hub is private to the client: it binds a UDP port on
 * addr's address (port 0: the kernel picks), negotiates RTSP PLAY of
 * rtsp_url to that port, tears the session down when it closes, and ends
 * cleanly (SG_HUB_END_*) after gap_ms of silence or max_ms of stream. */
typedef struct sg_hub_src_s {
    sg_source_addr_t addr;
    const char *rtsp_url;
    double rtsp_start;          /* npt seconds                              */
    const char *rtsp_transport; /* see sg_rtsp_play_t                       */
    const char *user_agent;
    int gap_ms;                 /* 0 = source_timeout_ms                    */
    int64_t max_ms;             /* 0 = no limit                             */
    int splice;                 /* the client already got another stream:
                                   its PAT/PMT again and every PID's first
                                   packet flagged discontinuous             */
} sg_hub_src_t;

/* How a hub talks to the owner of a client (the session). */
typedef struct sg_hub_client_ops_s {
    /* Data is about to flow: send the response headers. */
    void (*start)(void *arg);
    /* Bytes handed to the client (metrics). */
    void (*sent)(void *arg, size_t n);
    /* The hub let go of the client: status 0 = a clean end of stream,
     * otherwise an HTTP status for a client that got nothing yet. The
     * client is already off the hub; the owner still calls sg_hub_detach.
     * how: SG_HUB_END_* (a private source's clean end, for continuing). */
    void (*end)(void *arg, int status, const char *reason, const char *drop_reason, int how);
} sg_hub_client_ops_t;

sg_hubs_t *sg_hubs_new(struct event_base *base, sg_admit_t *admit);
void sg_hubs_set_conf(sg_hubs_t *h, const sg_hub_conf_t *conf);
/* Close every hub (their clients end with 503). */
void sg_hubs_free(sg_hubs_t *h);
void sg_hubs_metrics_init(sg_hubs_t *h);

/* Attach a client to the hub of src, opening it when needed (admission:
 * max_sources, max_kbps, with pre-emption of lower-priority clients).
 * NULL with *status (503, 502, ...) and *why set when refused. */
sg_hub_client_t *sg_hubs_attach(sg_hubs_t *h, const sg_hub_src_t *src, sg_http_req_t *r,
                                int priority, const sg_hub_client_ops_t *ops, void *arg,
                                int *status, const char **why);
/* The client's owner lets go (always, once, also after ops->end). */
void sg_hub_detach(sg_hub_client_t *c);

/* How many more sources (at the average source bitrate) fit max_sources
 * and max_kbps now, without pre-empting anyone; INT_MAX when nothing
 * limits. For optional background joins such as a plugin's channel checks. */
int sg_hubs_room(sg_hubs_t *hs);
int sg_hubs_count(sg_hubs_t *h);
double sg_hubs_kbps(sg_hubs_t *h);
/* Sources and clients, for /status and /api/status. */
void sg_hubs_status_html(sg_hubs_t *h, struct evbuffer *out);
struct json_t *sg_hubs_status_json(sg_hubs_t *h);

#endif
