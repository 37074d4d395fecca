/*
 * imgate/services.h — the service tables imgate's own plugins offer each
 * other (and any third-party plugin) through export_service / import_service.
 *
 * A service is a versioned table of functions; the importer calls them with
 * the `state` its imgate_service slot holds. Exporter and importer live in the
 * same generation, so neither can be unloaded while the other runs. Every call
 * below runs on the LOOP THREAD only. Adding a call at the end of a table
 * raises its version; an importer asks for the version it needs.
 */
#ifndef IMGATE_SERVICES_H
#define IMGATE_SERVICES_H

#include <stddef.h>
#include <stdint.h>

/* --- imgate.users (exported by the login plugin) ---------------------------------------------- */

#define IMGATE_USERS_SERVICE "imgate.users"
#define IMGATE_USERS_VERSION 1

/* One IMUser row, as UserInfo needs it. Buffers hold the column's longest
 * UTF-8 value plus the NUL (a varchar(n) column holds n characters, up to 4
 * bytes each). */
typedef struct imgate_user {
    uint32_t id;
    uint32_t sex;
    uint32_t depart_id;
    uint32_t status;
    uint32_t updated;
    char name[129];      /* varchar(32): the login name */
    char domain[129];    /* varchar(32) */
    char nick[129];      /* varchar(32) */
    char phone[45];      /* varchar(11) */
    char email[257];     /* varchar(64) */
    char avatar[1021];   /* varchar(255) */
    char sign_info[513]; /* varchar(128) */
} imgate_user;

typedef struct imgate_users_v1 {
    /* The row of a user logged in on this node, as loaded at login and kept
     * up to date by update(); NULL when not cached (read MySQL then). The
     * pointer is valid until the caller returns to the loop. */
    const imgate_user *(*get)(void *state, uint32_t user_id);
    /* Replaces the cached row of u->id, if there is one (after a profile
     * change the caller has committed). */
    void (*update)(void *state, const imgate_user *u);
} imgate_users_v1;

/* --- imgate.groups (exported by the group plugin) --------------------------------------------- */

#define IMGATE_GROUPS_SERVICE "imgate.groups"
#define IMGATE_GROUPS_VERSION 1

typedef struct imgate_group_member {
    uint32_t user_id;
    uint32_t joined; /* unix seconds: history before it is not theirs to read */
} imgate_group_member;

/* A group's facts and current members. */
typedef struct imgate_group_view {
    uint32_t group_id;
    uint32_t type;    /* GROUP_TYPE_NORMAL or GROUP_TYPE_TMP */
    uint32_t creator;
    uint32_t version;
    size_t n_members;
    const imgate_group_member *members; /* sorted by user_id */
} imgate_group_view;

/* status: IMGATE_OK (view filled), IMGATE_EINVAL (no such group, or it is
 * deleted: view NULL), IMGATE_EUNAVAIL (MySQL and Redis both failed: view NULL).
 * The view is valid only during the call. */
typedef void (*imgate_group_fn)(void *arg, int status, const imgate_group_view *view);

typedef struct imgate_groups_v1 {
    /* Looks the group up (MySQL is the truth, Redis and memory caches) and
     * calls cb exactly once, maybe before returning when the answer is
     * cached. Returns IMGATE_OK, or an error when cb will not run. */
    int (*get)(void *state, uint32_t group_id, imgate_group_fn cb, void *arg);
} imgate_groups_v1;

/* The member entry of `user_id` in a view, or NULL (binary search). */
static inline const imgate_group_member *imgate_group_find_member(const imgate_group_view *v, uint32_t user_id)
{
    size_t lo = 0, hi = v->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->members[mid].user_id == user_id)
            return &v->members[mid];
        if (v->members[mid].user_id < user_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

#endif
