/*
 * bench_scenario_group.c — the `group-info` scenario: what a client does with
 * its groups after logging in. Per connection: IMLoginReq, then the normal
 * group list (neither measured), then BENCH_GROUP_ROUNDS IMGroupInfoListReq
 * for every listed group at version 0 (each one measured: the full info with
 * members), then close; the client starts over as its next user.
 *
 * Users are assigned as in the login scenario (client k owns users k+1,
 * k+1+C, ...), so no two connections are one user at the same time. The
 * population's groups come from scripts/bench-group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Group.pb-c.h"
#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "bench_scenario.h"
#include "imgate/teamtalk.h"

/* Info requests per connection, and the most groups one is asked about. */
#define BENCH_GROUP_ROUNDS 10
#define BENCH_GROUP_MAX 64

typedef struct {
    uint32_t concurrency, users;
    const char *prefix;
    uint32_t client_type;
    char password_md5[BENCH_MD5HEX_LEN];
    uint32_t *next_user;
    /* The groups of each client's current user, from its list reply. */
    uint32_t (*groups)[BENCH_GROUP_MAX];
    uint32_t *n_groups;
    /* The list reply just judged: judge_reply does not know the client, but the runner asks for
     * the same client's next step right after judging its reply. */
    uint32_t listed[BENCH_GROUP_MAX];
    uint32_t n_listed;
    /* Requests being packed (the runner packs one before the next call reuses it). */
    IM__Login__IMLoginReq login;
    char user_name[256];
    IM__Group__IMNormalGroupListReq list;
    IM__Group__IMGroupInfoListReq info;
    IM__BaseDefine__GroupVersionInfo versions[BENCH_GROUP_MAX];
    IM__BaseDefine__GroupVersionInfo *version_ptrs[BENCH_GROUP_MAX];
} group_state;

static void group_destroy(void *state)
{
    group_state *s = state;
    if (s) {
        free(s->next_user);
        free(s->groups);
        free(s->n_groups);
    }
    free(s);
}

static void *group_create(const bench_options *opt)
{
    group_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->concurrency = opt->concurrency;
    s->users = opt->users;
    s->prefix = opt->prefix;
    s->client_type = opt->client_type;
    s->next_user = malloc(sizeof *s->next_user * opt->concurrency);
    s->groups = calloc(opt->concurrency, sizeof *s->groups);
    s->n_groups = calloc(opt->concurrency, sizeof *s->n_groups);
    if (!s->next_user || !s->groups || !s->n_groups || bench_md5hex(opt->password, s->password_md5) < 0 ||
        strlen(opt->prefix) + 10 >= sizeof s->user_name) {
        fprintf(stderr, "imgate-bench: group-info: out of memory, no MD5 in libcrypto, or --prefix too long\n");
        group_destroy(s);
        return NULL;
    }
    for (uint32_t k = 0; k < opt->concurrency; k++)
        s->next_user[k] = k + 1;
    return s;
}

static bench_step_result group_next_step(void *state, uint32_t client, unsigned step, bench_step *out)
{
    group_state *s = state;
    if (step == 0) {
        uint32_t user = s->next_user[client];
        uint64_t following = (uint64_t)user + s->concurrency;
        s->next_user[client] = following <= s->users ? (uint32_t)following : client + 1;
        snprintf(s->user_name, sizeof s->user_name, "%s%u", s->prefix, (unsigned)user);
        bench_login_request_init(&s->login, s->user_name, s->password_md5, s->client_type, "imgate-bench");
        *out = (bench_step){SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, CID_LOGIN_RES_USERLOGIN, &s->login.base, 0};
        return BENCH_STEP_SEND;
    }
    if (step == 1) {
        im__group__imnormal_group_list_req__init(&s->list);
        *out = (bench_step){SID_GROUP, CID_GROUP_NORMAL_LIST_REQUEST, CID_GROUP_NORMAL_LIST_RESPONSE, &s->list.base, 0};
        return BENCH_STEP_SEND;
    }
    if (step == 2) {
        memcpy(s->groups[client], s->listed, s->n_listed * sizeof s->listed[0]);
        s->n_groups[client] = s->n_listed;
    }
    if (step > 1 + BENCH_GROUP_ROUNDS || s->n_groups[client] == 0)
        return BENCH_STEP_DONE;
    im__group__imgroup_info_list_req__init(&s->info);
    for (uint32_t i = 0; i < s->n_groups[client]; i++) {
        im__base_define__group_version_info__init(&s->versions[i]);
        s->versions[i].group_id = s->groups[client][i];
        s->version_ptrs[i] = &s->versions[i];
    }
    s->info.n_group_version_list = s->n_groups[client];
    s->info.group_version_list = s->version_ptrs;
    *out = (bench_step){SID_GROUP, CID_GROUP_INFO_REQUEST, CID_GROUP_INFO_RESPONSE, &s->info.base, 1};
    return BENCH_STEP_SEND;
}

static bench_reply_verdict group_judge_reply(void *state, unsigned step, const uint8_t *body, size_t len,
                                             uint32_t *code, char *detail, size_t detail_cap)
{
    group_state *s = state;
    if (step == 0) {
        IM__Login__IMLoginRes *res = im__login__imlogin_res__unpack(NULL, len, body);
        if (!res) {
            snprintf(detail, detail_cap, "IMLoginRes does not parse");
            return BENCH_REPLY_UNPARSABLE;
        }
        bench_reply_verdict v = BENCH_REPLY_OK;
        if (res->result_code != REFUSE_REASON_NONE) {
            v = BENCH_REPLY_REFUSED;
            *code = (uint32_t)res->result_code;
            snprintf(detail, detail_cap, "login: %s", res->result_string ? res->result_string : "");
        }
        im__login__imlogin_res__free_unpacked(res, NULL);
        return v;
    }
    if (step == 1) {
        IM__Group__IMNormalGroupListRsp *rsp = im__group__imnormal_group_list_rsp__unpack(NULL, len, body);
        if (!rsp) {
            snprintf(detail, detail_cap, "IMNormalGroupListRsp does not parse");
            return BENCH_REPLY_UNPARSABLE;
        }
        s->n_listed = 0;
        for (size_t i = 0; i < rsp->n_group_version_list && s->n_listed < BENCH_GROUP_MAX; i++)
            s->listed[s->n_listed++] = rsp->group_version_list[i]->group_id;
        im__group__imnormal_group_list_rsp__free_unpacked(rsp, NULL);
        if (s->n_listed == 0) {
            snprintf(detail, detail_cap, "the user is in no normal group (run scripts/bench-group's population)");
            return BENCH_REPLY_REFUSED;
        }
        return BENCH_REPLY_OK;
    }
    IM__Group__IMGroupInfoListRsp *rsp = im__group__imgroup_info_list_rsp__unpack(NULL, len, body);
    if (!rsp) {
        snprintf(detail, detail_cap, "IMGroupInfoListRsp does not parse");
        return BENCH_REPLY_UNPARSABLE;
    }
    bench_reply_verdict v = BENCH_REPLY_OK;
    if (rsp->n_group_info_list == 0) {
        v = BENCH_REPLY_REFUSED;
        snprintf(detail, detail_cap, "group info answered no group");
    }
    im__group__imgroup_info_list_rsp__free_unpacked(rsp, NULL);
    return v;
}

const bench_scenario bench_scenario_group_info = {
    .name = "group-info",
    .operation = "group infos",
    .create = group_create,
    .destroy = group_destroy,
    .next_step = group_next_step,
    .judge_reply = group_judge_reply,
};
