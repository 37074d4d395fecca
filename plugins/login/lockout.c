/* lockout.c — see lockout.h. */
#include "lockout.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops entries older than each window and returns both counts. */
static const char CHECK_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1])) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2])) "
    "return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}";

/* Adds one failure to both sets, each expiring with its window. */
static const char RECORD_SCRIPT[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZADD', KEYS[1], now, ARGV[3]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], now, ARGV[3]) redis.call('PEXPIRE', KEYS[2], ARGV[2]) "
    "return 1";

typedef struct check_call {
    login_plugin *lp;
    lockout_fn cb;
    void *arg;
} check_call;

static void user_key(char *out, size_t len, const char *user) { snprintf(out, len, "imgate:login:fail:user:%s", user); }
static void addr_key(char *out, size_t len, const char *addr) { snprintf(out, len, "imgate:login:fail:addr:%s", addr); }

static void on_counts(void *state, const void *reply_, void *arg)
{
    check_call *call = arg;
    const redisReply *r = reply_;
    lockout_counts counts = {0, 0, 0};
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
        counts.ok = 1;
        counts.user = r->element[0]->integer;
        counts.addr = r->element[1]->integer;
    } else {
        call->lp->api->log(call->lp->self, IMGATE_LOG_WARN, "event=lockout_check_failed reason=\"%s\"",
                           r == NULL ? "redis unreachable" : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }
    call->cb(call->lp, &counts, call->arg);
    free(call);
}

int lockout_check(login_plugin *lp, const char *user, const char *addr, lockout_fn cb, void *arg)
{
    check_call *call = malloc(sizeof *call);
    if (call == NULL)
        return -1;
    call->lp = lp;
    call->cb = cb;
    call->arg = arg;
    char k1[600], k2[128], w1[24], w2[24];
    user_key(k1, sizeof k1, user);
    addr_key(k2, sizeof k2, addr);
    snprintf(w1, sizeof w1, "%lld", lp->cfg.lockout_window_ms);
    snprintf(w2, sizeof w2, "%lld", lp->cfg.addr_window_ms);
    const char *argv[] = {"EVAL", CHECK_SCRIPT, "2", k1, k2, w1, w2};
    if (lp->api->redis(lp->self, on_counts, call, 7, argv, NULL) != IMGATE_OK) {
        free(call);
        return -1;
    }
    return 0;
}

void lockout_record_failure(login_plugin *lp, const char *user, const char *addr)
{
    char k1[600], k2[128], w1[24], w2[24], member[48];
    user_key(k1, sizeof k1, user);
    addr_key(k2, sizeof k2, addr);
    snprintf(w1, sizeof w1, "%lld", lp->cfg.lockout_window_ms);
    snprintf(w2, sizeof w2, "%lld", lp->cfg.addr_window_ms);
    /* Unique per failure across nodes, so two failures in the same millisecond both count. */
    snprintf(member, sizeof member, "%08x%08x-%llu", randombytes_random(), randombytes_random(),
             (unsigned long long)++lp->failure_seq);
    const char *argv[] = {"EVAL", RECORD_SCRIPT, "2", k1, k2, w1, w2, member};
    lp->api->redis(lp->self, NULL, NULL, 8, argv, NULL);
}

void lockout_clear_user(login_plugin *lp, const char *user)
{
    char k1[600];
    user_key(k1, sizeof k1, user);
    const char *argv[] = {"DEL", k1};
    lp->api->redis(lp->self, NULL, NULL, 2, argv, NULL);
}
