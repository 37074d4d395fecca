/*
 * msg_store.c — everything the plugin does in MySQL, on worker threads.
 *
 * Writes (submit_write bodies, each inside the batch's transaction):
 *   round:  a conversation's round of messages with consecutive ids:
 *           [audio: IMAudio + imgate_audio_data] + rows in IMMessage_<relateId % 8>
 *           or IMGroupMessage_<gid % 8>, up to 8 per INSERT
 *           + (pair, once per second or after a removal) both IMRecentSession rows revived and bumped
 *   group sync (once per group per group_session_interval_s): IMGroup.lastChated and
 *           every member's group session (created when missing), instead of the
 *           reference's 5-second background thread (protocol H.6)
 *
 * Before a round is written, the conversation's imgate_msg_top row (migration
 * 011: its largest stored id) is locked and raised to the round's last id, if
 * all the round's ids are above it (one UPDATE). That primary-key lock, and
 * nothing else, makes a second writer of the same conversation, on any node,
 * wait for the first one's COMMIT and then see its ids; writers of other
 * conversations never wait for it. Otherwise the round's range is counted (a
 * locking read: rare) and written only if none is taken. So ids handed out
 * twice (a counter re-seeded while another node still held ids of the old
 * one, or a Redis replica promoted behind its primary) are refused, never
 * stored twice.
 *
 * Relations (protocol D, J.12): the reference can create two IMRelationShip
 * rows for one pair; here the first contact takes a named lock on the pair
 * (GET_LOCK, shared by every node on the database), looks again, and only then
 * inserts, so a pair has exactly one relation (and one session row each way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

#define SHARDS(M) {M(0), M(1), M(2), M(3), M(4), M(5), M(6), M(7)}

/* Both statuses separately: each MAX is then read from the index's end, whatever the history's size. */
#define MAX_MSG_ID(n)                                                                                 \
    "SELECT GREATEST(COALESCE((SELECT MAX(msgId) FROM IMMessage_" #n " WHERE relateId = ? AND status = 0), 0), " \
    "COALESCE((SELECT MAX(msgId) FROM IMMessage_" #n " WHERE relateId = ? AND status = 1), 0))"
#define MAX_GROUP_MSG_ID(n) "SELECT COALESCE(MAX(msgId), 0) FROM IMGroupMessage_" #n " WHERE groupId = ?"
#define TABLE_MSG(n) "IMMessage_" #n
#define TABLE_GROUP_MSG(n) "IMGroupMessage_" #n

static const char *const max_msg_id[8] = SHARDS(MAX_MSG_ID);
static const char *const max_group_msg_id[8] = SHARDS(MAX_GROUP_MSG_ID);
static const char *const msg_tables[8] = SHARDS(TABLE_MSG);
static const char *const group_msg_tables[8] = SHARDS(TABLE_GROUP_MSG);

const char *store_msg_table(uint32_t relation) { return msg_tables[relation % 8]; }
const char *store_group_table(uint32_t group_id) { return group_msg_tables[group_id % 8]; }

/* --- pairs and relations ------------------------------------------------------------------------- */

typedef struct user_rows {
    uint32_t id, status;
    int active;
} user_rows;

static int on_user_row(void *ctx)
{
    user_rows *u = ctx;
    if (u->status == 0)
        u->active++;
    return 0;
}

int64_t store_find_relation(imgate_worker *w, int pool, uint32_t a, uint32_t b)
{
    uint32_t small = a < b ? a : b, big = a < b ? b : a, id = 0;
    imgate_db_bind in[] = {IMGATE_DB_U32(&small), IMGATE_DB_U32(&big)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&id)};
    /* The lowest id: a database the reference wrote may hold duplicates (protocol J.12). */
    int rc = msg_api->db_query(w, pool,
                               "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? AND status = 0 "
                               "ORDER BY id LIMIT 1",
                               in, 2, out, 1);
    if (rc < 0)
        return -1;
    return rc == 1 ? id : 0;
}

static int session_exists(imgate_worker *w, uint32_t user, uint32_t peer)
{
    uint32_t type = SESSION_TYPE_SINGLE, one = 0;
    imgate_db_bind in[] = {IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&one)};
    return msg_api->db_query(w, IMGATE_DB_MASTER,
                             "SELECT 1 FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = ? LIMIT 1", in, 3,
                             out, 1);
}

static int create_session(imgate_worker *w, uint32_t user, uint32_t peer, uint32_t now)
{
    uint32_t type = SESSION_TYPE_SINGLE;
    imgate_db_bind in[] = {IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type), IMGATE_DB_U32(&now),
                           IMGATE_DB_U32(&now)};
    int64_t rc = msg_api->db_exec(w,
                                  "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) "
                                  "VALUES (?, ?, ?, 0, ?, ?)",
                                  in, 5, NULL);
    return rc < 0 ? (int)rc : 0;
}

/*
 * What a pair needs before its messages are written, made once under the pair's named lock (shared
 * by every node on the database): the relation, and both users' IMRecentSession rows, so the
 * writes only ever UPDATE sessions and two first messages never race to create anything.
 */
void store_check_pair(imgate_worker *w, pair_check *pc)
{
    user_rows u = {0, 0, 0};
    imgate_db_bind in[] = {IMGATE_DB_U32(&pc->small), IMGATE_DB_U32(&pc->big)};
    imgate_db_bind cols[] = {IMGATE_DB_U32(&u.id), IMGATE_DB_U32(&u.status)};
    int rc = msg_api->db_query_rows(w, IMGATE_DB_MASTER, "SELECT id, status FROM IMUser WHERE id IN (?, ?)", in, 2,
                                    cols, 2, on_user_row, &u);
    if (rc < 0) {
        pc->db_failed = 1;
        return;
    }
    pc->users_ok = u.active == 2;
    if (!pc->users_ok)
        return;
    int64_t rel = pc->relation ? pc->relation : store_find_relation(w, IMGATE_DB_MASTER, pc->small, pc->big);
    int s1 = session_exists(w, pc->small, pc->big), s2 = session_exists(w, pc->big, pc->small);
    if (rel < 0 || s1 < 0 || s2 < 0) {
        pc->db_failed = 1;
        return;
    }
    if ((rel > 0 && s1 == 1 && s2 == 1) || !pc->create) {
        pc->relation = (uint32_t)rel;
        if (rel > 0 && store_ensure_top(w, 0, pc->relation) != 0)
            pc->db_failed = 1;
        return;
    }
    char lock[64];
    snprintf(lock, sizeof lock, "imgate.relation.%u.%u", pc->small, pc->big);
    uint32_t got = 0, timeout = 10, now = (uint32_t)time(NULL);
    imgate_db_bind lin[] = {IMGATE_DB_STR(lock), IMGATE_DB_U32(&timeout)};
    imgate_db_bind lout[] = {IMGATE_DB_U32(&got)};
    rc = msg_api->db_query(w, IMGATE_DB_MASTER, "SELECT GET_LOCK(?, ?)", lin, 2, lout, 1);
    if (rc != 1 || lout[0].is_null || got != 1) {
        pc->db_failed = 1; /* unreachable, or another creator held the lock for 10 s: refuse, retry later */
        return;
    }
    /* Look again under the lock: another node may have been first. */
    if (rel == 0 && (rel = store_find_relation(w, IMGATE_DB_MASTER, pc->small, pc->big)) == 0) {
        uint64_t id = 0;
        imgate_db_bind ins[] = {IMGATE_DB_U32(&pc->small), IMGATE_DB_U32(&pc->big), IMGATE_DB_U32(&now),
                                IMGATE_DB_U32(&now)};
        int64_t n = msg_api->db_exec(w,
                                     "INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) "
                                     "VALUES (?, ?, 0, ?, ?)",
                                     ins, 4, &id);
        rel = n == 1 && id > 0 && id <= UINT32_MAX ? (int64_t)id : -1;
        pc->created = rel > 0;
    }
    if (rel > 0 && ((s1 = session_exists(w, pc->small, pc->big)) < 0 ||
                    (s1 == 0 && create_session(w, pc->small, pc->big, now) != 0) ||
                    (s2 = session_exists(w, pc->big, pc->small)) < 0 ||
                    (s2 == 0 && create_session(w, pc->big, pc->small, now) != 0) ||
                    store_ensure_top(w, 0, (uint32_t)rel) != 0))
        rel = -1;
    imgate_db_bind rin[] = {IMGATE_DB_STR(lock)};
    msg_api->db_query(w, IMGATE_DB_MASTER, "SELECT RELEASE_LOCK(?)", rin, 1, lout, 1);
    if (rel < 0)
        pc->db_failed = 1;
    else
        pc->relation = (uint32_t)rel;
}

int64_t store_max_msg_id(imgate_worker *w, int is_group, uint32_t id)
{
    uint64_t max = 0;
    imgate_db_bind in[] = {IMGATE_DB_U32(&id), IMGATE_DB_U32(&id)};
    imgate_db_bind out[] = {IMGATE_DB_U64(&max)};
    int rc = msg_api->db_query(w, IMGATE_DB_MASTER, is_group ? max_group_msg_id[id % 8] : max_msg_id[id % 8], in,
                               is_group ? 1 : 2, out, 1);
    if (rc < 0 || max > UINT32_MAX)
        return -1;
    return (int64_t)max;
}

int store_ensure_top(imgate_worker *w, int is_group, uint32_t id)
{
    uint32_t kind = is_group ? 2 : 1, one = 0;
    imgate_db_bind key[] = {IMGATE_DB_U32(&kind), IMGATE_DB_U32(&id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&one)};
    int rc = msg_api->db_query(w, IMGATE_DB_MASTER, "SELECT 1 FROM imgate_msg_top WHERE kind = ? AND id = ?", key, 2,
                               out, 1);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int64_t max = store_max_msg_id(w, is_group, id);
    if (max < 0)
        return IMGATE_EUNAVAIL;
    /* Whoever is first sets it; nothing is written to the conversation before the row exists. */
    uint32_t top = (uint32_t)max;
    imgate_db_bind in[] = {IMGATE_DB_U32(&kind), IMGATE_DB_U32(&id), IMGATE_DB_U32(&top)};
    int64_t n = msg_api->db_exec(w, "INSERT IGNORE INTO imgate_msg_top (kind, id, top) VALUES (?, ?, ?)", in, 3, NULL);
    return n < 0 ? (int)n : 0;
}

/* --- writes ------------------------------------------------------------------------------------------ */

static int is_audio(uint32_t type) { return type == MSG_TYPE_SINGLE_AUDIO || type == MSG_TYPE_GROUP_AUDIO; }

/* The audio's bytes in imgate_audio_data, its IMAudio row, and that row's id as the content. */
static int store_audio(imgate_worker *w, msg *m)
{
    uint32_t duration = (uint32_t)m->data[0] << 24 | (uint32_t)m->data[1] << 16 | (uint32_t)m->data[2] << 8 | m->data[3];
    uint32_t size = (uint32_t)(m->len - 4);
    uint64_t id = 0;
    imgate_db_bind a[] = {IMGATE_DB_U32(&m->from), IMGATE_DB_U32(&m->session), IMGATE_DB_U32(&size),
                          IMGATE_DB_U32(&duration), IMGATE_DB_U32(&m->created)};
    int64_t rc = msg_api->db_exec(w,
                                  "INSERT INTO IMAudio (fromId, toId, path, size, duration, created) "
                                  "VALUES (?, ?, '', ?, ?, ?)",
                                  a, 5, &id);
    if (rc < 0)
        return (int)rc;
    if (rc != 1 || id == 0 || id > UINT32_MAX)
        return IMGATE_EDB;
    uint32_t audio_id = (uint32_t)id;
    imgate_db_bind d[] = {IMGATE_DB_U32(&audio_id), IMGATE_DB_BLOB(m->data + 4, m->len - 4)};
    rc = msg_api->db_exec(w, "INSERT INTO imgate_audio_data (id, data) VALUES (?, ?)", d, 2, NULL);
    if (rc < 0)
        return (int)rc;
    snprintf(m->audio_id, sizeof m->audio_id, "%u", audio_id);
    return 0;
}

/* Revives and bumps IMRecentSession(user, peer, type); a row already current (alive, bumped this
 * second) is not written. The pair's check created the rows; one deleted since comes back with the
 * next check. */
static int bump_session(imgate_worker *w, uint32_t user, uint32_t peer, uint32_t type, uint32_t now)
{
    imgate_db_bind up[] = {IMGATE_DB_U32(&now), IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type),
                           IMGATE_DB_U32(&now)};
    int64_t rc = msg_api->db_exec(w,
                                  "UPDATE IMRecentSession SET status = 0, updated = ? "
                                  "WHERE userId = ? AND peerId = ? AND type = ? AND (status <> 0 OR updated <> ?)",
                                  up, 5, NULL);
    return rc < 0 ? (int)rc : 0;
}

/* Deleted rows (status 1) count too: an id is never given out twice, whatever became of its message. */
#define OVERLAP_MSG(n)                                                                       \
    "SELECT COUNT(*) FROM IMMessage_" #n " WHERE relateId = ? AND msgId BETWEEN ? AND ? " \
    "LOCK IN SHARE MODE"
#define OVERLAP_GROUP_MSG(n) \
    "SELECT COUNT(*) FROM IMGroupMessage_" #n " WHERE groupId = ? AND msgId BETWEEN ? AND ? LOCK IN SHARE MODE"
static const char *const overlap_msg[8] = SHARDS(OVERLAP_MSG);
static const char *const overlap_group_msg[8] = SHARDS(OVERLAP_GROUP_MSG);

/* Rows per INSERT: the binds of 8 rows fit the SDK's 64. Rounds are cut into chunks of 8, 4, 2, 1,
 * so each shard has four statements. */
#define CHUNK_MAX 8
#define SINGLE_ROW "(?, ?, ?, ?, ?, ?, 0, ?, ?)"
#define GROUP_ROW "(?, ?, ?, ?, ?, 0, ?, ?)"

static void insert_sql(char *out, size_t len, int group, uint32_t id, unsigned rows)
{
    int n = snprintf(out, len,
                     group ? "INSERT INTO %s (groupId, userId, msgId, content, type, status, created, updated) VALUES "
                           : "INSERT INTO %s (relateId, fromId, toId, msgId, content, type, status, created, updated) "
                             "VALUES ",
                     group ? store_group_table(id) : store_msg_table(id));
    for (unsigned i = 0; i < rows && n > 0 && (size_t)n < len; i++)
        n += snprintf(out + n, len - (size_t)n, "%s%s", i ? ", " : "", group ? GROUP_ROW : SINGLE_ROW);
}

/* The binds of one row; `scratch` holds the values that are not in the message. */
typedef struct row_scratch {
    uint32_t conv_id, type;
} row_scratch;

static size_t row_binds(const round_write *rw, msg *m, row_scratch *sc, imgate_db_bind *b)
{
    size_t n = 0;
    sc->conv_id = rw->conv_id;
    sc->type = m->type;
    imgate_db_bind content = is_audio(m->type) ? (imgate_db_bind)IMGATE_DB_BLOB(m->audio_id, strlen(m->audio_id))
                                               : (imgate_db_bind)IMGATE_DB_BLOB(m->data, m->len);
    imgate_db_bind conv = IMGATE_DB_U32(&sc->conv_id), from = IMGATE_DB_U32(&m->from), to = IMGATE_DB_U32(&m->session),
                   id = IMGATE_DB_U32(&m->msg_id), type = IMGATE_DB_U32(&sc->type),
                   created = IMGATE_DB_U32(&m->created);
    b[n++] = conv;
    b[n++] = from;
    if (!rw->is_group)
        b[n++] = to;
    b[n++] = id;
    b[n++] = content;
    b[n++] = type;
    b[n++] = created;
    b[n++] = created; /* updated */
    return n;
}

int store_round(imgate_worker *w, void *state, void *arg)
{
    round_write *rw = arg;
    uint32_t id = rw->conv_id, kind = rw->is_group ? 2 : 1, top = 0, last = rw->first_id + rw->n - 1;
    rw->conflict = rw->no_top = 0;
    /* The usual case in one statement: the conversation's lock (a primary-key row: nothing else is
     * locked, and it stays locked whether or not the condition holds) and the top raised, when
     * every id of the round is above it. */
    imgate_db_bind fast[] = {IMGATE_DB_U32(&last), IMGATE_DB_U32(&kind), IMGATE_DB_U32(&id),
                             IMGATE_DB_U32(&rw->first_id)};
    int64_t raised = msg_api->db_exec(w, "UPDATE imgate_msg_top SET top = ? WHERE kind = ? AND id = ? AND top < ?", fast,
                                      4, NULL);
    if (raised < 0)
        return (int)raised;
    int rc;
    if (raised == 0) {
        /* The row is missing, or an id of the round is at or below the top: look closer, locked. */
        imgate_db_bind key[] = {IMGATE_DB_U32(&kind), IMGATE_DB_U32(&id)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&top)};
        rc = msg_api->db_query(w, IMGATE_DB_MASTER, "SELECT top FROM imgate_msg_top WHERE kind = ? AND id = ? FOR UPDATE",
                               key, 2, out, 1);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            rw->no_top = 1;
            return IMGATE_EDB;
        }
        /* Ids below the top are fine if none is taken: another node's round may simply have been
         * committed first. No writer can add rows to this conversation while we hold its lock. */
        uint64_t taken = 0;
        imgate_db_bind rin[] = {IMGATE_DB_U32(&id), IMGATE_DB_U32(&rw->first_id), IMGATE_DB_U32(&last)};
        imgate_db_bind rout[] = {IMGATE_DB_U64(&taken)};
        rc = msg_api->db_query(w, IMGATE_DB_MASTER, rw->is_group ? overlap_group_msg[id % 8] : overlap_msg[id % 8], rin,
                               3, rout, 1);
        if (rc < 0)
            return rc;
        if (taken > 0) {
            rw->conflict = 1;
            return IMGATE_EDB;
        }
        if (last > top) {
            imgate_db_bind up[] = {IMGATE_DB_U32(&last), IMGATE_DB_U32(&kind), IMGATE_DB_U32(&id)};
            int64_t n = msg_api->db_exec(w, "UPDATE imgate_msg_top SET top = ? WHERE kind = ? AND id = ?", up, 3, NULL);
            if (n < 0)
                return (int)n;
        }
    }
    for (uint32_t i = 0; i < rw->n; i++)
        if (is_audio(rw->msgs[i]->type) && (rc = store_audio(w, rw->msgs[i])) != 0)
            return rc;
    imgate_db_bind binds[CHUNK_MAX * 8];
    row_scratch scratch[CHUNK_MAX];
    char sql[600];
    for (uint32_t i = 0; i < rw->n;) {
        unsigned k = CHUNK_MAX;
        while (k > rw->n - i)
            k /= 2;
        size_t nb = 0;
        for (unsigned r = 0; r < k; r++)
            nb += row_binds(rw, rw->msgs[i + r], &scratch[r], &binds[nb]);
        insert_sql(sql, sizeof sql, rw->is_group, id, k);
        int64_t n = msg_api->db_exec(w, sql, binds, nb, NULL);
        if (n < 0)
            return (int)n;
        if (n != (int64_t)k)
            return IMGATE_EDB;
        i += k;
    }
    if (rw->bump_sessions) {
        msg *m = rw->msgs[0];
        if ((rc = bump_session(w, m->from, m->session, SESSION_TYPE_SINGLE, rw->now)) != 0 ||
            (rc = bump_session(w, m->session, m->from, SESSION_TYPE_SINGLE, rw->now)) != 0)
            return rc;
    }
    return 0;
}

int store_group_sync(imgate_worker *w, void *state, void *arg)
{
    group_sync *gs = arg;
    uint32_t gid = gs->group_id, now = gs->now;
    imgate_db_bind g[] = {IMGATE_DB_U32(&now), IMGATE_DB_U32(&gid), IMGATE_DB_U32(&now)};
    int64_t rc = msg_api->db_exec(w, "UPDATE IMGroup SET lastChated = ? WHERE id = ? AND lastChated < ?", g, 3, NULL);
    if (rc < 0)
        return (int)rc;
    /* Revived too: a member who removed the group's session sees it come back with new messages, as
     * a single chat does. */
    imgate_db_bind up[] = {IMGATE_DB_U32(&gid), IMGATE_DB_U32(&now), IMGATE_DB_U32(&gid)};
    rc = msg_api->db_exec(w,
                          "UPDATE IMRecentSession s JOIN (SELECT DISTINCT userId FROM IMGroupMember "
                          "WHERE groupId = ? AND status = 0) m ON s.userId = m.userId "
                          "SET s.status = 0, s.updated = ? WHERE s.peerId = ? AND s.type = 2",
                          up, 3, NULL);
    if (rc < 0)
        return (int)rc;
    imgate_db_bind ins[] = {IMGATE_DB_U32(&gid), IMGATE_DB_U32(&now), IMGATE_DB_U32(&now), IMGATE_DB_U32(&gid),
                            IMGATE_DB_U32(&gid)};
    rc = msg_api->db_exec(w,
                          "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) "
                          "SELECT DISTINCT m.userId, ?, 2, 0, ?, ? FROM IMGroupMember m "
                          "WHERE m.groupId = ? AND m.status = 0 AND NOT EXISTS (SELECT 1 FROM IMRecentSession s "
                          "WHERE s.userId = m.userId AND s.peerId = ? AND s.type = 2)",
                          ins, 5, NULL);
    return rc < 0 ? (int)rc : 0;
}

/* --- reads ---------------------------------------------------------------------------------------------- */

typedef struct read_ctx {
    stored_msg *out;
    size_t max, n, bytes, reply_max;
    stored_msg row;
    uint8_t content[MSG_CONTENT_MAX_BYTES + 1];
    imgate_db_bind *cols;
    int oom;
} read_ctx;

static int on_msg_row(void *p)
{
    read_ctx *r = p;
    size_t len = r->cols[4].len;
    if (r->cols[4].truncated)
        len = MSG_CONTENT_MAX_BYTES; /* cannot happen with the reference column; never overflow */
    if (r->n > 0 && r->bytes + len > r->reply_max)
        return 1;
    stored_msg *s = &r->out[r->n];
    *s = r->row;
    s->len = len;
    s->data = malloc(len ? len : 1);
    if (s->data == NULL) {
        r->oom = 1;
        return 1;
    }
    memcpy(s->data, r->content, len);
    r->n++;
    r->bytes += len;
    return r->n >= r->max;
}

/* Audio rows hold an IMAudio id: rebuild duration + bytes (protocol H.8). `scratch` holds
 * 4 + audio_max bytes; the row keeps an allocation of its real size. */
static int expand_audio(imgate_worker *w, msg_plugin *mp, stored_msg *s, uint8_t *scratch)
{
    char idtext[24];
    size_t n = s->len < sizeof idtext - 1 ? s->len : sizeof idtext - 1;
    memcpy(idtext, s->data, n);
    idtext[n] = '\0';
    char *end;
    unsigned long id = strtoul(idtext, &end, 10);
    uint32_t duration = 0, audio_id = (uint32_t)id;
    size_t cap = mp->cfg.audio_max;
    uint8_t *buf = scratch;
    size_t got = 0;
    if (end != idtext && *end == '\0' && id <= UINT32_MAX) {
        imgate_db_bind in[] = {IMGATE_DB_U32(&audio_id)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&duration), IMGATE_DB_BLOB_OUT(buf + 4, cap)};
        int rc = msg_api->db_query(w, IMGATE_DB_REPLICA,
                                   "SELECT a.duration, d.data FROM IMAudio a LEFT JOIN imgate_audio_data d "
                                   "ON d.id = a.id WHERE a.id = ?",
                                   in, 1, out, 2);
        if (rc < 0)
            return rc;
        if (rc == 1 && !out[1].is_null)
            got = out[1].len < cap ? out[1].len : cap;
    }
    /* Bytes we never stored (an msfs path from the reference) come back as the duration alone. */
    buf[0] = (uint8_t)(duration >> 24);
    buf[1] = (uint8_t)(duration >> 16);
    buf[2] = (uint8_t)(duration >> 8);
    buf[3] = (uint8_t)duration;
    uint8_t *exact = malloc(4 + got);
    if (exact == NULL)
        return IMGATE_ENOMEM;
    memcpy(exact, buf, 4 + got);
    free(s->data);
    s->data = exact;
    s->len = 4 + got;
    return 0;
}

int store_read_msgs(imgate_worker *w, msg_plugin *mp, const char *sql, imgate_db_bind *params, size_t n_params,
                    int audio_bytes, stored_msg *out, size_t max, size_t budget)
{
    read_ctx *r = calloc(1, sizeof *r);
    if (r == NULL)
        return IMGATE_ENOMEM;
    r->out = out;
    r->max = max;
    r->reply_max = budget;
    imgate_db_bind cols[] = {IMGATE_DB_U32(&r->row.msg_id), IMGATE_DB_U32(&r->row.from),
                             IMGATE_DB_U32(&r->row.created), IMGATE_DB_U32(&r->row.type),
                             IMGATE_DB_BLOB_OUT(r->content, sizeof r->content)};
    r->cols = cols;
    int rc = max == 0 ? 0 : msg_api->db_query_rows(w, IMGATE_DB_REPLICA, sql, params, n_params, cols, 5, on_msg_row, r);
    size_t n = r->n;
    int oom = r->oom;
    free(r);
    if (rc < 0 || oom) {
        stored_msgs_free(out, n);
        return rc < 0 ? rc : IMGATE_ENOMEM;
    }
    if (!audio_bytes)
        return (int)n;
    /* Second pass: the connection is free again for the audio look-ups. */
    size_t total = 0, keep = n;
    uint8_t *scratch = NULL;
    for (size_t i = 0; i < n && keep == n; i++) {
        if (is_audio(out[i].type)) {
            if (scratch == NULL)
                scratch = malloc(4 + mp->cfg.audio_max);
            rc = scratch == NULL ? IMGATE_ENOMEM : expand_audio(w, mp, &out[i], scratch);
            if (rc != 0) {
                free(scratch);
                stored_msgs_free(out, n);
                return rc < 0 ? rc : IMGATE_ENOMEM;
            }
        }
        if (i > 0 && total + out[i].len > budget)
            keep = i;
        else
            total += out[i].len;
    }
    free(scratch);
    stored_msgs_free(out + keep, n - keep);
    return (int)keep;
}

void stored_msgs_free(stored_msg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
}
