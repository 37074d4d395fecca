/*
 * message.h — the message plugin's shared state.
 *
 * The plugin owns what a TeamTalk client does with messages (protocol H.4–H.6,
 * H.8): single and group chat stored in MySQL and acknowledged only after the
 * COMMIT, per-conversation ids in the reference's Redis counters, unread
 * counters and read acks, history, P2P commands and audio.
 *
 * A message travels through its conversation (conversation.c): one object per
 * user pair or group, kept in a bounded cache, that takes the messages in
 * arrival order, checks them (pair: both users active and the relation id;
 * group: the sender is a member), allocates their ids with one INCRBY for
 * everything waiting, and hands them to submit_write keyed by the
 * conversation, so a conversation's messages are stored, acknowledged and
 * delivered in the order they arrived.
 */
#ifndef IMGATE_MESSAGE_H
#define IMGATE_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/services.h>
#include <imgate/teamtalk.h>

#include "u64map.h"

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *msg_api;

/* IMMessage_N.content / IMGroupMessage_N.content are varchar(4096) in utf8mb4: characters, not bytes. */
#define MSG_CONTENT_MAX_CHARS 4096
#define MSG_CONTENT_MAX_BYTES (4 * MSG_CONTENT_MAX_CHARS)

typedef struct msg_config {
    size_t audio_max;           /* largest audio msg_data (4-byte duration + bytes) */
    uint32_t history_max;       /* most messages one history request returns */
    uint32_t by_id_max;         /* most ids one by-id request looks up */
    uint32_t unread_max;        /* most sessions one unread answer lists */
    size_t reply_max;           /* history / by-id / unread answers stop growing past this many bytes */
    uint32_t user_check_s;      /* a pair's "both users active" check is trusted this long */
    size_t cache_max;           /* conversations kept in memory (pairs + groups) */
    uint32_t group_session_s;   /* members' group sessions are bumped at most once per this many seconds */
    uint32_t round_max;         /* messages given ids by one INCRBY */
    size_t p2p_max;             /* largest P2P command relayed */
    uint32_t read_jobs_max;     /* read jobs of this generation on the workers at once (msg_reads.c) */
    char aes_key[33];           /* the clients' message key (protocol A.3), for the audio placeholder */
} msg_config;

typedef struct read_job read_job;

typedef struct msg_plugin {
    imgate_instance *self;
    msg_config cfg;
    imgate_service groups;      /* imgate.groups (optional: without it group messages are refused) */
    u64map pairs;               /* (small << 32 | big) -> conv* */
    u64map group_convs;         /* group id -> conv* */
    uint64_t token;             /* this generation, in the connections' data slots (msg_handover.c) */
    u64map held;                /* connection id -> messages held until an older generation's are done */
    int polling;
    uint32_t reads_running;     /* read jobs submitted and not completed */
    read_job *reads_head, *reads_tail; /* read jobs waiting for room, oldest first */
    char audio_placeholder[64]; /* encrypt("[语音]"), base64 (protocol A.3) */
    imgate_metric *stored, *stored_group, *group_deliveries, *refused_invalid, *refused_receiver,
        *refused_member, *refused_store, *refused_ids, *id_reseeds, *id_conflicts, *relations_created,
        *p2p_relayed, *read_acks, *held_for_order, *reads_waited;
} msg_plugin;

/* Where the conversation is in checking its participants. */
typedef enum conv_state {
    CONV_UNCHECKED, /* never checked, or the check expired */
    CONV_READY,     /* pair: both users active, relation id known; group: looked up per round */
    CONV_INVALID,   /* pair: a user is unknown or has left (until checked_until) */
} conv_state;

struct msg;

/* Group members for a round's fan-out, shared by the round's messages. */
typedef struct member_list {
    int refs;
    size_t n;
    uint32_t ids[];
} member_list;

typedef struct conv {
    struct msg_plugin *mp;
    uint64_t key;
    int is_group;
    uint32_t small, big; /* pair: the two users, smaller first */
    uint32_t id;         /* relation id (pair, 0 until known) or group id */
    conv_state state;
    long long checked_until;  /* unix seconds */
    int fresh;                /* the relation was just created here: its counter starts at 0 */
    int top_ready;            /* its imgate_msg_top row is known to exist */
    int needs_seed;           /* the next round re-seeds the counter from MySQL first */
    struct msg *retry_head, *retry_tail;     /* refused by an id conflict, to go again first */
    struct msg *pending_head, *pending_tail; /* arrived, waiting for a round */
    struct msg *round_head, *round_tail;     /* the round being checked and given ids */
    uint32_t round_n;
    int busy;                 /* a check, look-up, allocation or seed is outstanding */
    int writing;              /* a round's write is queued or running: the next round waits for its
                               * outcome, so a round that must be numbered again (an id conflict)
                               * is never overtaken by a later one */
    unsigned active;          /* messages between the start of their round and their completion */
    uint32_t bumped_second;   /* sessions (pair) / members' sessions (group) last bumped in this second */
    int revive;               /* a session of the conversation was removed since: the next round bumps */
} conv;

/* One message from the handler to its completion. */
typedef struct msg {
    struct msg *next;
    msg_plugin *mp;
    conv *conv;
    imgate_reply_to to;
    uint32_t from;
    uint32_t session;   /* receiver (single) or group id */
    uint32_t type;      /* MSG_TYPE_* */
    uint32_t created;   /* server time at arrival */
    uint32_t msg_id;
    int retries;
    int counted;        /* counted in the connection's data slot (msg_handover.c) */
    member_list *members;
    char audio_id[16];  /* worker: the IMAudio id stored as the content of an audio message */
    size_t len;
    uint8_t data[];     /* msg_data, exactly as received */
} msg;

/* --- conversation.c ------------------------------------------------------------------------------ */

/* Queues a checked message on its pair or group conversation and moves it on. */
void conv_submit(msg_plugin *mp, msg *m);
/* The pair's conversation if cached (no check, no creation). */
conv *conv_find_pair(msg_plugin *mp, uint32_t a, uint32_t b);
void conv_free_all(msg_plugin *mp);
void member_list_release(member_list *l);

/* --- msg_reads.c ---------------------------------------------------------------------------------- */

/* submit_job (order key 0) for a read, once fewer than read_jobs_max reads are on the workers;
 * until then it waits, in arrival order. `done` runs exactly once, as with submit_job. */
void msg_read_submit(msg_plugin *mp, imgate_job_fn work, imgate_job_done_fn done, void *arg);

/* --- msg_handover.c ------------------------------------------------------------------------------ */

/* A message from the handler: on to its conversation, or held until the messages a replaced
 * generation still has from the same connection are done. */
void handover_admit(msg_plugin *mp, msg *m);
/* A message acked or refused: it no longer holds back its connection's next ones. */
void handover_done(msg_plugin *mp, const msg *m);

/* --- msg_store.c (worker threads) -------------------------------------------------------------- */

/* The relation of a pair and whether both users are active. */
typedef struct pair_check {
    uint32_t small, big;
    uint32_t relation;  /* in: known id (0 = look it up); out: the id */
    int create;         /* create the relation when missing */
    /* out */
    int users_ok;
    int created;
    int db_failed;
} pair_check;
void store_check_pair(imgate_worker *w, pair_check *pc);
/* The relation id of a pair, or 0 (never creates); -1 when the database failed. */
int64_t store_find_relation(imgate_worker *w, int pool, uint32_t a, uint32_t b);
/* The largest stored msgId of a relation or group (master); -1 when the database failed. */
int64_t store_max_msg_id(imgate_worker *w, int is_group, uint32_t id);
/* Makes sure the conversation has its imgate_msg_top row (migration 011). 0 or an IMGATE_E* error. */
int store_ensure_top(imgate_worker *w, int is_group, uint32_t id);
/* A round's messages, written together (submit_write body: store_round). */
typedef struct round_write {
    msg_plugin *mp;
    conv *conv;
    int is_group;
    uint32_t conv_id;       /* relation or group id */
    uint32_t first_id;      /* msgs[i] has id first_id + i */
    int bump_sessions;      /* pair: revive and bump both sessions (once per second, or after a removal) */
    uint32_t now;
    int conflict;           /* out: MySQL already holds an id of the round (the counter is behind) */
    int no_top;             /* out: the conversation's imgate_msg_top row is missing */
    uint32_t n;
    msg *msgs[];
} round_write;
int store_round(imgate_worker *w, void *state, void *arg);
/* Bumps a group's lastChated and its members' sessions (arg: group_sync*). */
typedef struct group_sync {
    msg_plugin *mp;
    conv *conv;
    uint32_t group_id;
    uint32_t now;
} group_sync;
int store_group_sync(imgate_worker *w, void *state, void *arg);

/* One stored message read back (history, by id, unread). */
typedef struct stored_msg {
    uint32_t msg_id, from, created, type;
    size_t len;
    uint8_t *data; /* malloc'd */
} stored_msg;
/* Reads the rows of `sql` (msgId, sender, created, type, content; params bound by the caller) into
 * out[], up to max rows and `budget` bytes of content (at least one row), from the replica. With
 * audio_bytes, audio contents (IMAudio ids) are turned back into duration + bytes. Returns the
 * count or an IMGATE_E* error. */
int store_read_msgs(imgate_worker *w, msg_plugin *mp, const char *sql, imgate_db_bind *params, size_t n_params,
                    int audio_bytes, stored_msg *out, size_t max, size_t budget);
void stored_msgs_free(stored_msg *v, size_t n);
/* Table names per shard. */
const char *store_msg_table(uint32_t relation);
const char *store_group_table(uint32_t group_id);

/* --- msg_send.c --------------------------------------------------------------------------------- */

void msg_on_data(void *state, const imgate_request *req, const ProtobufCMessage *body);
/* A stored round's unread counters (protocol E, H.6), one Redis command for the whole round. */
void msg_count_round(msg_plugin *mp, const round_write *rw);
/* A stored message's end: acknowledged and delivered; or refused. Frees it and ends the request. */
void msg_complete(msg_plugin *mp, msg *m);
void msg_refuse(msg_plugin *mp, msg *m, imgate_metric *why, const char *reason);

/* --- msg_read.c, msg_unread.c, msg_history.c, msg_p2p.c ---------------------------------------- */

void msg_on_receiver_ack(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_read_ack(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_time(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_unread(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_history(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_latest(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_by_id(void *state, const imgate_request *req, const ProtobufCMessage *body);
void msg_on_p2p(void *state, const imgate_request *req, const ProtobufCMessage *body);

/* --- msg_text.c ----------------------------------------------------------------------------------- */

/* The number of characters of valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or -1. */
long msg_utf8_chars(const uint8_t *p, size_t len);
/* encrypt(plain) as TeamTalk clients do it (protocol A.3), base64, into out (NUL-terminated). 0 or -1. */
int msg_client_encrypt(const char *key32, const char *plain, char *out, size_t out_len);

/* Redis key helpers (protocol E). */
void msg_counter_key(char *out, size_t len, int is_group, uint32_t id);

#endif
