/*
 * plugins/ustream: ustream recorded-stream downloader (CLI and daemon jobs).
 *
 * Not implemented yet: the plugin loads, declares no configuration keys and
 * publishes nothing, so a configuration can already list it.
 */
#include "sg/plugin.h"

static int
sg_ustream_init(sg_plugin_t *p, void *state, const sg_host_t *host)
{
    host->set_state(p, "not implemented yet");
    host->log(p, SG_LOG_NOTICE, "the ustream downloader is not implemented yet; nothing is published");
    return SG_OK;
}

static const sg_provider_t sg_ustream_provider = {
    SG_PROVIDER_HEADER,
    .name = "ustream",
    .version = "0.0.0",
    .summary = "ustream recorded-stream downloader (CLI and daemon jobs)",
    .init = sg_ustream_init,
};

SG_PLUGIN_DEFINE(ustream, sg_ustream_provider)
