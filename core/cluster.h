/*
 * cluster.h — several imgated nodes as one service, with Redis as the engine
 * (docs/architecture.md, "Several nodes"):
 *
 *   registry  each node keeps imgate:node:<name> (addresses, load, epoch)
 *             alive with a short TTL and is listed in imgate:nodes; every node
 *             reads them all once per refresh to know which nodes live and
 *             which is the least loaded (GET /msg_server, 0x0101);
 *   presence  each node keeps imgate:presence:<name> (user id -> classes
 *             online there) and announces every change on imgate:route:all;
 *             every node holds a copy of the others' presence in memory,
 *             loaded from the hashes and kept current by the announcements;
 *   routing   a delivery, broadcast or kick for users on other nodes is one
 *             PUBLISH per target node (imgate:route:<name>) carrying the PDU
 *             once, whatever the number of users and connections there.
 *
 * A node that stops refreshing drops out of the registry within the TTL; the
 * first node to notice removes its presence. A (re)starting node or one that
 * got Redis back rewrites its presence under a new epoch, and the others
 * reload it. While Redis is away only local delivery works: what another node
 * should have pushed is lost (messages themselves are stored and acked; their
 * receivers find them as unread). Loop thread only.
 */
#ifndef IMGATE_CLUSTER_H
#define IMGATE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;

/* Starts the registry refresh and the subscriber (needs the Redis link of server.c). No-op when
 * Redis is not configured or [cluster] enabled = no. */
void cluster_start(struct event_base *base, const config *boot);
void cluster_stop(void);

/* The classes a user has online on other live nodes (IMGATE_CLASS_*), from the local copy. */
uint32_t cluster_remote_presence(uint32_t user_id);
/* This node's classes for the user changed (session.c calls it on bind, unbind and kick). */
void cluster_presence_changed(uint32_t user_id, uint32_t local_mask);

/* Carries a push of an already packed body to the users' connections on other nodes. */
void cluster_deliver(const uint32_t *user_ids, size_t n, uint32_t class_mask, uint16_t service_id,
                     uint16_t command_id, const uint8_t *body, size_t len);
void cluster_broadcast(uint32_t class_mask, uint16_t service_id, uint16_t command_id, const uint8_t *body,
                       size_t len);
/* Applies a kick to the user's connections in `class_mask` on other nodes. */
void cluster_kick(uint32_t user_id, uint32_t class_mask, uint32_t reason);

/* The node a new client should use: the least loaded live one that is not full (this one when
 * nothing else is known). `full` when every live node is full. */
typedef struct cluster_choice {
    const char *node;
    const char *public_ip;
    const char *backup_ip;
    unsigned port;
    int connections, max_connections;
    int full;
} cluster_choice;
void cluster_choose(const config *cfg, cluster_choice *out);

#endif
