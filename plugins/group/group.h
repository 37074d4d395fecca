/*
 * group.h — the group plugin's shared state.
 *
 * It owns the groups themselves and their membership (protocol H.7): MySQL is
 * the truth (IMGroup, IMGroupMember); Redis caches it under the reference's
 * key group_member_<gid> (user id -> join time) plus imgate's own
 * imgate:group:<gid> (type, creator, version, status), rebuilt from MySQL
 * whenever either is missing. Other plugins read groups through the
 * imgate.groups service (include/imgate/services.h).
 */
#ifndef IMGATE_GROUP_H
#define IMGATE_GROUP_H

#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/services.h>
#include <imgate/teamtalk.h>

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *group_api;

typedef struct group_plugin {
    imgate_instance *self;
    imgate_metric *cache_hits, *cache_rebuilds, *lookup_failures;
} group_plugin;

/* imgate.groups: get() (group_store.c). */
extern const imgate_groups_v1 group_service;
int group_get(group_plugin *gp, uint32_t group_id, imgate_group_fn cb, void *arg);

/* Forgets the cached copy of a group (after a change the caller committed to MySQL), so the next
 * look-up rebuilds it. The callback, if any, runs once the keys are gone. */
void group_cache_drop(group_plugin *gp, uint32_t group_id, imgate_redis_fn cb, void *arg);

#endif
