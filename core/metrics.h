/*
 * metrics.h — counters and gauges exported at GET /metrics in the Prometheus
 * text format.
 *
 * Hot paths register a series once and keep the handle: metrics_inc() is one
 * atomic add, with no formatting and no look-up. metrics_add()/metrics_set()
 * find (or create) the series by name and labels through a hash table under
 * a mutex; use them for rare events. Any thread may call anything here.
 */
#ifndef IMGATE_METRICS_H
#define IMGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct imgate_metric metric_series; /* the plugin ABI's opaque imgate_metric */

void metrics_shutdown(void);

/* The counter (or gauge) `name` with the label set `labels` (e.g.
 * `reason="idle"`, or "" for none), created on first use. The handle stays
 * valid until metrics_shutdown. NULL only when out of memory. */
metric_series *metrics_counter(const char *name, const char *labels);
metric_series *metrics_gauge(const char *name, const char *labels);
/* Atomic updates through a handle (NULL is ignored). */
void metrics_inc(metric_series *s, uint64_t delta);
void metrics_gauge_set(metric_series *s, int64_t value);
void metrics_gauge_add(metric_series *s, int64_t delta);
int64_t metrics_value(const metric_series *s);

/* By name, for rare events: counter += delta / gauge = value. */
void metrics_add(const char *name, const char *labels, uint64_t delta);
void metrics_set(const char *name, const char *labels, int64_t value);

/* Renders everything; the caller frees the returned string. */
char *metrics_render(void);

#endif
