/*
 * departments.c — CID_BUDDY_LIST_DEPARTMENT_REQUEST -> IMDepartmentRsp
 * (protocol H.8): the departments changed since latest_update_time.
 *
 * The reference sends updated > T. We send updated >= T for the reason
 * user_sync.c gives (a department created later in the second a client last
 * synced would never reach it); the departments of second T come again. The
 * reply's latest_update_time is the newest change returned, or the request's
 * when nothing changed, and the reply is paged like the user list.
 */
#include <stddef.h>

#include "IM.Buddy.pb-c.h"
#include "paged_sync.h"

typedef struct depart_row {
    uint32_t id, priority, parent_id, status, updated;
    char name[257]; /* varchar(64): up to 4 bytes a character, and the NUL */
} depart_row;

static size_t bind_depart(void *row, imgate_db_bind *cols)
{
    depart_row *d = row;
    imgate_db_bind b[] = {IMGATE_DB_U32(&d->id),        IMGATE_DB_U32(&d->priority), IMGATE_DB_STR_OUT(d->name),
                          IMGATE_DB_U32(&d->parent_id), IMGATE_DB_U32(&d->status),   IMGATE_DB_U32(&d->updated)};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        cols[i] = b[i];
    return sizeof b / sizeof b[0];
}

static void depart_key(const void *row, uint32_t *updated, uint32_t *id)
{
    const depart_row *d = row;
    *updated = d->updated;
    *id = d->id;
}

static const ProtobufCMessage *depart_message(const void *row, void *scratch)
{
    _Static_assert(sizeof(IM__BaseDefine__DepartInfo) <= SYNC_SCRATCH_SIZE, "scratch too small");
    const depart_row *d = row;
    IM__BaseDefine__DepartInfo *info = scratch;
    im__base_define__depart_info__init(info);
    info->dept_id = d->id;
    info->priority = d->priority;
    info->dept_name = (char *)d->name;
    info->parent_dept_id = d->parent_id;
    /* dept_status is a required enum: a value clients do not know would make them drop the whole
     * reply, so any status but 0 is sent as deleted. */
    info->dept_status =
        (IM__BaseDefine__DepartmentStatusType)(d->status == DEPT_STATUS_OK ? DEPT_STATUS_OK : DEPT_STATUS_DELETE);
    return &info->base;
}

#define DEPARTS_SELECT                                                                                          \
    "SELECT id, priority, departName, parentId, status, updated FROM IMDepart WHERE updated >= ? AND (updated > ? " \
    "OR id > ?) ORDER BY updated, id LIMIT ?"

static const sync_kind departments_kind = {
    .name = "departments",
    .rsp_cid = CID_BUDDY_LIST_DEPARTMENT_RESPONSE,
    .sql_full = DEPARTS_SELECT,
    .sql_changed = DEPARTS_SELECT,
    .row_size = sizeof(depart_row),
    .bind_row = bind_depart,
    .row_key = depart_key,
    .row_message = depart_message,
    .slot_flag_offset = offsetof(buddy_conn, dept_sync_running),
};

void buddy_on_departments(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMDepartmentReq *in = (const IM__Buddy__IMDepartmentReq *)body;
    paged_sync_start(bp, req, &departments_kind, in->latest_update_time, bp->dept_syncs);
}
