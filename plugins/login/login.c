/*
 * login — the TeamTalk login service as an imgate plugin: its declared
 * configuration ([plugin.login], checked by the core before init), init and
 * the handler table. See README.md for the commands and the keys.
 */
#include <stdlib.h>
#include <string.h>

#include "IM.Login.pb-c.h"
#include "login.h"
#include "password.h"

const imgate_core_api *login_api;

static const imgate_config_key login_config_keys[] = {
    {"lockout_failures", IMGATE_CFG_INT, 1, 1000000, "10", NULL},
    {"lockout_window_s", IMGATE_CFG_INT, 1, 30 * 86400, "1800", NULL},
    {"addr_failures", IMGATE_CFG_INT, 1, 1000000000, "50", NULL},
    {"addr_window_s", IMGATE_CFG_INT, 1, 30 * 86400, "600", NULL},
    {"addr_concurrency", IMGATE_CFG_INT, 0, 1000000, "200", NULL},
    {"upgrade_legacy", IMGATE_CFG_BOOL, 0, 0, "no", NULL},
    {"argon2_opslimit", IMGATE_CFG_INT, 1, 100, "2", NULL},
    {"argon2_memlimit_kib", IMGATE_CFG_INT, 8, 4 * 1024 * 1024, "65536", NULL},
    {"redis_down", IMGATE_CFG_ENUM, 0, 0, "allow", "allow|refuse"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const imgate_handler_def login_handlers[] = {
    {SID_LOGIN, CID_LOGIN_REQ_MSGSERVER, IMGATE_HANDLER_PRE_LOGIN, &im__login__immsg_serv_req__descriptor,
     login_on_server_query, NULL},
    /* The core lets the login request through before login without a flag. */
    {SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, 0, &im__login__imlogin_req__descriptor, login_on_request,
     login_on_malformed_request},
    {SID_LOGIN, CID_LOGIN_REQ_LOGINOUT, 0, &im__login__imlogout_req__descriptor, login_on_logout, NULL},
    {SID_LOGIN, CID_LOGIN_REQ_DEVICETOKEN, 0, &im__login__imdevice_token_req__descriptor, login_on_device_token, NULL},
    {SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, 0, &im__login__imkick_pcclient_req__descriptor, login_on_kick_pc, NULL},
    {SID_LOGIN, CID_LOGIN_REQ_PUSH_SHIELD, 0, &im__login__impush_shield_req__descriptor, login_on_push_shield, NULL},
    {SID_LOGIN, CID_LOGIN_REQ_QUERY_PUSH_SHIELD, 0, &im__login__imquery_push_shield_req__descriptor,
     login_on_query_push_shield, NULL},
};

static void read_config(imgate_instance *self, login_config *cfg)
{
    cfg->lockout_failures = login_api->config_int(self, "lockout_failures");
    cfg->lockout_window_ms = login_api->config_int(self, "lockout_window_s") * 1000;
    cfg->addr_failures = login_api->config_int(self, "addr_failures");
    cfg->addr_window_ms = login_api->config_int(self, "addr_window_s") * 1000;
    cfg->addr_concurrency = login_api->config_int(self, "addr_concurrency");
    cfg->upgrade_legacy = login_api->config_bool(self, "upgrade_legacy");
    cfg->argon2_opslimit = (unsigned long long)login_api->config_int(self, "argon2_opslimit");
    cfg->argon2_memlimit = (size_t)login_api->config_int(self, "argon2_memlimit_kib") * 1024;
    cfg->refuse_without_redis = strcmp(login_api->config_str(self, "redis_down"), "refuse") == 0;
}

static int login_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    login_api = api;
    if (password_init() != 0) {
        api->log(self, IMGATE_LOG_ERROR, "event=sodium_init_failed");
        return -1;
    }
    login_plugin *lp = calloc(1, sizeof *lp);
    if (lp == NULL)
        return -1;
    lp->self = self;
    read_config(self, &lp->cfg);
    lp->ok = api->metric_counter(self, "logins_ok");
    lp->refused_password = api->metric_counter(self, "logins_refused_password");
    lp->refused_locked = api->metric_counter(self, "logins_refused_locked");
    lp->refused_address = api->metric_counter(self, "logins_refused_address");
    lp->refused_name = api->metric_counter(self, "logins_refused_name");
    lp->db_unavailable = api->metric_counter(self, "logins_db_unavailable");
    lp->redis_unavailable = api->metric_counter(self, "logins_redis_unavailable");
    lp->overloaded = api->metric_counter(self, "logins_overloaded");
    lp->upgraded = api->metric_counter(self, "passwords_upgraded");
    lp->logouts = api->metric_counter(self, "logouts");
    if (api->register_handlers(self, login_handlers, sizeof login_handlers / sizeof login_handlers[0]) != IMGATE_OK ||
        api->register_close_hook(self, login_on_close) != IMGATE_OK ||
        api->export_service(self, IMGATE_USERS_SERVICE, IMGATE_USERS_VERSION, &login_users_service) != IMGATE_OK) {
        free(lp);
        return -1;
    }
    api->log(self, IMGATE_LOG_INFO,
             "event=init lockout=%lld/%llds addr_throttle=%lld/%llds upgrade_legacy=%d argon2=%llu/%zuKiB",
             lp->cfg.lockout_failures, lp->cfg.lockout_window_ms / 1000, lp->cfg.addr_failures,
             lp->cfg.addr_window_ms / 1000, lp->cfg.upgrade_legacy, lp->cfg.argon2_opslimit,
             lp->cfg.argon2_memlimit / 1024);
    *state = lp;
    return 0;
}

static void login_fini(void *state)
{
    login_plugin *lp = state;
    login_users_free(lp);
    free(lp);
}

IMGATE_PLUGIN(.name = "login", .version = "1.2", .init = login_init, .fini = login_fini, .config = login_config_keys);
