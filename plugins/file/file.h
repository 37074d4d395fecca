/*
 * file.h — the file plugin's shared state and functions.
 *
 * The plugin does what the reference's separate file server does (protocol
 * H.9), inside imgated: file requests on the message connection, file
 * connections that log in with a task id, the online relay between two
 * clients, offline upload to disk and download from it, and the offline file
 * list in IMTransmitFile.
 *
 * Where state lives, so that a reload of the plugin loses nothing:
 *   - a task between its request and the file logins: Redis (file_task.c);
 *   - everything about one file connection (its task, role, peer, pulls in
 *     flight, flow control): the connection's data slot (file_slot below),
 *     which the core keeps across reloads;
 *   - an offline transfer's open file: a heap object (file_xfer) that the
 *     slot and the worker jobs using it point to; freed by the last of them;
 *   - offline files: the storage directory (file_store.c) and IMTransmitFile.
 * The per-generation state (file_plugin) holds only configuration, derived
 * constants and metric handles.
 */
#ifndef IMGATE_FILE_H
#define IMGATE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/teamtalk.h>

#include "IM.BaseDefine.pb-c.h"
#include "IM.File.pb-c.h"

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *file_api;

#define FILE_TASK_ID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (protocol H.9) */
#define FILE_SEGMENT 32768u /* offline segment size (protocol H.9) */
#define FILE_MAX_WINDOW 16u /* upper bound of the `window` key */
#define FILE_MAX_ADDRS 4
/* Protobuf fields around a block in IMFilePullDataRsp, with room to spare (task id, ids, offset). */
#define FILE_FRAME_OVERHEAD 1024u

/* The connection role numbers this plugin gives file connections: SID_FILE in the high half
 * keeps them apart from other plugins' numbering; the low half is the ClientFileRole. */
#define FILE_ROLE_BASE ((uint32_t)SID_FILE << 16)
#define FILE_ROLE(file_role) (FILE_ROLE_BASE | (uint32_t)(file_role))

typedef struct file_config {
    uint32_t max_file_size;
    uint32_t max_block;       /* largest online block; offline segments are always 32 KiB */
    uint32_t window;          /* pulls (or disk jobs) in flight per transfer */
    uint32_t idle_timeout_ms; /* file connections */
    uint32_t task_ttl_s;      /* an unused task id expires after this */
    const char *storage_dir;  /* offline files; lives as long as the generation */
    long long offline_ttl_s;  /* stored offline files expire after this (0 = never) */
    long long upload_stale_s; /* a partial upload untouched this long is removed */
    long long sweep_interval_s;
    unsigned long long quota_bytes; /* per sender, bytes waiting in offline files (0 = no limit) */
    unsigned long long min_free;    /* free space an upload must leave on the storage filesystem */
    uint32_t max_list;              /* offline files per IMFileHasOfflineRsp */
    uint32_t max_tasks;             /* live tasks one sender may hold */
} file_config;

typedef struct file_plugin {
    imgate_instance *self;
    file_config cfg;
    char node[65]; /* this node's name: file connections are named node/conn_id in Redis */
    /* the advertised file addresses (ip_addr_list) */
    char addr_ip[FILE_MAX_ADDRS][64];
    IM__BaseDefine__IpAddr addrs[FILE_MAX_ADDRS];
    IM__BaseDefine__IpAddr *addr_list[FILE_MAX_ADDRS];
    size_t n_addrs;
    imgate_role role_template;    /* frame cap, idle timeout, output cap of file connections */
    size_t high_water, low_water; /* a consumer's queued output that pauses / resumes its producer */
    imgate_timer *sweep_timer;
    int sweep_running;
    imgate_metric *m_requests, *m_requests_offline, *m_requests_refused, *m_logins, *m_logins_refused, *m_relayed_bytes,
        *m_transfers_done, *m_transfers_cancelled, *m_dropped, *m_uploads_stored, *m_uploads_failed, *m_downloads,
        *m_expired;
} file_plugin;

/* Phases of a file connection. */
enum {
    FILE_PHASE_NONE = 0,   /* no file login seen */
    FILE_PHASE_LOGGING_IN, /* a login is being checked */
    FILE_PHASE_WAITING,    /* online: logged in, the other party is not */
    FILE_PHASE_ACTIVE,     /* transferring */
    FILE_PHASE_FINISHED,   /* over (done, cancelled, refused): nothing more is relayed */
};

/* One receiver pull forwarded to the sender and not answered yet. */
typedef struct file_pull {
    uint16_t seq;
    uint32_t offset;
    uint32_t size;
} file_pull;

struct file_xfer;

/*
 * The data slot of a file connection (conn_data). Kept by the core across
 * reloads, so it holds plain values only: no pointer into plugin code or into
 * per-generation state. `layout` says which version of this struct it is; a
 * plugin that finds a layout it does not know closes the connection.
 */
#define FILE_SLOT_LAYOUT 1u
typedef struct file_slot {
    uint32_t layout;
    uint32_t phase;
    uint32_t file_role; /* CLIENT_REALTIME_SENDER .. CLIENT_OFFLINE_DOWNLOAD */
    uint32_t user_id;
    uint32_t from_id, to_id, file_size;
    char task_id[FILE_TASK_ID_LEN + 1];
    uint64_t peer_conn;               /* online: the other party's file connection once both are in */
    file_pull pulls[FILE_MAX_WINDOW]; /* online receiver: forwarded pulls, oldest first */
    uint32_t n_pulls;
    uint32_t in_flight;     /* download: reads not yet answered */
    uint32_t paused;        /* this plugin stopped reading the connection (flow control) */
    uint64_t relayed;       /* bytes of file data sent to this connection */
    struct file_xfer *xfer; /* offline: the open file (heap; see file_offline.c) */
} file_slot;

/* The connection's slot, created if need be; NULL when it is gone or holds an unknown layout
 * (the connection is then closed). */
file_slot *file_slot_get(file_plugin *fp, uint64_t conn_id);
/* The slot of a connection that must already be one of ours (a peer): NULL otherwise. */
file_slot *file_slot_existing(file_plugin *fp, uint64_t conn_id);

/* Sends IMFileState{state, task_id, user_id} to a connection. */
void file_send_state(file_plugin *fp, uint64_t conn_id, uint32_t state, const char *task_id, uint32_t user_id);
/* Stops or restarts reading `conn_id`: paused while `in_flight` reaches the window or its queued
 * output is above the high-water mark (then the drain hook looks again). */
void file_flow_update(file_plugin *fp, uint64_t conn_id, file_slot *s, uint32_t in_flight);

/* A file name a client may give: non-empty, short enough, well-formed UTF-8 (file_request.c). */
int file_name_valid(const char *name);

/* Task ids (file_task.c). */
int file_task_id_valid(const char *s);
void file_task_id_new(char out[FILE_TASK_ID_LEN + 1]);

/* Handlers: file_request.c (message connection), file_login.c, file_relay.c, file_offline.c. */
void file_on_request(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_login(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_state(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_pull_req(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_pull_rsp(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_has_offline(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_add_offline(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_del_offline(void *state, const imgate_request *req, const ProtobufCMessage *body);
void file_on_close(void *state, const imgate_conn_info *conn);
void file_on_drain(void *state, const imgate_conn_info *conn);

/* The online relay (file_relay.c). */
/* A freshly logged-in online party: pairs it with the other one if that one is in. */
void file_relay_join(file_plugin *fp, uint64_t conn_id, file_slot *s, const char *peer_ref);
void file_relay_pull(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataReq *m);
void file_relay_data(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataRsp *m);
void file_relay_state(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFileState *m);
void file_relay_closed(file_plugin *fp, uint64_t conn_id, file_slot *s);

/* Offline transfers (file_offline.c). */
/* Upload / download login after the task (or the stored file) was found: opens the file on a
 * worker, then answers the login. `to` is the login request's reply handle (tracked). */
void file_offline_open(file_plugin *fp, const imgate_reply_to *to, uint32_t file_role, uint32_t user_id,
                       const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size, const char *name);
void file_offline_pull(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataReq *m);
void file_offline_data(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataRsp *m);
void file_offline_state(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFileState *m);
void file_offline_closed(file_plugin *fp, uint64_t conn_id, file_slot *s);

/* WORKER. Lists a stored file in IMTransmitFile (status 0), unless the task is listed already or the
 * sender's listed bytes would pass `quota` (0 = no limit): 1 inserted, 0 refused, < 0 db error. */
int file_db_insert_row(imgate_worker *w, uint32_t from_id, uint32_t to_id, const char *name, uint32_t size,
                       const char *task_id, uint64_t quota);

/* Answers a file login (IMFileLoginRsp) and, on refusal, closes the connection. */
void file_login_answer(file_plugin *fp, imgate_reply_to *to, int ok, const char *task_id);
/* Gives a connection the file role `file_role` (conn_authorize). 0 or an IMGATE_* code. */
int file_authorize(file_plugin *fp, uint64_t conn_id, uint32_t file_role);

/* The expiry sweep (file_sweep.c): started from init's timer. */
void file_sweep_tick(void *state, void *arg);

#endif
