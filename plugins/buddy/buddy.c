/*
 * buddy — the TeamTalk buddy-list service as an imgate plugin: its declared
 * configuration ([plugin.buddy], checked by the core before init), init, the
 * handler table and the presence hooks. See README.md.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Buddy.pb-c.h"
#include "audio_text.h"
#include "buddy.h"
#include "paged_sync.h"

const imgate_core_api *buddy_api;

/* Clients hard-code this key (protocol A.3); a deployment with its own sets aes_key. */
#define DEFAULT_AES_KEY "12345678901234567890123456789012"

static const imgate_config_key buddy_config_keys[] = {
    {"status_scope", IMGATE_CFG_ENUM, 0, 0, "everyone", "everyone|department|none"},
    {"sync_page_users", IMGATE_CFG_INT, 1, 100000, "5000", NULL},
    /* A page must hold the largest row (~2.3 KB): 4k at least. Keep it under [gateway] max_frame - 16. */
    {"sync_page_bytes", IMGATE_CFG_SIZE, 4096, 64 * 1024 * 1024, "1000000", NULL},
    {"sync_commit_lag_s", IMGATE_CFG_INT, 0, 86400, "1", NULL},
    {"sync_concurrency", IMGATE_CFG_INT, 1, 100000, "32", NULL},
    {"user_info_max", IMGATE_CFG_INT, 1, 400, "400", NULL},
    {"status_max", IMGATE_CFG_INT, 1, 50000, "2000", NULL},
    {"profile_min_interval_ms", IMGATE_CFG_INT, 0, 3600000, "1000", NULL},
    {"aes_key", IMGATE_CFG_STRING, 0, 32, DEFAULT_AES_KEY, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

/* Every request except the status query reads MySQL on a worker: TRACKED applies the in-flight
 * caps (TCP backpressure) to them; the status query waits for presence(), so it is tracked too. */
#define T IMGATE_HANDLER_TRACKED
static const imgate_handler_def buddy_handlers[] = {
    {SID_BUDDY_LIST, CID_BUDDY_LIST_DEPARTMENT_REQUEST, T, &im__buddy__imdepartment_req__descriptor,
     buddy_on_departments, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, T, &im__buddy__imall_user_req__descriptor, buddy_on_all_users,
     NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_USER_INFO_REQUEST, T, &im__buddy__imusers_info_req__descriptor,
     buddy_on_users_info, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_USERS_STATUS_REQUEST, T, &im__buddy__imusers_stat_req__descriptor,
     buddy_on_users_stat, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, T, &im__buddy__imchange_sign_info_req__descriptor,
     buddy_on_change_sign_info, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST, T, &im__buddy__imchange_avatar_req__descriptor,
     buddy_on_change_avatar, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, T,
     &im__buddy__imrecent_contact_session_req__descriptor, buddy_on_recent_sessions, NULL},
    {SID_BUDDY_LIST, CID_BUDDY_LIST_REMOVE_SESSION_REQ, T, &im__buddy__imremove_session_req__descriptor,
     buddy_on_remove_session, NULL},
};
#undef T

long long buddy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

buddy_conn *buddy_conn_slot(buddy_plugin *bp, uint64_t conn_id)
{
    return buddy_api->conn_data(bp->self, conn_id, sizeof(buddy_conn));
}

size_t buddy_bound_ids(buddy_plugin *bp, const imgate_request *req, size_t n, uint32_t max, const char *what)
{
    if (n <= max)
        return n;
    buddy_api->metric_inc(bp->ids_truncated, 1);
    buddy_api->log_limited(bp->self, IMGATE_LOG_INFO, "ids_truncated", 5,
                           "event=ids_truncated request=%s conn=%llu user_id=%u asked=%zu answered=%u", what,
                           (unsigned long long)req->conn_id, req->user_id, n, max);
    return max;
}

static void read_config(buddy_plugin *bp)
{
    imgate_instance *self = bp->self;
    const char *scope = buddy_api->config_str(self, "status_scope");
    bp->cfg.scope = strcmp(scope, "department") == 0 ? SCOPE_DEPARTMENT
                    : strcmp(scope, "none") == 0     ? SCOPE_NONE
                                                     : SCOPE_EVERYONE;
    bp->cfg.page_users = (uint32_t)buddy_api->config_int(self, "sync_page_users");
    bp->cfg.page_bytes = (uint32_t)buddy_api->config_int(self, "sync_page_bytes");
    bp->cfg.commit_lag_s = (uint32_t)buddy_api->config_int(self, "sync_commit_lag_s");
    bp->cfg.sync_concurrency = (uint32_t)buddy_api->config_int(self, "sync_concurrency");
    bp->cfg.user_info_max = (uint32_t)buddy_api->config_int(self, "user_info_max");
    bp->cfg.status_max = (uint32_t)buddy_api->config_int(self, "status_max");
    bp->cfg.profile_interval_ms = buddy_api->config_int(self, "profile_min_interval_ms");
}

static void make_metrics(buddy_plugin *bp)
{
    imgate_instance *self = bp->self;
    bp->user_syncs = buddy_api->metric_counter(self, "user_syncs");
    bp->dept_syncs = buddy_api->metric_counter(self, "department_syncs");
    bp->sync_pages = buddy_api->metric_counter(self, "sync_pages");
    bp->sync_rows = buddy_api->metric_counter(self, "sync_rows");
    bp->sync_bytes = buddy_api->metric_counter(self, "sync_bytes");
    bp->sync_refused = buddy_api->metric_counter(self, "syncs_refused_busy");
    bp->sync_abandoned = buddy_api->metric_counter(self, "syncs_abandoned");
    bp->syncs_queued = buddy_api->metric_counter(self, "syncs_queued");
    bp->user_info_requests = buddy_api->metric_counter(self, "user_info_requests");
    bp->status_requests = buddy_api->metric_counter(self, "status_requests");
    bp->ids_truncated = buddy_api->metric_counter(self, "id_lists_truncated");
    bp->status_notifies = buddy_api->metric_counter(self, "status_notifies");
    bp->status_notify_deliveries = buddy_api->metric_counter(self, "status_notify_deliveries");
    bp->status_notify_bytes = buddy_api->metric_counter(self, "status_notify_bytes");
    bp->status_notify_ns = buddy_api->metric_counter(self, "status_notify_ns");
    bp->sign_changes = buddy_api->metric_counter(self, "sign_info_changes");
    bp->avatar_changes = buddy_api->metric_counter(self, "avatar_changes");
    bp->profile_refused = buddy_api->metric_counter(self, "profile_changes_refused");
    bp->session_requests = buddy_api->metric_counter(self, "recent_session_requests");
    bp->sessions_removed = buddy_api->metric_counter(self, "sessions_removed");
    bp->db_failures = buddy_api->metric_counter(self, "db_failures");
}

static int buddy_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    buddy_api = api;
    buddy_plugin *bp = calloc(1, sizeof *bp);
    if (bp == NULL)
        return -1;
    bp->self = self;
    read_config(bp);
    if (audio_text_build(api->config_str(self, "aes_key"), bp->audio_text, sizeof bp->audio_text) != 0) {
        api->log(self, IMGATE_LOG_ERROR, "event=init_failed reason=\"aes_key must be 32 bytes\"");
        free(bp);
        return -1;
    }
    make_metrics(bp);
    /* Optional: without the login plugin the department comes from MySQL. */
    if (api->register_handlers(self, buddy_handlers, sizeof buddy_handlers / sizeof buddy_handlers[0]) != IMGATE_OK ||
        api->register_login_hook(self, buddy_on_login) != IMGATE_OK ||
        api->register_close_hook(self, buddy_on_close) != IMGATE_OK ||
        api->register_kick_hook(self, buddy_on_kick) != IMGATE_OK ||
        api->import_service(self, IMGATE_USERS_SERVICE, IMGATE_USERS_VERSION, IMGATE_IMPORT_OPTIONAL, &bp->users) !=
            IMGATE_OK) {
        free(bp);
        return -1;
    }
    static const char *const scope_names[] = {"everyone", "department", "none"};
    api->log(self, IMGATE_LOG_INFO,
             "event=init status_scope=%s sync_page_users=%u sync_page_bytes=%u sync_commit_lag_s=%u sync_concurrency=%u "
             "user_info_max=%u status_max=%u profile_min_interval_ms=%lld",
             scope_names[bp->cfg.scope], bp->cfg.page_users, bp->cfg.page_bytes, bp->cfg.commit_lag_s,
             bp->cfg.sync_concurrency,
             bp->cfg.user_info_max,
             bp->cfg.status_max, bp->cfg.profile_interval_ms);
    *state = bp;
    return 0;
}

static void buddy_fini(void *state)
{
    paged_sync_drop_waiting(state);
    free(state);
}

IMGATE_PLUGIN(.name = "buddy", .version = "1.2", .init = buddy_init, .fini = buddy_fini, .config = buddy_config_keys);
