/*
 * generation.h — one complete, immutable set of loaded plugins, their handler
 * map and the configuration they were initialised with.
 *
 * Reload builds a new generation beside the running one and swaps a pointer;
 * the old one is retired and freed (fini, dlclose) only when nothing that
 * started in it is still in flight. Every handler call, worker job, Redis
 * command and armed timer holds a reference. Loop thread only.
 */
#ifndef IMGATE_GENERATION_H
#define IMGATE_GENERATION_H

#include <stdint.h>

#include "config.h"
#include "imgate/plugin.h"
#include "metrics.h"
#include "u64map.h"

struct event;
struct event_base;
typedef struct generation generation;
typedef struct plugin_timer plugin_timer;

/* The opaque imgate_instance of the plugin ABI: one plugin in one generation. */
struct imgate_instance {
    generation *gen;
    char *name;
    char *section; /* "plugin.NAME" */
    void *dl;
    const imgate_plugin *desc;
    void *state;
    int initialized;
    int in_init;   /* register_* calls are accepted only while this is set */
    int register_failed; /* a registration was refused: the load fails even if init ignores it */
    imgate_close_hook_fn close_hook;
    imgate_close_hook_fn login_hook;
    imgate_close_hook_fn kick_hook;
    imgate_drain_hook_fn drain_hook;
    struct imgate_timer *timers; /* armed timers, cancelled on retire */
    const imgate_config_key *config; /* declared keys (ABI 1.2), or NULL */
};

typedef struct handler_entry {
    imgate_instance *inst;
    imgate_handler_fn fn;                      /* 1.0 form, or NULL */
    imgate_typed_handler_fn typed;             /* 1.2 form, or NULL */
    const ProtobufCMessageDescriptor *request; /* typed: what the body must decode as (may be NULL) */
    imgate_handler_fn on_malformed;
    uint32_t flags;
    uint16_t service_id, command_id;
    metric_series *malformed;                  /* imgate_malformed_requests_total for this command */
} handler_entry;

/* Services between the plugins of one generation (export_service / import_service). */
typedef struct service_export {
    char *name;
    uint32_t version;
    const void *table;
    imgate_instance *inst;
} service_export;

typedef struct service_import {
    char *name;
    uint32_t min_version;
    uint32_t flags;
    imgate_service *slot;
    imgate_instance *inst;
} service_import;

struct generation {
    uint64_t number;
    int refs;
    config *cfg;
    imgate_instance **inst;
    int n_inst;
    u64map handlers; /* handler_key() -> handler_entry* */
    service_export *exports;
    int n_exports;
    service_import *imports;
    int n_imports;
    int retired;
    int past_deadline;
    struct event *deadline;
    generation *next_retired;
};

static inline uint64_t handler_key(uint16_t service_id, uint16_t command_id)
{
    /* Bit 32 keeps the key non-zero even for (0, 0): the map reserves 0. */
    return (UINT64_C(1) << 32) | ((uint64_t)service_id << 16) | command_id;
}

/* Loads every plugin `cfg` enables and runs their init. Takes ownership of
 * `cfg`. Returns the generation with one reference held by the caller, or NULL
 * with the reason in err (everything loaded so far is undone). */
generation *generation_build(config *cfg, uint64_t number, const char *copy_dir, const imgate_core_api *api,
                             char *err, size_t errlen);
/* Adds a handler (1.0 form when def->fn is NULL and `fn` given, else the typed def) while the
 * instance's init runs. Returns an IMGATE_* code. */
int generation_register(imgate_instance *inst, uint16_t service_id, uint16_t command_id, uint32_t flags,
                        imgate_handler_fn fn);
int generation_register_typed(imgate_instance *inst, const imgate_handler_def *def);
/* export_service / import_service, while the instance's init runs. */
int generation_export(imgate_instance *inst, const char *name, uint32_t version, const void *table);
int generation_import(imgate_instance *inst, const char *name, uint32_t min_version, uint32_t flags,
                      imgate_service *slot);
/* The instance of plugin `name` in `g`, or NULL. */
imgate_instance *generation_instance(const generation *g, const char *name);

/* For `imgated -t`: opens every plugin `cfg` enables (without running any of its code), checks its
 * descriptor and its declared configuration. Returns 0, or -1 with the reason in err. */
int generation_check(const config *cfg, const char *copy_dir, char *err, size_t errlen);
const handler_entry *generation_handler(const generation *g, uint16_t service_id, uint16_t command_id);

void generation_ref(generation *g);
void generation_unref(generation *g);
/* Stops the generation's timers, drops the caller's reference and frees it
 * once its count reaches zero; past `drain_ms` a still-busy generation is
 * logged loudly and its code stays loaded. */
void generation_retire(generation *g, struct event_base *base, uint32_t drain_ms);
/* Generations retired but still referenced. */
int generation_retired_count(void);

#endif
