/*
 * file_task.h — transfer tasks in Redis, between the request that creates
 * one and the file logins that use it.
 *
 * A task is the hash imgate:file:task:<task_id> {from, to, size, mode, name,
 * created} with a TTL ([plugin.file] task_ttl_s). Each file login claims its
 * role in the same hash (field c<role> = "<node>/<conn id>"), atomically, in
 * one Lua script that also checks the user and the mode: a role is taken at
 * most once, which is what refuses a reused task id, and the second party of
 * an online transfer learns where the first one is. Redis, not the plugin,
 * holds this so a reload (or another node) sees the same tasks.
 *
 * Every call is loop-thread; callbacks run exactly once.
 */
#ifndef IMGATE_FILE_TASK_H
#define IMGATE_FILE_TASK_H

#include "file.h"

#define FILE_NAME_MAX 512 /* bytes; IMTransmitFile.fileName is varchar(512) */
#define FILE_CONN_REF_MAX 96

typedef enum file_claim_status {
    FILE_CLAIM_OK,
    FILE_CLAIM_UNKNOWN,     /* no such task (never created, expired, or over) */
    FILE_CLAIM_NOT_PARTY,   /* the user is not the task's sender (roles 1, 3) or receiver (2, 4) */
    FILE_CLAIM_WRONG_MODE,  /* an online role on an offline task, or the reverse */
    FILE_CLAIM_TAKEN,       /* someone already holds this role of the task */
    FILE_CLAIM_UNAVAILABLE, /* Redis did not answer */
} file_claim_status;

typedef struct file_claim {
    file_claim_status status;
    uint32_t from_id, to_id, size;
    char name[FILE_NAME_MAX + 1];
    /* OK, online: the other party's connection ("" if not in yet); TAKEN: who holds the role */
    char peer_ref[FILE_CONN_REF_MAX];
} file_claim;

enum { FILE_CREATE_OK, FILE_CREATE_TOO_MANY, FILE_CREATE_UNAVAILABLE };
typedef void (*file_task_created_fn)(file_plugin *fp, void *arg, int status);
typedef void (*file_task_claimed_fn)(file_plugin *fp, void *arg, const file_claim *claim);

/* Stores a new task: cb(FILE_CREATE_OK) once it is in Redis, FILE_CREATE_TOO_MANY when the sender
 * already holds max_tasks live tasks. */
void file_task_create(file_plugin *fp, const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size,
                      uint32_t mode, const char *name, file_task_created_fn cb, void *arg);
/* Claims `file_role` (1..3) of the task for `user_id` on connection `conn_id`. A role held by
 * `stale_ref` (a connection of this node found gone: a restart) is taken over; NULL = none. */
void file_task_claim(file_plugin *fp, const char *task_id, uint32_t user_id, uint32_t file_role, uint64_t conn_id,
                     const char *stale_ref, file_task_claimed_fn cb, void *arg);
/* Gives the role back (the connection went before the transfer began), if it still holds it. */
void file_task_release(file_plugin *fp, const char *task_id, uint32_t file_role, uint64_t conn_id);
/* The task is over (done, cancelled, stored): no login can use it again. */
void file_task_end(file_plugin *fp, const char *task_id, uint32_t from_id);

/* "<node>/<conn id>": how a file connection is named in a task. */
void file_conn_ref(const file_plugin *fp, uint64_t conn_id, char out[FILE_CONN_REF_MAX]);
/* The connection id a reference names, if it is on this node; 0 otherwise. */
uint64_t file_conn_ref_local(const file_plugin *fp, const char *ref);

#endif
