/*
 * group_util.h — what the group tests share: logged-in users, the group
 * commands as a TeamTalk client sends them, and waiting for (or ruling out)
 * IMGroupChangeMemberNotify. Replies are unpacked messages the caller frees
 * with group_free(); NULL means no reply came in time.
 */
#ifndef IMGATE_T_GROUP_UTIL_H
#define IMGATE_T_GROUP_UTIL_H

#include <stdarg.h>

#include "IM.Group.pb-c.h"
#include "imgate/teamtalk.h"
#include "login_util.h"

/* The plugin's result codes (plugins/group/README.md). */
enum {
    G_OK = 0,
    G_FAILED = 1,
    G_NOT_ALLOWED = 2,
    G_NO_GROUP = 3,
    G_INVALID = 4,
    G_TOO_MANY = 5,
    G_UNKNOWN_USER = 6,
    G_BUSY = 7,
};

#define group_free(m) protobuf_c_message_free_unpacked(&(m)->base, NULL)

/* A connection logged in as `user` (password "<user>123") on `node`; bails out otherwise. */
static inline imgate_client *user_on(harness *h, int node, const char *user, uint32_t client_type)
{
    char pw[64];
    snprintf(pw, sizeof pw, "%s123", user);
    imgate_client *c = harness_connect(h, node);
    if (c == NULL || !login_ok(c, user, pw, client_type))
        tap_bail("cannot log in as %s on node %d", user, node);
    return c;
}

static inline ProtobufCMessage *group_call(imgate_client *c, uint16_t cid, const ProtobufCMessage *req,
                                           uint16_t rsp_cid, const ProtobufCMessageDescriptor *rsp_desc)
{
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_GROUP, cid, req, rsp_cid, &pdu, 5000) != 0)
        return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(rsp_desc, NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return m;
}

static inline IM__Group__IMGroupCreateRsp *group_create_typed(imgate_client *c, uint32_t type, const char *name,
                                                              const char *avatar, const uint32_t *ids, size_t n)
{
    IM__Group__IMGroupCreateReq req = IM__GROUP__IMGROUP_CREATE_REQ__INIT;
    req.user_id = 0; /* the session counts, not the body */
    req.group_type = (IM__BaseDefine__GroupType)type;
    req.group_name = (char *)name;
    req.group_avatar = (char *)avatar;
    req.n_member_id_list = n;
    req.member_id_list = (uint32_t *)ids;
    return (IM__Group__IMGroupCreateRsp *)group_call(c, CID_GROUP_CREATE_REQUEST, &req.base, CID_GROUP_CREATE_RESPONSE,
                                                     &im__group__imgroup_create_rsp__descriptor);
}

/* Creates a temporary group; returns its id, or 0 (with a diagnostic). */
static inline uint32_t group_create(imgate_client *c, const char *name, const uint32_t *ids, size_t n)
{
    IM__Group__IMGroupCreateRsp *r = group_create_typed(c, GROUP_TYPE_TMP, name, "http://av/group.png", ids, n);
    uint32_t gid = r && r->result_code == G_OK && r->has_group_id ? r->group_id : 0;
    if (gid == 0)
        tap_diag("create %s: %s %d", name, r ? "result" : "no reply", r ? (int)r->result_code : -1);
    if (r)
        group_free(r);
    return gid;
}

/* The result code of a create, or -1 when no reply came. */
static inline int group_create_result(imgate_client *c, uint32_t type, const char *name, const char *avatar,
                                      const uint32_t *ids, size_t n)
{
    IM__Group__IMGroupCreateRsp *r = group_create_typed(c, type, name, avatar, ids, n);
    int rc = r ? (int)r->result_code : -1;
    if (r)
        group_free(r);
    return rc;
}

static inline IM__Group__IMGroupChangeMemberRsp *group_change(imgate_client *c, uint32_t gid, uint32_t type,
                                                              const uint32_t *ids, size_t n)
{
    IM__Group__IMGroupChangeMemberReq req = IM__GROUP__IMGROUP_CHANGE_MEMBER_REQ__INIT;
    req.change_type = (IM__BaseDefine__GroupModifyType)type;
    req.group_id = gid;
    req.n_member_id_list = n;
    req.member_id_list = (uint32_t *)ids;
    return (IM__Group__IMGroupChangeMemberRsp *)group_call(c, CID_GROUP_CHANGE_MEMBER_REQUEST, &req.base,
                                                           CID_GROUP_CHANGE_MEMBER_RESPONSE,
                                                           &im__group__imgroup_change_member_rsp__descriptor);
}

/* The result code of a member change of one user, or -1 when no reply came. */
static inline int group_change1(imgate_client *c, uint32_t gid, uint32_t type, uint32_t user)
{
    IM__Group__IMGroupChangeMemberRsp *r = group_change(c, gid, type, &user, 1);
    int rc = r ? (int)r->result_code : -1;
    if (r)
        group_free(r);
    return rc;
}

/* IMGroupInfoListReq with (gid, version) pairs; NULL when no reply came. */
static inline IM__Group__IMGroupInfoListRsp *group_info(imgate_client *c, const uint32_t *gids,
                                                        const uint32_t *versions, size_t n)
{
    IM__BaseDefine__GroupVersionInfo *v = calloc(n ? n : 1, sizeof *v);
    IM__BaseDefine__GroupVersionInfo **p = calloc(n ? n : 1, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        im__base_define__group_version_info__init(&v[i]);
        v[i].group_id = gids[i];
        v[i].version = versions ? versions[i] : 0;
        p[i] = &v[i];
    }
    IM__Group__IMGroupInfoListReq req = IM__GROUP__IMGROUP_INFO_LIST_REQ__INIT;
    req.n_group_version_list = n;
    req.group_version_list = p;
    IM__Group__IMGroupInfoListRsp *r = (IM__Group__IMGroupInfoListRsp *)group_call(
        c, CID_GROUP_INFO_REQUEST, &req.base, CID_GROUP_INFO_RESPONSE, &im__group__imgroup_info_list_rsp__descriptor);
    free(v);
    free(p);
    return r;
}

/* The GroupInfo of `gid` in a reply, or NULL. */
static inline const IM__BaseDefine__GroupInfo *info_of(const IM__Group__IMGroupInfoListRsp *r, uint32_t gid)
{
    for (size_t i = 0; r && i < r->n_group_info_list; i++)
        if (r->group_info_list[i]->group_id == gid)
            return r->group_info_list[i];
    return NULL;
}

/* IMGroupInfoListReq for one group at the client version `version`. */
static inline IM__Group__IMGroupInfoListRsp *group_info1(imgate_client *c, uint32_t gid, uint32_t version)
{
    return group_info(c, &gid, &version, 1);
}

static inline IM__Group__IMNormalGroupListRsp *group_list(imgate_client *c)
{
    IM__Group__IMNormalGroupListReq req = IM__GROUP__IMNORMAL_GROUP_LIST_REQ__INIT;
    return (IM__Group__IMNormalGroupListRsp *)group_call(c, CID_GROUP_NORMAL_LIST_REQUEST, &req.base,
                                                         CID_GROUP_NORMAL_LIST_RESPONSE,
                                                         &im__group__imnormal_group_list_rsp__descriptor);
}

/* The version the user's normal list gives `gid`, 0 when it is not listed, -1 when no reply. */
static inline long long listed_version(imgate_client *c, uint32_t gid)
{
    IM__Group__IMNormalGroupListRsp *r = group_list(c);
    if (r == NULL)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < r->n_group_version_list; i++)
        if (r->group_version_list[i]->group_id == gid)
            v = r->group_version_list[i]->version;
    group_free(r);
    return v;
}

/* The result code of a shield request, or -1 when no reply came. */
static inline int group_shield(imgate_client *c, uint32_t gid, uint32_t status)
{
    IM__Group__IMGroupShieldReq req = IM__GROUP__IMGROUP_SHIELD_REQ__INIT;
    req.group_id = gid;
    req.shield_status = status;
    IM__Group__IMGroupShieldRsp *r = (IM__Group__IMGroupShieldRsp *)group_call(
        c, CID_GROUP_SHIELD_GROUP_REQUEST, &req.base, CID_GROUP_SHIELD_GROUP_RESPONSE,
        &im__group__imgroup_shield_rsp__descriptor);
    int rc = r && r->group_id == gid ? (int)r->result_code : -1;
    if (r)
        group_free(r);
    return rc;
}

/* The next IMGroupChangeMemberNotify (a push: seq 0) within timeout_ms, or NULL. */
static inline IM__Group__IMGroupChangeMemberNotify *wait_group_notify(imgate_client *c, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_GROUP_CHANGE_MEMBER_NOTIFY, -1, &pdu, timeout_ms) != 0)
        return NULL;
    IM__Group__IMGroupChangeMemberNotify *n =
        pdu.h.seq_num == 0 && pdu.h.service_id == SID_GROUP
            ? im__group__imgroup_change_member_notify__unpack(NULL, pdu.body_len, pdu.body)
            : NULL;
    imgate_client_pdu_free(&pdu);
    return n;
}

/* "a,b,c" of an id list, for comparisons. */
static inline const char *ids_text(const uint32_t *ids, size_t n, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? "," : "", ids[i]);
    return buf;
}

/* The same list sorted, as text (the server sends members sorted by id; notify lists too). */
static inline const char *sorted_text(const uint32_t *ids, size_t n, char *buf, size_t len)
{
    uint32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    memcpy(copy, ids, n * sizeof *copy);
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && copy[k - 1] > copy[k]; k--) {
            uint32_t t = copy[k];
            copy[k] = copy[k - 1];
            copy[k - 1] = t;
        }
    ids_text(copy, n, buf, len);
    free(copy);
    return buf;
}

/* One line of SQL output (first column of the first row), "" when none. */
static inline const char *sql1(harness *h, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline const char *sql1(harness *h, char *out, size_t len, const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    if (harness_sql(h, q, out, len) != 0)
        tap_diag("SQL failed: %s", q);
    return out;
}

static inline const char *redis1(harness *h, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline const char *redis1(harness *h, char *out, size_t len, const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    harness_redis(h, q, out, len);
    return out;
}

/* A user with the login password "<name>123". */
static inline void group_add_user(harness *h, unsigned id, const char *name, int status)
{
    char pw[64];
    snprintf(pw, sizeof pw, "%s123", name);
    add_user(h, id, name, pw, status);
}

#endif
