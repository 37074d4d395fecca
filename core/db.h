/*
 * db.h — a worker's MySQL connections (MariaDB Connector/C) and its cache of
 * prepared statements. Used only by the worker thread that owns them.
 */
#ifndef IMGATE_DB_H
#define IMGATE_DB_H

#include <mysql.h>
#include <time.h>

#include "config.h"

/* Where the pools connect: the master, and the replica (or the master again). */
typedef struct db_settings {
    const config_db *pool[2];
} db_settings;

typedef struct stmt_cache_entry {
    char *sql;
    MYSQL_STMT *stmt;
} stmt_cache_entry;

typedef struct db_conn {
    const config_db *cfg;  /* NULL: pool not configured */
    MYSQL *mysql;
    time_t last_used;
    stmt_cache_entry *stmts;
    int n_stmts;
    long long next_attempt_ms; /* monotonic: after a failed connect, wait before retrying */
} db_conn;

void db_conn_init(db_conn *c, const config_db *cfg);
/* The live connection, connecting or re-checking as needed; NULL if unreachable. */
MYSQL *db_conn_get(db_conn *c);
/* A cached prepared statement for `sql` on this connection, or NULL. */
MYSQL_STMT *db_conn_stmt(db_conn *c, const char *sql);
/* Closes the connection and its statements; the next get reconnects. */
void db_conn_discard(db_conn *c);

#endif
