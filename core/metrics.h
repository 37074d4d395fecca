/*
 * metrics.h — counters and gauges exported at GET /metrics in the Prometheus
 * text format. Any thread may update them (one mutex; updates are rare
 * enough per PDU that it never shows up in profiles at our rates).
 */
#ifndef IMGATE_METRICS_H
#define IMGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

void metrics_shutdown(void);

/* Adds to the counter `name` with the label set `labels` (e.g. `reason="idle"`,
 * or "" for none). `name` must be a valid metric name; `help` is recorded the
 * first time the name is seen. */
void metrics_add(const char *name, const char *labels, uint64_t delta);
/* Sets a gauge. */
void metrics_set(const char *name, const char *labels, int64_t value);

/* Renders everything; the caller frees the returned string. */
char *metrics_render(void);

#endif
