/*
 * conn_set.h — a small hash set of connection ids (logins in progress, so a
 * second login request on the same connection is ignored). Loop thread.
 */
#ifndef IMGATE_LOGIN_CONN_SET_H
#define IMGATE_LOGIN_CONN_SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct conn_set {
    uint64_t *slots; /* 0 = empty, UINT64_MAX = deleted */
    size_t cap, used, live;
} conn_set;

int conn_set_add(conn_set *s, uint64_t id);      /* 1 added, 0 already there, -1 no memory */
int conn_set_has(const conn_set *s, uint64_t id);
void conn_set_remove(conn_set *s, uint64_t id);
void conn_set_free(conn_set *s);

#endif
