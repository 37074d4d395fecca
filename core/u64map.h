/*
 * u64map.h — an open-addressing hash map from a non-zero uint64 key to a
 * pointer. Used for the handler map, the connection table and the session
 * registry. Not thread-safe: each map belongs to one thread.
 */
#ifndef IMGATE_U64MAP_H
#define IMGATE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct u64map {
    uint64_t *keys; /* 0 = empty slot */
    void **values;
    size_t cap;     /* power of two */
    size_t len;
} u64map;

void u64map_init(u64map *m);
void u64map_free(u64map *m);
/* Returns the value, or NULL. */
void *u64map_get(const u64map *m, uint64_t key);
/* Inserts or replaces. Returns 0, or -1 when out of memory (or key == 0). */
int u64map_put(u64map *m, uint64_t key, void *value);
/* Removes the key; returns the old value or NULL. */
void *u64map_del(u64map *m, uint64_t key);

/* Iteration: for (size_t i = 0; u64map_next(m, &i, &k, &v);) ... Do not modify during it. */
int u64map_next(const u64map *m, size_t *pos, uint64_t *key, void **value);

#endif
