/*
 * session.h — the registry of logged-in users: user id -> its connections,
 * and the kick rules of spec H.3 (one PC-class and one mobile-class
 * connection per user). Loop thread only.
 */
#ifndef IMGATE_SESSION_H
#define IMGATE_SESSION_H

#include <stdint.h>

#include "conn.h"

/* IMGATE_CLASS_PC or IMGATE_CLASS_MOBILE for a TeamTalk client type. */
uint32_t client_class(uint32_t client_type);
/* Binds `c` to the user and kicks the user's other same-class connections. Returns how many were kicked. */
int session_bind(conn *c, uint32_t user_id, uint32_t client_type);
/* Removes `c` from the registry (close, kick). */
void session_unbind(conn *c);
int session_kick(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint32_t reason);
/* Fills `out` with up to `max` connection ids; returns the total count. */
int session_conns(uint32_t user_id, uint32_t class_mask, uint64_t *out, int max);
/* The first connection of the user (follow user_next), or NULL. */
conn *session_first(uint32_t user_id);

#endif
