/*
 * harness.h — what a C integration test needs around it: a private directory,
 * a private MariaDB and Redis (t/lib/services.sh), and any number of imgated
 * nodes, all torn down when the test ends, however it ends.
 *
 * Typical use:
 *
 *     harness *h = harness_start("login_basic");
 *     if (!h) tap_bail("harness");
 *     int n0 = harness_node_start(h, "login,buddy", NULL);
 *     imgate_client *c = harness_connect(h, n0);
 *     ...
 *     harness_stop(h);            // optional: also runs at exit and on fatal signals
 *
 * Needs `top_builddir` and `top_srcdir` in the environment (make check exports
 * them). Set IMGATE_KEEP_TMP=1 to keep $top_builddir/t/tmp/<test>-<pid>/ for
 * a post-mortem. Diagnostics are printed as TAP comments ("# ...").
 *
 * Not thread-safe: call it from the test's main thread.
 */
#ifndef IMGATE_HARNESS_H
#define IMGATE_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imgate_client.h"

/* How many imgated nodes one harness can run. */
#define HARNESS_MAX_NODES 16

typedef struct harness harness;

/*
 * Creates $top_builddir/t/tmp/<test_name>-<pid>/, starts MariaDB and Redis in
 * its services/ subdirectory and reads services.env. NULL on failure (with
 * diagnostics). Cleanup is registered with atexit() and for SIGINT, SIGTERM,
 * SIGABRT and SIGSEGV.
 */
harness *harness_start(const char *test_name);

/*
 * Tears everything down: every node (SIGTERM, then SIGKILL after a grace
 * period), the services, and the private directory (unless IMGATE_KEEP_TMP is
 * set). Idempotent; `h` stays valid (accessors keep working) until exit.
 */
void harness_stop(harness *h);

/*
 * Starts one imgated node with the comma-separated plugins copied into its own
 * plugin directory, and `extra_ini` (may be NULL) appended to its generated
 * ini. Returns once GET /health answers 200: the node's index (0, 1, ...), or
 * -1 (its log tails printed as diagnostics).
 */
int harness_node_start(harness *h, const char *plugins_enable, const char *extra_ini);

uint16_t harness_node_port(const harness *h, int i);      /* PDU port on 127.0.0.1 */
uint16_t harness_node_http_port(const harness *h, int i); /* HTTP port on 127.0.0.1 */
pid_t harness_node_pid(const harness *h, int i);
/* DIR/node<i>: holds imgated.ini, plugins/, imgated.log, stderr.log, imgated.pid. */
const char *harness_node_dir(const harness *h, int i);
const char *harness_dir(const harness *h);
/* A value from services.env (MYSQL_SOCKET, MYSQL_USER, ..., REDIS_SOCKET), or NULL. */
const char *harness_services_env(const harness *h, const char *key);

/* kill(2) on a node still running; 0 or -1. */
int harness_node_signal(harness *h, int i, int sig);

/*
 * Waits up to timeout_ms for the node to exit. Returns 0 once it has, with
 * *exit_status (may be NULL) = its exit code, or 128 + signal number when a
 * signal killed it; -1 on timeout or bad index.
 */
int harness_node_wait_exit(harness *h, int i, int timeout_ms, int *exit_status);

/*
 * Installs the built plugin `built` (plugins/<built>/.libs/<built>.so, or a
 * test-only t/plugins/.libs/<built>.so) into node i's plugin directory as
 * `as`.so, atomically (write + rename), e.g. before SIGHUP. 0 or -1.
 */
int harness_node_install_plugin(harness *h, int i, const char *built, const char *as);

/* Replaces the node's imgated.ini atomically (write + rename), e.g. before SIGHUP. */
int harness_node_rewrite_ini(harness *h, int i, const char *full_text);

/* 1 when imgated.log or stderr.log of the node contains `needle`, else 0. */
int harness_node_log_contains(harness *h, int i, const char *needle);

/* A client connected to node i's PDU port (5 s timeout); NULL on failure. */
imgate_client *harness_connect(harness *h, int i);

/* kill(2) on the private "mysql" or "redis" server (SIGSTOP to make it hang, SIGCONT). 0 or -1. */
int harness_service_signal(harness *h, const char *which, int sig);

/* services.sh stop-mysql / start-mysql, stop-redis / start-redis: 0 on success. Redis comes back
 * empty (it keeps nothing on disk). */
int harness_mysql_stop(harness *h);
int harness_mysql_start(harness *h);
int harness_redis_stop(harness *h);
int harness_redis_start(harness *h);

/*
 * Runs one SQL statement with `mariadb -N -B -e` on the private server.
 * The first outlen-1 bytes of its output (trailing newlines removed) go to
 * `out` if non-NULL. Returns the client's exit status (0 = success).
 */
int harness_sql(harness *h, const char *sql, char *out, size_t outlen);

/*
 * Runs `redis-cli -s SOCKET <args>` where args is split on spaces. Output as
 * for harness_sql. Returns redis-cli's exit status.
 */
int harness_redis(harness *h, const char *args, char *out, size_t outlen);

#endif
