/* metrics.c — see metrics.h. A flat array is plenty: there are a few hundred series at most. */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
    char *name;
    char *labels;
    int64_t value;
    int is_gauge;
} series;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static series *all;
static size_t n_all, cap_all;

void metrics_shutdown(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_all; i++) {
        free(all[i].name);
        free(all[i].labels);
    }
    free(all);
    all = NULL;
    n_all = cap_all = 0;
    pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static series *find(const char *name, const char *labels, int create, int is_gauge)
{
    for (size_t i = 0; i < n_all; i++)
        if (strcmp(all[i].name, name) == 0 && strcmp(all[i].labels, labels) == 0)
            return &all[i];
    if (!create)
        return NULL;
    if (n_all == cap_all) {
        size_t ncap = cap_all ? cap_all * 2 : 64;
        series *n = realloc(all, ncap * sizeof *n);
        if (n == NULL)
            return NULL;
        all = n;
        cap_all = ncap;
    }
    series *s = &all[n_all];
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (s->name == NULL || s->labels == NULL) {
        free(s->name);
        free(s->labels);
        return NULL;
    }
    s->value = 0;
    s->is_gauge = is_gauge;
    n_all++;
    return s;
}

void metrics_add(const char *name, const char *labels, uint64_t delta)
{
    pthread_mutex_lock(&lock);
    series *s = find(name, labels ? labels : "", 1, 0);
    if (s)
        s->value += (int64_t)delta;
    pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *labels, int64_t value)
{
    pthread_mutex_lock(&lock);
    series *s = find(name, labels ? labels : "", 1, 1);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&lock);
}

char *metrics_render(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    /* One TYPE line per metric name, before its first series. */
    for (size_t i = 0; i < n_all; i++) {
        int first = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(all[j].name, all[i].name) == 0) {
                first = 0;
                break;
            }
        if (!first)
            continue;
        fprintf(f, "# TYPE %s %s\n", all[i].name, all[i].is_gauge ? "gauge" : "counter");
        for (size_t j = i; j < n_all; j++) {
            if (strcmp(all[j].name, all[i].name) != 0)
                continue;
            if (all[j].labels[0])
                fprintf(f, "%s{%s} %lld\n", all[j].name, all[j].labels, (long long)all[j].value);
            else
                fprintf(f, "%s %lld\n", all[j].name, (long long)all[j].value);
        }
    }
    pthread_mutex_unlock(&lock);
    fclose(f);
    return out;
}
