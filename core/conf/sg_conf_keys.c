/* The core's configuration keys. etc/streamgate.conf documents each one with
 * its default; README's config reference is generated from the same facts. */
#include "sg_conf.h"
#include "sg_config.h"

static const char *const sg_log_level_choices[] = {
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", NULL,
};

static const sg_conf_key_t sg_server_keys[] = {
    {.name = "listen", .type = SG_CONF_STRING_LIST, .def = "0.0.0.0:8888",
     .help = "addresses to listen on, \"ip:port\" or \"[ipv6]:port\"; port 0 picks a free one"},
    {.name = "public_url", .type = SG_CONF_STRING, .def = "",
     .help = "base URL written into playlists; empty: from the request's Host header"},
    {.name = "state_dir", .type = SG_CONF_STRING, .flags = SG_CONF_DIR, .def = "/var/lib/streamgate",
     .help = "catalog database, plugin state"},
    {.name = "log_level", .type = SG_CONF_STRING, .def = "info", .choices = sg_log_level_choices},
    {.name = "log_file", .type = SG_CONF_STRING, .def = "", .help = "empty: standard error"},
    {.name = "access_log", .type = SG_CONF_BOOL, .def = "true",
     .help = "one info line per HTTP request"},
    {.name = "allow", .type = SG_CONF_STRING_LIST, .def = "",
     .help = "client networks allowed (CIDR); empty: everyone"},
    {.name = "admin_token", .type = SG_CONF_STRING, .flags = SG_CONF_SECRET, .def = "",
     .help = "required by mutating endpoints when set"},
    {.name = "timezone", .type = SG_CONF_STRING, .def = "",
     .help = "zone for YYYYMMDDHHMM[SS] catchup times, e.g. \"Europe/Madrid\"; empty: the system's"},
    {.name = "request_timeout", .type = SG_CONF_INT, .def = "10", .min = 1, .max = 3600,
     .help = "seconds a client may take to send a whole request head"},
    {.name = "keepalive_timeout", .type = SG_CONF_INT, .def = "15", .min = 0, .max = 3600,
     .help = "seconds an idle keep-alive connection stays open; 0 disables keep-alive"},
    {.name = "max_connections", .type = SG_CONF_INT, .def = "10000", .min = 16, .max = 1000000},
    {.name = "udpxy_routes", .type = SG_CONF_BOOL, .def = "true",
     .help = "serve udpxy's /udp/[src@]group:port and /rtp/... for any multicast group"},
    {.name = NULL},
};

static const char *const sg_slow_choices[] = {"drop", "resync", NULL};

static const sg_conf_key_t sg_live_keys[] = {
    {.name = "iface", .type = SG_CONF_STRING, .def = "",
     .help = "interface (name or address) to join multicast on; empty: the route's"},
    {.name = "ring_seconds", .type = SG_CONF_FLOAT, .def = "4", .min = 1, .max = 60,
     .help = "seconds of each source kept in memory (fast start, slow clients)"},
    {.name = "linger_ms", .type = SG_CONF_INT, .def = "2000", .min = 0, .max = 600000,
     .help = "keep a source joined this long after its last client left"},
    {.name = "source_timeout", .type = SG_CONF_INT, .def = "5", .min = 1, .max = 3600,
     .help = "seconds without data before a source's clients are ended"},
    {.name = "rejoin_interval", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 86400,
     .help = "re-send the IGMP join every N seconds (for forgetful snooping); 0: never"},
    {.name = "start_behind_live_ms", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 30000,
     .help = "start new clients at a keyframe at least this far behind live"},
    {.name = "slow_client", .type = SG_CONF_STRING, .def = "drop", .choices = sg_slow_choices,
     .help = "a client that falls a whole ring behind is dropped, or resynchronised at a keyframe"},
    {.name = "batch_kbytes", .type = SG_CONF_INT, .def = "64", .min = 1, .max = 1024,
     .help = "send to clients when this much is pending"},
    {.name = "batch_ms", .type = SG_CONF_INT, .def = "50", .min = 1, .max = 1000,
     .help = "or when this long has passed"},
    {.name = "rcvbuf_kbytes", .type = SG_CONF_INT, .def = "4096", .min = 64, .max = 262144,
     .help = "UDP receive buffer per source"},
    {.name = NULL},
};

static const sg_conf_key_t sg_admission_keys[] = {
    {.name = "max_clients", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 1000000,
     .help = "concurrent stream clients; 0: unlimited"},
    {.name = "max_sources", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 100000,
     .help = "live sources open at once; 0: unlimited"},
    {.name = "max_kbps", .type = SG_CONF_INT, .def = "0", .min = 0, .max = 1000000000,
     .help = "kbit/s of sources at once (measured bitrates, or iface's rx rate); 0: unlimited"},
    {.name = "iface", .type = SG_CONF_STRING, .def = "",
     .help = "measure max_kbps on this interface's rx counter instead"},
    {.name = NULL},
};

static const sg_conf_key_t sg_recordings_keys[] = {
    {.name = "dir", .type = SG_CONF_STRING, .flags = SG_CONF_DIR, .def = "",
     .help = "recordings folder, created when missing; empty: none"},
    {.name = "max_concurrent", .type = SG_CONF_INT, .def = "4", .min = 1, .max = 64,
     .help = "recordings made at once"},
    {.name = "short_tolerance", .type = SG_CONF_INT, .def = "30", .min = 0, .max = 3600,
     .help = "seconds a recording may fall short of what was asked and still count"},
    {.name = "mp4", .type = SG_CONF_BOOL, .def = "false",
     .help = "MP4 (faststart) instead of Matroska by default"},
    {.name = "vo", .type = SG_CONF_BOOL, .def = "false",
     .help = "the second audio track first by default (original version)"},
    {.name = "per_channel", .type = SG_CONF_BOOL, .def = "false",
     .help = "a \"NNN. Channel\" folder per channel"},
    {.name = NULL},
};

static const sg_conf_key_t sg_timers_keys[] = {
    {.name = "script", .type = SG_CONF_STRING, .flags = SG_CONF_FILE, .def = "",
     .help = "Lua timer rules; empty: no timers"},
    {.name = NULL},
};

static const char *const sg_cache_backends[] = {"memory", "redis", NULL};

static const sg_conf_key_t sg_cache_keys[] = {
    {.name = "backend", .type = SG_CONF_STRING, .def = "memory", .choices = sg_cache_backends,
     .help = "memory: this node's; redis: shared by the nodes using one Redis server"},
    {.name = "redis", .type = SG_CONF_STRING, .def = "",
     .help = "the Redis server: \"unix:/path\" or \"host:port\""},
    {.name = "memory_mb", .type = SG_CONF_INT, .def = "256", .min = 1, .max = 65536,
     .help = "the segment cache's memory bound (HLS relays), MiB"},
    {.name = NULL},
};

static const sg_conf_key_t sg_catalog_keys[] = {
    {.name = "retention_days", .type = SG_CONF_INT, .def = "8", .min = 1, .max = 3660,
     .help = "days of past programmes kept"},
    {.name = NULL},
};

const sg_conf_key_t sg_conf_root_keys[] = {
    {.name = "server", .type = SG_CONF_GROUP, .sub = sg_server_keys},
    {.name = "admission", .type = SG_CONF_GROUP, .sub = sg_admission_keys},
    {.name = "live", .type = SG_CONF_GROUP, .sub = sg_live_keys},
    {.name = "recordings", .type = SG_CONF_GROUP, .sub = sg_recordings_keys},
    {.name = "timers", .type = SG_CONF_GROUP, .sub = sg_timers_keys},
    {.name = "catalog", .type = SG_CONF_GROUP, .sub = sg_catalog_keys},
    {.name = "cache", .type = SG_CONF_GROUP, .sub = sg_cache_keys},
    {.name = "plugin_dir", .type = SG_CONF_STRING, .def = "",
     .help = "where <name>.so plugins are; empty: the build tree or " SG_PLUGIN_DIR},
    /* Elements are validated by the plugin loader against each plugin's keys. */
    {.name = "plugins", .type = SG_CONF_GROUP_LIST, .sub = NULL},
    {.name = NULL},
};

const sg_conf_key_t sg_conf_plugin_entry_keys[] = {
    {.name = "name", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED,
     .help = "the plugin to load: <plugin_dir>/<name>.so"},
    {.name = "path", .type = SG_CONF_STRING, .def = "",
     .help = "load the plugin from this file instead"},
    {.name = NULL},
};
