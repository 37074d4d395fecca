/* metrics.c — see metrics.h. Series are allocated one by one (handles stay put) and found by a
 * chained hash of name and labels; the insertion-ordered list drives rendering. */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct imgate_metric {
    char *name;
    char *labels;
    int64_t value; /* updated with __atomic builtins */
    int is_gauge;
    struct imgate_metric *hash_next;
    struct imgate_metric *next; /* insertion order */
};

#define BUCKETS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static metric_series *buckets[BUCKETS];
static metric_series *first, *last;

static unsigned hash(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ '{') * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % BUCKETS;
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&lock);
    for (metric_series *s = first, *n; s; s = n) {
        n = s->next;
        free(s->name);
        free(s->labels);
        free(s);
    }
    first = last = NULL;
    memset(buckets, 0, sizeof buckets);
    pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static metric_series *find(const char *name, const char *labels, int is_gauge)
{
    unsigned b = hash(name, labels);
    for (metric_series *s = buckets[b]; s; s = s->hash_next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    metric_series *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (s->name == NULL || s->labels == NULL) {
        free(s->name);
        free(s->labels);
        free(s);
        return NULL;
    }
    s->is_gauge = is_gauge;
    s->hash_next = buckets[b];
    buckets[b] = s;
    if (last)
        last->next = s;
    else
        first = s;
    last = s;
    return s;
}

static metric_series *lookup(const char *name, const char *labels, int is_gauge)
{
    pthread_mutex_lock(&lock);
    metric_series *s = find(name, labels ? labels : "", is_gauge);
    pthread_mutex_unlock(&lock);
    return s;
}

metric_series *metrics_counter(const char *name, const char *labels) { return lookup(name, labels, 0); }
metric_series *metrics_gauge(const char *name, const char *labels) { return lookup(name, labels, 1); }

void metrics_inc(metric_series *s, uint64_t delta)
{
    if (s)
        __atomic_fetch_add(&s->value, (int64_t)delta, __ATOMIC_RELAXED);
}

void metrics_gauge_set(metric_series *s, int64_t value)
{
    if (s)
        __atomic_store_n(&s->value, value, __ATOMIC_RELAXED);
}

void metrics_gauge_add(metric_series *s, int64_t delta)
{
    if (s)
        __atomic_fetch_add(&s->value, delta, __ATOMIC_RELAXED);
}

int64_t metrics_value(const metric_series *s) { return s ? __atomic_load_n(&s->value, __ATOMIC_RELAXED) : 0; }

void metrics_add(const char *name, const char *labels, uint64_t delta) { metrics_inc(metrics_counter(name, labels), delta); }

void metrics_set(const char *name, const char *labels, int64_t value)
{
    metrics_gauge_set(metrics_gauge(name, labels), value);
}

char *metrics_render(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    /* One TYPE line per metric name, before its first series; then all its series. */
    for (metric_series *s = first; s; s = s->next) {
        int seen = 0;
        for (metric_series *p = first; p != s; p = p->next)
            if (strcmp(p->name, s->name) == 0) {
                seen = 1;
                break;
            }
        if (seen)
            continue;
        fprintf(f, "# TYPE %s %s\n", s->name, s->is_gauge ? "gauge" : "counter");
        for (metric_series *t = s; t; t = t->next) {
            if (strcmp(t->name, s->name) != 0)
                continue;
            long long v = (long long)__atomic_load_n(&t->value, __ATOMIC_RELAXED);
            if (t->labels[0])
                fprintf(f, "%s{%s} %lld\n", t->name, t->labels, v);
            else
                fprintf(f, "%s %lld\n", t->name, v);
        }
    }
    pthread_mutex_unlock(&lock);
    fclose(f);
    return out;
}
