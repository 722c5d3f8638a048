/*
 * RTSP/1.0 play client on the event loop (RFC 2326), for catchup servers
 * that push MPEG-TS to a UDP port: one TCP connection, SETUP with the
 * caller's client_port, PLAY from an npt offset, GET_PARAMETER keep-alives
 * every 30 s (or half the server's Session timeout when that is shorter),
 * TEARDOWN when stopped. Replies are read with the sg_rtsp parser (split
 * and pipelined replies, bodies by Content-Length) and matched by CSeq.
 *
 * The datagrams themselves are not read here: the caller binds the UDP port
 * before calling sg_rtsp_play() and reads it (the live hub does).
 *
 * Every end path sends TEARDOWN once a session exists: sg_rtsp_stop() by the
 * owner, a failure after SETUP, and sg_rtsp_flush_all() at shutdown. After
 * stop the object lives on by itself until the TEARDOWN reply, the
 * connection's end or 2 s, whichever comes first.
 */
#ifndef SG_RTSP_CLIENT_H
#define SG_RTSP_CLIENT_H

struct event_base;
typedef struct sg_rtsp_client_s sg_rtsp_client_t;

typedef struct sg_rtsp_client_ops_s {
    /* PLAY was answered 200: datagrams should flow now. */
    void (*playing)(void *arg);
    /* The session failed or the server let go (at most once; nothing is
     * called after it). rtsp_status: the server's non-200 status, or 0 for
     * a connection, timeout or protocol failure; why: a short reason. The
     * owner still calls sg_rtsp_stop(). */
    void (*failed)(void *arg, int rtsp_status, const char *why);
} sg_rtsp_client_ops_t;

typedef struct sg_rtsp_play_s {
    const char *url;        /* rtsp://ADDR[:PORT]/... (numeric address)      */
    int client_port;        /* the caller's bound UDP port                   */
    double start;           /* npt seconds to play from                      */
    const char *transport;  /* NULL = "RTP/AVP;unicast" (client_port=P-P+1);
                               otherwise used as is + ";client_port=P"       */
    const char *user_agent; /* NULL = "streamgate/<version>"                 */
    int reply_timeout_ms;   /* per request; 0 = 10000                        */
} sg_rtsp_play_t;

/* Connect and negotiate; callbacks come on later loop turns. NULL with *why
 * (static text) when the URL is unusable or the socket cannot be made. */
sg_rtsp_client_t *sg_rtsp_play(struct event_base *base, const sg_rtsp_play_t *req,
                               const sg_rtsp_client_ops_t *ops, void *arg, const char **why);

/* The owner lets go (once, always): TEARDOWN when a session exists, then
 * the client frees itself. No callback runs after this. */
void sg_rtsp_stop(sg_rtsp_client_t *c);

/* Shutdown: write every pending TEARDOWN now (best effort, no waiting) and
 * free every stopped client. */
void sg_rtsp_flush_all(void);

/* Open clients, for tests and status: negotiating or playing, and stopped
 * ones still waiting for their TEARDOWN reply. */
int sg_rtsp_count(int *stopping);

#endif
