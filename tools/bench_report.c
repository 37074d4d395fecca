/*
 * bench_report.c — see bench_report.h.
 */
#include "bench_report.h"

#include <string.h>

static double rate_per_s(const bench_results *r)
{
    return r->measured_s > 0 ? (double)r->completed / r->measured_s : 0.0;
}

/* Microseconds to milliseconds. */
static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void table_latency_row(FILE *out, const char *label, const bench_histogram *h)
{
    if (h->count == 0) {
        fprintf(out, "  %-14s (no samples)\n", label);
        return;
    }
    fprintf(out, "  %-14s p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f  (%llu samples)\n", label,
            ms(bench_histogram_percentile(h, 50)), ms(bench_histogram_percentile(h, 90)),
            ms(bench_histogram_percentile(h, 99)), ms(h->max), bench_histogram_mean(h) / 1000.0,
            (unsigned long long)h->count);
}

void bench_report_table(FILE *out, const bench_options *opt, const bench_scenario *scenario,
                        const bench_results *r)
{
    fprintf(out, "  %-14s %s\n", "scenario", scenario->name);
    fprintf(out, "  %-14s %s:%u\n", "target", opt->host, (unsigned)opt->port);
    fprintf(out, "  %-14s %u\n", "concurrency", (unsigned)opt->concurrency);
    fprintf(out, "  %-14s %.2f s measured (after %.2f s warmup)\n", "duration", r->measured_s, opt->warmup_s);
    fprintf(out, "  %-14s %llu %s\n", "completed", (unsigned long long)r->completed, scenario->operation);
    fprintf(out, "  %-14s %.1f %s/s\n", "throughput", rate_per_s(r), scenario->operation);
    fprintf(out, "  %-14s %llu\n", "failed", (unsigned long long)r->failed);
    if (r->abandoned)
        fprintf(out, "  %-14s %llu (in flight when the time was up, not counted)\n", "abandoned",
                (unsigned long long)r->abandoned);
    table_latency_row(out, "latency ms", r->latency_us);
    table_latency_row(out, "connect ms", r->connect_us);
    if (r->failure_count == 0)
        return;
    fprintf(out, "  failures by reason:\n");
    for (size_t i = 0; i < r->failure_count; i++) {
        const bench_failure *f = &r->failures[i];
        fprintf(out, "    %10llu  %s", (unsigned long long)f->count, bench_failure_reason_name(f->reason));
        if (f->reason == BENCH_FAIL_RESULT_CODE)
            fprintf(out, " %u", (unsigned)f->code);
        if (f->detail[0])
            fprintf(out, ": %s", f->detail);
        fputc('\n', out);
    }
}

/* A JSON string; bytes >= 0x80 pass through (result strings are UTF-8, often Chinese). */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_latency(FILE *out, const char *name, const bench_histogram *h)
{
    fprintf(out, "\"%s\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name,
            (unsigned long long)h->count, ms(bench_histogram_percentile(h, 50)),
            ms(bench_histogram_percentile(h, 90)), ms(bench_histogram_percentile(h, 99)), ms(h->max),
            bench_histogram_mean(h) / 1000.0);
}

int bench_report_json(FILE *out, const bench_options *opt, const bench_scenario *scenario, const bench_results *r)
{
    fputs("{\"scenario\":", out);
    json_string(out, scenario->name);
    fputs(",\"host\":", out);
    json_string(out, opt->host);
    fprintf(out, ",\"port\":%u,\"concurrency\":%u,\"users\":%u,\"client_type\":%u,\"timeout_ms\":%d",
            (unsigned)opt->port, (unsigned)opt->concurrency, (unsigned)opt->users, (unsigned)opt->client_type,
            opt->timeout_ms);
    if (opt->total)
        fprintf(out, ",\"total\":%llu", (unsigned long long)opt->total);
    else
        fprintf(out, ",\"requested_duration_s\":%.3f", opt->duration_s);
    fprintf(out, ",\"warmup_s\":%.3f,\"duration_s\":%.3f,\"operation\":", opt->warmup_s, r->measured_s);
    json_string(out, scenario->operation);
    fprintf(out, ",\"completed\":%llu,\"failed\":%llu,\"abandoned\":%llu,\"rate_per_s\":%.1f,",
            (unsigned long long)r->completed, (unsigned long long)r->failed, (unsigned long long)r->abandoned,
            rate_per_s(r));
    json_latency(out, "latency_ms", r->latency_us);
    fputc(',', out);
    json_latency(out, "connect_ms", r->connect_us);
    fputs(",\"failures\":[", out);
    for (size_t i = 0; i < r->failure_count; i++) {
        const bench_failure *f = &r->failures[i];
        fprintf(out, "%s{\"reason\":\"%s\",\"code\":%u,\"detail\":", i ? "," : "",
                bench_failure_reason_name(f->reason), (unsigned)f->code);
        json_string(out, f->detail);
        fprintf(out, ",\"count\":%llu}", (unsigned long long)f->count);
    }
    fputs("]}\n", out);
    return ferror(out) ? -1 : 0;
}
