/*
 * group — TeamTalk groups as an imgate plugin: init, configuration and the
 * handler table. It exports imgate.groups, through which the message plugin
 * (and any other) reads a group and its members.
 */
#include <stdlib.h>

#include "group.h"

const imgate_core_api *group_api;

static const imgate_config_key group_config_keys[] = {
    {NULL, 0, 0, 0, NULL, NULL},
};

static int group_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    group_api = api;
    group_plugin *gp = calloc(1, sizeof *gp);
    if (gp == NULL)
        return -1;
    gp->self = self;
    gp->cache_hits = api->metric_counter(self, "group_cache_hits");
    gp->cache_rebuilds = api->metric_counter(self, "group_cache_rebuilds");
    gp->lookup_failures = api->metric_counter(self, "group_lookup_failures");
    if (api->export_service(self, IMGATE_GROUPS_SERVICE, IMGATE_GROUPS_VERSION, &group_service) != IMGATE_OK) {
        free(gp);
        return -1;
    }
    *state = gp;
    return 0;
}

static void group_fini(void *state) { free(state); }

IMGATE_PLUGIN(.name = "group", .version = "0.1", .init = group_init, .fini = group_fini, .config = group_config_keys);
