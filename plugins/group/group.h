/*
 * group.h — the group plugin's shared state.
 *
 * It owns the groups themselves and their membership (protocol H.7): MySQL is
 * the truth (IMGroup, IMGroupMember, whose `shield` column migration 020
 * adds); Redis caches it under the reference's key group_member_<gid>
 * (user id -> join time) plus imgate's own imgate:group:<gid> (version, type,
 * creator, status), rebuilt from MySQL whenever either is missing, and
 * republished by every change after its commit. Other plugins read groups
 * through the imgate.groups service (include/imgate/services.h).
 */
#ifndef IMGATE_GROUP_H
#define IMGATE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/services.h>
#include <imgate/teamtalk.h>

#include "u64map.h"

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *group_api;

/*
 * result_code of IMGroupCreateRsp, IMGroupChangeMemberRsp and IMGroupShieldRsp.
 * The reference answers 0 or 1 and clients only test for 0; the other codes
 * say why, for logs, tools and tests.
 */
enum {
    GROUP_RESULT_OK = 0,
    GROUP_RESULT_FAILED = 1,       /* the database could not be reached or refused the change */
    GROUP_RESULT_NOT_ALLOWED = 2,  /* rights: not a member, not the creator, NORMAL group by a client */
    GROUP_RESULT_NO_GROUP = 3,     /* no such group, or it is deleted */
    GROUP_RESULT_INVALID = 4,      /* empty or too long name, bad avatar, no members, bad shield value */
    GROUP_RESULT_TOO_MANY = 5,     /* the group would exceed max_members */
    GROUP_RESULT_UNKNOWN_USER = 6, /* a member id that is no user (or one who left, IMUser.status 3) */
    GROUP_RESULT_BUSY = 7,         /* more changes from this connection than writes_per_minute */
};

/* Column limits (protocol D, IMGroup): varchar(256) counts characters. */
#define GROUP_NAME_MAX_CHARS 256
#define GROUP_AVATAR_MAX_CHARS 256
/* Largest membership read from MySQL whatever max_members says (an administrator may have
 * inserted more); beyond it the read is cut and logged. */
#define GROUP_READ_MAX 100000

typedef struct group_config {
    uint32_t max_members;       /* largest group a create or an add may produce */
    uint32_t max_info_groups;   /* GroupVersionInfo entries one IMGroupInfoListReq may carry */
    uint32_t max_list_groups;   /* groups one IMNormalGroupListRsp lists at most */
    uint32_t cache_ttl_s;       /* lifetime of the cached keys (0 = until the next change) */
    uint32_t missing_ttl_s;     /* how long "no such group" is remembered */
    uint32_t writes_per_minute; /* creates, member changes and shield changes per connection */
} group_config;

typedef struct group_plugin {
    imgate_instance *self;
    group_config cfg;
    u64map loading;              /* group id -> the MySQL read in progress for it (group_store.c) */
    struct redis_retry *retries; /* cache writes waiting to be retried (group_cache.c) */
    imgate_metric *cache_hits, *cache_rebuilds, *cache_misses_coalesced, *lookup_failures, *created, *changed, *shields,
        *refused, *db_failures, *cache_write_failures;
} group_plugin;

/* One group as a writer or a MySQL read knows it (the whole truth at some version). */
typedef struct group_state {
    uint32_t group_id, type, creator, version, status;
    imgate_group_member *members; /* sorted by user_id, unique */
    size_t n_members, cap_members;
    uint32_t *shielded; /* members with shield = 1 */
    size_t n_shielded, cap_shielded;
} group_state;

/* group_state.c */
int group_state_add_member(group_state *s, uint32_t user_id, uint32_t joined);
int group_state_add_shielded(group_state *s, uint32_t user_id);
/* Sorts the members and drops duplicate user ids (keeping the latest join time): the reference's
 * IMGroupMember has no unique key, so an old database may hold two rows for one member. */
void group_state_normalise(group_state *s);
void group_state_free(group_state *s);

/* --- imgate.groups and the cache (group_store.c, group_cache.c) ------------------------------- */

extern const imgate_groups_v1 group_service;
int group_get(group_plugin *gp, uint32_t group_id, imgate_group_fn cb, void *arg);

/* Reads a group from MySQL into `s` (worker thread). 1 found, 0 no such row, or an IMGATE_E* error.
 * `lock` adds FOR UPDATE on the IMGroup row (inside a transaction). */
int group_db_load(imgate_worker *w, group_plugin *gp, uint32_t group_id, int lock, group_state *s);

/* Called with 1 when Redis took the write, 0 when it did not (it is then retried in the background). */
typedef void (*group_cache_done_fn)(group_plugin *gp, void *arg, int stored);

/*
 * Writes `s` as the cached copy of its group, unless the cache already holds a newer version: a
 * reader that loaded an older version from MySQL can never overwrite a committed change. Also
 * fills group_set_<gid> fields that are missing (shield status). With `s->status != 0` it
 * records "no such group" for missing_ttl_s instead, unless the group is cached.
 */
void group_cache_put(group_plugin *gp, const group_state *s, group_cache_done_fn done, void *arg);
/* Runs one Redis command whose loss would leave the cache wrong: on failure it is retried every
 * second for a while (logged). `done` (may be NULL) learns the first attempt's outcome. */
void group_cache_write(group_plugin *gp, int argc, const char **argv, group_cache_done_fn done, void *arg);
/* Forgets every retry still waiting (fini). */
void group_cache_retries_free(group_plugin *gp);

/* Redis key names (protocol E). */
void group_key_members(char *out, size_t len, uint32_t group_id);  /* group_member_<gid> */
void group_key_facts(char *out, size_t len, uint32_t group_id);    /* imgate:group:<gid> */
void group_key_settings(char *out, size_t len, uint32_t group_id); /* group_set_<gid> */

/*
 * After a membership change: each user's group unread mark <uid>_<gid>_im_user_group becomes a
 * copy of <gid>_im_group_msg (protocol H.6), so a new member does not inherit the group's history
 * as unread and a removed one keeps nothing pending.
 */
void group_cache_reset_unread(group_plugin *gp, uint32_t group_id, const uint32_t *users, size_t n,
                              group_cache_done_fn done, void *arg);

/* --- requests (one file each) ------------------------------------------------------------------ */

void group_on_normal_list(void *state, const imgate_request *req, const ProtobufCMessage *body);
void group_on_info(void *state, const imgate_request *req, const ProtobufCMessage *body);
void group_on_create(void *state, const imgate_request *req, const ProtobufCMessage *body);
void group_on_change_members(void *state, const imgate_request *req, const ProtobufCMessage *body);
void group_on_shield(void *state, const imgate_request *req, const ProtobufCMessage *body);
/* Every handler is IMGATE_HANDLER_TRACKED: a malformed body ends the request here. */
void group_on_malformed(void *state, const imgate_request *req);

/* --- shared checks (group_check.c) --------------------------------------------------------------- */

/* Number of characters of a UTF-8 string, or -1 when it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF included): what a varchar(n) column counts. */
long group_utf8_chars(const char *s);
/* 1 when `s` holds something besides ASCII spaces and control characters. */
int group_text_has_content(const char *s);
/* Sorts ids and removes duplicates in place; returns the new count. 0 ids are kept (callers refuse them). */
size_t group_ids_unique(uint32_t *ids, size_t n);
/* 1 when a sorted id list contains `id`. */
int group_ids_contain(const uint32_t *ids, size_t n, uint32_t id);
/* Counts a write of this connection against writes_per_minute; 0 allowed, -1 over budget. */
int group_write_budget(group_plugin *gp, uint64_t conn_id);

/*
 * WORKER THREAD. How many of the sorted, unique `ids` are users who may be group members
 * (an IMUser row whose status is not 3, "left"): compared with n, it says whether any is unknown.
 * An IMGATE_E* error when the database failed.
 */
int group_db_count_users(imgate_worker *w, const uint32_t *ids, size_t n);

#endif
