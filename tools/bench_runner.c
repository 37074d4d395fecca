/*
 * bench_runner.c — see bench_runner.h.
 *
 * Plain sockets with one libevent `event` for I/O and one for the deadline per
 * client, rather than bufferevents: the request is written with write() the
 * moment the connection is up and the reply is parsed the moment read()
 * returns, so the latency measured is the server's plus the kernel's, not an
 * extra trip through a deferred output buffer.
 */
#include "bench_runner.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
/* struct event is embedded in each client: no allocation per client. */
#include <event2/event_struct.h>

#include "imgate/pdu.h"

/* Replies bigger than this are a protocol error (an IMLoginRes is ~100 bytes). */
#define MAX_REPLY_FRAME (1024u * 1024u)
/* After a failed connect, wait this long before the next one: a dead server must not spin the CPU. */
#define CONNECT_RETRY_DELAY_MS 10

typedef enum {
    PHASE_IDLE,       /* between attempts, or finished */
    PHASE_CONNECTING, /* connect() in progress */
    PHASE_WAITING,    /* request (partly) written, waiting for its reply */
} client_phase;

typedef struct run_state run_state;

typedef struct {
    run_state *run;
    uint32_t index;
    int fd;
    client_phase phase;
    int in_measured_window; /* this attempt started inside the measured window */
    int io_added;
    struct event io;
    struct event deadline;
    unsigned step;
    bench_step current;
    uint16_t seq;
    int64_t connect_started_ns;
    int64_t request_sent_ns;
    /* Unsent tail of the request (a full socket buffer is unlikely but possible). */
    uint8_t *out;
    size_t out_len;
    size_t out_off;
    /* Received bytes not yet parsed into frames. */
    uint8_t *in;
    size_t in_len;
    size_t in_cap;
} bench_client;

struct run_state {
    const bench_options *opt;
    const bench_scenario *scenario;
    void *state;
    bench_results *results;
    struct event_base *base;
    struct sockaddr_storage target;
    socklen_t target_len;
    struct sockaddr_storage *sources;
    socklen_t *source_lens;
    size_t source_count;
    size_t next_source;
    bench_client *clients;
    int64_t measure_start_ns;
    int64_t measure_end_ns; /* -d only */
    int64_t last_end_ns;    /* -n: when the last measured attempt ended */
    uint64_t measured_started;
    uint64_t measured_ended;
    int stopping;
    struct event *stop_timer;
    struct event *progress_timer;
    uint64_t progress_last_completed;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval ms_to_timeval(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void start_attempt(bench_client *c);
static void on_io(evutil_socket_t fd, short what, void *arg);

/* -n mode: once every measured attempt has ended, the run is over. */
static void maybe_finish_total_run(run_state *run)
{
    if (run->opt->total && run->measured_ended >= run->opt->total && !run->stopping) {
        run->stopping = 1;
        run->results->measured_s = (double)(run->last_end_ns - run->measure_start_ns) / 1e9;
        event_base_loopbreak(run->base);
    }
}

/* Closes the connection and forgets the attempt's buffers; the deadline stays for the caller. */
static void close_connection(bench_client *c)
{
    if (c->io_added) {
        event_del(&c->io);
        c->io_added = 0;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->in_len = 0;
}

/* Bookkeeping shared by success and failure: the attempt is over. */
static void end_attempt(bench_client *c, int64_t retry_delay_ms)
{
    run_state *run = c->run;
    close_connection(c);
    event_del(&c->deadline);
    c->phase = PHASE_IDLE;
    if (c->in_measured_window) {
        run->measured_ended++;
        run->last_end_ns = now_ns();
        c->in_measured_window = 0;
    }
    maybe_finish_total_run(run);
    if (run->stopping)
        return;
    /* Never recurse into the next attempt: go through the loop (the deadline event, reused). */
    struct timeval tv = ms_to_timeval(retry_delay_ms);
    event_add(&c->deadline, &tv);
}

static void fail_attempt(bench_client *c, bench_failure_reason reason, uint32_t code, const char *detail)
{
    if (c->in_measured_window && !c->run->stopping)
        bench_results_fail(c->run->results, reason, code, detail);
    int64_t delay = reason == BENCH_FAIL_REFUSED || reason == BENCH_FAIL_CONNECT_ERROR ? CONNECT_RETRY_DELAY_MS : 0;
    end_attempt(c, delay);
}

/* Maps a socket error to a failure group. */
static void fail_errno(bench_client *c, int err, const char *during)
{
    char detail[160];
    switch (err) {
    case ECONNREFUSED:
        fail_attempt(c, BENCH_FAIL_REFUSED, 0, during);
        return;
    case ECONNRESET:
    case EPIPE:
        fail_attempt(c, BENCH_FAIL_RESET, 0, during);
        return;
    case ETIMEDOUT:
        fail_attempt(c, BENCH_FAIL_TIMEOUT, 0, during);
        return;
    default:
        snprintf(detail, sizeof detail, "%s: %s", during, strerror(err));
        fail_attempt(c, BENCH_FAIL_CONNECT_ERROR, 0, detail);
        return;
    }
}

static void watch_io(bench_client *c, short events)
{
    if (c->io_added)
        event_del(&c->io);
    event_assign(&c->io, c->run->base, c->fd, events, on_io, c);
    event_add(&c->io, NULL);
    c->io_added = 1;
}

static void arm_deadline(bench_client *c)
{
    struct timeval tv = ms_to_timeval(c->run->opt->timeout_ms);
    event_add(&c->deadline, &tv);
}

/* Writes what is pending; returns 0 (maybe with a remainder left), -1 after failing the attempt. */
static int flush_output(bench_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        fail_errno(c, n < 0 ? errno : EPIPE, "sending the request");
        return -1;
    }
    return 0;
}

/* Asks the scenario for the next step and sends it, or ends the attempt when the script is done. */
static void send_next_step(bench_client *c)
{
    run_state *run = c->run;
    if (run->scenario->next_step(run->state, c->index, c->step, &c->current) == BENCH_STEP_DONE) {
        end_attempt(c, 0);
        return;
    }
    size_t body_len = c->current.msg ? protobuf_c_message_get_packed_size(c->current.msg) : 0;
    uint8_t *frame = malloc(IMGATE_PDU_HEADER_LEN + body_len);
    if (!frame) {
        fail_attempt(c, BENCH_FAIL_CONNECT_ERROR, 0, "out of memory");
        return;
    }
    /* seq 0 is what the server uses for pushes: requests start at 1. */
    c->seq = (uint16_t)(c->seq == 0xffff ? 1 : c->seq + 1);
    imgate_pdu_header h;
    imgate_pdu_header_make(&h, c->current.service_id, c->current.command_id, c->seq, body_len);
    imgate_pdu_header_encode(&h, frame);
    if (body_len)
        protobuf_c_message_pack(c->current.msg, frame + IMGATE_PDU_HEADER_LEN);
    free(c->out);
    c->out = frame;
    c->out_len = IMGATE_PDU_HEADER_LEN + body_len;
    c->out_off = 0;
    c->phase = PHASE_WAITING;
    c->request_sent_ns = now_ns();
    arm_deadline(c);
    if (flush_output(c) < 0)
        return;
    watch_io(c, c->out_off < c->out_len ? EV_READ | EV_WRITE : EV_READ);
}

static void on_connected(bench_client *c)
{
    if (c->in_measured_window)
        bench_histogram_record(c->run->results->connect_us, (uint64_t)(now_ns() - c->connect_started_ns) / 1000);
    c->step = 0;
    c->seq = 0;
    send_next_step(c);
}

/* Handles one complete frame; returns -1 when the attempt ended (either way). */
static int handle_frame(bench_client *c, const imgate_pdu_header *h, const uint8_t *body, size_t body_len)
{
    run_state *run = c->run;
    /* Anything else (a push, a notify) is not the reply we time. */
    if (h->command_id != c->current.reply_command_id)
        return 0;
    if (h->seq_num != c->seq) {
        fail_attempt(c, BENCH_FAIL_PROTOCOL, 0, "reply carries another seq");
        return -1;
    }
    int64_t latency_ns = now_ns() - c->request_sent_ns;
    uint32_t code = 0;
    char detail[256] = "";
    bench_reply_verdict v = run->scenario->judge_reply(run->state, c->step, body, body_len, &code, detail,
                                                       sizeof detail);
    if (v == BENCH_REPLY_REFUSED) {
        fail_attempt(c, BENCH_FAIL_RESULT_CODE, code, detail);
        return -1;
    }
    if (v != BENCH_REPLY_OK) {
        fail_attempt(c, BENCH_FAIL_PROTOCOL, 0, detail[0] ? detail : "unparsable reply");
        return -1;
    }
    if (c->current.measured && c->in_measured_window && !run->stopping) {
        bench_histogram_record(run->results->latency_us, (uint64_t)latency_ns / 1000);
        run->results->completed++;
    }
    c->step++;
    event_del(&c->deadline);
    send_next_step(c);
    return -1; /* the buffer belongs to the next step (or the next attempt) now */
}

/* Parses every complete frame in the input buffer. */
static void parse_input(bench_client *c)
{
    size_t off = 0;
    while (c->in_len - off >= IMGATE_PDU_HEADER_LEN) {
        imgate_pdu_header h;
        imgate_pdu_header_decode(c->in + off, &h);
        if (h.length < IMGATE_PDU_HEADER_LEN || h.length > MAX_REPLY_FRAME) {
            fail_attempt(c, BENCH_FAIL_PROTOCOL, 0, "bad frame length");
            return;
        }
        if (c->in_len - off < h.length)
            break;
        const uint8_t *body = c->in + off + IMGATE_PDU_HEADER_LEN;
        size_t body_len = h.length - IMGATE_PDU_HEADER_LEN;
        off += h.length;
        if (handle_frame(c, &h, body, body_len) < 0) {
            /* A next step on the same connection would read a fresh reply: drop what was parsed. */
            if (c->fd >= 0 && off < c->in_len)
                memmove(c->in, c->in + off, c->in_len - off);
            if (c->fd >= 0)
                c->in_len -= off;
            return;
        }
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void on_readable(bench_client *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            if (cap > 2 * MAX_REPLY_FRAME) {
                fail_attempt(c, BENCH_FAIL_PROTOCOL, 0, "reply too large");
                return;
            }
            uint8_t *grown = realloc(c->in, cap);
            if (!grown) {
                fail_attempt(c, BENCH_FAIL_CONNECT_ERROR, 0, "out of memory");
                return;
            }
            c->in = grown;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            client_phase before = c->phase;
            int fd_before = c->fd;
            parse_input(c);
            /* Stop reading once the attempt ended or moved on; the loop calls us again if needed. */
            if (c->phase != before || c->fd != fd_before || c->phase != PHASE_WAITING)
                return;
            continue;
        }
        if (n == 0) {
            fail_attempt(c, BENCH_FAIL_CLOSED, 0, "server closed before the reply");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        fail_errno(c, errno, "waiting for the reply");
        return;
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    bench_client *c = arg;
    c->io_added = 0; /* non-persistent: it fired, so it is no longer pending */
    if (c->phase == PHASE_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            fail_errno(c, err, "connecting");
            return;
        }
        on_connected(c);
        return;
    }
    if (c->phase != PHASE_WAITING)
        return;
    if ((what & EV_WRITE) && flush_output(c) < 0)
        return;
    if (what & EV_READ) {
        int fd_before = c->fd;
        on_readable(c);
        if (c->fd != fd_before || c->phase != PHASE_WAITING || c->io_added)
            return;
    }
    watch_io(c, c->out_off < c->out_len ? EV_READ | EV_WRITE : EV_READ);
}

/* The per-client timer: an attempt's deadline while one runs, the start of the next one otherwise. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    bench_client *c = arg;
    switch (c->phase) {
    case PHASE_IDLE:
        start_attempt(c);
        return;
    case PHASE_CONNECTING:
        fail_attempt(c, BENCH_FAIL_TIMEOUT, 0, "connecting");
        return;
    case PHASE_WAITING:
        fail_attempt(c, BENCH_FAIL_TIMEOUT, 0, "waiting for the reply");
        return;
    }
}

/* Decides whether an attempt starting now is measured; 0 = do not start one at all (-n reached). */
static int admit_attempt(bench_client *c, int64_t now)
{
    run_state *run = c->run;
    c->in_measured_window = 0;
    if (now < run->measure_start_ns)
        return 1;
    if (run->opt->total) {
        if (run->measured_started >= run->opt->total)
            return 0;
        run->measured_started++;
    }
    c->in_measured_window = 1;
    return 1;
}

static void start_attempt(bench_client *c)
{
    run_state *run = c->run;
    if (run->stopping)
        return;
    int64_t now = now_ns();
    if (!admit_attempt(c, now))
        return; /* stays idle: the -n quota is spoken for */
    c->connect_started_ns = now;
    c->in_len = 0;
    c->fd = socket(run->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail_errno(c, errno, "socket");
        return;
    }
    /* One small request per connection: never wait for Nagle. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (run->source_count) {
        size_t i = run->next_source++ % run->source_count;
        if (bind(c->fd, (struct sockaddr *)&run->sources[i], run->source_lens[i]) < 0) {
            fail_errno(c, errno, "bind to source address");
            return;
        }
    }
    c->phase = PHASE_CONNECTING;
    arm_deadline(c);
    if (connect(c->fd, (struct sockaddr *)&run->target, run->target_len) == 0) {
        on_connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        fail_errno(c, errno, "connecting");
        return;
    }
    watch_io(c, EV_WRITE);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    run_state *run = arg;
    run->stopping = 1;
    run->results->measured_s = (double)(run->measure_end_ns - run->measure_start_ns) / 1e9;
    event_base_loopbreak(run->base);
}

/* One line a second on a terminal, so a long run shows it is alive. */
static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    run_state *run = arg;
    const bench_results *r = run->results;
    fprintf(stderr, "\r%llu %s (+%llu/s), %llu failed   ", (unsigned long long)r->completed,
            run->scenario->operation, (unsigned long long)(r->completed - run->progress_last_completed),
            (unsigned long long)r->failed);
    run->progress_last_completed = r->completed;
}

static int resolve(const char *host, uint16_t port, int family, int numeric, struct sockaddr_storage *out,
                   socklen_t *out_len)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM,
                             .ai_flags = numeric ? AI_NUMERICHOST : 0};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0 || !list) {
        fprintf(stderr, "imgate-bench: cannot resolve %s: %s\n", host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(out, list->ai_addr, list->ai_addrlen);
    *out_len = list->ai_addrlen;
    freeaddrinfo(list);
    return 0;
}

static void free_run(run_state *run)
{
    if (run->clients) {
        for (uint32_t i = 0; i < run->opt->concurrency; i++) {
            bench_client *c = &run->clients[i];
            if (c->run == NULL)
                continue;
            close_connection(c);
            event_del(&c->deadline);
            free(c->in);
        }
    }
    if (run->stop_timer)
        event_free(run->stop_timer);
    if (run->progress_timer)
        event_free(run->progress_timer);
    free(run->clients);
    free(run->sources);
    free(run->source_lens);
    if (run->base)
        event_base_free(run->base);
}

int bench_run(const bench_options *opt, const bench_scenario *scenario, void *state, bench_results *results)
{
    run_state run = {.opt = opt, .scenario = scenario, .state = state, .results = results};
    int rc = -1;
    if (resolve(opt->host, opt->port, AF_UNSPEC, 0, &run.target, &run.target_len) < 0)
        goto out;
    if (opt->source_ip_count) {
        run.sources = calloc(opt->source_ip_count, sizeof *run.sources);
        run.source_lens = calloc(opt->source_ip_count, sizeof *run.source_lens);
        if (!run.sources || !run.source_lens)
            goto out;
        for (size_t i = 0; i < opt->source_ip_count; i++)
            if (resolve(opt->source_ips[i], 0, run.target.ss_family, 1, &run.sources[i], &run.source_lens[i]) < 0)
                goto out;
        run.source_count = opt->source_ip_count;
    }
    run.base = event_base_new();
    run.clients = calloc(opt->concurrency, sizeof *run.clients);
    if (!run.base || !run.clients) {
        fprintf(stderr, "imgate-bench: out of memory or no event base\n");
        goto out;
    }
    for (uint32_t i = 0; i < opt->concurrency; i++) {
        bench_client *c = &run.clients[i];
        c->run = &run;
        c->index = i;
        c->fd = -1;
        evtimer_assign(&c->deadline, run.base, on_deadline, c);
    }

    int64_t start = now_ns();
    run.measure_start_ns = start + (int64_t)(opt->warmup_s * 1e9);
    if (opt->duration_s > 0) {
        run.measure_end_ns = run.measure_start_ns + (int64_t)(opt->duration_s * 1e9);
        run.stop_timer = evtimer_new(run.base, on_stop, &run);
        struct timeval tv = ms_to_timeval((run.measure_end_ns - start) / 1000000);
        if (!run.stop_timer || evtimer_add(run.stop_timer, &tv) < 0)
            goto out;
    }
    if (isatty(STDERR_FILENO)) {
        run.progress_timer = event_new(run.base, -1, EV_PERSIST, on_progress, &run);
        struct timeval one_second = {.tv_sec = 1};
        if (run.progress_timer)
            event_add(run.progress_timer, &one_second);
    }
    /* Spread the first connects over the loop's first turn rather than one burst inside this call. */
    for (uint32_t i = 0; i < opt->concurrency; i++) {
        struct timeval now = {0};
        event_add(&run.clients[i].deadline, &now);
    }
    event_base_dispatch(run.base);
    if (run.progress_timer)
        fputc('\n', stderr);
    for (uint32_t i = 0; i < opt->concurrency; i++)
        if (run.clients[i].phase != PHASE_IDLE && run.clients[i].in_measured_window)
            results->abandoned++;
    rc = 0;
out:
    free_run(&run);
    return rc;
}
