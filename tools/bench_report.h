/*
 * bench_report.h — a run's results as a table (stdout) and as one JSON object.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "bench_options.h"
#include "bench_results.h"
#include "bench_scenario.h"

void bench_report_table(FILE *out, const bench_options *opt, const bench_scenario *scenario,
                        const bench_results *r);

/* Writes the JSON object and a newline. Returns 0, or -1 on a write error. */
int bench_report_json(FILE *out, const bench_options *opt, const bench_scenario *scenario, const bench_results *r);

#endif
