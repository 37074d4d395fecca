/*
 * harness_proc.c — fork/exec helpers for the test harness (see harness_proc.h).
 */
#include "harness_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void harness_proc_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

long long harness_proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_proc_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

void harness_proc_exec(char *const argv[], int out_fd, int err_fd)
{
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    if (out_fd >= 0)
        dup2(out_fd, STDOUT_FILENO);
    if (err_fd >= 0)
        dup2(err_fd, STDERR_FILENO);
    execvp(argv[0], argv);
    if (errno == EACCES || errno == ENOEXEC) {
        char *sh_argv[HARNESS_PROC_MAX_ARGS];
        size_t n = 0;
        sh_argv[n++] = "sh";
        for (size_t i = 0; argv[i] && n < sizeof sh_argv / sizeof sh_argv[0] - 1; i++)
            sh_argv[n++] = argv[i];
        sh_argv[n] = NULL;
        execvp("sh", sh_argv);
    }
    const char *msg = "harness: exec failed: ";
    (void)!write(STDERR_FILENO, msg, strlen(msg));
    (void)!write(STDERR_FILENO, argv[0], strlen(argv[0]));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(127);
}

int harness_proc_wait_bounded(pid_t pid, int timeout_ms)
{
    long long deadline = harness_proc_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return harness_proc_status(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (harness_proc_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        harness_proc_sleep_ms(20);
    }
}

/* Async-signal-safe: the teardown runs services.sh stop and rm -rf through this. */
int harness_proc_run_logged(char *const argv[], const char *log_path, int timeout_ms)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid = fork();
    if (pid < 0) {
        if (log_fd >= 0)
            close(log_fd);
        return -1;
    }
    if (pid == 0)
        harness_proc_exec(argv, log_fd, log_fd);
    if (log_fd >= 0)
        close(log_fd);
    return harness_proc_wait_bounded(pid, timeout_ms);
}

int harness_proc_run_capture(char *const argv[], char *out, size_t outlen)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0)
        harness_proc_exec(argv, pipefd[1], -1);
    close(pipefd[1]);

    size_t used = 0;
    char sink[4096];
    for (;;) {
        char *dst = sink;
        size_t room = sizeof sink;
        if (out && outlen > 1 && used < outlen - 1) {
            dst = out + used;
            room = outlen - 1 - used;
        }
        ssize_t n = read(pipefd[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            used += (size_t)n;
    }
    close(pipefd[0]);
    if (out && outlen > 0) {
        while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == '\r'))
            used--;
        out[used] = '\0';
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return harness_proc_status(st);
}

