/*
 * group_store.c — reading a group: Redis first (one round trip for both
 * keys), MySQL when either key is missing, then the keys rebuilt so the next
 * reader finds them. A rebuild never overwrites a newer copy: it is one Lua
 * script that writes only when the cached version is not above the version it
 * read from MySQL.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"

/* Largest group read; IMGroupMember rows beyond it are ignored (and logged). */
#define GROUP_READ_MAX 10000

typedef struct lookup {
    group_plugin *gp;
    uint32_t group_id;
    imgate_group_fn cb;
    void *arg;
    /* MySQL results (worker) */
    int found;
    uint32_t type, creator, version, status;
    imgate_group_member *members;
    size_t n_members, cap_members;
    int db_failed;
} lookup;

static void member_key(char *out, size_t len, uint32_t gid) { snprintf(out, len, "group_member_%u", gid); }
static void facts_key(char *out, size_t len, uint32_t gid) { snprintf(out, len, "imgate:group:%u", gid); }

static int by_user(const void *a, const void *b)
{
    uint32_t x = ((const imgate_group_member *)a)->user_id, y = ((const imgate_group_member *)b)->user_id;
    return x < y ? -1 : x > y;
}

static void answer(lookup *l, int status)
{
    imgate_group_view view = {l->group_id, l->type, l->creator, l->version, l->n_members, l->members};
    if (status == IMGATE_OK)
        qsort(l->members, l->n_members, sizeof *l->members, by_user);
    l->cb(l->arg, status, status == IMGATE_OK ? &view : NULL);
    free(l->members);
    free(l);
}

static int add_member(lookup *l, uint32_t user_id, uint32_t joined)
{
    if (l->n_members == l->cap_members) {
        size_t ncap = l->cap_members ? l->cap_members * 2 : 16;
        imgate_group_member *n = realloc(l->members, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        l->members = n;
        l->cap_members = ncap;
    }
    l->members[l->n_members].user_id = user_id;
    l->members[l->n_members].joined = joined;
    l->n_members++;
    return 0;
}

/* --- MySQL (worker thread), then the rebuild ------------------------------------------------- */

typedef struct member_row {
    lookup *l;
    uint32_t user_id, joined;
} member_row;

static int on_member_row(void *ctx)
{
    member_row *r = ctx;
    if (r->l->n_members >= GROUP_READ_MAX)
        return 1;
    return add_member(r->l, r->user_id, r->joined) != 0;
}

static void load_from_mysql(imgate_worker *w, void *state, void *arg)
{
    lookup *l = arg;
    imgate_db_bind in[] = {IMGATE_DB_U32(&l->group_id)};
    imgate_db_bind facts[] = {IMGATE_DB_U32(&l->type), IMGATE_DB_U32(&l->creator), IMGATE_DB_U32(&l->version),
                              IMGATE_DB_U32(&l->status)};
    int rc = group_api->db_query(w, IMGATE_DB_MASTER, "SELECT type, creator, version, status FROM IMGroup WHERE id = ?",
                                 in, 1, facts, 4);
    if (rc < 0) {
        l->db_failed = 1;
        return;
    }
    l->found = rc == 1;
    if (!l->found)
        return;
    /* A member's join time is when the row last became a membership: `updated` (equal to
     * `created` for a first join, the re-add time for a returning member). */
    member_row row = {l, 0, 0};
    imgate_db_bind cols[] = {IMGATE_DB_U32(&row.user_id), IMGATE_DB_U32(&row.joined)};
    rc = group_api->db_query_rows(w, IMGATE_DB_MASTER,
                                  "SELECT userId, updated FROM IMGroupMember WHERE groupId = ? AND status = 0 "
                                  "ORDER BY userId",
                                  in, 1, cols, 2, on_member_row, &row);
    if (rc < 0)
        l->db_failed = 1;
}

/* KEYS: members, facts. ARGV: version, type, creator, status, then user id / join time pairs. */
static const char REBUILD_SCRIPT[] =
    "local cur = redis.call('HGET', KEYS[2], 'version') "
    "if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end "
    "redis.call('DEL', KEYS[1]) "
    "for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end "
    "redis.call('HSET', KEYS[2], 'version', ARGV[1], 'type', ARGV[2], 'creator', ARGV[3], 'status', ARGV[4]) "
    "return 1";

static void rebuild_cache(lookup *l)
{
    /* EVAL, script, numkeys, 2 keys, 4 facts, then a (user, joined) pair per member. */
    size_t argc = 9 + 2 * l->n_members;
    const char **argv = malloc(argc * sizeof *argv);
    char (*nums)[12] = malloc((4 + 2 * l->n_members) * sizeof *nums);
    char k1[40], k2[40];
    if (argv == NULL || nums == NULL) {
        free(argv);
        free(nums);
        return;
    }
    member_key(k1, sizeof k1, l->group_id);
    facts_key(k2, sizeof k2, l->group_id);
    argv[0] = "EVAL";
    argv[1] = REBUILD_SCRIPT;
    argv[2] = "2";
    argv[3] = k1;
    argv[4] = k2;
    uint32_t head[4] = {l->version, l->type, l->creator, l->status};
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(nums[n], sizeof nums[n], "%u", head[i]);
        argv[5 + n] = nums[n];
        n++;
    }
    for (size_t i = 0; i < l->n_members; i++) {
        snprintf(nums[n], sizeof nums[n], "%u", l->members[i].user_id);
        argv[5 + n] = nums[n];
        n++;
        snprintf(nums[n], sizeof nums[n], "%u", l->members[i].joined);
        argv[5 + n] = nums[n];
        n++;
    }
    group_api->redis(l->gp->self, NULL, NULL, (int)(5 + n), argv, NULL);
    free(argv);
    free(nums);
}

static void loaded(void *state, void *arg, int status)
{
    lookup *l = arg;
    if (status != IMGATE_OK || l->db_failed) {
        group_api->metric_inc(l->gp->lookup_failures, 1);
        answer(l, IMGATE_EUNAVAIL);
        return;
    }
    if (!l->found || l->status != 0) {
        answer(l, IMGATE_EINVAL);
        return;
    }
    group_api->metric_inc(l->gp->cache_rebuilds, 1);
    rebuild_cache(l);
    answer(l, IMGATE_OK);
}

/* --- Redis --------------------------------------------------------------------------------------- */

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

/* Fills l from the two HGETALL replies; 0 when both keys were there and made sense. */
static int from_redis(lookup *l, const redisReply *members, const redisReply *facts)
{
    if (members->type != REDIS_REPLY_ARRAY || facts->type != REDIS_REPLY_ARRAY || members->elements == 0 ||
        facts->elements == 0 || members->elements % 2 || facts->elements % 2)
        return -1;
    int have = 0;
    for (size_t i = 0; i + 1 < facts->elements; i += 2) {
        const redisReply *k = facts->element[i];
        uint32_t v;
        if (k->type != REDIS_REPLY_STRING || parse_u32(facts->element[i + 1], &v) != 0)
            return -1;
        if (strcmp(k->str, "version") == 0)
            l->version = v, have |= 1;
        else if (strcmp(k->str, "type") == 0)
            l->type = v, have |= 2;
        else if (strcmp(k->str, "creator") == 0)
            l->creator = v, have |= 4;
        else if (strcmp(k->str, "status") == 0)
            l->status = v, have |= 8;
    }
    if (have != 15)
        return -1;
    for (size_t i = 0; i + 1 < members->elements; i += 2) {
        uint32_t uid, joined;
        if (parse_u32(members->element[i], &uid) != 0 || parse_u32(members->element[i + 1], &joined) != 0 ||
            add_member(l, uid, joined) != 0)
            return -1;
    }
    return 0;
}

static void on_cached(void *state, const void *reply_, void *arg)
{
    lookup *l = arg;
    const redisReply *r = reply_;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && from_redis(l, r->element[0], r->element[1]) == 0) {
        group_api->metric_inc(l->gp->cache_hits, 1);
        if (l->status != 0) {
            answer(l, IMGATE_EINVAL);
            return;
        }
        answer(l, IMGATE_OK);
        return;
    }
    /* Missing, partial or unreadable (or Redis is down): MySQL decides. */
    l->n_members = 0;
    group_api->submit_job(l->gp->self, l->group_id, load_from_mysql, loaded, l);
}

/* Both keys in one round trip: a Lua script returning the two HGETALLs. */
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
    member_key(k1, sizeof k1, group_id);
    facts_key(k2, sizeof k2, group_id);
    const char *argv[] = {"EVAL", READ_SCRIPT, "2", k1, k2};
    int rc = group_api->redis(gp->self, on_cached, l, 5, argv, NULL);
    if (rc != IMGATE_OK)
        free(l); /* no callback will come */
    return rc;
}

void group_cache_drop(group_plugin *gp, uint32_t group_id, imgate_redis_fn cb, void *arg)
{
    char k1[40], k2[40];
    member_key(k1, sizeof k1, group_id);
    facts_key(k2, sizeof k2, group_id);
    const char *argv[] = {"DEL", k1, k2};
    if (group_api->redis(gp->self, cb, arg, 3, argv, NULL) != IMGATE_OK && cb)
        cb(gp, NULL, arg);
}

static int service_get(void *state, uint32_t group_id, imgate_group_fn cb, void *arg)
{
    return group_get(state, group_id, cb, arg);
}

const imgate_groups_v1 group_service = {service_get};
