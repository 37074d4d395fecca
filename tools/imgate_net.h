/*
 * imgate_net.h — blocking-with-timeout TCP plumbing shared by the PDU client
 * (imgate_client.c) and the HTTP helper (imgate_http.c).
 *
 * Internal to tools/libimgate-client.la. Sockets are non-blocking; every wait
 * goes through poll() against an absolute monotonic deadline, so a sequence of
 * partial reads or writes never exceeds the caller's overall timeout.
 */
#ifndef IMGATE_NET_H
#define IMGATE_NET_H

#include <stddef.h>
#include <stdint.h>

/* A deadline in milliseconds on CLOCK_MONOTONIC; IMGATE_NET_NO_DEADLINE waits forever. */
#define IMGATE_NET_NO_DEADLINE INT64_MAX

/* Current CLOCK_MONOTONIC time in milliseconds. */
int64_t imgate_net_now_ms(void);

/* now + timeout_ms; a negative timeout means "no deadline". */
int64_t imgate_net_deadline(int timeout_ms);

/*
 * Waits until `fd` is ready for `events` (POLLIN / POLLOUT) or the deadline passes.
 * Returns 1 when ready (including error/hang-up conditions, which the next
 * read/write reports), 0 on timeout, -1 on poll() failure (errno set).
 */
int imgate_net_wait(int fd, short events, int64_t deadline_ms);

/*
 * Resolves host:port and connects a non-blocking TCP socket within timeout_ms
 * (negative = no limit), with TCP_NODELAY set. Returns the fd, or -1 with errno
 * (ETIMEDOUT on timeout, EHOSTUNREACH when the name does not resolve).
 */
int imgate_net_connect(const char *host, uint16_t port, int timeout_ms);
/* Same, from a chosen local address (NULL = any). */
int imgate_net_connect_from(const char *host, uint16_t port, const char *source_ip, int timeout_ms);

/*
 * Writes all `len` bytes before the deadline. Returns 0, or -1 with errno
 * (ETIMEDOUT, EPIPE/ECONNRESET when the peer is gone). Never raises SIGPIPE.
 */
int imgate_net_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms);

#endif
