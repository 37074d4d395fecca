/*
 * file — TeamTalk file transfer as an imgate plugin (protocol H.9): its
 * declared configuration ([plugin.file]), init, the handler table, and what
 * the other files share (connection slots, states, flow control). See
 * README.md for the behaviour and the keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

const imgate_core_api *file_api;

static const imgate_config_key file_config_keys[] = {
    {"addresses", IMGATE_CFG_STRING, 0, 255, "", NULL},
    {"max_file_size", IMGATE_CFG_SIZE, 1, 4294967295LL, "2048m", NULL},
    {"max_block", IMGATE_CFG_SIZE, 32768, 1048576, "32k", NULL},
    {"window", IMGATE_CFG_INT, 1, FILE_MAX_WINDOW, "4", NULL},
    {"idle_timeout_s", IMGATE_CFG_INT, 2, 3600, "120", NULL},
    {"task_ttl_s", IMGATE_CFG_INT, 10, 30 * 86400, "3600", NULL},
    {"storage_dir", IMGATE_CFG_STRING, 1, 1024, "offline_file", NULL},
    {"offline_ttl_s", IMGATE_CFG_INT, 0, 3650LL * 86400, "604800", NULL},
    {"upload_stale_s", IMGATE_CFG_INT, 1, 3650LL * 86400, "86400", NULL},
    {"sweep_interval_s", IMGATE_CFG_INT, 1, 86400, "600", NULL},
    {"quota_bytes", IMGATE_CFG_SIZE, 0, 1LL << 50, "4096m", NULL},
    {"min_free", IMGATE_CFG_SIZE, 0, 1LL << 50, "64m", NULL},
    {"max_list", IMGATE_CFG_INT, 1, 1000, "100", NULL},
    {"max_tasks", IMGATE_CFG_INT, 1, 100000, "50", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const imgate_handler_def file_handlers[] = {
    /* On a user's message connection. */
    {SID_FILE, CID_FILE_REQUEST, IMGATE_HANDLER_TRACKED, &im__file__imfile_req__descriptor, file_on_request, NULL},
    {SID_FILE, CID_FILE_HAS_OFFLINE_REQ, IMGATE_HANDLER_TRACKED, &im__file__imfile_has_offline_req__descriptor,
     file_on_has_offline, NULL},
    {SID_FILE, CID_FILE_ADD_OFFLINE_REQ, IMGATE_HANDLER_TRACKED, &im__file__imfile_add_offline_req__descriptor,
     file_on_add_offline, NULL},
    {SID_FILE, CID_FILE_DEL_OFFLINE_REQ, IMGATE_HANDLER_TRACKED, &im__file__imfile_del_offline_req__descriptor,
     file_on_del_offline, NULL},
    /* A file connection's login: it never logs in as a user. */
    {SID_FILE, CID_FILE_LOGIN_REQ, IMGATE_HANDLER_PRE_LOGIN | IMGATE_HANDLER_TRACKED,
     &im__file__imfile_login_req__descriptor, file_on_login, NULL},
    /* Only on connections this plugin gave a file role. */
    {SID_FILE, CID_FILE_STATE, IMGATE_HANDLER_ROLE_ONLY, &im__file__imfile_state__descriptor, file_on_state, NULL},
    {SID_FILE, CID_FILE_PULL_DATA_REQ, IMGATE_HANDLER_ROLE_ONLY, &im__file__imfile_pull_data_req__descriptor,
     file_on_pull_req, NULL},
    {SID_FILE, CID_FILE_PULL_DATA_RSP, IMGATE_HANDLER_ROLE_ONLY, &im__file__imfile_pull_data_rsp__descriptor,
     file_on_pull_rsp, NULL},
};

/* --- shared by the plugin's files --------------------------------------------------------------- */

file_slot *file_slot_get(file_plugin *fp, uint64_t conn_id)
{
    file_slot *s = file_api->conn_data(fp->self, conn_id, sizeof *s);
    if (s == NULL)
        return NULL;
    if (s->layout == 0) {
        s->layout = FILE_SLOT_LAYOUT;
    } else if (s->layout != FILE_SLOT_LAYOUT) {
        /* Written by a plugin version with another slot layout: nothing safe to do but stop. */
        file_api->log_limited(fp->self, IMGATE_LOG_ERROR, "slot_layout", 5,
                              "event=slot_layout_unknown conn=%llu layout=%u", (unsigned long long)conn_id, s->layout);
        file_api->close(fp->self, conn_id, "file_slot_layout");
        return NULL;
    }
    return s;
}

file_slot *file_slot_existing(file_plugin *fp, uint64_t conn_id)
{
    imgate_conn_info info;
    if (conn_id == 0 || file_api->conn_info(fp->self, conn_id, &info) != IMGATE_OK ||
        (info.role & 0xffff0000u) != FILE_ROLE_BASE)
        return NULL;
    file_slot *s = file_slot_get(fp, conn_id);
    return s && s->phase != FILE_PHASE_NONE ? s : NULL;
}

void file_send_state(file_plugin *fp, uint64_t conn_id, uint32_t state, const char *task_id, uint32_t user_id)
{
    IM__File__IMFileState m = IM__FILE__IMFILE_STATE__INIT;
    m.state = (IM__BaseDefine__ClientFileState)state;
    m.task_id = (char *)task_id;
    m.user_id = user_id;
    file_api->send_message(fp->self, conn_id, SID_FILE, CID_FILE_STATE, 0, &m.base);
}

void file_flow_update(file_plugin *fp, uint64_t conn_id, file_slot *s, uint32_t in_flight)
{
    imgate_conn_info info;
    if (file_api->conn_info(fp->self, conn_id, &info) != IMGATE_OK)
        return;
    int behind = info.output_queued > fp->high_water;
    int stop = in_flight >= fp->cfg.window || behind;
    if (stop && !s->paused) {
        if (file_api->conn_pause(fp->self, conn_id) == IMGATE_OK)
            s->paused = 1;
    } else if (!stop && s->paused) {
        if (file_api->conn_resume(fp->self, conn_id) == IMGATE_OK)
            s->paused = 0;
    }
    if (behind)
        file_api->conn_watch_drain(fp->self, conn_id, fp->low_water);
}

int file_authorize(file_plugin *fp, uint64_t conn_id, uint32_t file_role)
{
    imgate_role role = fp->role_template;
    role.role = FILE_ROLE(file_role);
    return file_api->conn_authorize(fp->self, conn_id, &role);
}

void file_login_answer(file_plugin *fp, imgate_reply_to *to, int ok, const char *task_id)
{
    IM__File__IMFileLoginRsp rsp = IM__FILE__IMFILE_LOGIN_RSP__INIT;
    rsp.result_code = ok ? 0 : 1;
    rsp.task_id = (char *)task_id;
    file_api->reply(to, CID_FILE_LOGIN_RES, &rsp.base);
    file_api->request_done(to);
    if (ok) {
        file_api->metric_inc(fp->m_logins, 1);
    } else {
        file_api->metric_inc(fp->m_logins_refused, 1);
        /* protocol H.9: a refused file login closes the connection (never a user's own) */
        if (to->user_id == 0)
            file_api->close(fp->self, to->conn_id, "file_login_refused");
    }
}

/* --- file connection commands: online roles relay, offline roles go to disk ----------------------- */

static int is_online(const file_slot *s)
{
    return s->file_role == CLIENT_REALTIME_SENDER || s->file_role == CLIENT_REALTIME_RECVER;
}

void file_on_state(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    const IM__File__IMFileState *m = (const IM__File__IMFileState *)body;
    file_slot *s = file_slot_existing(fp, req->conn_id);
    if (s == NULL)
        return;
    if (m->user_id != s->user_id || strcmp(m->task_id, s->task_id) != 0) {
        file_api->metric_inc(fp->m_dropped, 1);
        return;
    }
    if (is_online(s))
        file_relay_state(fp, req, s, m);
    else
        file_offline_state(fp, req, s, m);
}

void file_on_pull_req(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    file_slot *s = file_slot_existing(fp, req->conn_id);
    if (s == NULL)
        return;
    if (is_online(s))
        file_relay_pull(fp, req, s, (const IM__File__IMFilePullDataReq *)body);
    else
        file_offline_pull(fp, req, s, (const IM__File__IMFilePullDataReq *)body);
}

void file_on_pull_rsp(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    file_slot *s = file_slot_existing(fp, req->conn_id);
    if (s == NULL)
        return;
    if (is_online(s))
        file_relay_data(fp, req, s, (const IM__File__IMFilePullDataRsp *)body);
    else
        file_offline_data(fp, req, s, (const IM__File__IMFilePullDataRsp *)body);
}

/* --- hooks: every file connection goes through these, whatever generation it began in ------------- */

void file_on_close(void *state, const imgate_conn_info *conn)
{
    file_plugin *fp = state;
    file_slot *s = file_api->conn_data(fp->self, conn->conn_id, sizeof *s);
    if (s == NULL || s->layout != FILE_SLOT_LAYOUT || s->phase == FILE_PHASE_NONE)
        return;
    if (is_online(s))
        file_relay_closed(fp, conn->conn_id, s);
    else
        file_offline_closed(fp, conn->conn_id, s);
    s->phase = FILE_PHASE_FINISHED;
}

void file_on_drain(void *state, const imgate_conn_info *conn)
{
    file_plugin *fp = state;
    file_slot *s = file_slot_existing(fp, conn->conn_id);
    if (s == NULL || s->phase != FILE_PHASE_ACTIVE)
        return;
    file_flow_update(fp, conn->conn_id, s, s->file_role == CLIENT_REALTIME_RECVER ? s->n_pulls : s->in_flight);
}

/* --- configuration ------------------------------------------------------------------------------ */

static int add_address(file_plugin *fp, const char *ip, long port)
{
    if (fp->n_addrs == FILE_MAX_ADDRS || ip == NULL || *ip == '\0' || port <= 0 || port > 65535 ||
        strlen(ip) >= sizeof fp->addr_ip[0])
        return -1;
    for (size_t i = 0; i < fp->n_addrs; i++)
        if (strcmp(fp->addr_ip[i], ip) == 0 && fp->addrs[i].port == (uint32_t)port)
            return 0; /* the reference lists each address once */
    size_t i = fp->n_addrs++;
    snprintf(fp->addr_ip[i], sizeof fp->addr_ip[i], "%s", ip);
    IM__BaseDefine__IpAddr init = IM__BASE_DEFINE__IP_ADDR__INIT;
    fp->addrs[i] = init;
    fp->addrs[i].ip = fp->addr_ip[i];
    fp->addrs[i].port = (uint32_t)port;
    fp->addr_list[i] = &fp->addrs[i];
    return 0;
}

/* `addresses` = "ip:port, ip:port"; empty: this node's advertised addresses and client port. */
static int read_addresses(file_plugin *fp, const char *spec, const imgate_node_info *node)
{
    if (spec == NULL || *spec == '\0') {
        if (add_address(fp, node->public_ip, node->public_port) != 0)
            return -1;
        if (node->backup_ip && *node->backup_ip)
            add_address(fp, node->backup_ip, node->public_port);
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *item = strtok_r(buf, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        char *colon = strrchr(item, ':');
        if (colon == NULL)
            return -1;
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end != '\0' || add_address(fp, item, port) != 0)
            return -1;
    }
    return fp->n_addrs > 0 ? 0 : -1;
}

static void read_config(file_plugin *fp)
{
    imgate_instance *self = fp->self;
    file_config *c = &fp->cfg;
    c->max_file_size = (uint32_t)file_api->config_int(self, "max_file_size");
    c->max_block = (uint32_t)file_api->config_int(self, "max_block");
    c->window = (uint32_t)file_api->config_int(self, "window");
    c->idle_timeout_ms = (uint32_t)file_api->config_int(self, "idle_timeout_s") * 1000;
    c->task_ttl_s = (uint32_t)file_api->config_int(self, "task_ttl_s");
    c->storage_dir = file_api->config_str(self, "storage_dir");
    c->offline_ttl_s = file_api->config_int(self, "offline_ttl_s");
    c->upload_stale_s = file_api->config_int(self, "upload_stale_s");
    c->sweep_interval_s = file_api->config_int(self, "sweep_interval_s");
    c->quota_bytes = (unsigned long long)file_api->config_int(self, "quota_bytes");
    c->min_free = (unsigned long long)file_api->config_int(self, "min_free");
    c->max_list = (uint32_t)file_api->config_int(self, "max_list");
    c->max_tasks = (uint32_t)file_api->config_int(self, "max_tasks");

    /* A block and its PullDataRsp fields must fit a frame; a consumer may hold the answers to all
     * its pulls before its producer is paused, and never much more. */
    uint32_t frame = c->max_block + FILE_FRAME_OVERHEAD;
    fp->high_water = (size_t)c->window * frame;
    fp->low_water = frame;
    fp->role_template.max_frame = frame;
    fp->role_template.idle_timeout_ms = c->idle_timeout_ms;
    fp->role_template.max_output = 2 * fp->high_water + (size_t)(c->window + 2) * frame;
}

static void metrics_init(file_plugin *fp)
{
    imgate_instance *self = fp->self;
    fp->m_requests = file_api->metric_counter(self, "requests");
    fp->m_requests_offline = file_api->metric_counter(self, "requests_offline");
    fp->m_requests_refused = file_api->metric_counter(self, "requests_refused");
    fp->m_logins = file_api->metric_counter(self, "logins");
    fp->m_logins_refused = file_api->metric_counter(self, "logins_refused");
    fp->m_relayed_bytes = file_api->metric_counter(self, "relayed_bytes");
    fp->m_transfers_done = file_api->metric_counter(self, "transfers_done");
    fp->m_transfers_cancelled = file_api->metric_counter(self, "transfers_cancelled");
    fp->m_dropped = file_api->metric_counter(self, "dropped_pdus");
    fp->m_uploads_stored = file_api->metric_counter(self, "uploads_stored");
    fp->m_uploads_failed = file_api->metric_counter(self, "uploads_failed");
    fp->m_downloads = file_api->metric_counter(self, "downloads");
    fp->m_expired = file_api->metric_counter(self, "offline_expired");
}

static int file_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    file_api = api;
    file_plugin *fp = calloc(1, sizeof *fp);
    if (fp == NULL)
        return -1;
    fp->self = self;
    read_config(fp);
    imgate_node_info node;
    if (api->node_info(self, &node) != IMGATE_OK) {
        free(fp);
        return -1;
    }
    snprintf(fp->node, sizeof fp->node, "%s", node.node ? node.node : "");
    const char *addresses = api->config_str(self, "addresses");
    if (read_addresses(fp, addresses, &node) != 0) {
        api->log(self, IMGATE_LOG_ERROR,
                 "event=bad_config key=addresses value=\"%s\" reason=\"want ip:port[, ip:port]"
                 " (at most %d), or empty for this node's public address\"",
                 addresses, FILE_MAX_ADDRS);
        free(fp);
        return -1;
    }
    metrics_init(fp);
    if (api->register_handlers(self, file_handlers, sizeof file_handlers / sizeof file_handlers[0]) != IMGATE_OK ||
        api->register_close_hook(self, file_on_close) != IMGATE_OK ||
        api->register_drain_hook(self, file_on_drain) != IMGATE_OK) {
        free(fp);
        return -1;
    }
    fp->sweep_timer = api->timer_start(self, (uint32_t)fp->cfg.sweep_interval_s * 1000, 1, file_sweep_tick, NULL);
    api->log(self, IMGATE_LOG_INFO,
             "event=init addresses=%s:%u%s storage_dir=%s max_file_size=%u max_block=%u window=%u quota=%llu",
             fp->addr_ip[0], fp->addrs[0].port, fp->n_addrs > 1 ? ",..." : "", fp->cfg.storage_dir,
             fp->cfg.max_file_size, fp->cfg.max_block, fp->cfg.window, fp->cfg.quota_bytes);
    *state = fp;
    return 0;
}

static void file_fini(void *state) { free(state); }

IMGATE_PLUGIN(.name = "file", .version = "1.0", .init = file_init, .fini = file_fini, .config = file_config_keys);
