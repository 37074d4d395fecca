/* conn_set.c — linear probing with tombstones; rebuilt when tombstones pile up. */
#include "conn_set.h"

#include <stdlib.h>

#define DELETED UINT64_MAX

static size_t home(uint64_t id, size_t cap) { return (size_t)(id * 0x9e3779b97f4a7c15ULL) & (cap - 1); }

static int rebuild(conn_set *s, size_t cap)
{
    uint64_t *n = calloc(cap, sizeof *n);
    if (n == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t id = s->slots[i];
        if (id == 0 || id == DELETED)
            continue;
        size_t j = home(id, cap);
        while (n[j] != 0)
            j = (j + 1) & (cap - 1);
        n[j] = id;
    }
    free(s->slots);
    s->slots = n;
    s->cap = cap;
    s->used = s->live;
    return 0;
}

int conn_set_has(const conn_set *s, uint64_t id)
{
    if (s->cap == 0 || id == 0 || id == DELETED)
        return 0;
    for (size_t i = home(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id)
            return 1;
        if (s->slots[i] == 0)
            return 0;
    }
}

int conn_set_add(conn_set *s, uint64_t id)
{
    if (id == 0 || id == DELETED)
        return -1;
    if (conn_set_has(s, id))
        return 0;
    if ((s->used + 1) * 2 > s->cap && rebuild(s, s->cap ? (s->live * 4 > s->cap ? s->cap * 2 : s->cap) : 64) != 0)
        return -1;
    size_t i = home(id, s->cap);
    while (s->slots[i] != 0 && s->slots[i] != DELETED)
        i = (i + 1) & (s->cap - 1);
    if (s->slots[i] == 0)
        s->used++;
    s->slots[i] = id;
    s->live++;
    return 1;
}

void conn_set_remove(conn_set *s, uint64_t id)
{
    if (s->cap == 0 || id == 0 || id == DELETED)
        return;
    for (size_t i = home(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id) {
            s->slots[i] = DELETED;
            s->live--;
            return;
        }
        if (s->slots[i] == 0)
            return;
    }
}

void conn_set_free(conn_set *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->used = s->live = 0;
}
