/* lockout.c — see lockout.h. */
#include "lockout.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Two sorted sets per name and per address: failures (kept for their window) and attempts in
 * flight (kept PENDING_MS at most). An attempt Redis executes late (it was hung and caught up)
 * or one whose node died mid-check therefore never turns into a failure by itself.
 *
 * RESERVE: KEYS user failures, addr failures, user pending, addr pending. ARGV user window ms,
 * addr window ms, user limit, addr limit, member, pending ms, addr concurrency. Drops what is out
 * of its window, refuses over either limit (failures and attempts in flight together), else adds
 * the attempt to both pending sets. Returns {verdict (0 go, 1 user, 2 addr), user count, addr
 * count}. For an address, the first `addr concurrency` attempts in flight are free: many users
 * behind one NAT logging in at once (a reconnect storm) must not look like guessing. An address
 * still gets at most addr limit + addr concurrency checks per window; a user name, its limit.
 */
static const char RESERVE_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1])) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2])) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6])) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[6])) "
    "local u = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3]) "
    "local a = redis.call('ZCARD', KEYS[2]) + math.max(0, redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[7])) "
    "if u >= tonumber(ARGV[3]) then return {1, u, a} end "
    "if a >= tonumber(ARGV[4]) then return {2, u, a} end "
    "redis.call('ZADD', KEYS[3], now, ARGV[5]) redis.call('PEXPIRE', KEYS[3], ARGV[6]) "
    "redis.call('ZADD', KEYS[4], now, ARGV[5]) redis.call('PEXPIRE', KEYS[4], ARGV[6]) "
    "return {0, u, a}";

/* FAILED: the same keys; ARGV user window ms, addr window ms, member. Pending becomes failure. */
static const char FAILED_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREM', KEYS[3], ARGV[3]) redis.call('ZREM', KEYS[4], ARGV[3]) "
    "redis.call('ZADD', KEYS[1], now, ARGV[3]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], now, ARGV[3]) redis.call('PEXPIRE', KEYS[2], ARGV[2]) "
    "return 1";

/* How long an attempt in flight counts: past any lookup's time (job and database timeouts). */
#define PENDING_MS 30000

typedef struct reserve_call {
    login_plugin *lp;
    lockout_fn cb;
    void *arg;
} reserve_call;

/* The four keys of an attempt: failures and attempts in flight, of the name and of the address. */
typedef struct lockout_keys {
    char user_fail[600], addr_fail[128], user_pending[600], addr_pending[128];
} lockout_keys;

static void keys_of(const lockout_ticket *t, lockout_keys *k)
{
    snprintf(k->user_fail, sizeof k->user_fail, "imgate:login:fail:user:%s", t->user);
    snprintf(k->addr_fail, sizeof k->addr_fail, "imgate:login:fail:addr:%s", t->addr);
    snprintf(k->user_pending, sizeof k->user_pending, "imgate:login:pending:user:%s", t->user);
    snprintf(k->addr_pending, sizeof k->addr_pending, "imgate:login:pending:addr:%s", t->addr);
}

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
    lockout_keys k;
    keys_of(t, &k);
    char w1[24], w2[24], l1[24], l2[24], pend[24], conc[24];
    snprintf(w1, sizeof w1, "%lld", lp->cfg.lockout_window_ms);
    snprintf(w2, sizeof w2, "%lld", lp->cfg.addr_window_ms);
    snprintf(l1, sizeof l1, "%lld", lp->cfg.lockout_failures);
    snprintf(l2, sizeof l2, "%lld", lp->cfg.addr_failures);
    snprintf(pend, sizeof pend, "%d", PENDING_MS);
    snprintf(conc, sizeof conc, "%lld", lp->cfg.addr_concurrency);
    const char *argv[] = {"EVAL", RESERVE_SCRIPT, "4", k.user_fail, k.addr_fail, k.user_pending, k.addr_pending,
                          w1, w2, l1, l2, t->member, pend, conc};
    if (login_api->redis(lp->self, on_reserved, call, 14, argv, NULL) != IMGATE_OK) {
        free(call);
        return -1;
    }
    return 0;
}

void lockout_failed(login_plugin *lp, const lockout_ticket *t)
{
    lockout_keys k;
    keys_of(t, &k);
    char w1[24], w2[24];
    snprintf(w1, sizeof w1, "%lld", lp->cfg.lockout_window_ms);
    snprintf(w2, sizeof w2, "%lld", lp->cfg.addr_window_ms);
    const char *argv[] = {"EVAL", FAILED_SCRIPT, "4", k.user_fail, k.addr_fail, k.user_pending, k.addr_pending,
                          w1, w2, t->member};
    login_api->redis(lp->self, NULL, NULL, 10, argv, NULL);
}

void lockout_succeeded(login_plugin *lp, const lockout_ticket *t)
{
    lockout_keys k;
    keys_of(t, &k);
    const char *del[] = {"DEL", k.user_fail};
    login_api->redis(lp->self, NULL, NULL, 2, del, NULL);
    lockout_release(lp, t);
}

void lockout_release(login_plugin *lp, const lockout_ticket *t)
{
    lockout_keys k;
    keys_of(t, &k);
    const char *zrem1[] = {"ZREM", k.user_pending, t->member};
    const char *zrem2[] = {"ZREM", k.addr_pending, t->member};
    login_api->redis(lp->self, NULL, NULL, 3, zrem1, NULL);
    login_api->redis(lp->self, NULL, NULL, 3, zrem2, NULL);
}
