/*
 * http.c — see http.h.
 *
 * A small HTTP/1.x responder on the core's own listener rather than evhttp:
 * libevent 2.1's evhttp has no connection cap, and idle HTTP connections
 * alone could then use every descriptor the node has. Each connection sends
 * one request of at most HTTP_MAX_REQUEST bytes, gets one answer and is
 * closed (as the reference login_server does, protocol G.1). At the cap, the
 * oldest connection still waiting for its request is dropped to make room, so
 * idle connections cannot lock /health or /msg_server out.
 */
#include "http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

/* Request line and headers together; the reference login_server took 1024 bytes. */
#define HTTP_MAX_REQUEST 4096

typedef struct http_conn {
    struct bufferevent *bev;
    struct http_conn *prev, *next; /* oldest first */
    int answered;                  /* the response is queued: close once written */
} http_conn;

struct http_server {
    struct evconnlistener *listener;
    http_conn *oldest, *newest;
    int count;
    metric_series *requests, *connections, *refused, *evicted;
};

/* Writes `s` as a JSON string literal (quotes included). */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

char *http_msg_server_json(void)
{
    const config *cfg = server_cfg();
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    cluster_choice choice;
    cluster_choose(cfg, &choice);
    if (g_server.shutting_down) {
        fputs("{\"code\":1,\"msg\":\"没有msg_server\"}", f);
    } else if (choice.full) {
        fputs("{\"code\":2,\"msg\":\"负载过高\"}", f);
    } else {
        /* The least loaded live node. Field names, and the port as a string, are what clients
         * parse (protocol G.1). */
        char port[16];
        snprintf(port, sizeof port, "%u", choice.port);
        fputs("{\"code\":0,\"msg\":\"\",\"priorIP\":", f);
        json_string(f, choice.public_ip);
        fputs(",\"backupIP\":", f);
        json_string(f, choice.backup_ip);
        fputs(",\"msfsPrior\":", f);
        json_string(f, cfg->msfs_url);
        fputs(",\"msfsBackup\":", f);
        json_string(f, cfg->msfs_url);
        fputs(",\"discovery\":", f);
        json_string(f, cfg->discovery_url);
        fputs(",\"port\":", f);
        json_string(f, port);
        fputs("}", f);
    }
    fclose(f);
    return out;
}

static void unlink_conn(http_server *s, http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->newest = c->prev;
    c->prev = c->next = NULL;
}

static void free_conn(http_server *s, http_conn *c)
{
    unlink_conn(s, c);
    bufferevent_free(c->bev);
    free(c);
    s->count--;
    metrics_gauge_set(s->connections, s->count);
}

/* Queues the whole response and stops reading; the connection closes once it is written. */
static void respond(http_conn *c, int code, const char *reason, const char *type, const char *body, int head_only)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = body ? strlen(body) : 0;
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\nContent-Type: %s\r\n\r\n", code,
                        reason, len, type);
    if (len && !head_only)
        evbuffer_add(out, body, len);
    c->answered = 1;
    bufferevent_disable(c->bev, EV_READ);
}

static void route(http_conn *c, const char *method, const char *uri)
{
    int head_only = strcmp(method, "HEAD") == 0;
    /* Like the reference, any path that starts with /msg_server is the query, whatever the method. */
    if (strncmp(uri, "/msg_server", 11) == 0) {
        char *json = http_msg_server_json();
        if (json == NULL)
            respond(c, 500, "Internal Server Error", "text/plain", "", head_only);
        else
            respond(c, 200, "OK", "text/html;charset=utf-8", json, head_only);
        free(json);
        return;
    }
    if (strcmp(method, "GET") != 0 && !head_only) {
        respond(c, 405, "Method Not Allowed", "text/plain", "", 0);
        return;
    }
    if (strcmp(uri, "/health") == 0) {
        char body[256];
        snprintf(body, sizeof body, "{\"status\":\"%s\",\"node\":\"%s\",\"generation\":%llu,\"connections\":%d}\n",
                 g_server.shutting_down ? "stopping" : "ok", server_cfg()->node,
                 (unsigned long long)g_server.current->number, conn_count());
        respond(c, g_server.shutting_down ? 503 : 200, g_server.shutting_down ? "Service Unavailable" : "OK",
                "application/json", body, head_only);
        return;
    }
    if (strcmp(uri, "/metrics") == 0) {
        metrics_set("imgate_generation", "", (int64_t)g_server.current->number);
        metrics_set("imgate_generations_retired", "", generation_retired_count());
        char *text = metrics_render();
        respond(c, text ? 200 : 500, text ? "OK" : "Internal Server Error", "text/plain; version=0.0.4",
                text ? text : "", head_only);
        free(text);
        return;
    }
    respond(c, 404, "Not Found", "text/plain", "", head_only);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    http_conn *c = arg;
    http_server *s = g_server.http;
    if (c->answered)
        return;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > HTTP_MAX_REQUEST)
            respond(c, 431, "Request Header Fields Too Large", "text/plain", "", 0);
        return;
    }
    if ((size_t)end.pos + 4 > HTTP_MAX_REQUEST) {
        respond(c, 431, "Request Header Fields Too Large", "text/plain", "", 0);
        return;
    }
    metrics_inc(s->requests, 1);
    /* The request line: METHOD SP URI SP VERSION. */
    char line[HTTP_MAX_REQUEST + 1];
    size_t n = evbuffer_copyout(in, line, (size_t)end.pos);
    line[n] = '\0';
    char *eol = strpbrk(line, "\r\n");
    if (eol)
        *eol = '\0';
    char *method = line, *uri = strchr(line, ' ');
    char *version = uri ? strchr(uri + 1, ' ') : NULL;
    if (uri == NULL || version == NULL || strncmp(version + 1, "HTTP/1.", 7) != 0) {
        respond(c, 400, "Bad Request", "text/plain", "", 0);
        return;
    }
    *uri++ = '\0';
    *version = '\0';
    route(c, method, uri);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    http_conn *c = arg;
    if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        free_conn(g_server.http, c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    /* EOF, an error, or the read/write timeout: nothing more to do for this connection. */
    free_conn(g_server.http, arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int socklen, void *arg)
{
    http_server *s = arg;
    const config *cfg = server_cfg();
    if (s->count >= cfg->http_max_connections) {
        /* Make room: the oldest connection that has not had its answer yet goes. */
        http_conn *victim = s->oldest;
        while (victim && victim->answered)
            victim = victim->next;
        if (victim == NULL) {
            metrics_inc(s->refused, 1);
            evutil_closesocket(fd);
            return;
        }
        metrics_inc(s->evicted, 1);
        free_conn(s, victim);
    }
    http_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->bev = bufferevent_socket_new(g_server.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->prev = s->newest;
    if (s->newest)
        s->newest->next = c;
    else
        s->oldest = c;
    s->newest = c;
    s->count++;
    metrics_gauge_set(s->connections, s->count);
    struct timeval tv = {cfg->http_timeout_ms / 1000, (cfg->http_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    server_accept_failed(l, "http");
}

http_server *http_start(struct event_base *base, const char *host, unsigned port)
{
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->listener = server_listen(host, port, on_accept, s);
    if (s->listener == NULL) {
        free(s);
        return NULL;
    }
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    s->requests = metrics_counter("imgate_http_requests_total", "");
    s->connections = metrics_gauge("imgate_http_connections", "");
    s->refused = metrics_counter("imgate_http_connections_refused_total", "");
    s->evicted = metrics_counter("imgate_http_connections_evicted_total", "");
    return s;
}

struct evconnlistener *http_listener(http_server *s) { return s ? s->listener : NULL; }

int http_count(const http_server *s) { return s ? s->count : 0; }

void http_stop(http_server *s)
{
    if (s == NULL)
        return;
    while (s->oldest)
        free_conn(s, s->oldest);
    evconnlistener_free(s->listener);
    free(s);
}
