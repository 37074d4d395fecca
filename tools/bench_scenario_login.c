/*
 * bench_scenario_login.c — the `login` scenario: connect, IMLoginReq,
 * IMLoginRes, close, again.
 *
 * The population is PREFIX1..PREFIXM. Virtual client k (0-based) owns users
 * k+1, k+1+C, k+1+2C, ... <= M and cycles through them, so no two clients
 * ever log in as the same user at the same time: two logins of one user from
 * the same client class would kick each other (protocol H.3) and measure the
 * kick path instead of the login path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.BaseDefine.pb-c.h"
#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "bench_scenario.h"

typedef struct {
    uint32_t concurrency;
    uint32_t users;
    const char *prefix;
    uint32_t client_type;
    char password_md5[BENCH_MD5HEX_LEN];
    /* next_user[k]: the 1-based user number client k logs in as next. */
    uint32_t *next_user;
    /* The request being packed: the runner packs it before the next call reuses it. */
    IM__Login__IMLoginReq req;
    char user_name[256];
} login_state;

static void *login_create(const bench_options *opt)
{
    login_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->concurrency = opt->concurrency;
    s->users = opt->users;
    s->prefix = opt->prefix;
    s->client_type = opt->client_type;
    s->next_user = malloc(sizeof *s->next_user * opt->concurrency);
    if (!s->next_user || bench_md5hex(opt->password, s->password_md5) < 0) {
        fprintf(stderr, "imgate-bench: login: out of memory or no MD5 in libcrypto\n");
        free(s->next_user);
        free(s);
        return NULL;
    }
    if (strlen(opt->prefix) + 10 >= sizeof s->user_name) {
        fprintf(stderr, "imgate-bench: login: --prefix is too long\n");
        free(s->next_user);
        free(s);
        return NULL;
    }
    for (uint32_t k = 0; k < opt->concurrency; k++)
        s->next_user[k] = k + 1;
    return s;
}

static void login_destroy(void *state)
{
    login_state *s = state;
    if (s)
        free(s->next_user);
    free(s);
}

static bench_step_result login_next_step(void *state, uint32_t client, unsigned step, bench_step *out)
{
    login_state *s = state;
    if (step > 0)
        return BENCH_STEP_DONE;
    uint32_t user = s->next_user[client];
    /* 64-bit sum: users near UINT32_MAX must wrap back, not overflow. */
    uint64_t following = (uint64_t)user + s->concurrency;
    s->next_user[client] = following <= s->users ? (uint32_t)following : client + 1;
    snprintf(s->user_name, sizeof s->user_name, "%s%u", s->prefix, (unsigned)user);
    bench_login_request_init(&s->req, s->user_name, s->password_md5, s->client_type, "imgate-bench");
    *out = (bench_step){
        .service_id = IM__BASE_DEFINE__SERVICE_ID__SID_LOGIN,
        .command_id = IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_REQ_USERLOGIN,
        .reply_command_id = IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_RES_USERLOGIN,
        .msg = &s->req.base,
        .measured = 1,
    };
    return BENCH_STEP_SEND;
}

static bench_reply_verdict login_judge_reply(void *state, unsigned step, const uint8_t *body, size_t len,
                                             uint32_t *code, char *detail, size_t detail_cap)
{
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
    } else if (res->user_info == NULL) {
        /* A success must say who logged in (protocol H.1 step 6); a reply without it is broken. */
        v = BENCH_REPLY_UNPARSABLE;
        snprintf(detail, detail_cap, "IMLoginRes result 0 without user_info");
    }
    im__login__imlogin_res__free_unpacked(res, NULL);
    return v;
}

const bench_scenario bench_scenario_login = {
    .name = "login",
    .operation = "logins",
    .create = login_create,
    .destroy = login_destroy,
    .next_step = login_next_step,
    .judge_reply = login_judge_reply,
};
