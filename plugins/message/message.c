/*
 * message — TeamTalk messages as an imgate plugin: its declared configuration
 * ([plugin.message], checked by the core before init), init and the handler
 * table. See README.md for the commands, the storage and the keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Message.pb-c.h"
#include "IM.SwitchService.pb-c.h"
#include "message.h"

const imgate_core_api *msg_api;

/* The key every stock client has compiled in (protocol A.3). */
#define DEFAULT_AES_KEY "12345678901234567890123456789012"

static const imgate_config_key msg_config_keys[] = {
    {"audio_max_bytes", IMGATE_CFG_SIZE, 5, 16 * 1024 * 1024, "512k", NULL},
    {"history_max", IMGATE_CFG_INT, 1, 10000, "100", NULL},
    {"by_id_max", IMGATE_CFG_INT, 1, 10000, "100", NULL},
    {"unread_max_sessions", IMGATE_CFG_INT, 1, 100000, "500", NULL},
    {"reply_max_bytes", IMGATE_CFG_SIZE, 64 * 1024, 64 * 1024 * 1024, "2m", NULL},
    {"user_check_s", IMGATE_CFG_INT, 0, 86400, "60", NULL},
    {"cache_max_conversations", IMGATE_CFG_INT, 16, 100000000, "200000", NULL},
    {"group_session_interval_s", IMGATE_CFG_INT, 1, 3600, "1", NULL},
    {"ids_per_round", IMGATE_CFG_INT, 1, 100000, "256", NULL},
    {"p2p_max_bytes", IMGATE_CFG_SIZE, 16, 1024 * 1024, "4k", NULL},
    {"read_jobs_max", IMGATE_CFG_INT, 1, 10000, "8", NULL},
    {"aes_key", IMGATE_CFG_STRING, 0, 32, DEFAULT_AES_KEY, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const imgate_handler_def msg_handlers[] = {
    /* Counted against the per-second budget, as the reference counts it; in flight until stored. */
    {SID_MSG, CID_MSG_DATA, IMGATE_HANDLER_RATE_LIMITED | IMGATE_HANDLER_TRACKED, &im__message__immsg_data__descriptor,
     msg_on_data, NULL},
    {SID_MSG, CID_MSG_DATA_ACK, 0, &im__message__immsg_data_ack__descriptor, msg_on_receiver_ack, NULL},
    /* Tracked: each waits for Redis, so one connection cannot pile them up. */
    {SID_MSG, CID_MSG_READ_ACK, IMGATE_HANDLER_TRACKED, &im__message__immsg_data_read_ack__descriptor, msg_on_read_ack,
     NULL},
    {SID_MSG, CID_MSG_TIME_REQUEST, 0, &im__message__imclient_time_req__descriptor, msg_on_time, NULL},
    /* Reads hold a worker: tracked, so one connection cannot queue them without bound. */
    {SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, IMGATE_HANDLER_TRACKED, &im__message__imunread_msg_cnt_req__descriptor,
     msg_on_unread, NULL},
    {SID_MSG, CID_MSG_LIST_REQUEST, IMGATE_HANDLER_TRACKED, &im__message__imget_msg_list_req__descriptor,
     msg_on_history, NULL},
    {SID_MSG, CID_MSG_GET_LATEST_MSG_ID_REQ, IMGATE_HANDLER_TRACKED, &im__message__imget_latest_msg_id_req__descriptor,
     msg_on_latest, NULL},
    {SID_MSG, CID_MSG_GET_BY_MSG_ID_REQ, IMGATE_HANDLER_TRACKED, &im__message__imget_msg_by_id_req__descriptor,
     msg_on_by_id, NULL},
    /* A relay to another user: it shares the message budget so it cannot be used to flood. */
    {SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD, IMGATE_HANDLER_RATE_LIMITED,
     &im__switch_service__imp2_pcmd_msg__descriptor, msg_on_p2p, NULL},
};

static void read_config(imgate_instance *self, msg_config *cfg)
{
    cfg->audio_max = (size_t)msg_api->config_int(self, "audio_max_bytes");
    cfg->history_max = (uint32_t)msg_api->config_int(self, "history_max");
    cfg->by_id_max = (uint32_t)msg_api->config_int(self, "by_id_max");
    cfg->unread_max = (uint32_t)msg_api->config_int(self, "unread_max_sessions");
    cfg->reply_max = (size_t)msg_api->config_int(self, "reply_max_bytes");
    cfg->user_check_s = (uint32_t)msg_api->config_int(self, "user_check_s");
    cfg->cache_max = (size_t)msg_api->config_int(self, "cache_max_conversations");
    cfg->group_session_s = (uint32_t)msg_api->config_int(self, "group_session_interval_s");
    cfg->round_max = (uint32_t)msg_api->config_int(self, "ids_per_round");
    cfg->p2p_max = (size_t)msg_api->config_int(self, "p2p_max_bytes");
    cfg->read_jobs_max = (uint32_t)msg_api->config_int(self, "read_jobs_max");
    snprintf(cfg->aes_key, sizeof cfg->aes_key, "%s", msg_api->config_str(self, "aes_key"));
}

static int msg_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    msg_api = api;
    msg_plugin *mp = calloc(1, sizeof *mp);
    if (mp == NULL)
        return -1;
    mp->self = self;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    mp->token = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) | 1;
    read_config(self, &mp->cfg);
    if (strlen(mp->cfg.aes_key) != 32) {
        api->log(self, IMGATE_LOG_ERROR, "event=bad_config key=aes_key reason=\"must be exactly 32 bytes\"");
        free(mp);
        return -1;
    }
    /* What unread lists show for an audio message: the reference's encrypted placeholder. */
    if (msg_client_encrypt(mp->cfg.aes_key, "[语音]", mp->audio_placeholder, sizeof mp->audio_placeholder) != 0) {
        api->log(self, IMGATE_LOG_ERROR, "event=init_failed reason=\"cannot encrypt the audio placeholder\"");
        free(mp);
        return -1;
    }
    mp->stored = api->metric_counter(self, "messages_stored");
    mp->stored_group = api->metric_counter(self, "group_messages_stored");
    mp->group_deliveries = api->metric_counter(self, "group_deliveries");
    mp->refused_invalid = api->metric_counter(self, "messages_refused_invalid");
    mp->refused_receiver = api->metric_counter(self, "messages_refused_receiver");
    mp->refused_member = api->metric_counter(self, "messages_refused_not_member");
    mp->refused_store = api->metric_counter(self, "messages_refused_store");
    mp->refused_ids = api->metric_counter(self, "messages_refused_ids");
    mp->id_reseeds = api->metric_counter(self, "id_counters_reseeded");
    mp->id_conflicts = api->metric_counter(self, "id_conflicts");
    mp->relations_created = api->metric_counter(self, "relations_created");
    mp->p2p_relayed = api->metric_counter(self, "p2p_relayed");
    mp->read_acks = api->metric_counter(self, "read_acks");
    mp->held_for_order = api->metric_counter(self, "messages_held_across_reload");
    mp->reads_waited = api->metric_counter(self, "reads_waited");
    if (api->register_handlers(self, msg_handlers, sizeof msg_handlers / sizeof msg_handlers[0]) != IMGATE_OK ||
        api->import_service(self, IMGATE_GROUPS_SERVICE, IMGATE_GROUPS_VERSION, IMGATE_IMPORT_OPTIONAL,
                            &mp->groups) != IMGATE_OK) {
        free(mp);
        return -1;
    }
    api->log(self, IMGATE_LOG_INFO,
             "event=init audio_max=%zu history_max=%u user_check_s=%u cache_max=%zu group_session_s=%u "
             "ids_per_round=%u",
             mp->cfg.audio_max, mp->cfg.history_max, mp->cfg.user_check_s, mp->cfg.cache_max,
             mp->cfg.group_session_s, mp->cfg.round_max);
    *state = mp;
    return 0;
}

static void msg_fini(void *state)
{
    msg_plugin *mp = state;
    conv_free_all(mp);
    u64map_free(&mp->held); /* empty: a generation holding messages keeps a PING in flight */
    free(mp);
}

IMGATE_PLUGIN(.name = "message", .version = "1.0", .init = msg_init, .fini = msg_fini, .config = msg_config_keys);
