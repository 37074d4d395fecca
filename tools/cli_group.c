/*
 * cli_group.c — imgate-cli's group commands (the group plugin, SID_GROUP).
 * Each logs in as USER/PASS first, as a client would, then speaks for it:
 *
 *   group-create USER PASS NAME MEMBER_ID...     create a temporary group
 *   groups USER PASS [GROUP_ID...]               the user's normal groups (and the given ids) with their info
 *   group-add USER PASS GROUP_ID MEMBER_ID...    add members
 *   group-remove USER PASS GROUP_ID MEMBER_ID... remove members
 *   group-shield USER PASS GROUP_ID 0|1          turn the group's push off (1) or on (0) for the user
 *
 * Exit status: 0 when the server said yes, 1 when it refused or did not
 * answer, 2 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Group.pb-c.h"
#include "cli.h"
#include "imgate/teamtalk.h"

/* Parses argv[0..n) as user ids into a malloc'd array; NULL (after saying why) on a bad one. */
static uint32_t *parse_ids(const char *cmd, int n, char **argv)
{
    uint32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (ids == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        if (cli_parse_u32(argv[i], &ids[i]) < 0) {
            fprintf(stderr, "imgate-cli: %s: '%s' is not an id\n", cmd, argv[i]);
            free(ids);
            return NULL;
        }
    return ids;
}

static void print_ids(const char *name, const uint32_t *ids, size_t n)
{
    printf("%s:", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%u", i ? "," : " ", ids[i]);
    printf("\n");
}

/* group-create USER PASS NAME MEMBER_ID... */
static int cmd_group_create(const cli_options *opt, int argc, char **argv)
{
    uint32_t *ids = parse_ids("group-create", argc - 3, argv + 3);
    if (ids == NULL)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, NULL);
    if (c == NULL) {
        free(ids);
        return 1;
    }
    IM__Group__IMGroupCreateReq req = IM__GROUP__IMGROUP_CREATE_REQ__INIT;
    req.group_type = (IM__BaseDefine__GroupType)GROUP_TYPE_TMP;
    req.group_name = argv[2];
    req.group_avatar = (char *)"";
    req.n_member_id_list = (size_t)(argc - 3);
    req.member_id_list = ids;
    IM__Group__IMGroupCreateRsp *rsp = (IM__Group__IMGroupCreateRsp *)cli_call(
        opt, c, "group-create", SID_GROUP, CID_GROUP_CREATE_REQUEST, &req.base, CID_GROUP_CREATE_RESPONSE,
        &im__group__imgroup_create_rsp__descriptor);
    imgate_client_close(c);
    free(ids);
    if (rsp == NULL)
        return 1;
    printf("result_code: %u\n", (unsigned)rsp->result_code);
    if (rsp->has_group_id)
        printf("group_id: %u\n", (unsigned)rsp->group_id);
    cli_print_field("group_name", rsp->group_name);
    print_ids("user_id_list", rsp->user_id_list, rsp->n_user_id_list);
    int code = rsp->result_code == 0 ? 0 : 1;
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return code;
}

static void print_group(const IM__BaseDefine__GroupInfo *g)
{
    printf("group_id: %u\n", (unsigned)g->group_id);
    printf("version: %u\n", (unsigned)g->version);
    cli_print_field("group_name", g->group_name);
    cli_print_field("group_avatar", g->group_avatar);
    printf("group_creator_id: %u\n", (unsigned)g->group_creator_id);
    printf("group_type: %u (%s)\n", (unsigned)g->group_type,
           g->group_type == GROUP_TYPE_NORMAL ? "normal"
           : g->group_type == GROUP_TYPE_TMP  ? "temporary"
                                              : "?");
    printf("shield_status: %u\n", (unsigned)g->shield_status);
    print_ids("members", g->group_member_list, g->n_group_member_list);
}

/* groups USER PASS [GROUP_ID...]: the normal list, then the info of those groups and the named ones. */
static int cmd_groups(const cli_options *opt, int argc, char **argv)
{
    uint32_t *extra = parse_ids("groups", argc - 2, argv + 2);
    if (extra == NULL)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, NULL);
    if (c == NULL) {
        free(extra);
        return 1;
    }
    IM__Group__IMNormalGroupListReq lreq = IM__GROUP__IMNORMAL_GROUP_LIST_REQ__INIT;
    IM__Group__IMNormalGroupListRsp *list = (IM__Group__IMNormalGroupListRsp *)cli_call(
        opt, c, "groups", SID_GROUP, CID_GROUP_NORMAL_LIST_REQUEST, &lreq.base, CID_GROUP_NORMAL_LIST_RESPONSE,
        &im__group__imnormal_group_list_rsp__descriptor);
    if (list == NULL) {
        imgate_client_close(c);
        free(extra);
        return 1;
    }
    size_t n = list->n_group_version_list + (size_t)(argc - 2);
    IM__BaseDefine__GroupVersionInfo *v = calloc(n ? n : 1, sizeof *v);
    IM__BaseDefine__GroupVersionInfo **p = calloc(n ? n : 1, sizeof *p);
    if (v == NULL || p == NULL) {
        fprintf(stderr, "imgate-cli: groups: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        im__base_define__group_version_info__init(&v[i]); /* version 0: send everything */
        v[i].group_id = i < list->n_group_version_list ? list->group_version_list[i]->group_id
                                                       : extra[i - list->n_group_version_list];
        p[i] = &v[i];
    }
    printf("normal groups: %zu\n", list->n_group_version_list);
    protobuf_c_message_free_unpacked(&list->base, NULL);
    free(extra);
    IM__Group__IMGroupInfoListReq ireq = IM__GROUP__IMGROUP_INFO_LIST_REQ__INIT;
    ireq.n_group_version_list = n;
    ireq.group_version_list = p;
    IM__Group__IMGroupInfoListRsp *info = (IM__Group__IMGroupInfoListRsp *)cli_call(
        opt, c, "groups", SID_GROUP, CID_GROUP_INFO_REQUEST, &ireq.base, CID_GROUP_INFO_RESPONSE,
        &im__group__imgroup_info_list_rsp__descriptor);
    imgate_client_close(c);
    free(v);
    free(p);
    if (info == NULL)
        return 1;
    for (size_t i = 0; i < info->n_group_info_list; i++) {
        printf("\n");
        print_group(info->group_info_list[i]);
    }
    protobuf_c_message_free_unpacked(&info->base, NULL);
    return 0;
}

static int change(const cli_options *opt, int argc, char **argv, const char *cmd, uint32_t type)
{
    uint32_t gid;
    if (cli_parse_u32(argv[2], &gid) < 0) {
        fprintf(stderr, "imgate-cli: %s: '%s' is not a group id\n", cmd, argv[2]);
        return 2;
    }
    uint32_t *ids = parse_ids(cmd, argc - 3, argv + 3);
    if (ids == NULL)
        return 2;
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, NULL);
    if (c == NULL) {
        free(ids);
        return 1;
    }
    IM__Group__IMGroupChangeMemberReq req = IM__GROUP__IMGROUP_CHANGE_MEMBER_REQ__INIT;
    req.change_type = (IM__BaseDefine__GroupModifyType)type;
    req.group_id = gid;
    req.n_member_id_list = (size_t)(argc - 3);
    req.member_id_list = ids;
    IM__Group__IMGroupChangeMemberRsp *rsp = (IM__Group__IMGroupChangeMemberRsp *)cli_call(
        opt, c, cmd, SID_GROUP, CID_GROUP_CHANGE_MEMBER_REQUEST, &req.base, CID_GROUP_CHANGE_MEMBER_RESPONSE,
        &im__group__imgroup_change_member_rsp__descriptor);
    imgate_client_close(c);
    free(ids);
    if (rsp == NULL)
        return 1;
    printf("result_code: %u\n", (unsigned)rsp->result_code);
    printf("group_id: %u\n", (unsigned)rsp->group_id);
    print_ids("cur_user_id_list", rsp->cur_user_id_list, rsp->n_cur_user_id_list);
    print_ids("chg_user_id_list", rsp->chg_user_id_list, rsp->n_chg_user_id_list);
    int code = rsp->result_code == 0 ? 0 : 1;
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return code;
}

static int cmd_group_add(const cli_options *opt, int argc, char **argv)
{
    return change(opt, argc, argv, "group-add", GROUP_MODIFY_TYPE_ADD);
}

static int cmd_group_remove(const cli_options *opt, int argc, char **argv)
{
    return change(opt, argc, argv, "group-remove", GROUP_MODIFY_TYPE_DEL);
}

static int cmd_group_shield(const cli_options *opt, int argc, char **argv)
{
    uint32_t gid, status;
    if (cli_parse_u32(argv[2], &gid) < 0 || cli_parse_u32(argv[3], &status) < 0) {
        fprintf(stderr, "usage: imgate-cli group-shield USER PASS GROUP_ID 0|1\n");
        return 2;
    }
    imgate_client *c = cli_login(opt, argv[0], argv[1], CLIENT_TYPE_WINDOWS, NULL);
    if (c == NULL)
        return 1;
    IM__Group__IMGroupShieldReq req = IM__GROUP__IMGROUP_SHIELD_REQ__INIT;
    req.group_id = gid;
    req.shield_status = status;
    IM__Group__IMGroupShieldRsp *rsp = (IM__Group__IMGroupShieldRsp *)cli_call(
        opt, c, "group-shield", SID_GROUP, CID_GROUP_SHIELD_GROUP_REQUEST, &req.base, CID_GROUP_SHIELD_GROUP_RESPONSE,
        &im__group__imgroup_shield_rsp__descriptor);
    imgate_client_close(c);
    if (rsp == NULL)
        return 1;
    printf("result_code: %u\n", (unsigned)rsp->result_code);
    printf("group_id: %u\n", (unsigned)rsp->group_id);
    int code = rsp->result_code == 0 ? 0 : 1;
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return code;
}

const cli_command cli_group_commands[] = {
    {"group-create", "USER PASS NAME MEMBER_ID...", 4, 1 << 20, cmd_group_create,
     "create a temporary group (list yourself among the members); exit 0 iff result 0"},
    {"groups", "USER PASS [GROUP_ID...]", 2, 1 << 20, cmd_groups,
     "the user's normal groups, and the given ones, with their info"},
    {"group-add", "USER PASS GROUP_ID MEMBER_ID...", 4, 1 << 20, cmd_group_add, "add members to a group"},
    {"group-remove", "USER PASS GROUP_ID MEMBER_ID...", 4, 1 << 20, cmd_group_remove, "remove members from a group"},
    {"group-shield", "USER PASS GROUP_ID 0|1", 4, 4, cmd_group_shield,
     "shield (1) or unshield (0) a group's push notifications for the user"},
    {NULL, NULL, 0, 0, NULL, NULL},
};
