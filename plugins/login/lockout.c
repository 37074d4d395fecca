/* lockout.c — see lockout.h. */
#include "lockout.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops entries older than each window; refuses over either limit; else reserves in both.
 * KEYS: user, addr. ARGV: user window ms, addr window ms, user limit, addr limit, member.
 * Returns {verdict (0 go, 1 user, 2 addr), user attempts, addr attempts}. */
static const char RESERVE_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1])) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2])) "
    "local u = redis.call('ZCARD', KEYS[1]) "
    "local a = redis.call('ZCARD', KEYS[2]) "
    "if u >= tonumber(ARGV[3]) then return {1, u, a} end "
    "if a >= tonumber(ARGV[4]) then return {2, u, a} end "
    "redis.call('ZADD', KEYS[1], now, ARGV[5]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], now, ARGV[5]) redis.call('PEXPIRE', KEYS[2], ARGV[2]) "
    "return {0, u, a}";

typedef struct reserve_call {
    login_plugin *lp;
    lockout_fn cb;
    void *arg;
} reserve_call;

static void user_key(char *out, size_t len, const char *user) { snprintf(out, len, "imgate:login:fail:user:%s", user); }
static void addr_key(char *out, size_t len, const char *addr) { snprintf(out, len, "imgate:login:fail:addr:%s", addr); }

static void on_reserved(void *state, const void *reply_, void *arg)
{
    reserve_call *call = arg;
    const redisReply *r = reply_;
    lockout_verdict v = LOCKOUT_UNAVAILABLE;
    long long attempts = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER && r->element[2]->type == REDIS_REPLY_INTEGER) {
        long long code = r->element[0]->integer;
        v = code == 1 ? LOCKOUT_USER_LOCKED : code == 2 ? LOCKOUT_ADDR_LOCKED : LOCKOUT_GO;
        attempts = code == 2 ? r->element[2]->integer : r->element[1]->integer;
    } else {
        login_api->log_limited(call->lp->self, IMGATE_LOG_WARN, "lockout_unavailable", 5,
                               "event=lockout_check_failed reason=\"%s\"",
                               r == NULL ? "redis unreachable" : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }
    call->cb(call->lp, v, attempts, call->arg);
    free(call);
}

int lockout_reserve(login_plugin *lp, lockout_ticket *t, lockout_fn cb, void *arg)
{
    reserve_call *call = malloc(sizeof *call);
    if (call == NULL)
        return -1;
    call->lp = lp;
    call->cb = cb;
    call->arg = arg;
    /* Unique per attempt across nodes, so two attempts in the same millisecond both count. */
    snprintf(t->member, sizeof t->member, "%08x%08x-%llu", randombytes_random(), randombytes_random(),
             (unsigned long long)++lp->attempt_seq);
    char k1[600], k2[128], w1[24], w2[24], l1[24], l2[24];
    user_key(k1, sizeof k1, t->user);
    addr_key(k2, sizeof k2, t->addr);
    snprintf(w1, sizeof w1, "%lld", lp->cfg.lockout_window_ms);
    snprintf(w2, sizeof w2, "%lld", lp->cfg.addr_window_ms);
    snprintf(l1, sizeof l1, "%lld", lp->cfg.lockout_failures);
    snprintf(l2, sizeof l2, "%lld", lp->cfg.addr_failures);
    const char *argv[] = {"EVAL", RESERVE_SCRIPT, "2", k1, k2, w1, w2, l1, l2, t->member};
    if (login_api->redis(lp->self, on_reserved, call, 10, argv, NULL) != IMGATE_OK) {
        free(call);
        return -1;
    }
    return 0;
}

void lockout_succeeded(login_plugin *lp, const lockout_ticket *t)
{
    char k1[600], k2[128];
    user_key(k1, sizeof k1, t->user);
    addr_key(k2, sizeof k2, t->addr);
    const char *del[] = {"DEL", k1};
    const char *zrem[] = {"ZREM", k2, t->member};
    login_api->redis(lp->self, NULL, NULL, 2, del, NULL);
    login_api->redis(lp->self, NULL, NULL, 3, zrem, NULL);
}

void lockout_release(login_plugin *lp, const lockout_ticket *t)
{
    char k1[600], k2[128];
    user_key(k1, sizeof k1, t->user);
    addr_key(k2, sizeof k2, t->addr);
    const char *zrem1[] = {"ZREM", k1, t->member};
    const char *zrem2[] = {"ZREM", k2, t->member};
    login_api->redis(lp->self, NULL, NULL, 3, zrem1, NULL);
    login_api->redis(lp->self, NULL, NULL, 3, zrem2, NULL);
}
