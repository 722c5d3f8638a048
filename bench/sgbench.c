/*
 * sgbench - load generator for HTTP/1.1 stream relays (streamgate and others).
 *
 * sgbench opens N long-lived HTTP/1.1 GET requests against one or more
 * stream URLs - think of N IPTV players each pulling an endless MPEG-TS
 * stream - and measures what the relay actually delivers: who connected,
 * how fast the first byte came, the per-client rate, stalls, and whether a
 * few clients that never read (--slow) hurt everyone else.
 *
 * Everything runs in ONE thread around one epoll set: non-blocking sockets,
 * level-triggered events, and an epoll_wait() timeout computed from the next
 * deadline (next ramp start or end of run).  There are no fixed sleeps.
 * Body data is read into one shared static buffer and thrown away.
 *
 * Usage:
 *
 *   sgbench -u http://127.0.0.1:8080/ch/1 -c 500 -d 30 -r 100 -k 10000
 *   sgbench -u URL1 -u URL2 -c 2000 -r 500 --slow 10 --json - -q
 *
 * Run "sgbench -h" for all options.  Exit status: 0 when the run completed
 * (whatever the results), 1 when no client ever connected, 2 on usage or
 * setup errors.
 *
 * Measurement notes:
 *   - all times come from CLOCK_MONOTONIC, taken when sgbench reads the data;
 *   - a stall is a gap of at least --stall ms between two reads of body data
 *     (or between the last read and the end of the connection); the whole gap
 *     counts as stalled time.  Stalls are detected exactly when the gap ends,
 *     so no periodic scan of the clients is needed;
 *   - per-client rates need at least 1 s of data: the "client Mbit/s" numbers
 *     use first body byte -> end, the -k check uses (first byte + 1 s) -> end.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SG_BENCH_BUF_SIZE       (256 * 1024)  /* shared body read buffer */
#define SG_BENCH_HDR_MAX        (16 * 1024)   /* response header cap */
#define SG_BENCH_MAX_EVENTS     1024
#define SG_BENCH_MAX_URLS       1024
#define SG_BENCH_MAX_CLIENTS    1000000
#define SG_BENCH_MAX_ERRORS     256           /* distinct error texts kept */
#define SG_BENCH_ADDR_CLIENTS   20000         /* clients per --bind-base IP */
#define SG_BENCH_FD_RESERVE     32
#define SG_BENCH_NS             1000000000LL
#define SG_BENCH_MS             1000000LL
#define SG_BENCH_RATE_WINDOW    SG_BENCH_NS   /* min. time for a rate sample */
#define SG_BENCH_NO_LENGTH      UINT64_MAX

/* client states */
enum {
    SG_BENCH_IDLE = 0,      /* not started yet (ramp) */
    SG_BENCH_CONNECTING,
    SG_BENCH_SENDING,
    SG_BENCH_HEADERS,
    SG_BENCH_BODY,
    SG_BENCH_SLOW,          /* --slow client parked after the headers */
    SG_BENCH_DONE
};

/* why a client ended; every started client ends with exactly one */
enum {
    SG_BENCH_END_NONE = 0,
    SG_BENCH_END_RUNNING,   /* still open when the run ended */
    SG_BENCH_END_CLOSED,    /* server closed before the end */
    SG_BENCH_END_COMPLETE,  /* Content-Length reached */
    SG_BENCH_END_MAX_BYTES, /* --max-bytes reached */
    SG_BENCH_END_STATUS,    /* status was not 200: closed after headers */
    SG_BENCH_END_ERROR      /* connect, I/O or protocol error */
};

/* protocol errors, stored as negative values next to positive errnos */
#define SG_BENCH_E_EOF_HEADERS  (-1)
#define SG_BENCH_E_HDR_TOO_BIG  (-2)
#define SG_BENCH_E_BAD_STATUS   (-3)
#define SG_BENCH_E_BAD_LENGTH   (-4)

typedef struct {
    const char          *spec;          /* as given on the command line */
    char                *request;       /* complete GET request */
    size_t               request_len;
    struct sockaddr_in   addr;
} sg_bench_url_t;

/* One client: 128 bytes, plus a header buffer while reading headers. */
typedef struct {
    int64_t     t_connect_start;
    int64_t     t_connected;
    int64_t     t_headers;
    int64_t     t_first;        /* first body byte */
    int64_t     t_last;         /* last body read */
    int64_t     t_end;
    int64_t     stalled_ns;
    uint64_t    bytes;          /* body bytes read */
    uint64_t    bytes_mark;     /* bytes read before t_first + 1 s */
    uint64_t    content_length; /* SG_BENCH_NO_LENGTH when absent */
    uint64_t    queued;         /* slow clients: bytes left in the socket */
    char       *hdr;            /* header buffer, SG_BENCH_HDR_MAX bytes */
    int         fd;
    int         err;            /* errno, or SG_BENCH_E_* */
    uint32_t    stalls;
    uint32_t    req_off;        /* request bytes sent */
    uint16_t    hdr_len;
    uint16_t    status;
    uint16_t    url;
    uint8_t     state;
    uint8_t     end;
    uint8_t     slow;
    uint8_t     chunked;
    uint8_t     marked;         /* bytes_mark is valid */
} sg_bench_client_t;

typedef struct {
    /* options */
    sg_bench_url_t      *urls;
    uint32_t             nurls;
    uint32_t             nclients;
    uint32_t             nslow;
    int64_t              duration_ns;
    double               ramp;          /* connections per second, 0 = all */
    uint64_t             kbps;          /* 0 = no rate check */
    int64_t              stall_ns;      /* 0 = stall detection off */
    uint64_t             max_bytes;     /* 0 = unlimited */
    uint32_t             bind_base;     /* host order, 0 = no bind */
    const char          *json_path;
    int                  quiet;

    /* state */
    sg_bench_client_t   *clients;
    int                  ep;
    uint32_t             next_start;    /* next client to start */
    uint32_t             active;        /* started and not done */
    int64_t              t0;            /* start of the run */
    int64_t              t_end;         /* planned end of the run */
    int64_t              t_stop;        /* actual end of the run */
} sg_bench_run_t;

/* Distribution of a sample: nearest-rank percentiles. */
typedef struct {
    size_t  n;
    double  min, p1, p50, p90, p99, max;
} sg_bench_dist_t;

typedef struct {
    int         code;
    uint32_t    count;
} sg_bench_errcount_t;

typedef struct {
    uint32_t            requested, started, not_started, connected;
    uint32_t            ok, non200, chunked, with_body;
    uint32_t            running, closed_early, completed, max_bytes, errors;
    uint32_t            stalled_clients, rate_checked, below90, below99;
    uint32_t            slow, slow_kicked;
    uint64_t            bytes, stalls, slow_bytes_min, slow_bytes_max;
    double              duration_s, mbps_total, stalled_s;
    double              cpu_user_s, cpu_sys_s;
    sg_bench_dist_t     client_mbps, ttfb_ms, tth_ms;
    uint32_t            status_counts[1000];
    sg_bench_errcount_t error_counts[SG_BENCH_MAX_ERRORS];
    uint32_t            nerrors;
} sg_bench_result_t;

static volatile sig_atomic_t  sg_bench_stop;
static unsigned char          sg_bench_buf[SG_BENCH_BUF_SIZE];

static const struct option sg_bench_long_options[] = {
    { "url",       required_argument, NULL, 'u' },
    { "clients",   required_argument, NULL, 'c' },
    { "duration",  required_argument, NULL, 'd' },
    { "ramp",      required_argument, NULL, 'r' },
    { "kbps",      required_argument, NULL, 'k' },
    { "stall",     required_argument, NULL, 's' },
    { "slow",      required_argument, NULL, 'S' },
    { "json",      required_argument, NULL, 'J' },
    { "bind-base", required_argument, NULL, 'B' },
    { "max-bytes", required_argument, NULL, 'M' },
    { "quiet",     no_argument,       NULL, 'q' },
    { "help",      no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static void
sg_bench_usage(FILE *f)
{
    fprintf(f,
"usage: sgbench -u URL [-u URL ...] [options]\n"
"\n"
"  -u, --url URL        http://host[:port]/path to pull; repeat to spread the\n"
"                       clients round-robin over several streams\n"
"  -c, --clients N      concurrent clients (default 1)\n"
"  -d, --duration SEC   run time counted from the start, fractional (default 10)\n"
"  -r, --ramp RATE      connections opened per second (default 0 = all at once)\n"
"  -k, --kbps KBPS      expected per-client rate: count clients below 90%%/99%%\n"
"  -s, --stall MS       no body data for MS ms = a stall (default 1000, 0 = off)\n"
"      --slow K         the first K clients read the headers, then never again\n"
"      --json FILE      also write the result as one JSON object (\"-\" = stdout)\n"
"      --bind-base IP   bind clients to IP, IP+1, ... (20000 clients per address)\n"
"      --max-bytes N    a client closes after N body bytes (default unlimited)\n"
"  -q, --quiet          no human-readable report\n"
"  -h, --help           this text\n"
"\n"
"exit status: 0 run completed, 1 no client ever connected, 2 usage/setup error\n");
}


static int64_t
sg_bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * SG_BENCH_NS + ts.tv_nsec;
}


static void
sg_bench_on_signal(int sig)
{
    (void) sig;
    sg_bench_stop = 1;
}


/* ---- command line -------------------------------------------------------- */

static int
sg_bench_parse_u64(const char *s, uint64_t max, uint64_t *out)
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
sg_bench_parse_double(const char *s, double max, double *out)
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


/*
 * Parse "http://host[:port][/path]", resolve host once (IPv4) and build
 * the request.
 */
static int
sg_bench_url_parse(const char *spec, sg_bench_url_t *u)
{
    const char       *auth, *auth_end, *path, *colon, *p;
    char              host[256], port[8];
    size_t            host_len, auth_len, path_len, port_len, cap;
    struct addrinfo   hints, *res;
    int               rc, n;

    if (strncasecmp(spec, "http://", 7) != 0) {
        fprintf(stderr, "sgbench: %s: only http:// URLs are supported\n",
                spec);
        return -1;
    }

    auth = spec + 7;
    auth_end = auth + strcspn(auth, "/?#");
    auth_len = (size_t) (auth_end - auth);

    if (auth_len == 0 || memchr(auth, '@', auth_len) != NULL
        || auth[0] == '[')
    {
        fprintf(stderr, "sgbench: %s: bad or unsupported host "
                "(no user info, no IPv6)\n", spec);
        return -1;
    }

    colon = memchr(auth, ':', auth_len);
    host_len = colon ? (size_t) (colon - auth) : auth_len;
    if (host_len == 0 || host_len >= sizeof(host)) {
        fprintf(stderr, "sgbench: %s: bad host\n", spec);
        return -1;
    }
    memcpy(host, auth, host_len);
    host[host_len] = '\0';

    if (colon) {
        port_len = (size_t) (auth_end - colon - 1);
        if (port_len == 0 || port_len > 5) {
            fprintf(stderr, "sgbench: %s: bad port\n", spec);
            return -1;
        }
        for (p = colon + 1; p < auth_end; p++) {
            if (*p < '0' || *p > '9') {
                fprintf(stderr, "sgbench: %s: bad port\n", spec);
                return -1;
            }
        }
        memcpy(port, colon + 1, port_len);
        port[port_len] = '\0';
        if (atoi(port) < 1 || atoi(port) > 65535) {
            fprintf(stderr, "sgbench: %s: bad port\n", spec);
            return -1;
        }

    } else {
        strcpy(port, "80");
    }

    /* the path runs up to an optional fragment, which is never sent */
    path = auth_end;
    path_len = strcspn(path, "#");
    if (path_len > 8192) {
        fprintf(stderr, "sgbench: %s: path too long\n", spec);
        return -1;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sgbench: %s: cannot resolve \"%s\": %s\n",
                spec, host, gai_strerror(rc));
        return -1;
    }
    memcpy(&u->addr, res->ai_addr, sizeof(u->addr));
    freeaddrinfo(res);

    cap = path_len + auth_len + 128;
    u->request = malloc(cap);
    if (u->request == NULL) {
        fprintf(stderr, "sgbench: out of memory\n");
        return -1;
    }

    n = snprintf(u->request, cap,
                 "GET %s%.*s HTTP/1.1\r\n"
                 "Host: %.*s\r\n"
                 "User-Agent: sgbench/1\r\n"
                 "Accept: */*\r\n"
                 "Connection: close\r\n"
                 "\r\n",
                 (path_len == 0 || path[0] != '/') ? "/" : "",
                 (int) path_len, path, (int) auth_len, auth);
    if (n < 0 || (size_t) n >= cap) {
        fprintf(stderr, "sgbench: %s: cannot build request\n", spec);
        return -1;
    }

    u->request_len = (size_t) n;
    u->spec = spec;
    return 0;
}


/* Returns 0 to run, or an exit status (usage errors: 2, -h: 0 via -1). */
static int
sg_bench_options(sg_bench_run_t *run, int argc, char **argv)
{
    sg_bench_url_t   *urls;
    struct in_addr    ia;
    uint64_t          v;
    double            d;
    int               ch;

    run->nclients = 1;
    run->duration_ns = 10 * SG_BENCH_NS;
    run->stall_ns = 1000 * SG_BENCH_MS;

    while ((ch = getopt_long(argc, argv, "u:c:d:r:k:s:qh",
                             sg_bench_long_options, NULL)) != -1)
    {
        switch (ch) {

        case 'u':
            if (run->nurls == SG_BENCH_MAX_URLS) {
                fprintf(stderr, "sgbench: too many URLs\n");
                return 2;
            }
            urls = realloc(run->urls, (run->nurls + 1) * sizeof(*urls));
            if (urls == NULL) {
                fprintf(stderr, "sgbench: out of memory\n");
                return 2;
            }
            run->urls = urls;
            memset(&urls[run->nurls], 0, sizeof(*urls));
            if (sg_bench_url_parse(optarg, &urls[run->nurls]) != 0) {
                free(urls[run->nurls].request);
                return 2;
            }
            run->nurls++;
            break;

        case 'c':
            if (sg_bench_parse_u64(optarg, SG_BENCH_MAX_CLIENTS, &v) != 0
                || v == 0)
            {
                fprintf(stderr, "sgbench: bad client count \"%s\"\n", optarg);
                return 2;
            }
            run->nclients = (uint32_t) v;
            break;

        case 'd':
            if (sg_bench_parse_double(optarg, 1e6, &d) != 0 || d <= 0.0) {
                fprintf(stderr, "sgbench: bad duration \"%s\"\n", optarg);
                return 2;
            }
            run->duration_ns = (int64_t) (d * 1e9);
            break;

        case 'r':
            if (sg_bench_parse_double(optarg, 1e7, &d) != 0) {
                fprintf(stderr, "sgbench: bad ramp \"%s\"\n", optarg);
                return 2;
            }
            run->ramp = d;
            break;

        case 'k':
            if (sg_bench_parse_u64(optarg, 100000000, &v) != 0 || v == 0) {
                fprintf(stderr, "sgbench: bad rate \"%s\"\n", optarg);
                return 2;
            }
            run->kbps = v;
            break;

        case 's':
            if (sg_bench_parse_u64(optarg, 86400000, &v) != 0) {
                fprintf(stderr, "sgbench: bad stall time \"%s\"\n", optarg);
                return 2;
            }
            run->stall_ns = (int64_t) v * SG_BENCH_MS;
            break;

        case 'S':
            if (sg_bench_parse_u64(optarg, SG_BENCH_MAX_CLIENTS, &v) != 0) {
                fprintf(stderr, "sgbench: bad slow count \"%s\"\n", optarg);
                return 2;
            }
            run->nslow = (uint32_t) v;
            break;

        case 'J':
            run->json_path = optarg;
            break;

        case 'B':
            if (inet_pton(AF_INET, optarg, &ia) != 1) {
                fprintf(stderr, "sgbench: bad --bind-base \"%s\"\n", optarg);
                return 2;
            }
            run->bind_base = ntohl(ia.s_addr);
            if (run->bind_base == 0) {
                fprintf(stderr, "sgbench: --bind-base must not be 0.0.0.0\n");
                return 2;
            }
            break;

        case 'M':
            if (sg_bench_parse_u64(optarg, UINT64_MAX - 1, &v) != 0
                || v == 0)
            {
                fprintf(stderr, "sgbench: bad --max-bytes \"%s\"\n", optarg);
                return 2;
            }
            run->max_bytes = v;
            break;

        case 'q':
            run->quiet = 1;
            break;

        case 'h':
            sg_bench_usage(stdout);
            return -1;

        default:
            sg_bench_usage(stderr);
            return 2;
        }
    }

    if (optind != argc) {
        fprintf(stderr, "sgbench: unexpected argument \"%s\"\n", argv[optind]);
        sg_bench_usage(stderr);
        return 2;
    }

    if (run->nurls == 0) {
        fprintf(stderr, "sgbench: at least one -u URL is required\n");
        sg_bench_usage(stderr);
        return 2;
    }

    if (run->nslow > run->nclients) {
        fprintf(stderr, "sgbench: --slow %u exceeds the %u clients\n",
                run->nslow, run->nclients);
        return 2;
    }

    if (run->bind_base != 0
        && (uint64_t) run->bind_base + (run->nclients - 1)
           / SG_BENCH_ADDR_CLIENTS > UINT32_MAX)
    {
        fprintf(stderr, "sgbench: --bind-base range overflows\n");
        return 2;
    }

    return 0;
}


/* Raise RLIMIT_NOFILE to the hard limit and check the clients fit. */
static int
sg_bench_fd_limit(sg_bench_run_t *run)
{
    struct rlimit  rl;
    uint64_t       need;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "sgbench: getrlimit: %s\n", strerror(errno));
        return -1;
    }

    if (rl.rlim_cur != rl.rlim_max) {
        rlim_t  old = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = old;  /* e.g. hard limit "unlimited" */
        }
    }

    need = (uint64_t) run->nclients + SG_BENCH_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && need > (uint64_t) rl.rlim_cur) {
        fprintf(stderr, "sgbench: %u clients need %" PRIu64 " file "
                "descriptors but RLIMIT_NOFILE is %" PRIu64 " (hard %" PRIu64
                "); use at most %" PRIu64 " clients or raise the limit\n",
                run->nclients, need, (uint64_t) rl.rlim_cur,
                (uint64_t) rl.rlim_max,
                (uint64_t) rl.rlim_cur > SG_BENCH_FD_RESERVE
                    ? (uint64_t) rl.rlim_cur - SG_BENCH_FD_RESERVE : 0);
        return -1;
    }

    return 0;
}


/* ---- one client ---------------------------------------------------------- */

/*
 * End a client: account a silence that lasted until the end as a stall,
 * remember what a slow client left unread, release fd and header buffer.
 */
static void
sg_bench_client_close(sg_bench_run_t *run, sg_bench_client_t *c, int end,
    int err, int64_t now)
{
    int64_t  gap;
    int      queued;

    if (c->state == SG_BENCH_IDLE || c->state == SG_BENCH_DONE) {
        return;
    }

    if (c->t_first != 0 && run->stall_ns > 0) {
        gap = now - c->t_last;
        if (gap >= run->stall_ns) {
            c->stalls++;
            c->stalled_ns += gap;
        }
    }

    if (c->slow && c->fd != -1
        && ioctl(c->fd, FIONREAD, &queued) == 0 && queued > 0)
    {
        c->queued = (uint64_t) queued;
    }

    if (c->fd != -1) {
        close(c->fd);   /* also removes it from the epoll set */
        c->fd = -1;
    }

    free(c->hdr);
    c->hdr = NULL;

    c->t_end = now;
    c->end = (uint8_t) end;
    c->err = err;
    c->state = SG_BENCH_DONE;
    run->active--;
}


static void
sg_bench_client_fail(sg_bench_run_t *run, sg_bench_client_t *c, int err,
    int64_t now)
{
    sg_bench_client_close(run, c, SG_BENCH_END_ERROR, err, now);
}


static void
sg_bench_client_start(sg_bench_run_t *run, sg_bench_client_t *c, int64_t now)
{
    struct sockaddr_in   sin;
    struct epoll_event   ev;
    uint32_t             idx;
    int                  fd, one;

    c->t_connect_start = now;
    c->state = SG_BENCH_CONNECTING;
    run->active++;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        goto failed;
    }
    c->fd = fd;

    if (run->bind_base != 0) {
        /* let connect() pick the port: 64k ports per (src, dst) pair */
        one = 1;
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                       sizeof(one)) == -1)
        {
            goto failed;
        }

        idx = (uint32_t) (c - run->clients);
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(run->bind_base
                                    + idx / SG_BENCH_ADDR_CLIENTS);
        if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
            goto failed;
        }
    }

    if (connect(fd, (const struct sockaddr *) &run->urls[c->url].addr,
                sizeof(struct sockaddr_in)) == -1
        && errno != EINPROGRESS)
    {
        goto failed;
    }

    /* writable = connected (or failed, see SO_ERROR) */
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(run->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        goto failed;
    }

    return;

failed:

    sg_bench_client_fail(run, c, errno, now);
}


static void
sg_bench_client_send(sg_bench_run_t *run, sg_bench_client_t *c, int64_t now)
{
    const sg_bench_url_t  *u = &run->urls[c->url];
    struct epoll_event     ev;
    ssize_t                n;

    while (c->req_off < u->request_len) {
        n = send(c->fd, u->request + c->req_off, u->request_len - c->req_off,
                 MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;     /* still registered for EPOLLOUT */
            }
            sg_bench_client_fail(run, c, errno, now);
            return;
        }
        c->req_off += (uint32_t) n;
    }

    c->hdr = malloc(SG_BENCH_HDR_MAX);
    if (c->hdr == NULL) {
        sg_bench_client_fail(run, c, ENOMEM, now);
        return;
    }
    c->hdr_len = 0;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(run->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
        sg_bench_client_fail(run, c, errno, now);
        return;
    }

    c->state = SG_BENCH_HEADERS;
}


static void
sg_bench_client_connected(sg_bench_run_t *run, sg_bench_client_t *c,
    int64_t now)
{
    socklen_t  len;
    int        err;

    err = 0;
    len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err != 0) {
        sg_bench_client_fail(run, c, err, now);
        return;
    }

    c->t_connected = now;
    c->state = SG_BENCH_SENDING;
    sg_bench_client_send(run, c, now);
}


/*
 * Find the end of the header block ("\n\n" or "\n\r\n") in p[0..len),
 * scanning from "from".  Returns the offset just past it, or 0.
 */
static size_t
sg_bench_header_end(const char *p, size_t len, size_t from)
{
    size_t  i;

    for (i = from; i < len; i++) {
        if (p[i] != '\n') {
            continue;
        }
        if (i + 1 < len && p[i + 1] == '\n') {
            return i + 2;
        }
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
            return i + 3;
        }
    }

    return 0;
}


/*
 * Parse the status line and the headers we care about (Content-Length,
 * Transfer-Encoding) in place.  Returns 0 or an SG_BENCH_E_* code.
 */
static int
sg_bench_parse_headers(sg_bench_client_t *c, char *p, size_t len)
{
    char      *line, *next, *end, *colon, *v, *e;
    size_t     n;
    uint64_t   cl;
    int        has_cl;

    end = p + len;

    /* "HTTP/1.x SSS[ reason]" */
    if (len < 13 || memcmp(p, "HTTP/1.", 7) != 0
        || p[7] < '0' || p[7] > '9' || p[8] != ' '
        || p[9] < '1' || p[9] > '9'
        || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9'
        || (p[12] != ' ' && p[12] != '\r' && p[12] != '\n'))
    {
        return SG_BENCH_E_BAD_STATUS;
    }
    c->status = (uint16_t) ((p[9] - '0') * 100 + (p[10] - '0') * 10
                            + (p[11] - '0'));

    has_cl = 0;
    cl = 0;
    line = memchr(p, '\n', len);

    for (line = line + 1; line < end; line = next) {
        e = memchr(line, '\n', (size_t) (end - line));
        if (e == NULL) {
            break;
        }
        next = e + 1;
        if (e > line && e[-1] == '\r') {
            e--;
        }
        *e = '\0';

        if (line == e) {
            break;                          /* empty line: end of headers */
        }
        if (*line == ' ' || *line == '\t') {
            continue;                       /* obsolete line folding */
        }

        colon = strchr(line, ':');
        if (colon == NULL) {
            continue;
        }
        n = (size_t) (colon - line);
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) { /* void */ }
        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
            *--e = '\0';
        }

        if (n == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t  val = 0;

            if (*v == '\0') {
                return SG_BENCH_E_BAD_LENGTH;
            }
            for (; *v; v++) {
                if (*v < '0' || *v > '9' || val > (UINT64_MAX - 9) / 10) {
                    return SG_BENCH_E_BAD_LENGTH;
                }
                val = val * 10 + (uint64_t) (*v - '0');
            }
            if (has_cl && val != cl) {
                return SG_BENCH_E_BAD_LENGTH;
            }
            has_cl = 1;
            cl = val;

        } else if (n == 17
                   && strncasecmp(line, "transfer-encoding", 17) == 0
                   && strcasestr(v, "chunked") != NULL)
        {
            c->chunked = 1;
        }
    }

    /* chunked wins over Content-Length; its raw bytes run until close */
    c->content_length = (has_cl && !c->chunked) ? cl : SG_BENCH_NO_LENGTH;

    return 0;
}


/* How many more body bytes this client may take. */
static uint64_t
sg_bench_client_room(sg_bench_run_t *run, sg_bench_client_t *c)
{
    uint64_t  room = UINT64_MAX;

    if (c->content_length != SG_BENCH_NO_LENGTH) {
        room = c->content_length - c->bytes;
    }
    if (run->max_bytes != 0 && run->max_bytes - c->bytes < room) {
        room = run->max_bytes - c->bytes;
    }
    return room;
}


/* Account n body bytes read at "now"; may end the client. */
static void
sg_bench_client_account(sg_bench_run_t *run, sg_bench_client_t *c, size_t n,
    int64_t now)
{
    int64_t  gap;

    if (c->t_first == 0) {
        c->t_first = now;

    } else {
        gap = now - c->t_last;
        if (run->stall_ns > 0 && gap >= run->stall_ns) {
            c->stalls++;
            c->stalled_ns += gap;
        }

        /* the rate check ignores the first second after the first byte */
        if (!c->marked && now >= c->t_first + SG_BENCH_RATE_WINDOW) {
            c->bytes_mark = c->bytes;
            c->marked = 1;
        }
    }

    c->t_last = now;
    c->bytes += n;

    if (c->content_length != SG_BENCH_NO_LENGTH
        && c->bytes >= c->content_length)
    {
        sg_bench_client_close(run, c, SG_BENCH_END_COMPLETE, 0, now);

    } else if (run->max_bytes != 0 && c->bytes >= run->max_bytes) {
        sg_bench_client_close(run, c, SG_BENCH_END_MAX_BYTES, 0, now);
    }
}


/*
 * Read (part of) the response header.  Normal clients read straight into the
 * header buffer and count whatever body followed.  Slow clients peek first
 * and consume exactly the header, so that every body byte stays in the
 * socket: what the relay manages to push to them is what the kernel buffers.
 */
static void
sg_bench_client_read_headers(sg_bench_run_t *run, sg_bench_client_t *c,
    int64_t now)
{
    struct epoll_event  ev;
    size_t              old, total, hend, body;
    uint64_t            room;
    ssize_t             n, want;
    int                 rc;

    old = c->hdr_len;

    n = recv(c->fd, c->hdr + old, SG_BENCH_HDR_MAX - old,
             c->slow ? MSG_PEEK : 0);
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            sg_bench_client_fail(run, c, errno, now);
        }
        return;
    }
    if (n == 0) {
        sg_bench_client_fail(run, c, SG_BENCH_E_EOF_HEADERS, now);
        return;
    }

    total = old + (size_t) n;
    hend = sg_bench_header_end(c->hdr, total, old > 3 ? old - 3 : 0);

    if (c->slow) {
        want = hend ? (ssize_t) (hend - old) : n;
        n = recv(c->fd, c->hdr + old, (size_t) want, 0);
        if (n != want) {
            sg_bench_client_fail(run, c, n == -1 ? errno : EIO, now);
            return;
        }
        total = old + (size_t) want;
    }

    c->hdr_len = (uint16_t) total;

    if (hend == 0) {
        if (total == SG_BENCH_HDR_MAX) {
            sg_bench_client_fail(run, c, SG_BENCH_E_HDR_TOO_BIG, now);
        }
        return;
    }

    c->t_headers = now;

    rc = sg_bench_parse_headers(c, c->hdr, hend);
    if (rc != 0) {
        sg_bench_client_fail(run, c, rc, now);
        return;
    }

    free(c->hdr);       /* only the byte count of what followed matters */
    c->hdr = NULL;
    body = total - hend;

    if (c->status != 200) {
        sg_bench_client_close(run, c, SG_BENCH_END_STATUS, 0, now);
        return;
    }

    if (c->slow) {
        /* never read again; only learn when the relay drops us */
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLRDHUP;
        ev.data.ptr = c;
        if (epoll_ctl(run->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
            sg_bench_client_fail(run, c, errno, now);
            return;
        }
        c->state = SG_BENCH_SLOW;
        return;
    }

    c->state = SG_BENCH_BODY;

    if (c->content_length == 0) {
        sg_bench_client_close(run, c, SG_BENCH_END_COMPLETE, 0, now);
        return;
    }

    if (body > 0) {
        room = sg_bench_client_room(run, c);
        sg_bench_client_account(run, c, body < room ? body : (size_t) room,
                                now);
    }
}


static void
sg_bench_client_read_body(sg_bench_run_t *run, sg_bench_client_t *c,
    int64_t now)
{
    uint64_t  room;
    size_t    size;
    ssize_t   n;

    room = sg_bench_client_room(run, c);
    size = room < SG_BENCH_BUF_SIZE ? (size_t) room : SG_BENCH_BUF_SIZE;

    n = recv(c->fd, sg_bench_buf, size, 0);
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            sg_bench_client_fail(run, c, errno, now);
        }
        return;
    }

    if (n == 0) {
        sg_bench_client_close(run, c, SG_BENCH_END_CLOSED, 0, now);
        return;
    }

    sg_bench_client_account(run, c, (size_t) n, now);
}


/* A parked slow client got RDHUP/HUP/ERR: the relay dropped it. */
static void
sg_bench_client_slow_event(sg_bench_run_t *run, sg_bench_client_t *c,
    uint32_t events, int64_t now)
{
    socklen_t  len;
    int        err;

    if (events & EPOLLERR) {
        err = 0;
        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            sg_bench_client_fail(run, c, err, now);
            return;
        }
    }

    sg_bench_client_close(run, c, SG_BENCH_END_CLOSED, 0, now);
}


static void
sg_bench_client_event(sg_bench_run_t *run, sg_bench_client_t *c,
    uint32_t events)
{
    int64_t  now = sg_bench_now();

    switch (c->state) {

    case SG_BENCH_CONNECTING:
        sg_bench_client_connected(run, c, now);
        break;

    case SG_BENCH_SENDING:
        sg_bench_client_send(run, c, now);
        break;

    case SG_BENCH_HEADERS:
        sg_bench_client_read_headers(run, c, now);
        break;

    case SG_BENCH_BODY:
        sg_bench_client_read_body(run, c, now);
        break;

    case SG_BENCH_SLOW:
        sg_bench_client_slow_event(run, c, events, now);
        break;

    default:
        break;
    }
}


/* ---- the run ------------------------------------------------------------- */

static int
sg_bench_setup(sg_bench_run_t *run)
{
    struct sigaction  sa;
    uint32_t          i;

    if (sg_bench_fd_limit(run) != 0) {
        return -1;
    }

    run->clients = calloc(run->nclients, sizeof(sg_bench_client_t));
    if (run->clients == NULL) {
        fprintf(stderr, "sgbench: out of memory for %u clients\n",
                run->nclients);
        return -1;
    }

    for (i = 0; i < run->nclients; i++) {
        run->clients[i].fd = -1;
        run->clients[i].url = (uint16_t) (i % run->nurls);
        run->clients[i].slow = i < run->nslow;
        run->clients[i].content_length = SG_BENCH_NO_LENGTH;
    }

    run->ep = epoll_create1(EPOLL_CLOEXEC);
    if (run->ep == -1) {
        fprintf(stderr, "sgbench: epoll_create1: %s\n", strerror(errno));
        return -1;
    }

    /* SIGINT/SIGTERM end the run early but still report */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sg_bench_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    return 0;
}


/* Start every client whose ramp time has come; return the next one's. */
static int64_t
sg_bench_start_due(sg_bench_run_t *run, int64_t now)
{
    int64_t  at;

    while (run->next_start < run->nclients) {
        at = run->t0;
        if (run->ramp > 0.0) {
            at += (int64_t) ((double) run->next_start * 1e9 / run->ramp);
        }
        if (at > now) {
            return at;
        }
        sg_bench_client_start(run, &run->clients[run->next_start++], now);
    }

    return INT64_MAX;
}


static void
sg_bench_loop(sg_bench_run_t *run)
{
    struct epoll_event  events[SG_BENCH_MAX_EVENTS];
    int64_t             now, deadline, next;
    uint32_t            k;
    int                 i, n, timeout;

    run->t0 = sg_bench_now();
    run->t_end = run->t0 + run->duration_ns;

    for ( ;; ) {
        now = sg_bench_now();
        if (now >= run->t_end || sg_bench_stop) {
            break;
        }

        next = sg_bench_start_due(run, now);

        /* everything started and ended already (404s, Content-Length...) */
        if (run->next_start == run->nclients && run->active == 0) {
            now = sg_bench_now();
            break;
        }

        deadline = next < run->t_end ? next : run->t_end;
        now = sg_bench_now();
        timeout = deadline <= now
                  ? 0 : (int) ((deadline - now + SG_BENCH_MS - 1) / SG_BENCH_MS);

        n = epoll_wait(run->ep, events, SG_BENCH_MAX_EVENTS, timeout);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "sgbench: epoll_wait: %s\n", strerror(errno));
            now = sg_bench_now();
            break;
        }

        for (i = 0; i < n; i++) {
            sg_bench_client_event(run, events[i].data.ptr, events[i].events);
        }
    }

    /* the run is over: whatever is still open was running at the end */
    run->t_stop = now;

    for (k = 0; k < run->nclients; k++) {
        sg_bench_client_close(run, &run->clients[k], SG_BENCH_END_RUNNING, 0,
                              now);
    }
}


/* ---- report -------------------------------------------------------------- */

static int
sg_bench_cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* Nearest rank: the smallest value with at least pct% of the sample <= it. */
static double
sg_bench_pct(const double *sorted, size_t n, unsigned pct)
{
    size_t  rank = (pct * n + 99) / 100;

    return sorted[rank > 0 ? rank - 1 : 0];
}


static void
sg_bench_dist(double *v, size_t n, sg_bench_dist_t *d)
{
    memset(d, 0, sizeof(*d));
    d->n = n;
    if (n == 0) {
        return;
    }

    qsort(v, n, sizeof(double), sg_bench_cmp_double);
    d->min = v[0];
    d->p1 = sg_bench_pct(v, n, 1);
    d->p50 = sg_bench_pct(v, n, 50);
    d->p90 = sg_bench_pct(v, n, 90);
    d->p99 = sg_bench_pct(v, n, 99);
    d->max = v[n - 1];
}


static const char *
sg_bench_strerror(int code)
{
    switch (code) {
    case SG_BENCH_E_EOF_HEADERS:
        return "closed before end of headers";
    case SG_BENCH_E_HDR_TOO_BIG:
        return "response header too large";
    case SG_BENCH_E_BAD_STATUS:
        return "malformed status line";
    case SG_BENCH_E_BAD_LENGTH:
        return "malformed Content-Length";
    default:
        return strerror(code);
    }
}


static void
sg_bench_count_error(sg_bench_result_t *r, int code)
{
    uint32_t  i;

    for (i = 0; i < r->nerrors; i++) {
        if (r->error_counts[i].code == code) {
            r->error_counts[i].count++;
            return;
        }
    }
    if (r->nerrors < SG_BENCH_MAX_ERRORS) {
        r->error_counts[r->nerrors].code = code;
        r->error_counts[r->nerrors++].count = 1;
    }
}


static int
sg_bench_collect(sg_bench_run_t *run, sg_bench_result_t *r)
{
    sg_bench_client_t  *c;
    struct rusage       ru;
    double             *mbps, *ttfb, *tth, s, kbps;
    size_t              nmbps, nttfb, ntth;
    uint64_t            mark;
    int64_t             dt;
    uint32_t            i;

    memset(r, 0, sizeof(*r));

    mbps = malloc(3 * (size_t) run->nclients * sizeof(double));
    if (mbps == NULL) {
        fprintf(stderr, "sgbench: out of memory for the report\n");
        return -1;
    }
    ttfb = mbps + run->nclients;
    tth = ttfb + run->nclients;
    nmbps = nttfb = ntth = 0;

    r->requested = run->nclients;
    r->duration_s = (double) (run->t_stop - run->t0) / 1e9;
    r->slow_bytes_min = UINT64_MAX;

    for (i = 0; i < run->nclients; i++) {
        c = &run->clients[i];

        if (c->t_connect_start == 0) {
            r->not_started++;
            continue;
        }
        r->started++;

        if (c->t_connected != 0) {
            r->connected++;
        }
        if (c->status != 0) {
            r->status_counts[c->status]++;
            if (c->status == 200) {
                r->ok++;
            } else {
                r->non200++;
            }
        }
        if (c->chunked) {
            r->chunked++;
        }
        if (c->t_headers != 0) {
            tth[ntth++] = (double) (c->t_headers - c->t_connect_start) / 1e6;
        }

        switch (c->end) {
        case SG_BENCH_END_RUNNING:
            r->running++;
            break;
        case SG_BENCH_END_CLOSED:
            r->closed_early++;
            break;
        case SG_BENCH_END_COMPLETE:
            r->completed++;
            break;
        case SG_BENCH_END_MAX_BYTES:
            r->max_bytes++;
            break;
        case SG_BENCH_END_ERROR:
            r->errors++;
            sg_bench_count_error(r, c->err);
            break;
        default:
            break;
        }

        if (c->slow) {
            r->slow++;
            if (c->end != SG_BENCH_END_RUNNING) {
                r->slow_kicked++;
            }
            if (c->queued < r->slow_bytes_min) {
                r->slow_bytes_min = c->queued;
            }
            if (c->queued > r->slow_bytes_max) {
                r->slow_bytes_max = c->queued;
            }
            continue;   /* no rate, latency-to-body or stall statistics */
        }

        r->bytes += c->bytes;

        if (c->t_first == 0) {
            continue;
        }

        r->with_body++;
        ttfb[nttfb++] = (double) (c->t_first - c->t_connect_start) / 1e6;

        r->stalls += c->stalls;
        r->stalled_s += (double) c->stalled_ns / 1e9;
        if (c->stalls > 0) {
            r->stalled_clients++;
        }

        dt = c->t_end - c->t_first;
        if (dt >= SG_BENCH_RATE_WINDOW) {
            mbps[nmbps++] = (double) c->bytes * 8.0 / ((double) dt / 1e9)
                            / 1e6;
        }

        /* -k: rate after the first second, over at least one second */
        dt = c->t_end - (c->t_first + SG_BENCH_RATE_WINDOW);
        if (run->kbps != 0 && dt >= SG_BENCH_RATE_WINDOW) {
            mark = c->marked ? c->bytes_mark : c->bytes;
            kbps = (double) (c->bytes - mark) * 8.0 / 1e3
                   / ((double) dt / 1e9);
            r->rate_checked++;
            if (kbps < 0.90 * (double) run->kbps) {
                r->below90++;
            }
            if (kbps < 0.99 * (double) run->kbps) {
                r->below99++;
            }
        }
    }

    if (r->slow == 0) {
        r->slow_bytes_min = 0;
    }

    if (r->duration_s > 0.0) {
        r->mbps_total = (double) r->bytes * 8.0 / r->duration_s / 1e6;
    }

    sg_bench_dist(mbps, nmbps, &r->client_mbps);
    sg_bench_dist(ttfb, nttfb, &r->ttfb_ms);
    sg_bench_dist(tth, ntth, &r->tth_ms);
    free(mbps);

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6;
        r->cpu_user_s = s;
        s = (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
        r->cpu_sys_s = s;
    }

    return 0;
}


static void
sg_bench_print_dist(const char *label, const sg_bench_dist_t *d,
    int with_p1)
{
    if (d->n == 0) {
        printf("%-14s (no samples)\n", label);
        return;
    }

    if (with_p1) {
        printf("%-14s min %.3f  p1 %.3f  p50 %.3f  max %.3f  (%zu clients)\n",
               label, d->min, d->p1, d->p50, d->max, d->n);
    } else {
        printf("%-14s p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (%zu clients)\n",
               label, d->p50, d->p90, d->p99, d->max, d->n);
    }
}


static void
sg_bench_print(sg_bench_run_t *run, const sg_bench_result_t *r)
{
    const sg_bench_client_t  *c;
    uint32_t                  i, n;

    printf("sgbench: %u client%s on %u URL%s, %.2f s",
           r->requested, r->requested == 1 ? "" : "s",
           run->nurls, run->nurls == 1 ? "" : "s", r->duration_s);
    if (run->ramp > 0.0) {
        printf(", ramp %.1f/s\n", run->ramp);
    } else {
        printf(", all at once\n");
    }

    printf("%-14s requested %u  started %u  not started %u  connected %u\n",
           "clients", r->requested, r->started, r->not_started, r->connected);
    printf("%-14s ok %u  non-200 %u  with body %u  chunked %u\n",
           "responses", r->ok, r->non200, r->with_body, r->chunked);
    printf("%-14s running %u  closed early %u  completed %u  max-bytes %u  "
           "errors %u\n", "end",
           r->running, r->closed_early, r->completed, r->max_bytes,
           r->errors);

    printf("%-14s %" PRIu64 " bytes  aggregate %.2f Mbit/s\n", "throughput",
           r->bytes, r->mbps_total);
    sg_bench_print_dist("client Mbit/s", &r->client_mbps, 1);
    sg_bench_print_dist("ttfb ms", &r->ttfb_ms, 0);
    sg_bench_print_dist("headers ms", &r->tth_ms, 0);

    if (run->stall_ns > 0) {
        printf("%-14s %" PRIu64 " events  %u clients  %.3f s stalled "
               "(threshold %" PRId64 " ms)\n", "stalls",
               r->stalls, r->stalled_clients, r->stalled_s,
               (int64_t) (run->stall_ns / SG_BENCH_MS));
    } else {
        printf("%-14s off\n", "stalls");
    }

    if (run->kbps != 0) {
        printf("%-14s %" PRIu64 " kbit/s: %u below 90%%, %u below 99%%  "
               "(%u checked)\n", "rate check",
               run->kbps, r->below90, r->below99, r->rate_checked);
    }

    if (r->slow > 0) {
        printf("%-14s %u clients, %u dropped by server, unread bytes "
               "min %" PRIu64 " max %" PRIu64 "\n", "slow",
               r->slow, r->slow_kicked, r->slow_bytes_min, r->slow_bytes_max);
        for (i = 0, n = 0; i < run->nclients && n < 16; i++) {
            c = &run->clients[i];
            if (c->slow && c->t_connect_start != 0) {
                printf("%-14s #%u: %" PRIu64 " bytes, %s\n", "",
                       i, c->queued,
                       c->end == SG_BENCH_END_RUNNING ? "open at end"
                       : c->end == SG_BENCH_END_ERROR ? sg_bench_strerror(c->err)
                       : "closed by server");
                n++;
            }
        }
    }

    printf("%-14s user %.3f s  sys %.3f s\n", "own cpu",
           r->cpu_user_s, r->cpu_sys_s);

    if (r->ok + r->non200 > 0) {
        printf("%-14s", "status");
        for (i = 0, n = 0; i < 1000; i++) {
            if (r->status_counts[i] != 0) {
                printf("%s %u: %u", n++ ? "," : "", i, r->status_counts[i]);
            }
        }
        printf("\n");
    }

    for (i = 0; i < r->nerrors; i++) {
        printf("%-14s %s: %u\n", i == 0 ? "errors" : "",
               sg_bench_strerror(r->error_counts[i].code),
               r->error_counts[i].count);
    }
}


static void
sg_bench_json_string(FILE *f, const char *s)
{
    unsigned char  ch;

    fputc('"', f);
    for ( /* void */ ; *s != '\0'; s++) {
        ch = (unsigned char) *s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}


static int
sg_bench_json(sg_bench_run_t *run, const sg_bench_result_t *r)
{
    FILE      *f;
    uint32_t   i;
    int        first, rc;

    if (strcmp(run->json_path, "-") == 0) {
        f = stdout;
    } else {
        f = fopen(run->json_path, "w");
        if (f == NULL) {
            fprintf(stderr, "sgbench: %s: %s\n", run->json_path,
                    strerror(errno));
            return -1;
        }
    }

    fprintf(f, "{\"requested\": %u, \"started\": %u, \"not_started\": %u, "
            "\"connected\": %u, \"ok\": %u, \"non200\": %u, \"errors\": %u, "
            "\"closed_early\": %u, \"running_at_end\": %u, "
            "\"completed\": %u, \"max_bytes_reached\": %u, "
            "\"with_body\": %u, \"chunked\": %u, ",
            r->requested, r->started, r->not_started, r->connected, r->ok,
            r->non200, r->errors, r->closed_early, r->running, r->completed,
            r->max_bytes, r->with_body, r->chunked);

    fprintf(f, "\"bytes\": %" PRIu64 ", \"mbps_total\": %.3f, "
            "\"client_mbps_n\": %zu, \"client_mbps_min\": %.3f, "
            "\"client_mbps_p1\": %.3f, \"client_mbps_p50\": %.3f, "
            "\"client_mbps_max\": %.3f, ",
            r->bytes, r->mbps_total, r->client_mbps.n, r->client_mbps.min,
            r->client_mbps.p1, r->client_mbps.p50, r->client_mbps.max);

    fprintf(f, "\"ttfb_ms_p50\": %.3f, \"ttfb_ms_p90\": %.3f, "
            "\"ttfb_ms_p99\": %.3f, \"ttfb_ms_max\": %.3f, "
            "\"tth_ms_p50\": %.3f, \"tth_ms_p90\": %.3f, "
            "\"tth_ms_p99\": %.3f, \"tth_ms_max\": %.3f, ",
            r->ttfb_ms.p50, r->ttfb_ms.p90, r->ttfb_ms.p99, r->ttfb_ms.max,
            r->tth_ms.p50, r->tth_ms.p90, r->tth_ms.p99, r->tth_ms.max);

    fprintf(f, "\"stalls\": %" PRIu64 ", \"stalled_clients\": %u, "
            "\"stalled_s\": %.3f, \"kbps\": %" PRIu64 ", "
            "\"rate_checked\": %u, \"below90\": %u, \"below99\": %u, "
            "\"slow_clients\": %u, \"slow_dropped\": %u, "
            "\"slow_bytes_min\": %" PRIu64 ", \"slow_bytes_max\": %" PRIu64
            ", \"cpu_user_s\": %.3f, \"cpu_sys_s\": %.3f, "
            "\"duration_s\": %.3f, ",
            r->stalls, r->stalled_clients, r->stalled_s, run->kbps,
            r->rate_checked, r->below90, r->below99, r->slow, r->slow_kicked,
            r->slow_bytes_min, r->slow_bytes_max, r->cpu_user_s,
            r->cpu_sys_s, r->duration_s);

    fprintf(f, "\"status_counts\": {");
    for (i = 0, first = 1; i < 1000; i++) {
        if (r->status_counts[i] != 0) {
            fprintf(f, "%s\"%u\": %u", first ? "" : ", ", i,
                    r->status_counts[i]);
            first = 0;
        }
    }

    fprintf(f, "}, \"error_counts\": {");
    for (i = 0; i < r->nerrors; i++) {
        fprintf(f, "%s", i == 0 ? "" : ", ");
        sg_bench_json_string(f, sg_bench_strerror(r->error_counts[i].code));
        fprintf(f, ": %u", r->error_counts[i].count);
    }
    fprintf(f, "}}\n");

    rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
    if (f != stdout && fclose(f) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "sgbench: %s: write failed\n", run->json_path);
    }
    return rc;
}


static void
sg_bench_cleanup(sg_bench_run_t *run)
{
    uint32_t  i;

    if (run->clients != NULL) {
        for (i = 0; i < run->nclients; i++) {
            if (run->clients[i].fd != -1) {
                close(run->clients[i].fd);
            }
            free(run->clients[i].hdr);
        }
        free(run->clients);
    }

    if (run->ep > 0) {
        close(run->ep);
    }

    for (i = 0; i < run->nurls; i++) {
        free(run->urls[i].request);
    }
    free(run->urls);
}


int
main(int argc, char **argv)
{
    sg_bench_run_t      run;
    sg_bench_result_t  *res;
    int                 rc;

    memset(&run, 0, sizeof(run));
    run.ep = -1;
    res = NULL;

    rc = sg_bench_options(&run, argc, argv);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }

    rc = 2;

    if (sg_bench_setup(&run) != 0) {
        goto done;
    }

    sg_bench_loop(&run);

    res = malloc(sizeof(*res));
    if (res == NULL) {
        fprintf(stderr, "sgbench: out of memory for the report\n");
        goto done;
    }

    if (sg_bench_collect(&run, res) != 0) {
        goto done;
    }

    if (!run.quiet) {
        sg_bench_print(&run, res);
        fflush(stdout);
    }

    if (run.json_path != NULL && sg_bench_json(&run, res) != 0) {
        goto done;
    }

    rc = res->connected > 0 ? 0 : 1;

done:

    free(res);
    sg_bench_cleanup(&run);
    return rc;
}
