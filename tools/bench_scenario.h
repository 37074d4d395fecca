/*
 * bench_scenario.h — what a load scenario tells the runner.
 *
 * The runner (bench_runner.c) owns sockets, timing and accounting. A scenario
 * only says, for each virtual client, what a connection sends step by step
 * and how to judge each reply. A connection's life: connect, then steps 0, 1,
 * 2... each one request and its reply, until next_step says "done"; then the
 * runner closes it and the client starts its next connection.
 *
 *   login:   step 0 = IMLoginReq (measured), then done.
 *   message: (later) step 0 = IMLoginReq (not measured), steps 1..N = IMMsgData
 *            waiting for IMMsgDataAck (measured), then done.
 *
 * Single-threaded: callbacks never run concurrently.
 */
#ifndef BENCH_SCENARIO_H
#define BENCH_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "bench_options.h"
#include "bench_results.h"

/* One request and the reply that ends it. */
typedef struct {
    uint16_t service_id;
    uint16_t command_id;
    uint16_t reply_command_id;
    /* Packed by the runner before next_step is called again; may point into scenario state. */
    const ProtobufCMessage *msg;
    /* Its latency is the scenario's figure and its success counts as one completed operation. */
    int measured;
} bench_step;

typedef enum {
    BENCH_STEP_SEND, /* *out describes the request to send */
    BENCH_STEP_DONE, /* the connection's script is over: close it */
} bench_step_result;

typedef enum {
    BENCH_REPLY_OK,
    BENCH_REPLY_REFUSED,     /* parsed, but the server said no: *code and detail are set */
    BENCH_REPLY_UNPARSABLE,  /* a protocol error: `detail` says what is wrong */
} bench_reply_verdict;

typedef struct {
    const char *name;
    /* What one measured operation is called in reports ("logins"). */
    const char *operation;
    /* Per-run state from the options; NULL on failure (after printing why). */
    void *(*create)(const bench_options *opt);
    void (*destroy)(void *state);
    /* Step `step` of a new connection of virtual client `client` (0-based). */
    bench_step_result (*next_step)(void *state, uint32_t client, unsigned step, bench_step *out);
    /* Judges the reply body of step `step`. On REFUSED fills *code and `detail` (the server's
     * result string), on UNPARSABLE `detail`; NUL-terminated, truncated to detail_cap. */
    bench_reply_verdict (*judge_reply)(void *state, unsigned step, const uint8_t *body, size_t len,
                                       uint32_t *code, char *detail, size_t detail_cap);
    /* A scenario whose clients talk to each other as well as to the server (file relay) drives
     * its own connections: then this runs instead of the runner (next_step and judge_reply
     * unused), filling `results` the same way; 0, or -1 when it could not start. */
    int (*run)(const bench_options *opt, void *state, bench_results *results);
    /* A scenario with an engine and a report of its own (message pairs, a group's fan-out; every
     * field above but the names unused): runs it, reports, and returns the exit code. */
    int (*engine)(const bench_options *opt);
    /* How many connections one -c unit holds (0 = 1): the fd limit is raised to match. */
    unsigned fds_per_client;
} bench_scenario;

/* The scenarios, one file each. */
extern const bench_scenario bench_scenario_login;
extern const bench_scenario bench_scenario_group_info;
extern const bench_scenario bench_scenario_presence_hold;
extern const bench_scenario bench_scenario_file;
extern const bench_scenario bench_scenario_msg;
extern const bench_scenario bench_scenario_group;

#endif
