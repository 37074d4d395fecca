/*
 * bench_results.h — what a benchmark run measured: successes, latency and
 * connect-time histograms, and failures grouped by reason.
 *
 * Failures are grouped by (reason, code, detail): e.g. (result_code, 6,
 * "用户名/密码错误"), (timeout, -, "reply"), (connect_error, -, "Cannot assign
 * requested address"). The set of distinct groups is small, so a linear list.
 */
#ifndef BENCH_RESULTS_H
#define BENCH_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "bench_histogram.h"

typedef enum {
    BENCH_FAIL_RESULT_CODE,   /* the server answered with a non-zero result code */
    BENCH_FAIL_TIMEOUT,       /* no connection, or no complete reply, within --timeout-ms */
    BENCH_FAIL_REFUSED,       /* ECONNREFUSED: nothing listens, or the backlog overflowed */
    BENCH_FAIL_RESET,         /* ECONNRESET / EPIPE while waiting */
    BENCH_FAIL_CLOSED,        /* orderly close (EOF) before the reply */
    BENCH_FAIL_PROTOCOL,      /* a bad frame, an unparsable body, the wrong seq */
    BENCH_FAIL_CONNECT_ERROR, /* any other local or connect error (EADDRNOTAVAIL, EMFILE...) */
} bench_failure_reason;

typedef struct {
    bench_failure_reason reason;
    uint32_t code; /* result code; 0 for other reasons */
    char *detail;  /* malloc'd, never NULL */
    uint64_t count;
} bench_failure;

typedef struct {
    uint64_t completed; /* measured operations that succeeded */
    uint64_t failed;    /* measured attempts that failed, = sum of failures[].count */
    uint64_t abandoned; /* attempts still in flight when a timed run ended: neither */
    double measured_s;  /* the measured window's length */
    bench_histogram *latency_us; /* request sent -> complete reply, successful operations */
    bench_histogram *connect_us; /* connect() -> connected, measured attempts */
    bench_failure *failures;
    size_t failure_count;
    size_t failure_cap;
} bench_results;

/* Allocates the histograms. Returns 0, or -1 when out of memory. */
int bench_results_init(bench_results *r);
void bench_results_free(bench_results *r);

/* Counts one failure in its group (created on first use). detail may be NULL (= ""). */
void bench_results_fail(bench_results *r, bench_failure_reason reason, uint32_t code, const char *detail);

/* "result_code", "timeout", "refused", "reset", "closed", "protocol", "connect_error". */
const char *bench_failure_reason_name(bench_failure_reason reason);

#endif
