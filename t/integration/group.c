/*
 * group.c — the group plugin over the real protocol against real MariaDB and
 * Redis: create (and its refusals), the normal group list, group info with
 * version skipping and visibility, groups that exist only in MySQL (Redis
 * empty), the rights matrix of member changes on both group types, the
 * notifications to added, removed and remaining members,
 * unread marks and recent sessions of changed members, re-adding, shield and
 * its effect on group info (also after Redis is flushed), concurrent changes
 * from two nodes, imgate-cli's group commands, malformed, unauthorised and
 * oversized requests, and the per-connection write budget.
 */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "group_util.h"

#define ALICE 201
#define BOB 202
#define CAROL 203
#define DAVE 204
#define ERIN 205
#define FRANK 206
#define GINA 207
#define GONE 211
#define LOAD_FIRST 1001 /* load users 1001..1040, never logged in */
#define MAX_MEMBERS 30
#define MAX_INFO 50

static harness *h;
static char out[4096], buf[4096], buf2[4096];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 when no IMGroupChangeMemberNotify arrives on c within ms. */
static int no_notify(imgate_client *c, int ms)
{
    IM__Group__IMGroupChangeMemberNotify *n = wait_group_notify(c, ms);
    if (n)
        group_free(n);
    return n == NULL;
}

static int count_groups(void) { return atoi(sql1(h, out, sizeof out, "SELECT COUNT(*) FROM IMGroup")); }

/* --- create -------------------------------------------------------------------------------------- */

static void test_create(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    uint32_t ids[] = {BOB, ALICE, CAROL, BOB};
    time_t before = time(NULL);
    IM__Group__IMGroupCreateRsp *r = group_create_typed(alice, GROUP_TYPE_TMP, "Team 群", "http://av/t.png", ids, 4);
    tap_ok(r != NULL, "create: answered");
    if (r == NULL)
        return;
    tap_is_int(r->result_code, G_OK, "create: result 0");
    tap_ok(r->has_group_id && r->group_id > 0, "create: a group id");
    tap_is_int(r->user_id, ALICE, "create: user_id is the creator's");
    tap_is_str(r->group_name, "Team 群", "create: the name is echoed");
    tap_is_str(sorted_text(r->user_id_list, r->n_user_id_list, buf, sizeof buf), "201,202,203",
               "create: the members, a duplicate id counted once");
    uint32_t gid = r->group_id;
    group_free(r);

    tap_is_str(sql1(h, out, sizeof out,
                    "SELECT CONCAT_WS(' ', name, avatar, creator, type, userCnt, status, version) FROM IMGroup "
                    "WHERE id = %u",
                    gid),
               "Team 群 http://av/t.png 201 2 3 0 1", "create: IMGroup row (TMP, 3 members, status 0, version 1)");
    tap_is_str(sql1(h, out, sizeof out,
                    "SELECT GROUP_CONCAT(userId ORDER BY userId) FROM IMGroupMember WHERE groupId = %u AND status = 0 "
                    "AND shield = 0 AND created >= %ld AND updated = created",
                    gid, (long)before),
               "201,202,203", "create: one IMGroupMember row per member, joined now");
    tap_is_str(redis1(h, out, sizeof out, "HLEN group_member_%u", gid), "3",
               "create: group_member_<gid> has 3 members");
    long joined = atol(redis1(h, out, sizeof out, "HGET group_member_%u %u", gid, BOB));
    tap_ok(joined >= before && joined <= time(NULL), "create: the cached join time is now");
    tap_is_str(redis1(h, out, sizeof out, "HGET imgate:group:%u version", gid), "1", "create: cached version 1");
    tap_is_str(redis1(h, out, sizeof out, "GET group_msg_id_%u", gid), "0", "create: group_msg_id_<gid> starts at 0");

    IM__Group__IMGroupInfoListRsp *info = group_info1(alice, gid, 0);
    const IM__BaseDefine__GroupInfo *g = info_of(info, gid);
    tap_ok(g != NULL, "create: the new group has info");
    if (g) {
        tap_is_int(g->version, 1, "info: version 1");
        tap_is_str(g->group_name, "Team 群", "info: name");
        tap_is_str(g->group_avatar, "http://av/t.png", "info: avatar");
        tap_is_int(g->group_creator_id, ALICE, "info: creator");
        tap_is_int(g->group_type, GROUP_TYPE_TMP, "info: type TMP");
        tap_is_int(g->shield_status, 0, "info: not shielded");
        tap_is_str(ids_text(g->group_member_list, g->n_group_member_list, buf, sizeof buf), "201,202,203",
                   "info: members");
    }
    if (info)
        group_free(info);
    tap_is_int(listed_version(alice, gid), 0, "a temporary group is not in the normal group list");

    /* The creator is not added behind the client's back; it still sees its group. */
    uint32_t others[] = {BOB, CAROL};
    gid = group_create(alice, "without me", others, 2);
    tap_ok(gid > 0, "create without the creator in the list");
    tap_is_str(
        sql1(h, out, sizeof out, "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = %u AND userId = %u", gid, ALICE),
        "0", "the creator is not made a member");
    info = group_info1(alice, gid, 0);
    g = info_of(info, gid);
    tap_ok(g && g->n_group_member_list == 2, "the creator who is not a member sees the group's info");
    if (info)
        group_free(info);
    imgate_client *erin = user_on(h, 0, "erin", CLIENT_WINDOWS);
    info = group_info1(erin, gid, 0);
    tap_ok(info && info->n_group_info_list == 0, "a user who is neither member nor creator gets nothing");
    if (info)
        group_free(info);
    imgate_client_close(erin);
    imgate_client_close(alice);
}

static void test_create_refusals(void)
{
    imgate_client *c = user_on(h, 0, "alice", CLIENT_MAC);
    int before = count_groups();
    uint32_t ids[] = {ALICE, BOB};
    tap_is_int(group_create_result(c, GROUP_TYPE_NORMAL, "normal", "", ids, 2), G_NOT_ALLOWED,
               "create NORMAL: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "", "", ids, 2), G_INVALID, "empty name: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, " \t ", "", ids, 2), G_INVALID, "blank name: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "no one", "", NULL, 0), G_INVALID, "no members: refused");
    uint32_t unknown[] = {ALICE, 9999};
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "ghost", "", unknown, 2), G_UNKNOWN_USER,
               "a member id that is no user: refused");
    uint32_t zero[] = {ALICE, 0};
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "zero", "", zero, 2), G_UNKNOWN_USER, "member id 0: refused");
    uint32_t left[] = {ALICE, GONE};
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "left", "", left, 2), G_UNKNOWN_USER,
               "a user who left (status 3): refused");
    char name[4096];
    memset(name, 'n', 257);
    name[257] = '\0';
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, name, "", ids, 2), G_INVALID, "a 257-character name: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "avatar", name, ids, 2), G_INVALID,
               "a 257-character avatar: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "bad \xff\xfe utf-8", "", ids, 2), G_INVALID,
               "a name that is not UTF-8: refused");
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "overlong \xc0\xaf", "", ids, 2), G_INVALID,
               "an overlong UTF-8 form: refused");
    uint32_t many[MAX_MEMBERS + 1];
    for (int i = 0; i <= MAX_MEMBERS; i++)
        many[i] = LOAD_FIRST + (uint32_t)i;
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "crowd", "", many, MAX_MEMBERS + 1), G_TOO_MANY,
               "max_members + 1 members: refused");
    tap_is_int(count_groups(), before, "no refused request created anything");

    /* At the limits: 256 four-byte characters (1024 bytes), max_members members. */
    name[0] = '\0';
    for (int i = 0; i < 256; i++)
        strcat(name, "\xf0\x9f\x98\x80");
    IM__Group__IMGroupCreateRsp *r = group_create_typed(c, GROUP_TYPE_TMP, name, name, many, MAX_MEMBERS);
    tap_ok(r && r->result_code == G_OK, "256 four-byte characters in name and avatar, max_members members: created");
    if (r && r->result_code == G_OK) {
        tap_is_str(sql1(h, out, sizeof out,
                        "SELECT CONCAT(CHAR_LENGTH(name), ' ', LENGTH(avatar), ' ', userCnt) FROM "
                        "IMGroup WHERE id = %u",
                        r->group_id),
                   "256 1024 30", "stored whole");
    }
    if (r)
        group_free(r);
    tap_is_int(count_groups(), before + 1, "one group more");
    imgate_client_close(c);
}

/* --- groups in MySQL only --------------------------------------------------------------------------- */

#define OPS 900     /* normal, alice (creator), bob, dave */
#define DELETED 901 /* normal, status 1 */
#define LEFT 902    /* normal, alice left it */
#define WEIRD 904   /* normal, type 7 (no such GroupType) */

static void insert_sql_groups(void)
{
    char o[64];
    const char *sql[] = {
        "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, created, updated) VALUES "
        "(900, 'Ops', 'http://av/ops.png', 201, 1, 3, 0, 7, 1700000000, 1700000000),"
        "(901, 'Old', '', 201, 1, 1, 1, 3, 1700000000, 1700000000),"
        "(902, 'Past', '', 202, 1, 1, 0, 2, 1700000000, 1700000000),"
        "(904, 'Weird', '', 201, 7, 1, 0, 1, 1700000000, 1700000000)",
        /* Reference rows have no shield column value of their own: the default applies. */
        "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES "
        "(900, 201, 0, 1700000000, 1700000100), (900, 202, 0, 1700000000, 1700000200),"
        "(900, 204, 0, 1700000000, 1700000300), (901, 201, 0, 1700000000, 1700000000),"
        "(902, 202, 0, 1700000000, 1700000000), (902, 201, 1, 1700000000, 1700000000),"
        "(904, 201, 0, 1700000000, 1700000000)",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (harness_sql(h, sql[i], o, sizeof o) != 0)
            tap_bail("cannot insert the SQL-only groups");
}

static void test_sql_only_groups(void)
{
    insert_sql_groups();
    tap_is_str(redis1(h, out, sizeof out, "EXISTS group_member_900 imgate:group:900 group_set_900"), "0",
               "Redis knows nothing of the groups inserted by SQL");
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *bob = user_on(h, 0, "bob", CLIENT_WINDOWS);
    imgate_client *carol = user_on(h, 0, "carol", CLIENT_WINDOWS);

    IM__Group__IMNormalGroupListRsp *l = group_list(alice);
    tap_ok(l != NULL, "normal list: answered");
    int has_ops = 0, has_deleted = 0, has_left = 0, tmp = 0;
    for (size_t i = 0; l && i < l->n_group_version_list; i++) {
        const IM__BaseDefine__GroupVersionInfo *v = l->group_version_list[i];
        has_ops += v->group_id == OPS && v->version == 7;
        has_deleted += v->group_id == DELETED;
        has_left += v->group_id == LEFT;
        tmp += v->group_id < OPS;
    }
    tap_ok(l && l->user_id == ALICE, "normal list: user_id");
    tap_is_int(has_ops, 1, "normal list: the SQL-only normal group, with its version 7");
    tap_is_int(has_deleted, 0, "normal list: a deleted group is not listed");
    tap_is_int(has_left, 0, "normal list: a group the user left is not listed");
    tap_is_int(tmp, 0, "normal list: no temporary group");
    if (l)
        group_free(l);
    tap_is_int(listed_version(bob, OPS), 7, "normal list: another member sees it too");
    tap_is_int(listed_version(carol, OPS), 0, "normal list: a non-member does not");

    IM__Group__IMGroupInfoListRsp *info = group_info1(alice, OPS, 0);
    const IM__BaseDefine__GroupInfo *g = info_of(info, OPS);
    tap_ok(g != NULL, "info of the SQL-only group");
    if (g) {
        tap_is_int(g->version, 7, "info: its version");
        tap_is_str(g->group_name, "Ops", "info: name");
        tap_is_str(g->group_avatar, "http://av/ops.png", "info: avatar");
        tap_is_int(g->group_creator_id, ALICE, "info: creator");
        tap_is_int(g->group_type, GROUP_TYPE_NORMAL, "info: type NORMAL");
        tap_is_str(ids_text(g->group_member_list, g->n_group_member_list, buf, sizeof buf), "201,202,204",
                   "info: members from IMGroupMember");
    }
    if (info)
        group_free(info);
    tap_is_str(redis1(h, out, sizeof out, "HGET imgate:group:900 version"), "7", "the cache was rebuilt from MySQL");
    tap_is_str(redis1(h, out, sizeof out, "HGET group_member_900 204"), "1700000300",
               "group_member_900: join time = IMGroupMember.updated");

    info = group_info1(carol, OPS, 0);
    tap_ok(info && info->n_group_info_list == 0, "a non-member gets no info of a normal group");
    if (info)
        group_free(info);
    uint32_t gids[] = {DELETED, WEIRD, 987654};
    info = group_info(alice, gids, NULL, 3);
    tap_ok(info && info->n_group_info_list == 0, "a deleted group, one of an unknown type, an unknown id: left out");
    if (info)
        group_free(info);
    tap_is_str(redis1(h, out, sizeof out, "EXISTS imgate:group:987654 group_member_987654"), "0",
               "an id the user cannot see costs no cache entry");
    imgate_client_close(alice);
    imgate_client_close(bob);
    imgate_client_close(carol);
}

static void test_versions(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    uint32_t tmp_ids[] = {ALICE, BOB};
    uint32_t tmp = group_create(alice, "versions", tmp_ids, 2);
    struct {
        uint32_t version;
        int listed;
        const char *what;
    } cases[] = {
        {0, 1, "client version 0: always answered"},
        {6, 1, "an older client version: answered"},
        {7, 0, "the current version: left out"},
        {8, 0, "a version above the stored one: left out"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        IM__Group__IMGroupInfoListRsp *r = group_info1(alice, OPS, cases[i].version);
        tap_ok(r && (info_of(r, OPS) != NULL) == cases[i].listed, "%s", cases[i].what);
        if (r)
            group_free(r);
    }
    uint32_t gids[] = {OPS, tmp, 987655, OPS};
    uint32_t vers[] = {7, 0, 0, 0};
    IM__Group__IMGroupInfoListRsp *r = group_info(alice, gids, vers, 4);
    tap_ok(r && r->n_group_info_list == 2 && info_of(r, OPS) && info_of(r, tmp),
           "a mixed request: each group judged on its own, a group named twice answered once");
    if (r)
        group_free(r);
    r = group_info(alice, NULL, NULL, 0);
    tap_ok(r && r->n_group_info_list == 0 && r->user_id == ALICE, "an empty request: an empty answer");
    if (r)
        group_free(r);
    uint32_t many[MAX_INFO + 1];
    for (int i = 0; i <= MAX_INFO; i++)
        many[i] = OPS;
    r = group_info(alice, many, NULL, MAX_INFO);
    tap_ok(r && r->n_group_info_list == 1, "max_info_groups entries: answered");
    if (r)
        group_free(r);
    r = group_info(alice, many, NULL, MAX_INFO + 1);
    tap_ok(r && r->n_group_info_list == 0, "max_info_groups + 1 entries: refused with an empty answer");
    if (r)
        group_free(r);
    imgate_client_close(alice);
}

/* --- member changes -------------------------------------------------------------------------------- */

static const char *group_row(uint32_t gid)
{
    return sql1(h, out, sizeof out, "SELECT CONCAT(version, ' ', userCnt) FROM IMGroup WHERE id = %u", gid);
}

static void test_rights(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *bob = user_on(h, 0, "bob", CLIENT_WINDOWS);
    imgate_client *dave = user_on(h, 0, "dave", CLIENT_WINDOWS);
    imgate_client *erin = user_on(h, 0, "erin", CLIENT_WINDOWS);
    uint32_t ids[] = {ALICE, BOB, CAROL};
    uint32_t t = group_create(alice, "rights", ids, 3);

    tap_is_int(group_change1(erin, t, GROUP_MODIFY_TYPE_ADD, FRANK), G_NOT_ALLOWED, "TMP: a non-member may not add");
    tap_is_int(group_change1(bob, t, GROUP_MODIFY_TYPE_ADD, DAVE), G_OK, "TMP: a member may add");
    tap_is_str(group_row(t), "2 4", "TMP: version 2, userCnt 4");
    tap_is_int(group_change1(bob, t, GROUP_MODIFY_TYPE_DEL, CAROL), G_NOT_ALLOWED, "TMP: a member may not remove");
    tap_is_int(group_change1(dave, t, GROUP_MODIFY_TYPE_DEL, BOB), G_NOT_ALLOWED,
               "TMP: an added member may not remove");
    tap_is_int(group_change1(bob, t, GROUP_MODIFY_TYPE_DEL, BOB), G_NOT_ALLOWED,
               "TMP: a member may not remove itself either (as the reference)");
    tap_is_int(group_change1(alice, t, GROUP_MODIFY_TYPE_DEL, CAROL), G_OK, "TMP: the creator may remove");
    tap_is_int(group_change1(alice, t, GROUP_MODIFY_TYPE_ADD, ERIN), G_OK, "TMP: the creator may add");
    tap_is_str(group_row(t), "4 4", "TMP: version 4, userCnt 4");

    tap_is_int(group_change1(bob, OPS, GROUP_MODIFY_TYPE_ADD, ERIN), G_NOT_ALLOWED, "NORMAL: a member may not add");
    tap_is_int(group_change1(bob, OPS, GROUP_MODIFY_TYPE_DEL, DAVE), G_NOT_ALLOWED, "NORMAL: a member may not remove");
    tap_is_int(group_change1(erin, OPS, GROUP_MODIFY_TYPE_ADD, ERIN), G_NOT_ALLOWED,
               "NORMAL: a non-member may not add (itself neither)");
    tap_is_str(group_row(OPS), "7 3", "NORMAL: refusals changed nothing");
    tap_is_int(group_change1(alice, OPS, GROUP_MODIFY_TYPE_ADD, ERIN), G_OK, "NORMAL: the creator may add");
    tap_is_int(group_change1(alice, OPS, GROUP_MODIFY_TYPE_DEL, ERIN), G_OK, "NORMAL: the creator may remove");
    tap_is_str(group_row(OPS), "9 3", "NORMAL: version 9, userCnt 3");

    tap_is_int(group_change1(alice, 987656, GROUP_MODIFY_TYPE_ADD, ERIN), G_NO_GROUP, "an unknown group: refused");
    tap_is_int(group_change1(alice, DELETED, GROUP_MODIFY_TYPE_ADD, ERIN), G_NO_GROUP, "a deleted group: refused");
    tap_is_int(group_change1(alice, t, GROUP_MODIFY_TYPE_ADD, 9999), G_UNKNOWN_USER, "adding a non-user: refused");
    tap_is_int(group_change1(alice, t, GROUP_MODIFY_TYPE_ADD, GONE), G_UNKNOWN_USER, "adding a user who left: refused");
    tap_is_str(group_row(t), "4 4", "refusals leave version and userCnt alone");

    IM__Group__IMGroupChangeMemberRsp *r = group_change(alice, t, GROUP_MODIFY_TYPE_ADD, (uint32_t[]){BOB, DAVE}, 2);
    tap_ok(r && r->result_code == G_OK && r->n_chg_user_id_list == 0,
           "adding members who are in already: success, nothing changed");
    if (r)
        group_free(r);
    r = group_change(alice, t, GROUP_MODIFY_TYPE_DEL, (uint32_t[]){FRANK}, 1);
    tap_ok(r && r->result_code == G_OK && r->n_chg_user_id_list == 0,
           "removing a user who is not a member: success, nothing changed");
    if (r)
        group_free(r);
    tap_is_str(group_row(t), "4 4", "no version for a change that changed nothing");

    uint32_t many[MAX_MEMBERS];
    for (int i = 0; i < MAX_MEMBERS; i++)
        many[i] = LOAD_FIRST + (uint32_t)i;
    r = group_change(alice, t, GROUP_MODIFY_TYPE_ADD, many, MAX_MEMBERS - 4);
    tap_ok(r && r->result_code == G_OK && r->n_cur_user_id_list == MAX_MEMBERS,
           "adding up to max_members: accepted (%zu members)", r ? r->n_cur_user_id_list : 0);
    if (r)
        group_free(r);
    tap_is_int(group_change1(alice, t, GROUP_MODIFY_TYPE_ADD, LOAD_FIRST + MAX_MEMBERS), G_TOO_MANY,
               "one more than max_members: refused");
    r = group_change(alice, t, GROUP_MODIFY_TYPE_DEL, many, MAX_MEMBERS - 4);
    tap_ok(r && r->result_code == G_OK && r->n_chg_user_id_list == MAX_MEMBERS - 4, "removing them again");
    if (r)
        group_free(r);
    tap_is_str(group_row(t), "6 4", "version 6, userCnt 4");
    imgate_client_close(alice);
    imgate_client_close(bob);
    imgate_client_close(dave);
    imgate_client_close(erin);
}

static int notify_is(IM__Group__IMGroupChangeMemberNotify *n, uint32_t by, uint32_t type, uint32_t gid, const char *cur,
                     const char *chg)
{
    if (n == NULL)
        return 0;
    int ok = n->user_id == by && (uint32_t)n->change_type == type && n->group_id == gid &&
             strcmp(sorted_text(n->cur_user_id_list, n->n_cur_user_id_list, buf, sizeof buf), cur) == 0 &&
             strcmp(sorted_text(n->chg_user_id_list, n->n_chg_user_id_list, buf2, sizeof buf2), chg) == 0;
    if (!ok)
        tap_diag("notify: by %u type %d group %u cur %s chg %s", n->user_id, n->change_type, n->group_id,
                 sorted_text(n->cur_user_id_list, n->n_cur_user_id_list, buf, sizeof buf),
                 sorted_text(n->chg_user_id_list, n->n_chg_user_id_list, buf2, sizeof buf2));
    group_free(n);
    return ok;
}

static void test_notifications(void)
{
    imgate_client *alice_pc = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *alice_phone = user_on(h, 0, "alice", CLIENT_ANDROID);
    imgate_client *bob_pc = user_on(h, 0, "bob", CLIENT_WINDOWS);
    imgate_client *bob_phone = user_on(h, 0, "bob", CLIENT_IOS);
    imgate_client *carol = user_on(h, 0, "carol", CLIENT_WINDOWS);
    imgate_client *dave = user_on(h, 0, "dave", CLIENT_WINDOWS);
    imgate_client *erin = user_on(h, 0, "erin", CLIENT_WINDOWS);
    uint32_t ids[] = {ALICE, BOB, CAROL};
    uint32_t g = group_create(alice_pc, "notify", ids, 3);

    IM__Group__IMGroupChangeMemberRsp *r = group_change(bob_pc, g, GROUP_MODIFY_TYPE_ADD, (uint32_t[]){DAVE}, 1);
    tap_ok(r && r->result_code == G_OK && r->user_id == BOB && r->group_id == g &&
               r->change_type == GROUP_MODIFY_TYPE_ADD,
           "add: answered");
    if (r) {
        tap_is_str(sorted_text(r->cur_user_id_list, r->n_cur_user_id_list, buf, sizeof buf), "201,202,203,204",
                   "add: cur_user_id_list = members after the change");
        tap_is_str(ids_text(r->chg_user_id_list, r->n_chg_user_id_list, buf, sizeof buf), "204",
                   "add: chg_user_id_list = the added member");
        group_free(r);
    }
    const char *cur = "201,202,203,204";
    tap_ok(notify_is(wait_group_notify(dave, 3000), BOB, GROUP_MODIFY_TYPE_ADD, g, cur, "204"),
           "add: the added member is notified");
    tap_ok(notify_is(wait_group_notify(alice_pc, 3000), BOB, GROUP_MODIFY_TYPE_ADD, g, cur, "204"),
           "add: a remaining member is notified (PC)");
    tap_ok(notify_is(wait_group_notify(alice_phone, 3000), BOB, GROUP_MODIFY_TYPE_ADD, g, cur, "204"),
           "add: ... and on its phone");
    tap_ok(notify_is(wait_group_notify(carol, 3000), BOB, GROUP_MODIFY_TYPE_ADD, g, cur, "204"),
           "add: another remaining member is notified");
    tap_ok(notify_is(wait_group_notify(bob_phone, 3000), BOB, GROUP_MODIFY_TYPE_ADD, g, cur, "204"),
           "add: the changer's other connection is notified");
    tap_ok(no_notify(bob_pc, 300), "add: the connection that asked has the answer, no notification");
    tap_ok(no_notify(erin, 100), "add: an outsider hears nothing");

    r = group_change(alice_pc, g, GROUP_MODIFY_TYPE_DEL, (uint32_t[]){CAROL}, 1);
    tap_ok(r && r->result_code == G_OK, "remove: answered");
    if (r)
        group_free(r);
    /* Right after the answer the cache no longer has her: the message plugin's next membership
     * check refuses her and its fan-out leaves her out. */
    tap_is_str(redis1(h, out, sizeof out, "HEXISTS group_member_%u %u", g, CAROL), "0",
               "remove: gone from group_member_<gid> when the answer comes");
    tap_is_str(redis1(h, out, sizeof out, "HGET imgate:group:%u version", g), "3", "remove: cached version 3");
    cur = "201,202,204";
    tap_ok(notify_is(wait_group_notify(carol, 3000), ALICE, GROUP_MODIFY_TYPE_DEL, g, cur, "203"),
           "remove: the removed member is notified");
    tap_ok(notify_is(wait_group_notify(bob_pc, 3000), ALICE, GROUP_MODIFY_TYPE_DEL, g, cur, "203"),
           "remove: remaining members are notified");
    tap_ok(notify_is(wait_group_notify(dave, 3000), ALICE, GROUP_MODIFY_TYPE_DEL, g, cur, "203"),
           "remove: ... every one of them");
    tap_ok(notify_is(wait_group_notify(alice_phone, 3000), ALICE, GROUP_MODIFY_TYPE_DEL, g, cur, "203"),
           "remove: the creator's phone too");
    tap_ok(no_notify(alice_pc, 300), "remove: not the connection that asked");
    IM__Group__IMGroupInfoListRsp *info = group_info1(carol, g, 0);
    tap_ok(info && info->n_group_info_list == 0, "remove: the removed member no longer sees the group");
    if (info)
        group_free(info);
    imgate_client_close(alice_pc);
    imgate_client_close(alice_phone);
    imgate_client_close(bob_pc);
    imgate_client_close(bob_phone);
    imgate_client_close(carol);
    imgate_client_close(dave);
    imgate_client_close(erin);
}

static void test_unread_sessions_readd(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    uint32_t ids[] = {ALICE, BOB, CAROL, DAVE};
    uint32_t g = group_create(alice, "unread", ids, 4);
    redis1(h, out, sizeof out, "HSET %u_im_group_msg count 7", g);
    redis1(h, out, sizeof out, "HSET %u_%u_im_user_group count 2", CAROL, g);
    redis1(h, out, sizeof out, "HSET %u_%u_im_user_group count 3", DAVE, g);
    sql1(h, out, sizeof out,
         "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES "
         "(%u, %u, 2, 0, 1, 1), (%u, %u, 1, 0, 1, 1), (%u, %u, 2, 0, 1, 1)",
         CAROL, g, CAROL, g, DAVE, g);
    uint32_t carol_created = (uint32_t)atol(
        sql1(h, out, sizeof out, "SELECT created FROM IMGroupMember WHERE groupId = %u AND userId = %u", g, CAROL));

    tap_is_int(group_change1(alice, g, GROUP_MODIFY_TYPE_DEL, CAROL), G_OK, "remove carol");
    tap_is_str(redis1(h, out, sizeof out, "HGET %u_%u_im_user_group count", CAROL, g), "7",
               "the removed member's unread mark = the group's count (nothing left unread)");
    tap_is_str(redis1(h, out, sizeof out, "HGET %u_%u_im_user_group count", DAVE, g), "3",
               "an unchanged member's unread mark is untouched");
    tap_is_str(sql1(h, out, sizeof out,
                    "SELECT GROUP_CONCAT(CONCAT(userId, ':', type, ':', status) ORDER BY userId, type) FROM "
                    "IMRecentSession WHERE peerId = %u",
                    g),
               "203:1:0,203:2:1,204:2:0",
               "the removed member's group session is deleted; a user session and others' are not");
    tap_is_int(group_change1(alice, g, GROUP_MODIFY_TYPE_ADD, FRANK), G_OK, "add frank");
    tap_is_str(redis1(h, out, sizeof out, "HGET %u_%u_im_user_group count", FRANK, g), "7",
               "an added member starts with nothing unread");

    sleep_ms(1100); /* a later second: the new join time must differ */
    time_t before = time(NULL);
    tap_is_int(group_change1(alice, g, GROUP_MODIFY_TYPE_ADD, CAROL), G_OK, "re-add carol");
    tap_is_str(
        sql1(h, out, sizeof out, "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = %u AND userId = %u", g, CAROL),
        "1", "re-adding revives her row instead of adding one");
    long updated = atol(sql1(h, out, sizeof out,
                             "SELECT updated FROM IMGroupMember WHERE groupId = %u AND userId = %u AND status = 0 "
                             "AND created = %u",
                             g, CAROL, carol_created));
    tap_ok(updated >= before, "her join time (IMGroupMember.updated) is the re-add time; created is kept");
    tap_is_int(atol(redis1(h, out, sizeof out, "HGET group_member_%u %u", g, CAROL)), updated,
               "the cache has the new join time: her history starts there");
    imgate_client_close(alice);
}

/* --- shield ----------------------------------------------------------------------------------------- */

static uint32_t shield_in_info(imgate_client *c, uint32_t g)
{
    IM__Group__IMGroupInfoListRsp *r = group_info1(c, g, 0);
    const IM__BaseDefine__GroupInfo *gi = info_of(r, g);
    uint32_t s = gi ? gi->shield_status : 99;
    if (r)
        group_free(r);
    return s;
}

static void test_shield(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *bob = user_on(h, 0, "bob", CLIENT_WINDOWS);
    imgate_client *erin = user_on(h, 0, "erin", CLIENT_WINDOWS);
    uint32_t ids[] = {ALICE, BOB};
    uint32_t g = group_create(alice, "shield", ids, 2);

    tap_is_int(group_shield(bob, g, 1), G_OK, "shield on: result 0");
    tap_is_str(redis1(h, out, sizeof out, "HGET group_set_%u %u_1", g, BOB), "1", "group_set_<gid> <uid>_1 = 1");
    tap_is_str(sql1(h, out, sizeof out, "SELECT shield FROM IMGroupMember WHERE groupId = %u AND userId = %u", g, BOB),
               "1", "IMGroupMember.shield = 1");
    tap_is_int(shield_in_info(bob, g), 1, "group info reports the member's own shield status");
    tap_is_int(shield_in_info(alice, g), 0, "another member sees its own (0)");
    tap_is_int(group_shield(bob, g, 1), G_OK, "shield on again: still result 0");

    redis1(h, out, sizeof out, "FLUSHALL");
    tap_is_int(shield_in_info(bob, g), 1, "with Redis flushed, the shield status still comes from MySQL");
    tap_is_str(redis1(h, out, sizeof out, "HGET group_set_%u %u_1", g, BOB), "1",
               "and the rebuilt cache restored group_set_<gid>");
    tap_is_int(shield_in_info(bob, OPS), 0, "and a group inserted by SQL has info after the flush");

    tap_is_int(group_shield(bob, g, 0), G_OK, "shield off: result 0");
    tap_is_str(redis1(h, out, sizeof out, "HGET group_set_%u %u_1", g, BOB), "0", "group_set_<gid> <uid>_1 = 0");
    tap_is_int(shield_in_info(bob, g), 0, "round trip: group info says 0");

    tap_is_int(group_shield(erin, g, 1), G_NOT_ALLOWED, "a non-member may not shield");
    tap_is_int(group_shield(bob, g, 2), G_INVALID, "shield status 2: refused");
    tap_is_int(group_shield(bob, 987657, 1), G_NO_GROUP, "an unknown group: refused");
    tap_is_int(group_shield(bob, DELETED, 1), G_NO_GROUP, "a deleted group: refused");
    tap_is_int(group_shield(bob, OPS, 1), G_OK, "a member of a group inserted by SQL may shield it");
    tap_is_int(shield_in_info(bob, OPS), 1, "... and info shows it");

    tap_is_int(group_shield(bob, g, 1), G_OK, "shield on");
    tap_is_int(group_change1(alice, g, GROUP_MODIFY_TYPE_DEL, BOB), G_OK, "remove the shielded member");
    tap_is_str(redis1(h, out, sizeof out, "HEXISTS group_set_%u %u_1", g, BOB), "0",
               "a removed member's shield field is gone");
    tap_is_int(group_change1(alice, g, GROUP_MODIFY_TYPE_ADD, BOB), G_OK, "add it back");
    tap_is_str(redis1(h, out, sizeof out, "HGET group_set_%u %u_1", g, BOB), "0",
               "a returning member starts unshielded");
    tap_is_int(shield_in_info(bob, g), 0, "... in MySQL too");
    imgate_client_close(alice);
    imgate_client_close(bob);
    imgate_client_close(erin);
}

/* --- MySQL is the truth --------------------------------------------------------------------------------- */

static void test_sql_only_changes(void)
{
    sql1(h, out, sizeof out,
         "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, created, updated) VALUES "
         "(903, 'Admin made', '', 201, 1, 2, 0, 1, 1, 1)");
    sql1(h, out, sizeof out,
         "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (903, 201, 0, 1, 1), "
         "(903, 202, 0, 1, 1)");
    redis1(h, out, sizeof out, "FLUSHALL");
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *bob = user_on(h, 0, "bob", CLIENT_WINDOWS);
    tap_is_int(group_change1(alice, 903, GROUP_MODIFY_TYPE_ADD, CAROL), G_OK,
               "a group inserted by SQL, Redis empty: its creator adds a member");
    tap_ok(notify_is(wait_group_notify(bob, 3000), ALICE, GROUP_MODIFY_TYPE_ADD, 903, "201,202,203", "203"),
           "its members are notified");
    tap_is_str(redis1(h, out, sizeof out, "HGET imgate:group:903 version"), "2", "the cache holds version 2");
    tap_is_str(redis1(h, out, sizeof out, "HLEN group_member_903"), "3", "and 3 members");
    tap_is_str(group_row(903), "2 3", "MySQL: version 2, userCnt 3");
    tap_is_int(group_shield(bob, 903, 1), G_OK, "a member shields it");
    imgate_client_close(alice);
    imgate_client_close(bob);
}

/* --- concurrency ------------------------------------------------------------------------------------------ */

static void test_concurrent_changes(void)
{
    imgate_client *alice = user_on(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *bob = user_on(h, 1, "bob", CLIENT_WINDOWS);
    uint32_t ids[] = {ALICE, BOB};
    uint32_t g = group_create(alice, "race", ids, 2);
    /* Ten adds from each node, all sent before any answer is read. */
    uint16_t seqs[2][10];
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 2; k++) {
            IM__Group__IMGroupChangeMemberReq req = IM__GROUP__IMGROUP_CHANGE_MEMBER_REQ__INIT;
            uint32_t uid = LOAD_FIRST + (uint32_t)(2 * i + k);
            req.change_type = GROUP_MODIFY_TYPE_ADD;
            req.group_id = g;
            req.n_member_id_list = 1;
            req.member_id_list = &uid;
            imgate_client_send_msg(k ? bob : alice, SID_GROUP, CID_GROUP_CHANGE_MEMBER_REQUEST, &req.base, &seqs[k][i]);
        }
    }
    int ok = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 10; i++) {
            imgate_client_pdu pdu;
            if (imgate_client_wait(k ? bob : alice, CID_GROUP_CHANGE_MEMBER_RESPONSE, seqs[k][i], &pdu, 10000) != 0)
                continue;
            IM__Group__IMGroupChangeMemberRsp *r =
                im__group__imgroup_change_member_rsp__unpack(NULL, pdu.body_len, pdu.body);
            ok += r && r->result_code == G_OK && r->n_chg_user_id_list == 1;
            if (r)
                group_free(r);
            imgate_client_pdu_free(&pdu);
        }
    tap_is_int(ok, 20, "20 concurrent adds from two nodes: all succeed");
    tap_is_str(group_row(g), "21 22", "version 21 and userCnt 22: no change lost");
    tap_is_str(redis1(h, out, sizeof out, "HGET imgate:group:%u version", g), "21", "the cache ends at version 21");
    tap_is_str(redis1(h, out, sizeof out, "HLEN group_member_%u", g), "22", "with all 22 members");
    imgate_client_close(alice);
    imgate_client_close(bob);
}

/* --- imgate-cli -------------------------------------------------------------------------------------------- */

/* Runs imgate-cli against node 0 with `args`; its exit status, output in `text`. */
static int cli(char *text, size_t len, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/tools/imgate-cli -p %u %s 2>&1", getenv("top_builddir"),
             (unsigned)harness_node_port(h, 0), args);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(text, 1, len - 1, p);
    text[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void)
{
    static char text[16384];
    int rc = cli(text, sizeof text, "group-create alice alice123 'from the cli' 201 202 203");
    const char *at = strstr(text, "group_id: ");
    uint32_t gid = at ? (uint32_t)atol(at + 10) : 0;
    tap_ok(rc == 0 && strstr(text, "result_code: 0\n") && gid > 0 && strstr(text, "user_id_list: 201,202,203\n"),
           "imgate-cli group-create: created (exit %d)", rc);
    if (rc != 0)
        tap_diag("%s", text);
    char args[256];
    snprintf(args, sizeof args, "group-shield bob bob123 %u 1", gid);
    tap_is_int(cli(text, sizeof text, args), 0, "imgate-cli group-shield");
    snprintf(args, sizeof args, "group-remove alice alice123 %u 203", gid);
    rc = cli(text, sizeof text, args);
    tap_ok(rc == 0 && strstr(text, "cur_user_id_list: 201,202\n") && strstr(text, "chg_user_id_list: 203\n"),
           "imgate-cli group-remove");
    snprintf(args, sizeof args, "groups bob bob123 %u", gid);
    rc = cli(text, sizeof text, args);
    snprintf(buf, sizeof buf,
             "group_id: %u\nversion: 2\ngroup_name: from the cli\ngroup_avatar: \ngroup_creator_id: 201\n"
             "group_type: 2 (temporary)\nshield_status: 1\nmembers: 201,202\n",
             gid);
    tap_ok(rc == 0 && strstr(text, buf) != NULL, "imgate-cli groups: the named temporary group with its info");
    tap_ok(strstr(text, "group_id: 900\n") && strstr(text, "group_name: Ops\n"),
           "imgate-cli groups: and the user's normal groups");
    if (!strstr(text, buf))
        tap_diag("%s", text);
    rc = cli(text, sizeof text, "group-create alice alice123 nobody 9999");
    tap_ok(rc == 1 && strstr(text, "result_code: 6\n"), "imgate-cli group-create: a refusal exits 1 with its result");
    tap_is_int(cli(text, sizeof text, "group-add alice alice123 notanumber 1"), 2,
               "imgate-cli: a bad id is a usage error");
}

/* --- hostile input ---------------------------------------------------------------------------------------- */

static void test_malformed_and_unauthorised(void)
{
    imgate_client *c = user_on(h, 0, "alice", CLIENT_WINDOWS);
    const uint16_t cmds[][2] = {{CID_GROUP_NORMAL_LIST_REQUEST, CID_GROUP_NORMAL_LIST_RESPONSE},
                                {CID_GROUP_INFO_REQUEST, CID_GROUP_INFO_RESPONSE},
                                {CID_GROUP_CREATE_REQUEST, CID_GROUP_CREATE_RESPONSE},
                                {CID_GROUP_CHANGE_MEMBER_REQUEST, CID_GROUP_CHANGE_MEMBER_RESPONSE},
                                {CID_GROUP_SHIELD_GROUP_REQUEST, CID_GROUP_SHIELD_GROUP_RESPONSE}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        uint16_t seq;
        imgate_client_send(c, SID_GROUP, cmds[i][0], "\xff\xff\xff", 3, &seq);
        imgate_client_pdu pdu;
        tap_is_int(imgate_client_wait(c, cmds[i][1], seq, &pdu, 500), IMGATE_CLIENT_TIMEOUT,
                   "command 0x%04x with a malformed body: no answer", cmds[i][0]);
    }
    /* A required field missing is malformed too (here: group_type of a create). */
    uint16_t seq;
    imgate_client_send(c, SID_GROUP, CID_GROUP_CREATE_REQUEST, "\x08\x01", 2, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_GROUP_CREATE_RESPONSE, seq, &pdu, 500), IMGATE_CLIENT_TIMEOUT,
               "a create without its required fields: no answer");
    tap_ok(heartbeat_ok(c), "the connection stays and is served");
    tap_ok(listed_version(c, OPS) > 0, "and its next request is answered");
    imgate_client_close(c);

    c = harness_connect(h, 0);
    IM__Group__IMNormalGroupListReq req = IM__GROUP__IMNORMAL_GROUP_LIST_REQ__INIT;
    req.user_id = ALICE;
    imgate_client_send_msg(c, SID_GROUP, CID_GROUP_NORMAL_LIST_REQUEST, &req.base, NULL);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED,
               "a group request before login: the connection is closed, whatever user_id the body claims");
    imgate_client_close(c);
}

static void test_oversized(void)
{
    imgate_client *c = user_on(h, 0, "alice", CLIENT_WINDOWS);
    size_t n = 100000;
    uint32_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t)(i + 1);
    tap_is_int(group_create_result(c, GROUP_TYPE_TMP, "huge", "", ids, n), G_TOO_MANY,
               "a create naming 100000 members: refused");
    IM__Group__IMGroupChangeMemberRsp *r = group_change(c, OPS, GROUP_MODIFY_TYPE_ADD, ids, n);
    tap_ok(r && r->result_code == G_TOO_MANY, "a change naming 100000 members: refused");
    if (r)
        group_free(r);
    IM__Group__IMGroupInfoListRsp *info = group_info(c, ids, NULL, 20000);
    tap_ok(info && info->n_group_info_list == 0, "an info request for 20000 groups: an empty answer");
    if (info)
        group_free(info);
    free(ids);
    tap_ok(heartbeat_ok(c), "the connection is still served");
    imgate_client_close(c);
}

static void test_write_budget(void)
{
    imgate_client *c = user_on(h, 2, "bob", CLIENT_WINDOWS);
    int ok = 0;
    for (int i = 0; i < 3; i++)
        ok += group_shield(c, OPS, (uint32_t)(i % 2)) == G_OK;
    tap_is_int(ok, 3, "writes_per_minute = 3: three shield changes pass");
    tap_is_int(group_shield(c, OPS, 0), G_BUSY, "the fourth in the minute is refused (busy)");
    tap_is_int(group_change1(c, OPS, GROUP_MODIFY_TYPE_ADD, ERIN), G_BUSY, "so is a member change");
    tap_ok(listed_version(c, OPS) > 0, "reads are not counted");
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("group");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    char ini[256];
    snprintf(ini, sizeof ini, "[plugin.group]\nmax_members = %d\nmax_info_groups = %d\nwrites_per_minute = 100000\n",
             MAX_MEMBERS, MAX_INFO);
    if (harness_node_start(h, "login,group", ini) != 0 || harness_node_start(h, "login,group", ini) != 1 ||
        harness_node_start(h, "login,group", "[plugin.group]\nwrites_per_minute = 3\n") != 2)
        tap_bail("imgated did not start");
    const char *names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "gina"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        group_add_user(h, ALICE + i, names[i], 0);
    group_add_user(h, GONE, "gone", 3);
    if (harness_sql(h,
                    "INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId,"
                    " status, created, updated) SELECT 1000 + seq, 1, CONCAT('member', seq), '', '', '', '', '', '',"
                    " '', 1, 0, 1, 1 FROM seq_1_to_40",
                    out, sizeof out) != 0)
        tap_bail("cannot create the load users");
    test_create();
    test_create_refusals();
    test_sql_only_groups();
    test_versions();
    test_rights();
    test_notifications();
    test_unread_sessions_readd();
    test_shield();
    test_sql_only_changes();
    test_concurrent_changes();
    test_cli();
    test_malformed_and_unauthorised();
    test_oversized();
    test_write_budget();
    harness_stop(h);
    return tap_done();
}
