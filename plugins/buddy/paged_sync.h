/*
 * paged_sync.h — an incremental list reply (IMAllUserRsp, IMDepartmentRsp)
 * split into pages that each fit the frame cap, built on worker threads.
 *
 * Both replies have the same shape: 1 user_id, 2 latest_update_time,
 * 3 repeated entry (protocol C, IM.Buddy). Rows are read in (updated, id)
 * order with a keyset cursor, `sync_page_users` rows and `sync_page_bytes`
 * of body per page at most; each page is packed on the worker and only
 * copied to the connection on the loop. The next page is read once the
 * connection's output queue has drained below one page, so a large
 * directory never piles up in memory or trips [gateway] max_output. At most
 * sync_concurrency pages are being read on the node at once; a sync waiting
 * for its reader holds none.
 *
 * What a client sees (README.md, "Large directories"): one reply per page,
 * all with the request's seq. Every page but the last carries attach_data =
 * PAGED_SYNC_MORE (stock clients ignore field 20). Each page's
 * latest_update_time is a safe restart point: a client that stops after any
 * page and asks again from that value misses nothing.
 */
#ifndef IMGATE_BUDDY_PAGED_SYNC_H
#define IMGATE_BUDDY_PAGED_SYNC_H

#include "buddy.h"

/* attach_data of every page but the last. */
#define PAGED_SYNC_MORE "imgate-more"

typedef struct sync_kind {
    const char *name; /* in logs: "users", "departments" */
    uint16_t rsp_cid;
    /*
     * SELECT ... WHERE [filter AND] updated >= ?1 AND (updated > ?2 OR id > ?3)
     * ORDER BY updated, id LIMIT ?4, with ?1 = ?2 = the cursor's time and ?3
     * its id. `sql_full` serves latest_update_time 0, `sql_changed` the others.
     */
    const char *sql_full;
    const char *sql_changed;
    size_t row_size; /* bytes of the row the result binds fill */
    /* WORKER. Fills `cols` with the result binds into `row`; returns how many. */
    size_t (*bind_row)(void *row, imgate_db_bind *cols);
    /* WORKER. The row's cursor key. */
    void (*row_key)(const void *row, uint32_t *updated, uint32_t *id);
    /* WORKER. The row as its list entry's message, built in `scratch` (pointing into row). */
    const ProtobufCMessage *(*row_message)(const void *row, void *scratch);
    /* Which running flag of the connection's slot this kind uses. */
    size_t slot_flag_offset;
} sync_kind;

/* Room row_message may use in `scratch`. */
#define SYNC_SCRATCH_SIZE 512

/* Starts answering `req` (an IMGATE_HANDLER_TRACKED request) from `since`. */
void paged_sync_start(buddy_plugin *bp, const imgate_request *req, const sync_kind *kind, uint32_t since,
                      imgate_metric *counter);

/* At fini: frees what still waits for a slot (nothing can: a waiting sync implies an active one,
 * which keeps the generation alive). */
void paged_sync_drop_waiting(buddy_plugin *bp);

#endif
