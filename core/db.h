/*
 * db.h — a worker's MySQL connections (MariaDB Connector/C) and its cache of
 * prepared statements. Used only by the worker thread that owns them.
 */
#ifndef IMGATE_DB_H
#define IMGATE_DB_H

#include <mysql.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "imgate/plugin.h"

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
    int in_txn;                /* between db_begin and db_commit/db_rollback: no silent retries */
    int txn_broken;            /* the link died inside the transaction: everything fails until rollback */
} db_conn;

void db_conn_init(db_conn *c, const config_db *cfg);
/* The live connection, connecting or re-checking as needed; NULL if unreachable. */
MYSQL *db_conn_get(db_conn *c);
/* A cached prepared statement for `sql` on this connection, or NULL. */
MYSQL_STMT *db_conn_stmt(db_conn *c, const char *sql);
/* Closes the connection and its statements; the next get reconnects. */
void db_conn_discard(db_conn *c);

/*
 * Typed statements (the plugin API's db_query / db_query_rows / db_exec).
 * Results: 1 row fetched / 0 none (db_query), the row count (rows), the
 * affected rows (exec), or IMGATE_EUNAVAIL (no connection, or it died),
 * IMGATE_EDB (the server refused the statement). A stale pooled connection is
 * replaced and the statement retried once, never inside a transaction, and
 * for exec only when the statement cannot have reached a server.
 */
int db_query(db_conn *c, const char *sql, imgate_db_bind *params, size_t n_params, imgate_db_bind *cols,
             size_t n_cols, imgate_db_row_fn row, void *ctx, int all_rows);
int64_t db_exec(db_conn *c, const char *sql, imgate_db_bind *params, size_t n_params, uint64_t *insert_id);
/* Transactions: IMGATE_OK, IMGATE_EUNAVAIL, or IMGATE_EDB (commit refused, rolled back). */
int db_begin(db_conn *c);
int db_commit(db_conn *c);
void db_rollback(db_conn *c);

#endif
