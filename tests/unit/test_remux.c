/* The recorder's engine: streams made by the ffmpeg tool (MPEG-2 video, two
 * MP2 tracks with languages, like a Movistar channel; one with a DVB
 * subtitle track added) remuxed to Matroska and MP4 (with the subtitles in
 * a side file), and the results read back with libavformat. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record/sg_remux.h"
#include "sg_test.h"

static char g_dir[64];
static char g_src[128];

typedef struct {
    FILE *f;
    long limit; /* bytes handed out at most, -1 = all */
    long done;
    int fail_at; /* return an error once this many bytes went, 0 = never */
} src_t;

static int
src_read(void *arg, uint8_t *buf, int size)
{
    src_t *s = arg;
    size_t n;
    if (s->fail_at && s->done >= s->fail_at) return -1;
    if (s->limit >= 0 && s->done + size > s->limit) size = (int)(s->limit - s->done);
    if (size <= 0) return 0;
    n = fread(buf, 1, (size_t)size, s->f);
    s->done += (long)n;
    return (int)n;
}

/* Remux g_src (its first limit bytes) into dir/name. */
static int
remux(const char *name, long limit, int fail_at, sg_remux_opts_t o, sg_remux_result_t *res,
      char *out, size_t outlen)
{
    src_t s = {fopen(g_src, "rb"), limit, 0, fail_at};
    int rc;
    snprintf(out, outlen, "%s/%s", g_dir, name);
    o.out_path = out;
    if (s.f == NULL) {
        SG_FAIL("cannot open %s", g_src);
        return -2;
    }
    rc = sg_remux_run(src_read, &s, &o, res);
    fclose(s.f);
    return rc;
}

typedef struct {
    int streams;
    enum AVCodecID codec[8];
    char lang[8][8];
    int def[8];
    double duration;
    char title[64];
} probe_t;

static int
probe(const char *path, probe_t *p)
{
    AVFormatContext *c = NULL;
    const AVDictionaryEntry *t;
    memset(p, 0, sizeof(*p));
    if (avformat_open_input(&c, path, NULL, NULL) < 0 || avformat_find_stream_info(c, NULL) < 0) {
        SG_FAIL("libavformat cannot read %s", path);
        avformat_close_input(&c);
        return -1;
    }
    p->streams = (int)c->nb_streams;
    for (unsigned i = 0; i < c->nb_streams && i < 8; i++) {
        const AVDictionaryEntry *l = av_dict_get(c->streams[i]->metadata, "language", NULL, 0);
        p->codec[i] = c->streams[i]->codecpar->codec_id;
        snprintf(p->lang[i], sizeof(p->lang[i]), "%s", l ? l->value : "");
        p->def[i] = (c->streams[i]->disposition & AV_DISPOSITION_DEFAULT) != 0;
    }
    p->duration = c->duration > 0 ? (double)c->duration / AV_TIME_BASE : 0;
    t = av_dict_get(c->metadata, "title", NULL, 0);
    snprintf(p->title, sizeof(p->title), "%s", t ? t->value : "");
    avformat_close_input(&c);
    return 0;
}

static void
test_mkv(void)
{
    sg_remux_opts_t o = {.title = "Informe semanal", .channel = "La 1", .date = "2026-11-20",
                         .series = "Informe", .season = 2, .episode = 5};
    sg_remux_result_t res;
    char out[160];
    probe_t p;

    CHECK_INT(remux("a.mkv", -1, 0, o, &res, out, sizeof(out)), 0);
    CHECK_STR(res.error, "");
    CHECK_INT(res.video, 1);
    CHECK_INT(res.audio, 2);
    CHECK_INT(res.transcoded, 2);
    CHECK(res.duration > 5.8 && res.duration < 6.3);
    if (probe(out, &p) != 0) return;
    CHECK_INT(p.streams, 3);
    CHECK_INT(p.codec[0], AV_CODEC_ID_MPEG2VIDEO); /* copied */
    CHECK_INT(p.codec[1], AV_CODEC_ID_AAC);
    CHECK_INT(p.codec[2], AV_CODEC_ID_AAC);
    CHECK_STR(p.lang[1], "spa");
    CHECK_STR(p.lang[2], "eng");
    CHECK(p.def[1] && !p.def[2]);
    CHECK(p.duration > 5.8 && p.duration < 6.3);
    CHECK_STR(p.title, "Informe semanal");
}

/* A cover image rides along as a Matroska attachment. */
static void
test_cover(void)
{
    char cover[160], cmd[400], out[160];
    sg_remux_opts_t o = {0};
    sg_remux_result_t res;
    AVFormatContext *c = NULL;
    int found = 0;

    snprintf(cover, sizeof(cover), "%s/cover.jpg", g_dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -loglevel error -y -f lavfi -i smptebars=size=96x142 "
             "-frames:v 1 %s", cover);
    if (system(cmd) != 0) {
        SG_FAIL("the ffmpeg tool could not make a cover");
        return;
    }
    o.cover = cover;
    CHECK_INT(remux("cover.mkv", -1, 0, o, &res, out, sizeof(out)), 0);
    if (avformat_open_input(&c, out, NULL, NULL) < 0) {
        SG_FAIL("cannot read %s", out);
        return;
    }
    for (unsigned i = 0; i < c->nb_streams; i++) {
        const AVStream *st = c->streams[i];
        const AVDictionaryEntry *m = av_dict_get(st->metadata, "mimetype", NULL, 0);
        const AVDictionaryEntry *f = av_dict_get(st->metadata, "filename", NULL, 0);
        /* libavformat reads an image attachment back as an attached picture */
        if (m == NULL) continue;
        found++;
        CHECK_STR(m->value, "image/jpeg");
        CHECK(f && strcmp(f->value, "cover.jpg") == 0);
        CHECK(st->codecpar->codec_type == AVMEDIA_TYPE_ATTACHMENT ||
              (st->disposition & AV_DISPOSITION_ATTACHED_PIC));
    }
    CHECK_INT(found, 1);
    avformat_close_input(&c);
    /* a cover that is not there is left out, the recording is made */
    o.cover = "/nonexistent/cover.jpg";
    CHECK_INT(remux("nocover.mkv", -1, 0, o, &res, out, sizeof(out)), 0);
}

static void
test_vo(void)
{
    sg_remux_opts_t o = {.vo = 1};
    sg_remux_result_t res;
    char out[160];
    probe_t p;

    CHECK_INT(remux("vo.mkv", -1, 0, o, &res, out, sizeof(out)), 0);
    if (probe(out, &p) != 0) return;
    CHECK_INT(p.streams, 3);
    CHECK_STR(p.lang[1], "eng"); /* the second track first, and the default */
    CHECK_STR(p.lang[2], "spa");
    CHECK(p.def[1] && !p.def[2]);
}

static int
find(const char *path, const char *tag, long *at)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n;
    *at = -1;
    if (f == NULL) return -1;
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(buf + i, tag, 4) == 0) {
            *at = (long)i;
            return 0;
        }
    }
    return -1;
}

static void
test_mp4_cut(void)
{
    sg_remux_opts_t o = {.mp4 = 1, .max_seconds = 3.0};
    sg_remux_result_t res;
    char out[160];
    long moov, mdat;
    probe_t p;

    CHECK_INT(remux("cut.mp4", -1, 0, o, &res, out, sizeof(out)), 0);
    CHECK(res.duration > 2.8 && res.duration < 3.3);
    if (probe(out, &p) != 0) return;
    CHECK_INT(p.streams, 3);
    CHECK(p.duration > 2.8 && p.duration < 3.3);
    /* faststart: the index before the media */
    find(out, "moov", &moov);
    find(out, "mdat", &mdat);
    CHECK(moov > 0 && (mdat < 0 || moov < mdat));
}

static void
test_short_and_broken_input(void)
{
    sg_remux_opts_t o = {0};
    sg_remux_result_t res;
    char out[160];
    struct stat st;
    probe_t p;

    /* the stream stops at 60%: what came is a good file, shorter */
    if (stat(g_src, &st) != 0) return;
    CHECK_INT(remux("short.mkv", (long)st.st_size * 6 / 10, 0, o, &res, out, sizeof(out)), 0);
    CHECK(res.duration > 2.5 && res.duration < 4.5);
    if (probe(out, &p) == 0) CHECK_INT(p.streams, 3);
    /* the input fails half way: the file is still closed properly, and
     * the result says why it is short */
    CHECK_INT(remux("failed.mkv", -1, (int)(st.st_size / 2), o, &res, out, sizeof(out)), 0);
    CHECK(strstr(res.error, "input") != NULL);
    CHECK(res.duration > 1.0 && res.duration < 4.5);
    if (probe(out, &p) == 0) CHECK_INT(p.streams, 3);
    /* nothing usable at all */
    CHECK_INT(remux("empty.mkv", 0, 0, o, &res, out, sizeof(out)), -1);
    CHECK(res.error[0] != '\0');
}

static void
test_garbage(void)
{
    char path[160], out[160];
    sg_remux_opts_t o = {0};
    sg_remux_result_t res;
    FILE *f;
    src_t s;

    snprintf(path, sizeof(path), "%s/garbage.ts", g_dir);
    f = fopen(path, "wb");
    if (f == NULL) return;
    for (int i = 0; i < 200000; i++) fputc((i * 7919) & 0xff, f);
    fclose(f);
    s = (src_t){fopen(path, "rb"), -1, 0, 0};
    snprintf(out, sizeof(out), "%s/garbage.mkv", g_dir);
    o.out_path = out;
    CHECK_INT(sg_remux_run(src_read, &s, &o, &res), -1);
    fclose(s.f);
    CHECK(res.error[0] != '\0');
    /* an unwritable destination is an error too */
    s = (src_t){fopen(g_src, "rb"), -1, 0, 0};
    o.out_path = "/nonexistent-dir/x.mkv";
    CHECK_INT(sg_remux_run(src_read, &s, &o, &res), -1);
    fclose(s.f);
    CHECK(strstr(res.error, "/nonexistent-dir/x.mkv") != NULL);
}

/* The source played twice in a row (a looped source, a splice: time goes
 * back at the join): one continuous file of both. */
static void
test_discontinuity(void)
{
    char loop[160], out[160], buf[65536];
    sg_remux_opts_t o = {0};
    sg_remux_result_t res;
    FILE *in, *f;
    size_t n;
    src_t s;
    probe_t p;

    snprintf(loop, sizeof(loop), "%s/loop.ts", g_dir);
    f = fopen(loop, "wb");
    if (f == NULL) return;
    for (int k = 0; k < 2; k++) {
        in = fopen(g_src, "rb");
        if (in == NULL) break;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0) fwrite(buf, 1, n, f);
        fclose(in);
    }
    fclose(f);
    s = (src_t){fopen(loop, "rb"), -1, 0, 0};
    snprintf(out, sizeof(out), "%s/loop.mkv", g_dir);
    o.out_path = out;
    CHECK_INT(sg_remux_run(src_read, &s, &o, &res), 0);
    fclose(s.f);
    CHECK_STR(res.error, "");
    CHECK(res.duration > 11.5 && res.duration < 12.5);
    if (probe(out, &p) != 0) return;
    CHECK_INT(p.streams, 3);
    CHECK(p.duration > 11.5 && p.duration < 12.5);
}

/* ---- DVB subtitles and the MP4 side file --------------------------------- */

static char g_subsrc[128];

/* g_src with a DVB subtitle track (language spa) added: a small bitmap
 * subtitle 1, 2, ... 5 s after the start. The ffmpeg tool cannot make DVB
 * subtitles from text (only bitmap to bitmap), so libavcodec's dvbsub
 * encoder draws them and libavformat muxes them in with the copied tracks. */
static int
make_subs_src(void)
{
    static int made = 0;
    AVFormatContext *in = NULL, *out = NULL;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_DVB_SUBTITLE);
    AVCodecContext *enc = NULL;
    AVPacket *pkt = NULL, *spkt = NULL;
    AVStream *sst;
    uint8_t pixels[32 * 8];
    uint32_t palette[4] = {0x00000000, 0xffffffff, 0xff000000, 0xffff0000};
    AVSubtitleRect rect = {.x = 100, .y = 240, .w = 32, .h = 8, .nb_colors = 4,
                           .type = SUBTITLE_BITMAP};
    AVSubtitleRect *rects[1] = {&rect};
    int64_t base;
    int nsub = 0, ok = 0;
    unsigned nin;

    if (made) return 0;
    snprintf(g_subsrc, sizeof(g_subsrc), "%s/subs.ts", g_dir);
    pkt = av_packet_alloc();
    spkt = av_packet_alloc();
    if (codec == NULL || pkt == NULL || spkt == NULL) goto done;
    for (int i = 0; i < (int)sizeof(pixels); i++) pixels[i] = (uint8_t)((i / 4) % 4);
    rect.data[0] = pixels;
    rect.linesize[0] = 32;
    rect.data[1] = (uint8_t *)palette;
    if (avformat_open_input(&in, g_src, NULL, NULL) < 0 || avformat_find_stream_info(in, NULL) < 0 ||
        avformat_alloc_output_context2(&out, NULL, "mpegts", g_subsrc) < 0) {
        goto done;
    }
    nin = in->nb_streams;
    for (unsigned i = 0; i < nin; i++) {
        AVStream *st = avformat_new_stream(out, NULL);
        if (st == NULL || avcodec_parameters_copy(st->codecpar, in->streams[i]->codecpar) < 0) goto done;
        st->codecpar->codec_tag = 0;
        st->time_base = in->streams[i]->time_base;
        av_dict_copy(&st->metadata, in->streams[i]->metadata, 0);
    }
    enc = avcodec_alloc_context3(codec);
    if (enc == NULL) goto done;
    enc->time_base = (AVRational){1, 90000};
    enc->width = 352;
    enc->height = 288;
    if (avcodec_open2(enc, codec, NULL) < 0 || (sst = avformat_new_stream(out, NULL)) == NULL ||
        avcodec_parameters_from_context(sst->codecpar, enc) < 0) {
        goto done;
    }
    sst->time_base = (AVRational){1, 90000};
    av_dict_set(&sst->metadata, "language", "spa", 0);
    if (avio_open(&out->pb, g_subsrc, AVIO_FLAG_WRITE) < 0 || avformat_write_header(out, NULL) < 0) {
        goto done;
    }
    base = in->start_time != AV_NOPTS_VALUE ? in->start_time : 0;
    while (av_read_frame(in, pkt) >= 0) {
        AVStream *ist = in->streams[pkt->stream_index];
        int64_t t = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
        t = t != AV_NOPTS_VALUE ? av_rescale_q(t, ist->time_base, AV_TIME_BASE_Q) : base;
        while (nsub < 5 && base + (int64_t)(nsub + 1) * AV_TIME_BASE <= t) {
            AVSubtitle sub = {.format = 0, .start_display_time = 0, .end_display_time = 800,
                              .num_rects = 1, .rects = rects};
            int n;
            sub.pts = base + (int64_t)(nsub + 1) * AV_TIME_BASE;
            if (av_new_packet(spkt, 65536) < 0) goto done;
            n = avcodec_encode_subtitle(enc, spkt->data, spkt->size, &sub);
            if (n <= 0) goto done;
            av_shrink_packet(spkt, n);
            spkt->stream_index = sst->index;
            spkt->pts = spkt->dts = av_rescale_q(sub.pts, AV_TIME_BASE_Q, sst->time_base);
            spkt->duration = av_rescale_q(800000, AV_TIME_BASE_Q, sst->time_base);
            if (av_interleaved_write_frame(out, spkt) < 0) goto done;
            nsub++;
        }
        av_packet_rescale_ts(pkt, ist->time_base, out->streams[pkt->stream_index]->time_base);
        pkt->pos = -1;
        if (av_interleaved_write_frame(out, pkt) < 0) goto done;
    }
    ok = nsub == 5 && av_write_trailer(out) == 0;
done:
    if (out) {
        if (out->pb) avio_closep(&out->pb);
        avformat_free_context(out);
    }
    avformat_close_input(&in);
    avcodec_free_context(&enc);
    av_packet_free(&pkt);
    av_packet_free(&spkt);
    if (!ok) {
        SG_FAIL("cannot make a stream with DVB subtitles");
        return -1;
    }
    made = 1;
    return 0;
}

/* Remux the file src (not g_src) into dir/name. */
static int
remux_file(const char *src, const char *name, sg_remux_opts_t o, sg_remux_result_t *res,
           char *out, size_t outlen)
{
    src_t s = {fopen(src, "rb"), -1, 0, 0};
    int rc;
    snprintf(out, outlen, "%s/%s", g_dir, name);
    o.out_path = out;
    if (s.f == NULL) {
        SG_FAIL("cannot open %s", src);
        return -2;
    }
    rc = sg_remux_run(src_read, &s, &o, res);
    fclose(s.f);
    return rc;
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The subtitle packets of a file: how many, the first and the last time
 * (seconds). */
static int
sub_packets(const char *path, double *first, double *last)
{
    AVFormatContext *c = NULL;
    AVPacket *pkt = av_packet_alloc();
    int n = 0;
    *first = *last = -1;
    if (pkt == NULL || avformat_open_input(&c, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(c, NULL) < 0) {
        SG_FAIL("libavformat cannot read %s", path);
        avformat_close_input(&c);
        av_packet_free(&pkt);
        return -1;
    }
    while (av_read_frame(c, pkt) >= 0) {
        const AVStream *st = c->streams[pkt->stream_index];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE && pkt->pts != AV_NOPTS_VALUE) {
            double t = (double)pkt->pts * av_q2d(st->time_base);
            if (n == 0) *first = t;
            *last = t;
            n++;
        }
        av_packet_unref(pkt);
    }
    avformat_close_input(&c);
    av_packet_free(&pkt);
    return n;
}

/* MP4 cannot carry DVB subtitles: with subs_path they go to a Matroska
 * side file, on the main file's timeline. */
static void
test_mp4_side_subtitles(void)
{
    sg_remux_opts_t o = {.mp4 = 1};
    sg_remux_result_t res;
    char out[160], subs[160], mkv[160];
    double first, last, mfirst, mlast;
    probe_t p;

    if (make_subs_src() != 0) return;
    snprintf(subs, sizeof(subs), "%s/side.mks", g_dir);
    o.subs_path = subs;
    CHECK_INT(remux_file(g_subsrc, "side.mp4", o, &res, out, sizeof(out)), 0);
    CHECK_STR(res.error, "");
    CHECK_INT(res.video, 1);
    CHECK_INT(res.audio, 2);
    CHECK_INT(res.subtitles, 0);
    CHECK_INT(res.side_subtitles, 1);
    if (probe(out, &p) == 0) {
        CHECK_INT(p.streams, 3); /* no subtitle track in the MP4 */
        CHECK_INT(p.codec[0], AV_CODEC_ID_MPEG2VIDEO);
        CHECK_INT(p.codec[1], AV_CODEC_ID_AAC);
        CHECK_INT(p.codec[2], AV_CODEC_ID_AAC);
    }
    CHECK(exists(subs));
    if (probe(subs, &p) == 0) {
        CHECK_INT(p.streams, 1);
        CHECK_INT(p.codec[0], AV_CODEC_ID_DVB_SUBTITLE);
        CHECK_STR(p.lang[0], "spa");
    }
    /* the subtitles at 1..5 s of the recording, as in the Matroska file */
    CHECK_INT(sub_packets(subs, &first, &last), 5);
    CHECK(first > 0.9 && first < 1.1);
    CHECK(last > 4.9 && last < 5.1);

    /* Matroska carries them itself: subs_path is ignored, no side file */
    snprintf(subs, sizeof(subs), "%s/ignored.mks", g_dir);
    o = (sg_remux_opts_t){.subs_path = subs};
    CHECK_INT(remux_file(g_subsrc, "subs.mkv", o, &res, mkv, sizeof(mkv)), 0);
    CHECK_STR(res.error, "");
    CHECK_INT(res.subtitles, 1);
    CHECK_INT(res.side_subtitles, 0);
    CHECK(!exists(subs));
    if (probe(mkv, &p) == 0) {
        CHECK_INT(p.streams, 4);
        CHECK_INT(p.codec[3], AV_CODEC_ID_DVB_SUBTITLE);
        CHECK_STR(p.lang[3], "spa");
    }
    /* the same times in both */
    CHECK_INT(sub_packets(mkv, &mfirst, &mlast), 5);
    CHECK(mfirst - first < 0.03 && first - mfirst < 0.03);
    CHECK(mlast - last < 0.03 && last - mlast < 0.03);
}

/* The side file keeps the cap; an input without subtitles makes none; one
 * that cannot be written is left out and the MP4 is made. */
static void
test_side_subtitles_cut_none_and_failed(void)
{
    sg_remux_opts_t o = {.mp4 = 1, .max_seconds = 3.5};
    sg_remux_result_t res;
    char out[160], subs[160];
    double first, last;
    probe_t p;

    if (make_subs_src() != 0) return;
    snprintf(subs, sizeof(subs), "%s/cut.mks", g_dir);
    o.subs_path = subs;
    CHECK_INT(remux_file(g_subsrc, "cut-subs.mp4", o, &res, out, sizeof(out)), 0);
    CHECK_INT(res.side_subtitles, 1);
    CHECK(res.duration > 3.3 && res.duration < 3.8);
    CHECK_INT(sub_packets(subs, &first, &last), 3);
    CHECK(last > 2.9 && last < 3.1);

    /* no subtitles in the input: no side file */
    snprintf(subs, sizeof(subs), "%s/none.mks", g_dir);
    o = (sg_remux_opts_t){.mp4 = 1, .subs_path = subs};
    CHECK_INT(remux("nosubs.mp4", -1, 0, o, &res, out, sizeof(out)), 0);
    CHECK_STR(res.error, "");
    CHECK_INT(res.side_subtitles, 0);
    CHECK(!exists(subs));
    if (probe(out, &p) == 0) CHECK_INT(p.streams, 3);

    /* a side file that cannot be written: the MP4 is made all the same */
    o.subs_path = "/nonexistent-dir/x.mks";
    CHECK_INT(remux_file(g_subsrc, "nosidefile.mp4", o, &res, out, sizeof(out)), 0);
    CHECK_STR(res.error, "");
    CHECK_INT(res.side_subtitles, 0);
    CHECK(res.duration > 5.8 && res.duration < 6.3);
    if (probe(out, &p) == 0) CHECK_INT(p.streams, 3);

    /* one that fails once opened (a link to /dev/full): removed (the link,
     * not the device), the MP4 made all the same */
    snprintf(subs, sizeof(subs), "%s/full.mks", g_dir);
    if (symlink("/dev/full", subs) == 0) {
        struct stat st;
        o.subs_path = subs;
        CHECK_INT(remux_file(g_subsrc, "fullside.mp4", o, &res, out, sizeof(out)), 0);
        CHECK_STR(res.error, "");
        CHECK_INT(res.side_subtitles, 0);
        CHECK(lstat(subs, &st) != 0);
        CHECK(res.duration > 5.8 && res.duration < 6.3);
        if (probe(out, &p) == 0) CHECK_INT(p.streams, 3);
    }

    /* the main file fails before the side file is started: none of it */
    snprintf(subs, sizeof(subs), "%s/never.mks", g_dir);
    o.subs_path = subs;
    {
        src_t s = {fopen(g_subsrc, "rb"), -1, 0, 0};
        o.out_path = "/nonexistent-dir/x.mp4";
        if (s.f) {
            CHECK_INT(sg_remux_run(src_read, &s, &o, &res), -1);
            fclose(s.f);
            CHECK(strstr(res.error, "/nonexistent-dir/x.mp4") != NULL);
            CHECK_INT(res.side_subtitles, 0);
            CHECK(!exists(subs));
        }
    }
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"mkv", test_mkv},
        {"vo", test_vo},
        {"cover", test_cover},
        {"mp4_cut", test_mp4_cut},
        {"short_and_broken_input", test_short_and_broken_input},
        {"garbage", test_garbage},
        {"discontinuity", test_discontinuity},
        {"mp4_side_subtitles", test_mp4_side_subtitles},
        {"side_subtitles_cut_none_and_failed", test_side_subtitles_cut_none_and_failed},
        {NULL, NULL},
    };
    char cmd[1024];
    int rc;

    if (sg_test_mkdtemp(g_dir, sizeof(g_dir), "remux") != 0) return 1;
    snprintf(g_src, sizeof(g_src), "%s/src.ts", g_dir);
    /* like a Movistar channel: MPEG-2 video, two MP2 tracks, languages */
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=size=352x288:rate=25 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000 "
             "-f lavfi -i sine=frequency=880:sample_rate=48000 -t 6 "
             "-map 0:v -map 1:a -map 2:a -c:v mpeg2video -b:v 600k -g 12 -pix_fmt yuv420p "
             "-c:a mp2 -b:a 96k -metadata:s:a:0 language=spa -metadata:s:a:1 language=eng "
             "-muxrate 1000k -f mpegts %s",
             g_src);
    if (system(cmd) != 0) {
        fprintf(stderr, "the ffmpeg tool could not make the test stream\n");
        sg_test_rmtree(g_dir);
        return 1;
    }
    rc = sg_test_run(cases);
    sg_test_rmtree(g_dir);
    return rc;
}
