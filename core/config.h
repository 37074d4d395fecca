/*
 * config.h — imgated.ini, parsed with inih and validated as a whole.
 *
 * A config is immutable once loaded; reload builds a new one and swaps it in
 * with the plugin generation that uses it. Repeated sections merge (a later
 * key wins). Errors are reported as "FILE:LINE: reason".
 */
#ifndef IMGATE_CONFIG_H
#define IMGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct config_db {
    int configured; /* 1 if the section appeared */
    char *host;
    unsigned port;
    char *socket;
    char *user;
    char *password;
    char *database;
    int pool_size;
    unsigned connect_timeout_s;
    unsigned read_timeout_s;   /* a query unanswered this long fails (the link is dropped) */
} config_db;

typedef struct config_entry {
    char *section;
    char *key;
    char *value;
    int line;
} config_entry;

typedef struct config {
    char *path;

    /* [gateway] */
    char *listen_host;
    unsigned listen_port;
    char *node;
    char *public_ip;
    char *backup_ip;
    unsigned public_port;       /* port advertised by /msg_server; defaults to listen_port */
    int max_connections;
    char *pid_file;
    int log_level;
    char *log_file;
    uint32_t max_frame_prelogin; /* bytes, header included */
    uint32_t max_frame;
    size_t max_output;           /* queued output per logged-in connection before it is dropped */
    size_t max_output_prelogin;  /* ... per connection that has not logged in (or was kicked) */
    size_t max_output_total;     /* queued output of the whole node: past it, big queues are cut */
    uint32_t login_timeout_ms;
    uint32_t idle_timeout_pc_ms;
    uint32_t idle_timeout_mobile_ms;
    uint32_t msg_rate_per_second; /* rate-limited requests (CID_MSG_DATA) per connection per second */
    uint32_t kick_linger_ms;      /* a kicked connection is closed after this, unless the client goes first */
    int max_inflight_per_conn;    /* tracked requests in flight per connection before reading stops */
    int max_inflight;             /* ... and on the whole node */
    int write_batch_max;          /* batched writes per transaction */
    int workers;
    int worker_queue_max;
    uint32_t job_timeout_ms;     /* a job still queued after this completes as "unavailable" */
    uint32_t reload_drain_ms;    /* how long an old generation may stay busy before it is leaked */
    uint32_t shutdown_grace_ms;
    char *msfs_url;
    char *discovery_url;

    /* [http] */
    char *http_host;
    unsigned http_port;          /* 0 = no HTTP listener */
    int http_max_connections;    /* open HTTP connections at most (the oldest idle one makes room) */
    uint32_t http_timeout_ms;    /* an HTTP connection's whole life, at most */

    config_db mysql_master;
    config_db mysql_replica;

    /* [redis] */
    int redis_configured;
    char *redis_host;
    unsigned redis_port;
    char *redis_socket;
    int redis_db;
    uint32_t redis_timeout_ms;   /* a command unanswered this long fails (NULL reply) and the link is reset */

    /* [cluster] */
    int cluster_enabled;         /* nodes sharing the Redis form one service */
    uint32_t node_ttl_ms;        /* a node that stops refreshing is gone after this */
    uint32_t node_refresh_ms;    /* how often a node refreshes its entry and reads the others' */

    /* [plugins] */
    char *plugin_dir;
    char **enable;
    int n_enable;

    /* every key=value, for [plugin.NAME] look-ups */
    config_entry *entries;
    size_t n_entries;
} config;

/* Loads and validates `path`. Returns the config, or NULL with "FILE:LINE: reason" in err. */
config *config_load(const char *path, char *err, size_t errlen);
void config_free(config *c);
/* The value of `key` in section `section`, or NULL. */
const char *config_lookup(const config *c, const char *section, const char *key);

/* Parses "host:port" (host may be empty or "*" = any). Returns 0 or -1. */
int config_parse_hostport(const char *s, char **host, unsigned *port);

#endif
