/* config.c — see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Debian's inih passes no line number to the handler, so the reader counts
 * lines itself: inih asks for one line per call. */
typedef struct line_reader {
    FILE *f;
    int line;
} line_reader;

static char *read_line(char *buf, int size, void *stream)
{
    line_reader *r = stream;
    char *s = fgets(buf, size, r->f);
    if (s != NULL)
        r->line++;
    return s;
}

typedef struct parse_state {
    line_reader reader;
    config *c;
    char *err;
    size_t errlen;
    int failed;
} parse_state;

static void fail(parse_state *st, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(parse_state *st, int line, const char *fmt, ...)
{
    if (st->failed)
        return; /* report the first error only: later ones are often consequences */
    st->failed = 1;
    int n = snprintf(st->err, st->errlen, "%s:%d: ", st->c->path, line);
    if (n < 0 || (size_t)n >= st->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void set_str(char **dst, const char *value)
{
    free(*dst);
    *dst = strdup(value);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    /* Accept k/m suffixes for byte sizes: "16k", "1m" (refusing what would wrap around). */
    if (*end == 'k' || *end == 'K' || *end == 'm' || *end == 'M') {
        unsigned long long unit = (*end == 'k' || *end == 'K') ? 1024 : 1024 * 1024;
        if (v > ULLONG_MAX / unit)
            return -1;
        v *= unit;
        end++;
    }
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int config_parse_hostport(const char *s, char **host, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    unsigned long long p;
    if (parse_uint(colon + 1, 65535, &p) != 0)
        return -1;
    size_t hl = (size_t)(colon - s);
    char *h = strndup(s, hl);
    if (h == NULL)
        return -1;
    /* "[::1]:8000" -> "::1" */
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        memmove(h, h + 1, hl - 2);
        h[hl - 2] = '\0';
    }
    if (strcmp(h, "*") == 0)
        h[0] = '\0';
    free(*host);
    *host = h;
    *port = (unsigned)p;
    return 0;
}

/* A function, not an inline `<`, so a minimum of 0 does not trip -Wtype-limits. */
static int below(unsigned long long v, unsigned long long min) { return v < min; }

/* One numeric key: `field` receives the value if it parses within [min, max]. */
#define NUM_KEY(name, field, min, max)                                                        \
    if (strcmp(key, name) == 0) {                                                           \
        unsigned long long v_;                                                              \
        if (parse_uint(value, (max), &v_) != 0 || below(v_, (min))) {                        \
            fail(st, line, "[%s] %s: expected a number from %llu to %llu, got '%s'", section, \
                 key, (unsigned long long)(min), (unsigned long long)(max), value);         \
            return;                                                                         \
        }                                                                                   \
        field = v_;                                                                         \
        return;                                                                             \
    }
#define STR_KEY(name, field)            \
    if (strcmp(key, name) == 0) {     \
        set_str(&(field), value);       \
        return;                         \
    }

static void gateway_key(parse_state *st, int line, const char *section, const char *key, const char *value)
{
    config *c = st->c;
    if (strcmp(key, "listen") == 0) {
        if (config_parse_hostport(value, &c->listen_host, &c->listen_port) != 0)
            fail(st, line, "[gateway] listen: expected HOST:PORT, got '%s'", value);
        return;
    }
    if (strcmp(key, "log_level") == 0) {
        int lv = log_level_parse(value);
        if (lv < 0)
            fail(st, line, "[gateway] log_level: expected error|warn|info|debug, got '%s'", value);
        else
            c->log_level = lv;
        return;
    }
    STR_KEY("node", c->node)
    STR_KEY("public_ip", c->public_ip)
    STR_KEY("backup_ip", c->backup_ip)
    STR_KEY("pid_file", c->pid_file)
    STR_KEY("log_file", c->log_file)
    STR_KEY("msfs_url", c->msfs_url)
    STR_KEY("discovery_url", c->discovery_url)
    NUM_KEY("public_port", c->public_port, 1, 65535)
    NUM_KEY("max_connections", c->max_connections, 1, 1000000)
    NUM_KEY("max_frame_prelogin", c->max_frame_prelogin, 16, 64u * 1024 * 1024)
    NUM_KEY("max_frame", c->max_frame, 16, 64u * 1024 * 1024)
    NUM_KEY("max_output", c->max_output, 4096, 1024ull * 1024 * 1024)
    NUM_KEY("max_output_prelogin", c->max_output_prelogin, 4096, 1024ull * 1024 * 1024)
    NUM_KEY("max_output_total", c->max_output_total, 65536, 64ull * 1024 * 1024 * 1024)
    NUM_KEY("login_timeout_ms", c->login_timeout_ms, 100, 3600000)
    NUM_KEY("idle_timeout_pc_ms", c->idle_timeout_pc_ms, 100, 86400000)
    NUM_KEY("idle_timeout_mobile_ms", c->idle_timeout_mobile_ms, 100, 86400000)
    NUM_KEY("msg_rate_per_second", c->msg_rate_per_second, 1, 1000000)
    NUM_KEY("kick_linger_ms", c->kick_linger_ms, 0, 86400000)
    /* The older name of kick_linger_ms, kept so existing files still load. */
    NUM_KEY("kick_grace_ms", c->kick_linger_ms, 0, 86400000)
    NUM_KEY("max_inflight_per_conn", c->max_inflight_per_conn, 1, 100000)
    NUM_KEY("max_inflight", c->max_inflight, 1, 10000000)
    NUM_KEY("write_batch_max", c->write_batch_max, 1, 10000)
    NUM_KEY("workers", c->workers, 1, 256)
    NUM_KEY("worker_queue_max", c->worker_queue_max, 1, 10000000)
    NUM_KEY("job_timeout_ms", c->job_timeout_ms, 100, 3600000)
    NUM_KEY("reload_drain_ms", c->reload_drain_ms, 100, 3600000)
    NUM_KEY("shutdown_grace_ms", c->shutdown_grace_ms, 0, 600000)
    fail(st, line, "unknown key '%s' in [gateway]", key);
}

static void http_key(parse_state *st, int line, const char *section, const char *key, const char *value)
{
    config *c = st->c;
    if (strcmp(key, "listen") == 0) {
        if (config_parse_hostport(value, &c->http_host, &c->http_port) != 0)
            fail(st, line, "[http] listen: expected HOST:PORT, got '%s'", value);
        return;
    }
    NUM_KEY("max_connections", c->http_max_connections, 1, 100000)
    NUM_KEY("timeout_ms", c->http_timeout_ms, 100, 600000)
    fail(st, line, "unknown key '%s' in [http]", key);
}

static void db_key(parse_state *st, int line, const char *section, config_db *db, const char *key,
                   const char *value)
{
    db->configured = 1;
    STR_KEY("host", db->host)
    STR_KEY("socket", db->socket)
    STR_KEY("user", db->user)
    STR_KEY("password", db->password)
    STR_KEY("database", db->database)
    NUM_KEY("port", db->port, 0, 65535)
    NUM_KEY("pool_size", db->pool_size, 1, 256)
    NUM_KEY("connect_timeout_s", db->connect_timeout_s, 1, 600)
    NUM_KEY("read_timeout_s", db->read_timeout_s, 1, 3600)
    fail(st, line, "unknown key '%s' in [%s]", key, section);
}

static void redis_key(parse_state *st, int line, const char *section, const char *key, const char *value)
{
    config *c = st->c;
    c->redis_configured = 1;
    STR_KEY("host", c->redis_host)
    STR_KEY("socket", c->redis_socket)
    NUM_KEY("port", c->redis_port, 0, 65535)
    NUM_KEY("db", c->redis_db, 0, 1024)
    NUM_KEY("timeout_ms", c->redis_timeout_ms, 100, 600000)
    fail(st, line, "unknown key '%s' in [redis]", key);
}

static void cluster_key(parse_state *st, int line, const char *section, const char *key, const char *value)
{
    config *c = st->c;
    if (strcmp(key, "enabled") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            c->cluster_enabled = 1;
        else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            c->cluster_enabled = 0;
        else
            fail(st, line, "[cluster] enabled: expected yes or no, got '%s'", value);
        return;
    }
    NUM_KEY("node_ttl_ms", c->node_ttl_ms, 500, 600000)
    NUM_KEY("refresh_ms", c->node_refresh_ms, 100, 60000)
    fail(st, line, "unknown key '%s' in [cluster]", key);
}

static int valid_plugin_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

static void parse_enable(parse_state *st, int line, const char *value)
{
    config *c = st->c;
    for (int i = 0; i < c->n_enable; i++)
        free(c->enable[i]);
    free(c->enable);
    c->enable = NULL;
    c->n_enable = 0;
    char *copy = strdup(value);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (!valid_plugin_name(tok)) {
            fail(st, line, "[plugins] enable: '%s' is not a plugin name (lowercase letters, digits, _)", tok);
            break;
        }
        for (int i = 0; i < c->n_enable; i++)
            if (strcmp(c->enable[i], tok) == 0) {
                fail(st, line, "[plugins] enable: '%s' listed twice", tok);
                goto out;
            }
        c->enable = realloc(c->enable, sizeof(char *) * (size_t)(c->n_enable + 1));
        c->enable[c->n_enable++] = strdup(tok);
    }
out:
    free(copy);
}

static void record_entry(config *c, const char *section, const char *key, const char *value, int line)
{
    for (size_t i = 0; i < c->n_entries; i++) {
        config_entry *e = &c->entries[i];
        if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0) {
            set_str(&e->value, value);
            e->line = line;
            return;
        }
    }
    c->entries = realloc(c->entries, sizeof *c->entries * (c->n_entries + 1));
    config_entry *e = &c->entries[c->n_entries++];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = line;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    parse_state *st = user;
    int line = st->reader.line;
    if (st->failed)
        return 1;
    if (key == NULL)
        return 1; /* a section header alone */
    record_entry(st->c, section, key, value, line);
    if (strcmp(section, "gateway") == 0)
        gateway_key(st, line, section, key, value);
    else if (strcmp(section, "http") == 0)
        http_key(st, line, section, key, value); else if (strcmp(section, "mysql.master") == 0)
        db_key(st, line, section, &st->c->mysql_master, key, value);
    else if (strcmp(section, "mysql.replica") == 0)
        db_key(st, line, section, &st->c->mysql_replica, key, value);
    else if (strcmp(section, "redis") == 0)
        redis_key(st, line, section, key, value);
    else if (strcmp(section, "cluster") == 0)
        cluster_key(st, line, section, key, value);
    else if (strcmp(section, "plugins") == 0) {
        if (strcmp(key, "dir") == 0)
            set_str(&st->c->plugin_dir, value);
        else if (strcmp(key, "enable") == 0)
            parse_enable(st, line, value);
        else
            fail(st, line, "unknown key '%s' in [plugins]", key);
    } else if (strncmp(section, "plugin.", 7) == 0) {
        if (!valid_plugin_name(section + 7))
            fail(st, line, "[%s]: '%s' is not a plugin name", section, section + 7);
    } else if (section[0] == '\0')
        fail(st, line, "key '%s' outside any section", key);
    else
        fail(st, line, "unknown section [%s]", section);
    return 1;
}

static void set_defaults(config *c)
{
    c->listen_host = strdup("0.0.0.0");
    c->listen_port = 8000;
    c->node = strdup("imgate");
    c->public_ip = strdup("127.0.0.1");
    c->max_connections = 10000;
    c->log_level = LOG_INFO;
    c->max_frame_prelogin = 16 * 1024;
    c->max_frame = 1024 * 1024;
    c->max_output = 8 * 1024 * 1024;
    c->max_output_prelogin = 64 * 1024;
    c->max_output_total = 256 * 1024 * 1024;
    c->login_timeout_ms = 15000;
    c->idle_timeout_pc_ms = 120000;
    c->idle_timeout_mobile_ms = 300000;
    c->msg_rate_per_second = 20;
    c->kick_linger_ms = 600000;
    c->max_inflight_per_conn = 64;
    c->max_inflight = 20000;
    c->write_batch_max = 256;
    c->workers = 0; /* 0 = from [mysql.master] pool_size, else 4 */
    c->worker_queue_max = 100000;
    c->job_timeout_ms = 5000;
    c->reload_drain_ms = 60000;
    c->shutdown_grace_ms = 10000;
    c->msfs_url = strdup("");
    c->discovery_url = strdup("");
    c->http_max_connections = 64;
    c->http_timeout_ms = 10000;
    c->redis_port = 6379;
    c->redis_timeout_ms = 3000;
    c->cluster_enabled = 1;
    c->node_ttl_ms = 5000;
    c->node_refresh_ms = 1000;
    c->mysql_master.port = 3306;
    c->mysql_master.pool_size = 4;
    c->mysql_master.connect_timeout_s = c->mysql_replica.connect_timeout_s = 3;
    c->mysql_master.read_timeout_s = c->mysql_replica.read_timeout_s = 5;
    c->mysql_replica.port = 3306;
    c->mysql_replica.pool_size = 4;
}

config *config_load(const char *path, char *err, size_t errlen)
{
    config *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "%s:0: out of memory", path);
        return NULL;
    }
    c->path = strdup(path);
    set_defaults(c);
    parse_state st = {{NULL, 0}, c, err, errlen, 0};
    FILE *f = fopen(path, "r");
    st.reader.f = f;
    if (f == NULL) {
        snprintf(err, errlen, "%s:0: cannot open: %s", path, strerror(errno));
        config_free(c);
        return NULL;
    }
    int rc = ini_parse_stream(read_line, &st.reader, on_entry, &st);
    fclose(f);
    if (rc > 0 && !st.failed)
        fail(&st, rc, "syntax error (expected [section] or key = value)");
    else if (rc < 0 && !st.failed)
        fail(&st, 0, "cannot read file");
    if (!st.failed && c->backup_ip == NULL)
        c->backup_ip = strdup(c->public_ip);
    if (!st.failed && c->public_port == 0)
        c->public_port = c->listen_port;
    if (!st.failed && c->workers == 0)
        c->workers = c->mysql_master.configured ? c->mysql_master.pool_size : 4;
    if (!st.failed && c->n_enable > 0 && c->plugin_dir == NULL)
        fail(&st, 0, "[plugins] enable is set but [plugins] dir is missing");
    if (!st.failed && c->node_refresh_ms >= c->node_ttl_ms)
        fail(&st, 0, "[cluster] refresh_ms (%u) must be below node_ttl_ms (%u)", c->node_refresh_ms, c->node_ttl_ms);
    if (!st.failed && c->redis_configured && c->redis_socket == NULL && c->redis_host == NULL)
        c->redis_host = strdup("127.0.0.1");
    if (st.failed) {
        config_free(c);
        return NULL;
    }
    return c;
}

static void db_free(config_db *db)
{
    free(db->host);
    free(db->socket);
    free(db->user);
    free(db->password);
    free(db->database);
}

void config_free(config *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->listen_host);
    free(c->node);
    free(c->public_ip);
    free(c->backup_ip);
    free(c->pid_file);
    free(c->log_file);
    free(c->msfs_url);
    free(c->discovery_url);
    free(c->http_host);
    db_free(&c->mysql_master);
    db_free(&c->mysql_replica);
    free(c->redis_host);
    free(c->redis_socket);
    free(c->plugin_dir);
    for (int i = 0; i < c->n_enable; i++)
        free(c->enable[i]);
    free(c->enable);
    for (size_t i = 0; i < c->n_entries; i++) {
        free(c->entries[i].section);
        free(c->entries[i].key);
        free(c->entries[i].value);
    }
    free(c->entries);
    free(c);
}

const char *config_lookup(const config *c, const char *section, const char *key)
{
    for (size_t i = 0; i < c->n_entries; i++)
        if (strcmp(c->entries[i].section, section) == 0 && strcmp(c->entries[i].key, key) == 0)
            return c->entries[i].value;
    return NULL;
}
