#ifndef SG_ROUTES_H
#define SG_ROUTES_H

#include "sg_daemon.h"

/* Register the daemon's routes and metrics on d->http. */
int sg_routes_setup(sg_daemon_t *d);
/* SIGHUP and POST /api/reload (core/main.c). */
void sg_daemon_reload(sg_daemon_t *d, const char *why);

#endif
