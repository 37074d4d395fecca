/*
 * tap.h — a minimal TAP producer for imgate's C tests (automake's TAP driver
 * reads it). Header-only; single-threaded use.
 */
#ifndef IMGATE_TAP_H
#define IMGATE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count_;
static int tap_failed_;

static inline void tap_plan(int n) { printf("1..%d\n", n); fflush(stdout); }

/* Records one test result; returns `cond` so callers can branch on it. */
static inline int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_count_++;
    if (!cond)
        tap_failed_++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_count_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Aborts the whole test file: prints "Bail out!" which the driver reports as an error. */
static inline void tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void tap_bail(const char *fmt, ...)
{
    va_list ap;
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

/* Prints the plan when it was not declared up front, and the exit status. */
static inline int tap_done(void)
{
    printf("1..%d\n", tap_count_);
    fflush(stdout);
    return tap_failed_ ? 1 : 0;
}

#define tap_is_int(got, want, ...) \
    (tap_ok((long long)(got) == (long long)(want), __VA_ARGS__) ? 1 : (tap_diag("got %lld, want %lld", (long long)(got), (long long)(want)), 0))

/* A function rather than a macro: arrays passed as `got` must not trip -Waddress. */
static inline int tap_is_str(const char *got, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int same = got != NULL && want != NULL && strcmp(got, want) == 0;
    tap_ok(same, "%s", name);
    if (!same)
        tap_diag("got '%s', want '%s'", got ? got : "(null)", want ? want : "(null)");
    return same;
}

#endif
