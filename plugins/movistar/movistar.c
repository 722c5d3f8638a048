/*
 * plugins/movistar: Movistar Spain IPTV: multicast live, 7-day catchup over RTSP, cloud recordings.
 *
 * Not implemented yet: the plugin loads, declares no configuration keys and
 * publishes nothing, so a configuration can already list it.
 */
#include "sg/plugin.h"

static int
sg_movistar_init(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    host->set_state(p, "not implemented yet");
    host->log(p, SG_LOG_NOTICE, "Movistar IPTV is not implemented yet; nothing is published");
    return SG_OK;
}

static const sg_provider_t sg_movistar_provider = {
    SG_PROVIDER_HEADER,
    .name = "movistar",
    .version = "0.0.0",
    .summary = "Movistar Spain IPTV: multicast live, 7-day catchup over RTSP, cloud recordings",
    .init = sg_movistar_init,
};

SG_PLUGIN_DEFINE(movistar, sg_movistar_provider)
