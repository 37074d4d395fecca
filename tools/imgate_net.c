/*
 * imgate_net.c — TCP connect/write/wait helpers with poll()-based timeouts.
 */
#include "imgate_net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t imgate_net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t imgate_net_deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return IMGATE_NET_NO_DEADLINE;
    return imgate_net_now_ms() + timeout_ms;
}

int imgate_net_wait(int fd, short events, int64_t deadline_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int wait_ms = -1;
        if (deadline_ms != IMGATE_NET_NO_DEADLINE) {
            int64_t left = deadline_ms - imgate_net_now_ms();
            if (left < 0)
                left = 0;
            wait_ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        int n = poll(&pfd, 1, wait_ms);
        if (n > 0)
            return 1;
        if (n == 0) {
            /* poll() may wake a little early; only report a timeout once it is real. */
            if (deadline_ms != IMGATE_NET_NO_DEADLINE && imgate_net_now_ms() >= deadline_ms)
                return 0;
            continue;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* Tries one resolved address; returns a connected fd or -1 with errno. */
static int connect_one(const struct addrinfo *ai, const char *source_ip, int64_t deadline_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (source_ip != NULL && *source_ip) {
        /* Tests stand in for clients on other hosts with other loopback addresses (127.0.0.2...). */
        struct addrinfo shints = {.ai_family = ai->ai_family, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
        struct addrinfo *src = NULL;
        if (getaddrinfo(source_ip, "0", &shints, &src) != 0 || !src) {
            errno = EADDRNOTAVAIL;
            goto fail;
        }
        int rc = bind(fd, src->ai_addr, src->ai_addrlen);
        freeaddrinfo(src);
        if (rc != 0)
            goto fail;
    }
    /* Requests are small and latency matters more than packet count in tests. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail;

    int ready = imgate_net_wait(fd, POLLOUT, deadline_ms);
    if (ready == 0) {
        errno = ETIMEDOUT;
        goto fail;
    }
    if (ready < 0)
        goto fail;
    int soerr = 0;
    socklen_t slen = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
        goto fail;
    if (soerr != 0) {
        errno = soerr;
        goto fail;
    }
    return fd;

fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int imgate_net_connect(const char *host, uint16_t port, int timeout_ms)
{
    return imgate_net_connect_from(host, port, NULL, timeout_ms);
}

int imgate_net_connect_from(const char *host, uint16_t port, const char *source_ip, int timeout_ms)
{
    int64_t deadline = imgate_net_deadline(timeout_ms);
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0 || !list) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    int err = ECONNREFUSED;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        fd = connect_one(ai, source_ip, deadline);
        if (fd >= 0)
            break;
        err = errno;
        if (err == ETIMEDOUT)
            break; /* the overall budget is spent */
    }
    freeaddrinfo(list);
    if (fd < 0)
        errno = err;
    return fd;
}

int imgate_net_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int ready = imgate_net_wait(fd, POLLOUT, deadline_ms);
        if (ready == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready < 0)
            return -1;
    }
    return 0;
}
