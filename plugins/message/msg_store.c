/*
 * msg_store.c — everything the plugin does in MySQL, on worker threads.
 *
 * Writes (submit_write bodies, each inside the batch's transaction):
 *   single: [audio: IMAudio + imgate_audio_data] + IMMessage_<relateId % 8>
 *           + (once per pair per second) both IMRecentSession rows revived and bumped
 *   group:  [audio] + IMGroupMessage_<gid % 8>
 *   group sync (once per group per group_session_interval_s): IMGroup.lastChated and
 *           every member's group session (created when missing), instead of the
 *           reference's 5-second background thread (protocol H.6)
 *
 * A message row is inserted only when its (conversation, msgId) is not stored
 * yet: an id handed out twice (a counter re-seeded while another node still
 * had ids of the old one in flight) is refused at the INSERT, under InnoDB's
 * next-key locks, and never stored twice.
 *
 * Relations (protocol D, J.12): the reference can create two IMRelationShip
 * rows for one pair; here the first contact takes a named lock on the pair
 * (GET_LOCK, shared by every node on the database), looks again, and only then
 * inserts, so a pair has exactly one relation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

#define SHARDS(M) {M(0), M(1), M(2), M(3), M(4), M(5), M(6), M(7)}

#define INSERT_MSG(n)                                                                                    \
    "INSERT INTO IMMessage_" #n " (relateId, fromId, toId, msgId, content, type, status, created, updated) " \
    "SELECT ?, ?, ?, ?, ?, ?, 0, ?, ? FROM DUAL WHERE NOT EXISTS "                                       \
    "(SELECT 1 FROM IMMessage_" #n " WHERE relateId = ? AND status = 0 AND msgId = ?)"
#define INSERT_GROUP_MSG(n)                                                                               \
    "INSERT INTO IMGroupMessage_" #n " (groupId, userId, msgId, content, type, status, created, updated) " \
    "SELECT ?, ?, ?, ?, ?, 0, ?, ? FROM DUAL WHERE NOT EXISTS "                                           \
    "(SELECT 1 FROM IMGroupMessage_" #n " WHERE groupId = ? AND msgId = ?)"
/* Both statuses separately: each MAX is then read from the index's end, whatever the history's size. */
#define MAX_MSG_ID(n)                                                                                 \
    "SELECT GREATEST(COALESCE((SELECT MAX(msgId) FROM IMMessage_" #n " WHERE relateId = ? AND status = 0), 0), " \
    "COALESCE((SELECT MAX(msgId) FROM IMMessage_" #n " WHERE relateId = ? AND status = 1), 0))"
#define MAX_GROUP_MSG_ID(n) "SELECT COALESCE(MAX(msgId), 0) FROM IMGroupMessage_" #n " WHERE groupId = ?"
#define TABLE_MSG(n) "IMMessage_" #n
#define TABLE_GROUP_MSG(n) "IMGroupMessage_" #n

static const char *const insert_msg[8] = SHARDS(INSERT_MSG);
static const char *const insert_group_msg[8] = SHARDS(INSERT_GROUP_MSG);
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
    if (!pc->users_ok || pc->relation != 0)
        return;
    int64_t rel = store_find_relation(w, IMGATE_DB_MASTER, pc->small, pc->big);
    if (rel != 0 || !pc->create) {
        if (rel < 0)
            pc->db_failed = 1;
        else
            pc->relation = (uint32_t)rel;
        return;
    }
    /* First contact: one creator at a time for this pair, on every node. */
    char lock[64];
    snprintf(lock, sizeof lock, "imgate.relation.%u.%u", pc->small, pc->big);
    uint32_t got = 0, timeout = 10;
    imgate_db_bind lin[] = {IMGATE_DB_STR(lock), IMGATE_DB_U32(&timeout)};
    imgate_db_bind lout[] = {IMGATE_DB_U32(&got)};
    rc = msg_api->db_query(w, IMGATE_DB_MASTER, "SELECT GET_LOCK(?, ?)", lin, 2, lout, 1);
    if (rc != 1 || lout[0].is_null || got != 1) {
        pc->db_failed = 1; /* unreachable, or another creator held the lock for 10 s: refuse, retry later */
        return;
    }
    rel = store_find_relation(w, IMGATE_DB_MASTER, pc->small, pc->big);
    if (rel == 0) {
        uint32_t now = (uint32_t)time(NULL);
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

/* --- writes ------------------------------------------------------------------------------------------ */

static int is_audio(uint32_t type) { return type == MSG_TYPE_SINGLE_AUDIO || type == MSG_TYPE_GROUP_AUDIO; }

/* The audio's bytes in imgate_audio_data, its IMAudio row, and that row's id as the content. */
static int store_audio(imgate_worker *w, msg *m, char content[24])
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
    snprintf(content, 24, "%u", audio_id);
    return 0;
}

/* Revives and bumps IMRecentSession(user, peer, type), creating it when missing. */
static int bump_session(imgate_worker *w, uint32_t user, uint32_t peer, uint32_t type, uint32_t now)
{
    imgate_db_bind up[] = {IMGATE_DB_U32(&now), IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type)};
    int64_t rc = msg_api->db_exec(w,
                                  "UPDATE IMRecentSession SET status = 0, updated = ? "
                                  "WHERE userId = ? AND peerId = ? AND type = ?",
                                  up, 4, NULL);
    if (rc != 0)
        return rc < 0 ? (int)rc : 0;
    /* Nothing changed: the row is missing (or was bumped in this very second). */
    imgate_db_bind ins[] = {IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type), IMGATE_DB_U32(&now),
                            IMGATE_DB_U32(&now), IMGATE_DB_U32(&user), IMGATE_DB_U32(&peer), IMGATE_DB_U32(&type)};
    rc = msg_api->db_exec(w,
                          "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) "
                          "SELECT ?, ?, ?, 0, ?, ? FROM DUAL WHERE NOT EXISTS "
                          "(SELECT 1 FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = ?)",
                          ins, 8, NULL);
    return rc < 0 ? (int)rc : 0;
}

/* The content bind: the exact bytes, or the audio id. */
static int content_bind(imgate_worker *w, msg *m, char audio_id[24], imgate_db_bind *b)
{
    if (is_audio(m->type)) {
        int rc = store_audio(w, m, audio_id);
        if (rc != 0)
            return rc;
        imgate_db_bind s = IMGATE_DB_BLOB(audio_id, strlen(audio_id));
        *b = s;
        return 0;
    }
    imgate_db_bind s = IMGATE_DB_BLOB(m->data, m->len);
    *b = s;
    return 0;
}

int store_single(imgate_worker *w, void *state, void *arg)
{
    msg *m = arg;
    uint32_t relation = m->conv->id, type = m->type;
    char audio_id[24];
    m->conflict = 0;
    imgate_db_bind content;
    int rc = content_bind(w, m, audio_id, &content);
    if (rc != 0)
        return rc;
    imgate_db_bind in[] = {IMGATE_DB_U32(&relation), IMGATE_DB_U32(&m->from), IMGATE_DB_U32(&m->session),
                           IMGATE_DB_U32(&m->msg_id), content, IMGATE_DB_U32(&type),
                           IMGATE_DB_U32(&m->created), IMGATE_DB_U32(&m->created),
                           IMGATE_DB_U32(&relation), IMGATE_DB_U32(&m->msg_id)};
    int64_t n = msg_api->db_exec(w, insert_msg[relation % 8], in, 10, NULL);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        m->conflict = 1;
        return IMGATE_EDB;
    }
    if (m->bump_sessions) {
        if ((rc = bump_session(w, m->from, m->session, SESSION_TYPE_SINGLE, m->created)) != 0 ||
            (rc = bump_session(w, m->session, m->from, SESSION_TYPE_SINGLE, m->created)) != 0)
            return rc;
    }
    return 0;
}

int store_group(imgate_worker *w, void *state, void *arg)
{
    msg *m = arg;
    uint32_t gid = m->session, type = m->type;
    char audio_id[24];
    m->conflict = 0;
    imgate_db_bind content;
    int rc = content_bind(w, m, audio_id, &content);
    if (rc != 0)
        return rc;
    imgate_db_bind in[] = {IMGATE_DB_U32(&gid), IMGATE_DB_U32(&m->from), IMGATE_DB_U32(&m->msg_id), content,
                           IMGATE_DB_U32(&type), IMGATE_DB_U32(&m->created), IMGATE_DB_U32(&m->created),
                           IMGATE_DB_U32(&gid), IMGATE_DB_U32(&m->msg_id)};
    int64_t n = msg_api->db_exec(w, insert_group_msg[gid % 8], in, 9, NULL);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        m->conflict = 1;
        return IMGATE_EDB;
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

/* Audio rows hold an IMAudio id: rebuild duration + bytes (protocol H.8). */
static int expand_audio(imgate_worker *w, msg_plugin *mp, stored_msg *s)
{
    char idtext[24];
    size_t n = s->len < sizeof idtext - 1 ? s->len : sizeof idtext - 1;
    memcpy(idtext, s->data, n);
    idtext[n] = '\0';
    char *end;
    unsigned long id = strtoul(idtext, &end, 10);
    uint32_t duration = 0, audio_id = (uint32_t)id;
    size_t cap = mp->cfg.audio_max;
    uint8_t *buf = malloc(4 + cap);
    if (buf == NULL)
        return -1;
    size_t got = 0;
    if (end != idtext && *end == '\0' && id <= UINT32_MAX) {
        imgate_db_bind in[] = {IMGATE_DB_U32(&audio_id)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&duration), IMGATE_DB_BLOB_OUT(buf + 4, cap)};
        int rc = msg_api->db_query(w, IMGATE_DB_REPLICA,
                                   "SELECT a.duration, d.data FROM IMAudio a LEFT JOIN imgate_audio_data d "
                                   "ON d.id = a.id WHERE a.id = ?",
                                   in, 1, out, 2);
        if (rc < 0) {
            free(buf);
            return rc;
        }
        if (rc == 1 && !out[1].is_null)
            got = out[1].len < cap ? out[1].len : cap;
    }
    /* Bytes we never stored (an msfs path from the reference) come back as the duration alone. */
    buf[0] = (uint8_t)(duration >> 24);
    buf[1] = (uint8_t)(duration >> 16);
    buf[2] = (uint8_t)(duration >> 8);
    buf[3] = (uint8_t)duration;
    free(s->data);
    s->data = buf;
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
    for (size_t i = 0; i < n && keep == n; i++) {
        if (is_audio(out[i].type) && (rc = expand_audio(w, mp, &out[i])) != 0) {
            stored_msgs_free(out, n);
            return rc < 0 ? rc : IMGATE_ENOMEM;
        }
        if (i > 0 && total + out[i].len > budget)
            keep = i;
        else
            total += out[i].len;
    }
    stored_msgs_free(out + keep, n - keep);
    return (int)keep;
}

void stored_msgs_free(stored_msg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
}
