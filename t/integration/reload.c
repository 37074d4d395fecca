/*
 * reload.c — SIGHUP hot reload and SIGTERM, seen from clients:
 * a rebuilt plugin is swapped in while 100 connections stay open; a plugin
 * whose init fails, one with a wrong ABI and a broken ini each leave the
 * running generation untouched; removing a plugin from `enable` stops its
 * commands without dropping anyone; SIGTERM finishes in-flight work and
 * exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"

#define N_CONNS 100
#define GREETING_V1 "hello from the example plugin"
#define GREETING_V2 "hello from the rebuilt example plugin"

static harness *h;
static imgate_client *conns[N_CONNS];
static char *good_ini;

static void install_plugin(const char *built)
{
    if (harness_node_install_plugin(h, 0, built, "example") != 0)
        tap_bail("cannot install %s", built);
}

static void install_original(void) { install_plugin("example"); }

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Sends SIGHUP and waits for the outcome line of generation `gen`. */
static int reload(int gen, const char *status)
{
    char needle[64];
    snprintf(needle, sizeof needle, "reload gen=%d status=%s", gen, status);
    harness_node_signal(h, 0, SIGHUP);
    return wait_log(h, 0, needle, 10000);
}

/* How many of the long-lived connections get `want` from the example command. */
static int count_greeting(const char *want)
{
    int n = 0;
    for (int i = 0; i < N_CONNS; i++) {
        char *g = example_greeting(conns[i], NULL);
        if (g && strcmp(g, want) == 0)
            n++;
        free(g);
    }
    return n;
}

static int count_alive(void)
{
    int n = 0;
    for (int i = 0; i < N_CONNS; i++)
        n += heartbeat_ok(conns[i]);
    return n;
}

int main(void)
{
    h = harness_start("reload");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    /* These connections never log in: keep the login deadline out of the way. */
    if (harness_node_start(h, "example", "[gateway]\nlogin_timeout_ms = 3600000\n[plugin.example]\nversion = 1\n") != 0)
        tap_bail("imgated did not start");
    char ini_path[4096];
    snprintf(ini_path, sizeof ini_path, "%s/imgated.ini", harness_node_dir(h, 0));
    good_ini = read_text(ini_path);
    if (good_ini == NULL)
        tap_bail("cannot read %s", ini_path);

    for (int i = 0; i < N_CONNS; i++)
        if ((conns[i] = harness_connect(h, 0)) == NULL)
            tap_bail("connection %d failed", i);
    tap_is_int(count_greeting(GREETING_V1), N_CONNS, "100 connections get the original plugin's reply");

    install_plugin("example_v2");
    tap_ok(reload(2, "done"), "SIGHUP with a rebuilt plugin: generation 2 done");
    tap_is_int(count_greeting(GREETING_V2), N_CONNS, "all 100 connections, still open, now get the rebuilt reply");
    tap_ok(wait_log(h, 0, "event=generation_freed gen=1", 5000), "generation 1 was finalised and unloaded");

    install_plugin("example_failinit");
    tap_ok(reload(3, "failed"), "SIGHUP with a plugin whose init fails: generation 3 failed");
    tap_ok(harness_node_log_contains(h, 0, "init failed"), "the log says why");
    tap_is_int(count_greeting(GREETING_V2), N_CONNS, "the running generation keeps answering");

    install_plugin("example_badabi");
    tap_ok(reload(4, "failed"), "SIGHUP with a plugin of another ABI major: generation 4 failed");
    tap_ok(harness_node_log_contains(h, 0, "ABI major"), "the log names the ABI mismatch");
    tap_is_int(count_greeting(GREETING_V2), N_CONNS, "the running generation keeps answering");

    install_original();
    char broken[70000];
    snprintf(broken, sizeof broken, "%s\n[gateway]\nthis is not ini\n", good_ini);
    harness_node_rewrite_ini(h, 0, broken);
    tap_ok(reload(5, "failed"), "SIGHUP with a broken ini: generation 5 failed");
    tap_ok(harness_node_log_contains(h, 0, "imgated.ini:"), "the log gives file and line");
    tap_is_int(count_greeting(GREETING_V2), N_CONNS, "the running generation keeps answering");

    harness_node_rewrite_ini(h, 0, good_ini);
    tap_ok(reload(6, "done"), "SIGHUP with the original plugin and a good ini: generation 6 done");
    tap_is_int(count_greeting(GREETING_V1), N_CONNS, "the original reply is back on every connection");

    /* Two plugins claiming one (service, command): refused even though the
     * second plugin's init ignores the refusal and returns 0. */
    if (harness_node_install_plugin(h, 0, "testkit", "testkit") != 0)
        tap_bail("cannot install testkit");
    char *dup_ini = strdup(good_ini);
    char *en_line = strstr(dup_ini, "enable=example");
    if (en_line == NULL)
        tap_bail("no enable=example line in the ini");
    char both[70000];
    snprintf(both, sizeof both, "%.*senable=example,testkit%s", (int)(en_line - dup_ini), dup_ini,
             en_line + strlen("enable=example"));
    free(dup_ini);
    harness_node_rewrite_ini(h, 0, both);
    tap_ok(reload(7, "failed"), "SIGHUP enabling a plugin that duplicates a (service, command): generation 7 failed");
    tap_ok(harness_node_log_contains(h, 0, "another plugin already has"), "the log names the duplicate");
    tap_is_int(count_greeting(GREETING_V1), N_CONNS, "the running generation keeps answering");
    harness_node_rewrite_ini(h, 0, good_ini);

    /* A job in flight across a reload completes with the code it started in. */
    Imgate__Example__ExampleStatsReq sreq = IMGATE__EXAMPLE__EXAMPLE_STATS_REQ__INIT;
    uint16_t seq;
    imgate_client_send_msg(conns[0], EXAMPLE_SERVICE, EXAMPLE_CMD_STATS_REQ, &sreq.base, &seq);
    harness_node_signal(h, 0, SIGHUP);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(conns[0], EXAMPLE_CMD_STATS_RSP, seq, &pdu, 5000), IMGATE_CLIENT_OK,
               "a worker job started before a reload still answers");
    imgate_client_pdu_free(&pdu);
    tap_ok(wait_log(h, 0, "reload gen=8 status=done", 5000), "generation 8 done");

    /* Take the plugin out of `enable`. */
    char *no_example = strdup(good_ini);
    char *en = strstr(no_example, "enable=");
    if (en == NULL)
        en = strstr(no_example, "enable =");
    if (en == NULL)
        tap_bail("no enable line in the ini");
    char *eol = strchr(en, '\n');
    memset(en, ' ', (size_t)(eol - en));
    memcpy(en, "enable=", 7);
    harness_node_rewrite_ini(h, 0, no_example);
    free(no_example);
    tap_ok(reload(9, "done"), "SIGHUP with the plugin removed from enable: generation 9 done");
    tap_is_int(count_alive(), N_CONNS, "all 100 connections are still open and answered");
    imgate_client *fresh = harness_connect(h, 0);
    tap_ok(example_greeting(fresh, NULL) == NULL, "the removed plugin's command is no longer served");
    imgate_client_close(fresh);

    int status;
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_reloads_total 8"), "/metrics counts 8 reloads");
    tap_ok(m && strstr(m, "imgate_reload_failures_total 4"), "/metrics counts 4 failed reloads");
    free(m);

    /* SIGTERM: stop accepting, finish, exit 0, remove the pid file. */
    char pid_file[4096];
    snprintf(pid_file, sizeof pid_file, "%s/imgated.pid", harness_node_dir(h, 0));
    tap_ok(access(pid_file, F_OK) == 0, "pid file written");
    harness_node_signal(h, 0, SIGTERM);
    int exit_status = -1;
    tap_is_int(harness_node_wait_exit(h, 0, 15000, &exit_status), 0, "SIGTERM: imgated exits");
    tap_is_int(exit_status, 0, "with status 0");
    tap_ok(access(pid_file, F_OK) != 0, "pid file removed");
    tap_ok(harness_node_log_contains(h, 0, "event=shutdown status=done"), "shutdown logged");
    tap_is_int(imgate_client_wait_closed(conns[1], 3000), IMGATE_CLIENT_CLOSED, "clients see the close");

    for (int i = 0; i < N_CONNS; i++)
        imgate_client_close(conns[i]);
    free(good_ini);
    harness_stop(h);
    return tap_done();
}
