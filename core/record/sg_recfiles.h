/* The recordings folder over HTTP: /recordings.m3u, /recording/<path>. */
#ifndef SG_RECFILES_H
#define SG_RECFILES_H

#include "sg_daemon.h"

/* Registers the routes (they answer 404 while recordings.dir is empty). */
int sg_recfiles_routes(sg_daemon_t *d);

#endif
