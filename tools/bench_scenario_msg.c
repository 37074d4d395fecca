/*
 * bench_scenario_msg.c — the message scenarios, `msg` (user pairs) and
 * `group` (one group's members), run by their own engine
 * (bench_msg_engine.c): they keep connections logged in and many messages in
 * flight, which the request/reply runner does not do.
 */
#include "bench_msg_engine.h"
#include "bench_scenario.h"

static int run_pairs(const bench_options *opt) { return bench_msg_run(opt, BENCH_MSG_PAIRS); }
static int run_group(const bench_options *opt) { return bench_msg_run(opt, BENCH_MSG_GROUP); }

const bench_scenario bench_scenario_msg = {
    .name = "msg", .operation = "messages", .engine = run_pairs, .fds_per_client = 2,
};

const bench_scenario bench_scenario_group = {
    .name = "group", .operation = "deliveries", .engine = run_group, .fds_per_client = 1,
};
