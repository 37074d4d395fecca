/*
 * group_store.c — reading a group (the imgate.groups service): Redis first
 * (one round trip for both cached keys), MySQL when the copy is missing,
 * partial or unreadable, then the copy rebuilt (group_cache_put, which never
 * overwrites a newer version). Concurrent misses for one group share one
 * MySQL read. A group that does not exist (or is deleted) is remembered as
 * such for missing_ttl_s, so ids nobody owns cannot make every look-up a
 * MySQL query.
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"

/* --- MySQL (worker thread) --------------------------------------------------------------------- */

typedef struct member_row {
    group_state *s;
    uint32_t user_id, joined, shield;
    int cut;
} member_row;

static int on_member_row(void *ctx)
{
    member_row *r = ctx;
    if (r->s->n_members >= GROUP_READ_MAX) {
        r->cut = 1;
        return 1;
    }
    if (group_state_add_member(r->s, r->user_id, r->joined) != 0)
        return 1;
    if (r->shield && group_state_add_shielded(r->s, r->user_id) != 0)
        return 1;
    return 0;
}

int group_db_load(imgate_worker *w, group_plugin *gp, uint32_t group_id, int lock, group_state *s)
{
    s->group_id = group_id;
    imgate_db_bind in[] = {IMGATE_DB_U32(&s->group_id)};
    imgate_db_bind facts[] = {IMGATE_DB_U32(&s->type), IMGATE_DB_U32(&s->creator), IMGATE_DB_U32(&s->version),
                              IMGATE_DB_U32(&s->status)};
    int rc = group_api->db_query(w, IMGATE_DB_MASTER,
                                 lock ? "SELECT type, creator, version, status FROM IMGroup WHERE id = ? FOR UPDATE"
                                      : "SELECT type, creator, version, status FROM IMGroup WHERE id = ?",
                                 in, 1, facts, 4);
    if (rc <= 0)
        return rc;
    if (s->status != 0)
        return 1;
    /* A member's join time is when the row last became a membership: `updated` (equal to
     * `created` for a first join, the re-add time for a returning member). */
    member_row row = {s, 0, 0, 0, 0};
    imgate_db_bind cols[] = {IMGATE_DB_U32(&row.user_id), IMGATE_DB_U32(&row.joined), IMGATE_DB_U32(&row.shield)};
    rc = group_api->db_query_rows(w, IMGATE_DB_MASTER,
                                  "SELECT userId, updated, shield FROM IMGroupMember WHERE groupId = ? AND status = 0",
                                  in, 1, cols, 3, on_member_row, &row);
    if (rc < 0)
        return rc;
    if (row.cut)
        group_api->log_limited(gp->self, IMGATE_LOG_ERROR, "group_read_cut", 1,
                               "event=group_read_cut group_id=%u members_read=%d", group_id, GROUP_READ_MAX);
    group_state_normalise(s);
    return 1;
}

/* --- one MySQL read shared by every caller that missed the cache meanwhile ---------------------- */

typedef struct waiter {
    imgate_group_fn cb;
    void *arg;
    struct waiter *next;
} waiter;

typedef struct load {
    group_plugin *gp;
    uint32_t group_id;
    waiter *waiters; /* in arrival order */
    waiter **tail;
    group_state s;
    int rc; /* of group_db_load */
} load;

static void answer(imgate_group_fn cb, void *arg, int status, const group_state *s)
{
    imgate_group_view view = {s->group_id, s->type, s->creator, s->version, s->n_members, s->members};
    cb(arg, status, status == IMGATE_OK ? &view : NULL);
}

static void load_work(imgate_worker *w, void *state, void *arg)
{
    load *l = arg;
    l->rc = group_db_load(w, l->gp, l->group_id, 0, &l->s);
}

static void load_done(void *state, void *arg, int status)
{
    load *l = arg;
    group_plugin *gp = l->gp;
    u64map_del(&gp->loading, l->group_id);
    int result;
    if (status != IMGATE_OK || l->rc < 0) {
        group_api->metric_inc(gp->lookup_failures, 1);
        group_api->log_limited(gp->self, IMGATE_LOG_WARN, "group_lookup_failed", 5,
                               "event=group_lookup_failed group_id=%u status=%d rc=%d", l->group_id, status, l->rc);
        result = IMGATE_EUNAVAIL;
    } else {
        if (l->rc == 0) {
            l->s.status = 1; /* remembered as "no such group" */
            l->s.version = 0;
        }
        group_api->metric_inc(gp->cache_rebuilds, 1);
        group_cache_put(gp, &l->s, NULL, NULL);
        result = l->s.status == 0 ? IMGATE_OK : IMGATE_EINVAL;
    }
    while (l->waiters) {
        waiter *wt = l->waiters;
        l->waiters = wt->next;
        answer(wt->cb, wt->arg, result, &l->s);
        free(wt);
    }
    group_state_free(&l->s);
    free(l);
}

/* Joins (or starts) the MySQL read of `group_id`; 0, or -1 when cb will not run. */
static int load_from_mysql(group_plugin *gp, uint32_t group_id, imgate_group_fn cb, void *arg)
{
    waiter *wt = calloc(1, sizeof *wt);
    if (wt == NULL)
        return -1;
    wt->cb = cb;
    wt->arg = arg;
    load *l = u64map_get(&gp->loading, group_id);
    if (l != NULL) {
        group_api->metric_inc(gp->cache_misses_coalesced, 1);
        *l->tail = wt;
        l->tail = &wt->next;
        return 0;
    }
    l = calloc(1, sizeof *l);
    if (l == NULL || u64map_put(&gp->loading, group_id, l) != 0) {
        free(l);
        free(wt);
        return -1;
    }
    l->gp = gp;
    l->group_id = group_id;
    l->waiters = wt;
    l->tail = &wt->next;
    /* order_key = the group: the read queues behind a change of it on this node. */
    group_api->submit_job(gp->self, group_id, load_work, load_done, l);
    return 0;
}

/* --- Redis --------------------------------------------------------------------------------------- */

typedef struct lookup {
    group_plugin *gp;
    uint32_t group_id;
    imgate_group_fn cb;
    void *arg;
} lookup;

static int parse_u32(const redisReply *r, uint32_t *out)
{
    if (r->type != REDIS_REPLY_STRING)
        return -1;
    char *end;
    unsigned long v = strtoul(r->str, &end, 10);
    if (end == r->str || *end != '\0' || v > 0xffffffffUL)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Fills s from the two HGETALL replies; 0 when the copy is whole and makes sense. */
static int from_redis(group_state *s, const redisReply *members, const redisReply *facts)
{
    if (members->type != REDIS_REPLY_ARRAY || facts->type != REDIS_REPLY_ARRAY || members->elements % 2 ||
        facts->elements % 2)
        return -1;
    uint32_t count = 0;
    int have = 0;
    for (size_t i = 0; i + 1 < facts->elements; i += 2) {
        const redisReply *k = facts->element[i];
        uint32_t v;
        if (k->type != REDIS_REPLY_STRING || parse_u32(facts->element[i + 1], &v) != 0)
            return -1;
        if (strcmp(k->str, "version") == 0)
            s->version = v, have |= 1;
        else if (strcmp(k->str, "type") == 0)
            s->type = v, have |= 2;
        else if (strcmp(k->str, "creator") == 0)
            s->creator = v, have |= 4;
        else if (strcmp(k->str, "status") == 0)
            s->status = v, have |= 8;
        else if (strcmp(k->str, "members") == 0)
            count = v, have |= 16;
    }
    if (have != 31)
        return -1;
    if (s->status != 0)
        return 0; /* remembered as missing or deleted */
    if (members->elements / 2 != count)
        return -1; /* a member key lost or edited behind our back */
    for (size_t i = 0; i + 1 < members->elements; i += 2) {
        uint32_t uid, joined;
        if (parse_u32(members->element[i], &uid) != 0 || parse_u32(members->element[i + 1], &joined) != 0 ||
            group_state_add_member(s, uid, joined) != 0)
            return -1;
    }
    group_state_normalise(s);
    return 0;
}

static void on_cached(void *state, const void *reply_, void *arg)
{
    lookup *l = arg;
    group_plugin *gp = l->gp;
    const redisReply *r = reply_;
    group_state s = {0};
    s.group_id = l->group_id;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && from_redis(&s, r->element[0], r->element[1]) == 0) {
        group_api->metric_inc(gp->cache_hits, 1);
        answer(l->cb, l->arg, s.status == 0 ? IMGATE_OK : IMGATE_EINVAL, &s);
        group_state_free(&s);
        free(l);
        return;
    }
    group_state_free(&s);
    /* Missing, partial or unreadable (or Redis is down): MySQL decides. */
    if (load_from_mysql(gp, l->group_id, l->cb, l->arg) != 0) {
        group_api->metric_inc(gp->lookup_failures, 1);
        l->cb(l->arg, IMGATE_EUNAVAIL, NULL);
    }
    free(l);
}

/* Both keys in one round trip. */
static const char READ_SCRIPT[] = "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}";

int group_get(group_plugin *gp, uint32_t group_id, imgate_group_fn cb, void *arg)
{
    if (cb == NULL || group_id == 0)
        return IMGATE_EINVAL;
    lookup *l = calloc(1, sizeof *l);
    if (l == NULL)
        return IMGATE_ENOMEM;
    l->gp = gp;
    l->group_id = group_id;
    l->cb = cb;
    l->arg = arg;
    char k1[40], k2[40];
    group_key_members(k1, sizeof k1, group_id);
    group_key_facts(k2, sizeof k2, group_id);
    const char *argv[] = {"EVAL", READ_SCRIPT, "2", k1, k2};
    if (group_api->redis(gp->self, on_cached, l, 5, argv, NULL) != IMGATE_OK) {
        /* No callback will come from Redis: MySQL answers instead. */
        free(l);
        return load_from_mysql(gp, group_id, cb, arg) == 0 ? IMGATE_OK : IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

static int service_get(void *state, uint32_t group_id, imgate_group_fn cb, void *arg)
{
    return group_get(state, group_id, cb, arg);
}

const imgate_groups_v1 group_service = {service_get};
