/* Logging: one line per event, "<UTC time> [level] subsystem: message". */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "sg/host.h" /* SG_LOG_* levels, SG_PRINTF */

#define SG_LOG_LEVELS 8

void sg_log(int level, const char *subsys, const char *fmt, ...) SG_PRINTF(3, 4);
void sg_logv(int level, const char *subsys, const char *fmt, va_list ap);
int sg_log_enabled(int level);
void sg_log_set_level(int level);
int sg_log_level(void);

/* Name <-> level ("emerg" .. "debug"); -1 for an unknown name. */
int sg_log_level_parse(const char *name);
const char *sg_log_level_name(int level);

/* Log to a file (appended) instead of stderr; NULL or "" = stderr.
 * Returns 0, or -1 with errno set. sg_log_reopen() reopens the same file
 * (SIGHUP, after rotation). */
int sg_log_open(const char *path);
int sg_log_reopen(void);
void sg_log_close(void);

/* Lines written per level since start (for metrics). */
uint64_t sg_log_count(int level);

#define sg_log_error(sub, ...) sg_log(SG_LOG_ERR, sub, __VA_ARGS__)
#define sg_log_warn(sub, ...) sg_log(SG_LOG_WARN, sub, __VA_ARGS__)
#define sg_log_notice(sub, ...) sg_log(SG_LOG_NOTICE, sub, __VA_ARGS__)
#define sg_log_info(sub, ...) sg_log(SG_LOG_INFO, sub, __VA_ARGS__)
#define sg_log_debug(sub, ...)                                                 \
    do {                                                                       \
        if (sg_log_enabled(SG_LOG_DEBUG)) sg_log(SG_LOG_DEBUG, sub, __VA_ARGS__); \
    } while (0)

#endif
