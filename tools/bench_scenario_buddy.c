/*
 * bench_scenario_buddy.c — load for the buddy plugin's presence cost.
 *
 * `presence-hold`: every virtual client logs in once (measured, so the table
 * counts the logins) and then holds its connection open without asking for
 * anything the server answers: step 1 sends an IMPCLoginStatusNotify, a
 * server-to-client message no handler serves, and waits for another one,
 * which a PC connection is never sent. The client stays online, reading and
 * discarding the IMUserStatNotify pushes every other PC login and logout
 * causes, until --timeout-ms. scripts/bench-buddy runs it with 10,000
 * clients, then churns logins next to them with the `login` scenario and
 * reads the plugin's /metrics (time on the loop and bytes per notify).
 *
 * Virtual client k is user PREFIX<k+1> (modulo --users), so no two clients
 * share a user: a second PC login of one user would kick the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.BaseDefine.pb-c.h"
#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "bench_scenario.h"

typedef struct {
    uint32_t users;
    const char *prefix;
    uint32_t client_type;
    char password_md5[BENCH_MD5HEX_LEN];
    /* The messages being packed: the runner packs each before the next call reuses it. */
    IM__Login__IMLoginReq login;
    IM__Buddy__IMPCLoginStatusNotify hold;
    char user_name[256];
} hold_state;

static void *hold_create(const bench_options *opt)
{
    hold_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->users = opt->users;
    s->prefix = opt->prefix;
    s->client_type = opt->client_type;
    if (bench_md5hex(opt->password, s->password_md5) < 0 || strlen(opt->prefix) + 10 >= sizeof s->user_name) {
        fprintf(stderr, "imgate-bench: presence-hold: no MD5 in libcrypto, or --prefix is too long\n");
        free(s);
        return NULL;
    }
    im__buddy__impclogin_status_notify__init(&s->hold);
    s->hold.login_stat = IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_ONLINE;
    return s;
}

static void hold_destroy(void *state) { free(state); }

static bench_step_result hold_next_step(void *state, uint32_t client, unsigned step, bench_step *out)
{
    hold_state *s = state;
    if (step == 0) {
        snprintf(s->user_name, sizeof s->user_name, "%s%u", s->prefix, (unsigned)(client % s->users) + 1);
        bench_login_request_init(&s->login, s->user_name, s->password_md5, s->client_type, "imgate-bench");
        *out = (bench_step){
            .service_id = IM__BASE_DEFINE__SERVICE_ID__SID_LOGIN,
            .command_id = IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_REQ_USERLOGIN,
            .reply_command_id = IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_RES_USERLOGIN,
            .msg = &s->login.base,
            .measured = 1,
        };
        return BENCH_STEP_SEND;
    }
    if (step == 1) {
        *out = (bench_step){
            .service_id = IM__BASE_DEFINE__SERVICE_ID__SID_BUDDY_LIST,
            .command_id = IM__BASE_DEFINE__BUDDY_LIST_CMD_ID__CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY,
            .reply_command_id = IM__BASE_DEFINE__BUDDY_LIST_CMD_ID__CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY,
            .msg = &s->hold.base,
            .measured = 0,
        };
        return BENCH_STEP_SEND;
    }
    return BENCH_STEP_DONE;
}

static bench_reply_verdict hold_judge_reply(void *state, unsigned step, const uint8_t *body, size_t len,
                                            uint32_t *code, char *detail, size_t detail_cap)
{
    if (step != 0) {
        snprintf(detail, detail_cap, "the hold request was answered");
        return BENCH_REPLY_UNPARSABLE;
    }
    IM__Login__IMLoginRes *res = im__login__imlogin_res__unpack(NULL, len, body);
    if (!res) {
        snprintf(detail, detail_cap, "IMLoginRes does not parse");
        return BENCH_REPLY_UNPARSABLE;
    }
    bench_reply_verdict v = BENCH_REPLY_OK;
    if (res->result_code != IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NONE) {
        v = BENCH_REPLY_REFUSED;
        *code = (uint32_t)res->result_code;
        snprintf(detail, detail_cap, "%s", res->result_string ? res->result_string : "");
    }
    im__login__imlogin_res__free_unpacked(res, NULL);
    return v;
}

const bench_scenario bench_scenario_presence_hold = {
    .name = "presence-hold",
    .operation = "logins",
    .create = hold_create,
    .destroy = hold_destroy,
    .next_step = hold_next_step,
    .judge_reply = hold_judge_reply,
};
