/*
 * file_cli.c — imgate-cli's file-send and file-recv between two users
 * through a real node: online (the receiver waits, the sender sends) and
 * offline (the receiver is away, the file is stored, then fetched).
 */
#include <signal.h>
#include <sys/wait.h>

#include "file_util.h"

#define ALICE 401
#define BOB 402

static harness *h;

/* Starts imgate-cli with `args` (NULL-terminated), its output to `out_path`. */
static pid_t cli_start(const char *out_path, const char *const *args)
{
    char bin[4096], port[16];
    snprintf(bin, sizeof bin, "%s/tools/imgate-cli", getenv("top_builddir"));
    snprintf(port, sizeof port, "%u", (unsigned)harness_node_port(h, 0));
    const char *argv[32] = {bin, "-p", port, "-t", "10000"};
    int n = 5;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int cli_wait(pid_t pid, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    int st = 0;
    while (mono_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static void show(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        tap_diag("  %s", line);
    if (f)
        fclose(f);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void write_source(const char *path, size_t size, uint32_t seed)
{
    uint8_t *data = pattern(size, seed);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        tap_bail("cannot write %s", path);
    fwrite(data, 1, size, f);
    fclose(f);
    free(data);
}

int main(void)
{
    h = harness_start("file_cli");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    char ini[8192];
    snprintf(ini, sizeof ini, "[plugin.file]\nstorage_dir = %s/offline\n", harness_dir(h));
    if (harness_node_start(h, "login,file", ini) != 0)
        tap_bail("imgated did not start");
    const char *dir = harness_dir(h);
    char src[4096], out_dir[2048], recv_log[4096], send_log[4096], got[4096];
    snprintf(src, sizeof src, "%s/holiday photos.tar", dir);
    snprintf(out_dir, sizeof out_dir, "%s/inbox", dir);
    snprintf(recv_log, sizeof recv_log, "%s/recv.out", dir);
    snprintf(send_log, sizeof send_log, "%s/send.out", dir);
    mkdir(out_dir, 0755);
    write_source(src, 300 * 1000 + 7, 1);

    /* Online: bob is waiting for a file when alice sends it. */
    const char *recv_args[] = {"file-recv", "bob", "bob123", out_dir, "30", NULL};
    pid_t recv = cli_start(recv_log, recv_args);
    long long end = mono_ms() + 10000;
    while (!file_contains(recv_log, "offline files waiting") && mono_ms() < end) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    const char *send_args[] = {"file-send", "alice", "alice123", "402", src, NULL};
    int rc = cli_wait(cli_start(send_log, send_args), 30000);
    tap_is_int(rc, 0, "file-send (online) exits 0");
    if (rc != 0)
        show(send_log);
    tap_ok(file_contains(send_log, "mode: online"), "... the transfer was online");
    rc = cli_wait(recv, 30000);
    tap_is_int(rc, 0, "file-recv exits 0");
    if (rc != 0)
        show(recv_log);
    snprintf(got, sizeof got, "%s/holiday photos.tar", out_dir);
    tap_ok(same_file(src, got), "bob has alice's file, byte for byte");

    /* Offline: bob is away; the file is stored, and fetched when he comes. */
    char src2[4096];
    snprintf(src2, sizeof src2, "%s/notes.txt", dir);
    write_source(src2, 100 * 1000, 2);
    const char *send2[] = {"file-send", "alice", "alice123", "402", src2, NULL};
    rc = cli_wait(cli_start(send_log, send2), 30000);
    tap_is_int(rc, 0, "file-send to a receiver who is away exits 0");
    if (rc != 0)
        show(send_log);
    tap_ok(file_contains(send_log, "mode: offline (the receiver has no PC online)") &&
               file_contains(send_log, "stored offline"),
           "... the file is stored offline");
    const char *recv2[] = {"file-recv", "bob", "bob123", out_dir, "0", NULL};
    rc = cli_wait(cli_start(recv_log, recv2), 30000);
    tap_is_int(rc, 0, "file-recv fetches the waiting file");
    if (rc != 0)
        show(recv_log);
    snprintf(got, sizeof got, "%s/notes.txt", out_dir);
    tap_ok(same_file(src2, got), "... byte for byte");
    tap_is_int(sql_number(h, "SELECT COUNT(*) FROM IMTransmitFile WHERE toId = %d", BOB), 0,
               "... and deletes it from the server once received");
    return tap_done();
}
