/*
 * plugins/hls_pvr: HLS archive with interval playlists, coverage metadata and AES-128 encryption.
 *
 * Not implemented yet: the plugin loads, declares no configuration keys and
 * publishes nothing, so a configuration can already list it.
 */
#include "sg/plugin.h"

static int
sg_hls_pvr_init(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    host->set_state(p, "not implemented yet");
    host->log(p, SG_LOG_NOTICE, "the HLS archive is not implemented yet; nothing is published");
    return SG_OK;
}

static const sg_provider_t sg_hls_pvr_provider = {
    SG_PROVIDER_HEADER,
    .name = "hls_pvr",
    .version = "0.0.0",
    .summary = "HLS archive with interval playlists, coverage metadata and AES-128 encryption",
    .init = sg_hls_pvr_init,
};

SG_PLUGIN_DEFINE(hls_pvr, sg_hls_pvr_provider)
