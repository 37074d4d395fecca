/*
 * imgate-bench — a load generator for imgated.
 *
 *   imgate-bench SCENARIO -H HOST -p PORT -c CONCURRENCY (-d SECONDS | -n TOTAL) [OPTIONS]
 *   imgate-bench self-test
 *
 * Thousands of virtual clients run from one thread (bench_runner.c); what
 * they say is a scenario (bench_scenario.h; `login` for now). The results go
 * to stdout as a table and, with --json FILE, to FILE as one JSON object.
 * Exit status: 0 if any operation succeeded, 1 if all failed (or none ran),
 * 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_options.h"
#include "bench_report.h"
#include "bench_results.h"
#include "bench_runner.h"
#include "bench_scenario.h"
#include "bench_selftest.h"

/* Descriptors beyond one per virtual client: stdio, the event base, the JSON file. */
#define SPARE_FDS 64

/* To add a scenario: write bench_scenario_NAME.c and add it here. */
static const bench_scenario *const scenarios[] = {
    &bench_scenario_login,
    &bench_scenario_group_info,
    &bench_scenario_presence_hold,
    &bench_scenario_file,
    &bench_scenario_msg,
    &bench_scenario_group,
};

static const bench_scenario *find_scenario(const char *name)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i]->name, name) == 0)
            return scenarios[i];
    return NULL;
}

/* Every virtual client holds one socket: raise the soft limit as far as that needs (up to the hard one). */
static int raise_fd_limit(uint32_t concurrency)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rlim_t needed = (rlim_t)concurrency + SPARE_FDS;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= needed)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < needed) {
        fprintf(stderr,
                "imgate-bench: -c %u needs %llu file descriptors, the hard limit is %llu (lower -c or raise"
                " `ulimit -Hn`)\n",
                (unsigned)concurrency, (unsigned long long)needed, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = needed;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "imgate-bench: cannot raise RLIMIT_NOFILE to %llu: %s\n", (unsigned long long)needed,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int write_json(const char *path, const bench_options *opt, const bench_scenario *scenario,
                      const bench_results *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "imgate-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = bench_report_json(f, opt, scenario, r);
    if (fclose(f) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "imgate-bench: error writing %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "self-test") == 0)
        return bench_selftest();

    bench_options opt;
    int rc = bench_options_parse(&opt, argc - 1, argv + 1, stderr);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "usage: imgate-bench SCENARIO -H HOST -p PORT -c N (-d SECONDS | -n TOTAL) [OPTIONS]"
                            " (--help for all)\n");
        bench_options_free(&opt);
        return rc < 0 ? 2 : 0;
    }
    const bench_scenario *scenario = find_scenario(opt.scenario);
    if (!scenario) {
        fprintf(stderr, "imgate-bench: unknown scenario '%s' (known:", opt.scenario);
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            fprintf(stderr, " %s", scenarios[i]->name);
        fprintf(stderr, ")\n");
        bench_options_free(&opt);
        return 2;
    }
    if (raise_fd_limit(opt.concurrency * (scenario->fds_per_client ? scenario->fds_per_client : 1)) < 0) {
        bench_options_free(&opt);
        return 2;
    }
    if (scenario->engine != NULL) {
        rc = scenario->engine(&opt);
        bench_options_free(&opt);
        return rc;
    }

    int exit_code = 1;
    bench_results results;
    void *state = NULL;
    if (bench_results_init(&results) < 0) {
        fprintf(stderr, "imgate-bench: out of memory\n");
        bench_options_free(&opt);
        return 1;
    }
    state = scenario->create(&opt);
    if (state && (scenario->run ? scenario->run(&opt, state, &results) : bench_run(&opt, scenario, state, &results)) == 0) {
        bench_report_table(stdout, &opt, scenario, &results);
        fflush(stdout);
        exit_code = results.completed > 0 ? 0 : 1;
        if (results.completed == 0)
            fprintf(stderr, "imgate-bench: every %s attempt failed\n", scenario->name);
        if (opt.json_path && write_json(opt.json_path, &opt, scenario, &results) < 0)
            exit_code = 1;
    }
    if (state)
        scenario->destroy(state);
    bench_results_free(&results);
    bench_options_free(&opt);
    return exit_code;
}
