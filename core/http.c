/* http.c — see http.h. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

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
    if (g_server.shutting_down) {
        fputs("{\"code\":1,\"msg\":\"没有msg_server\"}", f);
    } else if (conn_count() >= cfg->max_connections) {
        fputs("{\"code\":2,\"msg\":\"负载过高\"}", f);
    } else {
        /* Field names, and the port as a string, are what clients parse (protocol G.1). */
        char port[16];
        snprintf(port, sizeof port, "%u", cfg->public_port);
        fputs("{\"code\":0,\"msg\":\"\",\"priorIP\":", f);
        json_string(f, cfg->public_ip);
        fputs(",\"backupIP\":", f);
        json_string(f, cfg->backup_ip);
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

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const char *body)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add(buf, body, strlen(body));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    metrics_add("imgate_http_requests_total", "", 1);
    if (uri == NULL) {
        evhttp_send_error(req, 400, NULL);
        return;
    }
    /* Like the reference, any path that starts with /msg_server is the query. */
    if (strncmp(uri, "/msg_server", 11) == 0) {
        char *json = http_msg_server_json();
        if (json == NULL) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        reply(req, 200, "OK", "text/html;charset=utf-8", json);
        free(json);
        return;
    }
    if (strcmp(uri, "/health") == 0) {
        char body[256];
        snprintf(body, sizeof body, "{\"status\":\"%s\",\"node\":\"%s\",\"generation\":%llu,\"connections\":%d}\n",
                 g_server.shutting_down ? "stopping" : "ok", server_cfg()->node,
                 (unsigned long long)g_server.current->number, conn_count());
        reply(req, g_server.shutting_down ? 503 : 200, g_server.shutting_down ? "Service Unavailable" : "OK",
              "application/json", body);
        return;
    }
    if (strcmp(uri, "/metrics") == 0) {
        metrics_set("imgate_generation", "", (int64_t)g_server.current->number);
        metrics_set("imgate_generations_retired", "", generation_retired_count());
        char *text = metrics_render();
        if (text == NULL) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        reply(req, 200, "OK", "text/plain; version=0.0.4", text);
        free(text);
        return;
    }
    evhttp_send_error(req, 404, NULL);
}

struct evhttp *http_start(struct event_base *base, const char *host, unsigned port)
{
    struct evhttp *http = evhttp_new(base);
    if (http == NULL)
        return NULL;
    /* Same bound as the reference login_server: small requests only. */
    evhttp_set_max_headers_size(http, 4096);
    evhttp_set_max_body_size(http, 1024);
    evhttp_set_timeout(http, 60);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, on_request, NULL);
    if (evhttp_bind_socket(http, host && *host ? host : "0.0.0.0", (uint16_t)port) != 0) {
        log_error("event=http_bind_failed listen=%s:%u", host ? host : "", port);
        evhttp_free(http);
        return NULL;
    }
    return http;
}
