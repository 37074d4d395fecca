/*
 * lockout.h — failed-login counters in Redis, shared by every node and kept
 * across reloads and restarts: one sliding window per user name (spec H.2)
 * and one per source address (so one client cannot lock out every known user
 * or grind through passwords). Each check or update is one Lua script, one
 * round trip; time comes from the Redis server so nodes agree.
 * Keys: imgate:login:fail:user:<name>, imgate:login:fail:addr:<ip> (sorted
 * sets of failure times, expiring with their window).
 */
#ifndef IMGATE_LOGIN_LOCKOUT_H
#define IMGATE_LOGIN_LOCKOUT_H

#include "login.h"

typedef struct lockout_counts {
    int ok;         /* 0: Redis did not answer */
    long long user; /* failures of the user name inside its window */
    long long addr; /* failures from the address inside its window */
} lockout_counts;

typedef void (*lockout_fn)(login_plugin *lp, const lockout_counts *counts, void *arg);

/* Counts the failures in both windows; cb runs on the loop thread, always once. */
int lockout_check(login_plugin *lp, const char *user, const char *addr, lockout_fn cb, void *arg);
/* Records one failure for both (fire and forget). */
void lockout_record_failure(login_plugin *lp, const char *user, const char *addr);
/* A successful login clears the user's failures (the address keeps its own). */
void lockout_clear_user(login_plugin *lp, const char *user);

#endif
