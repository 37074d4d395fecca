/*
 * msg_unread.c — IMUnreadMsgCntReq (0x0307, protocol H.5, H.6): every session
 * with something unread, with its latest message.
 *
 * worker: the user's groups (IMGroupMember)
 * Redis:  one script: unread_<me> (single counters) and, per group, the
 *         group's count and the user's mark; group unread = count - mark
 * worker: each session's latest message (audio shows the reference's
 *         encrypted "[语音]" placeholder)
 * loop:   IMUnreadMsgCntRsp; total_cnt is the sum of every counter, even
 *         when the list is cut at unread_max_sessions or reply_max_bytes
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Message.pb-c.h"
#include "message.h"

/* Groups of one user considered; a user in more is not a TeamTalk user. */
#define UNREAD_GROUPS_MAX 10000

typedef struct unread_entry {
    uint32_t session, session_type, count, relation;
    int has_latest;
    stored_msg latest;
} unread_entry;

typedef struct unread_call {
    msg_plugin *mp;
    imgate_reply_to to;
    uint32_t user;
    uint32_t *groups;
    size_t n_groups, cap_groups;
    unread_entry *entries;
    size_t n;
    uint64_t total;
    int failed;
} unread_call;

static void call_free(unread_call *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->entries[i].has_latest)
            free(c->entries[i].latest.data);
    free(c->entries);
    free(c->groups);
    free(c);
}

static void finish(unread_call *c)
{
    msg_api->request_done(&c->to);
    call_free(c);
}

static void failed(unread_call *c, const char *why)
{
    msg_api->log_limited(c->mp->self, IMGATE_LOG_WARN, "unread_failed", 5, "event=unread_failed user=%u reason=\"%s\"",
                         c->user, why);
    finish(c);
}

/* --- step 3: the latest messages, and the answer ----------------------------------------------------- */

static void read_latest(imgate_worker *w, void *state, void *arg)
{
    unread_call *c = arg;
    size_t budget = c->mp->cfg.reply_max;
    for (size_t i = 0; i < c->n; i++) {
        unread_entry *e = &c->entries[i];
        char sql[300];
        imgate_db_bind in[1];
        if (e->session_type == SESSION_TYPE_GROUP) {
            snprintf(sql, sizeof sql,
                     "SELECT msgId, userId, created, type, content FROM %s WHERE groupId = ? AND status = 0 "
                     "ORDER BY msgId DESC, id DESC LIMIT 1",
                     store_group_table(e->session));
            imgate_db_bind b = IMGATE_DB_U32(&e->session);
            in[0] = b;
        } else {
            if (e->relation == 0) {
                int64_t rel = store_find_relation(w, IMGATE_DB_REPLICA, c->user, e->session);
                if (rel < 0) {
                    c->failed = 1;
                    return;
                }
                if (rel == 0)
                    continue;
                e->relation = (uint32_t)rel;
            }
            snprintf(sql, sizeof sql,
                     "SELECT msgId, fromId, created, type, content FROM %s FORCE INDEX (idx_relateId_status_msgId_created) "
                     "WHERE relateId = ? AND status = 0 ORDER BY msgId DESC, id DESC LIMIT 1",
                     store_msg_table(e->relation));
            imgate_db_bind b = IMGATE_DB_U32(&e->relation);
            in[0] = b;
        }
        int rc = store_read_msgs(w, c->mp, sql, in, 1, 0, &e->latest, 1, MSG_CONTENT_MAX_BYTES);
        if (rc < 0) {
            c->failed = 1;
            return;
        }
        e->has_latest = rc == 1;
        if (e->has_latest) {
            if (i > 0 && e->latest.len > budget) { /* the answer is full: the list ends here */
                free(e->latest.data);
                e->has_latest = 0;
                c->n = i;
                return;
            }
            budget = e->latest.len >= budget ? 0 : budget - e->latest.len;
        }
    }
}

static int is_audio(uint32_t t) { return t == MSG_TYPE_SINGLE_AUDIO || t == MSG_TYPE_GROUP_AUDIO; }

static void latest_read(void *state, void *arg, int status)
{
    unread_call *c = arg;
    msg_plugin *mp = c->mp;
    if (status != IMGATE_OK || c->failed) {
        failed(c, "database");
        return;
    }
    IM__BaseDefine__UnreadInfo *infos = calloc(c->n ? c->n : 1, sizeof *infos);
    IM__BaseDefine__UnreadInfo **list = calloc(c->n ? c->n : 1, sizeof *list);
    if (infos == NULL || list == NULL) {
        free(infos);
        free(list);
        failed(c, "no memory");
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        unread_entry *e = &c->entries[i];
        IM__BaseDefine__UnreadInfo init = IM__BASE_DEFINE__UNREAD_INFO__INIT;
        IM__BaseDefine__UnreadInfo *u = &infos[i];
        *u = init;
        int group = e->session_type == SESSION_TYPE_GROUP;
        u->session_id = e->session;
        u->session_type = (IM__BaseDefine__SessionType)e->session_type;
        u->unread_cnt = e->count;
        u->latest_msg_type = (IM__BaseDefine__MsgType)(group ? MSG_TYPE_GROUP_TEXT : MSG_TYPE_SINGLE_TEXT);
        u->latest_msg_from_user_id = group ? 0 : e->session;
        if (e->has_latest) {
            u->latest_msg_id = e->latest.msg_id;
            u->latest_msg_type = (IM__BaseDefine__MsgType)e->latest.type;
            u->latest_msg_from_user_id = e->latest.from; /* the real sender (the reference says the peer) */
            if (is_audio(e->latest.type)) {
                u->latest_msg_data.data = (uint8_t *)mp->audio_placeholder;
                u->latest_msg_data.len = strlen(mp->audio_placeholder);
            } else {
                u->latest_msg_data.data = e->latest.data;
                u->latest_msg_data.len = e->latest.len;
            }
        }
        list[i] = u;
    }
    IM__Message__IMUnreadMsgCntRsp rsp = IM__MESSAGE__IMUNREAD_MSG_CNT_RSP__INIT;
    rsp.user_id = c->user;
    rsp.total_cnt = c->total > UINT32_MAX ? UINT32_MAX : (uint32_t)c->total;
    rsp.n_unreadinfo_list = c->n;
    rsp.unreadinfo_list = list;
    msg_api->reply(&c->to, CID_MSG_UNREAD_CNT_RESPONSE, &rsp.base);
    free(infos);
    free(list);
    finish(c);
}

/* --- step 2: the counters ------------------------------------------------------------------------------ */

/* KEYS[1] = unread_<me>, then per group <gid>_im_group_msg, <me>_<gid>_im_user_group.
 * Returns {HGETALL unread_<me>, {group count, user mark, ...}}. */
static const char COUNTERS_SCRIPT[] = "local counts = {} "
                                      "for i = 2, #KEYS, 2 do "
                                      "  counts[#counts + 1] = redis.call('HGET', KEYS[i], 'count') or '0' "
                                      "  counts[#counts + 1] = redis.call('HGET', KEYS[i + 1], 'count') or '0' "
                                      "end "
                                      "return {redis.call('HGETALL', KEYS[1]), counts}";

static int parse_u32(const redisReply *r, uint32_t *out)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING)
        return -1;
    char *end;
    unsigned long long v = strtoull(r->str, &end, 10);
    if (end == r->str || *end != '\0' || r->str[0] == '-' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void add_entry(unread_call *c, uint32_t session, uint32_t type, uint32_t count)
{
    c->total += count;
    if (c->n >= c->mp->cfg.unread_max)
        return;
    unread_entry *e = &c->entries[c->n++];
    memset(e, 0, sizeof *e);
    e->session = session;
    e->session_type = type;
    e->count = count;
    if (type == SESSION_TYPE_SINGLE) {
        conv *cv = conv_find_pair(c->mp, c->user, session);
        e->relation = cv ? cv->id : 0;
    }
}

static void counters_read(void *state, const void *reply_, void *arg)
{
    unread_call *c = arg;
    const redisReply *r = reply_;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements != 2 * c->n_groups) {
        failed(c, r == NULL ? "redis unreachable" : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        return;
    }
    const redisReply *singles = r->element[0], *groups = r->element[1];
    c->entries = calloc(c->mp->cfg.unread_max, sizeof *c->entries);
    if (c->entries == NULL) {
        failed(c, "no memory");
        return;
    }
    for (size_t i = 0; i + 1 < singles->elements; i += 2) {
        uint32_t peer, count;
        if (parse_u32(singles->element[i], &peer) == 0 && parse_u32(singles->element[i + 1], &count) == 0 &&
            peer != 0 && count > 0)
            add_entry(c, peer, SESSION_TYPE_SINGLE, count);
    }
    for (size_t i = 0; i < c->n_groups; i++) {
        uint32_t all = 0, seen = 0;
        parse_u32(groups->element[2 * i], &all);
        parse_u32(groups->element[2 * i + 1], &seen);
        if (all > seen)
            add_entry(c, c->groups[i], SESSION_TYPE_GROUP, all - seen);
    }
    msg_read_submit(c->mp, read_latest, latest_read, c);
}

/* --- step 1: the user's groups -------------------------------------------------------------------------- */

typedef struct group_row {
    unread_call *c;
    uint32_t gid;
} group_row;

static int on_group(void *p)
{
    group_row *g = p;
    unread_call *c = g->c;
    if (c->n_groups == c->cap_groups) {
        size_t ncap = c->cap_groups ? 2 * c->cap_groups : 16;
        uint32_t *n = realloc(c->groups, ncap * sizeof *n);
        if (n == NULL)
            return 1;
        c->groups = n;
        c->cap_groups = ncap;
    }
    c->groups[c->n_groups++] = g->gid;
    return 0;
}

static void read_groups(imgate_worker *w, void *state, void *arg)
{
    unread_call *c = arg;
    group_row g = {c, 0};
    uint32_t limit = UNREAD_GROUPS_MAX;
    imgate_db_bind in[] = {IMGATE_DB_U32(&c->user), IMGATE_DB_U32(&limit)};
    imgate_db_bind cols[] = {IMGATE_DB_U32(&g.gid)};
    if (msg_api->db_query_rows(w, IMGATE_DB_REPLICA,
                               "SELECT DISTINCT groupId FROM IMGroupMember WHERE userId = ? AND status = 0 LIMIT ?", in,
                               2, cols, 1, on_group, &g) < 0)
        c->failed = 1;
}

static void groups_read(void *state, void *arg, int status)
{
    unread_call *c = arg;
    if (status != IMGATE_OK || c->failed) {
        failed(c, "database");
        return;
    }
    size_t argc = 4 + 2 * c->n_groups;
    const char **argv = malloc(argc * sizeof *argv);
    char (*keys)[48] = malloc((1 + 2 * c->n_groups) * sizeof *keys);
    char nkeys[24];
    if (argv == NULL || keys == NULL) {
        free(argv);
        free(keys);
        failed(c, "no memory");
        return;
    }
    snprintf(keys[0], sizeof keys[0], "unread_%u", c->user);
    for (size_t i = 0; i < c->n_groups; i++) {
        snprintf(keys[1 + 2 * i], sizeof keys[0], "%u_im_group_msg", c->groups[i]);
        snprintf(keys[2 + 2 * i], sizeof keys[0], "%u_%u_im_user_group", c->user, c->groups[i]);
    }
    snprintf(nkeys, sizeof nkeys, "%zu", 1 + 2 * c->n_groups);
    argv[0] = "EVAL";
    argv[1] = COUNTERS_SCRIPT;
    argv[2] = nkeys;
    for (size_t i = 0; i < 1 + 2 * c->n_groups; i++)
        argv[3 + i] = keys[i];
    int rc = msg_api->redis(c->mp->self, counters_read, c, (int)argc, argv, NULL);
    free(argv);
    free(keys);
    if (rc != IMGATE_OK)
        failed(c, "no memory");
}

void msg_on_unread(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    unread_call *c = calloc(1, sizeof *c);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (c == NULL) {
        msg_api->request_done(&to);
        return;
    }
    c->mp = mp;
    c->to = to;
    c->user = req->user_id; /* the session's user, whatever the body says */
    msg_read_submit(mp, read_groups, groups_read, c);
}
