/*
 * file_task.c — task ids, and tasks in Redis (see file_task.h).
 */
#include "file_task.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#define KEY_PREFIX "imgate:file:task:"
#define USER_TASKS_PREFIX "imgate:file:tasks:"

/* --- task ids ------------------------------------------------------------------------------------ */

int file_task_id_valid(const char *s)
{
    /* Exactly what uuid_unparse_lower writes: it becomes a file name, and the taskId column
     * compares bytes, so one spelling only. */
    if (s == NULL || strlen(s) != FILE_TASK_ID_LEN)
        return 0;
    for (int i = 0; i < FILE_TASK_ID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

void file_task_id_new(char out[FILE_TASK_ID_LEN + 1])
{
    uuid_t u;
    /* Random (version 4): the task id is what lets a client into a transfer, so it must not be guessable. */
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* --- connection references ------------------------------------------------------------------------ */

void file_conn_ref(const file_plugin *fp, uint64_t conn_id, char out[FILE_CONN_REF_MAX])
{
    snprintf(out, FILE_CONN_REF_MAX, "%s/%" PRIu64, fp->node, conn_id);
}

uint64_t file_conn_ref_local(const file_plugin *fp, const char *ref)
{
    const char *slash = strrchr(ref, '/');
    size_t node_len = strlen(fp->node);
    if (slash == NULL || (size_t)(slash - ref) != node_len || strncmp(ref, fp->node, node_len) != 0)
        return 0;
    char *end;
    unsigned long long id = strtoull(slash + 1, &end, 10);
    return *end == '\0' ? (uint64_t)id : 0;
}

static void task_key(const char *task_id, char *out, size_t len) { snprintf(out, len, KEY_PREFIX "%s", task_id); }

/* --- create ------------------------------------------------------------------------------------- */

/*
 * KEYS[1] the task, KEYS[2] the sender's live tasks (a sorted set scored by
 * expiry). Refuses to overwrite (a task id names one task for its whole life)
 * and caps the tasks a sender holds at once, so requests cannot pile up keys.
 * Returns 1, 0 (the id exists) or -1 (too many tasks).
 */
static const char CREATE_SCRIPT[] =
    "local now = tonumber(ARGV[7]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) "
    "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then return -1 end "
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "redis.call('HMSET', KEYS[1], 'from', ARGV[2], 'to', ARGV[3], 'size', ARGV[4], 'mode', ARGV[5], "
    "'name', ARGV[6], 'created', ARGV[7]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[9]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[1]) "
    "return 1";

typedef struct create_call {
    file_task_created_fn cb;
    void *arg;
} create_call;

static void created(void *state, const void *reply_, void *arg)
{
    const redisReply *r = reply_;
    create_call *call = arg;
    int status = FILE_CREATE_UNAVAILABLE;
    if (r && r->type == REDIS_REPLY_INTEGER)
        status = r->integer == 1 ? FILE_CREATE_OK : r->integer < 0 ? FILE_CREATE_TOO_MANY : FILE_CREATE_UNAVAILABLE;
    if (status == FILE_CREATE_UNAVAILABLE)
        file_api->log_limited(((file_plugin *)state)->self, IMGATE_LOG_WARN, "task_create_failed", 5,
                              "event=task_create_failed reason=\"%s\"",
                              r == NULL                      ? "redis unreachable"
                              : r->type == REDIS_REPLY_ERROR ? r->str
                                                             : "task id exists");
    call->cb(state, call->arg, status);
    free(call);
}

void file_task_create(file_plugin *fp, const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size,
                      uint32_t mode, const char *name, file_task_created_fn cb, void *arg)
{
    create_call *call = malloc(sizeof *call);
    if (call == NULL) {
        cb(fp, arg, FILE_CREATE_UNAVAILABLE);
        return;
    }
    call->cb = cb;
    call->arg = arg;
    char key[96], user_key[64], ttl[16], from[16], to[16], sz[16], md[16], now[24], max[16];
    task_key(task_id, key, sizeof key);
    snprintf(user_key, sizeof user_key, USER_TASKS_PREFIX "%u", from_id);
    snprintf(max, sizeof max, "%u", fp->cfg.max_tasks);
    snprintf(ttl, sizeof ttl, "%u", fp->cfg.task_ttl_s);
    snprintf(from, sizeof from, "%u", from_id);
    snprintf(to, sizeof to, "%u", to_id);
    snprintf(sz, sizeof sz, "%u", size);
    snprintf(md, sizeof md, "%u", mode);
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    const char *argv[] = {"EVAL", CREATE_SCRIPT, "2", key, user_key, ttl, from, to, sz, md, name, now, max, task_id};
    file_api->redis(fp->self, created, call, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
}

/* --- claim ------------------------------------------------------------------------------------- */

/*
 * KEYS[1] task; ARGV user, role, connection reference, and the reference of a
 * holder known to be stale ("" if none). Returns {status}, {"taken", holder}
 * or {"ok", from, to, size, name, peer}. Roles 1 and 3 belong to the sender,
 * 2 to the receiver; 1 and 2 are online, 3 offline (role 4 never comes here:
 * a download is found on disk).
 */
static const char CLAIM_SCRIPT[] =
    "local t = redis.call('HMGET', KEYS[1], 'from', 'to', 'size', 'mode', 'name', 'c1', 'c2') "
    "if not t[1] then return {'unknown'} end "
    "local role = tonumber(ARGV[2]) "
    "local owner = t[2] "
    "if role == 1 or role == 3 then owner = t[1] end "
    "if owner ~= ARGV[1] then return {'not_party'} end "
    "if (role == 3) ~= (t[4] == '2') then return {'wrong_mode'} end "
    "local cur = redis.call('HGET', KEYS[1], 'c' .. role) "
    "if cur and cur ~= ARGV[4] then return {'taken', cur} end "
    "redis.call('HSET', KEYS[1], 'c' .. role, ARGV[3]) "
    "local peer = '' "
    "if role == 1 then peer = t[7] or '' elseif role == 2 then peer = t[6] or '' end "
    "return {'ok', t[1], t[2], t[3], t[5] or '', peer}";

typedef struct claim_call {
    file_task_claimed_fn cb;
    void *arg;
} claim_call;

static uint32_t reply_u32(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? (uint32_t)strtoul(r->str, NULL, 10) : 0;
}

static void claimed(void *state, const void *reply_, void *arg)
{
    const redisReply *r = reply_;
    claim_call *call = arg;
    file_claim claim;
    memset(&claim, 0, sizeof claim);
    claim.status = FILE_CLAIM_UNAVAILABLE;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING) {
        const char *what = r->element[0]->str;
        if (strcmp(what, "ok") == 0 && r->elements == 6) {
            claim.status = FILE_CLAIM_OK;
            claim.from_id = reply_u32(r->element[1]);
            claim.to_id = reply_u32(r->element[2]);
            claim.size = reply_u32(r->element[3]);
            if (r->element[4]->type == REDIS_REPLY_STRING)
                snprintf(claim.name, sizeof claim.name, "%s", r->element[4]->str);
            if (r->element[5]->type == REDIS_REPLY_STRING)
                snprintf(claim.peer_ref, sizeof claim.peer_ref, "%s", r->element[5]->str);
        } else if (strcmp(what, "unknown") == 0) {
            claim.status = FILE_CLAIM_UNKNOWN;
        } else if (strcmp(what, "not_party") == 0) {
            claim.status = FILE_CLAIM_NOT_PARTY;
        } else if (strcmp(what, "wrong_mode") == 0) {
            claim.status = FILE_CLAIM_WRONG_MODE;
        } else if (strcmp(what, "taken") == 0) {
            claim.status = FILE_CLAIM_TAKEN;
            if (r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
                snprintf(claim.peer_ref, sizeof claim.peer_ref, "%s", r->element[1]->str);
        }
    } else {
        file_api->log_limited(((file_plugin *)state)->self, IMGATE_LOG_WARN, "task_claim_failed", 5,
                              "event=task_claim_failed reason=\"%s\"",
                              r == NULL                      ? "redis unreachable"
                              : r->type == REDIS_REPLY_ERROR ? r->str
                                                             : "bad reply");
    }
    call->cb(state, call->arg, &claim);
    free(call);
}

void file_task_claim(file_plugin *fp, const char *task_id, uint32_t user_id, uint32_t file_role, uint64_t conn_id,
                     const char *stale_ref, file_task_claimed_fn cb, void *arg)
{
    claim_call *call = malloc(sizeof *call);
    if (call == NULL) {
        file_claim claim = {.status = FILE_CLAIM_UNAVAILABLE};
        cb(fp, arg, &claim);
        return;
    }
    call->cb = cb;
    call->arg = arg;
    char key[96], user[16], role[16], ref[FILE_CONN_REF_MAX];
    task_key(task_id, key, sizeof key);
    snprintf(user, sizeof user, "%u", user_id);
    snprintf(role, sizeof role, "%u", file_role);
    file_conn_ref(fp, conn_id, ref);
    const char *argv[] = {"EVAL", CLAIM_SCRIPT, "1", key, user, role, ref, stale_ref ? stale_ref : ""};
    file_api->redis(fp->self, claimed, call, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
}

/* --- release, end -------------------------------------------------------------------------------- */

static const char RELEASE_SCRIPT[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end return 1";

void file_task_release(file_plugin *fp, const char *task_id, uint32_t file_role, uint64_t conn_id)
{
    char key[96], field[8], ref[FILE_CONN_REF_MAX];
    task_key(task_id, key, sizeof key);
    snprintf(field, sizeof field, "c%u", file_role);
    file_conn_ref(fp, conn_id, ref);
    const char *argv[] = {"EVAL", RELEASE_SCRIPT, "1", key, field, ref};
    file_api->redis(fp->self, NULL, NULL, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
}

void file_task_end(file_plugin *fp, const char *task_id, uint32_t from_id)
{
    char key[96], user_key[64];
    task_key(task_id, key, sizeof key);
    snprintf(user_key, sizeof user_key, USER_TASKS_PREFIX "%u", from_id);
    const char *del[] = {"DEL", key};
    file_api->redis(fp->self, NULL, NULL, 2, del, NULL);
    const char *zrem[] = {"ZREM", user_key, task_id};
    file_api->redis(fp->self, NULL, NULL, 3, zrem, NULL);
}
