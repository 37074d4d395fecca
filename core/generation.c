/* generation.c — see generation.h. */
#include "generation.h"

#include <dlfcn.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "plugin_loader.h"
#include "plugin_timer.h"

static generation *retired_list;
static int retired_count;

int generation_retired_count(void) { return retired_count; }

static void instance_free(imgate_instance *inst)
{
    if (inst->dl)
        dlclose(inst->dl);
    free(inst->name);
    free(inst->section);
    free(inst);
}

/* Runs fini of every initialised plugin (reverse order) and unloads them. */
static void destroy(generation *g)
{
    for (int i = g->n_inst - 1; i >= 0; i--) {
        imgate_instance *inst = g->inst[i];
        plugin_timers_cancel_all(inst);
        if (inst->initialized && inst->desc->fini)
            inst->desc->fini(inst->state);
    }
    for (int i = 0; i < g->n_inst; i++)
        instance_free(g->inst[i]);
    size_t pos = 0;
    void *v;
    while (u64map_next(&g->handlers, &pos, NULL, &v))
        free(v);
    u64map_free(&g->handlers);
    free(g->inst);
    if (g->deadline)
        event_free(g->deadline);
    config_free(g->cfg);
    free(g);
}

int generation_register(imgate_instance *inst, uint16_t service_id, uint16_t command_id, uint32_t flags,
                        imgate_handler_fn fn)
{
    if (!inst->in_init)
        return IMGATE_ESTATE;
    if (fn == NULL)
        return IMGATE_EINVAL;
    generation *g = inst->gen;
    uint64_t key = handler_key(service_id, command_id);
    const handler_entry *old = u64map_get(&g->handlers, key);
    if (old != NULL) {
        inst->register_failed = 1;
        log_error("event=duplicate_handler plugin=%s other=%s service=0x%04x command=0x%04x", inst->name,
                  old->inst->name, service_id, command_id);
        return IMGATE_EEXIST;
    }
    handler_entry *e = malloc(sizeof *e);
    if (e == NULL)
        return IMGATE_ENOMEM;
    e->inst = inst;
    e->fn = fn;
    e->flags = flags;
    if (u64map_put(&g->handlers, key, e) != 0) {
        free(e);
        return IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

const handler_entry *generation_handler(const generation *g, uint16_t service_id, uint16_t command_id)
{
    return u64map_get(&g->handlers, handler_key(service_id, command_id));
}

generation *generation_build(config *cfg, uint64_t number, const char *copy_dir, const imgate_core_api *api,
                             char *err, size_t errlen)
{
    generation *g = calloc(1, sizeof *g);
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        config_free(cfg);
        return NULL;
    }
    g->number = number;
    g->refs = 1;
    g->cfg = cfg;
    u64map_init(&g->handlers);
    g->inst = calloc((size_t)cfg->n_enable + 1, sizeof *g->inst);
    if (g->inst == NULL) {
        snprintf(err, errlen, "out of memory");
        destroy(g);
        return NULL;
    }
    for (int i = 0; i < cfg->n_enable; i++) {
        const char *name = cfg->enable[i];
        imgate_instance *inst = calloc(1, sizeof *inst);
        if (inst == NULL) {
            snprintf(err, errlen, "out of memory");
            destroy(g);
            return NULL;
        }
        inst->gen = g;
        inst->name = strdup(name);
        size_t sl = strlen(name) + 8;
        inst->section = malloc(sl);
        if (inst->name == NULL || inst->section == NULL) {
            instance_free(inst);
            snprintf(err, errlen, "out of memory");
            destroy(g);
            return NULL;
        }
        snprintf(inst->section, sl, "plugin.%s", name);
        g->inst[g->n_inst++] = inst;

        char why[1024];
        inst->dl = plugin_open(cfg->plugin_dir, name, copy_dir, number, &inst->desc, why, sizeof why);
        if (inst->dl == NULL) {
            snprintf(err, errlen, "plugin %s: %s", name, why);
            destroy(g);
            return NULL;
        }
        inst->in_init = 1;
        int rc = inst->desc->init(inst, api, &inst->state);
        inst->in_init = 0;
        if (rc == 0 && inst->register_failed) {
            snprintf(err, errlen, "plugin %s: registers a (service, command) another handler already has", name);
            inst->initialized = 1; /* its init ran: fini must too */
            plugin_timers_cancel_all(inst);
            destroy(g);
            return NULL;
        }
        if (rc != 0) {
            snprintf(err, errlen, "plugin %s: init failed (returned %d)", name, rc);
            /* Its own timers may already be armed: init failing means none of it runs. */
            plugin_timers_cancel_all(inst);
            destroy(g);
            return NULL;
        }
        inst->initialized = 1;
        log_info("event=plugin_loaded gen=%llu plugin=%s version=\"%s\" abi=%u.%u",
                 (unsigned long long)number, name, inst->desc->version ? inst->desc->version : "",
                 inst->desc->abi_major, inst->desc->abi_minor);
    }
    return g;
}

void generation_ref(generation *g) { g->refs++; }

static void unlink_retired(generation *g)
{
    for (generation **p = &retired_list; *p; p = &(*p)->next_retired)
        if (*p == g) {
            *p = g->next_retired;
            retired_count--;
            return;
        }
}

void generation_unref(generation *g)
{
    if (--g->refs > 0)
        return;
    if (!g->retired) {
        /* Only a retired generation drops to zero: the current one holds its own reference. */
        log_error("event=generation_refcount_bug gen=%llu", (unsigned long long)g->number);
        return;
    }
    unlink_retired(g);
    log_info("event=generation_freed gen=%llu late=%d", (unsigned long long)g->number, g->past_deadline);
    destroy(g);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    generation *g = arg;
    g->past_deadline = 1;
    metrics_add("imgate_generations_leaked_total", "", 1);
    log_error("event=generation_leaked gen=%llu refs=%d reason=\"still in use after the drain deadline; its code stays loaded\"",
              (unsigned long long)g->number, g->refs);
}

void generation_retire(generation *g, struct event_base *base, uint32_t drain_ms)
{
    g->retired = 1;
    for (int i = 0; i < g->n_inst; i++)
        plugin_timers_cancel_all(g->inst[i]);
    g->next_retired = retired_list;
    retired_list = g;
    retired_count++;
    if (base != NULL) {
        g->deadline = evtimer_new(base, on_deadline, g);
        struct timeval tv = {drain_ms / 1000, (drain_ms % 1000) * 1000};
        if (g->deadline)
            evtimer_add(g->deadline, &tv);
    }
    generation_unref(g);
}
