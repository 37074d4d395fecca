/*
 * bench_histogram.h — a latency histogram with bounded relative error.
 *
 * Log-linear buckets (the HdrHistogram idea): values below 128 are exact; above,
 * every power of two is split into 128 equal buckets, so a reported
 * percentile is within 1/256 (0.4%) of a value actually recorded. Constant
 * memory (~60 KiB) whatever the run length, and recording is O(1), so a long
 * run at thousands of operations per second costs nothing to keep.
 *
 * Values are unsigned integers in whatever unit the caller picks (the bench
 * records microseconds).
 */
#ifndef BENCH_HISTOGRAM_H
#define BENCH_HISTOGRAM_H

#include <stdint.h>

#define BENCH_HISTOGRAM_SUB_BITS 7
#define BENCH_HISTOGRAM_SUB_COUNT (1u << BENCH_HISTOGRAM_SUB_BITS)
/* Exact buckets 0..127, then 128 per octave for the octaves 2^7 .. 2^63. */
#define BENCH_HISTOGRAM_BUCKETS (BENCH_HISTOGRAM_SUB_COUNT * (64 - BENCH_HISTOGRAM_SUB_BITS + 1))

typedef struct {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    /* For the mean; 2^64 microseconds is far beyond any run. */
    uint64_t sum;
    uint64_t buckets[BENCH_HISTOGRAM_BUCKETS];
} bench_histogram;

void bench_histogram_reset(bench_histogram *h);
void bench_histogram_record(bench_histogram *h, uint64_t value);

/*
 * The value at percentile `p` (0 < p <= 100): the smallest recorded value that
 * at least p% of the samples do not exceed, as the midpoint of its bucket,
 * clamped to [min, max] (so p=100 is the exact maximum). 0 when empty.
 */
uint64_t bench_histogram_percentile(const bench_histogram *h, double p);

/* Mean of the recorded values, 0 when empty. */
double bench_histogram_mean(const bench_histogram *h);

#endif
