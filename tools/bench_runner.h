/*
 * bench_runner.h — drives many virtual clients through a scenario from one
 * thread (libevent, non-blocking sockets) and measures them.
 *
 * Every virtual client loops: connect (non-blocking, optionally from one of
 * --source-ips), run the scenario's steps, close, start again. Only attempts
 * that START inside the measured window count:
 *   -d: the window is [warmup, warmup + d); attempts still in flight at its
 *       end are abandoned (counted apart, neither success nor failure).
 *   -n: the first `total` attempts started after the warmup; the run ends when
 *       all of them have ended, and the window ends with the last of them.
 */
#ifndef BENCH_RUNNER_H
#define BENCH_RUNNER_H

#include "bench_options.h"
#include "bench_results.h"
#include "bench_scenario.h"

/*
 * Runs `scenario` (state from scenario->create) with `opt`, filling `results`
 * (initialised by the caller). Returns 0 when the run took place (whatever
 * its failures), -1 when it could not start (bad address, libevent failure),
 * after printing why.
 */
int bench_run(const bench_options *opt, const bench_scenario *scenario, void *state, bench_results *results);

#endif
