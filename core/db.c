/* db.c — see db.h. */
#include "db.h"

#include <errmsg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* A connection idle longer than this is pinged before use: the server may have
 * restarted or dropped it (wait_timeout) while we were not looking. */
#define DB_IDLE_CHECK_SECONDS 5
/* After a failed connect, further attempts wait this long, so a database
 * outage costs callers one quick failure instead of a connect timeout each. */
#define DB_RETRY_MS 300

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_conn_init(db_conn *c, const config_db *cfg)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
}

void db_conn_discard(db_conn *c)
{
    for (int i = 0; i < c->n_stmts; i++) {
        mysql_stmt_close(c->stmts[i].stmt);
        free(c->stmts[i].sql);
    }
    free(c->stmts);
    c->stmts = NULL;
    c->n_stmts = 0;
    if (c->mysql != NULL)
        mysql_close(c->mysql);
    c->mysql = NULL;
}

static MYSQL *connect_now(db_conn *c)
{
    const config_db *cfg = c->cfg;
    MYSQL *m = mysql_init(NULL);
    if (m == NULL)
        return NULL;
    unsigned timeout = 3;
    unsigned rw_timeout = 10;
    my_bool off = 0;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(m, MYSQL_OPT_RECONNECT, &off); /* reconnects are explicit: prepared statements die with the link */
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const char *host = cfg->socket ? "localhost" : (cfg->host ? cfg->host : "127.0.0.1");
    if (mysql_real_connect(m, host, cfg->user ? cfg->user : "root", cfg->password ? cfg->password : "",
                           cfg->database ? cfg->database : "teamtalk", cfg->port, cfg->socket, 0) == NULL) {
        log_warn("event=db_connect_failed error=\"%s\"", mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

MYSQL *db_conn_get(db_conn *c)
{
    if (c->cfg == NULL)
        return NULL;
    time_t now = time(NULL);
    if (c->mysql != NULL && now - c->last_used >= DB_IDLE_CHECK_SECONDS && mysql_ping(c->mysql) != 0) {
        log_info("event=db_reconnect reason=\"%s\"", mysql_error(c->mysql));
        db_conn_discard(c);
    }
    if (c->mysql == NULL) {
        if (mono_ms() < c->next_attempt_ms)
            return NULL;
        c->mysql = connect_now(c);
        if (c->mysql == NULL) {
            c->next_attempt_ms = mono_ms() + DB_RETRY_MS;
            return NULL;
        }
    }
    c->last_used = now;
    return c->mysql;
}

MYSQL_STMT *db_conn_stmt(db_conn *c, const char *sql)
{
    MYSQL *m = db_conn_get(c);
    if (m == NULL)
        return NULL;
    for (int i = 0; i < c->n_stmts; i++)
        if (strcmp(c->stmts[i].sql, sql) == 0) {
            /* Drop any result a caller left unread. Client-side only: mysql_stmt_reset
             * would cost a server round trip on every execution. */
            mysql_stmt_free_result(c->stmts[i].stmt);
            return c->stmts[i].stmt;
        }
    MYSQL_STMT *st = mysql_stmt_init(m);
    if (st == NULL)
        return NULL;
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        unsigned err = mysql_stmt_errno(st);
        log_error("event=db_prepare_failed error=\"%s\" sql=\"%s\"", mysql_stmt_error(st), sql);
        mysql_stmt_close(st);
        if (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST)
            db_conn_discard(c);
        return NULL;
    }
    stmt_cache_entry *n = realloc(c->stmts, sizeof *n * (size_t)(c->n_stmts + 1));
    char *copy = strdup(sql);
    if (n == NULL || copy == NULL) {
        free(copy);
        if (n)
            c->stmts = n;
        mysql_stmt_close(st);
        return NULL;
    }
    c->stmts = n;
    c->stmts[c->n_stmts].sql = copy;
    c->stmts[c->n_stmts].stmt = st;
    c->n_stmts++;
    return st;
}
