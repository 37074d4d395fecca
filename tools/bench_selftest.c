/*
 * bench_selftest.c — see bench_selftest.h.
 */
#include "bench_selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Login.pb-c.h"
#include "bench_histogram.h"
#include "bench_login_request.h"
#include "bench_options.h"
#include "bench_scenario.h"

static int test_count;
static int failed_count;

static void ok(int cond, const char *what)
{
    test_count++;
    if (!cond)
        failed_count++;
    printf("%sok %d - %s\n", cond ? "" : "not ", test_count, what);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of a sorted array: what the histogram approximates. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    double exact_rank = p / 100.0 * (double)n;
    size_t rank = (size_t)exact_rank;
    if ((double)rank < exact_rank)
        rank++;
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void test_histogram(void)
{
    bench_histogram *h = calloc(1, sizeof *h);
    if (!h) {
        ok(0, "histogram: allocate");
        return;
    }
    ok(bench_histogram_percentile(h, 50) == 0 && bench_histogram_mean(h) == 0.0, "empty histogram reports 0");

    for (uint64_t v = 1; v <= 100; v++)
        bench_histogram_record(h, v);
    ok(bench_histogram_percentile(h, 50) == 50 && bench_histogram_percentile(h, 90) == 90 &&
           bench_histogram_percentile(h, 99) == 99 && bench_histogram_percentile(h, 100) == 100,
       "values below 128 are exact (1..100: p50=50 p90=90 p99=99 max=100)");
    ok(bench_histogram_mean(h) == 50.5, "mean of 1..100 is 50.5");

    /* Log-uniform samples from 1 us to ~100 s (an LCG: reproducible, no libc RNG state). */
    enum { N = 200000 };
    uint64_t *samples = malloc(N * sizeof *samples);
    if (!samples) {
        ok(0, "histogram: allocate samples");
        free(h);
        return;
    }
    bench_histogram_reset(h);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned octave = (unsigned)((x >> 33) % 27);
        uint64_t v = ((uint64_t)1 << octave) + ((x >> 7) & (((uint64_t)1 << octave) - 1));
        samples[i] = v;
        bench_histogram_record(h, v);
    }
    qsort(samples, N, sizeof *samples, cmp_u64);
    const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    double worst = 0;
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double exact = (double)exact_percentile(samples, N, ps[i]);
        double got = (double)bench_histogram_percentile(h, ps[i]);
        double err = exact > got ? (exact - got) / exact : (got - exact) / exact;
        if (err > worst)
            worst = err;
    }
    char what[128];
    snprintf(what, sizeof what, "percentiles of %d log-uniform samples within 1%% of exact (worst %.3f%%)", N,
             worst * 100);
    ok(worst <= 0.01, what);
    ok(bench_histogram_percentile(h, 100) == samples[N - 1] && h->min == samples[0], "max and min are exact");
    free(samples);
    free(h);
}

/* Parses a command line given as one string of space-separated words. */
static int parse_words(bench_options *opt, const char *words)
{
    char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", words);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    int rc = bench_options_parse(opt, argc, argv, devnull ? devnull : stderr);
    if (devnull)
        fclose(devnull);
    /* Several failing parses may be chained in one check: release each one's allocations now. */
    if (rc != 0)
        bench_options_free(opt);
    /* The strings point into buf: tests only look at numbers and counts. */
    return rc;
}

static void test_options(void)
{
    bench_options o;
    int rc = parse_words(&o, "login -H 10.0.0.1 -p 9000 -c 50 -d 2.5 --users 200 --client-type android "
                             "--timeout-ms 100 --warmup 1 --source-ips 127.0.0.1,127.0.0.2");
    ok(rc == 0 && o.port == 9000 && o.concurrency == 50 && o.duration_s == 2.5 && o.total == 0 &&
           o.users == 200 && o.client_type == 0x12 && o.timeout_ms == 100 && o.warmup_s == 1.0 &&
           o.source_ip_count == 2,
       "a full command line parses");
    bench_options_free(&o);
    rc = parse_words(&o, "login -c 7 -n 1000");
    ok(rc == 0 && o.users == 7 && o.total == 1000 && o.duration_s == 0 && o.port == 8000 &&
           o.client_type == 1 && o.timeout_ms == 5000,
       "defaults: users = concurrency, port 8000, windows, 5000 ms");
    bench_options_free(&o);
    ok(parse_words(&o, "login -c 5") < 0, "neither -d nor -n is an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -d 1 -n 5") < 0, "both -d and -n is an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -c 10 --users 9 -d 1") < 0, "fewer users than clients is an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -p 70000 -d 1") < 0 && parse_words(&o, "login -p x -d 1") < 0,
       "a bad port is an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -d 1 --source-ips 127.0.0.1,,127.0.0.2") < 0 &&
           parse_words(&o, "login -d 1 --source-ips 127.0.0.1,") < 0,
       "empty --source-ips items are an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -d 1 --client-type fridge") < 0, "an unknown client type is an error");
    bench_options_free(&o);
    ok(parse_words(&o, "login -d 1 --frobnicate") < 0 && parse_words(&o, "login -d") < 0,
       "unknown options and missing values are errors");
    bench_options_free(&o);
    ok(parse_words(&o, "login -d 0 ") < 0 && parse_words(&o, "login -d -1") < 0, "-d must be positive");
    bench_options_free(&o);
}

/* Runs the login scenario's user assignment for C clients over M users. */
static void test_login_users(void)
{
    bench_options o;
    if (parse_words(&o, "login -c 3 --users 7 -d 1") < 0) {
        ok(0, "login scenario: options");
        return;
    }
    void *state = bench_scenario_login.create(&o);
    if (!state) {
        ok(0, "login scenario: create");
        return;
    }
    /* Client k owns k+1, k+1+3, ... <= 7, then starts over. */
    const char *expected[3][4] = {
        {"bench1", "bench4", "bench7", "bench1"},
        {"bench2", "bench5", "bench2", "bench5"},
        {"bench3", "bench6", "bench3", "bench6"},
    };
    int all_match = 1;
    for (unsigned round = 0; round < 4; round++) {
        for (uint32_t k = 0; k < 3; k++) {
            bench_step step;
            if (bench_scenario_login.next_step(state, k, 0, &step) != BENCH_STEP_SEND) {
                all_match = 0;
                continue;
            }
            const IM__Login__IMLoginReq *req = (const IM__Login__IMLoginReq *)step.msg;
            if (strcmp(req->user_name, expected[k][round]) != 0 ||
                strcmp(req->password, "1d28d258250876fb7dde22a17436ef9c") != 0 || !step.measured)
                all_match = 0;
        }
    }
    ok(all_match, "login: client k logs in as users k+1, k+1+C, ... and wraps; password md5hex(bench)");
    bench_step step;
    ok(bench_scenario_login.next_step(state, 0, 1, &step) == BENCH_STEP_DONE, "login: one step per connection");
    bench_scenario_login.destroy(state);
    bench_options_free(&o);
}

static void test_login_request(void)
{
    char hex[BENCH_MD5HEX_LEN];
    ok(bench_md5hex("", hex) == 0 && strcmp(hex, "d41d8cd98f00b204e9800998ecf8427e") == 0, "md5hex(\"\")");
    ok(bench_md5hex("alice123", hex) == 0 && strcmp(hex, "7abdccbea8473767e91378e37850d296") == 0,
       "md5hex(\"alice123\")");
    uint32_t t = 0;
    ok(bench_parse_client_type("windows", &t) == 0 && t == 1 && bench_parse_client_type("MAC", &t) == 0 &&
           t == 2 && bench_parse_client_type("ios", &t) == 0 && t == 0x11 &&
           bench_parse_client_type("android", &t) == 0 && t == 0x12 && bench_parse_client_type("0x21", &t) == 0 &&
           t == 0x21 && bench_parse_client_type("7", &t) == 0 && t == 7,
       "client types by name and by number");
    ok(bench_parse_client_type("", &t) < 0 && bench_parse_client_type("-1", &t) < 0 &&
           bench_parse_client_type("1x", &t) < 0,
       "bad client types are refused");
}

int bench_selftest(void)
{
    test_histogram();
    test_options();
    test_login_users();
    test_login_request();
    printf("1..%d\n", test_count);
    return failed_count == 0 ? 0 : 1;
}
