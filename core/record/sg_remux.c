/* MPEG-TS in, Matroska/MP4 out: copy, or MPEG audio to AAC. See sg_remux.h. */
#include "sg_remux.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define SG_RX_IO 65536            /* AVIOContext buffer                       */
#define SG_RX_AAC_BPS 64000       /* AAC bit rate per channel                 */
#define SG_RX_RESYNC 0.5          /* seconds of audio timestamp jump re-anchored */
#define SG_RX_JUMP 10000000       /* µs forward that is a discontinuity, not a gap */
#define SG_RX_SETTLE 10000000     /* µs: the muxer's max_interleave_delta      */

typedef struct sg_rx_track_s {
    int out;                      /* output stream, -1: dropped              */
    int side;                     /* stream of the subtitle side file, -1: none */
    AVCodecContext *dec, *enc;    /* set when transcoded                      */
    SwrContext *swr;
    AVAudioFifo *fifo;
    int64_t next_pts;             /* of the fifo's head, 1/sample_rate        */
    /* the track's own continuous timeline across discontinuities (a
     * broadcast's splices, a looped source): µs */
    int64_t offset, last, step;
} sg_rx_track_t;

typedef struct sg_rx_s {
    sg_remux_read_pt rd;
    void *arg;
    int read_error;
    AVIOContext *pb;
    AVFormatContext *in, *out;
    sg_rx_track_t *t;
    unsigned nt;
    AVPacket *opkt;
    AVFrame *frame, *conv, *chunk;
    double first, last;           /* seconds written: earliest start, latest end */
    sg_remux_result_t *res;
    /* the subtitle side file (MP4 with subs_path), NULL: none or given up */
    AVFormatContext *side;
    const char *side_path;
    int side_open, side_header;   /* the file exists; its header is written   */
    char side_error[128];         /* why it was given up                      */
    /* The main muxer makes its earliest decoding time zero (MAKE_ZERO); the
     * side file follows the same zero, known once every main track has had
     * a packet (or the main timeline is 10 s on): side packets wait here
     * until then. µs on the continuous timeline. */
    int64_t zero, newest;
    int settled;
    uint8_t *seen;                /* main output streams that had a packet    */
    unsigned nseen, nmain;
    AVPacket **held;
    unsigned nheld, held_cap;
} sg_rx_t;

static void
sg_rx_quiet(void)
{
    av_log_set_level(AV_LOG_ERROR);
}

static int
sg_rx_fail(sg_rx_t *x, int err, const char *fmt, ...)
{
    char what[160], e[AV_ERROR_MAX_STRING_SIZE] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (err) av_strerror(err, e, sizeof(e));
    snprintf(x->res->error, sizeof(x->res->error), "%s%s%s", what, err ? ": " : "", e);
    return -1;
}

static int
sg_rx_read(void *opaque, uint8_t *buf, int size)
{
    sg_rx_t *x = opaque;
    int n = x->rd(x->arg, buf, size);
    if (n == 0) return AVERROR_EOF;
    if (n < 0) {
        x->read_error = 1;
        return AVERROR(EIO);
    }
    return n;
}

/* The main output's zero, while the side file waits for it: the earliest
 * decoding time given to the muxer, as its interleaver sees it (the first
 * packet it lets out is the earliest of the first of every track, or of
 * what came in 10 s). */
static void
sg_rx_follow_zero(sg_rx_t *x, const AVPacket *p, AVRational tb)
{
    int64_t d = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
    if (x->side == NULL || x->settled || d == AV_NOPTS_VALUE) return;
    d = av_rescale_q(d, tb, AV_TIME_BASE_Q);
    if (x->zero == AV_NOPTS_VALUE || d < x->zero) x->zero = d;
    if (d > x->newest) x->newest = d;
    if (!x->seen[p->stream_index]) {
        x->seen[p->stream_index] = 1;
        x->nseen++;
    }
    if (x->nseen >= x->nmain || x->newest - x->zero > SG_RX_SETTLE) x->settled = 1;
}

/* A packet leaves for the muxer: the span written grows. */
static int
sg_rx_write(sg_rx_t *x, AVPacket *p)
{
    AVRational tb = x->out->streams[p->stream_index]->time_base;
    int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
    if (ts != AV_NOPTS_VALUE) {
        double a = (double)ts * av_q2d(tb), b = a + (double)p->duration * av_q2d(tb);
        if (x->first > a) x->first = a;
        if (x->last < b) x->last = b;
    }
    sg_rx_follow_zero(x, p, tb);
    return av_interleaved_write_frame(x->out, p);
}

/* ---- the subtitle side file ---------------------------------------------- */

static void
sg_rx_side_drop_held(sg_rx_t *x)
{
    for (unsigned i = 0; i < x->nheld; i++) av_packet_free(&x->held[i]);
    x->nheld = 0;
}

/* Give the side file up: closed, removed, its tracks dropped. The main
 * file goes on. */
static void
sg_rx_side_fail(sg_rx_t *x, int err, const char *what)
{
    char e[AV_ERROR_MAX_STRING_SIZE] = "";
    if (x->side == NULL) return;
    if (err) av_strerror(err, e, sizeof(e));
    snprintf(x->side_error, sizeof(x->side_error), "%s%s%s", what, err ? ": " : "", e);
    sg_rx_side_drop_held(x);
    if (x->side->pb) avio_closep(&x->side->pb);
    avformat_free_context(x->side);
    x->side = NULL;
    if (x->side_open) remove(x->side_path);
    x->side_open = x->side_header = 0;
    for (unsigned i = 0; i < x->nt; i++) x->t[i].side = -1;
    x->res->side_subtitles = 0;
}

/* A subtitle track the side file can carry (the test the Matroska output
 * uses): a stream there. */
static void
sg_rx_side_map(sg_rx_t *x, sg_rx_track_t *tr, const AVStream *ist)
{
    const AVDictionaryEntry *lang = av_dict_get(ist->metadata, "language", NULL, 0);
    AVStream *st;
    int rc;

    if (x->side == NULL ||
        avformat_query_codec(x->side->oformat, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL) != 1) {
        return;
    }
    if ((st = avformat_new_stream(x->side, NULL)) == NULL) {
        sg_rx_side_fail(x, AVERROR(ENOMEM), "subtitle track");
        return;
    }
    if ((rc = avcodec_parameters_copy(st->codecpar, ist->codecpar)) < 0) {
        sg_rx_side_fail(x, rc, "subtitle track parameters");
        return;
    }
    st->codecpar->codec_tag = 0;
    st->time_base = ist->time_base;
    st->disposition = 0;
    if (lang) av_dict_set(&st->metadata, "language", lang->value, 0);
    tr->side = st->index;
    x->res->side_subtitles++;
}

static void
sg_rx_side_open(sg_rx_t *x)
{
    int err;
    if (x->side == NULL) return;
    if ((err = avio_open(&x->side->pb, x->side_path, AVIO_FLAG_WRITE)) < 0) {
        sg_rx_side_fail(x, err, x->side_path);
        return;
    }
    x->side_open = 1;
    if ((err = avformat_write_header(x->side, NULL)) < 0) {
        sg_rx_side_fail(x, err, "writing the subtitles header");
        return;
    }
    x->side_header = 1;
}

/* One packet (side stream and time base) into the side file, moved to the
 * main file's zero. A subtitle from before it starts at it. */
static void
sg_rx_side_put(sg_rx_t *x, AVPacket *p)
{
    AVRational tb = x->side->streams[p->stream_index]->time_base;
    int64_t d = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts, off;
    int err;

    if (x->zero == AV_NOPTS_VALUE && d != AV_NOPTS_VALUE) {
        x->zero = av_rescale_q(d, tb, AV_TIME_BASE_Q); /* no main packet at all */
    }
    off = x->zero != AV_NOPTS_VALUE ? av_rescale_q(x->zero, AV_TIME_BASE_Q, tb) : 0;

    if (p->pts != AV_NOPTS_VALUE) p->pts = FFMAX(p->pts - off, 0);
    if (p->dts != AV_NOPTS_VALUE) p->dts = FFMAX(p->dts - off, 0);
    if (p->pts != AV_NOPTS_VALUE && p->dts != AV_NOPTS_VALUE && p->dts > p->pts) p->dts = p->pts;
    if ((err = av_interleaved_write_frame(x->side, p)) < 0) {
        sg_rx_side_fail(x, err, "writing subtitles");
    }
}

/* The held packets out once the zero is known (or at the end, force). */
static void
sg_rx_side_flush(sg_rx_t *x, int force)
{
    unsigned i;
    if (x->side == NULL || x->nheld == 0 || !(x->settled || force)) return;
    x->settled = 1;
    for (i = 0; i < x->nheld && x->side; i++) {
        sg_rx_side_put(x, x->held[i]);
        av_packet_free(&x->held[i]);
    }
    if (x->side == NULL) return; /* given up: the rest went with it */
    x->nheld = 0;
}

/* A side track's packet (its input time base, on the continuous timeline):
 * written, or held until the zero is known. The packet is taken. */
static void
sg_rx_side(sg_rx_t *x, sg_rx_track_t *tr, AVPacket *pkt, AVRational in_tb)
{
    AVPacket *c;

    av_packet_rescale_ts(pkt, in_tb, x->side->streams[tr->side]->time_base);
    pkt->stream_index = tr->side;
    pkt->pos = -1;
    if (x->settled && x->nheld == 0) {
        sg_rx_side_put(x, pkt);
        av_packet_unref(pkt);
        return;
    }
    if (x->nheld == x->held_cap) {
        unsigned cap = x->held_cap ? 2 * x->held_cap : 16;
        AVPacket **h = av_realloc_array(x->held, cap, sizeof(*h));
        if (h == NULL) {
            sg_rx_side_fail(x, AVERROR(ENOMEM), "holding subtitles");
            return;
        }
        x->held = h;
        x->held_cap = cap;
    }
    if ((c = av_packet_alloc()) == NULL) {
        sg_rx_side_fail(x, AVERROR(ENOMEM), "holding subtitles");
        return;
    }
    av_packet_move_ref(c, pkt);
    x->held[x->nheld++] = c;
    sg_rx_side_flush(x, 0);
}

/* The end: what waits written, the file closed. Never started (the main
 * file failed first): no side file, none counted. */
static void
sg_rx_side_close(sg_rx_t *x)
{
    int err;
    if (x->side == NULL) return;
    if (!x->side_header) {
        x->res->side_subtitles = 0;
        return;
    }
    sg_rx_side_flush(x, 1);
    if (x->side == NULL) return;
    x->side_header = 0;
    if ((err = av_write_trailer(x->side)) < 0) {
        sg_rx_side_fail(x, err, "writing the end of the subtitles");
        return;
    }
    if ((err = avio_closep(&x->side->pb)) < 0) sg_rx_side_fail(x, err, "closing the subtitles");
}

/* ---- audio to AAC --------------------------------------------------------- */

static int
sg_rx_encode(sg_rx_t *x, sg_rx_track_t *tr, AVFrame *f)
{
    int rc = avcodec_send_frame(tr->enc, f);
    if (rc < 0 && rc != AVERROR_EOF) return sg_rx_fail(x, rc, "AAC encoder");
    while ((rc = avcodec_receive_packet(tr->enc, x->opkt)) >= 0) {
        x->opkt->stream_index = tr->out;
        av_packet_rescale_ts(x->opkt, tr->enc->time_base, x->out->streams[tr->out]->time_base);
        rc = sg_rx_write(x, x->opkt);
        av_packet_unref(x->opkt);
        if (rc < 0) return sg_rx_fail(x, rc, "writing AAC");
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : sg_rx_fail(x, rc, "AAC encoder");
}

/* Encoder frames out of the fifo: whole ones, and at the end the rest. */
static int
sg_rx_drain_fifo(sg_rx_t *x, sg_rx_track_t *tr, int all)
{
    int fs = tr->enc->frame_size > 0 ? tr->enc->frame_size : 1024;
    while (av_audio_fifo_size(tr->fifo) >= fs || (all && av_audio_fifo_size(tr->fifo) > 0)) {
        int n = FFMIN(fs, av_audio_fifo_size(tr->fifo)), rc;
        AVFrame *c = x->chunk;
        av_frame_unref(c);
        c->nb_samples = n;
        c->format = tr->enc->sample_fmt;
        c->sample_rate = tr->enc->sample_rate;
        if (av_channel_layout_copy(&c->ch_layout, &tr->enc->ch_layout) < 0 ||
            av_frame_get_buffer(c, 0) < 0) {
            return sg_rx_fail(x, AVERROR(ENOMEM), "audio buffer");
        }
        if (av_audio_fifo_read(tr->fifo, (void **)c->data, n) < n) {
            return sg_rx_fail(x, 0, "audio fifo");
        }
        c->pts = tr->next_pts;
        tr->next_pts += n;
        rc = sg_rx_encode(x, tr, c);
        if (rc < 0) return rc;
    }
    return 0;
}

/* One decoded frame: resampled into the fifo, its timestamp followed (a
 * jump of more than half a second re-anchors the fifo). */
static int
sg_rx_audio_frame(sg_rx_t *x, sg_rx_track_t *tr, AVFrame *f, AVRational in_tb)
{
    int rate = tr->enc->sample_rate, out, rc;
    int64_t pts = f->pts != AV_NOPTS_VALUE ? av_rescale_q(f->pts, in_tb, (AVRational){1, rate})
                                           : AV_NOPTS_VALUE;

    if (tr->swr == NULL) {
        if (swr_alloc_set_opts2(&tr->swr, &tr->enc->ch_layout, tr->enc->sample_fmt, rate,
                                &f->ch_layout, f->format, f->sample_rate, 0, NULL) < 0 ||
            swr_init(tr->swr) < 0) {
            return sg_rx_fail(x, 0, "audio resampler");
        }
        tr->next_pts = pts != AV_NOPTS_VALUE ? pts : 0;
    }
    if (pts != AV_NOPTS_VALUE &&
        llabs(pts - (tr->next_pts + av_audio_fifo_size(tr->fifo))) > (int64_t)(SG_RX_RESYNC * rate)) {
        rc = sg_rx_drain_fifo(x, tr, 1);
        if (rc < 0) return rc;
        tr->next_pts = pts;
    }
    out = swr_get_out_samples(tr->swr, f->nb_samples);
    av_frame_unref(x->conv);
    x->conv->nb_samples = out;
    x->conv->format = tr->enc->sample_fmt;
    x->conv->sample_rate = rate;
    if (av_channel_layout_copy(&x->conv->ch_layout, &tr->enc->ch_layout) < 0 ||
        av_frame_get_buffer(x->conv, 0) < 0) {
        return sg_rx_fail(x, AVERROR(ENOMEM), "audio buffer");
    }
    out = swr_convert(tr->swr, x->conv->data, out, (const uint8_t **)f->extended_data,
                      f->nb_samples);
    if (out < 0) return sg_rx_fail(x, out, "resampling");
    if (av_audio_fifo_write(tr->fifo, (void **)x->conv->data, out) < out) {
        return sg_rx_fail(x, AVERROR(ENOMEM), "audio fifo");
    }
    return sg_rx_drain_fifo(x, tr, 0);
}

/* A packet (NULL: the end) through the decoder. Damaged packets are
 * skipped: a broadcast has them. */
static int
sg_rx_audio(sg_rx_t *x, sg_rx_track_t *tr, AVPacket *p, AVRational in_tb)
{
    int rc = avcodec_send_packet(tr->dec, p);
    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) return 0;
    while ((rc = avcodec_receive_frame(tr->dec, x->frame)) >= 0) {
        rc = sg_rx_audio_frame(x, tr, x->frame, in_tb);
        av_frame_unref(x->frame);
        if (rc < 0) return rc;
    }
    return 0;
}

static int
sg_rx_open_transcoder(sg_rx_t *x, sg_rx_track_t *tr, const AVStream *ist, AVStream *ost)
{
    const AVCodec *dc = avcodec_find_decoder(ist->codecpar->codec_id);
    const AVCodec *ec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    int rc, ch;

    if (dc == NULL || ec == NULL) return sg_rx_fail(x, 0, "no %s codec", dc ? "AAC" : "audio");
    tr->dec = avcodec_alloc_context3(dc);
    tr->enc = avcodec_alloc_context3(ec);
    if (tr->dec == NULL || tr->enc == NULL) return sg_rx_fail(x, AVERROR(ENOMEM), "codec");
    rc = avcodec_parameters_to_context(tr->dec, ist->codecpar);
    tr->dec->pkt_timebase = ist->time_base;
    if (rc < 0 || (rc = avcodec_open2(tr->dec, dc, NULL)) < 0) {
        return sg_rx_fail(x, rc, "audio decoder");
    }
    ch = tr->dec->ch_layout.nb_channels > 0 ? tr->dec->ch_layout.nb_channels : 2;
    av_channel_layout_default(&tr->enc->ch_layout, ch);
    tr->enc->sample_rate = tr->dec->sample_rate > 0 ? tr->dec->sample_rate : 48000;
    tr->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    tr->enc->bit_rate = (int64_t)SG_RX_AAC_BPS * FFMIN(ch, 6);
    tr->enc->time_base = (AVRational){1, tr->enc->sample_rate};
    if (x->out->oformat->flags & AVFMT_GLOBALHEADER) tr->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((rc = avcodec_open2(tr->enc, ec, NULL)) < 0) return sg_rx_fail(x, rc, "AAC encoder");
    if ((rc = avcodec_parameters_from_context(ost->codecpar, tr->enc)) < 0) {
        return sg_rx_fail(x, rc, "AAC parameters");
    }
    ost->time_base = tr->enc->time_base;
    tr->fifo = av_audio_fifo_alloc(tr->enc->sample_fmt, ch, 4 * 1024);
    if (tr->fifo == NULL) return sg_rx_fail(x, AVERROR(ENOMEM), "audio fifo");
    x->res->transcoded++;
    return 0;
}

/* ---- timeline ----------------------------------------------------------------- */

/* Keep each track's timestamps going forward: a decoding time that goes
 * back, or leaps more than 10 s ahead, is a discontinuity (a splice, a
 * source restarting), and the track's offset moves so that the packet
 * follows the one before it. Returns the packet's time in seconds on the
 * continuous timeline. */
static double
sg_rx_continuous(sg_rx_track_t *tr, AVPacket *p, AVRational tb)
{
    int64_t ts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts, at, off;

    at = av_rescale_q(ts, tb, AV_TIME_BASE_Q) + tr->offset;
    if (tr->last != AV_NOPTS_VALUE && (at < tr->last || at > tr->last + SG_RX_JUMP)) {
        tr->offset += tr->last + tr->step - at;
        at = tr->last + tr->step;
    }
    off = av_rescale_q(tr->offset, AV_TIME_BASE_Q, tb);
    if (p->pts != AV_NOPTS_VALUE) p->pts += off;
    if (p->dts != AV_NOPTS_VALUE) p->dts += off;
    tr->last = at;
    tr->step = p->duration > 0 ? av_rescale_q(p->duration, tb, AV_TIME_BASE_Q) : 40000;
    return (double)at / AV_TIME_BASE;
}

/* ---- set-up ------------------------------------------------------------------- */

static int
sg_rx_is_mpeg_audio(enum AVCodecID id)
{
    return id == AV_CODEC_ID_MP2 || id == AV_CODEC_ID_MP3 || id == AV_CODEC_ID_MP1;
}

/* The output tracks, in input order but for vo (the first two audio
 * tracks swapped); the first audio track written is the default one. */
static int
sg_rx_map(sg_rx_t *x, const sg_remux_opts_t *o)
{
    unsigned n = x->in->nb_streams, *order, a0 = UINT32_MAX, a1 = UINT32_MAX;
    int first_audio = 1, rc = 0;

    x->t = av_calloc(n ? n : 1, sizeof(*x->t));
    order = av_calloc(n ? n : 1, sizeof(*order));
    if (x->t == NULL || order == NULL) {
        av_free(order);
        return sg_rx_fail(x, AVERROR(ENOMEM), "tracks");
    }
    x->nt = n;
    for (unsigned i = 0; i < n; i++) {
        order[i] = i;
        x->t[i].out = -1;
        x->t[i].side = -1;
        x->t[i].last = AV_NOPTS_VALUE;
        if (x->in->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO &&
            x->in->streams[i]->codecpar->codec_id != AV_CODEC_ID_NONE) {
            if (a0 == UINT32_MAX) {
                a0 = i;
            } else if (a1 == UINT32_MAX) {
                a1 = i;
            }
        }
    }
    if (o->vo && a1 != UINT32_MAX) {
        order[a0] = a1;
        order[a1] = a0;
    }
    for (unsigned k = 0; k < n && rc == 0; k++) {
        AVStream *ist = x->in->streams[order[k]], *ost;
        sg_rx_track_t *tr = &x->t[order[k]];
        const AVCodecParameters *par = ist->codecpar;
        const AVDictionaryEntry *lang = av_dict_get(ist->metadata, "language", NULL, 0);
        int fits = avformat_query_codec(x->out->oformat, par->codec_id, FF_COMPLIANCE_NORMAL) == 1;
        int transcode = 0;

        if (par->codec_id == AV_CODEC_ID_NONE) continue;
        switch (par->codec_type) {
        case AVMEDIA_TYPE_VIDEO:
            if (!fits) continue;
            break;
        case AVMEDIA_TYPE_AUDIO:
            transcode = sg_rx_is_mpeg_audio(par->codec_id) || !fits;
            break;
        case AVMEDIA_TYPE_SUBTITLE:
            if (o->mp4) {
                sg_rx_side_map(x, tr, ist); /* none without a side file */
                continue;
            }
            if (!fits) continue;
            break;
        default:
            continue;
        }
        ost = avformat_new_stream(x->out, NULL);
        if (ost == NULL) {
            rc = sg_rx_fail(x, AVERROR(ENOMEM), "output track");
            break;
        }
        tr->out = ost->index;
        if (lang) av_dict_set(&ost->metadata, "language", lang->value, 0);
        ost->disposition = 0;
        if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
            if (first_audio) ost->disposition = AV_DISPOSITION_DEFAULT;
            first_audio = 0;
            x->res->audio++;
        } else if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            ost->disposition = AV_DISPOSITION_DEFAULT;
            x->res->video++;
        } else {
            x->res->subtitles++;
        }
        if (transcode) {
            rc = sg_rx_open_transcoder(x, tr, ist, ost);
        } else if ((rc = avcodec_parameters_copy(ost->codecpar, par)) < 0) {
            rc = sg_rx_fail(x, rc, "track parameters");
        } else {
            ost->codecpar->codec_tag = 0;
            ost->time_base = ist->time_base;
        }
    }
    av_free(order);
    if (rc == 0 && x->res->video + x->res->audio == 0) {
        rc = sg_rx_fail(x, 0, "no video or audio track in the stream");
    }
    return rc;
}

static void
sg_rx_tags(AVFormatContext *out, const sg_remux_opts_t *o)
{
    char num[16];
    if (o->title) av_dict_set(&out->metadata, "title", o->title, 0);
    if (o->channel) av_dict_set(&out->metadata, "network", o->channel, 0);
    if (o->date) av_dict_set(&out->metadata, "date", o->date, 0);
    if (o->description) av_dict_set(&out->metadata, "description", o->description, 0);
    if (o->series) av_dict_set(&out->metadata, "show", o->series, 0);
    if (o->season > 0) {
        snprintf(num, sizeof(num), "%d", o->season);
        av_dict_set(&out->metadata, "season_number", num, 0);
    }
    if (o->episode > 0) {
        snprintf(num, sizeof(num), "%d", o->episode);
        av_dict_set(&out->metadata, "episode_sort", num, 0);
    }
}

/* The cover as a Matroska attachment: the image bytes as the stream's
 * extradata, with its file name and MIME type. A cover that cannot be read
 * is left out (the recording matters more). */
static void
sg_rx_cover(sg_rx_t *x, const char *path)
{
    const char *base = strrchr(path, '/'), *dot = strrchr(path, '.');
    int png = dot && (strcmp(dot, ".png") == 0 || strcmp(dot, ".PNG") == 0);
    AVStream *st;
    uint8_t *data = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    long len;

    if (f == NULL) return;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len < (16 << 20) &&
        fseek(f, 0, SEEK_SET) == 0 &&
        (data = av_mallocz((size_t)len + AV_INPUT_BUFFER_PADDING_SIZE)) != NULL) {
        n = fread(data, 1, (size_t)len, f);
    }
    fclose(f);
    if (n == 0 || (st = avformat_new_stream(x->out, NULL)) == NULL) {
        av_free(data);
        return;
    }
    st->codecpar->codec_type = AVMEDIA_TYPE_ATTACHMENT;
    st->codecpar->codec_id = png ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG;
    st->codecpar->extradata = data;
    st->codecpar->extradata_size = (int)n;
    av_dict_set(&st->metadata, "filename", base ? base + 1 : path, 0);
    av_dict_set(&st->metadata, "mimetype", png ? "image/png" : "image/jpeg", 0);
}

static void
sg_rx_free(sg_rx_t *x)
{
    for (unsigned i = 0; i < x->nt; i++) {
        avcodec_free_context(&x->t[i].dec);
        avcodec_free_context(&x->t[i].enc);
        swr_free(&x->t[i].swr);
        if (x->t[i].fifo) av_audio_fifo_free(x->t[i].fifo);
    }
    av_free(x->t);
    sg_rx_side_drop_held(x);
    av_free(x->held);
    av_free(x->seen);
    if (x->side) {
        if (x->side->pb) avio_closep(&x->side->pb);
        avformat_free_context(x->side);
    }
    if (x->out) {
        if (x->out->pb && !(x->out->oformat->flags & AVFMT_NOFILE)) avio_closep(&x->out->pb);
        avformat_free_context(x->out);
    }
    avformat_close_input(&x->in);
    if (x->pb) {
        av_freep(&x->pb->buffer);
        avio_context_free(&x->pb);
    }
    av_packet_free(&x->opkt);
    av_frame_free(&x->frame);
    av_frame_free(&x->conv);
    av_frame_free(&x->chunk);
}

/* ---- the run -------------------------------------------------------------------- */

int
sg_remux_run(sg_remux_read_pt rd, void *arg, const sg_remux_opts_t *o, sg_remux_result_t *res)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    sg_rx_t x = {.rd = rd, .arg = arg, .res = res, .first = 1e300, .last = -1e300,
                 .zero = AV_NOPTS_VALUE, .newest = INT64_MIN};
    AVPacket *pkt = NULL;
    AVDictionary *mopts = NULL;
    uint8_t *iobuf;
    double start;
    int rc = -1, err, header = 0;

    pthread_once(&once, sg_rx_quiet);
    memset(res, 0, sizeof(*res));
    iobuf = av_malloc(SG_RX_IO);
    x.pb = iobuf ? avio_alloc_context(iobuf, SG_RX_IO, 0, &x, sg_rx_read, NULL, NULL) : NULL;
    x.in = avformat_alloc_context();
    pkt = av_packet_alloc();
    x.opkt = av_packet_alloc();
    x.frame = av_frame_alloc();
    x.conv = av_frame_alloc();
    x.chunk = av_frame_alloc();
    if (x.pb == NULL || x.in == NULL || pkt == NULL || x.opkt == NULL || x.frame == NULL ||
        x.conv == NULL || x.chunk == NULL) {
        if (x.pb == NULL) av_free(iobuf);
        sg_rx_fail(&x, AVERROR(ENOMEM), "set-up");
        goto out;
    }
    x.in->pb = x.pb;
    x.in->flags |= AVFMT_FLAG_CUSTOM_IO;
    if ((err = avformat_open_input(&x.in, NULL,
                                   av_find_input_format(o->in_format ? o->in_format : "mpegts"),
                                   NULL)) < 0) {
        sg_rx_fail(&x, err, "reading the stream");
        goto out;
    }
    err = avformat_find_stream_info(x.in, NULL);
    if (err < 0) {
        sg_rx_fail(&x, err, "finding the tracks");
        goto out;
    }
    start = x.in->start_time != AV_NOPTS_VALUE ? (double)x.in->start_time / AV_TIME_BASE : 0;
    if ((err = avformat_alloc_output_context2(&x.out, NULL, o->mp4 ? "mp4" : "matroska",
                                              o->out_path)) < 0) {
        sg_rx_fail(&x, err, "output format");
        goto out;
    }
    if (o->mp4 && o->subs_path) {
        x.side_path = o->subs_path;
        if ((err = avformat_alloc_output_context2(&x.side, NULL, "matroska", o->subs_path)) < 0) {
            x.side = NULL;
            snprintf(x.side_error, sizeof(x.side_error), "subtitles format: %s", av_err2str(err));
        }
    }
    if (sg_rx_map(&x, o) != 0) goto out;
    if (x.side && x.side->nb_streams == 0) { /* nothing for it: no file */
        avformat_free_context(x.side);
        x.side = NULL;
    }
    if (x.side) {
        x.nmain = (unsigned)(res->video + res->audio + res->subtitles);
        if ((x.seen = av_calloc(x.out->nb_streams, 1)) == NULL) {
            sg_rx_fail(&x, AVERROR(ENOMEM), "set-up");
            goto out;
        }
    }
    sg_rx_tags(x.out, o);
    if (o->cover && !o->mp4) sg_rx_cover(&x, o->cover);
    x.out->avoid_negative_ts = AVFMT_AVOID_NEG_TS_MAKE_ZERO;
    if ((err = avio_open(&x.out->pb, o->out_path, AVIO_FLAG_WRITE)) < 0) {
        sg_rx_fail(&x, err, "%s", o->out_path);
        goto out;
    }
    if (o->mp4) {
        av_dict_set(&mopts, "movflags",
                    o->fragmented ? "+frag_keyframe+empty_moov+default_base_moof+global_sidx"
                                  : "+faststart",
                    0);
    }
    err = avformat_write_header(x.out, &mopts);
    av_dict_free(&mopts);
    if (err < 0) {
        sg_rx_fail(&x, err, "writing the header");
        goto out;
    }
    header = 1;
    sg_rx_side_open(&x);

    while ((err = av_read_frame(x.in, pkt)) >= 0) {
        sg_rx_track_t *tr = (unsigned)pkt->stream_index < x.nt ? &x.t[pkt->stream_index] : NULL;
        AVStream *ist = x.in->streams[pkt->stream_index];
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;

        if (tr == NULL || (tr->out < 0 && tr->side < 0) || ts == AV_NOPTS_VALUE) {
            av_packet_unref(pkt);
            continue;
        }
        if (sg_rx_continuous(tr, pkt, ist->time_base) - start >= o->max_seconds &&
            o->max_seconds > 0) {
            av_packet_unref(pkt);
            break;
        }
        if (tr->side >= 0) {
            sg_rx_side(&x, tr, pkt, ist->time_base); /* never fails the recording */
            err = 0;
        } else if (tr->enc) {
            err = sg_rx_audio(&x, tr, pkt, ist->time_base);
        } else {
            av_packet_rescale_ts(pkt, ist->time_base, x.out->streams[tr->out]->time_base);
            pkt->stream_index = tr->out;
            pkt->pos = -1;
            err = sg_rx_write(&x, pkt);
            if (err < 0) sg_rx_fail(&x, err, "writing");
        }
        av_packet_unref(pkt);
        if (err < 0) goto out;
        sg_rx_side_flush(&x, 0);
    }
    if (err < 0 && err != AVERROR_EOF && !x.read_error) {
        /* a damaged tail: what came before is kept */
        snprintf(res->error, sizeof(res->error), "the stream ended early: %s", av_err2str(err));
    } else if (x.read_error) {
        snprintf(res->error, sizeof(res->error), "the input failed");
    }
    for (unsigned i = 0; i < x.nt; i++) {
        sg_rx_track_t *tr = &x.t[i];
        if (tr->enc == NULL) continue;
        if (sg_rx_audio(&x, tr, NULL, x.in->streams[i]->time_base) < 0 ||
            (tr->swr && sg_rx_drain_fifo(&x, tr, 1) < 0) || sg_rx_encode(&x, tr, NULL) < 0) {
            goto out;
        }
    }
    if ((err = av_write_trailer(x.out)) < 0) {
        header = 0;
        sg_rx_fail(&x, err, "writing the end of the file");
        goto out;
    }
    header = 0;
    res->duration = x.last > x.first ? x.last - x.first : 0;
    rc = 0;
out:
    if (header) av_write_trailer(x.out); /* close what was started; the result says it failed */
    sg_rx_side_close(&x);
    if (rc != 0 && x.side_error[0]) {
        size_t n = strlen(res->error);
        snprintf(res->error + n, sizeof(res->error) - n, "%ssubtitles file: %s", n ? "; " : "",
                 x.side_error);
    }
    av_packet_free(&pkt);
    sg_rx_free(&x);
    return rc;
}
