/*
 * group_check.c — checks every group command shares: text against the
 * columns it goes into, id lists, the per-connection write budget, and which
 * member ids are real users.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"

long group_utf8_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    while (*p) {
        unsigned c = *p;
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            chars++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07;
        } else {
            return -1; /* a continuation byte first, 0xc0/0xc1 (overlong) or 0xf5.. */
        }
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        p += len;
        chars++;
    }
    return chars;
}

int group_text_has_content(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p > ' ' && *p != 0x7f)
            return 1;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t group_ids_unique(uint32_t *ids, size_t n)
{
    if (n < 2)
        return n;
    qsort(ids, n, sizeof *ids, cmp_u32);
    size_t out = 1;
    for (size_t i = 1; i < n; i++)
        if (ids[i] != ids[out - 1])
            ids[out++] = ids[i];
    return out;
}

int group_ids_contain(const uint32_t *ids, size_t n, uint32_t id)
{
    return n > 0 && bsearch(&id, ids, n, sizeof *ids, cmp_u32) != NULL;
}

/* The per-connection slot (conn_data): a fixed one-minute window. It survives a reload. */
typedef struct group_conn {
    uint64_t minute;
    uint32_t writes;
} group_conn;

int group_write_budget(group_plugin *gp, uint64_t conn_id)
{
    group_conn *gc = group_api->conn_data(gp->self, conn_id, sizeof *gc);
    if (gc == NULL)
        return -1; /* the connection is gone: nobody to answer */
    uint64_t minute = (uint64_t)time(NULL) / 60;
    if (gc->minute != minute) {
        gc->minute = minute;
        gc->writes = 0;
    }
    if (gc->writes >= gp->cfg.writes_per_minute)
        return -1;
    gc->writes++;
    return 0;
}

/* One statement text for every chunk (a short chunk repeats its first id), so the worker
 * prepares it once. IMUser.id is the primary key: each existing id counts once. */
#define USERS_CHUNK 32
static const char COUNT_USERS_SQL[] = "SELECT COUNT(*) FROM IMUser WHERE status <> 3 AND id IN "
                                      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

int group_db_count_users(imgate_worker *w, const uint32_t *ids, size_t n)
{
    int total = 0;
    for (size_t at = 0; at < n; at += USERS_CHUNK) {
        uint32_t chunk[USERS_CHUNK];
        imgate_db_bind in[USERS_CHUNK];
        for (size_t i = 0; i < USERS_CHUNK; i++) {
            chunk[i] = at + i < n ? ids[at + i] : ids[at];
            imgate_db_bind b = IMGATE_DB_U32(&chunk[i]);
            in[i] = b;
        }
        uint32_t found = 0;
        imgate_db_bind out[] = {IMGATE_DB_U32(&found)};
        int rc = group_api->db_query(w, IMGATE_DB_MASTER, COUNT_USERS_SQL, in, USERS_CHUNK, out, 1);
        if (rc < 0)
            return rc;
        total += (int)found;
    }
    return total;
}
