/* u64map.c — linear probing with backward-shift deletion (no tombstones). */
#include "u64map.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap)
{
    /* A multiplicative mix: connection ids are sequential and handler keys clustered. */
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void u64map_init(u64map *m)
{
    m->keys = NULL;
    m->values = NULL;
    m->cap = 0;
    m->len = 0;
}

void u64map_free(u64map *m)
{
    free(m->keys);
    free(m->values);
    u64map_init(m);
}

void *u64map_get(const u64map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->values[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static int grow(u64map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    uint64_t *nk = calloc(ncap, sizeof *nk);
    void **nv = calloc(ncap, sizeof *nv);
    if (nk == NULL || nv == NULL) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == 0)
            continue;
        size_t j = slot_of(m->keys[i], ncap);
        while (nk[j] != 0)
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = nk;
    m->values = nv;
    m->cap = ncap;
    return 0;
}

int u64map_put(u64map *m, uint64_t key, void *value)
{
    if (key == 0)
        return -1;
    /* Keep the load factor under 1/2 so probe runs stay short. */
    if ((m->len + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == 0)
        m->len++;
    m->keys[i] = key;
    m->values[i] = value;
    return 0;
}

void *u64map_del(u64map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return NULL;
        i = (i + 1) & (m->cap - 1);
    }
    void *old = m->values[i];
    m->len--;
    /* Backward-shift: move later members of the run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j] != 0; j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m->keys[j], m->cap);
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->keys[hole] = m->keys[j];
            m->values[hole] = m->values[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->values[hole] = NULL;
    return old;
}

int u64map_next(const u64map *m, size_t *pos, uint64_t *key, void **value)
{
    while (*pos < m->cap) {
        size_t i = (*pos)++;
        if (m->keys[i] != 0) {
            if (key)
                *key = m->keys[i];
            if (value)
                *value = m->values[i];
            return 1;
        }
    }
    return 0;
}
