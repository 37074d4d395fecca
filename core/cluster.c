/* cluster.c — see cluster.h. */
#include "cluster.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "imgate/pdu.h"
#include "imgate/plugin.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "server.h"
#include "session.h"
#include "u64map.h"

#define MAX_NODES 64
#define CHANNEL_ALL "imgate:route:all"

/* A presence announcement seen while that node's snapshot is being read. */
typedef struct pending_event {
    uint64_t seq;
    uint32_t user_id, mask;
} pending_event;

typedef struct remote_node {
    int used;
    char name[65];
    char public_ip[64], backup_ip[64];
    unsigned port;
    int conns, max;
    int alive;            /* listed in the last registry read */
    char epoch[32];       /* its presence epoch: a new one means "forget what you had" */
    uint64_t seq;         /* the last announcement applied */
    int snapshot_pending; /* its presence hash is being read */
    pending_event *events;
    size_t n_events, cap_events;
} remote_node;

/* A user's classes online on other nodes: one bit per node slot. */
typedef struct remote_presence {
    uint64_t pc, mobile;
} remote_presence;

static struct {
    int on;
    struct event_base *base;
    const config *boot;
    char me[65];
    char epoch[32];
    char my_channel[100];
    redis_sub *sub;
    struct event *refresh;
    remote_node nodes[MAX_NODES];
    uint64_t alive;    /* bit per slot of the live nodes */
    u64map presence;   /* user id -> remote_presence* */
    metric_series *out[4], *in[4], *failures, *nodes_alive;
} cl;

enum { KIND_DELIVER, KIND_BROADCAST, KIND_KICK, KIND_PRESENCE };
static const char kind_letters[] = {'D', 'B', 'K', 'P'};
static const char *const kind_names[] = {"deliver", "broadcast", "kick", "presence"};

/* --- presence copy ------------------------------------------------------------------------------ */

static remote_node *find_node(const char *name, int create)
{
    int free_slot = -1;
    for (int i = 0; i < MAX_NODES; i++) {
        if (cl.nodes[i].used && strcmp(cl.nodes[i].name, name) == 0)
            return &cl.nodes[i];
        if (!cl.nodes[i].used && free_slot < 0)
            free_slot = i;
    }
    if (!create || free_slot < 0)
        return NULL;
    remote_node *n = &cl.nodes[free_slot];
    memset(n, 0, sizeof *n);
    n->used = 1;
    snprintf(n->name, sizeof n->name, "%s", name);
    return n;
}

static int slot_of(const remote_node *n) { return (int)(n - cl.nodes); }

static void set_remote(uint32_t user_id, int slot, uint32_t mask)
{
    remote_presence *p = u64map_get(&cl.presence, user_id);
    if (p == NULL) {
        if (mask == 0)
            return;
        p = calloc(1, sizeof *p);
        if (p == NULL || u64map_put(&cl.presence, user_id, p) != 0) {
            free(p);
            return;
        }
    }
    uint64_t bit = UINT64_C(1) << slot;
    p->pc = (mask & IMGATE_CLASS_PC) ? p->pc | bit : p->pc & ~bit;
    p->mobile = (mask & IMGATE_CLASS_MOBILE) ? p->mobile | bit : p->mobile & ~bit;
    if (p->pc == 0 && p->mobile == 0)
        free(u64map_del(&cl.presence, user_id));
}

/* Forgets everything a node said (it died, or starts over under a new epoch). */
static void clear_node(remote_node *n)
{
    uint64_t keep = ~(UINT64_C(1) << slot_of(n));
    size_t pos = 0;
    uint64_t uid;
    void *v;
    /* Collect first: emptied entries are deleted, which would disturb the walk. */
    uint64_t *empty = NULL;
    size_t n_empty = 0;
    while (u64map_next(&cl.presence, &pos, &uid, &v)) {
        remote_presence *p = v;
        p->pc &= keep;
        p->mobile &= keep;
        if (p->pc == 0 && p->mobile == 0) {
            uint64_t *grown = realloc(empty, (n_empty + 1) * sizeof *empty);
            if (grown == NULL)
                continue;
            empty = grown;
            empty[n_empty++] = uid;
        }
    }
    for (size_t i = 0; i < n_empty; i++)
        free(u64map_del(&cl.presence, empty[i]));
    free(empty);
    n->seq = 0;
}

uint32_t cluster_remote_presence(uint32_t user_id)
{
    if (!cl.on)
        return 0;
    remote_presence *p = u64map_get(&cl.presence, user_id);
    if (p == NULL)
        return 0;
    return ((p->pc & cl.alive) ? IMGATE_CLASS_PC : 0) | ((p->mobile & cl.alive) ? IMGATE_CLASS_MOBILE : 0);
}

static void apply_event(remote_node *n, uint64_t seq, uint32_t user_id, uint32_t mask)
{
    if (seq <= n->seq)
        return; /* the snapshot already had it */
    n->seq = seq;
    set_remote(user_id, slot_of(n), mask);
}

typedef struct snapshot_call {
    char name[65];
} snapshot_call;

static void on_snapshot(const redisReply *r, void *arg)
{
    snapshot_call *call = arg;
    remote_node *n = find_node(call->name, 0);
    free(call);
    if (n == NULL)
        return;
    n->snapshot_pending = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        n->n_events = 0;
        return; /* retried at the next registry read */
    }
    clear_node(n);
    uint64_t seq = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "#epoch") == 0)
            snprintf(n->epoch, sizeof n->epoch, "%s", v->str);
        else if (strcmp(k->str, "#seq") == 0)
            seq = strtoull(v->str, NULL, 10);
        else
            set_remote((uint32_t)strtoul(k->str, NULL, 10), slot_of(n), (uint32_t)strtoul(v->str, NULL, 10));
    }
    n->seq = seq;
    /* Announcements that raced the read: keep those it did not include. */
    for (size_t i = 0; i < n->n_events; i++)
        apply_event(n, n->events[i].seq, n->events[i].user_id, n->events[i].mask);
    n->n_events = 0;
}

static void request_snapshot(remote_node *n)
{
    if (n->snapshot_pending)
        return;
    snapshot_call *call = malloc(sizeof *call);
    if (call == NULL)
        return;
    snprintf(call->name, sizeof call->name, "%s", n->name);
    char key[120];
    snprintf(key, sizeof key, "imgate:presence:%s", n->name);
    const char *argv[] = {"HGETALL", key};
    n->snapshot_pending = 1;
    n->n_events = 0;
    if (redis_link_command(g_server.redis, on_snapshot, call, 2, argv, NULL) != 0) {
        n->snapshot_pending = 0;
        free(call);
    }
}

/* "P name epoch seq uid mask" and "R name epoch". */
static void on_presence_text(const char *text)
{
    char kind, name[65], epoch[32];
    unsigned long long seq = 0;
    unsigned uid = 0, mask = 0;
    int fields = sscanf(text, "%c %64s %31s %llu %u %u", &kind, name, epoch, &seq, &uid, &mask);
    if (fields < 3 || strcmp(name, cl.me) == 0)
        return;
    remote_node *n = find_node(name, 1);
    if (n == NULL)
        return;
    if (strcmp(n->epoch, epoch) != 0) {
        /* It started over: forget it and read its presence afresh. */
        snprintf(n->epoch, sizeof n->epoch, "%s", epoch);
        clear_node(n);
        n->snapshot_pending = 0;
        request_snapshot(n);
    }
    if (kind != 'P' || fields < 6)
        return;
    if (n->snapshot_pending) {
        if (n->n_events == n->cap_events) {
            size_t ncap = n->cap_events ? n->cap_events * 2 : 64;
            pending_event *grown = realloc(n->events, ncap * sizeof *grown);
            if (grown == NULL)
                return;
            n->events = grown;
            n->cap_events = ncap;
        }
        n->events[n->n_events++] = (pending_event){seq, uid, mask};
    }
    apply_event(n, seq, uid, mask);
}

/* --- this node's presence ----------------------------------------------------------------------- */

/* Sets (or removes, mask 0) one user's entry, counts the announcement, publishes it. */
static const char PRESENCE_SCRIPT[] =
    "local key = 'imgate:presence:' .. ARGV[1] "
    "if redis.call('HGET', key, '#epoch') ~= ARGV[2] then "
    "  redis.call('DEL', key) redis.call('HSET', key, '#epoch', ARGV[2], '#seq', 0) end "
    "if ARGV[4] == '0' then redis.call('HDEL', key, ARGV[3]) else redis.call('HSET', key, ARGV[3], ARGV[4]) end "
    "local seq = redis.call('HINCRBY', key, '#seq', 1) "
    "redis.call('PUBLISH', '" CHANNEL_ALL "', 'P ' .. ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. seq .. ' ' .. ARGV[3] .. ' ' .. ARGV[4]) "
    "return seq";

/* Rewrites the whole hash under a new epoch from this node's sessions and says so. */
static const char RESET_SCRIPT[] =
    "local key = 'imgate:presence:' .. ARGV[1] "
    "redis.call('DEL', key) redis.call('HSET', key, '#epoch', ARGV[2], '#seq', 0) "
    "for i = 3, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end "
    "redis.call('PUBLISH', '" CHANNEL_ALL "', 'R ' .. ARGV[1] .. ' ' .. ARGV[2]) "
    "return 1";

static void count_failure(const redisReply *r, void *arg)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        metrics_inc(cl.failures, 1);
}

void cluster_presence_changed(uint32_t user_id, uint32_t local_mask)
{
    if (!cl.on)
        return;
    char uid[16], mask[8];
    snprintf(uid, sizeof uid, "%u", user_id);
    snprintf(mask, sizeof mask, "%u", local_mask);
    const char *argv[] = {"EVAL", PRESENCE_SCRIPT, "0", cl.me, cl.epoch, uid, mask};
    metrics_inc(cl.out[KIND_PRESENCE], 1);
    if (redis_link_command(g_server.redis, count_failure, NULL, 7, argv, NULL) != 0)
        metrics_inc(cl.failures, 1); /* rewritten whole once Redis is back */
}

/* The RESET_SCRIPT command being built: argv and the digits its user/mask pairs point to. */
typedef struct reset_args {
    const char **argv;
    size_t argc;
    char (*digits)[16];
    size_t n_digits;
} reset_args;

static void add_word(reset_args *a, uint32_t v)
{
    snprintf(a->digits[a->n_digits], sizeof a->digits[0], "%u", v);
    a->argv[a->argc++] = a->digits[a->n_digits++];
}

static void add_user(uint32_t user_id, uint32_t mask, void *arg)
{
    add_word(arg, user_id);
    add_word(arg, mask);
}

static void publish_all_presence(void)
{
    snprintf(cl.epoch, sizeof cl.epoch, "%llx.%lx", (unsigned long long)now_ms(), (long)getpid());
    size_t users = session_user_count();
    reset_args a = {calloc(5 + 2 * users, sizeof(char *)), 0, calloc(2 * users + 1, sizeof *a.digits), 0};
    if (a.argv == NULL || a.digits == NULL) {
        free(a.argv);
        free(a.digits);
        return;
    }
    const char *head[] = {"EVAL", RESET_SCRIPT, "0", cl.me, cl.epoch};
    for (size_t i = 0; i < 5; i++)
        a.argv[a.argc++] = head[i];
    session_for_each_user(add_user, &a);
    redis_link_command(g_server.redis, count_failure, NULL, (int)a.argc, a.argv, NULL);
    free(a.argv);
    free(a.digits);
}

/* --- registry --------------------------------------------------------------------------------------- */

/* Refreshes this node's entry, then returns every live node's: {name, {field, value...}, ...}.
 * A listed node whose entry expired is dropped from the list and its presence removed. */
static const char REGISTRY_SCRIPT[] =
    "local key = 'imgate:node:' .. ARGV[1] "
    "redis.call('HSET', key, 'public_ip', ARGV[3], 'backup_ip', ARGV[4], 'port', ARGV[5], 'conns', ARGV[6], "
    "  'max', ARGV[7], 'epoch', ARGV[8]) "
    "redis.call('PEXPIRE', key, ARGV[2]) "
    "redis.call('SADD', 'imgate:nodes', ARGV[1]) "
    "local out = {} "
    "for _, name in ipairs(redis.call('SMEMBERS', 'imgate:nodes')) do "
    "  local h = redis.call('HGETALL', 'imgate:node:' .. name) "
    "  if #h == 0 then redis.call('SREM', 'imgate:nodes', name) redis.call('DEL', 'imgate:presence:' .. name) "
    "  else table.insert(out, name) table.insert(out, h) end "
    "end "
    "return out";

static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return "";
}

static void on_registry(const redisReply *r, void *arg)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        metrics_inc(cl.failures, 1);
        return; /* the last view stands until Redis answers again */
    }
    uint64_t seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i], *h = r->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || h->type != REDIS_REPLY_ARRAY || strcmp(name->str, cl.me) == 0)
            continue;
        remote_node *n = find_node(name->str, 1);
        if (n == NULL)
            continue;
        snprintf(n->public_ip, sizeof n->public_ip, "%s", field(h, "public_ip"));
        snprintf(n->backup_ip, sizeof n->backup_ip, "%s", field(h, "backup_ip"));
        n->port = (unsigned)atoi(field(h, "port"));
        n->conns = atoi(field(h, "conns"));
        n->max = atoi(field(h, "max"));
        const char *epoch = field(h, "epoch");
        if (!n->alive || strcmp(n->epoch, epoch) != 0 || (n->seq == 0 && !n->snapshot_pending)) {
            if (strcmp(n->epoch, epoch) != 0) {
                snprintf(n->epoch, sizeof n->epoch, "%s", epoch);
                clear_node(n);
            }
            request_snapshot(n);
        }
        n->alive = 1;
        seen |= UINT64_C(1) << slot_of(n);
    }
    for (int i = 0; i < MAX_NODES; i++) {
        remote_node *n = &cl.nodes[i];
        if (!n->used || (seen & (UINT64_C(1) << i)))
            continue;
        if (n->alive)
            log_warn("event=node_gone node=%s reason=\"its registry entry expired\"", n->name);
        clear_node(n);
        free(n->events);
        memset(n, 0, sizeof *n);
    }
    cl.alive = seen;
    metrics_gauge_set(cl.nodes_alive, __builtin_popcountll(seen) + 1);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    const config *cfg = server_cfg();
    char ttl[24], port[8], conns[16], max[16];
    snprintf(ttl, sizeof ttl, "%u", cfg->node_ttl_ms);
    snprintf(port, sizeof port, "%u", cfg->public_port);
    snprintf(conns, sizeof conns, "%d", conn_count());
    snprintf(max, sizeof max, "%d", cfg->max_connections);
    const char *argv[] = {"EVAL", REGISTRY_SCRIPT, "0", cl.me, ttl, cfg->public_ip, cfg->backup_ip, port, conns,
                          max, cl.epoch};
    if (redis_link_command(g_server.redis, on_registry, NULL, 11, argv, NULL) != 0)
        metrics_inc(cl.failures, 1);
}

void cluster_choose(const config *cfg, cluster_choice *out)
{
    int best_conns = conn_count() < cfg->max_connections ? conn_count() : -1;
    out->node = cfg->node;
    out->public_ip = cfg->public_ip;
    out->backup_ip = cfg->backup_ip;
    out->port = cfg->public_port;
    out->connections = conn_count();
    out->max_connections = cfg->max_connections;
    for (int i = 0; cl.on && i < MAX_NODES; i++) {
        const remote_node *n = &cl.nodes[i];
        if (!(cl.alive & (UINT64_C(1) << i)) || n->conns >= n->max)
            continue;
        if (best_conns < 0 || n->conns < best_conns) {
            best_conns = n->conns;
            out->node = n->name;
            out->public_ip = n->public_ip;
            out->backup_ip = n->backup_ip;
            out->port = n->port;
            out->connections = n->conns;
            out->max_connections = n->max;
        }
    }
    out->full = best_conns < 0;
}

/* --- routing ------------------------------------------------------------------------------------------ */

/* Builds [kind][origin length][origin] + rest into a malloc'd buffer. */
static uint8_t *frame_route(int kind, const uint8_t *rest, size_t rest_len, size_t *out_len)
{
    size_t ol = strlen(cl.me);
    uint8_t *buf = malloc(2 + ol + rest_len);
    if (buf == NULL)
        return NULL;
    buf[0] = (uint8_t)kind_letters[kind];
    buf[1] = (uint8_t)ol;
    memcpy(buf + 2, cl.me, ol);
    if (rest_len)
        memcpy(buf + 2 + ol, rest, rest_len);
    *out_len = 2 + ol + rest_len;
    return buf;
}

static void publish(const char *channel, int kind, const uint8_t *payload, size_t len)
{
    const char *argv[] = {"PUBLISH", channel, (const char *)payload};
    size_t lens[] = {7, strlen(channel), len};
    metrics_inc(cl.out[kind], 1);
    if (redis_link_command(g_server.redis, count_failure, NULL, 3, argv, lens) != 0)
        metrics_inc(cl.failures, 1);
}

static void channel_of(const remote_node *n, char *out, size_t len) { snprintf(out, len, "imgate:route:%s", n->name); }

void cluster_deliver(const uint32_t *ids, size_t n, uint32_t class_mask, uint16_t sid, uint16_t cid,
                     const uint8_t *body, size_t len)
{
    if (!cl.on || cl.alive == 0)
        return;
    /* Which nodes hold any of the users in the classes asked for. */
    uint64_t targets = 0;
    for (size_t i = 0; i < n; i++) {
        remote_presence *p = u64map_get(&cl.presence, ids[i]);
        if (p)
            targets |= ((class_mask & IMGATE_CLASS_PC) ? p->pc : 0) | ((class_mask & IMGATE_CLASS_MOBILE) ? p->mobile : 0);
    }
    targets &= cl.alive;
    if (targets == 0)
        return;
    /* One message per node: [mask u32][sid u16][cid u16][count u32][ids u32...][body]. */
    uint8_t *rest = malloc(12 + 4 * n + len);
    if (rest == NULL)
        return;
    for (int slot = 0; slot < MAX_NODES; slot++) {
        uint64_t bit = UINT64_C(1) << slot;
        if (!(targets & bit))
            continue;
        uint32_t count = 0;
        for (size_t i = 0; i < n; i++) {
            remote_presence *p = u64map_get(&cl.presence, ids[i]);
            if (p && ((((class_mask & IMGATE_CLASS_PC) ? p->pc : 0) | ((class_mask & IMGATE_CLASS_MOBILE) ? p->mobile : 0)) & bit))
                imgate_put_u32(rest + 12 + 4 * count++, ids[i]);
        }
        imgate_put_u32(rest, class_mask);
        imgate_put_u16(rest + 4, sid);
        imgate_put_u16(rest + 6, cid);
        imgate_put_u32(rest + 8, count);
        if (len)
            memcpy(rest + 12 + 4 * count, body, len);
        size_t total;
        uint8_t *msg = frame_route(KIND_DELIVER, rest, 12 + 4 * count + len, &total);
        char channel[100];
        channel_of(&cl.nodes[slot], channel, sizeof channel);
        if (msg)
            publish(channel, KIND_DELIVER, msg, total);
        free(msg);
    }
    free(rest);
}

void cluster_broadcast(uint32_t class_mask, uint16_t sid, uint16_t cid, const uint8_t *body, size_t len)
{
    if (!cl.on || cl.alive == 0)
        return;
    uint8_t *rest = malloc(8 + len);
    if (rest == NULL)
        return;
    imgate_put_u32(rest, class_mask);
    imgate_put_u16(rest + 4, sid);
    imgate_put_u16(rest + 6, cid);
    if (len)
        memcpy(rest + 8, body, len);
    size_t total;
    uint8_t *msg = frame_route(KIND_BROADCAST, rest, 8 + len, &total);
    if (msg)
        publish(CHANNEL_ALL, KIND_BROADCAST, msg, total);
    free(msg);
    free(rest);
}

void cluster_kick(uint32_t user_id, uint32_t class_mask, uint32_t reason)
{
    if (!cl.on)
        return;
    remote_presence *p = u64map_get(&cl.presence, user_id);
    if (p == NULL)
        return;
    uint64_t targets = (((class_mask & IMGATE_CLASS_PC) ? p->pc : 0) | ((class_mask & IMGATE_CLASS_MOBILE) ? p->mobile : 0)) &
                       cl.alive;
    uint8_t rest[12];
    imgate_put_u32(rest, user_id);
    imgate_put_u32(rest + 4, class_mask);
    imgate_put_u32(rest + 8, reason);
    for (int slot = 0; slot < MAX_NODES; slot++) {
        if (!(targets & (UINT64_C(1) << slot)))
            continue;
        size_t total;
        uint8_t *msg = frame_route(KIND_KICK, rest, sizeof rest, &total);
        char channel[100];
        channel_of(&cl.nodes[slot], channel, sizeof channel);
        if (msg)
            publish(channel, KIND_KICK, msg, total);
        free(msg);
    }
}

static void on_message(const char *channel, const char *payload_, size_t len, void *arg)
{
    const uint8_t *payload = (const uint8_t *)payload_;
    if (len >= 1 && payload[0] == 'P') {
        metrics_inc(cl.in[KIND_PRESENCE], 1);
        on_presence_text(payload_); /* NUL-terminated by hiredis */
        return;
    }
    if (len >= 1 && payload[0] == 'R') {
        on_presence_text(payload_);
        return;
    }
    if (len < 2 || len < 2u + payload[1])
        return;
    size_t ol = payload[1];
    if (ol == strlen(cl.me) && memcmp(payload + 2, cl.me, ol) == 0)
        return; /* our own broadcast */
    const uint8_t *p = payload + 2 + ol;
    size_t rest = len - 2 - ol;
    switch (payload[0]) {
    case 'D': {
        if (rest < 12)
            return;
        uint32_t mask = imgate_get_u32(p), count = imgate_get_u32(p + 8);
        uint16_t sid = imgate_get_u16(p + 4), cid = imgate_get_u16(p + 6);
        if (count > (rest - 12) / 4)
            return;
        const uint8_t *body = p + 12 + 4 * (size_t)count;
        size_t blen = rest - 12 - 4 * (size_t)count;
        metrics_inc(cl.in[KIND_DELIVER], 1);
        for (uint32_t i = 0; i < count; i++)
            session_deliver(imgate_get_u32(p + 12 + 4 * i), mask, 0, sid, cid, blen ? body : NULL, blen);
        break;
    }
    case 'B':
        if (rest < 8)
            return;
        metrics_inc(cl.in[KIND_BROADCAST], 1);
        session_broadcast(imgate_get_u32(p), 0, imgate_get_u16(p + 4), imgate_get_u16(p + 6),
                          rest > 8 ? p + 8 : NULL, rest - 8);
        break;
    case 'K':
        if (rest < 12)
            return;
        metrics_inc(cl.in[KIND_KICK], 1);
        session_kick(imgate_get_u32(p), imgate_get_u32(p + 4), 0, imgate_get_u32(p + 8));
        break;
    default:
        break;
    }
}

/* Subscribed (again): whatever happened meanwhile, start from a clean slate on both sides. */
static void on_ready(void *arg)
{
    publish_all_presence();
    for (int i = 0; i < MAX_NODES; i++)
        if (cl.nodes[i].used) {
            clear_node(&cl.nodes[i]);
            cl.nodes[i].snapshot_pending = 0;
            request_snapshot(&cl.nodes[i]);
        }
    on_refresh(-1, 0, NULL);
}

/* --- start and stop ----------------------------------------------------------------------------------- */

void cluster_start(struct event_base *base, const config *boot)
{
    if (!boot->redis_configured || !boot->cluster_enabled || g_server.redis == NULL)
        return;
    memset(&cl, 0, sizeof cl);
    cl.base = base;
    cl.boot = boot;
    snprintf(cl.me, sizeof cl.me, "%s", boot->node);
    snprintf(cl.epoch, sizeof cl.epoch, "%llx.%lx", (unsigned long long)now_ms(), (long)getpid());
    snprintf(cl.my_channel, sizeof cl.my_channel, "imgate:route:%s", cl.me);
    for (int k = 0; k < 4; k++) {
        char labels[32];
        snprintf(labels, sizeof labels, "kind=\"%s\"", kind_names[k]);
        cl.out[k] = metrics_counter("imgate_routed_out_total", labels);
        cl.in[k] = metrics_counter("imgate_routed_in_total", labels);
    }
    cl.failures = metrics_counter("imgate_routing_failures_total", "");
    cl.nodes_alive = metrics_gauge("imgate_cluster_nodes", "");
    const char *channels[] = {cl.my_channel, CHANNEL_ALL};
    cl.sub = redis_sub_start(base, boot->redis_host, boot->redis_port, boot->redis_socket, channels, 2, on_message,
                             on_ready, NULL);
    cl.refresh = event_new(base, -1, EV_PERSIST, on_refresh, NULL);
    struct timeval tv = {boot->node_refresh_ms / 1000, (boot->node_refresh_ms % 1000) * 1000};
    if (cl.refresh)
        event_add(cl.refresh, &tv);
    cl.on = 1;
    session_set_presence_hook(cluster_presence_changed);
    log_info("event=cluster_started node=%s ttl_ms=%u", cl.me, boot->node_ttl_ms);
}

void cluster_stop(void)
{
    if (!cl.on)
        return;
    cl.on = 0;
    session_set_presence_hook(NULL);
    /* Leave at once rather than when the entry expires: others stop routing here. */
    char node_key[120], presence_key[120];
    snprintf(node_key, sizeof node_key, "imgate:node:%s", cl.me);
    snprintf(presence_key, sizeof presence_key, "imgate:presence:%s", cl.me);
    const char *del[] = {"DEL", node_key, presence_key};
    redis_link_command(g_server.redis, NULL, NULL, 3, del, NULL);
    if (cl.refresh)
        event_free(cl.refresh);
    redis_sub_stop(cl.sub);
    for (int i = 0; i < MAX_NODES; i++)
        free(cl.nodes[i].events);
    size_t pos = 0;
    void *v;
    while (u64map_next(&cl.presence, &pos, NULL, &v))
        free(v);
    u64map_free(&cl.presence);
}
