/*
 * harness.c — process management for C integration tests: the private
 * directory, services.sh (MariaDB + Redis), imgated nodes, and a teardown that
 * runs however the test ends (return, exit, bail out, fatal signal).
 *
 * The teardown path (harness_cleanup) sticks to async-signal-safe calls —
 * kill, waitpid, nanosleep, fork, exec, open, write — with every path and
 * argument prepared in advance, because it also runs from signal handlers.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "harness_proc.h"
#include "imgate_http.h"

#define NODE_START_TIMEOUT_MS 10000
#define NODE_STOP_GRACE_MS 5000
#define SERVICES_START_TIMEOUT_MS 180000
#define SERVICES_STOP_TIMEOUT_MS 60000
#define CONNECT_TIMEOUT_MS 5000
#define LOG_TAIL_LINES 40
#define MAX_ENV_ENTRIES 64
#define MAX_REDIS_WORDS 64

typedef struct {
    pid_t pid;
    int running; /* forked and not yet reaped */
    int exit_status;
    uint16_t port;
    uint16_t http_port;
    char dir[PATH_MAX];
    char ini[PATH_MAX];
    char log[PATH_MAX];
    char stderr_log[PATH_MAX];
} harness_node;

struct harness {
    struct harness *next; /* every harness of this process, for atexit and signals */
    pid_t owner;          /* only the process that started it tears it down */
    volatile sig_atomic_t stopped;

    char top_builddir[PATH_MAX];
    char top_srcdir[PATH_MAX];
    char dir[PATH_MAX];
    char services_dir[PATH_MAX];
    char services_sh[PATH_MAX];
    char services_log[PATH_MAX];
    int services_started;

    int env_count;
    char *env_keys[MAX_ENV_ENTRIES];
    char *env_values[MAX_ENV_ENTRIES];

    int node_count;
    harness_node nodes[HARNESS_MAX_NODES];
    int keep_dir; /* a sanitizer reported something: keep the logs */
};

static harness *all_harnesses;

/* ---- small utilities ------------------------------------------------------------ */

/* Async-signal-safe diagnostic: writes "# " + the pieces + "\n" to stdout. */
static void diag_safe(const char *a, const char *b)
{
    (void)!write(STDOUT_FILENO, "# harness: ", 11);
    (void)!write(STDOUT_FILENO, a, strlen(a));
    if (b)
        (void)!write(STDOUT_FILENO, b, strlen(b));
    (void)!write(STDOUT_FILENO, "\n", 1);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    printf("# harness: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* snprintf that reports truncation, so an over-long path fails instead of being cut. */
static int format_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int format_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        diag("path too long: %s...", out);
        return -1;
    }
    return 0;
}

static int valid_node(const harness *h, int i)
{
    return h && i >= 0 && i < h->node_count;
}

/* Prints the last lines of a log file as TAP comments. */
static void print_tail(const char *label, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag("%s: (no %s)", label, path);
        return;
    }
    char buf[16384];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* Walk back LOG_TAIL_LINES newlines from the end. */
    size_t pos = n;
    int lines = 0;
    while (pos > 0 && lines <= LOG_TAIL_LINES) {
        pos--;
        if (buf[pos] == '\n' && pos + 1 < n)
            lines++;
    }
    if (lines > LOG_TAIL_LINES)
        pos++;
    diag("---- tail of %s (%s) ----", label, path);
    for (char *line = buf + pos; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        printf("#   %s\n", line);
        if (!nl)
            break;
        line = nl + 1;
    }
    fflush(stdout);
}

/* Reads a whole (small) file; NULL if it cannot. */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        if (len_out)
            *len_out = len;
    }
    return buf;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    const char *p = text;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd);
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = -1;
                break;
            }
            done += w;
        }
        if (rc < 0)
            break;
    }
    close(in);
    if (close(out) < 0)
        rc = -1;
    return rc;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    diag("mkdir %s: %s", path, strerror(errno));
    return -1;
}

/* ---- teardown (also runs inside signal handlers) ------------------------------------ */

static void reap_node(harness_node *n, int st)
{
    n->running = 0;
    n->exit_status = harness_proc_status(st);
}

static void stop_nodes(harness *h)
{
    for (int i = 0; i < h->node_count; i++)
        if (h->nodes[i].running)
            kill(h->nodes[i].pid, SIGTERM);

    long long deadline = harness_proc_now_ms() + NODE_STOP_GRACE_MS;
    for (;;) {
        int left = 0;
        for (int i = 0; i < h->node_count; i++) {
            harness_node *n = &h->nodes[i];
            int st = 0;
            if (n->running && waitpid(n->pid, &st, WNOHANG) == n->pid)
                reap_node(n, st);
            left += n->running;
        }
        if (!left || harness_proc_now_ms() >= deadline)
            break;
        harness_proc_sleep_ms(20);
    }

    for (int i = 0; i < h->node_count; i++) {
        harness_node *n = &h->nodes[i];
        if (!n->running)
            continue;
        diag_safe("node did not stop after SIGTERM, sending SIGKILL: ", n->dir);
        kill(n->pid, SIGKILL);
        int st = 0;
        while (waitpid(n->pid, &st, 0) < 0 && errno == EINTR)
            ;
        reap_node(n, st);
    }
}

static void harness_cleanup(harness *h)
{
    if (!h || h->stopped || h->owner != getpid())
        return;
    h->stopped = 1;

    stop_nodes(h);

    if (h->services_started) {
        char *argv[] = {h->services_sh, "stop", h->services_dir, NULL};
        if (harness_proc_run_logged(argv, h->services_log, SERVICES_STOP_TIMEOUT_MS) != 0)
            diag_safe("services.sh stop failed, see ", h->services_log);
        h->services_started = 0;
    }

    if (getenv("IMGATE_KEEP_TMP") || h->keep_dir) {
        diag_safe("keeping ", h->dir);
    } else if (h->dir[0]) {
        char *argv[] = {"rm", "-rf", h->dir, NULL};
        harness_proc_run_logged(argv, "/dev/null", SERVICES_STOP_TIMEOUT_MS);
    }
}

static void on_fatal_signal(int sig)
{
    for (harness *h = all_harnesses; h; h = h->next)
        harness_cleanup(h);
    /* SA_RESETHAND restored the default action: die of the same signal. */
    raise(sig);
}

static void free_all_at_exit(void)
{
    harness *h = all_harnesses;
    all_harnesses = NULL;
    while (h) {
        harness *next = h->next;
        harness_stop(h);
        for (int i = 0; i < h->env_count; i++) {
            free(h->env_keys[i]);
            free(h->env_values[i]);
        }
        free(h);
        h = next;
    }
}

static void install_teardown_hooks(void)
{
    static int installed;
    if (installed)
        return;
    installed = 1;
    atexit(free_all_at_exit);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGABRT, SIGSEGV};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/*
 * A node built with AddressSanitizer / UBSan / LeakSanitizer reports on its
 * standard error (leaks when it exits). Any such report fails the test: TAP
 * "Bail out!" turns it into an error whatever the test's own results. Not
 * async-signal-safe: only on the normal ways out (harness_stop, exit).
 */
static void check_sanitizer_reports(harness *h)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"};
    for (int i = 0; i < h->node_count; i++) {
        char path[PATH_MAX * 2], line[1024];
        if (format_path(path, sizeof path, "%s/stderr.log", h->nodes[i].dir) < 0)
            continue;
        FILE *f = fopen(path, "r");
        int found = 0, shown = 0;
        while (f && fgets(line, sizeof line, f)) {
            for (size_t k = 0; k < sizeof marks / sizeof marks[0] && !found; k++)
                found = strstr(line, marks[k]) != NULL;
            if (found && shown++ < 30)
                diag("%s", line[0] ? line : "\n");
        }
        if (f)
            fclose(f);
        if (found) {
            h->keep_dir = 1;
            printf("Bail out! sanitizer report in %s\n", path);
            fflush(stdout);
        }
    }
}

void harness_stop(harness *h)
{
    if (h && !h->stopped && h->owner == getpid()) {
        stop_nodes(h);
        check_sanitizer_reports(h);
    }
    harness_cleanup(h);
}

/* ---- start ------------------------------------------------------------------------- */

/* Absolute form of an environment directory variable, or -1 with a diagnostic. */
static int env_dir(const char *name, char out[PATH_MAX])
{
    const char *v = getenv(name);
    if (!v || !*v) {
        diag("%s is not set: run the test through `make check` (or export top_srcdir and "
             "top_builddir)", name);
        return -1;
    }
    if (!realpath(v, out)) {
        diag("%s=%s: %s", name, v, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads KEY=VALUE lines (comments, blank lines, `export ` and quotes tolerated). */
static int parse_services_env(harness *h, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        diag("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f) && h->env_count < MAX_ENV_ENTRIES) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *value = eq + 1;
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        h->env_keys[h->env_count] = strdup(p);
        h->env_values[h->env_count] = strdup(value);
        h->env_count++;
    }
    fclose(f);
    return 0;
}

harness *harness_start(const char *test_name)
{
    harness *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->owner = getpid();
    if (env_dir("top_builddir", h->top_builddir) < 0 || env_dir("top_srcdir", h->top_srcdir) < 0) {
        free(h);
        return NULL;
    }
    /* Registered before anything is started, so a failure midway still cleans up. */
    h->next = all_harnesses;
    all_harnesses = h;
    install_teardown_hooks();

    char name[128];
    snprintf(name, sizeof name, "%s", test_name && *test_name ? test_name : "test");
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';

    char tmp_root[PATH_MAX];
    if (format_path(tmp_root, sizeof tmp_root, "%s/t", h->top_builddir) < 0 || make_dir(tmp_root) < 0)
        goto fail;
    if (format_path(tmp_root, sizeof tmp_root, "%s/t/tmp", h->top_builddir) < 0 || make_dir(tmp_root) < 0)
        goto fail;
    if (format_path(h->dir, sizeof h->dir, "%s/%s-%ld", tmp_root, name, (long)h->owner) < 0) {
        h->dir[0] = '\0'; /* nothing of ours to remove */
        goto fail;
    }
    {
        /* A leftover from an earlier run with the same pid would confuse the services. */
        char *argv[] = {"rm", "-rf", h->dir, NULL};
        harness_proc_run_logged(argv, "/dev/null", SERVICES_STOP_TIMEOUT_MS);
    }
    if (make_dir(h->dir) < 0)
        goto fail;
    if (format_path(h->services_dir, sizeof h->services_dir, "%s/services", h->dir) < 0 ||
        format_path(h->services_log, sizeof h->services_log, "%s/services.log", h->dir) < 0 ||
        format_path(h->services_sh, sizeof h->services_sh, "%s/t/lib/services.sh", h->top_srcdir) < 0)
        goto fail;

    char watch_pid[32];
    snprintf(watch_pid, sizeof watch_pid, "%ld", (long)h->owner);
    char *argv[] = {h->services_sh, "start", h->services_dir, "--watch", watch_pid, NULL};
    /* Marked started first: a half-started service set still needs `stop`. */
    h->services_started = 1;
    int rc = harness_proc_run_logged(argv, h->services_log, SERVICES_START_TIMEOUT_MS);
    if (rc != 0) {
        diag("services.sh start failed (status %d)", rc);
        print_tail("services.log", h->services_log);
        goto fail;
    }
    char env_path[PATH_MAX + 32];
    if (format_path(env_path, sizeof env_path, "%s/services.env", h->services_dir) < 0 ||
        parse_services_env(h, env_path) < 0)
        goto fail;
    return h;

fail:
    harness_cleanup(h);
    /* Stays on all_harnesses (stopped); freed at exit. */
    return NULL;
}

const char *harness_services_env(const harness *h, const char *key)
{
    if (!h || !key)
        return NULL;
    for (int i = 0; i < h->env_count; i++)
        if (strcmp(h->env_keys[i], key) == 0)
            return h->env_values[i];
    return NULL;
}

static const char *env_or_empty(const harness *h, const char *key)
{
    const char *v = harness_services_env(h, key);
    return v ? v : "";
}

/* ---- nodes ------------------------------------------------------------------------- */

/* Two distinct free TCP ports on 127.0.0.1 (bound together so they differ). */
static int pick_ports(uint16_t *a, uint16_t *b)
{
    int fds[2] = {-1, -1};
    uint16_t ports[2] = {0, 0};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t slen = sizeof sin;
        fds[k] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[k] < 0 || bind(fds[k], (struct sockaddr *)&sin, sizeof sin) < 0 ||
            getsockname(fds[k], (struct sockaddr *)&sin, &slen) < 0) {
            rc = -1;
            break;
        }
        ports[k] = ntohs(sin.sin_port);
    }
    for (int k = 0; k < 2; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    *a = ports[0];
    *b = ports[1];
    return rc;
}

/* Where a built plugin is: $top_builddir/plugins/<name>/.libs/<name>.so, or for test-only
 * plugins $top_builddir/t/plugins/.libs/<name>.so. 0, or -1 when the path does not fit. */
static int built_plugin(const harness *h, const char *name, char *out, size_t len)
{
    if (format_path(out, len, "%s/plugins/%s/.libs/%s.so", h->top_builddir, name, name) < 0)
        return -1;
    if (access(out, R_OK) != 0 && format_path(out, len, "%s/t/plugins/.libs/%s.so", h->top_builddir, name) < 0)
        return -1;
    return 0;
}

int harness_service_signal(harness *h, const char *which, int sig)
{
    char path[PATH_MAX * 2];
    if (format_path(path, sizeof path, "%s/%s.pid", h->services_dir, which) < 0)
        return -1;
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f == NULL)
        return -1;
    int ok = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    return ok && pid > 0 ? kill((pid_t)pid, sig) : -1;
}

int harness_node_install_plugin(harness *h, int i, const char *built, const char *as)
{
    if (i < 0 || i >= h->node_count)
        return -1;
    char src[PATH_MAX * 2], tmp[PATH_MAX * 2], dst[PATH_MAX * 2];
    if (built_plugin(h, built, src, sizeof src) < 0 ||
        format_path(tmp, sizeof tmp, "%s/node%d/plugins/%s.so.tmp", h->dir, i, as) < 0 ||
        format_path(dst, sizeof dst, "%s/node%d/plugins/%s.so", h->dir, i, as) < 0)
        return -1;
    /* Like an operator's `install`: the loader never sees a half-written file. */
    if (copy_file(src, tmp, 0755) < 0 || rename(tmp, dst) < 0) {
        diag("cannot install plugin %s as %s: %s", src, dst, strerror(errno));
        return -1;
    }
    return 0;
}

/* Copies each listed plugin (see built_plugin) into the node's plugin directory. */
static int copy_plugins(const harness *h, const char *plugins_enable, const char *plugin_dir)
{
    char *list = strdup(plugins_enable ? plugins_enable : "");
    if (!list)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*tok)
            continue;
        char src[PATH_MAX * 2], dst[PATH_MAX * 2];
        if (built_plugin(h, tok, src, sizeof src) < 0 || format_path(dst, sizeof dst, "%s/%s.so", plugin_dir, tok) < 0) {
            rc = -1;
            break;
        }
        if (copy_file(src, dst, 0755) < 0) {
            diag("cannot copy plugin %s to %s: %s (is it built?)", src, dst, strerror(errno));
            rc = -1;
            break;
        }
    }
    free(list);
    return rc;
}

static int write_node_ini(const harness *h, const harness_node *n, int i, const char *plugins_enable,
                          const char *plugin_dir, const char *extra_ini)
{
    FILE *f = fopen(n->ini, "w");
    if (!f) {
        diag("cannot write %s: %s", n->ini, strerror(errno));
        return -1;
    }
    fprintf(f,
            "[gateway]\nlisten=127.0.0.1:%u\nnode=node%d\npublic_ip=127.0.0.1\nbackup_ip=127.0.0.1\n"
            "pid_file=%s/imgated.pid\nlog_level=debug\nlog_file=%s\n"
            "[http]\nlisten=127.0.0.1:%u\n",
            (unsigned)n->port, i, n->dir, n->log, (unsigned)n->http_port);
    const char *mysql_sections[] = {"mysql.master", "mysql.replica"};
    for (size_t k = 0; k < 2; k++)
        fprintf(f, "[%s]\nsocket=%s\nuser=%s\npassword=%s\ndatabase=%s\npool_size=2\n", mysql_sections[k],
                env_or_empty(h, "MYSQL_SOCKET"), env_or_empty(h, "MYSQL_USER"),
                env_or_empty(h, "MYSQL_PASSWORD"), env_or_empty(h, "MYSQL_DATABASE"));
    fprintf(f, "[redis]\nsocket=%s\n[plugins]\ndir=%s\nenable=%s\n", env_or_empty(h, "REDIS_SOCKET"),
            plugin_dir, plugins_enable ? plugins_enable : "");
    if (extra_ini && *extra_ini)
        fprintf(f, "%s%s", extra_ini, extra_ini[strlen(extra_ini) - 1] == '\n' ? "" : "\n");
    if (fclose(f) != 0) {
        diag("cannot write %s: %s", n->ini, strerror(errno));
        return -1;
    }
    return 0;
}

static pid_t spawn_imgated(const harness *h, const harness_node *n)
{
    char binary[PATH_MAX + 32];
    if (format_path(binary, sizeof binary, "%s/core/imgated", h->top_builddir) < 0)
        return -1;
    int log_fd = open(n->stderr_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        diag("cannot open %s: %s", n->stderr_log, strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
#ifdef __linux__
        /* Even a SIGKILLed test must not leave a daemon behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
#endif
        char *argv[] = {binary, "-c", (char *)n->ini, NULL};
        harness_proc_exec(argv, log_fd, log_fd);
    }
    close(log_fd);
    if (pid < 0)
        diag("fork: %s", strerror(errno));
    return pid;
}

/* Polls GET /health until 200, the node dies, or the start timeout passes. */
static int wait_healthy(harness_node *n)
{
    long long deadline = harness_proc_now_ms() + NODE_START_TIMEOUT_MS;
    int last_status = 0;
    while (harness_proc_now_ms() < deadline) {
        int st = 0;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            reap_node(n, st);
            diag("imgated exited during start-up with status %d", n->exit_status);
            return -1;
        }
        int status = 0;
        if (imgate_http_get("127.0.0.1", n->http_port, "/health", &status, NULL, 500) == 0) {
            if (status == 200)
                return 0;
            last_status = status;
        }
        harness_proc_sleep_ms(50);
    }
    diag("imgated not healthy after %d ms (last GET /health status: %d)", NODE_START_TIMEOUT_MS,
         last_status);
    return -1;
}

static void kill_node_now(harness_node *n)
{
    if (!n->running)
        return;
    kill(n->pid, SIGKILL);
    int st = 0;
    while (waitpid(n->pid, &st, 0) < 0 && errno == EINTR)
        ;
    reap_node(n, st);
}

int harness_node_start(harness *h, const char *plugins_enable, const char *extra_ini)
{
    if (!h || h->stopped)
        return -1;
    if (h->node_count >= HARNESS_MAX_NODES) {
        diag("too many nodes (max %d)", HARNESS_MAX_NODES);
        return -1;
    }
    int i = h->node_count;
    harness_node *n = &h->nodes[i];
    memset(n, 0, sizeof *n);
    char plugin_dir[PATH_MAX];
    if (format_path(n->dir, sizeof n->dir, "%s/node%d", h->dir, i) < 0 ||
        format_path(n->ini, sizeof n->ini, "%s/node%d/imgated.ini", h->dir, i) < 0 ||
        format_path(n->log, sizeof n->log, "%s/node%d/imgated.log", h->dir, i) < 0 ||
        format_path(n->stderr_log, sizeof n->stderr_log, "%s/node%d/stderr.log", h->dir, i) < 0 ||
        format_path(plugin_dir, sizeof plugin_dir, "%s/node%d/plugins", h->dir, i) < 0)
        return -1;
    if (make_dir(n->dir) < 0 || make_dir(plugin_dir) < 0)
        return -1;
    if (pick_ports(&n->port, &n->http_port) < 0) {
        diag("cannot pick free ports: %s", strerror(errno));
        return -1;
    }
    if (copy_plugins(h, plugins_enable, plugin_dir) < 0)
        return -1;
    if (write_node_ini(h, n, i, plugins_enable, plugin_dir, extra_ini) < 0)
        return -1;

    /* Counted before fork, so the teardown knows about it whatever happens next. */
    h->node_count++;
    n->pid = spawn_imgated(h, n);
    if (n->pid < 0)
        return -1;
    n->running = 1;

    if (wait_healthy(n) < 0) {
        kill_node_now(n);
        print_tail("imgated.log", n->log);
        print_tail("stderr.log", n->stderr_log);
        return -1;
    }
    return i;
}

uint16_t harness_node_port(const harness *h, int i)
{
    return valid_node(h, i) ? h->nodes[i].port : 0;
}

uint16_t harness_node_http_port(const harness *h, int i)
{
    return valid_node(h, i) ? h->nodes[i].http_port : 0;
}

pid_t harness_node_pid(const harness *h, int i)
{
    return valid_node(h, i) ? h->nodes[i].pid : -1;
}

const char *harness_node_dir(const harness *h, int i)
{
    return valid_node(h, i) ? h->nodes[i].dir : NULL;
}

const char *harness_dir(const harness *h)
{
    return h ? h->dir : NULL;
}

int harness_node_signal(harness *h, int i, int sig)
{
    if (!valid_node(h, i) || !h->nodes[i].running)
        return -1;
    return kill(h->nodes[i].pid, sig);
}

int harness_node_wait_exit(harness *h, int i, int timeout_ms, int *exit_status)
{
    if (!valid_node(h, i) || h->nodes[i].pid <= 0)
        return -1;
    harness_node *n = &h->nodes[i];
    long long deadline = harness_proc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    while (n->running) {
        int st = 0;
        pid_t r = waitpid(n->pid, &st, WNOHANG);
        if (r == n->pid) {
            reap_node(n, st);
            break;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (harness_proc_now_ms() >= deadline)
            return -1;
        harness_proc_sleep_ms(10);
    }
    if (exit_status)
        *exit_status = n->exit_status;
    return 0;
}

int harness_node_rewrite_ini(harness *h, int i, const char *full_text)
{
    if (!valid_node(h, i) || !full_text)
        return -1;
    char tmp[PATH_MAX + 8];
    if (format_path(tmp, sizeof tmp, "%s.tmp", h->nodes[i].ini) < 0)
        return -1;
    /* Write then rename: a reload racing with us sees the old or the new file, never half. */
    if (write_file(tmp, full_text, 0644) < 0 || rename(tmp, h->nodes[i].ini) < 0) {
        diag("cannot rewrite %s: %s", h->nodes[i].ini, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int harness_node_log_contains(harness *h, int i, const char *needle)
{
    if (!valid_node(h, i) || !needle)
        return 0;
    const char *paths[] = {h->nodes[i].log, h->nodes[i].stderr_log};
    for (size_t k = 0; k < 2; k++) {
        size_t len = 0;
        char *text = read_file(paths[k], &len);
        int found = text && memmem(text, len, needle, strlen(needle)) != NULL;
        free(text);
        if (found)
            return 1;
    }
    return 0;
}

imgate_client *harness_connect(harness *h, int i)
{
    if (!valid_node(h, i))
        return NULL;
    imgate_client *c = imgate_client_connect("127.0.0.1", h->nodes[i].port, CONNECT_TIMEOUT_MS);
    if (!c)
        diag("connect to node%d (127.0.0.1:%u): %s", i, (unsigned)h->nodes[i].port, strerror(errno));
    return c;
}

/* ---- services ---------------------------------------------------------------------- */

static int run_services_sh(harness *h, const char *subcommand)
{
    if (!h || h->stopped)
        return -1;
    char *argv[] = {h->services_sh, (char *)subcommand, h->services_dir, NULL};
    int rc = harness_proc_run_logged(argv, h->services_log, SERVICES_START_TIMEOUT_MS);
    if (rc != 0) {
        diag("services.sh %s failed (status %d)", subcommand, rc);
        print_tail("services.log", h->services_log);
        return -1;
    }
    return 0;
}

int harness_mysql_stop(harness *h)
{
    return run_services_sh(h, "stop-mysql");
}

int harness_mysql_start(harness *h)
{
    return run_services_sh(h, "start-mysql");
}

int harness_redis_stop(harness *h) { return run_services_sh(h, "stop-redis"); }

int harness_redis_start(harness *h) { return run_services_sh(h, "start-redis"); }

int harness_sql(harness *h, const char *sql, char *out, size_t outlen)
{
    if (!h || !sql)
        return -1;
    const char *password = env_or_empty(h, "MYSQL_PASSWORD");
    const char *database = env_or_empty(h, "MYSQL_DATABASE");
    char password_opt[512];
    snprintf(password_opt, sizeof password_opt, "--password=%s", password);

    /* --no-defaults: a developer's ~/.my.cnf must not change what the test does. */
    char *argv[16];
    size_t n = 0;
    argv[n++] = "mariadb";
    argv[n++] = "--no-defaults";
    argv[n++] = "-S";
    argv[n++] = (char *)env_or_empty(h, "MYSQL_SOCKET");
    argv[n++] = "-u";
    argv[n++] = (char *)env_or_empty(h, "MYSQL_USER");
    if (*password)
        argv[n++] = password_opt; /* omitted when empty: a bare -p would prompt */
    argv[n++] = "-N";
    argv[n++] = "-B";
    argv[n++] = "-e";
    argv[n++] = (char *)sql;
    if (*database)
        argv[n++] = (char *)database;
    argv[n] = NULL;
    return harness_proc_run_capture(argv, out, outlen);
}

int harness_redis(harness *h, const char *args, char *out, size_t outlen)
{
    if (!h || !args)
        return -1;
    char *words = strdup(args);
    if (!words)
        return -1;
    char *argv[MAX_REDIS_WORDS + 4];
    size_t n = 0;
    argv[n++] = "redis-cli";
    argv[n++] = "-s";
    argv[n++] = (char *)env_or_empty(h, "REDIS_SOCKET");
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w && n < MAX_REDIS_WORDS + 3; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    int rc = harness_proc_run_capture(argv, out, outlen);
    free(words);
    return rc;
}
