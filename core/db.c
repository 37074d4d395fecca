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
    /* The server rolled the transaction back with the link: a fresh connection must not
     * quietly run the rest of it in autocommit mode. */
    if (c->in_txn)
        c->txn_broken = 1;
}

static MYSQL *connect_now(db_conn *c)
{
    const config_db *cfg = c->cfg;
    MYSQL *m = mysql_init(NULL);
    if (m == NULL)
        return NULL;
    unsigned timeout = cfg->connect_timeout_s ? cfg->connect_timeout_s : 3;
    unsigned rw_timeout = cfg->read_timeout_s ? cfg->read_timeout_s : 5;
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

/* --- typed statements ------------------------------------------------------------------------- */

/* Connection-level failures (2000..2999 are the client library's own errors). */
static int link_error(unsigned err) { return err >= 2000 && err < 3000; }
static int stale_link(unsigned err) { return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST; }

static int bind_params(MYSQL_BIND *b, imgate_db_bind *p, size_t n, unsigned long *lens, my_bool *nulls)
{
    for (size_t i = 0; i < n; i++) {
        memset(&b[i], 0, sizeof b[i]);
        nulls[i] = (my_bool)(p[i].is_null != 0);
        b[i].is_null = &nulls[i];
        switch (p[i].type) {
        case IMGATE_DB_TYPE_U32:
            b[i].buffer_type = MYSQL_TYPE_LONG;
            b[i].is_unsigned = 1;
            break;
        case IMGATE_DB_TYPE_I64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            break;
        case IMGATE_DB_TYPE_U64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].is_unsigned = 1;
            break;
        case IMGATE_DB_TYPE_STR:
            b[i].buffer_type = MYSQL_TYPE_STRING;
            lens[i] = p[i].buf ? (unsigned long)strlen(p[i].buf) : 0;
            b[i].length = &lens[i];
            break;
        case IMGATE_DB_TYPE_BLOB:
            b[i].buffer_type = MYSQL_TYPE_BLOB;
            lens[i] = (unsigned long)p[i].len;
            b[i].length = &lens[i];
            break;
        default:
            return -1;
        }
        b[i].buffer = p[i].buf;
        b[i].buffer_length = b[i].length ? *b[i].length : 0;
    }
    return 0;
}

static int bind_results(MYSQL_BIND *b, imgate_db_bind *c, size_t n, unsigned long *lens, my_bool *nulls,
                        my_bool *errs)
{
    for (size_t i = 0; i < n; i++) {
        memset(&b[i], 0, sizeof b[i]);
        b[i].is_null = &nulls[i];
        b[i].error = &errs[i];
        b[i].length = &lens[i];
        b[i].buffer = c[i].buf;
        switch (c[i].type) {
        case IMGATE_DB_TYPE_U32:
            b[i].buffer_type = MYSQL_TYPE_LONG;
            b[i].is_unsigned = 1;
            break;
        case IMGATE_DB_TYPE_I64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            break;
        case IMGATE_DB_TYPE_U64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].is_unsigned = 1;
            break;
        case IMGATE_DB_TYPE_STR:
            if (c[i].cap == 0)
                return -1;
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer_length = c[i].cap - 1; /* room for the NUL */
            break;
        case IMGATE_DB_TYPE_BLOB:
            b[i].buffer_type = MYSQL_TYPE_BLOB;
            b[i].buffer_length = c[i].cap;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* After a fetch: NUL-terminate strings, report NULLs, lengths and truncation. */
static void finish_row(imgate_db_bind *c, size_t n, const unsigned long *lens, const my_bool *nulls)
{
    for (size_t i = 0; i < n; i++) {
        c[i].is_null = nulls[i] != 0;
        c[i].truncated = 0;
        c[i].len = 0;
        if (c[i].type == IMGATE_DB_TYPE_STR || c[i].type == IMGATE_DB_TYPE_BLOB) {
            size_t room = c[i].type == IMGATE_DB_TYPE_STR ? c[i].cap - 1 : c[i].cap;
            size_t got = nulls[i] ? 0 : lens[i];
            c[i].len = got;
            c[i].truncated = got > room;
            if (c[i].type == IMGATE_DB_TYPE_STR)
                ((char *)c[i].buf)[got < room ? got : room] = '\0';
        } else if (nulls[i]) {
            memset(c[i].buf, 0, c[i].cap);
        }
    }
}

/* Statement errors: logged; the connection dropped when it is the link that failed. */
static int statement_failed(db_conn *c, MYSQL_STMT *st, const char *sql)
{
    unsigned err = mysql_stmt_errno(st);
    if (link_error(err)) {
        log_limited(LOG_WARN, "core", "db_link_failed", NULL, 10, "event=db_link_failed error=\"%s\" sql=\"%.120s\"",
                    mysql_stmt_error(st), sql);
        db_conn_discard(c);
        return IMGATE_EUNAVAIL;
    }
    log_limited(LOG_WARN, "core", "db_statement_failed", NULL, 20,
                "event=db_statement_failed errno=%u error=\"%s\" sql=\"%.120s\"", err, mysql_stmt_error(st), sql);
    return IMGATE_EDB;
}

/* A statement for `sql`, or the error why not. */
static MYSQL_STMT *statement(db_conn *c, const char *sql, int *rc)
{
    if (c->txn_broken) {
        *rc = IMGATE_EUNAVAIL;
        return NULL;
    }
    MYSQL_STMT *st = db_conn_stmt(c, sql);
    if (st == NULL)
        *rc = c->mysql == NULL ? IMGATE_EUNAVAIL : IMGATE_EDB;
    return st;
}

#define DB_MAX_BINDS 64

int db_query(db_conn *c, const char *sql, imgate_db_bind *params, size_t n_params, imgate_db_bind *cols,
             size_t n_cols, imgate_db_row_fn row, void *ctx, int all_rows)
{
    if (n_params > DB_MAX_BINDS || n_cols > DB_MAX_BINDS)
        return IMGATE_EINVAL;
    MYSQL_BIND pb[DB_MAX_BINDS], cb[DB_MAX_BINDS];
    unsigned long plens[DB_MAX_BINDS], clens[DB_MAX_BINDS];
    my_bool pnulls[DB_MAX_BINDS], cnulls[DB_MAX_BINDS], cerrs[DB_MAX_BINDS];
    if (bind_params(pb, params, n_params, plens, pnulls) != 0 ||
        bind_results(cb, cols, n_cols, clens, cnulls, cerrs) != 0)
        return IMGATE_EINVAL;
    MYSQL_STMT *st = NULL;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        st = statement(c, sql, &rc);
        if (st == NULL)
            return rc;
        if ((n_params == 0 || mysql_stmt_bind_param(st, pb) == 0) && mysql_stmt_execute(st) == 0)
            break;
        /* A read is safe to repeat: one more try on a fresh connection when the pooled one was stale. */
        if (attempt == 0 && !c->in_txn && stale_link(mysql_stmt_errno(st))) {
            log_info("event=db_retry reason=\"%s\"", mysql_stmt_error(st));
            db_conn_discard(c);
            continue;
        }
        return statement_failed(c, st, sql);
    }
    if (n_cols == 0) {
        mysql_stmt_free_result(st);
        return 0;
    }
    if (mysql_stmt_bind_result(st, cb) != 0) {
        rc = statement_failed(c, st, sql);
        mysql_stmt_free_result(st);
        return rc;
    }
    int rows = 0;
    for (;;) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f != 0 && f != MYSQL_DATA_TRUNCATED) {
            rc = statement_failed(c, st, sql);
            mysql_stmt_free_result(st);
            return rc;
        }
        finish_row(cols, n_cols, clens, cnulls);
        rows++;
        if (!all_rows)
            break;
        if (row && row(ctx) != 0)
            break;
    }
    mysql_stmt_free_result(st);
    return rows;
}

int64_t db_exec(db_conn *c, const char *sql, imgate_db_bind *params, size_t n_params, uint64_t *insert_id)
{
    if (n_params > DB_MAX_BINDS)
        return IMGATE_EINVAL;
    MYSQL_BIND pb[DB_MAX_BINDS];
    unsigned long plens[DB_MAX_BINDS];
    my_bool pnulls[DB_MAX_BINDS];
    if (bind_params(pb, params, n_params, plens, pnulls) != 0)
        return IMGATE_EINVAL;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        MYSQL_STMT *st = statement(c, sql, &rc);
        if (st == NULL)
            return rc;
        if ((n_params == 0 || mysql_stmt_bind_param(st, pb) == 0) && mysql_stmt_execute(st) == 0) {
            int64_t affected = (int64_t)mysql_stmt_affected_rows(st);
            if (insert_id)
                *insert_id = (uint64_t)mysql_stmt_insert_id(st);
            mysql_stmt_free_result(st);
            return affected;
        }
        /* A write is repeated only when it cannot have reached a server: "gone" means the
         * request was never sent; "lost" might mean it ran and only the answer was lost. */
        if (attempt == 0 && !c->in_txn && mysql_stmt_errno(st) == CR_SERVER_GONE_ERROR) {
            log_info("event=db_retry reason=\"%s\"", mysql_stmt_error(st));
            db_conn_discard(c);
            continue;
        }
        return statement_failed(c, st, sql);
    }
}

static int simple_query(db_conn *c, const char *q)
{
    if (c->mysql == NULL)
        return IMGATE_EUNAVAIL;
    if (mysql_real_query(c->mysql, q, strlen(q)) == 0)
        return IMGATE_OK;
    unsigned err = mysql_errno(c->mysql);
    log_limited(LOG_WARN, "core", "db_txn_failed", NULL, 10, "event=db_txn_failed query=%s errno=%u error=\"%s\"", q,
                err, mysql_error(c->mysql));
    if (link_error(err)) {
        db_conn_discard(c);
        return IMGATE_EUNAVAIL;
    }
    return IMGATE_EDB;
}

int db_begin(db_conn *c)
{
    c->in_txn = 0;
    c->txn_broken = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (db_conn_get(c) == NULL)
            return IMGATE_EUNAVAIL;
        /* Nothing has run yet: a stale connection is simply replaced. */
        if (mysql_real_query(c->mysql, "START TRANSACTION", 17) == 0) {
            c->in_txn = 1;
            return IMGATE_OK;
        }
        unsigned err = mysql_errno(c->mysql);
        if (!link_error(err))
            return simple_query(c, "START TRANSACTION");
        db_conn_discard(c);
    }
    return IMGATE_EUNAVAIL;
}

int db_commit(db_conn *c)
{
    int broken = c->txn_broken;
    c->in_txn = 0;
    c->txn_broken = 0;
    if (broken)
        return IMGATE_EDB; /* rolled back with the link that died: certainly not stored */
    return simple_query(c, "COMMIT");
}

void db_rollback(db_conn *c)
{
    c->in_txn = 0;
    c->txn_broken = 0;
    if (c->mysql != NULL)
        simple_query(c, "ROLLBACK");
}
