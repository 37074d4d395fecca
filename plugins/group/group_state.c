/* group_state.c — a group's members and shield list as one value (see group.h). */
#include <stdlib.h>

#include "group.h"

int group_state_add_member(group_state *s, uint32_t user_id, uint32_t joined)
{
    if (s->n_members == s->cap_members) {
        size_t ncap = s->cap_members ? s->cap_members * 2 : 16;
        imgate_group_member *n = realloc(s->members, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        s->members = n;
        s->cap_members = ncap;
    }
    s->members[s->n_members].user_id = user_id;
    s->members[s->n_members].joined = joined;
    s->n_members++;
    return 0;
}

int group_state_add_shielded(group_state *s, uint32_t user_id)
{
    if (s->n_shielded == s->cap_shielded) {
        size_t ncap = s->cap_shielded ? s->cap_shielded * 2 : 8;
        uint32_t *n = realloc(s->shielded, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        s->shielded = n;
        s->cap_shielded = ncap;
    }
    s->shielded[s->n_shielded++] = user_id;
    return 0;
}

static int by_user(const void *a, const void *b)
{
    const imgate_group_member *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return x->joined < y->joined ? -1 : x->joined > y->joined;
}

void group_state_normalise(group_state *s)
{
    if (s->n_members > 1) {
        qsort(s->members, s->n_members, sizeof *s->members, by_user);
        size_t out = 0;
        for (size_t i = 0; i < s->n_members; i++) {
            /* Equal ids are adjacent, the latest join time last: it wins. */
            if (out > 0 && s->members[out - 1].user_id == s->members[i].user_id)
                s->members[out - 1] = s->members[i];
            else
                s->members[out++] = s->members[i];
        }
        s->n_members = out;
    }
    s->n_shielded = group_ids_unique(s->shielded, s->n_shielded);
}

void group_state_free(group_state *s)
{
    free(s->members);
    free(s->shielded);
    s->members = NULL;
    s->shielded = NULL;
    s->n_members = s->cap_members = s->n_shielded = s->cap_shielded = 0;
}
