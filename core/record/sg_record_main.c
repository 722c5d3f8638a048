/*
 * streamgate-record: one recording, in a process of its own.
 *
 *   streamgate-record URL OUT [--mp4] [--vo] [--seconds S] [--title T]
 *       [--channel C] [--date D] [--description D] [--series S]
 *       [--season N] [--episode N] [--cover FILE] [--subs PATH]
 *
 * Reads URL (the daemon's own catchup or live URL: a recording is a session
 * like a viewer's, with the viewer's admission, continuous playback and
 * slow-client rules) with libavformat's HTTP client and writes OUT with the
 * recorder engine (sg_remux.c). The daemon runs it as a child, so FFmpeg is
 * never mapped into the daemon and a crash or hang here costs only this
 * recording.
 *
 * --subs PATH (with --mp4, which cannot carry DVB subtitles): the subtitle
 * tracks go to a subtitle-only Matroska file at PATH (an ".mks" that mpv and
 * VLC load beside the video); not created when there are none, removed when
 * it cannot be written (the recording goes on). Ignored for Matroska.
 *
 * SIGTERM or SIGINT end the input: the file is closed properly, shorter.
 * Prints one JSON line on stdout:
 *   {"ok": true|false, "duration": S, "video": N, "audio": N,
 *    "subtitles": N, "side_subtitles": N, "transcoded": N, "error": "..."}
 * (side_subtitles: tracks in the --subs file, 0 when there is none)
 * Exit status: 0 a file was written, 1 nothing usable, 2 bad arguments.
 */
#include <getopt.h>
#include <libavformat/avformat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/sg_remux.h"
#include "sg_config.h"

static volatile sig_atomic_t sg_rec_stop;

typedef struct {
    AVIOContext *io;
    char error[200];
} sg_rec_in_t;

static void
sg_rec_signal(int sig)
{
    (void)sig;
    sg_rec_stop = 1;
}

static int
sg_rec_interrupted(void *arg)
{
    (void)arg;
    return sg_rec_stop;
}

static int
sg_rec_read(void *arg, uint8_t *buf, int size)
{
    sg_rec_in_t *in = arg;
    int n;
    if (sg_rec_stop) return 0;
    n = avio_read(in->io, buf, size);
    if (n == AVERROR_EOF || (n < 0 && sg_rec_stop)) return 0;
    if (n < 0) {
        av_strerror(n, in->error, sizeof(in->error));
        return -1;
    }
    return n;
}

/* s as a JSON string body (the error texts are ASCII-ish; controls escaped). */
static void
sg_rec_json_str(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
}

static void
sg_rec_usage(FILE *f)
{
    fprintf(f, "usage: streamgate-record URL OUT [--mp4] [--vo] [--seconds S] [--title T]\n"
               "         [--channel C] [--date D] [--description D] [--series S]\n"
               "         [--season N] [--episode N] [--cover FILE] [--subs PATH]\n"
               "  --subs PATH  with --mp4: the subtitle tracks into a Matroska side file\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mp4", no_argument, NULL, 'm'},         {"vo", no_argument, NULL, 'v'},
        {"seconds", required_argument, NULL, 's'}, {"title", required_argument, NULL, 't'},
        {"channel", required_argument, NULL, 'c'}, {"date", required_argument, NULL, 'd'},
        {"description", required_argument, NULL, 'D'},
        {"series", required_argument, NULL, 'S'}, {"season", required_argument, NULL, 'n'},
        {"episode", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {"cover", required_argument, NULL, 'C'},
        {"subs", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    sg_remux_opts_t o = {0};
    sg_remux_result_t res;
    sg_rec_in_t in = {0};
    AVIOInterruptCB icb = {sg_rec_interrupted, NULL};
    AVDictionary *http = NULL;
    struct sigaction sa;
    const char *url;
    char *end;
    int c, rc, err;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.mp4 = 1; break;
        case 'v': o.vo = 1; break;
        case 's':
            o.max_seconds = strtod(optarg, &end);
            if (*end || o.max_seconds < 0) {
                fprintf(stderr, "streamgate-record: --seconds wants a number of seconds\n");
                return 2;
            }
            break;
        case 't': o.title = optarg; break;
        case 'c': o.channel = optarg; break;
        case 'd': o.date = optarg; break;
        case 'D': o.description = optarg; break;
        case 'S': o.series = optarg; break;
        case 'n': o.season = atoi(optarg); break;
        case 'e': o.episode = atoi(optarg); break;
        case 'C': o.cover = optarg; break;
        case 'u': o.subs_path = optarg; break;
        case 'h': sg_rec_usage(stdout); return 0;
        case 'V': printf("streamgate-record %s\n", SG_VERSION); return 0;
        default: sg_rec_usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        sg_rec_usage(stderr);
        return 2;
    }
    url = argv[optind];
    o.out_path = argv[optind + 1];

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sg_rec_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    av_log_set_level(AV_LOG_ERROR);

    /* 15 s without a byte is a dead source (a join between programmes is
     * about one second of silence) */
    av_dict_set(&http, "rw_timeout", "15000000", 0);
    av_dict_set(&http, "user_agent", "streamgate-record/" SG_VERSION, 0);
    err = avio_open2(&in.io, url, AVIO_FLAG_READ, &icb, &http);
    av_dict_free(&http);
    if (err < 0) {
        av_strerror(err, in.error, sizeof(in.error));
        memset(&res, 0, sizeof(res));
        snprintf(res.error, sizeof(res.error), "%s: %s", url, in.error);
        rc = -1;
    } else {
        rc = sg_remux_run(sg_rec_read, &in, &o, &res);
        if (in.error[0] && rc == 0) {
            snprintf(res.error, sizeof(res.error), "the source failed: %s", in.error);
        }
        avio_closep(&in.io);
    }
    printf("{\"ok\": %s, \"duration\": %.3f, \"video\": %d, \"audio\": %d, \"subtitles\": %d, "
           "\"side_subtitles\": %d, \"transcoded\": %d, \"error\": \"",
           rc == 0 ? "true" : "false", res.duration, res.video, res.audio, res.subtitles,
           res.side_subtitles, res.transcoded);
    sg_rec_json_str(res.error);
    printf("\"}\n");
    if (rc != 0) fprintf(stderr, "streamgate-record: %s\n", res.error);
    return rc == 0 ? 0 : 1;
}
