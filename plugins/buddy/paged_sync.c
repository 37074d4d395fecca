/*
 * paged_sync.c — see paged_sync.h.
 *
 * loop:   one sync at a time per connection and kind; the call carries the cursor
 * worker: read up to page_users + 1 rows after the cursor, pack each entry straight
 *         into the page buffer until the byte budget is reached
 * loop:   copy the page to the connection; once its output queue is below one
 *         page, read the next one (a 5 ms one-shot timer polls meanwhile)
 * At most sync_concurrency pages are being read at once on the node (slots, below).
 */
#include <stdlib.h>
#include <string.h>

#include <imgate/pdu.h>

#include "paged_sync.h"

/* How often a paused sync looks at the connection's output queue again. */
#define PACE_MS 5
/* A reader that takes longer than this to drain one page is abandoned (logged). */
#define STALL_MS 30000
/* Fields 1 and 2 in front of the entries: two one-byte tags and two varints of at most 5 bytes. */
#define HEAD_ROOM 12
/* Field 20 behind them: a two-byte tag, a one-byte length and PAGED_SYNC_MORE. */
#define TAIL_ROOM (3 + sizeof PAGED_SYNC_MORE)
/* A page buffer's first size; it grows to the page. */
#define INITIAL_CAP (HEAD_ROOM + TAIL_ROOM + 16384)
/* Wire tags (field number << 3 | wire type). */
#define TAG_USER_ID ((1u << 3) | 0u)
#define TAG_LATEST ((2u << 3) | 0u)
#define TAG_ENTRY ((3u << 3) | 2u)
#define TAG_ATTACH ((20u << 3) | 2u)

struct sync_call {
    buddy_plugin *bp;
    sync_call *next_waiting; /* the node-wide queue of syncs waiting for a slot */
    int active;              /* holds one of the sync_concurrency slots */
    const sync_kind *kind;
    imgate_reply_to to;
    uint32_t since;
    uint32_t page_users, page_bytes;
    uint32_t commit_lag_s;
    uint32_t ceiling;                   /* latest_update_time never exceeds it; 0 = not read yet */
    uint32_t cursor_updated, cursor_id; /* the last row sent */
    uint32_t prev_latest;               /* latest_update_time the client holds now */
    unsigned pages;
    uint64_t rows_total, bytes_total;
    long long started_ms, waiting_since_ms;
    /* The page the worker built: buf[body_off .. body_off + body_len). */
    uint8_t *buf;
    size_t cap;
    size_t body_off, body_len;
    size_t entries_len, n_rows;
    int more;
    int failed; /* an IMGATE_E* code when the page could not be built */
};

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* --- worker thread ---------------------------------------------------------------------------- */

typedef struct page_builder {
    sync_call *call;
    void *row;
    size_t rows_seen;
    uint32_t last_updated, last_id;
    _Alignas(16) uint8_t scratch[SYNC_SCRATCH_SIZE];
} page_builder;

static int reserve(sync_call *call, size_t need)
{
    if (need <= call->cap)
        return 0;
    size_t cap = call->cap * 2, page = (size_t)call->page_bytes + HEAD_ROOM + TAIL_ROOM;
    if (cap > page)
        cap = page; /* a page never needs more */
    if (cap < need)
        cap = need;
    uint8_t *grown = realloc(call->buf, cap);
    if (grown == NULL)
        return -1;
    call->buf = grown;
    call->cap = cap;
    return 0;
}

static int on_row(void *ctx)
{
    page_builder *b = ctx;
    sync_call *call = b->call;
    if (++b->rows_seen > call->page_users) {
        call->more = 1; /* the extra row only says there is more */
        return 1;
    }
    const ProtobufCMessage *m = call->kind->row_message(b->row, b->scratch);
    size_t size = protobuf_c_message_get_packed_size(m);
    size_t entry = 1 + varint_size(size) + size;
    /* One entry always goes in (the smallest budget holds the largest row), then the budget rules. */
    if (call->n_rows > 0 && call->entries_len + entry > call->page_bytes - HEAD_ROOM - TAIL_ROOM) {
        call->more = 1;
        return 1;
    }
    if (reserve(call, HEAD_ROOM + call->entries_len + entry + TAIL_ROOM) != 0) {
        call->failed = IMGATE_ENOMEM;
        return 1;
    }
    uint8_t *p = call->buf + HEAD_ROOM + call->entries_len;
    *p++ = TAG_ENTRY;
    p += put_varint(p, size);
    protobuf_c_message_pack(m, p);
    call->entries_len += entry;
    call->n_rows++;
    call->kind->row_key(b->row, &b->last_updated, &b->last_id);
    return 0;
}

/*
 * The page's latest_update_time, always a safe restart point (the query takes
 * rows equal to the starting time, so any value up to the newest `updated`
 * a page carries loses nothing; lower values only repeat rows):
 *   - the last page: the newest change, as the reference answers;
 *   - the others: one second less than their newest row, so the last page's
 *     value always differs from the one before it;
 *   - never later than the database's clock minus sync_commit_lag_s: a row
 *     stamped by a transaction that commits up to that long after it set
 *     `updated` was invisible to this read, and must still be >= the
 *     client's next starting point;
 *   - and never the value the client holds already (the request's, then the
 *     previous page's): the Windows client ignores a reply whose
 *     latest_update_time equals its saved time, and would skip that page.
 *     One less is sent instead.
 */
static uint32_t page_latest(const sync_call *call, uint32_t newest)
{
    if (call->n_rows == 0)
        return call->pages == 0 ? call->since : call->prev_latest;
    uint32_t latest = call->more && newest > 0 ? newest - 1 : newest;
    if (latest > call->ceiling)
        latest = call->ceiling;
    return latest == call->prev_latest && latest > 0 ? latest - 1 : latest;
}

/* WORKER. The ceiling from the database's own clock (the one `updated` is stamped with). */
static int read_ceiling(imgate_worker *w, sync_call *call)
{
    uint32_t now = 0;
    imgate_db_bind out[] = {IMGATE_DB_U32(&now)};
    int rc = buddy_api->db_query(w, IMGATE_DB_REPLICA, "SELECT UNIX_TIMESTAMP()", NULL, 0, out, 1);
    if (rc != 1)
        return rc < 0 ? rc : IMGATE_EDB;
    call->ceiling = now > call->commit_lag_s ? now - call->commit_lag_s : 0;
    return 0;
}

static void frame_page(sync_call *call, uint32_t latest)
{
    uint8_t head[HEAD_ROOM];
    size_t n = 0;
    head[n++] = TAG_USER_ID;
    n += put_varint(head + n, call->to.user_id);
    head[n++] = TAG_LATEST;
    n += put_varint(head + n, latest);
    call->body_off = HEAD_ROOM - n;
    memcpy(call->buf + call->body_off, head, n);
    size_t end = HEAD_ROOM + call->entries_len;
    if (call->more) {
        end += put_varint(call->buf + end, TAG_ATTACH);
        end += put_varint(call->buf + end, sizeof PAGED_SYNC_MORE - 1);
        memcpy(call->buf + end, PAGED_SYNC_MORE, sizeof PAGED_SYNC_MORE - 1);
        end += sizeof PAGED_SYNC_MORE - 1;
    }
    call->body_len = end - call->body_off;
}

static void fetch_page(imgate_worker *w, void *state, void *arg)
{
    sync_call *call = arg;
    const sync_kind *kind = call->kind;
    call->entries_len = call->n_rows = 0;
    call->more = 0;
    call->failed = 0;
    page_builder *b = calloc(1, sizeof *b);
    void *row = calloc(1, kind->row_size);
    if (b == NULL || row == NULL) {
        free(b);
        free(row);
        call->failed = IMGATE_ENOMEM;
        return;
    }
    b->call = call;
    b->row = row;
    if (call->ceiling == 0 && (call->failed = read_ceiling(w, call)) != 0) {
        free(row);
        free(b);
        return;
    }
    imgate_db_bind cols[16];
    size_t n_cols = kind->bind_row(row, cols);
    uint32_t limit = call->page_users + 1;
    imgate_db_bind params[] = {IMGATE_DB_U32(&call->cursor_updated), IMGATE_DB_U32(&call->cursor_updated),
                               IMGATE_DB_U32(&call->cursor_id), IMGATE_DB_U32(&limit)};
    int rc = buddy_api->db_query_rows(w, IMGATE_DB_REPLICA, call->since ? kind->sql_changed : kind->sql_full, params,
                                      4, cols, n_cols, on_row, b);
    if (rc < 0)
        call->failed = rc;
    if (call->failed == 0) {
        uint32_t latest = page_latest(call, b->last_updated);
        if (call->n_rows > 0) {
            call->cursor_updated = b->last_updated;
            call->cursor_id = b->last_id;
        }
        frame_page(call, latest);
        call->prev_latest = latest;
    }
    free(row);
    free(b);
}

/* --- loop thread ------------------------------------------------------------------------------- */

/*
 * Slots. A sync holds one from the moment its next page is to be read until that page has been
 * handed to the connection: sync_concurrency bounds the page buffers alive and the worker time
 * paged syncs take, whatever the number of clients syncing at once (after a restart, say). A
 * sync waiting for its reader to drain the previous page holds neither a slot nor a buffer, so
 * slow readers cannot starve the others. Syncs wanting a slot queue FIFO (turn by turn, a page
 * each) in this generation's state; a non-empty queue implies busy slots, whose jobs keep the
 * generation alive, and every released slot starts the next in line.
 */
static void page_ready(void *state, void *arg, int status);
static void next_page(sync_call *call);

static void release_slot(sync_call *call)
{
    if (!call->active)
        return;
    call->active = 0;
    call->bp->sync_active--;
    free(call->buf);
    call->buf = NULL;
    call->cap = 0;
}

static void finish(sync_call *call);

static void start_waiting(buddy_plugin *bp)
{
    while (bp->sync_waiting != NULL && bp->sync_active < bp->cfg.sync_concurrency) {
        sync_call *call = bp->sync_waiting;
        bp->sync_waiting = call->next_waiting;
        call->next_waiting = NULL;
        if (bp->sync_waiting == NULL)
            bp->sync_waiting_tail = NULL;
        imgate_conn_info info;
        if (buddy_api->conn_info(bp->self, call->to.conn_id, &info) != IMGATE_OK ||
            (call->buf = malloc(INITIAL_CAP)) == NULL) {
            finish(call); /* gone while it waited (or no memory) */
            continue;
        }
        call->cap = INITIAL_CAP;
        call->active = 1;
        bp->sync_active++;
        /* Keyed by the connection: its pages, and its other requests, complete in order. */
        buddy_api->submit_job(bp->self, call->to.conn_id, fetch_page, page_ready, call);
    }
}

static void want_slot(sync_call *call)
{
    buddy_plugin *bp = call->bp;
    if (bp->sync_waiting_tail)
        bp->sync_waiting_tail->next_waiting = call;
    else
        bp->sync_waiting = call;
    bp->sync_waiting_tail = call;
    if (bp->sync_active >= bp->cfg.sync_concurrency)
        buddy_api->metric_inc(bp->syncs_queued, 1);
    start_waiting(bp);
}

static void finish(sync_call *call)
{
    buddy_plugin *bp = call->bp;
    int had_slot = call->active;
    release_slot(call);
    buddy_conn *slot = buddy_conn_slot(bp, call->to.conn_id);
    if (slot)
        *((uint8_t *)slot + call->kind->slot_flag_offset) = 0;
    buddy_api->request_done(&call->to);
    free(call);
    if (had_slot)
        start_waiting(bp);
}

/* --- loop thread: one page after the other ------------------------------------------------------ */

static void pace_tick(void *state, void *arg) { next_page(arg); }

static void next_page(sync_call *call)
{
    buddy_plugin *bp = call->bp;
    imgate_conn_info info;
    if (buddy_api->conn_info(bp->self, call->to.conn_id, &info) != IMGATE_OK || info.kicked) {
        finish(call);
        return;
    }
    if (info.output_queued > call->page_bytes) {
        if (buddy_now_ms() - call->waiting_since_ms > STALL_MS) {
            buddy_api->metric_inc(bp->sync_abandoned, 1);
            buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "sync_stalled", 5,
                                   "event=sync_abandoned kind=%s conn=%llu user_id=%u pages=%u queued=%zu "
                                   "reason=reader_too_slow",
                                   call->kind->name, (unsigned long long)call->to.conn_id, call->to.user_id,
                                   call->pages, info.output_queued);
            finish(call);
            return;
        }
        if (buddy_api->timer_start(bp->self, PACE_MS, 0, pace_tick, call) != NULL)
            return;
        /* A replaced generation starts no timers: finish the reply unpaced rather than never. */
    }
    want_slot(call);
}

static void page_ready(void *state, void *arg, int status)
{
    sync_call *call = arg;
    buddy_plugin *bp = call->bp;
    if (status != IMGATE_OK || call->failed != 0) {
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "sync_failed", 5,
                               "event=sync_failed kind=%s conn=%llu user_id=%u page=%u status=%d reason=%s",
                               call->kind->name, (unsigned long long)call->to.conn_id, call->to.user_id, call->pages,
                               status != IMGATE_OK ? status : call->failed,
                               status != IMGATE_OK ? "job_refused" : "database");
        finish(call);
        return;
    }
    /* Fails for a gone connection, or one over its output cap (the core closes it). */
    int rc = buddy_api->send(bp->self, call->to.conn_id, call->to.service_id, call->kind->rsp_cid,
                             call->to.seq_num, call->buf + call->body_off, call->body_len);
    size_t frame = call->body_len + IMGATE_PDU_HEADER_LEN;
    release_slot(call);
    start_waiting(bp);
    if (rc != IMGATE_OK) {
        finish(call);
        return;
    }
    call->pages++;
    call->rows_total += call->n_rows;
    call->bytes_total += frame;
    buddy_api->metric_inc(bp->sync_pages, 1);
    buddy_api->metric_inc(bp->sync_rows, call->n_rows);
    buddy_api->metric_inc(bp->sync_bytes, frame);
    if (!call->more) {
        buddy_api->log_limited(bp->self, IMGATE_LOG_DEBUG, "sync_done", 50,
                               "event=sync_done kind=%s user_id=%u since=%u pages=%u rows=%llu bytes=%llu ms=%lld",
                               call->kind->name, call->to.user_id, call->since, call->pages,
                               (unsigned long long)call->rows_total, (unsigned long long)call->bytes_total,
                               buddy_now_ms() - call->started_ms);
        finish(call);
        return;
    }
    call->waiting_since_ms = buddy_now_ms();
    next_page(call);
}

void paged_sync_start(buddy_plugin *bp, const imgate_request *req, const sync_kind *kind, uint32_t since,
                      imgate_metric *counter)
{
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    buddy_conn *slot = buddy_conn_slot(bp, req->conn_id);
    uint8_t *running = slot ? (uint8_t *)slot + kind->slot_flag_offset : NULL;
    if (running == NULL || *running) {
        /* One at a time per connection: a second request would only hold a second copy. */
        buddy_api->metric_inc(bp->sync_refused, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_INFO, "sync_busy", 5,
                               "event=sync_refused kind=%s conn=%llu user_id=%u reason=already_running", kind->name,
                               (unsigned long long)req->conn_id, req->user_id);
        buddy_api->request_done(&to);
        return;
    }
    sync_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        buddy_api->request_done(&to);
        return;
    }
    call->bp = bp;
    call->kind = kind;
    call->to = to;
    call->since = since;
    call->page_users = bp->cfg.page_users;
    call->page_bytes = bp->cfg.page_bytes;
    call->commit_lag_s = bp->cfg.commit_lag_s;
    call->cursor_updated = since;
    call->prev_latest = since;
    call->started_ms = buddy_now_ms();
    *running = 1;
    buddy_api->metric_inc(counter, 1);
    want_slot(call);
}

void paged_sync_drop_waiting(buddy_plugin *bp)
{
    while (bp->sync_waiting) {
        sync_call *call = bp->sync_waiting;
        bp->sync_waiting = call->next_waiting;
        free(call->buf);
        free(call);
    }
    bp->sync_waiting_tail = NULL;
}
