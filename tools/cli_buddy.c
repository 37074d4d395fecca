/*
 * cli_buddy.c — imgate-cli commands for the buddy plugin (plugins/buddy/README.md):
 * the user list and departments (every page of a paged reply), user info,
 * online status, recent sessions, and the profile changes. Each command logs
 * in as USER/PASS from a PC client first, as a TeamTalk client would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "cli.h"
#include "imgate/teamtalk.h"

/* attach_data of every page of a paged reply but the last (plugins/buddy/paged_sync.h). */
#define PAGE_MORE "imgate-more"

static int parse_since(int argc, char **argv, int index, uint32_t *since)
{
    *since = 0;
    if (argc > index && cli_parse_u32(argv[index], since) < 0) {
        fprintf(stderr, "imgate-cli: SINCE must be a unix time (0 = everything)\n");
        return -1;
    }
    return 0;
}

/* Parses argv[first..argc) as user ids into a malloc'd array. */
static uint32_t *parse_ids(int argc, char **argv, int first, size_t *n)
{
    *n = (size_t)(argc - first);
    uint32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    if (ids == NULL)
        return NULL;
    for (size_t i = 0; i < *n; i++)
        if (cli_parse_u32(argv[first + (int)i], &ids[i]) < 0) {
            fprintf(stderr, "imgate-cli: '%s' is not a user id\n", argv[first + (int)i]);
            free(ids);
            return NULL;
        }
    return ids;
}

static int is_more(protobuf_c_boolean has, ProtobufCBinaryData attach)
{
    return has && attach.len == strlen(PAGE_MORE) && memcmp(attach.data, PAGE_MORE, attach.len) == 0;
}

/* users USER PASS [SINCE]: every page of IMAllUserRsp, then a summary. */
static int cmd_users(const cli_options *opt, int argc, char **argv)
{
    uint32_t since, uid;
    if (parse_since(argc, argv, 2, &since) < 0)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c)
        return 1;
    IM__Buddy__IMAllUserReq req = IM__BUDDY__IMALL_USER_REQ__INIT;
    req.user_id = uid;
    req.latest_update_time = since;
    double started = cli_now_seconds();
    uint16_t seq;
    int rc = imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &req.base, &seq);
    unsigned pages = 0;
    unsigned long long users = 0, left = 0, bytes = 0;
    uint32_t latest = since;
    int more = 1, exit_code = 0;
    while (rc == IMGATE_CLIENT_OK && more) {
        imgate_client_pdu pdu = {0};
        rc = imgate_client_wait(c, CID_BUDDY_LIST_ALL_USER_RESPONSE, seq, &pdu, opt->timeout_ms);
        if (rc != IMGATE_CLIENT_OK)
            break;
        IM__Buddy__IMAllUserRsp *rsp = im__buddy__imall_user_rsp__unpack(NULL, pdu.body_len, pdu.body);
        if (rsp == NULL) {
            fprintf(stderr, "imgate-cli: users: page %u does not parse as IMAllUserRsp\n", pages + 1);
            imgate_client_pdu_free(&pdu);
            exit_code = 1;
            break;
        }
        pages++;
        bytes += pdu.h.length;
        users += rsp->n_user_list;
        for (size_t i = 0; i < rsp->n_user_list; i++)
            left += rsp->user_list[i]->status == USER_STATUS_LEAVE;
        latest = rsp->latest_update_time;
        more = is_more(rsp->has_attach_data, rsp->attach_data);
        printf("page %u: users=%zu latest_update_time=%u frame_bytes=%u%s\n", pages, rsp->n_user_list,
               rsp->latest_update_time, pdu.h.length, more ? " (more follow)" : "");
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
        imgate_client_pdu_free(&pdu);
    }
    double elapsed_ms = (cli_now_seconds() - started) * 1000.0;
    imgate_client_close(c);
    if (rc != IMGATE_CLIENT_OK)
        return cli_complain("users: no (further) IMAllUserRsp", rc);
    if (exit_code == 0)
        printf("users: %llu (status 3: %llu) pages: %u bytes: %llu latest_update_time: %u elapsed_ms: %.1f\n", users,
               left, pages, bytes, latest, elapsed_ms);
    return exit_code;
}

/* departments USER PASS [SINCE] */
static int cmd_departments(const cli_options *opt, int argc, char **argv)
{
    uint32_t since, uid;
    if (parse_since(argc, argv, 2, &since) < 0)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c)
        return 1;
    IM__Buddy__IMDepartmentReq req = IM__BUDDY__IMDEPARTMENT_REQ__INIT;
    req.user_id = uid;
    req.latest_update_time = since;
    uint16_t seq;
    int rc = imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_DEPARTMENT_REQUEST, &req.base, &seq);
    int more = 1, exit_code = 0;
    while (rc == IMGATE_CLIENT_OK && more) {
        imgate_client_pdu pdu = {0};
        rc = imgate_client_wait(c, CID_BUDDY_LIST_DEPARTMENT_RESPONSE, seq, &pdu, opt->timeout_ms);
        if (rc != IMGATE_CLIENT_OK)
            break;
        IM__Buddy__IMDepartmentRsp *rsp = im__buddy__imdepartment_rsp__unpack(NULL, pdu.body_len, pdu.body);
        imgate_client_pdu_free(&pdu);
        if (rsp == NULL) {
            fprintf(stderr, "imgate-cli: departments: the reply does not parse as IMDepartmentRsp\n");
            exit_code = 1;
            break;
        }
        for (size_t i = 0; i < rsp->n_dept_list; i++) {
            const IM__BaseDefine__DepartInfo *d = rsp->dept_list[i];
            printf("dept %u parent=%u priority=%u status=%u name=%s\n", d->dept_id, d->parent_dept_id, d->priority,
                   (unsigned)d->dept_status, d->dept_name);
        }
        printf("latest_update_time: %u\n", rsp->latest_update_time);
        more = is_more(rsp->has_attach_data, rsp->attach_data);
        im__buddy__imdepartment_rsp__free_unpacked(rsp, NULL);
    }
    imgate_client_close(c);
    if (rc != IMGATE_CLIENT_OK)
        return cli_complain("departments: no IMDepartmentRsp", rc);
    return exit_code;
}

/* user-info USER PASS ID... */
static int cmd_user_info(const cli_options *opt, int argc, char **argv)
{
    size_t n;
    uint32_t *ids = parse_ids(argc, argv, 2, &n), uid;
    if (ids == NULL)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c) {
        free(ids);
        return 1;
    }
    IM__Buddy__IMUsersInfoReq req = IM__BUDDY__IMUSERS_INFO_REQ__INIT;
    req.user_id = uid;
    req.n_user_id_list = n;
    req.user_id_list = ids;
    IM__Buddy__IMUsersInfoRsp *rsp = (IM__Buddy__IMUsersInfoRsp *)cli_call(
        opt, c, "user-info", SID_BUDDY_LIST, CID_BUDDY_LIST_USER_INFO_REQUEST, &req.base,
        CID_BUDDY_LIST_USER_INFO_RESPONSE, &im__buddy__imusers_info_rsp__descriptor);
    imgate_client_close(c);
    free(ids);
    if (rsp == NULL)
        return 1;
    for (size_t i = 0; i < rsp->n_user_info_list; i++) {
        const IM__BaseDefine__UserInfo *u = rsp->user_info_list[i];
        printf("user %u name=%s nick=%s gender=%u dept=%u status=%u tel=%s email=%s domain=%s avatar=%s sign=%s\n",
               u->user_id, u->user_real_name, u->user_nick_name, u->user_gender, u->department_id, u->status,
               u->user_tel, u->email, u->user_domain, u->avatar_url, u->sign_info ? u->sign_info : "");
    }
    printf("users: %zu\n", rsp->n_user_info_list);
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return 0;
}

/* status USER PASS ID... */
static int cmd_status(const cli_options *opt, int argc, char **argv)
{
    size_t n;
    uint32_t *ids = parse_ids(argc, argv, 2, &n), uid;
    if (ids == NULL)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c) {
        free(ids);
        return 1;
    }
    IM__Buddy__IMUsersStatReq req = IM__BUDDY__IMUSERS_STAT_REQ__INIT;
    req.user_id = uid;
    req.n_user_id_list = n;
    req.user_id_list = ids;
    IM__Buddy__IMUsersStatRsp *rsp = (IM__Buddy__IMUsersStatRsp *)cli_call(
        opt, c, "status", SID_BUDDY_LIST, CID_BUDDY_LIST_USERS_STATUS_REQUEST, &req.base,
        CID_BUDDY_LIST_USERS_STATUS_RESPONSE, &im__buddy__imusers_stat_rsp__descriptor);
    imgate_client_close(c);
    free(ids);
    if (rsp == NULL)
        return 1;
    for (size_t i = 0; i < rsp->n_user_stat_list; i++)
        printf("%u %s\n", rsp->user_stat_list[i]->user_id,
               rsp->user_stat_list[i]->status == USER_STATUS_ONLINE ? "online" : "offline");
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return 0;
}

/* sessions USER PASS [SINCE] */
static int cmd_sessions(const cli_options *opt, int argc, char **argv)
{
    uint32_t since, uid;
    if (parse_since(argc, argv, 2, &since) < 0)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c)
        return 1;
    IM__Buddy__IMRecentContactSessionReq req = IM__BUDDY__IMRECENT_CONTACT_SESSION_REQ__INIT;
    req.user_id = uid;
    req.latest_update_time = since;
    IM__Buddy__IMRecentContactSessionRsp *rsp = (IM__Buddy__IMRecentContactSessionRsp *)cli_call(
        opt, c, "sessions", SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, &req.base,
        CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, &im__buddy__imrecent_contact_session_rsp__descriptor);
    imgate_client_close(c);
    if (rsp == NULL)
        return 1;
    for (size_t i = 0; i < rsp->n_contact_session_list; i++) {
        const IM__BaseDefine__ContactSessionInfo *s = rsp->contact_session_list[i];
        printf("%s %u updated=%u latest_msg_id=%u from=%u type=0x%02x data_bytes=%zu\n",
               s->session_type == SESSION_TYPE_GROUP ? "group" : "single", s->session_id, s->updated_time,
               s->latest_msg_id, s->latest_msg_from_user_id, (unsigned)s->latest_msg_type, s->latest_msg_data.len);
    }
    printf("sessions: %zu\n", rsp->n_contact_session_list);
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return 0;
}

/* sign USER PASS TEXT / avatar USER PASS URL: print result_code; exit 0 iff it is 0. */
static int change_profile(const cli_options *opt, char **argv, int sign)
{
    uint32_t uid;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c)
        return 1;
    ProtobufCMessage *rsp;
    if (sign) {
        IM__Buddy__IMChangeSignInfoReq req = IM__BUDDY__IMCHANGE_SIGN_INFO_REQ__INIT;
        req.user_id = uid;
        req.sign_info = argv[2];
        rsp = cli_call(opt, c, "sign", SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, &req.base,
                       CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, &im__buddy__imchange_sign_info_rsp__descriptor);
    } else {
        IM__Buddy__IMChangeAvatarReq req = IM__BUDDY__IMCHANGE_AVATAR_REQ__INIT;
        req.user_id = uid;
        req.avatar_url = argv[2];
        rsp = cli_call(opt, c, "avatar", SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST, &req.base,
                       CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE, &im__buddy__imchange_avatar_rsp__descriptor);
    }
    imgate_client_close(c);
    if (rsp == NULL)
        return 1;
    uint32_t code = sign ? ((const IM__Buddy__IMChangeSignInfoRsp *)rsp)->result_code
                         : ((const IM__Buddy__IMChangeAvatarRsp *)rsp)->result_code;
    protobuf_c_message_free_unpacked(rsp, NULL);
    printf("result_code: %u\n", code);
    return code == 0 ? 0 : 1;
}

static int cmd_sign(const cli_options *opt, int argc, char **argv) { return change_profile(opt, argv, 1); }
static int cmd_avatar(const cli_options *opt, int argc, char **argv) { return change_profile(opt, argv, 0); }

/* remove-session USER PASS single|group ID */
static int cmd_remove_session(const cli_options *opt, int argc, char **argv)
{
    uint32_t type, id, uid;
    if (strcmp(argv[2], "single") == 0)
        type = SESSION_TYPE_SINGLE;
    else if (strcmp(argv[2], "group") == 0)
        type = SESSION_TYPE_GROUP;
    else {
        fprintf(stderr, "imgate-cli: remove-session: the type is single or group\n");
        return 2;
    }
    if (cli_parse_u32(argv[3], &id) < 0) {
        fprintf(stderr, "imgate-cli: remove-session: '%s' is not a session id\n", argv[3]);
        return 2;
    }
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, &uid);
    if (!c)
        return 1;
    IM__Buddy__IMRemoveSessionReq req = IM__BUDDY__IMREMOVE_SESSION_REQ__INIT;
    req.user_id = uid;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = id;
    IM__Buddy__IMRemoveSessionRsp *rsp = (IM__Buddy__IMRemoveSessionRsp *)cli_call(
        opt, c, "remove-session", SID_BUDDY_LIST, CID_BUDDY_LIST_REMOVE_SESSION_REQ, &req.base,
        CID_BUDDY_LIST_REMOVE_SESSION_RES, &im__buddy__imremove_session_rsp__descriptor);
    imgate_client_close(c);
    if (rsp == NULL)
        return 1;
    uint32_t code = rsp->result_code;
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    printf("result_code: %u\n", code);
    return code == 0 ? 0 : 1;
}

const cli_command cli_buddy_commands[] = {
    {"users", "USER PASS [SINCE]", 2, 3, cmd_users,
     "all users changed since SINCE (default 0 = everyone): one line per page, then a summary"},
    {"departments", "USER PASS [SINCE]", 2, 3, cmd_departments, "departments changed since SINCE"},
    {"user-info", "USER PASS ID...", 3, 1000, cmd_user_info, "the UserInfo of each id"},
    {"status", "USER PASS ID...", 3, 1000, cmd_status, "online or offline, for each id"},
    {"sessions", "USER PASS [SINCE]", 2, 3, cmd_sessions, "recent sessions updated after SINCE, newest first"},
    {"sign", "USER PASS TEXT", 3, 3, cmd_sign, "change the signature; exit 0 iff result 0"},
    {"avatar", "USER PASS URL", 3, 3, cmd_avatar, "change the avatar URL; exit 0 iff result 0"},
    {"remove-session", "USER PASS single|group ID", 4, 4, cmd_remove_session, "remove a recent session"},
    {NULL, NULL, 0, 0, NULL, NULL},
};
