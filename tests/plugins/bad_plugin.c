/*
 * Plugins the loader must refuse, built from this one file with -D flags:
 *   badabi     ABI major + 1
 *   newminor   ABI minor + 1 (newer than the core)
 *   nosym      no entry symbol at all
 *   wrongname  the table names another plugin
 */
#include "sg/plugin.h"

#ifndef BAD_MAJOR
#define BAD_MAJOR SG_ABI_MAJOR
#endif
#ifndef BAD_MINOR
#define BAD_MINOR SG_ABI_MINOR
#endif

static const sg_provider_t bad_provider = {
    .abi_major = BAD_MAJOR,
    .abi_minor = BAD_MINOR,
    .size = sizeof(sg_provider_t),
    .name = BAD_NAME,
    .version = "0",
};

#ifdef BAD_NO_SYMBOL
SG_EXPORT const sg_provider_t *sg_something_else(void);
SG_EXPORT const sg_provider_t *
sg_something_else(void)
{
    return &bad_provider;
}
#else
#define BAD_DEFINE(ident) SG_PLUGIN_DEFINE(ident, bad_provider)
BAD_DEFINE(BAD_IDENT)
#endif
