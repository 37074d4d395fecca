/* pdu_metrics.c — see pdu_metrics.h. */
#include "pdu_metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "u64map.h"

typedef struct pdu_series {
    metric_series *pdus_in, *pdus_out;
} pdu_series;

static u64map series;
static int ready;
static metric_series *bytes_in, *bytes_out;

static void init_once(void)
{
    if (ready)
        return;
    u64map_init(&series);
    bytes_in = metrics_counter("imgate_bytes_in_total", "");
    bytes_out = metrics_counter("imgate_bytes_out_total", "");
    ready = 1;
}

static pdu_series *get(uint16_t sid, uint16_t cid)
{
    init_once();
    uint64_t key = (UINT64_C(1) << 32) | ((uint64_t)sid << 16) | cid;
    pdu_series *s = u64map_get(&series, key);
    if (s != NULL)
        return s;
    s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    char labels[64];
    snprintf(labels, sizeof labels, "service=\"0x%04x\",command=\"0x%04x\"", sid, cid);
    s->pdus_in = metrics_counter("imgate_pdus_in_total", labels);
    s->pdus_out = metrics_counter("imgate_pdus_out_total", labels);
    if (u64map_put(&series, key, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void pdu_metrics_in(uint16_t sid, uint16_t cid, size_t bytes)
{
    pdu_series *s = get(sid, cid);
    if (s)
        metrics_inc(s->pdus_in, 1);
    metrics_inc(bytes_in, bytes);
}

void pdu_metrics_in_bytes(size_t bytes)
{
    init_once();
    metrics_inc(bytes_in, bytes);
}

void pdu_metrics_out(uint16_t sid, uint16_t cid, size_t bytes)
{
    pdu_series *s = get(sid, cid);
    if (s)
        metrics_inc(s->pdus_out, 1);
    metrics_inc(bytes_out, bytes);
}

void pdu_metrics_free(void)
{
    if (!ready)
        return;
    size_t pos = 0;
    void *v;
    while (u64map_next(&series, &pos, NULL, &v))
        free(v);
    u64map_free(&series);
    ready = 0;
}
