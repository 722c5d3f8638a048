/*
 * plugins/4gtv: 4gtv: buffered HLS relay with computed playlists and a shared segment cache.
 *
 * Not implemented yet: the plugin loads, declares no configuration keys and
 * publishes nothing, so a configuration can already list it.
 */
#include "sg/plugin.h"

static int
sg_4gtv_init(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    host->set_state(p, "not implemented yet");
    host->log(p, SG_LOG_NOTICE, "4gtv is not implemented yet; nothing is published");
    return SG_OK;
}

static const sg_provider_t sg_4gtv_provider = {
    SG_PROVIDER_HEADER,
    .name = "4gtv",
    .version = "0.0.0",
    .summary = "4gtv: buffered HLS relay with computed playlists and a shared segment cache",
    .init = sg_4gtv_init,
};

SG_PLUGIN_DEFINE(4gtv, sg_4gtv_provider)
