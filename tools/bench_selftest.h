/*
 * bench_selftest.h — `imgate-bench self-test`: checks the parts of the load
 * generator that need no server (percentile math against exact sorting,
 * option parsing, the login scenario's user assignment, md5hex), as TAP.
 */
#ifndef BENCH_SELFTEST_H
#define BENCH_SELFTEST_H

/* Prints TAP to stdout; returns 0 when every check passed. */
int bench_selftest(void);

#endif
