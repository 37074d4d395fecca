/*
 * bench_histogram.c — see bench_histogram.h.
 */
#include "bench_histogram.h"

#include <string.h>

/* Index of the highest set bit; v != 0. */
static unsigned highest_bit(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < BENCH_HISTOGRAM_SUB_COUNT)
        return (unsigned)v;
    unsigned octave = highest_bit(v); /* >= SUB_BITS */
    unsigned shift = octave - BENCH_HISTOGRAM_SUB_BITS;
    unsigned sub = (unsigned)((v >> shift) & (BENCH_HISTOGRAM_SUB_COUNT - 1));
    return BENCH_HISTOGRAM_SUB_COUNT * (shift + 1) + sub;
}

/* The midpoint of bucket `i`: halves the worst-case error of reporting either edge. */
static uint64_t bucket_midpoint(unsigned i)
{
    if (i < BENCH_HISTOGRAM_SUB_COUNT)
        return i;
    unsigned shift = i / BENCH_HISTOGRAM_SUB_COUNT - 1;
    unsigned sub = i % BENCH_HISTOGRAM_SUB_COUNT;
    uint64_t low = ((uint64_t)BENCH_HISTOGRAM_SUB_COUNT + sub) << shift;
    uint64_t width = (uint64_t)1 << shift;
    return low + (width - 1) / 2;
}

void bench_histogram_reset(bench_histogram *h)
{
    memset(h, 0, sizeof *h);
}

void bench_histogram_record(bench_histogram *h, uint64_t value)
{
    if (h->count == 0 || value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    h->count++;
    h->sum += value;
    h->buckets[bucket_of(value)]++;
}

uint64_t bench_histogram_percentile(const bench_histogram *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    /* Nearest-rank: the rank-th smallest sample, rank = ceil(p/100 * count), at least 1. */
    double exact_rank = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact_rank;
    if ((double)rank < exact_rank)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HISTOGRAM_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bucket_midpoint(i);
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}

double bench_histogram_mean(const bench_histogram *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
