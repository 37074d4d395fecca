/*
 * lockout.h — login attempts counted in Redis, shared by every node and kept
 * across reloads and restarts: one sliding window per user name (protocol
 * H.2) and one per source address (so one client cannot lock out every known
 * user or grind through passwords). Time comes from the Redis server so nodes
 * agree. Keys: imgate:login:fail:user:<name>, imgate:login:fail:addr:<ip>
 * (sorted sets of failure times, expiring with their window) and
 * imgate:login:pending:{user,addr}:... (attempts being checked, for 30 s at most).
 *
 * An attempt is RESERVED before its password is checked, in the same Lua
 * script that checks the limits, so attempts in flight count: 200 guesses
 * sent at once get at most N checks, not 200. A failed check turns the
 * reservation into a failure; a success clears the user's failures and takes
 * the reservation back; an attempt that never got checked (database down)
 * takes it back too. A reservation nobody settles (the node died, or Redis
 * ran it late after a stall) lapses on its own: it is never a failure.
 */
#ifndef IMGATE_LOGIN_LOCKOUT_H
#define IMGATE_LOGIN_LOCKOUT_H

#include "login.h"

typedef enum lockout_verdict {
    LOCKOUT_GO,           /* reserved: check the password */
    LOCKOUT_USER_LOCKED,  /* the name has too many attempts in its window */
    LOCKOUT_ADDR_LOCKED,  /* the address has too many attempts in its window */
    LOCKOUT_UNAVAILABLE   /* Redis did not answer: nothing reserved */
} lockout_verdict;

/* One attempt's reservation (the sorted-set member both windows hold). */
typedef struct lockout_ticket {
    char user[129];
    char addr[64];
    char member[48];
} lockout_ticket;

typedef void (*lockout_fn)(login_plugin *lp, lockout_verdict verdict, long long attempts, void *arg);

/* Fills t->member and reserves the attempt; cb runs on the loop thread, always once. */
int lockout_reserve(login_plugin *lp, lockout_ticket *t, lockout_fn cb, void *arg);
/* The password was wrong: the reservation becomes a failure of the name and of the address. */
void lockout_failed(login_plugin *lp, const lockout_ticket *t);
/* The password was right: clear the user's failures, take the reservation back. */
void lockout_succeeded(login_plugin *lp, const lockout_ticket *t);
/* The attempt was never judged (database unreachable): take both reservations back. */
void lockout_release(login_plugin *lp, const lockout_ticket *t);

#endif
