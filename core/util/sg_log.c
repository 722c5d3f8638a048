#include "sg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const sg_log_names[SG_LOG_LEVELS] = {
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
};

static int sg_log_threshold = SG_LOG_INFO;
static int sg_log_fd = STDERR_FILENO;
static char *sg_log_path;
static uint64_t sg_log_counts[SG_LOG_LEVELS];
/* Worker threads log too; one mutex keeps lines whole and counts exact. */
static pthread_mutex_t sg_log_mutex = PTHREAD_MUTEX_INITIALIZER;

int
sg_log_level_parse(const char *name)
{
    for (int i = 0; i < SG_LOG_LEVELS; i++) {
        if (strcmp(name, sg_log_names[i]) == 0) return i;
    }
    if (strcmp(name, "error") == 0) return SG_LOG_ERR;
    if (strcmp(name, "warning") == 0) return SG_LOG_WARN;
    return -1;
}

const char *
sg_log_level_name(int level)
{
    if (level < 0 || level >= SG_LOG_LEVELS) return "?";
    return sg_log_names[level];
}

void
sg_log_set_level(int level)
{
    sg_log_threshold = level;
}

int
sg_log_level(void)
{
    return sg_log_threshold;
}

int
sg_log_enabled(int level)
{
    return level <= sg_log_threshold;
}

uint64_t
sg_log_count(int level)
{
    uint64_t n;
    if (level < 0 || level >= SG_LOG_LEVELS) return 0;
    pthread_mutex_lock(&sg_log_mutex);
    n = sg_log_counts[level];
    pthread_mutex_unlock(&sg_log_mutex);
    return n;
}

static int
sg_log_open_fd(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
sg_log_open(const char *path)
{
    int fd;
    char *copy;

    if (path == NULL || path[0] == '\0') {
        sg_log_close();
        return 0;
    }
    fd = sg_log_open_fd(path);
    if (fd < 0) return -1;
    copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_lock(&sg_log_mutex);
    if (sg_log_fd != STDERR_FILENO) close(sg_log_fd);
    free(sg_log_path);
    sg_log_fd = fd;
    sg_log_path = copy;
    pthread_mutex_unlock(&sg_log_mutex);
    return 0;
}

int
sg_log_reopen(void)
{
    int fd, rc = 0;

    pthread_mutex_lock(&sg_log_mutex);
    if (sg_log_path != NULL) {
        fd = sg_log_open_fd(sg_log_path);
        if (fd < 0) {
            rc = -1; /* keep writing to the old file */
        } else {
            close(sg_log_fd);
            sg_log_fd = fd;
        }
    }
    pthread_mutex_unlock(&sg_log_mutex);
    return rc;
}

void
sg_log_close(void)
{
    pthread_mutex_lock(&sg_log_mutex);
    if (sg_log_fd != STDERR_FILENO) close(sg_log_fd);
    sg_log_fd = STDERR_FILENO;
    free(sg_log_path);
    sg_log_path = NULL;
    pthread_mutex_unlock(&sg_log_mutex);
}

void
sg_logv(int level, const char *subsys, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (level < 0) level = 0;
    if (level >= SG_LOG_LEVELS) level = SG_LOG_LEVELS - 1;
    if (level > sg_log_threshold) {
        pthread_mutex_lock(&sg_log_mutex);
        sg_log_counts[level]++;
        pthread_mutex_unlock(&sg_log_mutex);
        return;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] %s: ", ts.tv_nsec / 1000000L,
                 sg_log_names[level], subsys ? subsys : "core");
    if (r > 0) n += (size_t)r;
    if (n < sizeof(line)) {
        r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        if (r > 0) n += (size_t)r;
    }
    if (n >= sizeof(line) - 1) {
        n = sizeof(line) - 2;
        memcpy(line + n - 3, "...", 3); /* mark the cut */
    }
    /* One line, no embedded newlines from upstream text. */
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    }
    line[n++] = '\n';

    pthread_mutex_lock(&sg_log_mutex);
    sg_log_counts[level]++;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(sg_log_fd, line + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&sg_log_mutex);
}

void
sg_log(int level, const char *subsys, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_logv(level, subsys, fmt, ap);
    va_end(ap);
}
