/*
 * group_cache.c — writing the Redis side of a group: the cached copy
 * (group_member_<gid> + imgate:group:<gid>), the shield hash group_set_<gid>
 * and the group unread marks (protocol E, H.6). Every write that matters for
 * correctness is retried in the background when Redis does not take it.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"

/* A write Redis did not take is retried every RETRY_MS, RETRY_ATTEMPTS times in all. */
#define RETRY_MS 1000
#define RETRY_ATTEMPTS 30

void group_key_members(char *out, size_t len, uint32_t group_id) { snprintf(out, len, "group_member_%u", group_id); }
void group_key_facts(char *out, size_t len, uint32_t group_id) { snprintf(out, len, "imgate:group:%u", group_id); }
void group_key_settings(char *out, size_t len, uint32_t group_id) { snprintf(out, len, "group_set_%u", group_id); }

/* --- writes with retries ----------------------------------------------------------------------- */

typedef struct redis_retry {
    group_plugin *gp;
    struct redis_retry *next; /* in gp->retries while a timer waits */
    int argc;
    char **argv;
    int attempts;
    group_cache_done_fn done; /* the first attempt's outcome goes to the caller */
    void *arg;
} redis_retry;

static void retry_free(redis_retry *r)
{
    for (int i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    free(r);
}

static void unlink_retry(redis_retry *r)
{
    for (redis_retry **p = &r->gp->retries; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

static void send_write(redis_retry *r);

static void retry_due(void *state, void *arg)
{
    redis_retry *r = arg;
    unlink_retry(r);
    send_write(r);
}

static void written(redis_retry *r, const redisReply *reply)
{
    group_plugin *gp = r->gp;
    int ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;
    r->attempts++;
    if (r->done) {
        group_cache_done_fn done = r->done;
        r->done = NULL;
        done(gp, r->arg, ok);
    }
    if (ok) {
        if (r->attempts > 1)
            group_api->log_limited(gp->self, IMGATE_LOG_INFO, "cache_write_retried", 5,
                                   "event=cache_write_retried command=%s key=%s attempts=%d", r->argv[0],
                                   r->argc > 3 ? r->argv[3] : r->argv[1], r->attempts);
        retry_free(r);
        return;
    }
    group_api->metric_inc(gp->cache_write_failures, 1);
    const char *why = reply ? reply->str : "redis unreachable";
    if (r->attempts >= RETRY_ATTEMPTS) {
        group_api->log_limited(gp->self, IMGATE_LOG_ERROR, "cache_write_lost", 5,
                               "event=cache_write_lost command=%s attempts=%d reason=\"%s\"", r->argv[0], r->attempts,
                               why);
        retry_free(r);
        return;
    }
    if (r->attempts == 1)
        group_api->log_limited(gp->self, IMGATE_LOG_WARN, "cache_write_failed", 5,
                               "event=cache_write_failed command=%s reason=\"%s\" retry_ms=%d", r->argv[0], why,
                               RETRY_MS);
    if (group_api->timer_start(gp->self, RETRY_MS, 0, retry_due, r) == NULL) {
        /* This generation is being replaced: its timers no longer run. */
        group_api->log_limited(gp->self, IMGATE_LOG_ERROR, "cache_write_lost", 5,
                               "event=cache_write_lost command=%s attempts=%d reason=unloaded", r->argv[0],
                               r->attempts);
        retry_free(r);
        return;
    }
    r->next = gp->retries;
    gp->retries = r;
}

static void on_written(void *state, const void *reply, void *arg) { written(arg, reply); }

static void send_write(redis_retry *r)
{
    if (group_api->redis(r->gp->self, on_written, r, r->argc, (const char **)r->argv, NULL) != IMGATE_OK)
        written(r, NULL);
}

void group_cache_write(group_plugin *gp, int argc, const char **argv, group_cache_done_fn done, void *arg)
{
    redis_retry *r = calloc(1, sizeof *r);
    char **copy = r ? calloc((size_t)argc, sizeof *copy) : NULL;
    int ok = copy != NULL;
    for (int i = 0; ok && i < argc; i++)
        ok = (copy[i] = strdup(argv[i])) != NULL;
    if (!ok) {
        if (copy)
            for (int i = 0; i < argc; i++)
                free(copy[i]);
        free(copy);
        free(r);
        group_api->log_limited(gp->self, IMGATE_LOG_ERROR, "out_of_memory", 5,
                               "event=cache_write_lost command=%s reason=out_of_memory", argv[0]);
        if (done)
            done(gp, arg, 0);
        return;
    }
    r->gp = gp;
    r->argc = argc;
    r->argv = copy;
    r->done = done;
    r->arg = arg;
    send_write(r);
}

void group_cache_retries_free(group_plugin *gp)
{
    int n = 0;
    while (gp->retries) {
        redis_retry *r = gp->retries;
        gp->retries = r->next;
        retry_free(r);
        n++;
    }
    if (n > 0)
        group_api->log(gp->self, IMGATE_LOG_WARN, "event=cache_writes_dropped count=%d reason=unloaded", n);
}

/* --- the cached copy ----------------------------------------------------------------------------- */

/*
 * KEYS: members, facts, settings. ARGV: version, type, creator, status, ttl, then one triple per
 * member: user id, join time, shield status. Nothing is written when the cache holds a newer
 * version: a reader that loaded MySQL before a change committed must not undo it. `members`
 * records the count, so an empty group (no hash at all) is told from a half-missing copy.
 * Shield fields are only added where missing: the shield writer owns existing ones.
 */
static const char PUT_SCRIPT[] =
    "local cur = redis.call('HGET', KEYS[2], 'version') "
    "if cur and (tonumber(cur) or 0) > tonumber(ARGV[1]) then return 0 end "
    "redis.call('DEL', KEYS[1], KEYS[2]) "
    "for i = 6, #ARGV, 3 do "
    "  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) "
    "  redis.call('HSETNX', KEYS[3], ARGV[i] .. '_1', ARGV[i + 2]) "
    "end "
    "redis.call('HSET', KEYS[2], 'version', ARGV[1], 'type', ARGV[2], 'creator', ARGV[3], 'status', ARGV[4], "
    "           'members', tostring((#ARGV - 5) / 3)) "
    "local ttl = tonumber(ARGV[5]) "
    "if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) redis.call('EXPIRE', KEYS[2], ttl) end "
    "return 1";

void group_cache_put(group_plugin *gp, const group_state *s, group_cache_done_fn done, void *arg)
{
    int alive = s->status == 0;
    size_t n = alive ? s->n_members : 0;
    size_t argc = 6 + 5 + 3 * n; /* EVAL, script, 3, three keys; five head values; the triples */
    const char **argv = malloc(argc * sizeof *argv);
    char(*nums)[12] = malloc((5 + 3 * n) * sizeof *nums);
    if (argv == NULL || nums == NULL) {
        free(argv);
        free(nums);
        group_api->log_limited(gp->self, IMGATE_LOG_ERROR, "out_of_memory", 5,
                               "event=cache_write_lost group_id=%u reason=out_of_memory", s->group_id);
        if (done)
            done(gp, arg, 0);
        return;
    }
    char k1[40], k2[40], k3[40];
    group_key_members(k1, sizeof k1, s->group_id);
    group_key_facts(k2, sizeof k2, s->group_id);
    group_key_settings(k3, sizeof k3, s->group_id);
    argv[0] = "EVAL";
    argv[1] = PUT_SCRIPT;
    argv[2] = "3";
    argv[3] = k1;
    argv[4] = k2;
    argv[5] = k3;
    uint32_t head[5] = {s->version, s->type, s->creator, s->status,
                        alive ? gp->cfg.cache_ttl_s : gp->cfg.missing_ttl_s};
    size_t k = 0;
    for (int i = 0; i < 5; i++, k++) {
        snprintf(nums[k], sizeof nums[k], "%u", head[i]);
        argv[5 + 1 + k] = nums[k];
    }
    for (size_t i = 0; i < n; i++) {
        const imgate_group_member *m = &s->members[i];
        uint32_t triple[3] = {m->user_id, m->joined, group_ids_contain(s->shielded, s->n_shielded, m->user_id)};
        for (int j = 0; j < 3; j++, k++) {
            snprintf(nums[k], sizeof nums[k], "%u", triple[j]);
            argv[5 + 1 + k] = nums[k];
        }
    }
    group_cache_write(gp, (int)(6 + k), argv, done, arg);
    free(argv);
    free(nums);
}

/* --- unread marks ---------------------------------------------------------------------------------- */

/* KEYS[1] = <gid>_im_group_msg, KEYS[2..] = <uid>_<gid>_im_user_group: each becomes a copy. */
static const char UNREAD_SCRIPT[] =
    "local h = redis.call('HGETALL', KEYS[1]) "
    "for i = 2, #KEYS do "
    "  redis.call('DEL', KEYS[i]) "
    "  if #h > 0 then redis.call('HSET', KEYS[i], unpack(h)) end "
    "end "
    "return #KEYS - 1";

void group_cache_reset_unread(group_plugin *gp, uint32_t group_id, const uint32_t *users, size_t n,
                              group_cache_done_fn done, void *arg)
{
    size_t argc = 4 + n;
    const char **argv = malloc(argc * sizeof *argv);
    char(*keys)[48] = malloc((n + 1) * sizeof *keys);
    char count[16];
    if (argv == NULL || keys == NULL) {
        free(argv);
        free(keys);
        if (done)
            done(gp, arg, 0);
        return;
    }
    snprintf(count, sizeof count, "%zu", n + 1);
    snprintf(keys[0], sizeof keys[0], "%u_im_group_msg", group_id);
    argv[0] = "EVAL";
    argv[1] = UNREAD_SCRIPT;
    argv[2] = count;
    argv[3] = keys[0];
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i + 1], sizeof keys[i + 1], "%u_%u_im_user_group", users[i], group_id);
        argv[4 + i] = keys[i + 1];
    }
    group_cache_write(gp, (int)argc, argv, done, arg);
    free(argv);
    free(keys);
}
