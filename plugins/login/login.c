/*
 * login — the TeamTalk login service as an imgate plugin: init, its
 * configuration ([plugin.login]) and the handler table.
 *
 * [plugin.login] keys (all optional):
 *   lockout_failures = 10        failures of one user name that lock it ...
 *   lockout_window_s = 1800      ... within this sliding window (spec H.2)
 *   addr_failures = 50           failures from one source address that throttle it ...
 *   addr_window_s = 600          ... within this window (any user name)
 *   upgrade_legacy = no          yes: a successful MD5-form login stores an Argon2id hash
 *   argon2_opslimit = 2          Argon2id passes (libsodium's "interactive" level)
 *   argon2_memlimit_kib = 65536  Argon2id memory per hash
 *   redis_down = allow           allow | refuse logins while Redis (the lockout store) is unreachable
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "login.h"
#include "password.h"

static int read_bool(const imgate_core_api *api, imgate_instance *self, const char *key, int fallback, int *out)
{
    const char *v = api->config_get(self, key);
    if (v == NULL || *v == '\0') {
        *out = fallback;
        return 0;
    }
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = 0;
    else {
        api->log(self, IMGATE_LOG_ERROR, "event=bad_config key=%s value=\"%s\" expected=yes|no", key, v);
        return -1;
    }
    return 0;
}

static int read_config(const imgate_core_api *api, imgate_instance *self, login_config *cfg)
{
    cfg->lockout_failures = api->config_get_int(self, "lockout_failures", 10);
    cfg->lockout_window_ms = api->config_get_int(self, "lockout_window_s", 1800) * 1000;
    cfg->addr_failures = api->config_get_int(self, "addr_failures", 50);
    cfg->addr_window_ms = api->config_get_int(self, "addr_window_s", 600) * 1000;
    long long ops = api->config_get_int(self, "argon2_opslimit", 2);
    long long mem_kib = api->config_get_int(self, "argon2_memlimit_kib", 65536);
    const char *redis_down = api->config_get(self, "redis_down");
    if (read_bool(api, self, "upgrade_legacy", 0, &cfg->upgrade_legacy) != 0)
        return -1;
    if (redis_down && strcmp(redis_down, "allow") != 0 && strcmp(redis_down, "refuse") != 0) {
        api->log(self, IMGATE_LOG_ERROR, "event=bad_config key=redis_down value=\"%s\" expected=allow|refuse",
                 redis_down);
        return -1;
    }
    cfg->refuse_without_redis = redis_down && strcmp(redis_down, "refuse") == 0;
    if (cfg->lockout_failures < 1 || cfg->lockout_window_ms < 1000 || cfg->addr_failures < 1 ||
        cfg->addr_window_ms < 1000 || ops < 1 || mem_kib < 8) {
        api->log(self, IMGATE_LOG_ERROR, "event=bad_config reason=\"counts and limits must be >= 1, windows >= 1 s, "
                                         "argon2_memlimit_kib >= 8\"");
        return -1;
    }
    cfg->argon2_opslimit = (unsigned long long)ops;
    cfg->argon2_memlimit = (size_t)mem_kib * 1024;
    return 0;
}

static int login_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    if (api->size < offsetof(imgate_core_api, node_info) + sizeof api->node_info) {
        api->log(self, IMGATE_LOG_ERROR, "event=core_too_old need_abi=1.1");
        return -1;
    }
    if (password_init() != 0) {
        api->log(self, IMGATE_LOG_ERROR, "event=sodium_init_failed");
        return -1;
    }
    login_plugin *lp = calloc(1, sizeof *lp);
    if (lp == NULL)
        return -1;
    lp->self = self;
    lp->api = api;
    if (read_config(api, self, &lp->cfg) != 0) {
        free(lp);
        return -1;
    }
    static const struct {
        uint16_t cid;
        uint32_t flags;
        imgate_handler_fn fn;
    } handlers[] = {
        {0x0101, IMGATE_HANDLER_PRE_LOGIN, login_on_server_query},
        {0x0103, 0, login_on_request}, /* the core lets the login request through before login */
        {0x0105, 0, login_on_logout},
        {0x0108, 0, login_on_device_token},
        {0x010a, 0, login_on_kick_pc},
        {0x010c, 0, login_on_push_shield},
        {0x010e, 0, login_on_query_push_shield},
    };
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (api->register_handler(self, SID_LOGIN, handlers[i].cid, handlers[i].flags, handlers[i].fn) != IMGATE_OK) {
            free(lp);
            return -1;
        }
    if (api->register_close_hook(self, login_on_close) != IMGATE_OK) {
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
    conn_set_free(&lp->pending);
    free(lp);
}

IMGATE_PLUGIN_DEFINE("login", "1.0", login_init, login_fini);
