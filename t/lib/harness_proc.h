/*
 * harness_proc.h — running helper programs for the test harness: fork/exec
 * with redirected output, bounded waits, exit statuses as the shell shows them.
 *
 * harness_proc_run_logged() and everything it calls use only
 * async-signal-safe primitives (fork, exec, open, dup2, waitpid, kill,
 * nanosleep), so the harness can run its teardown from a signal handler.
 */
#ifndef IMGATE_HARNESS_PROC_H
#define IMGATE_HARNESS_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Most arguments harness_proc_exec passes on when it falls back to `sh SCRIPT ...`. */
#define HARNESS_PROC_MAX_ARGS 72

void harness_proc_sleep_ms(int ms);
long long harness_proc_now_ms(void); /* CLOCK_MONOTONIC */

/* A waitpid() status as the shell reports it: exit code, or 128 + signal; -1 otherwise. */
int harness_proc_status(int waitpid_status);

/*
 * In a forked child: stdin from /dev/null, stdout/stderr onto out_fd/err_fd
 * (-1 = keep), then exec argv[0] (searched in PATH when it has no '/'); a
 * script without its execute bit is run with sh. Never returns (_exit 127).
 */
void harness_proc_exec(char *const argv[], int out_fd, int err_fd) __attribute__((noreturn));

/* Waits at most timeout_ms for pid, then SIGKILLs and reaps it. Its status, or -1. */
int harness_proc_wait_bounded(pid_t pid, int timeout_ms);

/* Runs argv to completion (bounded) with stdout+stderr appended to log_path. Its status. */
int harness_proc_run_logged(char *const argv[], const char *log_path, int timeout_ms);

/*
 * Runs argv, keeping the first outlen-1 bytes of its stdout in `out` (trailing
 * newlines removed; `out` may be NULL); stderr stays the caller's. Its status.
 */
int harness_proc_run_capture(char *const argv[], char *out, size_t outlen);

#endif
