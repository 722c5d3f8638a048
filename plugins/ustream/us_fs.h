/*
 * plugins/ustream: the folder helpers the downloader and the job runner
 * share (work folders, output folders).
 */
#ifndef US_FS_H
#define US_FS_H

/* mkdir -p: 0, or -1 with errno. */
int us_mkdirs(const char *path);
/* rm -r of a folder (symlinks removed, never followed); errors ignored. */
void us_rmtree(const char *dir);

#endif
