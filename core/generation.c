/* generation.c — see generation.h. */
#include "generation.h"

#include <dlfcn.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "plugin_config.h"
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
    for (int i = 0; i < g->n_exports; i++)
        free(g->exports[i].name);
    free(g->exports);
    for (int i = 0; i < g->n_imports; i++)
        free(g->imports[i].name);
    free(g->imports);
    free(g->inst);
    if (g->deadline)
        event_free(g->deadline);
    config_free(g->cfg);
    free(g);
}

static int add_handler(imgate_instance *inst, const imgate_handler_def *def, imgate_handler_fn fn)
{
    if (!inst->in_init)
        return IMGATE_ESTATE;
    if (fn == NULL && (def == NULL || def->fn == NULL))
        return IMGATE_EINVAL;
    uint16_t sid = def ? def->service_id : 0, cid = def ? def->command_id : 0;
    generation *g = inst->gen;
    uint64_t key = handler_key(sid, cid);
    const handler_entry *old = u64map_get(&g->handlers, key);
    if (old != NULL) {
        inst->register_failed = 1;
        log_error("event=duplicate_handler plugin=%s other=%s service=0x%04x command=0x%04x", inst->name,
                  old->inst->name, sid, cid);
        return IMGATE_EEXIST;
    }
    handler_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return IMGATE_ENOMEM;
    e->inst = inst;
    e->fn = fn;
    e->typed = def->fn;
    e->request = def->request;
    e->on_malformed = def->on_malformed;
    e->flags = def->flags;
    e->service_id = sid;
    e->command_id = cid;
    char labels[64];
    snprintf(labels, sizeof labels, "service=\"0x%04x\",command=\"0x%04x\"", sid, cid);
    e->malformed = metrics_counter("imgate_malformed_requests_total", labels);
    if (u64map_put(&g->handlers, key, e) != 0) {
        free(e);
        return IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

int generation_register(imgate_instance *inst, uint16_t service_id, uint16_t command_id, uint32_t flags,
                        imgate_handler_fn fn)
{
    imgate_handler_def def = {service_id, command_id, flags, NULL, NULL, NULL};
    return add_handler(inst, &def, fn);
}

int generation_register_typed(imgate_instance *inst, const imgate_handler_def *def)
{
    if (def == NULL)
        return IMGATE_EINVAL;
    return add_handler(inst, def, NULL);
}

static int valid_service_name(const char *name)
{
    return name != NULL && *name != '\0' && strlen(name) < 128;
}

int generation_export(imgate_instance *inst, const char *name, uint32_t version, const void *table)
{
    if (!inst->in_init)
        return IMGATE_ESTATE;
    if (!valid_service_name(name) || table == NULL)
        return IMGATE_EINVAL;
    generation *g = inst->gen;
    for (int i = 0; i < g->n_exports; i++)
        if (strcmp(g->exports[i].name, name) == 0) {
            inst->register_failed = 1;
            log_error("event=duplicate_service plugin=%s other=%s service=%s", inst->name, g->exports[i].inst->name,
                      name);
            return IMGATE_EEXIST;
        }
    service_export *n = realloc(g->exports, sizeof *n * (size_t)(g->n_exports + 1));
    if (n == NULL)
        return IMGATE_ENOMEM;
    g->exports = n;
    service_export *e = &g->exports[g->n_exports];
    e->name = strdup(name);
    if (e->name == NULL)
        return IMGATE_ENOMEM;
    e->version = version;
    e->table = table;
    e->inst = inst;
    g->n_exports++;
    return IMGATE_OK;
}

int generation_import(imgate_instance *inst, const char *name, uint32_t min_version, uint32_t flags,
                      imgate_service *slot)
{
    if (!inst->in_init)
        return IMGATE_ESTATE;
    if (!valid_service_name(name) || slot == NULL)
        return IMGATE_EINVAL;
    generation *g = inst->gen;
    service_import *n = realloc(g->imports, sizeof *n * (size_t)(g->n_imports + 1));
    if (n == NULL)
        return IMGATE_ENOMEM;
    g->imports = n;
    service_import *im = &g->imports[g->n_imports];
    im->name = strdup(name);
    if (im->name == NULL)
        return IMGATE_ENOMEM;
    im->min_version = min_version;
    im->flags = flags;
    im->slot = slot;
    im->inst = inst;
    memset(slot, 0, sizeof *slot);
    g->n_imports++;
    return IMGATE_OK;
}

/* Fills every import slot once all plugins have run init. Returns 0, or -1 with the reason. */
static int resolve_imports(generation *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->n_imports; i++) {
        service_import *im = &g->imports[i];
        const service_export *ex = NULL;
        for (int k = 0; k < g->n_exports; k++)
            if (strcmp(g->exports[k].name, im->name) == 0)
                ex = &g->exports[k];
        if (ex == NULL || ex->version < im->min_version) {
            if (im->flags & IMGATE_IMPORT_OPTIONAL)
                continue;
            if (ex == NULL)
                snprintf(err, errlen, "plugin %s: imports service '%s' (version %u or later), which no enabled plugin exports",
                         im->inst->name, im->name, im->min_version);
            else
                snprintf(err, errlen, "plugin %s: imports service '%s' version %u or later, but plugin %s exports version %u",
                         im->inst->name, im->name, im->min_version, ex->inst->name, ex->version);
            return -1;
        }
        im->slot->table = ex->table;
        im->slot->state = ex->inst->state;
        im->slot->version = ex->version;
    }
    return 0;
}

imgate_instance *generation_instance(const generation *g, const char *name)
{
    for (int i = 0; i < g->n_inst; i++)
        if (strcmp(g->inst[i]->name, name) == 0)
            return g->inst[i];
    return NULL;
}

/* The declared keys of a descriptor, when it is new enough to carry them. */
static const imgate_config_key *declared_config(const imgate_plugin *d)
{
    if (d->abi_minor < 2 || d->struct_size < offsetof(imgate_plugin, config) + sizeof d->config)
        return NULL;
    return d->config;
}

/* Unknown keys and bad values of a plugin that declares its keys refuse the load. */
static int check_plugin_config(const config *cfg, const char *name, const imgate_plugin *d, char *err, size_t errlen)
{
    const imgate_config_key *keys = declared_config(d);
    if (keys == NULL)
        return 0; /* a 1.0/1.1 plugin reads its section itself */
    return plugin_config_check(cfg, name, keys, err, errlen);
}

int generation_check(const config *cfg, const char *copy_dir, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->n_enable; i++) {
        const char *name = cfg->enable[i];
        const imgate_plugin *d;
        char why[1024];
        void *dl = plugin_open(cfg->plugin_dir, name, copy_dir, 0, &d, why, sizeof why);
        if (dl == NULL) {
            snprintf(err, errlen, "%s:0: plugin %s: %s", cfg->path, name, why);
            return -1;
        }
        int rc = check_plugin_config(cfg, name, d, err, errlen);
        dlclose(dl);
        if (rc != 0)
            return -1;
    }
    return 0;
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
        inst->config = declared_config(inst->desc);
        if (check_plugin_config(cfg, name, inst->desc, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s", why);
            destroy(g);
            return NULL;
        }
        inst->in_init = 1;
        int rc = inst->desc->init(inst, api, &inst->state);
        inst->in_init = 0;
        if (rc == 0 && inst->register_failed) {
            snprintf(err, errlen, "plugin %s: registers a (service, command) or service another plugin already has",
                     name);
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
    if (resolve_imports(g, err, errlen) != 0) {
        destroy(g);
        return NULL;
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
