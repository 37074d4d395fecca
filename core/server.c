/*
 * server.c — start-up, the one-second tick, signals, reload and shutdown.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "core_api.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pdu_metrics.h"
#include "plugin_loader.h"
#include "plugin_timer.h"
#include "server_run.h"
#include "session.h"

server g_server;

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Settings bound at start-up; a reload keeps the running ones and says so. */
static void warn_restart_only(const config *boot, const config *next)
{
    if (!same_str(boot->listen_host, next->listen_host) || boot->listen_port != next->listen_port)
        log_warn("event=reload_ignored key=gateway.listen reason=\"needs a restart\"");
    if (!same_str(boot->http_host, next->http_host) || boot->http_port != next->http_port)
        log_warn("event=reload_ignored key=http.listen reason=\"needs a restart\"");
    if (!same_str(boot->mysql_master.socket, next->mysql_master.socket) ||
        !same_str(boot->mysql_master.host, next->mysql_master.host) ||
        boot->mysql_master.port != next->mysql_master.port || boot->workers != next->workers)
        log_warn("event=reload_ignored key=mysql reason=\"needs a restart\"");
    if (!same_str(boot->redis_socket, next->redis_socket) || !same_str(boot->redis_host, next->redis_host) ||
        boot->redis_port != next->redis_port)
        log_warn("event=reload_ignored key=redis reason=\"needs a restart\"");
}

int server_reload(void)
{
    uint64_t number = ++g_server.next_generation;
    char err[1024];
    log_info("reload gen=%llu status=start", (unsigned long long)number);
    metrics_add("imgate_reloads_total", "", 1);
    config *cfg = config_load(g_server.config_path, err, sizeof err);
    generation *g = NULL;
    if (cfg != NULL) {
        warn_restart_only(g_server.boot_cfg, cfg);
        g = generation_build(cfg, number, g_server.plugin_copy_dir, core_api(), err, sizeof err);
    }
    if (g == NULL) {
        metrics_add("imgate_reload_failures_total", "", 1);
        log_error("reload gen=%llu status=failed reason=\"%s\" kept_gen=%llu", (unsigned long long)number, err,
                  (unsigned long long)g_server.current->number);
        return -1;
    }
    generation *old = g_server.current;
    g_server.current = g;
    log_set_level(g->cfg->log_level);
    if (g->cfg->log_file && log_open(g->cfg->log_file, g->cfg->log_level) != 0)
        log_warn("event=log_reopen_failed path=%s error=\"%s\"", g->cfg->log_file, strerror(errno));
    generation_retire(old, g_server.base, g->cfg->reload_drain_ms);
    log_info("reload gen=%llu status=done plugins=%d handlers=%zu", (unsigned long long)number, g->n_inst,
             g->handlers.len);
    return 0;
}

static void read_fd_limit(void);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    read_fd_limit(); /* an operator may change it under a running node (prlimit) */
    conn_tick();
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
    if (!g_server.shutting_down)
        server_reload();
}

static void finish_shutdown(void)
{
    event_free(g_server.shutdown_poll);
    g_server.shutdown_poll = NULL;
    conn_close_all("shutdown");
    worker_pool_stop(g_server.workers); /* runs the last completions */
    g_server.workers = NULL;
    redis_link_stop(g_server.redis);     /* pending Redis callbacks get NULL */
    g_server.redis = NULL;
    log_info("event=shutdown status=done");
    event_base_loopexit(g_server.base, NULL);
}

static void on_shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
    int busy = g_server.workers ? worker_pool_in_flight(g_server.workers) : 0;
    if (busy == 0 || now_ms() - g_server.shutdown_started_ms >= server_cfg()->shutdown_grace_ms) {
        if (busy)
            log_warn("event=shutdown_grace_expired jobs_in_flight=%d", busy);
        finish_shutdown();
    }
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
    if (g_server.shutting_down)
        return;
    g_server.shutting_down = 1;
    log_info("event=shutdown status=start signal=%d", (int)fd);
    cluster_stop(); /* leave the registry now: other nodes stop sending clients and messages here */
    /* Stop taking new connections and requests; let queued work finish. */
    if (g_server.listener)
        evconnlistener_disable(g_server.listener);
    g_server.shutdown_started_ms = now_ms();
    g_server.shutdown_poll = event_new(g_server.base, -1, EV_PERSIST, on_shutdown_poll, NULL);
    struct timeval tv = {0, 50 * 1000};
    event_add(g_server.shutdown_poll, &tv);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int socklen, void *arg)
{
    conn_accept(fd, addr, socklen);
}

/* Descriptors kept for what is not a connection: listeners, the event loop's own, each
 * worker's two MySQL links, Redis, the log, plugin files, a margin. */
static long reserved_descriptors(const config *cfg) { return 64 + 2L * cfg->workers; }

int server_client_fits(void)
{
    long used = (long)conn_count() + http_count(g_server.http);
    long room = g_server.fd_limit - reserved_descriptors(server_cfg()) - server_cfg()->http_max_connections;
    return g_server.fd_limit <= 0 || used < room;
}

static void read_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        g_server.fd_limit = rl.rlim_cur == RLIM_INFINITY ? 0 : (long)rl.rlim_cur;
}

static void set_accepting(int on)
{
    struct evconnlistener *ls[] = {g_server.listener, http_listener(g_server.http)};
    for (size_t i = 0; i < 2; i++)
        if (ls[i])
            (on ? evconnlistener_enable : evconnlistener_disable)(ls[i]);
}

static void resume_accepting(void)
{
    if (!g_server.accept_paused || g_server.shutting_down)
        return;
    g_server.accept_paused = 0;
    set_accepting(1);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg) { resume_accepting(); }

void server_descriptor_freed(void) { resume_accepting(); }

void server_accept_failed(struct evconnlistener *l, const char *which)
{
    int err = EVUTIL_SOCKET_ERROR();
    metrics_add("imgate_accept_errors_total", "", 1);
    g_server.accept_errors++;
    /* A listener left enabled would be woken again at once by the same pending connection:
     * the loop would spin and log without end. Pause both until a descriptor frees. */
    if (!g_server.accept_paused) {
        g_server.accept_paused = 1;
        set_accepting(0);
        struct timeval tv = {0, 200 * 1000};
        if (g_server.accept_resume)
            evtimer_add(g_server.accept_resume, &tv);
    }
    uint64_t now = now_ms();
    if (now - g_server.accept_logged_ms >= 1000) {
        log_error("event=accept_failed listener=%s error=\"%s\" failures=%llu action=paused", which,
                  evutil_socket_error_to_string(err), (unsigned long long)g_server.accept_errors);
        g_server.accept_logged_ms = now;
        g_server.accept_errors = 0;
    }
}

static void on_accept_error(struct evconnlistener *l, void *arg) { server_accept_failed(l, "clients"); }

struct evconnlistener *server_listen(const char *host, unsigned port,
                                     void (*cb)(struct evconnlistener *, int, struct sockaddr *, int, void *),
                                     void *arg)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char spec[300];
    if (host == NULL || *host == '\0')
        host = "0.0.0.0";
    snprintf(spec, sizeof spec, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    memset(&ss, 0, sizeof ss);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0) {
        log_error("event=listen_failed listen=%s reason=\"not a numeric address\"", spec);
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        g_server.base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        (struct sockaddr *)&ss, sslen);
    if (l == NULL)
        log_error("event=listen_failed listen=%s error=\"%s\"", spec, strerror(errno));
    return l;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

/*
 * Every client costs a descriptor: raise the soft limit to what
 * max_connections needs (plus room for listeners, database and Redis links,
 * plugin files), up to the hard limit, and say so when that is not enough.
 */
static void raise_fd_limit(const config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->max_connections + (rlim_t)cfg->http_max_connections + (rlim_t)reserved_descriptors(cfg);
    if (rl.rlim_cur >= want)
        return;
    rlim_t target = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("event=fd_limit_failed error=\"%s\"", strerror(errno));
    else
        log_info("event=fd_limit soft=%llu", (unsigned long long)target);
    if (target < want)
        log_warn("event=fd_limit_too_low max_connections=%d hard_limit=%llu reason=\"max_connections cannot be reached\"",
                 cfg->max_connections, (unsigned long long)rl.rlim_max);
}

static void cleanup(void)
{
    cluster_stop();
    if (g_server.current) {
        generation *g = g_server.current;
        g_server.current = NULL;
        generation_retire(g, NULL, 0);
    }
    http_stop(g_server.http);
    g_server.http = NULL;
    if (g_server.listener)
        evconnlistener_free(g_server.listener);
    struct event *evs[] = {g_server.tick, g_server.sig_hup, g_server.sig_term, g_server.sig_int, g_server.accept_resume};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (g_server.boot_cfg && g_server.boot_cfg->pid_file)
        unlink(g_server.boot_cfg->pid_file);
    if (g_server.plugin_copy_dir) {
        plugin_copy_dir_remove(g_server.plugin_copy_dir);
        free(g_server.plugin_copy_dir);
    }
    config_free(g_server.boot_cfg);
    session_shutdown();
    pdu_metrics_free();
    if (g_server.base)
        event_base_free(g_server.base);
    metrics_shutdown();
    log_close();
}

int server_run(const char *config_path)
{
    char err[1024];
    config *cfg = config_load(config_path, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (log_open(cfg->log_file, cfg->log_level) != 0) {
        fprintf(stderr, "imgated: cannot open log file %s: %s\n", cfg->log_file, strerror(errno));
        config_free(cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    g_server.config_path = strdup(config_path);
    g_server.base = event_base_new();
    plugin_timers_set_base(g_server.base);
    /* A second parse kept for the settings that only start-up applies. */
    g_server.boot_cfg = config_load(config_path, err, sizeof err);
    int stale = plugin_copy_dirs_clean();
    if (stale > 0)
        log_info("event=stale_plugin_dirs_removed count=%d", stale);
    g_server.plugin_copy_dir = plugin_copy_dir_create();
    if (g_server.base == NULL || g_server.boot_cfg == NULL || g_server.plugin_copy_dir == NULL) {
        log_error("event=start_failed reason=\"cannot set up the event loop or the plugin copy directory\"");
        config_free(cfg);
        cleanup();
        return 1;
    }
    const config *boot = g_server.boot_cfg;
    raise_fd_limit(boot);
    g_server.db.pool[0] = boot->mysql_master.configured ? &boot->mysql_master : NULL;
    g_server.db.pool[1] = boot->mysql_replica.configured ? &boot->mysql_replica : g_server.db.pool[0];
    g_server.workers = worker_pool_start(g_server.base, boot->workers, boot->worker_queue_max, boot->write_batch_max,
                                          boot->job_timeout_ms, &g_server.db);
    if (boot->redis_configured)
        g_server.redis = redis_link_start(g_server.base, boot->redis_host, boot->redis_port, boot->redis_socket,
                                          boot->redis_db, boot->redis_timeout_ms);
    cluster_start(g_server.base, boot);

    g_server.next_generation = 1;
    log_info("reload gen=1 status=start");
    g_server.current = generation_build(cfg, 1, g_server.plugin_copy_dir, core_api(), err, sizeof err);
    if (g_server.current == NULL) {
        log_error("reload gen=1 status=failed reason=\"%s\"", err);
        fprintf(stderr, "imgated: %s\n", err);
        worker_pool_stop(g_server.workers);
        redis_link_stop(g_server.redis);
        cleanup();
        return 1;
    }
    log_info("reload gen=1 status=done plugins=%d handlers=%zu", g_server.current->n_inst,
             g_server.current->handlers.len);

    g_server.listener = server_listen(boot->listen_host, boot->listen_port, on_accept, NULL);
    if (g_server.listener)
        evconnlistener_set_error_cb(g_server.listener, on_accept_error);
    g_server.accept_resume = evtimer_new(g_server.base, on_accept_resume, NULL);
    read_fd_limit();
    if (boot->http_port)
        g_server.http = http_start(g_server.base, boot->http_host, boot->http_port);
    if (g_server.listener == NULL || (boot->http_port && g_server.http == NULL)) {
        fprintf(stderr, "imgated: cannot listen (see the log)\n");
        worker_pool_stop(g_server.workers);
        redis_link_stop(g_server.redis);
        cleanup();
        return 1;
    }
    if (boot->pid_file && write_pid_file(boot->pid_file) != 0)
        log_warn("event=pid_file_failed path=%s error=\"%s\"", boot->pid_file, strerror(errno));

    g_server.tick = event_new(g_server.base, -1, EV_PERSIST, on_tick, NULL);
    g_server.sig_hup = evsignal_new(g_server.base, SIGHUP, on_sighup, NULL);
    g_server.sig_term = evsignal_new(g_server.base, SIGTERM, on_sigterm, NULL);
    g_server.sig_int = evsignal_new(g_server.base, SIGINT, on_sigterm, NULL);
    struct timeval second = {1, 0};
    event_add(g_server.tick, &second);
    event_add(g_server.sig_hup, NULL);
    event_add(g_server.sig_term, NULL);
    event_add(g_server.sig_int, NULL);
    metrics_set("imgate_connections", "", 0);
    metrics_add("imgate_reloads_total", "", 0);
    metrics_add("imgate_reload_failures_total", "", 0);
    log_info("event=started node=%s listen=%s:%u http=%s:%u workers=%d pid=%ld", boot->node, boot->listen_host,
             boot->listen_port, boot->http_host ? boot->http_host : "", boot->http_port, boot->workers,
             (long)getpid());

    event_base_dispatch(g_server.base);
    int code = g_server.exit_code;
    cleanup();
    return code;
}
