/*
 * group — TeamTalk groups as an imgate plugin: its declared configuration
 * ([plugin.group], checked by the core before init), init and the handler
 * table. It exports imgate.groups, through which the message plugin (and any
 * other) reads a group and its members. See README.md.
 */
#include <stdlib.h>

#include "IM.Group.pb-c.h"
#include "group.h"

const imgate_core_api *group_api;

static const imgate_config_key group_config_keys[] = {
    {"max_members", IMGATE_CFG_INT, 1, 100000, "500", NULL},
    {"max_info_groups", IMGATE_CFG_INT, 1, 100000, "1000", NULL},
    {"max_list_groups", IMGATE_CFG_INT, 1, 1000000, "5000", NULL},
    {"cache_ttl_s", IMGATE_CFG_INT, 0, 30 * 86400, "3600", NULL},
    {"missing_ttl_s", IMGATE_CFG_INT, 1, 86400, "30", NULL},
    {"writes_per_minute", IMGATE_CFG_INT, 1, 1000000, "60", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

/* Every command waits for MySQL or Redis: tracked, so a client cannot queue them without end. */
#define TRACKED IMGATE_HANDLER_TRACKED
static const imgate_handler_def group_handlers[] = {
    {SID_GROUP, CID_GROUP_NORMAL_LIST_REQUEST, TRACKED, &im__group__imnormal_group_list_req__descriptor,
     group_on_normal_list, group_on_malformed},
    {SID_GROUP, CID_GROUP_INFO_REQUEST, TRACKED, &im__group__imgroup_info_list_req__descriptor, group_on_info,
     group_on_malformed},
    {SID_GROUP, CID_GROUP_CREATE_REQUEST, TRACKED, &im__group__imgroup_create_req__descriptor, group_on_create,
     group_on_malformed},
    {SID_GROUP, CID_GROUP_CHANGE_MEMBER_REQUEST, TRACKED, &im__group__imgroup_change_member_req__descriptor,
     group_on_change_members, group_on_malformed},
    {SID_GROUP, CID_GROUP_SHIELD_GROUP_REQUEST, TRACKED, &im__group__imgroup_shield_req__descriptor, group_on_shield,
     group_on_malformed},
};

void group_on_malformed(void *state, const imgate_request *req)
{
    /* As the reference: no answer, the connection stays (the core counted and logged it). */
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    group_api->request_done(&to);
}

static void read_config(imgate_instance *self, group_config *cfg)
{
    cfg->max_members = (uint32_t)group_api->config_int(self, "max_members");
    cfg->max_info_groups = (uint32_t)group_api->config_int(self, "max_info_groups");
    cfg->max_list_groups = (uint32_t)group_api->config_int(self, "max_list_groups");
    cfg->cache_ttl_s = (uint32_t)group_api->config_int(self, "cache_ttl_s");
    cfg->missing_ttl_s = (uint32_t)group_api->config_int(self, "missing_ttl_s");
    cfg->writes_per_minute = (uint32_t)group_api->config_int(self, "writes_per_minute");
}

static int group_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    group_api = api;
    group_plugin *gp = calloc(1, sizeof *gp);
    if (gp == NULL)
        return -1;
    gp->self = self;
    read_config(self, &gp->cfg);
    u64map_init(&gp->loading);
    gp->cache_hits = api->metric_counter(self, "group_cache_hits");
    gp->cache_rebuilds = api->metric_counter(self, "group_cache_rebuilds");
    gp->cache_misses_coalesced = api->metric_counter(self, "group_cache_misses_coalesced");
    gp->lookup_failures = api->metric_counter(self, "group_lookup_failures");
    gp->created = api->metric_counter(self, "groups_created");
    gp->changed = api->metric_counter(self, "group_member_changes");
    gp->shields = api->metric_counter(self, "group_shield_changes");
    gp->refused = api->metric_counter(self, "group_requests_refused");
    gp->db_failures = api->metric_counter(self, "group_db_failures");
    gp->cache_write_failures = api->metric_counter(self, "group_cache_write_failures");
    if (api->register_handlers(self, group_handlers, sizeof group_handlers / sizeof group_handlers[0]) != IMGATE_OK ||
        api->export_service(self, IMGATE_GROUPS_SERVICE, IMGATE_GROUPS_VERSION, &group_service) != IMGATE_OK) {
        u64map_free(&gp->loading);
        free(gp);
        return -1;
    }
    api->log(self, IMGATE_LOG_INFO,
             "event=init max_members=%u max_info_groups=%u max_list_groups=%u cache_ttl_s=%u missing_ttl_s=%u "
             "writes_per_minute=%u",
             gp->cfg.max_members, gp->cfg.max_info_groups, gp->cfg.max_list_groups, gp->cfg.cache_ttl_s,
             gp->cfg.missing_ttl_s, gp->cfg.writes_per_minute);
    *state = gp;
    return 0;
}

static void group_fini(void *state)
{
    group_plugin *gp = state;
    group_cache_retries_free(gp);
    u64map_free(&gp->loading);
    free(gp);
}

IMGATE_PLUGIN(.name = "group", .version = "1.0", .init = group_init, .fini = group_fini, .config = group_config_keys);
