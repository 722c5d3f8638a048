/*
 * mcsend - paced MPEG-TS sender over UDP: the simulated IPTV head-end.
 *
 * mcsend reads an MPEG-TS file into memory and plays it, looped, to one or
 * more UDP destinations (multicast groups or unicast addresses), the way an
 * IPTV head-end or a DVB-to-IP gateway does: 7 TS packets (1316 bytes) per
 * datagram, either bare ("raw", the default), behind a plain RTP header, or
 * behind the RTP header with extension that Movistar Spain's IPTV uses.
 * The integration tests and the benchmarks use it as the upstream.
 *
 * Pacing follows the file's own clock by default: the PCRs of the PCR PID
 * give the time of every byte (linear interpolation between consecutive
 * PCRs, the neighbouring segment's rate before the first and after the last
 * one), and a datagram goes out when its last byte is due.  Each pass over
 * the file continues the schedule where the previous one ended, so the PCR
 * restart at the loop point costs no time.  --rate paces at a constant bit
 * rate instead.  All destinations get the same datagrams on one timeline,
 * each through its own socket.
 *
 * Everything runs in ONE thread: clock_nanosleep(TIMER_ABSTIME) to the next
 * deadline, but never more than one wake-up per millisecond; what is due by
 * then goes out as one sendmmsg() burst per destination, the datagrams of a
 * burst handed over as one UDP GSO buffer (UDP_SEGMENT; the receiver still
 * gets separate datagrams) when the kernel allows it.  8 streams of 40 Mb/s
 * cost a few per cent of a core.  A schedule more than 200 ms late (the
 * process was stopped, the box is overloaded) is moved forward instead of
 * being caught up in one flood.
 *
 * RTP (--rtp, --rtp-movistar): version 2, payload type 33, sequence numbers
 * from --start-seq counting every scheduled datagram (dropped ones too), a
 * 90 kHz timestamp of the scheduled send time, SSRC 0x4d435300 + the index
 * of the destination.
 *
 * Markers (--marker TEXT, raw framing only): once per second of the
 * schedule (at schedule time 0, 1 s, 2 s, ...) one extra 188-byte datagram
 * goes out right before the datagram due at that time: a single TS packet on
 * PID 0x1FF0 (in no PMT, so players ignore it), payload_unit_start set,
 * payload only, its own continuity counter, payload "SGMARK <TEXT> t=<N>"
 * (N = --marker-start + the whole seconds of schedule elapsed) padded with
 * 0xFF.  A test receiving the stream can tell which stream it gets and at
 * which position.  Markers are never dropped or reordered.
 *
 * Test traffic must never leave the machine: multicast goes out through
 * the interface of --iface (default 127.0.0.1, i.e. lo) with TTL 1.
 *
 * Usage:
 *
 *   mcsend media.ts 239.1.1.1:5000
 *   mcsend --rtp --rate 40 media.ts 239.1.1.1:5000 239.1.1.2:5000
 *   mcsend --rtp-movistar --drop-every 100 --stop-after 5 media.ts \
 *          127.0.0.1:5000
 *   mcsend --raw --marker "pid=123 ch=1" --marker-start 600 --duration 60 \
 *          media.ts 127.0.0.1:40000
 *
 * Run "mcsend -h" for all options.  Exit status: 0 when the run ended
 * (--loops, --duration, SIGTERM or SIGINT), 1 on setup errors (file,
 * sockets), 2 on usage errors.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* sendmmsg(); meson passes it too */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT         103
#endif

#define MCS_TS_SIZE         188
#define MCS_TS_SYNC         0x47
#define MCS_DGRAM_PKTS      7                       /* TS packets a datagram */
#define MCS_DGRAM_SIZE      (MCS_DGRAM_PKTS * MCS_TS_SIZE)      /* 1316 */
#define MCS_RTP_SIZE        12
#define MCS_RTP_EXT_SIZE    (4 + 12)    /* extension header + 3 words */
#define MCS_HDR_MAX         (MCS_RTP_SIZE + MCS_RTP_EXT_SIZE)
#define MCS_RTP_PT_MP2T     33
#define MCS_RTP_EXT_PROFILE 0xabac      /* Movistar's extension profile */
#define MCS_SSRC_BASE       0x4d435300u /* "MCS\0" + destination index */
#define MCS_MAX_DESTS       256
#define MCS_BURST           256         /* datagrams per sendmmsg() at most */
#define MCS_GSO_SEGS        32          /* datagrams per GSO buffer at most */
#define MCS_SYNC_CHECK      5           /* syncs in a row to accept a start */
#define MCS_NS              1000000000LL
#define MCS_MS              1000000LL
#define MCS_MIN_WAKE        MCS_MS      /* at most one burst per ms */
#define MCS_MAX_SLEEP       (50 * MCS_MS)   /* bounds a missed signal */
#define MCS_LATE_LIMIT      (200 * MCS_MS)  /* later than this: rebase */
#define MCS_PCR_HZ          27000000.0
#define MCS_PCR_WRAP        ((int64_t) 300 << 33)
#define MCS_PCR_MAX_GAP     MCS_PCR_HZ  /* a longer PCR gap is not timing */
#define MCS_MIN_PKT_NS      1.504       /* faster than 1 Gb/s is not timing */
#define MCS_MARK_PID        0x1ff0      /* in no PMT: players ignore it */
#define MCS_MARK_TEXT_MAX   120
#define MCS_MARK_START_MAX  1000000000

enum {
    MCS_RAW = 0,
    MCS_RTP,
    MCS_RTP_MOVISTAR
};

static const char *const mcs_framing_names[] = {
    "raw", "rtp", "rtp-movistar"
};

/* The 12 bytes of the Movistar-style extension: anything stable will do. */
static const uint8_t mcs_movistar_ext[12] = {
    0x00, 0x00, 0x00, 0x01, 'm', 'c', 's', 'e', 'n', 'd', 0x00, 0x00
};

typedef struct {
    const char          *spec;      /* GROUP:PORT as given */
    struct sockaddr_in   addr;
    int                  fd;
    int                  multicast;
    int                  gso;       /* UDP_SEGMENT is on */
    uint32_t             ssrc;
} mcs_dest_t;

/* One datagram of the endless (or --loops long) packet sequence, or a
 * --marker packet (mark >= 0: the slot of mark_pkts[] holding it). */
typedef struct {
    uint64_t    pkt;        /* sequence number of its first TS packet */
    uint32_t    npkts;      /* 7, fewer only for the last one of --loops;
                               1 for a marker */
    int32_t     mark;       /* -1, or the marker's slot in mark_pkts[] */
    uint16_t    seq;        /* RTP sequence number */
    uint32_t    ts;         /* RTP timestamp (90 kHz) */
} mcs_dgram_t;

typedef struct {
    /* options */
    const char      *path;
    double           rate_mbps;         /* 0 = PCR pacing */
    uint64_t         loops;             /* 0 = forever */
    int64_t          duration_ns;       /* 0 = forever */
    int64_t          stop_after_ns;     /* -1 = never */
    int              media_time;        /* --media-time */
    uint64_t         drop_every;        /* 0 = off */
    uint64_t         reorder_every;     /* 0 = off */
    int              framing;
    int              stats;
    int              no_gso;
    uint16_t         start_seq;
    int              ttl;
    int              ttl_set;
    struct in_addr   iface;
    struct in_addr   bind_addr;
    int              bind_set;
    const char      *mark_text;         /* NULL = no markers */
    uint64_t         mark_start;
    mcs_dest_t      *dests;
    uint32_t         ndests;

    /* the file: npkts packets, then MCS_DGRAM_PKTS - 1 more that repeat
     * its start, so any datagram is contiguous even across the loop point */
    uint8_t         *ts;
    uint64_t         npkts;
    int64_t         *pkt_ns;            /* npkts + 1 times, pkt_ns[0] = 0 */
    int64_t          loop_ns;           /* = pkt_ns[npkts] */

    /* the run */
    int64_t          t_start;
    int64_t          base;              /* schedule origin (moves if late) */
    uint64_t         next_pkt;          /* next packet to send */
    uint64_t         end_pkt;           /* UINT64_MAX = forever */
    uint64_t         dgram_no;          /* datagrams scheduled so far */
    mcs_dgram_t      held;              /* --reorder-every: goes after next */
    int              has_held;
    uint64_t         mark_no;           /* markers sent so far = next second */
    uint8_t          mark_cc;           /* continuity counter of PID 0x1FF0 */
    uint8_t        (*mark_pkts)[MCS_TS_SIZE];   /* MCS_BURST slots */

    /* counters */
    uint64_t         sent_dgrams, sent_bytes, dropped, errors, late;
    uint64_t         mark_dgrams, mark_bytes;
    int64_t          mark_time;
    int64_t          last_err_report;
    uint64_t         unreported_errors;
} mcs_run_t;

static volatile sig_atomic_t  mcs_stop;

static const struct option mcs_long_options[] = {
    { "rate",          required_argument, NULL, 'r' },
    { "loops",         required_argument, NULL, 'l' },
    { "duration",      required_argument, NULL, 'd' },
    { "raw",           no_argument,       NULL, 'R' },
    { "rtp",           no_argument,       NULL, 'P' },
    { "rtp-movistar",  no_argument,       NULL, 'M' },
    { "drop-every",    required_argument, NULL, 'D' },
    { "reorder-every", required_argument, NULL, 'O' },
    { "stop-after",    required_argument, NULL, 'S' },
    { "media-time",    no_argument,       NULL, 'm' },
    { "start-seq",     required_argument, NULL, 'Q' },
    { "iface",         required_argument, NULL, 'i' },
    { "ttl",           required_argument, NULL, 't' },
    { "bind",          required_argument, NULL, 'b' },
    { "stats",         no_argument,       NULL, 's' },
    { "no-gso",        no_argument,       NULL, 'G' },
    { "marker",        required_argument, NULL, 'K' },
    { "marker-start",  required_argument, NULL, 'k' },
    { "help",          no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static void
mcs_usage(FILE *f)
{
    fprintf(f,
"usage: mcsend [options] FILE.ts GROUP:PORT [GROUP:PORT ...]\n"
"\n"
"Plays FILE.ts, looped, as 7x188-byte datagrams to every destination\n"
"(multicast group or unicast address), paced by its PCRs.\n"
"\n"
"  -r, --rate MBPS        constant bit rate of TS data instead of PCR pacing\n"
"  -l, --loops N          play the file N times, then exit (default forever)\n"
"  -d, --duration SEC     exit after SEC seconds, fractional (default never)\n"
"      --raw              bare 1316-byte TS datagrams (default)\n"
"      --rtp              RTP header (PT 33, 90 kHz send-time timestamp) + TS\n"
"      --rtp-movistar     RTP with Movistar's header extension (profile 0xABAC,\n"
"                         3 words): 1344-byte datagrams\n"
"      --drop-every N     do not send every Nth datagram (RTP seq still counts)\n"
"      --reorder-every N  send datagram N after N+1, 2N after 2N+1, ...\n"
"      --stop-after SEC   stop sending after SEC s and print \"mcsend: silent\",\n"
"                         but stay alive until killed (or --duration)\n"
"      --media-time       with --rate: --duration and --stop-after count\n"
"                         seconds of the file's own time (by its PCRs), not\n"
"                         of the clock, so a faster rate sends the same part\n"
"      --start-seq N      first RTP sequence number (default 0)\n"
"  -i, --iface ADDR       multicast out through the interface with ADDR\n"
"                         (default 127.0.0.1: loopback only)\n"
"  -t, --ttl N            multicast TTL (default 1); sets the TTL of unicast\n"
"                         destinations too when given\n"
"  -b, --bind ADDR        source address (e.g. 127.0.0.2 for SSM tests)\n"
"  -s, --stats            print datagrams and bytes sent once per second\n"
"      --no-gso           one sendmmsg() message per datagram, no UDP GSO\n"
"      --marker TEXT      raw only: every second of the schedule, one extra\n"
"                         188-byte datagram first, a TS packet on PID 0x1FF0\n"
"                         with payload \"SGMARK TEXT t=N\" (TEXT: at most 120\n"
"                         characters)\n"
"      --marker-start N   N of the first marker (default 0), then N+1, ...\n"
"  -h, --help             this text\n"
"\n"
"exit status: 0 done or SIGTERM/SIGINT, 1 setup error, 2 usage error\n");
}


static int64_t
mcs_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * MCS_NS + ts.tv_nsec;
}


static void
mcs_sleep_until(int64_t t)
{
    struct timespec ts;

    ts.tv_sec = (time_t) (t / MCS_NS);
    ts.tv_nsec = (long) (t % MCS_NS);

    /* EINTR: a signal; the caller looks at mcs_stop */
    (void) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}


static void
mcs_on_signal(int sig)
{
    (void) sig;
    mcs_stop = 1;
}


/* ---- command line -------------------------------------------------------- */

static int
mcs_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    unsigned long long  v;
    char               *end;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}


static int
mcs_parse_double(const char *s, double max, double *out)
{
    double  v;
    char   *end;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0) || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}


/* "a.b.c.d:port", numeric only. */
static int
mcs_parse_dest(const char *spec, mcs_dest_t *d)
{
    const char  *colon;
    char         host[INET_ADDRSTRLEN];
    uint64_t     port;
    size_t       len;

    colon = strrchr(spec, ':');
    if (colon == NULL) {
        return -1;
    }
    len = (size_t) (colon - spec);
    if (len == 0 || len >= sizeof(host)) {
        return -1;
    }
    memcpy(host, spec, len);
    host[len] = '\0';

    if (mcs_parse_u64(colon + 1, 65535, &port) != 0 || port == 0) {
        return -1;
    }

    memset(d, 0, sizeof(*d));
    d->addr.sin_family = AF_INET;
    d->addr.sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, host, &d->addr.sin_addr) != 1
        || d->addr.sin_addr.s_addr == htonl(INADDR_ANY))
    {
        return -1;
    }
    d->multicast = IN_MULTICAST(ntohl(d->addr.sin_addr.s_addr));
    d->spec = spec;
    d->fd = -1;
    return 0;
}


/* Returns 0 to run, or an exit status (usage errors: 2, -h: 0 via -1). */
static int
mcs_options(mcs_run_t *run, int argc, char **argv)
{
    uint64_t  v;
    double    d;
    int       ch, i;

    run->stop_after_ns = -1;
    run->ttl = 1;
    run->iface.s_addr = htonl(INADDR_LOOPBACK);

    while ((ch = getopt_long(argc, argv, "r:l:d:i:t:b:sh",
                             mcs_long_options, NULL)) != -1)
    {
        switch (ch) {

        case 'r':
            if (mcs_parse_double(optarg, 100000.0, &d) != 0 || d <= 0.0) {
                fprintf(stderr, "mcsend: bad rate \"%s\"\n", optarg);
                return 2;
            }
            run->rate_mbps = d;
            break;

        case 'l':
            if (mcs_parse_u64(optarg, 1000000000, &v) != 0 || v == 0) {
                fprintf(stderr, "mcsend: bad loop count \"%s\"\n", optarg);
                return 2;
            }
            run->loops = v;
            break;

        case 'd':
            if (mcs_parse_double(optarg, 1e7, &d) != 0 || d <= 0.0) {
                fprintf(stderr, "mcsend: bad duration \"%s\"\n", optarg);
                return 2;
            }
            run->duration_ns = (int64_t) (d * 1e9);
            break;

        case 'R':
            run->framing = MCS_RAW;
            break;

        case 'P':
            run->framing = MCS_RTP;
            break;

        case 'M':
            run->framing = MCS_RTP_MOVISTAR;
            break;

        case 'D':
            if (mcs_parse_u64(optarg, UINT32_MAX, &v) != 0 || v < 2) {
                fprintf(stderr, "mcsend: bad --drop-every \"%s\" (2 or more)\n",
                        optarg);
                return 2;
            }
            run->drop_every = v;
            break;

        case 'O':
            if (mcs_parse_u64(optarg, UINT32_MAX, &v) != 0 || v < 2) {
                fprintf(stderr, "mcsend: bad --reorder-every \"%s\" "
                        "(2 or more)\n", optarg);
                return 2;
            }
            run->reorder_every = v;
            break;

        case 'S':
            if (mcs_parse_double(optarg, 1e7, &d) != 0) {
                fprintf(stderr, "mcsend: bad --stop-after \"%s\"\n", optarg);
                return 2;
            }
            run->stop_after_ns = (int64_t) (d * 1e9);
            break;

        case 'm':
            run->media_time = 1;
            break;

        case 'Q':
            if (mcs_parse_u64(optarg, 65535, &v) != 0) {
                fprintf(stderr, "mcsend: bad --start-seq \"%s\" (0-65535)\n",
                        optarg);
                return 2;
            }
            run->start_seq = (uint16_t) v;
            break;

        case 'i':
            if (inet_pton(AF_INET, optarg, &run->iface) != 1) {
                fprintf(stderr, "mcsend: bad --iface \"%s\"\n", optarg);
                return 2;
            }
            break;

        case 't':
            if (mcs_parse_u64(optarg, 255, &v) != 0 || v == 0) {
                fprintf(stderr, "mcsend: bad TTL \"%s\" (1-255)\n", optarg);
                return 2;
            }
            run->ttl = (int) v;
            run->ttl_set = 1;
            break;

        case 'b':
            if (inet_pton(AF_INET, optarg, &run->bind_addr) != 1) {
                fprintf(stderr, "mcsend: bad --bind \"%s\"\n", optarg);
                return 2;
            }
            run->bind_set = 1;
            break;

        case 's':
            run->stats = 1;
            break;

        case 'G':
            run->no_gso = 1;
            break;

        case 'K':
            if (strlen(optarg) > MCS_MARK_TEXT_MAX) {
                fprintf(stderr, "mcsend: --marker text longer than %d "
                        "characters\n", MCS_MARK_TEXT_MAX);
                return 2;
            }
            run->mark_text = optarg;
            break;

        case 'k':
            if (mcs_parse_u64(optarg, MCS_MARK_START_MAX, &v) != 0) {
                fprintf(stderr, "mcsend: bad --marker-start \"%s\" "
                        "(0-%d)\n", optarg, MCS_MARK_START_MAX);
                return 2;
            }
            run->mark_start = v;
            break;

        case 'h':
            mcs_usage(stdout);
            return -1;

        default:
            mcs_usage(stderr);
            return 2;
        }
    }

    if (run->mark_text != NULL && run->framing != MCS_RAW) {
        fprintf(stderr, "mcsend: --marker needs raw framing (not --%s)\n",
                mcs_framing_names[run->framing]);
        return 2;
    }

    if (argc - optind < 2) {
        fprintf(stderr, "mcsend: a file and at least one GROUP:PORT are "
                "required\n");
        mcs_usage(stderr);
        return 2;
    }

    run->path = argv[optind++];

    if (argc - optind > MCS_MAX_DESTS) {
        fprintf(stderr, "mcsend: too many destinations (at most %d)\n",
                MCS_MAX_DESTS);
        return 2;
    }

    run->dests = calloc((size_t) (argc - optind), sizeof(mcs_dest_t));
    if (run->dests == NULL) {
        fprintf(stderr, "mcsend: out of memory\n");
        return 2;
    }

    for (i = optind; i < argc; i++) {
        if (mcs_parse_dest(argv[i], &run->dests[run->ndests]) != 0) {
            fprintf(stderr, "mcsend: bad destination \"%s\" "
                    "(want a.b.c.d:port)\n", argv[i]);
            return 2;
        }
        run->dests[run->ndests].ssrc = MCS_SSRC_BASE + run->ndests;
        run->ndests++;
    }

    return 0;
}


/* ---- the file ------------------------------------------------------------ */

static int
mcs_read_file(mcs_run_t *run)
{
    struct stat   st;
    uint8_t      *buf;
    size_t        size, got, off, n, j;
    ssize_t       r;
    int           fd;

    fd = open(run->path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "mcsend: %s: %s\n", run->path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "mcsend: %s: fstat: %s\n", run->path, strerror(errno));
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode) || st.st_size < MCS_TS_SIZE) {
        fprintf(stderr, "mcsend: %s: not a regular file of at least one "
                "TS packet\n", run->path);
        close(fd);
        return -1;
    }

    if ((uint64_t) st.st_size > SIZE_MAX / 2) {
        fprintf(stderr, "mcsend: %s: too big\n", run->path);
        close(fd);
        return -1;
    }
    size = (size_t) st.st_size;

    /* room for the repeated start behind the last packet */
    buf = malloc(size + MCS_DGRAM_SIZE);
    if (buf == NULL) {
        fprintf(stderr, "mcsend: out of memory for %s\n", run->path);
        close(fd);
        return -1;
    }

    for (got = 0; got < size; got += (size_t) r) {
        r = read(fd, buf + got, size - got);
        if (r == -1 && errno == EINTR) {
            r = 0;
            continue;
        }
        if (r <= 0) {
            fprintf(stderr, "mcsend: %s: read: %s\n", run->path,
                    r == 0 ? "file shrank" : strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);

    /* the first offset with MCS_SYNC_CHECK syncs in a row (or up to EOF) */
    for (off = 0; off < size; off++) {
        for (j = 0; j < MCS_SYNC_CHECK; j++) {
            if (off + j * MCS_TS_SIZE >= size
                || buf[off + j * MCS_TS_SIZE] != MCS_TS_SYNC)
            {
                break;
            }
        }
        if (j == MCS_SYNC_CHECK
            || (j > 0 && off + j * MCS_TS_SIZE >= size))
        {
            break;
        }
    }

    n = (size - off) / MCS_TS_SIZE;
    if (off == size || n == 0) {
        fprintf(stderr, "mcsend: %s: no MPEG-TS sync found\n", run->path);
        free(buf);
        return -1;
    }

    /* every packet from there on must be in sync */
    for (j = 0; j < n; j++) {
        if (buf[off + j * MCS_TS_SIZE] != MCS_TS_SYNC) {
            fprintf(stderr, "mcsend: %s: TS sync lost at offset %zu "
                    "(packet %zu); not a 188-byte packet stream\n",
                    run->path, off + j * MCS_TS_SIZE, j);
            free(buf);
            return -1;
        }
    }

    if (off != 0) {
        fprintf(stderr, "mcsend: %s: skipping %zu bytes before the first "
                "sync\n", run->path, off);
        memmove(buf, buf + off, n * MCS_TS_SIZE);
    }
    if (off + n * MCS_TS_SIZE != size) {
        fprintf(stderr, "mcsend: %s: ignoring %zu trailing bytes\n",
                run->path, size - off - n * MCS_TS_SIZE);
    }

    /* packets n .. n+5 repeat packets 0 .. 5 (the file may be shorter) */
    for (j = 0; j < MCS_DGRAM_PKTS - 1; j++) {
        memcpy(buf + (n + j) * MCS_TS_SIZE, buf + (j % n) * MCS_TS_SIZE,
               MCS_TS_SIZE);
    }

    run->ts = buf;
    run->npkts = n;
    return 0;
}


/* The PCR of a packet, or -1. */
static int64_t
mcs_pcr(const uint8_t *p, int *pid, int *disc)
{
    int64_t  base;

    if ((p[1] & 0x80) != 0              /* transport_error_indicator */
        || (p[3] & 0x20) == 0           /* no adaptation field */
        || p[4] < 7                     /* too short for a PCR */
        || (p[5] & 0x10) == 0)          /* PCR_flag */
    {
        return -1;
    }

    *pid = ((p[1] & 0x1f) << 8) | p[2];
    *disc = (p[5] & 0x80) != 0;

    base = ((int64_t) p[6] << 25) | ((int64_t) p[7] << 17)
           | ((int64_t) p[8] << 9) | ((int64_t) p[9] << 1) | (p[10] >> 7);
    return base * 300 + (((p[10] & 0x01) << 8) | p[11]);
}


/* Constant bit rate: every packet takes the same time. */
static int
mcs_times_fixed(mcs_run_t *run)
{
    double    ns_per_pkt;
    uint64_t  i;

    ns_per_pkt = MCS_TS_SIZE * 8 * 1e3 / run->rate_mbps;
    for (i = 0; i <= run->npkts; i++) {
        run->pkt_ns[i] = llround((double) i * ns_per_pkt);
    }
    return 0;
}


/*
 * PCR pacing.  The PCR PID is the one with the most PCRs.  Between two
 * consecutive PCRs of it the packets are spread evenly over the PCR
 * difference; a segment that is no timing (discontinuity, PCR going back or
 * jumping by more than a second, over 1 Gb/s) borrows the rate of the previous good one
 * (or of the first good one).  Before the first and after the last PCR the
 * neighbouring segment's rate applies, which also gives the loop length.
 */
static int
mcs_times_pcr(mcs_run_t *run)
{
    uint32_t   *counts;
    uint64_t   *idx, i, k, npcr, first_good, seg_pkts;
    int64_t    *pcr, delta;
    double     *ns_pp, t, seg_ns;
    int         pid, disc, best, rc;
    uint8_t    *good;

    rc = -1;
    idx = NULL;
    pcr = NULL;
    ns_pp = NULL;
    good = NULL;

    counts = calloc(8192, sizeof(uint32_t));
    if (counts == NULL) {
        fprintf(stderr, "mcsend: out of memory\n");
        return -1;
    }

    for (i = 0; i < run->npkts; i++) {
        if (mcs_pcr(run->ts + i * MCS_TS_SIZE, &pid, &disc) >= 0) {
            counts[pid]++;
        }
    }

    best = 0;
    for (pid = 1; pid < 8192; pid++) {
        if (counts[pid] > counts[best]) {
            best = pid;
        }
    }
    npcr = counts[best];
    free(counts);

    if (npcr < 2) {
        fprintf(stderr, "mcsend: %s: fewer than two PCRs, cannot pace by "
                "PCR; use --rate MBPS\n", run->path);
        return -1;
    }

    idx = malloc(npcr * sizeof(*idx));
    pcr = malloc(npcr * sizeof(*pcr));
    good = calloc(npcr, 1);
    ns_pp = malloc(npcr * sizeof(*ns_pp));
    if (idx == NULL || pcr == NULL || good == NULL || ns_pp == NULL) {
        fprintf(stderr, "mcsend: out of memory\n");
        goto done;
    }

    /* good[k]: segment k (PCR k to k+1) is usable timing */
    k = 0;
    for (i = 0; i < run->npkts; i++) {
        int64_t  v;

        v = mcs_pcr(run->ts + i * MCS_TS_SIZE, &pid, &disc);
        if (v < 0 || pid != best) {
            continue;
        }
        idx[k] = i;
        pcr[k] = v;
        if (k > 0) {
            delta = (v - pcr[k - 1] + MCS_PCR_WRAP) % MCS_PCR_WRAP;
            ns_pp[k - 1] = (double) delta * (1e9 / MCS_PCR_HZ)
                           / (double) (i - idx[k - 1]);
            good[k - 1] = !disc && delta > 0 && delta <= MCS_PCR_MAX_GAP
                          && ns_pp[k - 1] >= MCS_MIN_PKT_NS;
        }
        k++;
    }

    first_good = npcr;
    for (k = 0; k + 1 < npcr; k++) {
        if (good[k]) {
            first_good = k;
            break;
        }
    }
    if (first_good == npcr) {
        fprintf(stderr, "mcsend: %s: no two consecutive PCRs give a usable "
                "rate; use --rate MBPS\n", run->path);
        goto done;
    }

    /* bad segments: the rate of the previous good one */
    for (k = 0; k + 1 < npcr; k++) {
        if (!good[k]) {
            ns_pp[k] = k < first_good ? ns_pp[first_good] : ns_pp[k - 1];
        }
    }
    ns_pp[npcr - 1] = ns_pp[npcr - 2];      /* the tail */

    /* the head, before the first PCR, at the first segment's rate */
    for (i = 0; i <= idx[0]; i++) {
        run->pkt_ns[i] = llround((double) i * ns_pp[0]);
    }

    t = (double) idx[0] * ns_pp[0];
    for (k = 0; k < npcr; k++) {
        seg_pkts = (k + 1 < npcr ? idx[k + 1] : run->npkts) - idx[k];
        seg_ns = ns_pp[k] * (double) seg_pkts;
        for (i = 1; i <= seg_pkts; i++) {
            run->pkt_ns[idx[k] + i] =
                llround(t + seg_ns * (double) i / (double) seg_pkts);
        }
        t += seg_ns;
    }

    rc = 0;

done:

    free(idx);
    free(pcr);
    free(good);
    free(ns_pp);
    return rc;
}


static int
mcs_load(mcs_run_t *run)
{
    if (mcs_read_file(run) != 0) {
        return -1;
    }

    run->pkt_ns = malloc((run->npkts + 1) * sizeof(int64_t));
    if (run->pkt_ns == NULL) {
        fprintf(stderr, "mcsend: out of memory\n");
        return -1;
    }

    if (run->rate_mbps > 0.0 && run->media_time) {
        /* the file's own length by its PCRs, then scaled to the fixed rate */
        double  scale;

        if (mcs_times_pcr(run) != 0) {
            return -1;
        }
        scale = (double) run->pkt_ns[run->npkts];
        if (mcs_times_fixed(run) != 0 || scale <= 0.0) {
            return -1;
        }
        scale = (double) run->pkt_ns[run->npkts] / scale;
        if (run->duration_ns > 0) {
            run->duration_ns = (int64_t) ((double) run->duration_ns * scale) + 1;
        }
        if (run->stop_after_ns >= 0) {
            run->stop_after_ns = (int64_t) ((double) run->stop_after_ns * scale);
        }
    } else if ((run->rate_mbps > 0.0 ? mcs_times_fixed(run)
                                     : mcs_times_pcr(run)) != 0)
    {
        return -1;
    }

    run->loop_ns = run->pkt_ns[run->npkts];
    if (run->loop_ns <= 0) {
        fprintf(stderr, "mcsend: %s: the file takes no time to play\n",
                run->path);
        return -1;
    }

    run->end_pkt = run->loops > 0 && run->loops <= UINT64_MAX / run->npkts
                   ? run->loops * run->npkts : UINT64_MAX;
    return 0;
}


/* ---- sockets ------------------------------------------------------------- */

static int
mcs_open_dest(mcs_run_t *run, mcs_dest_t *d)
{
    struct sockaddr_in  sa;
    unsigned char       c;
    int                 v, sndbuf, gso_size;

    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (d->fd == -1) {
        fprintf(stderr, "mcsend: %s: socket: %s\n", d->spec, strerror(errno));
        return -1;
    }

    /* a few ms of a fast stream, so a burst never blocks on the buffer */
    sndbuf = 1024 * 1024;
    if (setsockopt(d->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf))
        != 0)
    {
        fprintf(stderr, "mcsend: %s: SO_SNDBUF: %s\n", d->spec,
                strerror(errno));
        return -1;
    }

    if (run->bind_set) {
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr = run->bind_addr;
        if (bind(d->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
            char  a[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &run->bind_addr, a, sizeof(a));
            fprintf(stderr, "mcsend: %s: bind %s: %s\n", d->spec, a,
                    strerror(errno));
            return -1;
        }
    }

    if (d->multicast) {
        if (setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_IF, &run->iface,
                       sizeof(run->iface)) != 0)
        {
            char  a[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &run->iface, a, sizeof(a));
            fprintf(stderr, "mcsend: %s: IP_MULTICAST_IF %s: %s\n", d->spec,
                    a, strerror(errno));
            return -1;
        }

        c = (unsigned char) run->ttl;
        if (setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_TTL, &c, sizeof(c))
            != 0)
        {
            fprintf(stderr, "mcsend: %s: IP_MULTICAST_TTL: %s\n", d->spec,
                    strerror(errno));
            return -1;
        }

        c = 1;
        if (setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &c, sizeof(c))
            != 0)
        {
            fprintf(stderr, "mcsend: %s: IP_MULTICAST_LOOP: %s\n", d->spec,
                    strerror(errno));
            return -1;
        }

    } else if (run->ttl_set) {
        v = run->ttl;
        if (setsockopt(d->fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)) != 0) {
            fprintf(stderr, "mcsend: %s: IP_TTL: %s\n", d->spec,
                    strerror(errno));
            return -1;
        }
    }

    /* best effort: without GSO every datagram is its own message */
    if (!run->no_gso) {
        gso_size = MCS_DGRAM_SIZE
                   + (run->framing == MCS_RAW ? 0
                      : run->framing == MCS_RTP ? MCS_RTP_SIZE : MCS_HDR_MAX);
        d->gso = setsockopt(d->fd, IPPROTO_UDP, UDP_SEGMENT, &gso_size,
                            sizeof(gso_size)) == 0;
    }

    return 0;
}


/* SIGINT/SIGTERM end the run with status 0, even while loading. */
static int
mcs_signals(void)
{
    struct sigaction  sa;

    /* no SA_RESTART: the signal must cut a sleep or a send short */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = mcs_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0
        || sigaction(SIGTERM, &sa, NULL) != 0)
    {
        fprintf(stderr, "mcsend: sigaction: %s\n", strerror(errno));
        return -1;
    }

    return 0;
}


static int
mcs_setup(mcs_run_t *run)
{
    uint32_t  i;

    if (run->mark_text != NULL) {
        run->mark_pkts = calloc(MCS_BURST, sizeof(*run->mark_pkts));
        if (run->mark_pkts == NULL) {
            fprintf(stderr, "mcsend: out of memory\n");
            return -1;
        }
    }

    for (i = 0; i < run->ndests; i++) {
        if (mcs_open_dest(run, &run->dests[i]) != 0) {
            return -1;
        }
    }

    return 0;
}


/* ---- sending ------------------------------------------------------------- */

/* Time of packet number pkt of the endless sequence, from the origin. */
static int64_t
mcs_pkt_time(const mcs_run_t *run, uint64_t pkt)
{
    return (int64_t) (pkt / run->npkts) * run->loop_ns
           + run->pkt_ns[pkt % run->npkts];
}


static uint32_t
mcs_dgram_pkts(const mcs_run_t *run, uint64_t pkt)
{
    return run->end_pkt - pkt < MCS_DGRAM_PKTS
           ? (uint32_t) (run->end_pkt - pkt) : MCS_DGRAM_PKTS;
}


/* When the next datagram is due (absolute), INT64_MAX if none is left. */
static int64_t
mcs_next_deadline(const mcs_run_t *run)
{
    if (run->next_pkt >= run->end_pkt) {
        return INT64_MAX;
    }
    return run->base
           + mcs_pkt_time(run, run->next_pkt
                               + mcs_dgram_pkts(run, run->next_pkt));
}


static size_t
mcs_header(const mcs_run_t *run, const mcs_dest_t *d, const mcs_dgram_t *g,
    uint8_t *h)
{
    if (run->framing == MCS_RAW) {
        return 0;
    }

    h[0] = 0x80 | (run->framing == MCS_RTP_MOVISTAR ? 0x10 : 0);
    h[1] = MCS_RTP_PT_MP2T;
    h[2] = (uint8_t) (g->seq >> 8);
    h[3] = (uint8_t) g->seq;
    h[4] = (uint8_t) (g->ts >> 24);
    h[5] = (uint8_t) (g->ts >> 16);
    h[6] = (uint8_t) (g->ts >> 8);
    h[7] = (uint8_t) g->ts;
    h[8] = (uint8_t) (d->ssrc >> 24);
    h[9] = (uint8_t) (d->ssrc >> 16);
    h[10] = (uint8_t) (d->ssrc >> 8);
    h[11] = (uint8_t) d->ssrc;

    if (run->framing == MCS_RTP) {
        return MCS_RTP_SIZE;
    }

    h[12] = (uint8_t) (MCS_RTP_EXT_PROFILE >> 8);
    h[13] = (uint8_t) MCS_RTP_EXT_PROFILE;
    h[14] = 0;
    h[15] = 3;                              /* length in 32-bit words */
    memcpy(h + 16, mcs_movistar_ext, sizeof(mcs_movistar_ext));
    return MCS_HDR_MAX;
}


static void
mcs_send_error(mcs_run_t *run, const mcs_dest_t *d, int err, int64_t now)
{
    run->errors++;

    if (run->last_err_report != 0 && now - run->last_err_report < MCS_NS) {
        run->unreported_errors++;
        return;
    }

    fprintf(stderr, "mcsend: %s: sendmmsg: %s", d->spec, strerror(err));
    if (run->unreported_errors > 0) {
        fprintf(stderr, " (and %" PRIu64 " more errors)",
                run->unreported_errors);
    }
    fputc('\n', stderr);
    run->last_err_report = now;
    run->unreported_errors = 0;
}


/*
 * Send g[first..n) to one destination.  With UDP GSO a run of up to
 * MCS_GSO_SEGS datagrams goes to the kernel as one buffer that it cuts into
 * the same datagrams again (the receiver sees no difference, the sender
 * pays for one skb instead of several).  Only the last datagram of a run
 * may be shorter (the end of --loops).  Should GSO fail on the way out
 * (a device without checksum offload), the destination falls back to one
 * message per datagram.
 */
static void
mcs_send_dest(mcs_run_t *run, mcs_dest_t *d, const mcs_dgram_t *g,
    uint32_t first, uint32_t n)
{
    static struct mmsghdr  msgs[MCS_BURST];
    static struct iovec    iov[MCS_BURST * 2];
    static uint8_t         hdr[MCS_BURST][MCS_HDR_MAX];
    static uint32_t        msg_first[MCS_BURST], msg_dgrams[MCS_BURST];
    uint32_t               i, m, nmsgs, done, niov;
    size_t                 hl, len;
    int                    r, err;

    nmsgs = 0;
    niov = 0;
    m = 0;

    for (i = first; i < n; i++) {
        hl = mcs_header(run, d, &g[i], hdr[i]);
        len = (size_t) g[i].npkts * MCS_TS_SIZE;

        /* a new message unless this datagram can join the previous run */
        if (i == first || !d->gso || msg_dgrams[m] == MCS_GSO_SEGS
            || g[i - 1].npkts != MCS_DGRAM_PKTS)
        {
            m = nmsgs++;
            memset(&msgs[m], 0, sizeof(msgs[m]));
            msgs[m].msg_hdr.msg_name = &d->addr;
            msgs[m].msg_hdr.msg_namelen = sizeof(d->addr);
            msgs[m].msg_hdr.msg_iov = &iov[niov];
            msg_first[m] = i;
            msg_dgrams[m] = 0;
        }

        if (hl > 0) {
            iov[niov].iov_base = hdr[i];
            iov[niov].iov_len = hl;
            niov++;
            msgs[m].msg_hdr.msg_iovlen++;
        }
        iov[niov].iov_base = g[i].mark >= 0
                             ? run->mark_pkts[g[i].mark]
                             : run->ts + (g[i].pkt % run->npkts) * MCS_TS_SIZE;
        iov[niov].iov_len = len;
        niov++;
        msgs[m].msg_hdr.msg_iovlen++;
        msg_dgrams[m]++;
    }

    for (done = 0; done < nmsgs; ) {
        r = sendmmsg(d->fd, msgs + done, nmsgs - done, 0);
        if (r == -1) {
            err = errno;
            if (err == EINTR) {
                if (mcs_stop) {
                    return;
                }
                continue;
            }

            if (d->gso && msg_dgrams[done] > 1
                && (err == EIO || err == EINVAL || err == EOPNOTSUPP
                    || err == ENOPROTOOPT))
            {
                fprintf(stderr, "mcsend: %s: UDP GSO failed (%s); sending "
                        "datagrams one by one\n", d->spec, strerror(err));
                d->gso = 0;
                mcs_send_dest(run, d, g, msg_first[done], n);
                return;
            }

            /* the message at "done" failed: skip it */
            mcs_send_error(run, d, err, mcs_now());
            done++;
            continue;
        }

        for (i = done; i < done + (uint32_t) r; i++) {
            run->sent_bytes += msgs[i].msg_len;
            run->sent_dgrams += msg_dgrams[i];
        }
        done += (uint32_t) r;
    }
}


/* Send the n datagrams of g[] to every destination. */
static void
mcs_send_burst(mcs_run_t *run, const mcs_dgram_t *g, uint32_t n)
{
    uint32_t  k;

    for (k = 0; k < run->ndests && !mcs_stop; k++) {
        mcs_send_dest(run, &run->dests[k], g, 0, n);
    }
}


/*
 * The --marker packet of the current second into slot "slot" of
 * mark_pkts[], described by *g.
 */
static void
mcs_mark(mcs_run_t *run, mcs_dgram_t *g, uint32_t slot)
{
    uint8_t  *p;
    int       len;

    p = run->mark_pkts[slot];
    memset(p, 0xff, MCS_TS_SIZE);
    p[0] = MCS_TS_SYNC;
    p[1] = 0x40 | (MCS_MARK_PID >> 8);     /* payload_unit_start_indicator */
    p[2] = MCS_MARK_PID & 0xff;
    p[3] = 0x10 | run->mark_cc;             /* payload only */
    run->mark_cc = (run->mark_cc + 1) & 0x0f;

    /* at most 7 + 120 + 3 + 20 characters: always fits the 184 bytes */
    len = snprintf((char *) p + 4, MCS_TS_SIZE - 4, "SGMARK %s t=%" PRIu64,
                   run->mark_text, run->mark_start + run->mark_no);
    if (len >= 0 && len < MCS_TS_SIZE - 4) {
        p[4 + len] = 0xff;                  /* snprintf's NUL */
    }

    memset(g, 0, sizeof(*g));
    g->npkts = 1;
    g->mark = (int32_t) slot;
    run->mark_no++;
}


/*
 * Take every datagram due by now off the schedule, applying --drop-every
 * and --reorder-every, with the --marker packet of a second in front of
 * the first datagram due at or after it.  Returns how many went into g[]
 * (MCS_BURST at most: a pass adds three at most, a released held datagram
 * one more).
 */
static uint32_t
mcs_collect(mcs_run_t *run, int64_t now, mcs_dgram_t *g)
{
    mcs_dgram_t  dg;
    int64_t      due;
    uint32_t     n;

    n = 0;
    while (n + 3 < MCS_BURST && run->next_pkt < run->end_pkt) {
        dg.npkts = mcs_dgram_pkts(run, run->next_pkt);
        due = run->base + mcs_pkt_time(run, run->next_pkt + dg.npkts);
        if (due > now) {
            break;
        }

        if (run->mark_text != NULL
            && run->base + (int64_t) run->mark_no * MCS_NS <= due)
        {
            mcs_mark(run, &g[n], n);
            n++;
        }

        dg.mark = -1;
        dg.pkt = run->next_pkt;
        dg.seq = (uint16_t) (run->start_seq + run->dgram_no);
        dg.ts = (uint32_t) ((uint64_t) (due - run->t_start) * 9 / 100000);
        run->next_pkt += dg.npkts;
        run->dgram_no++;

        if (run->drop_every > 0 && run->dgram_no % run->drop_every == 0) {
            run->dropped++;

        } else if (run->reorder_every > 0 && !run->has_held
                   && run->dgram_no % run->reorder_every == 0)
        {
            run->held = dg;
            run->has_held = 1;
            continue;

        } else {
            g[n++] = dg;
        }

        /* the held datagram goes right after the one that followed it */
        if (run->has_held) {
            g[n++] = run->held;
            run->has_held = 0;
        }
    }

    if (run->next_pkt >= run->end_pkt && run->has_held) {
        g[n++] = run->held;
        run->has_held = 0;
    }

    return n;
}


static void
mcs_print_stats(mcs_run_t *run, int64_t now)
{
    double  secs;

    secs = (double) (now - run->mark_time) / 1e9;
    fprintf(stderr, "mcsend: %" PRIu64 " datagrams, %" PRIu64 " bytes in "
            "%.2f s (%.2f Mb/s); total %" PRIu64 " datagrams, %" PRIu64
            " bytes, %" PRIu64 " dropped, %" PRIu64 " errors, %" PRIu64
            " late\n",
            run->sent_dgrams - run->mark_dgrams,
            run->sent_bytes - run->mark_bytes, secs,
            secs > 0.0 ? (double) (run->sent_bytes - run->mark_bytes) * 8
                         / secs / 1e6 : 0.0,
            run->sent_dgrams, run->sent_bytes, run->dropped, run->errors,
            run->late);

    run->mark_dgrams = run->sent_dgrams;
    run->mark_bytes = run->sent_bytes;
    run->mark_time = now;
}


/* --stop-after: send nothing more, wait for a signal (or --duration). */
static void
mcs_silent(int64_t t_end)
{
    int64_t  now, wake;

    fprintf(stderr, "mcsend: silent\n");

    while (!mcs_stop) {
        now = mcs_now();
        if (now >= t_end) {
            break;
        }
        wake = now + MCS_MAX_SLEEP;
        mcs_sleep_until(wake < t_end ? wake : t_end);
    }
}


static void
mcs_loop(mcs_run_t *run)
{
    static mcs_dgram_t  g[MCS_BURST];
    int64_t             now, due, wake, t_end, t_silent, t_stats;
    uint32_t            n;

    run->t_start = mcs_now();
    run->base = run->t_start;
    run->mark_time = run->t_start;
    t_end = run->duration_ns > 0 ? run->t_start + run->duration_ns
                                 : INT64_MAX;
    t_silent = run->stop_after_ns >= 0 ? run->t_start + run->stop_after_ns
                                       : INT64_MAX;
    t_stats = run->stats ? run->t_start + MCS_NS : INT64_MAX;

    for ( ;; ) {
        if (mcs_stop) {
            return;
        }

        now = mcs_now();
        if (now >= t_end) {
            return;
        }

        if (now >= t_silent) {
            mcs_silent(t_end);
            return;
        }

        if (now >= t_stats) {
            mcs_print_stats(run, now);
            t_stats += MCS_NS;
            if (t_stats <= now) {
                t_stats = now + MCS_NS;
            }
        }

        /* far behind (stopped, starved): move on rather than flood */
        due = mcs_next_deadline(run);
        if (due != INT64_MAX && now - due > MCS_LATE_LIMIT) {
            fprintf(stderr, "mcsend: %.1f ms behind schedule, skipping "
                    "ahead\n", (double) (now - due) / 1e6);
            run->base += now - due;
            run->late++;
        }

        n = mcs_collect(run, now, g);
        if (n > 0) {
            mcs_send_burst(run, g, n);
        }

        due = mcs_next_deadline(run);
        if (due == INT64_MAX) {
            return;                         /* --loops done */
        }

        if (due <= now) {
            continue;                       /* a full burst: more is due */
        }

        wake = n > 0 && due < now + MCS_MIN_WAKE ? now + MCS_MIN_WAKE : due;
        if (wake > now + MCS_MAX_SLEEP) {
            wake = now + MCS_MAX_SLEEP;
        }
        if (wake > t_end) {
            wake = t_end;
        }
        if (wake > t_silent) {
            wake = t_silent;
        }
        if (wake > t_stats) {
            wake = t_stats;
        }

        mcs_sleep_until(wake);
    }
}


static void
mcs_cleanup(mcs_run_t *run)
{
    uint32_t  i;

    for (i = 0; i < run->ndests; i++) {
        if (run->dests[i].fd != -1) {
            close(run->dests[i].fd);
        }
    }
    free(run->dests);
    free(run->ts);
    free(run->pkt_ns);
    free(run->mark_pkts);
}


int
main(int argc, char **argv)
{
    mcs_run_t  run;
    int        rc;

    memset(&run, 0, sizeof(run));

    rc = mcs_options(&run, argc, argv);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }

    rc = 1;

    if (mcs_signals() != 0 || mcs_load(&run) != 0 || mcs_setup(&run) != 0) {
        goto done;
    }

    fprintf(stderr, "mcsend: %s -> %u destination(s), %.2f Mb/s (%s), %s\n",
            run.path, run.ndests,
            (double) run.npkts * MCS_TS_SIZE * 8 * 1e3
                / (double) run.loop_ns,
            run.rate_mbps > 0.0 ? "fixed" : "pcr",
            mcs_framing_names[run.framing]);

    mcs_loop(&run);

    if (run.stats) {
        mcs_print_stats(&run, mcs_now());
    }

    rc = 0;

done:

    mcs_cleanup(&run);
    return rc;
}
