/*
 * group_info.c — IMGroupInfoListReq (0x0403 -> 0x0404): the full GroupInfo
 * of each requested group whose stored version is above the client's (a
 * client version of 0 always gets it), for groups the user may see: its
 * current members and its creator (protocol H.7). Groups the user may not
 * see, unknown ids and unchanged versions are left out, as the reference
 * leaves them out.
 *
 * Two steps. MySQL first, 32 ids per statement: which of the requested groups
 * the user may see, with their name, avatar and the user's own shield status
 * (kept in MySQL; the reference always sends 0, protocol J.8). Then, for those
 * only, imgate.groups gives version, type, creator and members (the cache,
 * MySQL behind it, so a group created in MySQL alone is found). Ids the user
 * cannot see thus cost a share of one indexed query, never a cache rebuild,
 * and memory is held only for groups that are answered.
 */
#include <stdlib.h>
#include <string.h>

#include "IM.Group.pb-c.h"
#include "group.h"

typedef struct info_req info_req;

typedef struct info_entry {
    info_req *req;
    uint32_t group_id, client_version;
    /* from MySQL (step 1) */
    int visible;
    uint32_t shield;
    char *name, *avatar;
    /* from imgate.groups (step 2) */
    int wanted; /* still visible, newer than the client's copy, of a known type */
    uint32_t type, creator, version;
    uint32_t *members;
    size_t n_members;
} info_entry;

struct info_req {
    group_plugin *gp;
    imgate_reply_to to;
    size_t n, pending;
    int failed;
    info_entry *entries; /* sorted by group_id, unique */
    /* step 1's current row (worker) */
    uint32_t row_id, row_shield;
    char row_name[GROUP_NAME_MAX_CHARS * 4 + 1];
    char row_avatar[GROUP_AVATAR_MAX_CHARS * 4 + 1];
    imgate_db_bind row_cols[4];
};

static void info_free(info_req *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->entries[i].members);
        free(r->entries[i].name);
        free(r->entries[i].avatar);
    }
    free(r->entries);
    free(r);
}

static void reply_and_free(info_req *r)
{
    IM__Group__IMGroupInfoListRsp rsp = IM__GROUP__IMGROUP_INFO_LIST_RSP__INIT;
    rsp.user_id = r->to.user_id;
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->entries[i].wanted;
    IM__BaseDefine__GroupInfo *infos = n ? calloc(n, sizeof *infos) : NULL;
    IM__BaseDefine__GroupInfo **ptrs = n ? calloc(n, sizeof *ptrs) : NULL;
    if (n && (infos == NULL || ptrs == NULL)) {
        group_api->log_limited(r->gp->self, IMGATE_LOG_ERROR, "out_of_memory", 5,
                               "event=group_info_failed user_id=%u reason=out_of_memory", r->to.user_id);
        n = 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n && k < n; i++) {
        info_entry *e = &r->entries[i];
        if (!e->wanted)
            continue;
        IM__BaseDefine__GroupInfo *g = &infos[k];
        im__base_define__group_info__init(g);
        g->group_id = e->group_id;
        g->version = e->version;
        g->group_name = e->name;
        g->group_avatar = e->avatar;
        g->group_creator_id = e->creator;
        g->group_type = (IM__BaseDefine__GroupType)e->type;
        g->shield_status = e->shield;
        g->n_group_member_list = e->n_members;
        g->group_member_list = e->members;
        ptrs[k++] = g;
    }
    rsp.n_group_info_list = k;
    rsp.group_info_list = ptrs;
    group_api->reply(&r->to, CID_GROUP_INFO_RESPONSE, &rsp.base);
    group_api->request_done(&r->to);
    free(infos);
    free(ptrs);
    info_free(r);
}

/* --- step 2: the groups themselves ------------------------------------------------------------- */

static void on_view(void *arg, int status, const imgate_group_view *v)
{
    info_entry *e = arg;
    info_req *r = e->req;
    if (status == IMGATE_OK) {
        /* Checked again on the view: a member removed since step 1 is out now. */
        int visible = v->creator == r->to.user_id || imgate_group_find_member(v, r->to.user_id) != NULL;
        int newer = e->client_version == 0 || v->version > e->client_version;
        int known_type = v->type == GROUP_TYPE_NORMAL || v->type == GROUP_TYPE_TMP;
        if (!known_type)
            group_api->log_limited(r->gp->self, IMGATE_LOG_WARN, "group_bad_type", 1,
                                   "event=group_bad_type group_id=%u type=%u", v->group_id, v->type);
        if (visible && newer && known_type) {
            e->members = malloc((v->n_members ? v->n_members : 1) * sizeof *e->members);
            if (e->members != NULL) {
                for (size_t i = 0; i < v->n_members; i++)
                    e->members[i] = v->members[i].user_id;
                e->n_members = v->n_members;
                e->type = v->type;
                e->creator = v->creator;
                e->version = v->version;
                e->wanted = 1;
            }
        }
    }
    if (--r->pending == 0)
        reply_and_free(r);
}

/* --- step 1: what the user may see (worker thread) --------------------------------------------- */

static int by_group_id(const void *key, const void *elem)
{
    uint32_t id = *(const uint32_t *)key, other = ((const info_entry *)elem)->group_id;
    return id < other ? -1 : id > other;
}

static int on_visible_row(void *ctx)
{
    info_req *r = ctx;
    info_entry *e = bsearch(&r->row_id, r->entries, r->n, sizeof *r->entries, by_group_id);
    if (e == NULL || e->visible)
        return 0; /* an old database's second membership row of the same group */
    e->name = strdup(r->row_name);
    e->avatar = strdup(r->row_avatar);
    if (e->name == NULL || e->avatar == NULL)
        return 1;
    e->visible = 1;
    e->shield = r->row_cols[3].is_null ? 0 : r->row_shield != 0; /* NULL: the creator, not a member */
    return 0;
}

#define INFO_CHUNK 32
static const char VISIBLE_SQL[] =
    "SELECT g.id, g.name, g.avatar, m.shield FROM IMGroup g LEFT JOIN IMGroupMember m ON m.groupId = g.id AND "
    "m.userId = ? AND m.status = 0 WHERE g.status = 0 AND (m.id IS NOT NULL OR g.creator = ?) AND g.id IN "
    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static void visible_work(imgate_worker *w, void *state, void *arg)
{
    info_req *r = arg;
    imgate_db_bind cols[4] = {IMGATE_DB_U32(&r->row_id), IMGATE_DB_STR_OUT(r->row_name),
                              IMGATE_DB_STR_OUT(r->row_avatar), IMGATE_DB_U32(&r->row_shield)};
    memcpy(r->row_cols, cols, sizeof cols);
    for (size_t at = 0; at < r->n; at += INFO_CHUNK) {
        uint32_t ids[INFO_CHUNK];
        imgate_db_bind in[2 + INFO_CHUNK] = {IMGATE_DB_U32(&r->to.user_id), IMGATE_DB_U32(&r->to.user_id)};
        for (size_t i = 0; i < INFO_CHUNK; i++) {
            /* One statement text for every chunk: a short one repeats its first id. */
            ids[i] = r->entries[at + i < r->n ? at + i : at].group_id;
            imgate_db_bind b = IMGATE_DB_U32(&ids[i]);
            in[2 + i] = b;
        }
        if (group_api->db_query_rows(w, IMGATE_DB_MASTER, VISIBLE_SQL, in, 2 + INFO_CHUNK, r->row_cols, 4,
                                     on_visible_row, r) < 0) {
            r->failed = 1;
            return;
        }
    }
}

static void visible_done(void *state, void *arg, int status)
{
    info_req *r = arg;
    group_plugin *gp = r->gp;
    if (status != IMGATE_OK || r->failed) {
        /* No result code to say "try again": stay silent rather than answer "nothing changed". */
        group_api->metric_inc(gp->db_failures, 1);
        group_api->log_limited(gp->self, IMGATE_LOG_WARN, "group_info_failed", 5,
                               "event=group_info_failed user_id=%u status=%d", r->to.user_id, status);
        group_api->request_done(&r->to);
        info_free(r);
        return;
    }
    r->pending = 1; /* held until every look-up has been started */
    for (size_t i = 0; i < r->n; i++) {
        info_entry *e = &r->entries[i];
        if (!e->visible)
            continue;
        e->req = r;
        r->pending++;
        if (group_get(gp, e->group_id, on_view, e) != IMGATE_OK)
            r->pending--;
    }
    if (--r->pending == 0)
        reply_and_free(r);
}

/* --- the request ------------------------------------------------------------------------------------ */

static int by_group(const void *a, const void *b)
{
    const info_entry *x = a, *y = b;
    if (x->group_id != y->group_id)
        return x->group_id < y->group_id ? -1 : 1;
    return x->client_version < y->client_version ? -1 : x->client_version > y->client_version;
}

void group_on_info(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    group_plugin *gp = state;
    const IM__Group__IMGroupInfoListReq *in = (const IM__Group__IMGroupInfoListReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    info_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        group_api->request_done(&to);
        return;
    }
    r->gp = gp;
    r->to = to;
    if (in->n_group_version_list > gp->cfg.max_info_groups) {
        group_api->metric_inc(gp->refused, 1);
        group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_info_too_many", 5,
                               "event=group_info_refused user_id=%u groups=%zu max_info_groups=%u", req->user_id,
                               in->n_group_version_list, gp->cfg.max_info_groups);
        reply_and_free(r); /* an empty list */
        return;
    }
    r->entries = calloc(in->n_group_version_list ? in->n_group_version_list : 1, sizeof *r->entries);
    if (r->entries == NULL) {
        group_api->request_done(&to);
        free(r);
        return;
    }
    for (size_t i = 0; i < in->n_group_version_list; i++) {
        const IM__BaseDefine__GroupVersionInfo *g = in->group_version_list[i];
        if (g->group_id == 0)
            continue;
        r->entries[r->n].group_id = g->group_id;
        r->entries[r->n].client_version = g->version;
        r->n++;
    }
    /* One answer per group even when the client names it twice (the lower version counts). */
    if (r->n > 1) {
        qsort(r->entries, r->n, sizeof *r->entries, by_group);
        size_t out = 1;
        for (size_t i = 1; i < r->n; i++)
            if (r->entries[i].group_id != r->entries[out - 1].group_id)
                r->entries[out++] = r->entries[i];
        r->n = out;
    }
    if (r->n == 0) {
        reply_and_free(r);
        return;
    }
    group_api->submit_job(gp->self, req->conn_id, visible_work, visible_done, r);
}
