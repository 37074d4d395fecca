/*
 * bench_results.c — see bench_results.h.
 */
#include "bench_results.h"

#include <stdlib.h>
#include <string.h>

int bench_results_init(bench_results *r)
{
    memset(r, 0, sizeof *r);
    /* ~60 KiB each: heap, not stack. */
    r->latency_us = calloc(1, sizeof *r->latency_us);
    r->connect_us = calloc(1, sizeof *r->connect_us);
    if (!r->latency_us || !r->connect_us) {
        bench_results_free(r);
        return -1;
    }
    return 0;
}

void bench_results_free(bench_results *r)
{
    for (size_t i = 0; i < r->failure_count; i++)
        free(r->failures[i].detail);
    free(r->failures);
    free(r->latency_us);
    free(r->connect_us);
    memset(r, 0, sizeof *r);
}

void bench_results_fail(bench_results *r, bench_failure_reason reason, uint32_t code, const char *detail)
{
    if (!detail)
        detail = "";
    r->failed++;
    for (size_t i = 0; i < r->failure_count; i++) {
        bench_failure *f = &r->failures[i];
        if (f->reason == reason && f->code == code && strcmp(f->detail, detail) == 0) {
            f->count++;
            return;
        }
    }
    if (r->failure_count == r->failure_cap) {
        size_t cap = r->failure_cap ? r->failure_cap * 2 : 8;
        bench_failure *grown = realloc(r->failures, cap * sizeof *grown);
        if (!grown)
            return; /* still counted in `failed`; only the breakdown loses a group */
        r->failures = grown;
        r->failure_cap = cap;
    }
    char *copy = strdup(detail);
    if (!copy)
        return;
    r->failures[r->failure_count++] = (bench_failure){.reason = reason, .code = code, .detail = copy, .count = 1};
}

const char *bench_failure_reason_name(bench_failure_reason reason)
{
    switch (reason) {
    case BENCH_FAIL_RESULT_CODE:
        return "result_code";
    case BENCH_FAIL_TIMEOUT:
        return "timeout";
    case BENCH_FAIL_REFUSED:
        return "refused";
    case BENCH_FAIL_RESET:
        return "reset";
    case BENCH_FAIL_CLOSED:
        return "closed";
    case BENCH_FAIL_PROTOCOL:
        return "protocol";
    case BENCH_FAIL_CONNECT_ERROR:
        return "connect_error";
    }
    return "unknown";
}
