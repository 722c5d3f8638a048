/* XMLTV writer (libxml2 xmlTextWriter), run on the catalog worker thread. */
#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlwriter.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "sg_catalog.h"
#include "sg_config.h"
#include "util/sg_log.h"
#include "util/sg_util.h"

void
sg_xmltv_time(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y%m%d%H%M%S +0000", &tm);
}

static const char *
sg_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* A path on this server ("/Logos/1.png") becomes an absolute URL. */
static int
sg_xml_icon(xmlTextWriterPtr w, const char *base, const char *src)
{
    char url[2048];
    if (src == NULL || *src == '\0') return 0;
    snprintf(url, sizeof(url), "%s%s", src[0] == '/' ? base : "", src);
    if (xmlTextWriterStartElement(w, BAD_CAST "icon") < 0) return -1;
    if (xmlTextWriterWriteAttribute(w, BAD_CAST "src", BAD_CAST url) < 0) return -1;
    return xmlTextWriterEndElement(w) < 0 ? -1 : 0;
}

static int
sg_xml_text(xmlTextWriterPtr w, const char *el, const char *text)
{
    if (text == NULL || *text == '\0') return 0;
    return xmlTextWriterWriteElement(w, BAD_CAST el, BAD_CAST text) < 0 ? -1 : 0;
}

/* "<role>:<name>" lines as <credits>, roles in the DTD's order. */
static int
sg_xml_credits(xmlTextWriterPtr w, const char *credits)
{
    static const char *const roles[] = {"director", "actor", "writer", "adapter", "producer",
                                        "composer", "editor", "presenter", "commentator", "guest"};
    int open = 0;

    if (credits == NULL || *credits == '\0') return 0;
    for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
        size_t rl = strlen(roles[r]);
        for (const char *l = credits; *l;) {
            size_t n = strcspn(l, "\n");
            if (n > rl + 1 && strncmp(l, roles[r], rl) == 0 && l[rl] == ':') {
                if (!open && xmlTextWriterStartElement(w, BAD_CAST "credits") < 0) return -1;
                open = 1;
                if (xmlTextWriterStartElement(w, BAD_CAST roles[r]) < 0 ||
                    xmlTextWriterWriteFormatString(w, "%.*s", (int)(n - rl - 1), l + rl + 1) < 0 ||
                    xmlTextWriterEndElement(w) < 0) {
                    return -1;
                }
            }
            l += n;
            if (*l == '\n') l++;
        }
    }
    return open && xmlTextWriterEndElement(w) < 0 ? -1 : 0;
}

static int
sg_xmltv_programmes(xmlTextWriterPtr w, sqlite3 *db, sqlite3_stmt *st, const char *base,
                    const char *tvg_id, size_t *count)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char start[32], stop[32], num[64];
        int season = sqlite3_column_int(st, 6), episode = sqlite3_column_int(st, 7);
        int year = sqlite3_column_int(st, 8), age = sqlite3_column_int(st, 10);

        sg_xmltv_time(sqlite3_column_int64(st, 0), start, sizeof(start));
        sg_xmltv_time(sqlite3_column_int64(st, 1), stop, sizeof(stop));
        if (xmlTextWriterStartElement(w, BAD_CAST "programme") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "start", BAD_CAST start) < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "stop", BAD_CAST stop) < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "channel", BAD_CAST tvg_id) < 0) {
            return -1;
        }
        /* DTD order: title, sub-title, desc, credits, date, category,
         * icon, episode-num, rating. */
        if (xmlTextWriterWriteElement(w, BAD_CAST "title", BAD_CAST sg_col(st, 2)) < 0 ||
            sg_xml_text(w, "sub-title", sg_col(st, 3)) < 0 ||
            sg_xml_text(w, "desc", sg_col(st, 4)) < 0 || sg_xml_credits(w, sg_col(st, 12)) < 0) {
            return -1;
        }
        if (year > 0) {
            snprintf(num, sizeof(num), "%d", year);
            if (sg_xml_text(w, "date", num) < 0) return -1;
        }
        if (sg_xml_text(w, "category", sg_col(st, 9)) < 0 ||
            sg_xml_icon(w, base, sg_col(st, 11)) < 0) {
            return -1;
        }
        if (season > 0 || episode > 0) {
            /* xmltv_ns counts from zero: S2E5 is "1.4." */
            char s[16] = "", e[16] = "";
            if (season > 0) snprintf(s, sizeof(s), "%d", season - 1);
            if (episode > 0) snprintf(e, sizeof(e), "%d", episode - 1);
            snprintf(num, sizeof(num), "%s.%s.", s, e);
            if (xmlTextWriterStartElement(w, BAD_CAST "episode-num") < 0 ||
                xmlTextWriterWriteAttribute(w, BAD_CAST "system", BAD_CAST "xmltv_ns") < 0 ||
                xmlTextWriterWriteString(w, BAD_CAST num) < 0 || xmlTextWriterEndElement(w) < 0) {
                return -1;
            }
        }
        if (age > 0) {
            snprintf(num, sizeof(num), "%d", age);
            if (xmlTextWriterStartElement(w, BAD_CAST "rating") < 0 ||
                sg_xml_text(w, "value", num) < 0 || xmlTextWriterEndElement(w) < 0) {
                return -1;
            }
        }
        if (xmlTextWriterEndElement(w) < 0) return -1;
        (*count)++;
    }
    if (rc != SQLITE_DONE) {
        sg_log(SG_LOG_ERR, "catalog", "guide: reading programmes: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Compress the file at fd into out_fd (gzip), computing the CRC-32 of the
 * uncompressed bytes on the way. Streaming: memory stays flat. */
static int
sg_gzip_fd(int in_fd, int out_fd, uLong *crc)
{
    unsigned char in[65536], out[65536];
    z_stream z;
    int flush, rc = -1;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    *crc = crc32(0L, Z_NULL, 0);
    if (lseek(in_fd, 0, SEEK_SET) != 0) goto out;
    do {
        ssize_t n = read(in_fd, in, sizeof(in));
        if (n < 0) goto out;
        *crc = crc32(*crc, in, (uInt)n);
        flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = in;
        z.avail_in = (uInt)n;
        do {
            size_t have;
            z.next_out = out;
            z.avail_out = sizeof(out);
            if (deflate(&z, flush) == Z_STREAM_ERROR) goto out;
            have = sizeof(out) - z.avail_out;
            for (size_t off = 0; off < have;) {
                ssize_t w = write(out_fd, out + off, have - off);
                if (w < 0) goto out;
                off += (size_t)w;
            }
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    rc = 0;
out:
    deflateEnd(&z);
    return rc;
}

int
sg_xmltv_render(void *dbv, const char *base, const char *dir, int kind, sg_guide_t *g)
{
    int cloud = kind == SG_GUIDE_CLOUD;
    const char *name = cloud ? "cloud.xml" : "guide.xml";
    sqlite3 *db = dbv;
    xmlTextWriterPtr w = NULL;
    sqlite3_stmt *chans = NULL, *progs = NULL;
    char now[32], xml_tmp[PATH_MAX], gz_tmp[PATH_MAX], xml_path[PATH_MAX], gz_path[PATH_MAX];
    char sql_chans[300], sql_progs[300];
    uint64_t t0 = sg_mono_us();
    int rc = -1, step, in_txn = 0;
    struct stat st;
    uLong crc;

    snprintf(xml_tmp, sizeof(xml_tmp), "%s/%s.tmp", dir, name);
    snprintf(gz_tmp, sizeof(gz_tmp), "%s/%s.gz.tmp", dir, name);
    snprintf(xml_path, sizeof(xml_path), "%s/%s", dir, name);
    snprintf(gz_path, sizeof(gz_path), "%s/%s.gz", dir, name);

    w = xmlNewTextWriterFilename(xml_tmp, 0);
    if (w == NULL) {
        sg_log(SG_LOG_ERR, "catalog", "guide: cannot write %s", xml_tmp);
        goto out;
    }
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");

    /* The cloud guide: the channels with recordings, and those. */
    snprintf(sql_chans, sizeof(sql_chans),
             "SELECT cid, coalesce(tvg_id, id), name, logo FROM channels WHERE active=1%s"
             " ORDER BY number=0, number, name COLLATE NOCASE, id",
             cloud ? " AND cid IN (SELECT cid FROM cloud)" : "");
    snprintf(sql_progs, sizeof(sql_progs),
             "SELECT start, stop, title, sub_title, description, series, season, episode, year,"
             " genre, age_rating, icon, credits FROM %s WHERE cid=? ORDER BY start",
             cloud ? "cloud" : "programmes");
    if (sqlite3_prepare_v2(db, sql_chans, -1, &chans, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_progs, -1, &progs, NULL) != SQLITE_OK) {
        sg_log(SG_LOG_ERR, "catalog", "guide: %s", sqlite3_errmsg(db));
        goto out;
    }
    /* One read transaction: channels and programmes from the same state. */
    in_txn = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;

    g->generated = (int64_t)time(NULL);
    sg_xmltv_time(g->generated, now, sizeof(now));
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterWriteDTD(w, BAD_CAST "tv", NULL, BAD_CAST "xmltv.dtd", NULL) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "tv") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "date", BAD_CAST now) < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "source-info-name", BAD_CAST "streamgate") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "generator-info-name",
                                    BAD_CAST "streamgate/" SG_VERSION) < 0) {
        goto out;
    }
    while ((step = sqlite3_step(chans)) == SQLITE_ROW) {
        if (xmlTextWriterStartElement(w, BAD_CAST "channel") < 0 ||
            xmlTextWriterWriteAttribute(w, BAD_CAST "id", BAD_CAST sg_col(chans, 1)) < 0 ||
            xmlTextWriterWriteElement(w, BAD_CAST "display-name", BAD_CAST sg_col(chans, 2)) < 0 ||
            sg_xml_icon(w, base, sg_col(chans, 3)) < 0 || xmlTextWriterEndElement(w) < 0) {
            goto out;
        }
    }
    if (step != SQLITE_DONE) goto out;
    sqlite3_reset(chans);
    while ((step = sqlite3_step(chans)) == SQLITE_ROW) {
        sqlite3_reset(progs);
        sqlite3_bind_int64(progs, 1, sqlite3_column_int64(chans, 0));
        if (sg_xmltv_programmes(w, db, progs, base, sg_col(chans, 1), &g->programmes) != 0) {
            goto out;
        }
    }
    if (step != SQLITE_DONE) goto out;
    if (xmlTextWriterEndDocument(w) < 0) goto out;
    xmlFreeTextWriter(w); /* flushes and closes the file */
    w = NULL;

    /* Open the new files before renaming them: the fds keep this version
     * even when the next render replaces the names. */
    g->xml_fd = open(xml_tmp, O_RDONLY | O_CLOEXEC);
    g->gz_fd = open(gz_tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (g->xml_fd < 0 || g->gz_fd < 0) {
        sg_log(SG_LOG_ERR, "catalog", "guide: cannot open %s: %s", g->xml_fd < 0 ? xml_tmp : gz_tmp,
               strerror(errno));
        goto out;
    }
    if (sg_gzip_fd(g->xml_fd, g->gz_fd, &crc) != 0) {
        sg_log(SG_LOG_ERR, "catalog", "guide: cannot write %s: %s", gz_tmp, strerror(errno));
        goto out;
    }
    if (fstat(g->xml_fd, &st) != 0) goto out;
    g->xml_len = (int64_t)st.st_size;
    if (fstat(g->gz_fd, &st) != 0) goto out;
    g->gz_len = (int64_t)st.st_size;
    if (rename(xml_tmp, xml_path) != 0 || rename(gz_tmp, gz_path) != 0) {
        sg_log(SG_LOG_ERR, "catalog", "guide: cannot rename into %s: %s", dir, strerror(errno));
        goto out;
    }
    snprintf(g->etag, sizeof(g->etag), "\"%08lx-%llx\"", (unsigned long)crc,
             (unsigned long long)g->xml_len);
    snprintf(g->etag_gz, sizeof(g->etag_gz), "\"%08lx-%llx-gz\"", (unsigned long)crc,
             (unsigned long long)g->xml_len);
    g->render_ms = (double)(sg_mono_us() - t0) / 1000.0;
    rc = 0;

out:
    if (in_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != 0) {
        sg_log(SG_LOG_ERR, "catalog", "guide rendering failed; the previous guide stays in use");
        unlink(xml_tmp);
        unlink(gz_tmp);
    }
    sqlite3_finalize(chans);
    sqlite3_finalize(progs);
    if (w) xmlFreeTextWriter(w);
    return rc;
}
