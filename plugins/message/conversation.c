/*
 * conversation.c — the road every message takes between its handler and
 * submit_write, one conversation (user pair or group) at a time.
 *
 * A conversation runs one "round" at a time: it takes every message waiting
 * (up to ids_per_round), checks them, gives them consecutive ids with one
 * Redis INCRBY, and submits their writes in arrival order with the
 * conversation as order_key. The next round starts as soon as the ids are
 * back, so under load the rounds simply grow. The round is also what keeps a
 * conversation's order across the asynchronous steps: nothing of a later round
 * reaches Redis or a worker before the earlier round's writes are queued.
 *
 *   pair:  check (both users active, relation id; a worker job, cached for
 *          user_check_s) -> ids -> writes
 *   group: membership (imgate.groups, every round) -> ids -> writes, plus at
 *          most one members' session bump per group_session_interval_s
 *
 * Ids (protocol E): msg_id_<relateId> / group_msg_id_<gid>, INCRBY n for n
 * messages. A counter Redis no longer has (flushed, failed over) is re-seeded
 * from the largest msgId MySQL holds, read on the conversation's own worker
 * after every write queued before it, and set with one script that only ever
 * raises the counter; two nodes or two rounds racing both end up counting on
 * from the same value. The write itself refuses a round whose ids MySQL
 * already holds (msg_store.c), and the round goes again after a re-seed.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

/* Times a message is given a new id after finding its id already stored. */
#define ID_CONFLICT_RETRIES 3

/*
 * Both scripts: KEYS[1] the counter, KEYS[2] the conversation's "session removed" mark (set by the
 * buddy plugin when a user removes the pair's or the group's recent session; deleted here), ARGV[1]
 * n. They answer {last id, marks deleted}; the mark makes the round revive the sessions even when
 * they were bumped earlier in the same second.
 */
/* -1 as the id when the counter is missing (or not a counter): re-seed first. */
static const char ALLOC_SCRIPT[] =
    "local removed = redis.call('DEL', KEYS[2]) "
    "local v = redis.call('GET', KEYS[1]) "
    "if not v or not string.match(v, '^%d+$') then return {-1, removed} end "
    "return {redis.call('INCRBY', KEYS[1], ARGV[1]), removed}";
/* ARGV[2] the largest stored id. Raises the counter to it, never lowers it. */
static const char SEED_SCRIPT[] =
    "local removed = redis.call('DEL', KEYS[2]) "
    "local v = redis.call('GET', KEYS[1]) "
    "local cur = v and string.match(v, '^%d+$') and tonumber(v) "
    "if not cur or cur < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end "
    "return {redis.call('INCRBY', KEYS[1], ARGV[1]), removed}";

/* The mark the buddy plugin sets when a session of this conversation is removed (plugins/buddy). */
static void removed_mark_key(char *out, size_t len, const conv *c)
{
    if (c->is_group)
        snprintf(out, len, "imgate:session_removed:group:%u", c->id);
    else
        snprintf(out, len, "imgate:session_removed:pair:%u:%u", (uint32_t)(c->key >> 32), (uint32_t)c->key);
}

static void pump(msg_plugin *mp, conv *c);
static void start_round(msg_plugin *mp, conv *c);

static long long now_s(void) { return (long long)time(NULL); }

/* The order_key of a conversation's writes and of the jobs that must run after them. */
static uint64_t write_key(const conv *c) { return c->is_group ? ((uint64_t)1 << 32) | c->id : c->id; }

void member_list_release(member_list *l)
{
    if (l != NULL && --l->refs == 0)
        free(l);
}

/* --- the cache --------------------------------------------------------------------------------- */

static int idle(const conv *c)
{
    return !c->busy && !c->writing && c->active == 0 && c->pending_head == NULL && c->retry_head == NULL && c->round_head == NULL;
}

/* Forgets idle conversations once the cache holds more than cache_max (down to half of it). */
static void evict(msg_plugin *mp)
{
    size_t total = mp->pairs.len + mp->group_convs.len;
    if (total <= mp->cfg.cache_max)
        return;
    u64map *maps[2] = {&mp->pairs, &mp->group_convs};
    for (int k = 0; k < 2 && mp->pairs.len + mp->group_convs.len > mp->cfg.cache_max / 2; k++) {
        size_t n = 0, pos = 0;
        uint64_t key, *victims = malloc(maps[k]->len * sizeof *victims);
        void *v;
        if (victims == NULL)
            return;
        while (u64map_next(maps[k], &pos, &key, &v))
            if (idle(v))
                victims[n++] = key;
        for (size_t i = 0; i < n && mp->pairs.len + mp->group_convs.len > mp->cfg.cache_max / 2; i++)
            free(u64map_del(maps[k], victims[i]));
        free(victims);
    }
}

static conv *conv_get(msg_plugin *mp, u64map *map, uint64_t key, int create)
{
    conv *c = u64map_get(map, key);
    if (c != NULL || !create)
        return c;
    evict(mp);
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->key = key;
    if (u64map_put(map, key, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

static uint64_t pair_key(uint32_t a, uint32_t b)
{
    uint32_t small = a < b ? a : b, big = a < b ? b : a;
    return ((uint64_t)small << 32) | big;
}

conv *conv_find_pair(msg_plugin *mp, uint32_t a, uint32_t b) { return conv_get(mp, &mp->pairs, pair_key(a, b), 0); }

void conv_free_all(msg_plugin *mp)
{
    u64map *maps[2] = {&mp->pairs, &mp->group_convs};
    for (int k = 0; k < 2; k++) {
        size_t pos = 0;
        void *v;
        while (u64map_next(maps[k], &pos, NULL, &v))
            free(v);
        u64map_free(maps[k]);
    }
}

/* --- lists --------------------------------------------------------------------------------------- */

static void append(msg **head, msg **tail, msg *m)
{
    m->next = NULL;
    if (*tail)
        (*tail)->next = m;
    else
        *head = m;
    *tail = m;
}

static msg *pop(msg **head, msg **tail)
{
    msg *m = *head;
    if (m) {
        *head = m->next;
        if (*head == NULL)
            *tail = NULL;
        m->next = NULL;
    }
    return m;
}

/* Refuses every message of the round; the conversation is free for the next one. */
static void refuse_round(msg_plugin *mp, conv *c, imgate_metric *why, const char *reason)
{
    msg *m;
    while ((m = pop(&c->round_head, &c->round_tail)) != NULL) {
        c->active--;
        msg_refuse(mp, m, why, reason);
    }
    c->round_n = 0;
}

static void refuse_waiting(msg_plugin *mp, conv *c, imgate_metric *why, const char *reason)
{
    msg *m;
    while ((m = pop(&c->retry_head, &c->retry_tail)) != NULL)
        msg_refuse(mp, m, why, reason);
    while ((m = pop(&c->pending_head, &c->pending_tail)) != NULL)
        msg_refuse(mp, m, why, reason);
}

/* --- writes and their completion ----------------------------------------------------------------- */

static void round_written(void *state, void *arg, int status)
{
    msg_plugin *mp = state;
    round_write *rw = arg;
    conv *c = rw->conv;
    c->active -= rw->n;
    c->writing = 0;
    if (status != IMGATE_OK && rw->bump_sessions)
        c->bumped_second = 0; /* the bump rolled back with the round: the next round carries it */
    if (status == IMGATE_OK) {
        msg_count_round(mp, rw);
        for (uint32_t i = 0; i < rw->n; i++)
            msg_complete(mp, rw->msgs[i]);
        free(rw);
        pump(mp, c);
        return;
    }
    if (rw->no_top) {
        /* The conversation's imgate_msg_top row went missing: make it again, then the same ids. */
        c->top_ready = 0;
        c->state = CONV_UNCHECKED;
        for (uint32_t i = 0; i < rw->n; i++) {
            member_list_release(rw->msgs[i]->members);
            rw->msgs[i]->members = NULL;
            append(&c->retry_head, &c->retry_tail, rw->msgs[i]);
        }
        free(rw);
        pump(mp, c);
        return;
    }
    if (rw->conflict) {
        /* MySQL already holds one of the round's ids: the counter is behind it. Re-seed and go
         * again, ahead of the messages that arrived after them. */
        msg_api->metric_inc(mp->id_conflicts, 1);
        msg_api->log_limited(mp->self, IMGATE_LOG_WARN, "msg_id_conflict", 5,
                             "event=msg_id_conflict group=%d conversation=%u first_id=%u n=%u", c->is_group, c->id,
                             rw->first_id, rw->n);
        c->needs_seed = 1;
        for (uint32_t i = 0; i < rw->n; i++) {
            msg *m = rw->msgs[i];
            member_list_release(m->members);
            m->members = NULL;
            if (++m->retries > ID_CONFLICT_RETRIES)
                msg_refuse(mp, m, mp->refused_ids, "ids keep colliding");
            else
                append(&c->retry_head, &c->retry_tail, m);
        }
        free(rw);
        pump(mp, c);
        return;
    }
    for (uint32_t i = 0; i < rw->n; i++)
        msg_refuse(mp, rw->msgs[i], mp->refused_store, status == IMGATE_EUNAVAIL ? "database unavailable" : "not stored");
    free(rw);
    pump(mp, c);
}

static void group_synced(void *state, void *arg, int status)
{
    group_sync *gs = arg;
    if (status != IMGATE_OK) {
        gs->conv->bumped_second = 0; /* the next message tries again */
        msg_api->log_limited(gs->mp->self, IMGATE_LOG_WARN, "group_session_sync_failed", 5,
                             "event=group_session_sync_failed group=%u status=%d", gs->group_id, status);
    }
    gs->conv->active--;
    free(gs);
}

/* The round has its ids: one write for all of it. The next round starts when it is done (what
 * arrives meanwhile waits and joins that round: group commit). */
static void submit_round(msg_plugin *mp, conv *c, uint64_t last_id)
{
    uint32_t now = (uint32_t)time(NULL);
    round_write *rw = malloc(sizeof *rw + c->round_n * sizeof rw->msgs[0]);
    if (rw == NULL) {
        refuse_round(mp, c, mp->refused_store, "no memory");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    memset(rw, 0, sizeof *rw);
    rw->mp = mp;
    rw->conv = c;
    rw->is_group = c->is_group;
    rw->conv_id = c->id;
    rw->first_id = (uint32_t)(last_id - c->round_n + 1);
    rw->now = now;
    /* The sessions' `updated` is in seconds: one bump per second says everything, unless a user
     * removed the session since (the mark the id script found): then this round revives it. */
    if (!c->is_group && (c->bumped_second != now || c->revive)) {
        rw->bump_sessions = 1;
        c->bumped_second = now;
        c->revive = 0;
    }
    msg *m;
    while ((m = pop(&c->round_head, &c->round_tail)) != NULL) {
        m->msg_id = rw->first_id + rw->n;
        rw->msgs[rw->n++] = m;
    }
    c->round_n = 0;
    c->writing = 1;
    msg_api->submit_write(mp->self, write_key(c), store_round, round_written, rw);
    if (c->is_group && (now >= c->bumped_second + mp->cfg.group_session_s || c->revive)) {
        c->revive = 0;
        group_sync *gs = calloc(1, sizeof *gs);
        if (gs != NULL) {
            gs->mp = mp;
            gs->conv = c;
            gs->group_id = c->id;
            gs->now = now;
            c->bumped_second = now;
            c->active++;
            msg_api->submit_write(mp->self, write_key(c), store_group_sync, group_synced, gs);
        }
    }
    c->busy = 0;
    pump(mp, c);
}

/* --- ids ------------------------------------------------------------------------------------------- */

typedef struct seed_call {
    msg_plugin *mp;
    conv *c;              /* loop thread only */
    int is_group;         /* copies for the worker */
    uint32_t id;
    int64_t max;
} seed_call;

static void on_ids(void *state, const void *reply_, void *arg);

static void send_seed(msg_plugin *mp, conv *c, int64_t max)
{
    char key[40], mark[64], n[16], m[24];
    msg_counter_key(key, sizeof key, c->is_group, c->id);
    removed_mark_key(mark, sizeof mark, c);
    snprintf(n, sizeof n, "%u", c->round_n);
    snprintf(m, sizeof m, "%lld", (long long)max);
    const char *argv[] = {"EVAL", SEED_SCRIPT, "2", key, mark, n, m};
    msg_api->metric_inc(mp->id_reseeds, 1);
    if (msg_api->redis(mp->self, on_ids, c, 7, argv, NULL) != IMGATE_OK) {
        refuse_round(mp, c, mp->refused_ids, "no memory");
        c->busy = 0;
        pump(mp, c);
    }
}

static void read_max(imgate_worker *w, void *state, void *arg)
{
    seed_call *s = arg;
    s->max = store_max_msg_id(w, s->is_group, s->id);
}

static void max_read(void *state, void *arg, int status)
{
    seed_call *s = arg;
    msg_plugin *mp = s->mp;
    conv *c = s->c;
    int64_t max = status == IMGATE_OK ? s->max : -1;
    free(s);
    if (max < 0) {
        refuse_round(mp, c, mp->refused_ids, "cannot read the largest stored id");
        c->needs_seed = 1;
        c->busy = 0;
        pump(mp, c);
        return;
    }
    msg_api->log(mp->self, IMGATE_LOG_INFO, "event=msg_id_reseed group=%d conversation=%u stored_max=%lld",
                 c->is_group, c->id, (long long)max);
    send_seed(mp, c, max);
}

/* Reads the largest stored id on the conversation's worker: after every write queued before. */
static void reseed(msg_plugin *mp, conv *c)
{
    seed_call *s = calloc(1, sizeof *s);
    if (s == NULL) {
        refuse_round(mp, c, mp->refused_ids, "no memory");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    s->mp = mp;
    s->c = c;
    s->is_group = c->is_group;
    s->id = c->id;
    c->needs_seed = 0;
    msg_api->submit_job(mp->self, write_key(c), read_max, max_read, s);
}

static void on_ids(void *state, const void *reply_, void *arg)
{
    msg_plugin *mp = state;
    conv *c = arg;
    const redisReply *reply = reply_, *r = NULL;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        r = reply->element[0];
        if (reply->element[1]->integer > 0)
            c->revive = 1; /* kept until a round's write revives the sessions */
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        r = reply;
    }
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == -1) {
        reseed(mp, c);
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < (long long)c->round_n ||
        r->integer > (long long)UINT32_MAX) {
        msg_api->log_limited(mp->self, IMGATE_LOG_WARN, "msg_ids_failed", 5,
                             "event=msg_ids_failed group=%d conversation=%u reason=\"%s\"", c->is_group, c->id,
                             r == NULL ? "redis unreachable" : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        refuse_round(mp, c, mp->refused_ids, "no id");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    submit_round(mp, c, (uint64_t)r->integer);
}

static void allocate(msg_plugin *mp, conv *c)
{
    if (c->fresh) {
        /* We created the relation: nothing is stored under it, its counter starts at 0. */
        c->fresh = 0;
        send_seed(mp, c, 0);
        return;
    }
    if (c->needs_seed) {
        reseed(mp, c);
        return;
    }
    char key[40], mark[64], n[16];
    msg_counter_key(key, sizeof key, c->is_group, c->id);
    removed_mark_key(mark, sizeof mark, c);
    snprintf(n, sizeof n, "%u", c->round_n);
    const char *argv[] = {"EVAL", ALLOC_SCRIPT, "2", key, mark, n};
    if (msg_api->redis(mp->self, on_ids, c, 6, argv, NULL) != IMGATE_OK) {
        refuse_round(mp, c, mp->refused_ids, "no memory");
        c->busy = 0;
        pump(mp, c);
    }
}

/* --- checks ------------------------------------------------------------------------------------------ */

typedef struct check_call {
    msg_plugin *mp;
    conv *c;
    pair_check pc;
} check_call;

static void check_work(imgate_worker *w, void *state, void *arg)
{
    check_call *call = arg;
    store_check_pair(w, &call->pc);
}

static void checked(void *state, void *arg, int status)
{
    check_call *call = arg;
    msg_plugin *mp = call->mp;
    conv *c = call->c;
    c->busy = 0;
    if (status != IMGATE_OK || call->pc.db_failed) {
        free(call);
        refuse_waiting(mp, c, mp->refused_store, "database unavailable");
        return;
    }
    c->checked_until = now_s() + mp->cfg.user_check_s;
    if (!call->pc.users_ok) {
        free(call);
        c->state = CONV_INVALID;
        refuse_waiting(mp, c, mp->refused_receiver, "unknown or inactive user");
        return;
    }
    c->state = CONV_READY;
    c->top_ready = 1; /* the check made sure of it */
    c->id = call->pc.relation;
    if (call->pc.created) {
        c->fresh = 1;
        msg_api->metric_inc(mp->relations_created, 1);
    }
    free(call);
    /* Straight to the ids: with user_check_s = 0 the check must not expire before it is used. */
    if (c->retry_head || c->pending_head)
        start_round(mp, c);
    pump(mp, c);
}

static void check_pair(msg_plugin *mp, conv *c)
{
    check_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        refuse_waiting(mp, c, mp->refused_store, "no memory");
        return;
    }
    call->mp = mp;
    call->c = c;
    call->pc.small = c->small;
    call->pc.big = c->big;
    call->pc.relation = c->id;
    call->pc.create = 1;
    c->busy = 1;
    msg_api->submit_job(mp->self, c->key, check_work, checked, call);
}

typedef struct top_call {
    msg_plugin *mp;
    conv *c;              /* loop thread only */
    int is_group;         /* copies for the worker */
    uint32_t id;
    int rc;
} top_call;

static void top_work(imgate_worker *w, void *state, void *arg)
{
    top_call *t = arg;
    t->rc = store_ensure_top(w, t->is_group, t->id);
}

static void top_done(void *state, void *arg, int status)
{
    top_call *t = arg;
    msg_plugin *mp = t->mp;
    conv *c = t->c;
    int ok = status == IMGATE_OK && t->rc == 0;
    free(t);
    if (!ok) {
        refuse_round(mp, c, mp->refused_store, "database unavailable");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    c->top_ready = 1;
    allocate(mp, c);
}

/* A group's first round in this process: its imgate_msg_top row, then its ids. */
static void ensure_top(msg_plugin *mp, conv *c)
{
    top_call *t = calloc(1, sizeof *t);
    if (t == NULL) {
        refuse_round(mp, c, mp->refused_store, "no memory");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    t->mp = mp;
    t->c = c;
    t->is_group = c->is_group;
    t->id = c->id;
    msg_api->submit_job(mp->self, write_key(c), top_work, top_done, t);
}

/* The group's members as the round saw them: who may send, and who receives. */
static void group_looked_up(void *arg, int status, const imgate_group_view *view)
{
    conv *c = arg;
    msg_plugin *mp = c->mp;
    if (status != IMGATE_OK) {
        refuse_round(mp, c, status == IMGATE_EINVAL ? mp->refused_member : mp->refused_store,
                     status == IMGATE_EINVAL ? "no such group" : "group unavailable");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    member_list *l = malloc(sizeof *l + view->n_members * sizeof l->ids[0]);
    if (l == NULL) {
        refuse_round(mp, c, mp->refused_store, "no memory");
        c->busy = 0;
        pump(mp, c);
        return;
    }
    l->refs = 1;
    l->n = view->n_members;
    for (size_t i = 0; i < view->n_members; i++)
        l->ids[i] = view->members[i].user_id;
    msg *keep_head = NULL, *keep_tail = NULL, *m;
    uint32_t kept = 0;
    while ((m = pop(&c->round_head, &c->round_tail)) != NULL) {
        if (imgate_group_find_member(view, m->from) == NULL) {
            c->active--;
            msg_refuse(mp, m, mp->refused_member, "not a member");
            continue;
        }
        m->members = l;
        l->refs++;
        append(&keep_head, &keep_tail, m);
        kept++;
    }
    member_list_release(l);
    c->round_head = keep_head;
    c->round_tail = keep_tail;
    c->round_n = kept;
    if (kept == 0) {
        c->busy = 0;
        pump(mp, c);
        return;
    }
    if (!c->top_ready) {
        ensure_top(mp, c); /* a member is writing: the group exists */
        return;
    }
    allocate(mp, c);
}

static void look_up_group(msg_plugin *mp, conv *c)
{
    const imgate_groups_v1 *groups = mp->groups.table;
    if (groups == NULL) {
        refuse_round(mp, c, mp->refused_member, "the group plugin is not enabled");
        c->busy = 0;
        return;
    }
    if (groups->get(mp->groups.state, c->id, group_looked_up, c) != IMGATE_OK) {
        refuse_round(mp, c, mp->refused_store, "group look-up failed");
        c->busy = 0;
    }
}

/* --- the pump --------------------------------------------------------------------------------------- */

/* Moves up to ids_per_round waiting messages (retries first) into the round. */
static void take_round(msg_plugin *mp, conv *c)
{
    msg *m;
    while (c->round_n < mp->cfg.round_max &&
           ((m = pop(&c->retry_head, &c->retry_tail)) != NULL || (m = pop(&c->pending_head, &c->pending_tail)) != NULL)) {
        append(&c->round_head, &c->round_tail, m);
        c->round_n++;
        c->active++;
    }
}

/* Starts a round with what is waiting: a group's members are looked up, a checked pair goes
 * straight to its ids. */
static void start_round(msg_plugin *mp, conv *c)
{
    take_round(mp, c);
    c->busy = 1;
    if (c->is_group)
        look_up_group(mp, c); /* may answer (and go on) before it returns */
    else
        allocate(mp, c);
}

static void pump(msg_plugin *mp, conv *c)
{
    while (!c->busy && !c->writing && (c->retry_head || c->pending_head)) {
        if (!c->is_group) {
            if (c->state == CONV_UNCHECKED || now_s() >= c->checked_until) {
                c->state = CONV_UNCHECKED;
                check_pair(mp, c); /* busy now, unless it could not start (then all was refused) */
                continue;
            }
            if (c->state == CONV_INVALID) {
                refuse_waiting(mp, c, mp->refused_receiver, "unknown or inactive user");
                return;
            }
        }
        start_round(mp, c);
    }
}

void conv_submit(msg_plugin *mp, msg *m)
{
    int is_group = m->type == MSG_TYPE_GROUP_TEXT || m->type == MSG_TYPE_GROUP_AUDIO;
    conv *c = is_group ? conv_get(mp, &mp->group_convs, m->session, 1)
                       : conv_get(mp, &mp->pairs, pair_key(m->from, m->session), 1);
    if (c == NULL) {
        msg_refuse(mp, m, mp->refused_store, "no memory");
        return;
    }
    c->mp = mp;
    if (!is_group) {
        c->small = (uint32_t)(c->key >> 32);
        c->big = (uint32_t)c->key;
    } else {
        c->is_group = 1;
        c->id = m->session;
        c->state = CONV_READY;
    }
    m->conv = c;
    append(&c->pending_head, &c->pending_tail, m);
    pump(mp, c);
}
