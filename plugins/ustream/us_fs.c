/*
 * plugins/ustream: folder helpers. See us_fs.h.
 */
#include "us_fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
us_mkdirs(const char *path)
{
    char p[4096];
    if ((size_t)snprintf(p, sizeof(p), "%s", path) >= sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void
us_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d == NULL) return;
    while ((de = readdir(d)) != NULL) {
        char p[4400];
        struct stat sb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p)) continue;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            us_rmtree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}
