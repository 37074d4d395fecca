/*
 * imgate_http.c — one-shot HTTP/1.0 GET: connect, send, read, parse status and body.
 *
 * HTTP/1.0 keeps the server from answering with chunked encoding, so the body
 * is simply everything after the blank line.
 */
#include "imgate_http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imgate_net.h"

/* Growable byte buffer kept NUL-terminated so it can be parsed as text. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} response_buf;

/* Returns the byte offset of the body (after the blank line), or 0 while headers are incomplete. */
static size_t body_offset(const response_buf *r)
{
    const char *end = strstr(r->data, "\r\n\r\n");
    if (end)
        return (size_t)(end - r->data) + 4;
    end = strstr(r->data, "\n\n"); /* tolerate bare LF servers */
    if (end)
        return (size_t)(end - r->data) + 2;
    return 0;
}

/* The Content-Length header value, or -1 when absent. `headers_end` bounds the search. */
static long long content_length(const char *data, size_t headers_end)
{
    const char *line = strchr(data, '\n');
    while (line && (size_t)(line - data) < headers_end) {
        line++;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            return strtoll(line + 15, NULL, 10);
        line = strchr(line, '\n');
    }
    return -1;
}

/* Reads the whole response into `r`: until EOF, or until Content-Length is satisfied. */
static int read_response(int fd, response_buf *r, int64_t deadline)
{
    for (;;) {
        size_t off = body_offset(r);
        if (off) {
            long long clen = content_length(r->data, off);
            if (clen >= 0 && r->len - off >= (size_t)clen)
                return 0;
        }
        if (r->cap - r->len < 4096) {
            size_t ncap = r->cap ? r->cap * 2 : 8192;
            if (ncap > IMGATE_HTTP_MAX_RESPONSE + 1) {
                errno = EMSGSIZE;
                return -1;
            }
            char *n = realloc(r->data, ncap);
            if (!n)
                return -1;
            r->data = n;
            r->cap = ncap;
        }
        ssize_t n = recv(fd, r->data + r->len, r->cap - r->len - 1, 0);
        if (n > 0) {
            r->len += (size_t)n;
            r->data[r->len] = '\0';
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int ready = imgate_net_wait(fd, POLLIN, deadline);
        if (ready == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready < 0)
            return -1;
    }
}

int imgate_http_get(const char *host, uint16_t port, const char *path, int *status, char **body,
                    int timeout_ms)
{
    if (!host || !path || !status) {
        errno = EINVAL;
        return -1;
    }
    int64_t deadline = imgate_net_deadline(timeout_ms);
    int fd = imgate_net_connect(host, port, timeout_ms);
    if (fd < 0)
        return -1;

    int rc = -1;
    response_buf r = {0};
    char request[2048];
    int reqlen = snprintf(request, sizeof request,
                          "GET %s HTTP/1.0\r\nHost: %s:%u\r\nConnection: close\r\n"
                          "User-Agent: imgate-client\r\n\r\n",
                          path, host, (unsigned)port);
    if (reqlen < 0 || (size_t)reqlen >= sizeof request) {
        errno = ENAMETOOLONG;
        goto out;
    }
    if (imgate_net_write_all(fd, request, (size_t)reqlen, deadline) < 0)
        goto out;
    r.data = malloc(1);
    if (!r.data)
        goto out;
    r.data[0] = '\0';
    r.cap = 1;
    if (read_response(fd, &r, deadline) < 0)
        goto out;

    /* Status line: "HTTP/1.x NNN reason". */
    int code = 0;
    if (sscanf(r.data, "HTTP/%*d.%*d %d", &code) != 1 || code < 100 || code > 999) {
        errno = EPROTO;
        goto out;
    }
    size_t off = body_offset(&r);
    if (!off) {
        errno = EPROTO;
        goto out;
    }
    *status = code;
    if (body) {
        size_t blen = r.len - off;
        long long clen = content_length(r.data, off);
        if (clen >= 0 && (size_t)clen < blen)
            blen = (size_t)clen;
        char *copy = malloc(blen + 1);
        if (!copy)
            goto out;
        memcpy(copy, r.data + off, blen);
        copy[blen] = '\0';
        *body = copy;
    }
    rc = 0;

out:;
    int saved = errno;
    free(r.data);
    close(fd);
    errno = saved;
    return rc;
}
