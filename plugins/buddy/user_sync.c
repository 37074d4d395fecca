/*
 * user_sync.c — CID_BUDDY_LIST_ALL_USER_REQUEST -> IMAllUserRsp (protocol H.8),
 * incremental and correct.
 *
 * latest_update_time 0: every user whose status is not 3 (left). Any other
 * time T: every user with updated >= T, those who left included, so clients
 * drop them. The boundary is >=, not >: `updated` has one-second resolution,
 * and a user edited later in the same second a client last synced would
 * otherwise never reach it; the price is that the users of second T are sent
 * again (clients store them idempotently). Nothing is cached: every request
 * reads MySQL, so an edit made there at any moment is in the next sync (the
 * reference compares the client's time with a "last update" it never
 * advances, protocol J.5).
 *
 * The reply is paged (paged_sync.h): a 20,000-user directory takes a few
 * pages of at most sync_page_bytes each.
 */
#include <stddef.h>

#include "IM.Buddy.pb-c.h"
#include "paged_sync.h"
#include "user_row.h"

/* Keyset paging over (updated, id); migration 030 gives IMUser the index for it. NULL status is
 * not 3: `<=>` keeps such rows in the full list. */
#define USERS_PAGE_WHERE "updated >= ? AND (updated > ? OR id > ?) ORDER BY updated, id LIMIT ?"

static size_t bind_user(void *row, imgate_db_bind *cols)
{
    user_row_binds(row, cols);
    return USER_ROW_NCOLS;
}

static void user_key(const void *row, uint32_t *updated, uint32_t *id)
{
    const imgate_user *u = row;
    *updated = u->updated;
    *id = u->id;
}

static const ProtobufCMessage *user_message(const void *row, void *scratch)
{
    _Static_assert(sizeof(IM__BaseDefine__UserInfo) <= SYNC_SCRATCH_SIZE, "scratch too small");
    IM__BaseDefine__UserInfo *info = scratch;
    user_row_to_info(row, info);
    return &info->base;
}

static const sync_kind users_kind = {
    .name = "users",
    .rsp_cid = CID_BUDDY_LIST_ALL_USER_RESPONSE,
    .sql_full = "SELECT " USER_ROW_COLUMNS " FROM IMUser WHERE NOT (status <=> 3) AND " USERS_PAGE_WHERE,
    .sql_changed = "SELECT " USER_ROW_COLUMNS " FROM IMUser WHERE " USERS_PAGE_WHERE,
    .row_size = sizeof(imgate_user),
    .bind_row = bind_user,
    .row_key = user_key,
    .row_message = user_message,
    .slot_flag_offset = offsetof(buddy_conn, user_sync_running),
};

void buddy_on_all_users(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMAllUserReq *in = (const IM__Buddy__IMAllUserReq *)body;
    paged_sync_start(bp, req, &users_kind, in->latest_update_time, bp->user_syncs);
}
