/*
 * bench_msg_engine.h — imgate-bench's engine for the message scenarios.
 *
 * The request/reply runner (bench_runner.c) measures one reply per request on
 * short-lived connections; a message run needs long-lived logged-in
 * connections, many requests in flight per connection, and a second party
 * that receives. This engine does that, from one thread with libevent:
 *
 *   msg:   P pairs (-c P): senders PREFIX1..PREFIXP, receivers
 *          PREFIX(P+1)..PREFIX(2P), all logged in first; each sender keeps
 *          W messages in flight (--window), optionally paced to R messages/s
 *          in total (--rate). Measures send->ack and send->delivery latency,
 *          acked and delivered per second, and failures.
 *   group: M members (-c M) of group --group-id, PREFIX1..PREFIXM, all online;
 *          the first S (--senders) send, W in flight each. Measures
 *          deliveries per second (every member's copies), acks, latencies.
 *
 * Each body starts with the send time ("T<ns>;"), so a receiver measures
 * send->delivery with the sender's clock (same process), padded to
 * --msg-bytes. Results go to stdout as a table and, with --json, to a file.
 */
#ifndef BENCH_MSG_ENGINE_H
#define BENCH_MSG_ENGINE_H

#include "bench_options.h"

typedef enum { BENCH_MSG_PAIRS, BENCH_MSG_GROUP } bench_msg_mode;

/* Runs the scenario; returns the exit code (0 if any message was acked, 1 if none, 2 on bad options). */
int bench_msg_run(const bench_options *opt, bench_msg_mode mode);

#endif
