/*
 * streamgate plugin ABI: the provider table a plugin exports.
 *
 * A plugin is one shared object with one exported symbol,
 *
 *     const sg_provider_t *sg_<name>_plugin_entry(void);
 *
 * (<name> with every character that cannot appear in a C identifier turned
 * into '_', so the 4gtv plugin exports sg_4gtv_plugin_entry).
 *
 * Compatibility rules (the loader enforces them and names the file when it
 * refuses one):
 *   - abi_major must equal the core's SG_ABI_MAJOR;
 *   - abi_minor must not be newer than the core's SG_ABI_MINOR;
 *   - members are only ever appended to sg_provider_t and sg_host_t; the
 *     core copies min(size, sizeof) of the plugin's table, so hooks a plugin
 *     was built without stay NULL, and NULL means "not implemented".
 *
 * A plugin includes only this header (which includes sg/host.h) and talks to
 * the daemon only through the sg_host_t table handed to init(): it links no
 * daemon symbol (-Wl,--no-undefined), so a unit test can give it a fake host.
 */
#ifndef SG_PLUGIN_H
#define SG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SG_ABI_MAJOR 1 /* incompatible change: the loader refuses a mismatch */
#define SG_ABI_MINOR 6 /* members appended: older plugins still load        */

#if defined(__GNUC__)
#define SG_EXPORT __attribute__((visibility("default")))
#else
#define SG_EXPORT
#endif

/* One return vocabulary everywhere (after nginx). Hooks never return errno
 * values or HTTP statuses; the core maps these to statuses in one place. */
enum {
    SG_OK = 0,
    SG_ERROR = -1,    /* failed; the reason was logged or set on the session */
    SG_AGAIN = -2,    /* in progress: the plugin calls back when it is done  */
    SG_BUSY = -3,     /* out of capacity right now (maps to 503)             */
    SG_DONE = -4,     /* nothing more to do (stream ended normally)          */
    SG_DECLINED = -5, /* not mine / no such content (maps to 404)            */
};

/* Capabilities: a hook is used only when its bit is set and it is non-NULL. */
#define SG_CAP_CHANNELS (1u << 0) /* publishes channels into the catalog  */
#define SG_CAP_EPG (1u << 1)      /* publishes programmes                 */
#define SG_CAP_LIVE (1u << 2)     /* open() serves live requests          */
#define SG_CAP_CATCHUP (1u << 3)  /* open() serves catchup time requests  */
#define SG_CAP_CLOUD (1u << 4)    /* provider-side recordings             */
#define SG_CAP_ROUTES (1u << 5)   /* serves HTTP routes of its own        */
#define SG_CAP_JOBS (1u << 6)     /* runs background jobs                 */

#include "sg/host.h"

/* ------------------------------------------------------------------------ */
/* Configuration keys, declared as data and validated by the core.          */

typedef enum {
    SG_CONF_BOOL = 1,
    SG_CONF_INT,         /* 64-bit integer; min/max checked when min < max */
    SG_CONF_FLOAT,       /* an integer literal is accepted too             */
    SG_CONF_STRING,      /* choices, when set, lists the allowed values    */
    SG_CONF_STRING_LIST, /* array or list of strings: [ "a", "b" ]         */
    SG_CONF_GROUP,       /* { ... } validated against sub                  */
    SG_CONF_GROUP_LIST,  /* ( { ... }, { ... } ) each validated by sub     */
} sg_conf_type_e;

#define SG_CONF_REQUIRED 0x1u /* absent is an error                          */
#define SG_CONF_FILE 0x2u     /* STRING: an existing readable file, if set   */
#define SG_CONF_DIR 0x4u      /* STRING: a directory, created when missing   */
#define SG_CONF_SECRET 0x8u   /* STRING: never printed (tokens, passwords)   */

typedef struct sg_conf_key_s sg_conf_key_t;

struct sg_conf_key_s {
    const char *name;
    sg_conf_type_e type;
    unsigned flags;
    const char *def;             /* default, as written in the config file;
                                    STRING_LIST: comma-separated elements   */
    double min, max;             /* range for INT/FLOAT when min < max      */
    const char *const *choices;  /* NULL-terminated, for STRING            */
    const sg_conf_key_t *sub;    /* for GROUP and GROUP_LIST, NULL-ended    */
    const char *help;            /* one line, shown by streamgate -t -v     */
};

/* ------------------------------------------------------------------------ */
/* Stream requests handed to open().                                        */

typedef enum {
    SG_REQ_LIVE = 1,
    SG_REQ_CATCHUP,
} sg_req_kind_e;

typedef enum {
    SG_FMT_TS = 1, /* MPEG-TS over HTTP                                      */
    SG_FMT_HLS,    /* an HLS playlist (index-T-D.m3u8 and friends)           */
    SG_FMT_MP4,    /* archive-T-D.mp4                                        */
} sg_format_e;

typedef struct sg_stream_req_s {
    sg_req_kind_e kind;
    sg_format_e format;
    const char *channel;     /* the plugin's own channel id                 */
    int64_t start;           /* catchup: UTC seconds; live: 0              */
    int64_t duration;        /* seconds; 0 = open-ended                     */
    const char *query;       /* the request's query string, "" when none    */
    const char *client;      /* client address, for logs                    */
    int head;                /* a HEAD request: do not contact upstream     */
    /* ABI 1.4: a /cloud/ request: start is a moment of one of the plugin's
     * cloud recordings (catalog_begin SG_TXN_CLOUD); the catchup window does
     * not apply. Always 0 for plugins built before 1.4. */
    int cloud;
} sg_stream_req_t;

/* ------------------------------------------------------------------------ */
/* The provider table.                                                      */

typedef struct sg_provider_s {
    uint16_t abi_major;   /* SG_ABI_MAJOR when built                       */
    uint16_t abi_minor;   /* SG_ABI_MINOR when built                       */
    uint32_t size;        /* sizeof(sg_provider_t) when built              */
    const char *name;     /* must equal the config name and the file name  */
    const char *version;  /* the plugin's own version, for status pages    */
    const char *summary;  /* one line                                      */
    uint32_t caps;        /* SG_CAP_*                                      */
    size_t plugin_size;   /* bytes of per-plugin state the core allocates  */
    size_t session_size;  /* bytes of per-session state the core allocates */
    const sg_conf_key_t *conf_keys; /* NULL-name terminated, may be NULL   */

    /* -- ABI 1.0 ---------------------------------------------------------- */

    /* Semantic checks beyond types (streamgate -t and before init). No I/O,
     * no timers. Report each problem with host->conf_error() and return
     * SG_ERROR if there was any. */
    int (*check)(sg_plugin_t *p, void *state, const sg_host_t *host);

    /* Start: read config, schedule discovery. state is zeroed, plugin_size
     * bytes, owned by the core. The host pointer stays valid until fini(). */
    int (*init)(sg_plugin_t *p, void *state, const sg_host_t *host);

    /* SIGHUP: re-read whatever the plugin keeps in files. */
    void (*reload)(sg_plugin_t *p, void *state);

    /* Shutdown. Timers and HTTP fetches still registered are released by the
     * core after fini returns. Cannot fail. */
    void (*fini)(sg_plugin_t *p, void *state);

    /* A client asked for a stream. state is the plugin's state; sstate is
     * zeroed, session_size bytes, owned by the core. Return SG_OK when data will follow (push it with
     * host->session_write), SG_AGAIN when negotiation continues and the
     * plugin will call host->session_ready() or host->session_fail() later,
     * SG_DECLINED when there is no such content (404, reason set with
     * session_fail), SG_BUSY for 503 and SG_ERROR for 502. A HEAD request
     * (req->head) must not contact upstream. */
    int (*open)(sg_session_t *s, void *state, void *sstate, const sg_stream_req_t *req);

    /* The client has drained its backlog after session_write() returned
     * SG_AGAIN: push more. May be NULL for plugins that never see SG_AGAIN. */
    void (*resume)(sg_session_t *s, void *state, void *sstate);

    /* The session ends (client gone, session_end/fail called, shutdown).
     * Release upstream resources. Called exactly once per successful or
     * SG_AGAIN open(). Cannot fail. */
    void (*close)(sg_session_t *s, void *state, void *sstate);

    /* Add plugin-specific fields to /api/status (a JSON object is built by
     * the core; the plugin adds members with host->status_*). */
    void (*status)(sg_plugin_t *p, void *state, sg_status_t *st);
    /* -- ABI 1.3 ---------------------------------------------------------- */
    /* The session's source (session_source_ex) ended cleanly while the
     * client is still there; how is SG_SOURCE_*. Return SG_AGAIN to carry on
     * in the same response: call host->session_source_ex() again, now or
     * later, or session_end()/session_fail(). Anything else (or no hook)
     * ends the response. */
    int (*source_ended)(sg_session_t *s, void *state, void *sstate, int how);
} sg_provider_t;

/* The one symbol a plugin exports. */
typedef const sg_provider_t *(*sg_plugin_entry_pt)(void);

#define SG_PROVIDER_HEADER \
    .abi_major = SG_ABI_MAJOR, .abi_minor = SG_ABI_MINOR, .size = sizeof(sg_provider_t)

/* Define the entry symbol: SG_PLUGIN_DEFINE(4gtv, my_table) exports
 * sg_4gtv_plugin_entry() returning &my_table. */
#define SG_PLUGIN_DEFINE(ident, table)                                          \
    SG_EXPORT const sg_provider_t *sg_##ident##_plugin_entry(void);             \
    SG_EXPORT const sg_provider_t *sg_##ident##_plugin_entry(void)              \
    {                                                                           \
        return &(table);                                                        \
    }

#endif /* SG_PLUGIN_H */
