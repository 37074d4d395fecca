/*
 * session.h — the registry of logged-in users (user id -> its connections)
 * and the kick rules of protocol H.3: one PC-class and one mobile-class
 * connection per user; a newer login kicks the older one of its class, a
 * mobile may kick the PC. The registry is this file's own: everything that
 * reaches users (delivery, broadcast, presence) goes through the functions
 * below. Loop thread only.
 *
 * The kick itself (the IMKickUser notice, the kicked state) is a hook so the
 * rules run without a daemon in the unit tests; the daemon uses conn_kick.
 */
#ifndef IMGATE_SESSION_H
#define IMGATE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

typedef void (*session_kick_fn)(conn *victim, uint32_t reason);
/* Replaces the kick action (NULL restores conn_kick). */
void session_set_kick_hook(session_kick_fn fn);

/* Binds `c` to the user and kicks the user's other same-class connections.
 * Returns how many were kicked, or -1 when out of memory. */
int session_bind(conn *c, uint32_t user_id, uint32_t client_type);
/* Removes `c` from the registry (close, kick). */
void session_unbind(conn *c);
/* Kicks the user's connections in `class_mask` except `except_conn`; returns the count. */
int session_kick(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint32_t reason);
/* Fills `out` with up to `max` connection ids; returns the total count. */
int session_conns(uint32_t user_id, uint32_t class_mask, uint64_t *out, int max);
/* The classes (IMGATE_CLASS_*) the user has online on this node; 0 = none. */
uint32_t session_presence(uint32_t user_id);
/* Users with at least one connection on this node. */
size_t session_user_count(void);

/* Queues a push (seq 0) of an already packed body to the user's connections in
 * `class_mask` except `except_conn`; returns how many it was queued to. */
int session_deliver(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint16_t service_id,
                    uint16_t command_id, const uint8_t *body, size_t len);
/* The same to every logged-in connection in `class_mask`. */
int session_broadcast(uint32_t class_mask, uint64_t except_conn, uint16_t service_id, uint16_t command_id,
                      const uint8_t *body, size_t len);

/* Told of every change of a user's classes online on this node (the cluster announces them). */
typedef void (*session_presence_fn)(uint32_t user_id, uint32_t mask);
void session_set_presence_hook(session_presence_fn fn);
/* Calls fn for every user online on this node with the user's classes. */
void session_for_each_user(void (*fn)(uint32_t user_id, uint32_t mask, void *arg), void *arg);

/* Frees the registry (shutdown, after every connection is gone). */
void session_shutdown(void);

#endif
