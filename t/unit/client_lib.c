/*
 * client_lib.c — the client library (tools/libimgate-client.la) against a fake
 * peer on a loopback socket: framing, seq numbering, reassembly, the wait()
 * queue, error and close reporting, timeouts, and the HTTP GET helper.
 * Needs no imgated.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "imgate_client.h"
#include "imgate_http.h"
#include "tap.h"

/* ---- fake peer plumbing ---------------------------------------------------------- */

static int listen_fd = -1;
static uint16_t listen_port;

static void open_listener(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sin;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        listen(listen_fd, 16) < 0 || getsockname(listen_fd, (struct sockaddr *)&sin, &slen) < 0)
        tap_bail("cannot open a loopback listener: %s", strerror(errno));
    listen_port = ntohs(sin.sin_port);
}

/* Connects a client and accepts its peer end (the kernel completes the handshake from the backlog). */
static imgate_client *connect_pair(int *peer_fd)
{
    imgate_client *c = imgate_client_connect("127.0.0.1", listen_port, 2000);
    if (!c)
        tap_bail("connect: %s", strerror(errno));
    *peer_fd = accept(listen_fd, NULL, NULL);
    if (*peer_fd < 0)
        tap_bail("accept: %s", strerror(errno));
    return c;
}

static void peer_write(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            tap_bail("peer write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static int peer_read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Builds a frame (header + body) into out; returns its length. */
static size_t make_frame(uint8_t *out, uint16_t sid, uint16_t cid, uint16_t seq, const void *body, size_t len)
{
    imgate_pdu_header h;
    imgate_pdu_header_make(&h, sid, cid, seq, len);
    imgate_pdu_header_encode(&h, out);
    if (len)
        memcpy(out + IMGATE_PDU_HEADER_LEN, body, len);
    return IMGATE_PDU_HEADER_LEN + len;
}

static void peer_send_frame(int fd, uint16_t sid, uint16_t cid, uint16_t seq, const char *body)
{
    uint8_t buf[512];
    size_t n = make_frame(buf, sid, cid, seq, body, body ? strlen(body) : 0);
    peer_write(fd, buf, n);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int body_is(const imgate_client_pdu *p, const char *text)
{
    size_t len = strlen(text);
    return p->body_len == len && (len == 0 || memcmp(p->body, text, len) == 0);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_connect_refused(void)
{
    /* A port that was free a moment ago: bind, read, close. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &slen);
    close(fd);
    errno = 0;
    imgate_client *c = imgate_client_connect("127.0.0.1", ntohs(sin.sin_port), 1000);
    tap_ok(c == NULL && errno == ECONNREFUSED, "connect to a closed port fails with ECONNREFUSED");
    imgate_client_close(c);
}

static void test_send_framing_and_seq(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    tap_ok(imgate_client_fd(c) >= 0, "client exposes its fd");

    uint16_t s1 = 0, s2 = 0, s3 = 0;
    int rc1 = imgate_client_send(c, 0x0001, 0x0103, "abc", 3, &s1);
    int rc2 = imgate_client_send(c, 0x0007, 0x0701, NULL, 0, &s2);
    int rc3 = imgate_client_send_msg(c, 0x0003, 0x0301, NULL, &s3);
    tap_ok(rc1 == IMGATE_CLIENT_OK && rc2 == IMGATE_CLIENT_OK && rc3 == IMGATE_CLIENT_OK, "three sends succeed");
    tap_ok(s1 == 1 && s2 == 2 && s3 == 3, "seq numbers start at 1 and increase (got %u %u %u)", s1, s2, s3);

    uint8_t raw[IMGATE_PDU_HEADER_LEN + 3];
    imgate_pdu_header h;
    tap_ok(peer_read_exact(peer, raw, sizeof raw) == 0, "peer reads the first frame");
    imgate_pdu_header_decode(raw, &h);
    tap_ok(h.length == 19 && h.version == 1 && h.flag == 0 && h.service_id == 1 && h.command_id == 0x0103 &&
               h.seq_num == 1 && h.reserved == 0 && memcmp(raw + 16, "abc", 3) == 0,
           "first frame: length 19, version 1, flag 0, reserved 0, ids, seq and body as sent");
    tap_ok(peer_read_exact(peer, raw, 16) == 0, "peer reads the empty-body frame");
    imgate_pdu_header_decode(raw, &h);
    tap_ok(h.length == 16 && h.service_id == 7 && h.command_id == 0x0701 && h.seq_num == 2,
           "empty body is a bare 16-byte header");
    tap_ok(peer_read_exact(peer, raw, 16) == 0, "peer reads the NULL-message frame");
    imgate_pdu_header_decode(raw, &h);
    tap_ok(h.length == 16 && h.command_id == 0x0301 && h.seq_num == 3, "send_msg(NULL) sends an empty body");

    tap_ok(imgate_client_send_raw(c, "\x00\x00\x00\x05zz", 6) == IMGATE_CLIENT_OK, "send_raw succeeds");
    uint8_t got[6];
    tap_ok(peer_read_exact(peer, got, 6) == 0 && memcmp(got, "\x00\x00\x00\x05zz", 6) == 0,
           "send_raw writes the bytes unchanged");
    uint16_t s4 = 0;
    imgate_client_send(c, 1, 1, NULL, 0, &s4);
    tap_is_int(s4, 4, "send_raw does not consume a seq");

    imgate_client_close(c);
    close(peer);
}

/* Drains frames on the peer side and records the seq of two positions. */
typedef struct {
    int fd;
    unsigned frames;
    uint16_t seq_at_65535;
    uint16_t seq_at_65536;
    int saw_zero;
} drain_args;

static void *drain_frames(void *arg)
{
    drain_args *a = arg;
    uint8_t raw[16];
    while (peer_read_exact(a->fd, raw, 16) == 0) {
        imgate_pdu_header h;
        imgate_pdu_header_decode(raw, &h);
        a->frames++;
        if (h.seq_num == 0)
            a->saw_zero = 1;
        if (a->frames == 65535)
            a->seq_at_65535 = h.seq_num;
        if (a->frames == 65536)
            a->seq_at_65536 = h.seq_num;
    }
    return NULL;
}

static void test_seq_wraps_skipping_zero(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    drain_args a = {.fd = peer};
    pthread_t t;
    pthread_create(&t, NULL, drain_frames, &a);
    uint16_t seq = 0, last = 0;
    int ok = 1;
    for (unsigned i = 0; i < 65537 && ok; i++) {
        ok = imgate_client_send(c, 7, 0x0701, NULL, 0, &seq) == IMGATE_CLIENT_OK;
        if (i == 65535)
            last = seq;
    }
    imgate_client_close(c); /* EOF ends the drain thread */
    pthread_join(t, NULL);
    close(peer);
    tap_ok(ok && a.frames == 65537, "65537 frames sent");
    tap_ok(a.seq_at_65535 == 65535 && a.seq_at_65536 == 1 && last == 1 && !a.saw_zero,
           "seq wraps 65535 -> 1, never 0 (got %u then %u)", a.seq_at_65535, a.seq_at_65536);
}

static void test_recv_reassembles_across_timeout(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    uint8_t frame[64];
    size_t n = make_frame(frame, 3, 0x0301, 9, "hello world", 11);

    imgate_client_pdu p = {0};
    peer_write(peer, frame, 5); /* not even a whole header */
    tap_is_int(imgate_client_recv(c, &p, 50), IMGATE_CLIENT_TIMEOUT, "a partial header is a timeout");
    peer_write(peer, frame + 5, 14); /* header done, body partial */
    tap_is_int(imgate_client_recv(c, &p, 50), IMGATE_CLIENT_TIMEOUT, "a partial body is a timeout");
    peer_write(peer, frame + 19, n - 19);
    int rc = imgate_client_recv(c, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && p.h.command_id == 0x0301 && p.h.seq_num == 9 && body_is(&p, "hello world"),
           "the frame completes after the timeouts, nothing lost");
    imgate_client_pdu_free(&p);
    tap_ok(p.body == NULL && p.body_len == 0, "pdu_free resets the pdu");
    imgate_client_pdu_free(&p); /* twice is harmless */

    /* Two frames in one write come out as two PDUs. */
    uint8_t two[128];
    size_t n1 = make_frame(two, 1, 0x0a, 1, "x", 1);
    size_t n2 = make_frame(two + n1, 1, 0x0b, 2, NULL, 0);
    peer_write(peer, two, n1 + n2);
    imgate_client_pdu a = {0}, b = {0};
    int ra = imgate_client_recv(c, &a, 1000), rb = imgate_client_recv(c, &b, 1000);
    tap_ok(ra == 0 && rb == 0 && a.h.command_id == 0x0a && body_is(&a, "x") && b.h.command_id == 0x0b &&
               b.body_len == 0 && b.body == NULL,
           "two frames in one segment are two PDUs, in order");
    imgate_client_pdu_free(&a);
    imgate_client_pdu_free(&b);
    imgate_client_close(c);
    close(peer);
}

/* Writes one frame in three pieces with pauses, while the client blocks in recv. */
typedef struct {
    int fd;
} split_args;

static void *write_split_frame(void *arg)
{
    split_args *a = arg;
    uint8_t frame[64];
    size_t n = make_frame(frame, 4, 0x0401, 77, "split-body", 10);
    peer_write(a->fd, frame, 3);
    sleep_ms(30);
    peer_write(a->fd, frame + 3, 15);
    sleep_ms(30);
    peer_write(a->fd, frame + 18, n - 18);
    return NULL;
}

static void test_blocking_recv_of_split_frame(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    split_args a = {.fd = peer};
    pthread_t t;
    pthread_create(&t, NULL, write_split_frame, &a);
    imgate_client_pdu p = {0};
    int rc = imgate_client_recv(c, &p, 2000);
    pthread_join(t, NULL);
    tap_ok(rc == IMGATE_CLIENT_OK && p.h.seq_num == 77 && body_is(&p, "split-body"),
           "one blocking recv assembles a frame written in three delayed pieces");
    imgate_client_pdu_free(&p);
    imgate_client_close(c);
    close(peer);
}

static void test_wait_queues_other_pdus(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    peer_send_frame(peer, 3, 0x0301, 0, "push-1");   /* a server push */
    peer_send_frame(peer, 1, 0x0104, 4, "other-seq"); /* right cid, wrong seq */
    peer_send_frame(peer, 1, 0x0104, 5, "reply");
    peer_send_frame(peer, 3, 0x0301, 0, "push-2");

    imgate_client_pdu p = {0};
    int rc = imgate_client_wait(c, 0x0104, 5, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && p.h.seq_num == 5 && body_is(&p, "reply"), "wait returns the matching reply");
    imgate_client_pdu_free(&p);

    rc = imgate_client_wait(c, 0x0301, -1, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && body_is(&p, "push-1"), "wait with seq -1 takes the first match from the queue");
    imgate_client_pdu_free(&p);

    rc = imgate_client_recv(c, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && p.h.seq_num == 4 && body_is(&p, "other-seq"),
           "recv then returns the set-aside PDU");
    imgate_client_pdu_free(&p);
    rc = imgate_client_recv(c, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && body_is(&p, "push-2"), "and afterwards the next PDU from the socket");
    imgate_client_pdu_free(&p);
    tap_is_int(imgate_client_recv(c, &p, 30), IMGATE_CLIENT_TIMEOUT, "nothing else is pending");

    /* A wait that times out keeps what it set aside. */
    peer_send_frame(peer, 3, 0x0301, 0, "kept");
    tap_is_int(imgate_client_wait(c, 0x0999, -1, &p, 50), IMGATE_CLIENT_TIMEOUT, "wait for an absent cid times out");
    rc = imgate_client_recv(c, &p, 0);
    tap_ok(rc == IMGATE_CLIENT_OK && body_is(&p, "kept"), "the PDU seen during the timed-out wait is kept");
    imgate_client_pdu_free(&p);
    imgate_client_close(c);
    close(peer);
}

/* Answers one request with a push first, then the reply carrying the request's seq. */
static void *answer_one_call(void *arg)
{
    int fd = *(int *)arg;
    uint8_t raw[16];
    if (peer_read_exact(fd, raw, 16) < 0)
        return NULL;
    imgate_pdu_header h;
    imgate_pdu_header_decode(raw, &h);
    if (h.length > 16) {
        uint8_t skip[256];
        peer_read_exact(fd, skip, h.length - 16);
    }
    peer_send_frame(fd, h.service_id, 0x0501, 0, "push-before-reply");
    peer_send_frame(fd, h.service_id, (uint16_t)(h.command_id + 1), h.seq_num, "answer");
    return NULL;
}

static void test_call(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    imgate_client_send(c, 1, 1, NULL, 0, NULL); /* move the seq on so the call's is not 1 */
    uint8_t skip[16];
    peer_read_exact(peer, skip, 16);
    pthread_t t;
    pthread_create(&t, NULL, answer_one_call, &peer);
    imgate_client_pdu p = {0};
    int rc = imgate_client_call(c, 0x1000, 0x0001, NULL, 0x0002, &p, 2000);
    pthread_join(t, NULL);
    tap_ok(rc == IMGATE_CLIENT_OK && p.h.command_id == 0x0002 && p.h.seq_num == 2 && body_is(&p, "answer"),
           "call sends and returns the reply with the request's seq");
    imgate_client_pdu_free(&p);
    rc = imgate_client_recv(c, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && body_is(&p, "push-before-reply"), "the push that came first is still there");
    imgate_client_pdu_free(&p);
    imgate_client_close(c);
    close(peer);
}

static void test_bad_lengths(void)
{
    static const uint32_t bad[] = {0, 15, IMGATE_CLIENT_MAX_FRAME + 1};
    static const char *names[] = {"length 0", "length 15", "length above the cap"};
    for (size_t k = 0; k < 3; k++) {
        int peer;
        imgate_client *c = connect_pair(&peer);
        uint8_t frame[16];
        make_frame(frame, 1, 1, 1, NULL, 0);
        imgate_put_u32(frame, bad[k]);
        peer_write(peer, frame, sizeof frame);
        imgate_client_pdu p = {0};
        tap_is_int(imgate_client_recv(c, &p, 1000), IMGATE_CLIENT_ERROR, "%s is IMGATE_CLIENT_ERROR", names[k]);
        if (k == 0)
            tap_is_int(imgate_client_recv(c, &p, 0), IMGATE_CLIENT_ERROR, "the stream stays broken afterwards");
        imgate_client_close(c);
        close(peer);
    }
}

static void test_close_and_timeout(void)
{
    int peer;
    imgate_client *c = connect_pair(&peer);
    imgate_client_pdu p = {0};

    long long t0 = now_ms();
    int rc = imgate_client_recv(c, &p, 150);
    long long took = now_ms() - t0;
    tap_is_int(rc, IMGATE_CLIENT_TIMEOUT, "recv on a silent peer times out");
    tap_ok(took >= 140 && took < 1500, "after about the requested time (%lld ms for 150)", took);
    tap_is_int(imgate_client_wait_closed(c, 50), IMGATE_CLIENT_TIMEOUT, "wait_closed on an open peer times out");

    peer_send_frame(peer, 3, 0x0301, 0, "last words");
    close(peer);
    rc = imgate_client_recv(c, &p, 1000);
    tap_ok(rc == IMGATE_CLIENT_OK && body_is(&p, "last words"), "a frame sent before the close is still delivered");
    imgate_client_pdu_free(&p);
    tap_is_int(imgate_client_recv(c, &p, 1000), IMGATE_CLIENT_CLOSED, "then peer close is IMGATE_CLIENT_CLOSED");
    tap_is_int(imgate_client_recv(c, &p, 0), IMGATE_CLIENT_CLOSED, "and stays CLOSED");
    tap_is_int(imgate_client_wait(c, 1, -1, &p, 100), IMGATE_CLIENT_CLOSED, "wait reports CLOSED too");
    imgate_client_close(c);

    /* A frame cut short by the close. */
    c = connect_pair(&peer);
    peer_write(peer, "\x00\x00\x00\x20\x00\x01", 6);
    close(peer);
    tap_is_int(imgate_client_recv(c, &p, 1000), IMGATE_CLIENT_CLOSED, "close in mid-frame is CLOSED");
    imgate_client_close(c);

    /* wait_closed discards what is in flight and reports the close. */
    c = connect_pair(&peer);
    peer_send_frame(peer, 3, 0x0301, 0, "ignored");
    peer_write(peer, "\x00\x00\x00\x01", 4); /* even garbage */
    close(peer);
    tap_is_int(imgate_client_wait_closed(c, 1000), IMGATE_CLIENT_CLOSED, "wait_closed sees the server close");
    imgate_client_close(c);

    /* Reset (RST) instead of FIN. */
    c = connect_pair(&peer);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer);
    tap_is_int(imgate_client_recv(c, &p, 1000), IMGATE_CLIENT_CLOSED, "a connection reset is CLOSED");
    imgate_client_close(c);

    /* Sending to a gone peer reports CLOSED (and no SIGPIPE kills us). */
    c = connect_pair(&peer);
    close(peer);
    sleep_ms(20);
    rc = IMGATE_CLIENT_OK;
    static uint8_t big[256 * 1024];
    for (int i = 0; i < 20 && rc == IMGATE_CLIENT_OK; i++)
        rc = imgate_client_send(c, 1, 1, big, sizeof big, NULL);
    tap_is_int(rc, IMGATE_CLIENT_CLOSED, "send to a closed peer is CLOSED, without SIGPIPE");
    imgate_client_close(c);
}

/* A one-shot HTTP server: reads the request, answers with `response`, closes. */
typedef struct {
    const char *response;
    char request[1024];
} http_args;

static void *serve_one_http(void *arg)
{
    http_args *a = arg;
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t used = 0;
    while (used < sizeof a->request - 1 && !strstr(a->request, "\r\n\r\n")) {
        ssize_t n = read(fd, a->request + used, sizeof a->request - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        a->request[used] = '\0';
    }
    peer_write(fd, a->response, strlen(a->response));
    close(fd);
    return NULL;
}

static void test_http_get(void)
{
    http_args a = {.response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                               "{\"code\":0}\r\n\r\n"};
    pthread_t t;
    pthread_create(&t, NULL, serve_one_http, &a);
    int status = 0;
    char *body = NULL;
    int rc = imgate_http_get("127.0.0.1", listen_port, "/msg_server", &status, &body, 2000);
    pthread_join(t, NULL);
    tap_ok(rc == 0 && status == 200, "http_get parses the status (rc %d, status %d)", rc, status);
    tap_is_str(body, "{\"code\":0}\r\n\r", "http_get returns Content-Length bytes of body");
    tap_ok(strncmp(a.request, "GET /msg_server HTTP/1.", 23) == 0 && strstr(a.request, "Connection: close"),
           "the request line and Connection: close are sent");
    free(body);

    http_args b = {.response = "HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet"};
    pthread_create(&t, NULL, serve_one_http, &b);
    body = NULL;
    rc = imgate_http_get("127.0.0.1", listen_port, "/health", &status, &body, 2000);
    pthread_join(t, NULL);
    tap_ok(rc == 0 && status == 503, "a non-200 status is reported");
    tap_is_str(body, "not yet", "without Content-Length the body runs to EOF");
    free(body);

    http_args bad = {.response = "garbage\r\n\r\n"};
    pthread_create(&t, NULL, serve_one_http, &bad);
    rc = imgate_http_get("127.0.0.1", listen_port, "/", &status, NULL, 2000);
    int err = errno;
    pthread_join(t, NULL);
    tap_ok(rc == -1 && err == EPROTO, "an unparsable response is EPROTO");
}

int main(void)
{
    open_listener();
    test_connect_refused();
    test_send_framing_and_seq();
    test_seq_wraps_skipping_zero();
    test_recv_reassembles_across_timeout();
    test_blocking_recv_of_split_frame();
    test_wait_queues_other_pdus();
    test_call();
    test_bad_lengths();
    test_close_and_timeout();
    test_http_get();
    close(listen_fd);
    return tap_done();
}
