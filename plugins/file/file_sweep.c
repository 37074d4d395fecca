/*
 * file_sweep.c — expiry, every sweep_interval_s on a worker:
 *   - offline files listed longer than offline_ttl_s (0 = never) lose their
 *     row and their file (a batch per sweep);
 *   - partial uploads nobody has written to for upload_stale_s (left by a
 *     crash: a live upload's own close removes its partial file) are removed.
 * Unused task ids expire in Redis by themselves (task_ttl_s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "file.h"
#include "file_store.h"

#define SWEEP_BATCH 200

typedef struct sweep_call {
    file_plugin *fp;
    char dir[1025];
    long long offline_ttl_s, upload_stale_s;
    /* the row being fetched, and the expired ones */
    uint32_t id;
    char task_id[65];
    uint32_t ids[SWEEP_BATCH];
    char tasks[SWEEP_BATCH][FILE_TASK_ID_LEN + 1];
    size_t n;
    int expired, partial;
} sweep_call;

static int keep_expired(void *ctx)
{
    sweep_call *c = ctx;
    if (c->n < SWEEP_BATCH && file_task_id_valid(c->task_id)) {
        c->ids[c->n] = c->id;
        memcpy(c->tasks[c->n], c->task_id, FILE_TASK_ID_LEN + 1); /* valid: exactly 36 characters */
        c->n++;
    }
    return 0;
}

static void sweep_job(imgate_worker *w, void *state, void *arg)
{
    sweep_call *c = arg;
    time_t now = time(NULL);
    if (c->offline_ttl_s > 0) {
        uint32_t before = (uint32_t)(now - c->offline_ttl_s);
        uint32_t limit = SWEEP_BATCH;
        imgate_db_bind in[] = {IMGATE_DB_U32(&before), IMGATE_DB_U32(&limit)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&c->id), IMGATE_DB_STR_OUT(c->task_id)};
        if (file_api->db_query_rows(w, IMGATE_DB_MASTER,
                                    "SELECT id, taskId FROM IMTransmitFile WHERE status = 0 AND created < ?"
                                    " ORDER BY created LIMIT ?",
                                    in, 2, out, 2, keep_expired, c) >= 0) {
            for (size_t i = 0; i < c->n; i++) {
                /* The row first: a file nobody lists is harmless, a listed file that is gone is not. */
                imgate_db_bind del[] = {IMGATE_DB_U32(&c->ids[i])};
                if (file_api->db_exec(w, "DELETE FROM IMTransmitFile WHERE id = ?", del, 1, NULL) == 1) {
                    file_store_remove(c->dir, c->tasks[i]);
                    c->expired++;
                }
            }
        }
    }
    c->partial = file_store_sweep_partial(c->dir, c->upload_stale_s, now);
}

static void swept(void *state, void *arg, int status)
{
    sweep_call *c = arg;
    file_plugin *fp = c->fp;
    fp->sweep_running = 0;
    if (status == IMGATE_OK && (c->expired || c->partial)) {
        file_api->metric_inc(fp->m_expired, (uint64_t)c->expired);
        file_api->log(fp->self, IMGATE_LOG_INFO, "event=sweep expired=%d partial_removed=%d", c->expired, c->partial);
    }
    free(c);
}

void file_sweep_tick(void *state, void *arg)
{
    file_plugin *fp = state;
    if (fp->sweep_running)
        return;
    sweep_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->fp = fp;
    snprintf(c->dir, sizeof c->dir, "%s", fp->cfg.storage_dir);
    c->offline_ttl_s = fp->cfg.offline_ttl_s;
    c->upload_stale_s = fp->cfg.upload_stale_s;
    fp->sweep_running = 1;
    file_api->submit_job(fp->self, 0, sweep_job, swept, c);
}
