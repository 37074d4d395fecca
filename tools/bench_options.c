/*
 * bench_options.c — see bench_options.h.
 */
#include "bench_options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "IM.BaseDefine.pb-c.h"
#include "bench_login_request.h"

/* Long-only options get codes outside the char range. */
enum {
    OPT_USERS = 256,
    OPT_PREFIX,
    OPT_PASSWORD,
    OPT_CLIENT_TYPE,
    OPT_JSON,
    OPT_TIMEOUT_MS,
    OPT_WARMUP,
    OPT_SOURCE_IPS,
    OPT_SIZE,
    OPT_WINDOW,
    OPT_RATE,
    OPT_SENDERS,
    OPT_GROUP_ID,
    OPT_MSG_BYTES,
    OPT_RECEIVER_PORT,
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, 'H'},
    {"port", required_argument, NULL, 'p'},
    {"concurrency", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"total", required_argument, NULL, 'n'},
    {"users", required_argument, NULL, OPT_USERS},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"client-type", required_argument, NULL, OPT_CLIENT_TYPE},
    {"json", required_argument, NULL, OPT_JSON},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"source-ips", required_argument, NULL, OPT_SOURCE_IPS},
    {"size", required_argument, NULL, OPT_SIZE},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"rate", required_argument, NULL, OPT_RATE},
    {"senders", required_argument, NULL, OPT_SENDERS},
    {"group-id", required_argument, NULL, OPT_GROUP_ID},
    {"msg-bytes", required_argument, NULL, OPT_MSG_BYTES},
    {"receiver-port", required_argument, NULL, OPT_RECEIVER_PORT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void bench_options_usage(FILE *out)
{
    fprintf(out,
            "usage: imgate-bench SCENARIO -H HOST -p PORT -c CONCURRENCY (-d SECONDS | -n TOTAL) [OPTIONS]\n"
            "       imgate-bench self-test\n"
            "scenarios:\n"
            "  login   each virtual client loops: connect, IMLoginReq, wait for IMLoginRes, close\n"
            "  group-info  login and group list (not measured), then 10 IMGroupInfoListReq (measured), close\n"
            "  presence-hold  each virtual client logs in once and stays online until --timeout-ms\n"
            "  file    -c pairs of users (PREFIX1..2c) relay files of --size bytes online, one transfer after\n"
            "          another (-n: transfers in all); then one offline upload and download of --size\n"
            "  msg     -c P pairs stay logged in (senders PREFIX1..P, receivers PREFIX(P+1)..2P); each sender\n"
            "          keeps --window messages in flight: send->ack, send->delivery, messages/s\n"
            "  group   -c M members of --group-id stay logged in (PREFIX1..M); --senders of them send,\n"
            "          --window in flight each: deliveries/s, send->ack, send->delivery\n"
            "options:\n"
            "  -H, --host HOST          imgated's client address (default 127.0.0.1)\n"
            "  -p, --port PORT          its TeamTalk port (default 8000)\n"
            "  -c, --concurrency N      virtual clients, all driven from one thread (default 1)\n"
            "  -d, --duration SECONDS   measure for this long (fractions allowed), or\n"
            "  -n, --total N            stop after N measured operations\n"
            "      --warmup SECONDS     run this long first without recording (default 0)\n"
            "      --users M            population PREFIX1..PREFIXM (default: = concurrency; >= concurrency)\n"
            "      --prefix NAME        user name prefix (default bench)\n"
            "      --password PLAIN     every user's password (default bench)\n"
            "      --client-type T      number or windows, mac, ios, android (default windows)\n"
            "      --timeout-ms MS      limit for connect and for the reply, each (default 5000)\n"
            "      --json FILE          also write the results as one JSON object\n"
            "      --source-ips A,B,... bind connections round-robin to these local addresses\n"
            "                           (more than ~28k new connections/min per address exhaust ports)\n"
            "      --size BYTES         file: bytes per transfer, k/m suffix allowed (default 16m)\n"
            "      --window N           file: pulls in flight per transfer, 1..16 (default 4);\n"
            "                           msg, group: messages in flight per sender (default 1)\n"
            "      --rate R             msg, group: offer R messages/s in total (default: as fast as acked)\n"
            "      --senders S          group: members that send (default 1)\n"
            "      --group-id G         group: the group (its members must be PREFIX1..PREFIXM)\n"
            "      --msg-bytes N        msg, group: body size (default 64)\n"
            "      --receiver-port P    msg: receivers, group: every other non-sending member, connect to\n"
            "                           this port (another node of the same service) instead of -p\n"
            "exit: 0 if any operation succeeded, 1 if all failed, 2 on a usage error\n");
}

/* Strict unsigned parse into [min, max]. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double min, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    /* The upper bound keeps ns arithmetic far from overflow (a year). */
    if (errno || end == s || *end || !(v >= min) || v > 365.0 * 86400.0)
        return -1;
    *out = v;
    return 0;
}

/* Splits a comma list into opt->source_ips; empty items are refused. */
static int parse_source_ips(bench_options *opt, const char *list)
{
    free(opt->source_ips_storage);
    opt->source_ips_storage = strdup(list);
    opt->source_ip_count = 0;
    if (!opt->source_ips_storage)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(opt->source_ips_storage, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (opt->source_ip_count == BENCH_MAX_SOURCE_IPS)
            return -1;
        opt->source_ips[opt->source_ip_count++] = tok;
    }
    /* strtok_r skips empty fields: compare counts with the commas to catch "a,,b" and "a,". */
    size_t commas = 0;
    for (const char *p = list; *p; p++)
        commas += *p == ',';
    return opt->source_ip_count > 0 && opt->source_ip_count == commas + 1 ? 0 : -1;
}

static void set_defaults(bench_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->host = "127.0.0.1";
    opt->port = 8000;
    opt->concurrency = 1;
    opt->prefix = "bench";
    opt->password = "bench";
    opt->client_type = IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_WINDOWS;
    opt->timeout_ms = 5000;
    opt->file_size = 16u * 1024 * 1024;
    opt->window = 0; /* the scenario's own default */
    opt->senders = 1;
    opt->msg_bytes = 64;
}

/* Bytes with an optional k or m suffix, in [1, 4 GiB - 1]. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024, end++;
    if (*end || v == 0 || v > 0xffffffffull)
        return -1;
    *out = v;
    return 0;
}

#define FAIL(...)                                                                                                \
    do {                                                                                                         \
        fprintf(err, "imgate-bench: " __VA_ARGS__);                                                              \
        fputc('\n', err);                                                                                        \
        return -1;                                                                                               \
    } while (0)

int bench_options_parse(bench_options *opt, int argc, char **argv, FILE *err)
{
    set_defaults(opt);
    if (argc < 1 || argv[0][0] == '-') {
        if (argc >= 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
            bench_options_usage(stdout);
            return 1;
        }
        FAIL("the first argument must name a scenario (e.g. login)");
    }
    opt->scenario = argv[0];
    int have_duration = 0, have_total = 0;
    unsigned long long v = 0;
    /* glibc: optind = 0 re-initialises getopt, so a second parse (self-test) starts clean. */
    optind = 0;
    opterr = 0;
    int ch;
    /* '+' keeps POSIX order (no permutation); ':' reports a missing argument as ':'. */
    while ((ch = getopt_long(argc, argv, "+:H:p:c:d:n:h", long_options, NULL)) != -1) {
        switch (ch) {
        case 'H':
            if (!*optarg)
                FAIL("-H wants a host");
            opt->host = optarg;
            break;
        case 'p':
            if (parse_uint(optarg, 1, 65535, &v) < 0)
                FAIL("bad port '%s'", optarg);
            opt->port = (uint16_t)v;
            break;
        case 'c':
            if (parse_uint(optarg, 1, BENCH_MAX_CONCURRENCY, &v) < 0)
                FAIL("bad concurrency '%s' (1..%d)", optarg, BENCH_MAX_CONCURRENCY);
            opt->concurrency = (uint32_t)v;
            break;
        case 'd':
            if (parse_seconds(optarg, 0.001, &opt->duration_s) < 0)
                FAIL("bad duration '%s' (seconds > 0)", optarg);
            have_duration = 1;
            break;
        case 'n':
            if (parse_uint(optarg, 1, UINT64_MAX, &v) < 0)
                FAIL("bad total '%s'", optarg);
            opt->total = v;
            have_total = 1;
            break;
        case OPT_USERS:
            if (parse_uint(optarg, 1, UINT32_MAX, &v) < 0)
                FAIL("bad --users '%s'", optarg);
            opt->users = (uint32_t)v;
            break;
        case OPT_PREFIX:
            opt->prefix = optarg;
            break;
        case OPT_PASSWORD:
            opt->password = optarg;
            break;
        case OPT_CLIENT_TYPE: {
            uint32_t t = 0;
            if (bench_parse_client_type(optarg, &t) < 0)
                FAIL("bad --client-type '%s' (a number or windows, mac, ios, android)", optarg);
            opt->client_type = t;
            break;
        }
        case OPT_JSON:
            opt->json_path = optarg;
            break;
        case OPT_TIMEOUT_MS:
            if (parse_uint(optarg, 1, 3600 * 1000, &v) < 0)
                FAIL("bad --timeout-ms '%s'", optarg);
            opt->timeout_ms = (int)v;
            break;
        case OPT_WARMUP:
            if (parse_seconds(optarg, 0.0, &opt->warmup_s) < 0)
                FAIL("bad --warmup '%s' (seconds >= 0)", optarg);
            break;
        case OPT_SOURCE_IPS:
            if (parse_source_ips(opt, optarg) < 0)
                FAIL("bad --source-ips '%s' (comma-separated addresses, at most %d)", optarg,
                     BENCH_MAX_SOURCE_IPS);
            break;
        case OPT_SIZE:
            if (parse_size(optarg, &opt->file_size) < 0)
                FAIL("bad --size '%s' (bytes, k/m suffix, below 4 GiB)", optarg);
            break;
        case OPT_WINDOW:
            /* The file scenario allows at most 16 (it says so when it starts). */
            if (parse_uint(optarg, 1, 65535, &v) < 0)
                FAIL("bad --window '%s' (1..65535)", optarg);
            opt->window = (uint32_t)v;
            break;
        case OPT_RATE:
            if (parse_seconds(optarg, 0.001, &opt->rate) < 0)
                FAIL("bad --rate '%s' (messages/s > 0)", optarg);
            break;
        case OPT_SENDERS:
            if (parse_uint(optarg, 1, BENCH_MAX_CONCURRENCY, &v) < 0)
                FAIL("bad --senders '%s'", optarg);
            opt->senders = (uint32_t)v;
            break;
        case OPT_GROUP_ID:
            if (parse_uint(optarg, 1, UINT32_MAX, &v) < 0)
                FAIL("bad --group-id '%s'", optarg);
            opt->group_id = (uint32_t)v;
            break;
        case OPT_RECEIVER_PORT:
            if (parse_uint(optarg, 1, 65535, &v) < 0)
                FAIL("bad --receiver-port '%s'", optarg);
            opt->receiver_port = (uint16_t)v;
            break;
        case OPT_MSG_BYTES:
            if (parse_uint(optarg, 1, 1 << 20, &v) < 0)
                FAIL("bad --msg-bytes '%s'", optarg);
            opt->msg_bytes = (size_t)v;
            break;
        case 'h':
            bench_options_usage(stdout);
            return 1;
        case ':':
            FAIL("%s needs a value", argv[optind - 1]);
        default:
            FAIL("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        FAIL("unexpected argument '%s'", argv[optind]);
    if (have_duration == have_total)
        FAIL("give exactly one of -d SECONDS and -n TOTAL");
    if (opt->users == 0)
        opt->users = opt->concurrency;
    /* Each client owns users k, k+C, k+2C...: fewer users than clients would leave a client none. */
    if (opt->users < opt->concurrency)
        FAIL("--users (%u) must be at least the concurrency (%u): two clients logging in as one user kick"
             " each other",
             (unsigned)opt->users, (unsigned)opt->concurrency);
    return 0;
}

void bench_options_free(bench_options *opt)
{
    free(opt->source_ips_storage);
    opt->source_ips_storage = NULL;
    opt->source_ip_count = 0;
}
