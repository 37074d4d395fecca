/*
 * users.c — the IMUser rows of the users logged in on this node: filled at
 * login, dropped when the user's last connection here closes, served to other
 * plugins as imgate.users (include/imgate/services.h).
 */
#include <stdlib.h>

#include "login.h"

void login_users_put(login_plugin *lp, const imgate_user *u)
{
    imgate_user *copy = u64map_get(&lp->users, u->id);
    if (copy == NULL) {
        copy = malloc(sizeof *copy);
        if (copy == NULL)
            return;
        if (u64map_put(&lp->users, u->id, copy) != 0) {
            free(copy);
            return;
        }
    }
    *copy = *u;
}

void login_users_drop(login_plugin *lp, uint32_t user_id) { free(u64map_del(&lp->users, user_id)); }

void login_users_free(login_plugin *lp)
{
    size_t pos = 0;
    void *v;
    while (u64map_next(&lp->users, &pos, NULL, &v))
        free(v);
    u64map_free(&lp->users);
}

static const imgate_user *users_get(void *state, uint32_t user_id)
{
    login_plugin *lp = state;
    return u64map_get(&lp->users, user_id);
}

static void users_update(void *state, const imgate_user *u)
{
    login_plugin *lp = state;
    if (u64map_get(&lp->users, u->id) != NULL)
        login_users_put(lp, u);
}

const imgate_users_v1 login_users_service = {users_get, users_update};
