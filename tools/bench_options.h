/*
 * bench_options.h — imgate-bench's command line, parsed into one struct.
 *
 * Kept apart from the event loop so it can be checked on its own
 * (`imgate-bench self-test`) and so every scenario reads the same options.
 */
#ifndef BENCH_OPTIONS_H
#define BENCH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Enough for any sensible load from one process; the fd limit caps it lower anyway. */
#define BENCH_MAX_CONCURRENCY 100000
#define BENCH_MAX_SOURCE_IPS 64

typedef struct {
    const char *scenario;
    const char *host;
    uint16_t port;
    /* msg, group: the port the receiving connections use (another node); 0 = port */
    uint16_t receiver_port;
    uint32_t concurrency;
    /* Exactly one of the two is set: run for duration_s, or until `total` operations ended. */
    double duration_s;
    uint64_t total;
    double warmup_s;
    /* Population PREFIX1..PREFIX<users>; 0 on the command line means "= concurrency". */
    uint32_t users;
    const char *prefix;
    const char *password;
    uint32_t client_type;
    const char *json_path;
    int timeout_ms;
    /* Local addresses to bind before connect, used round-robin; none = let the kernel pick. */
    char *source_ips[BENCH_MAX_SOURCE_IPS];
    size_t source_ip_count;
    /* Owns the strings source_ips point into. */
    char *source_ips_storage;
    /* What one party keeps in flight: file, pulls per transfer (0 = 4); msg and group, messages
     * per sender (0 = 1). */
    uint32_t window;
    /* file scenario: bytes per transfer */
    uint64_t file_size;
    /* Message scenarios (msg, group). */
    double rate;      /* messages/s offered in total; 0 = as fast as acked */
    uint32_t senders; /* group: how many members send */
    uint32_t group_id;
    size_t msg_bytes; /* message body size */
} bench_options;

/*
 * Parses `argv` = SCENARIO [OPTIONS...] (argv[0] is the scenario name, as main
 * passes argv + 1). On error writes one line to `err` and returns -1 (the
 * caller exits 2); `--help` returns 1 after printing the usage to stdout.
 * Resets getopt's state itself, so it may be called more than once.
 */
int bench_options_parse(bench_options *opt, int argc, char **argv, FILE *err);

/* Frees what parse allocated. */
void bench_options_free(bench_options *opt);

/* The usage text. */
void bench_options_usage(FILE *out);

#endif
