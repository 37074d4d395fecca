/*
 * msg_reads.c — how many read jobs (history, by id, unread) this generation
 * has on the workers at once.
 *
 * Reads run on the same workers as the conversations' writes, and a queued
 * write waits behind whatever is queued before it on its worker. A few
 * clients keeping many heavy reads in flight (pages of audio rows, unread
 * over hundreds of sessions) could otherwise push other users' writes past
 * the job timeout, and refuse their messages. Reads beyond read_jobs_max wait
 * here, in arrival order; what waits is bounded by the core's in-flight cap
 * per connection (every read handler is tracked).
 */
#include <stdlib.h>

#include "message.h"

struct read_job {
    struct read_job *next;
    imgate_job_fn work;
    imgate_job_done_fn done;
    void *arg;
};

static void run_work(imgate_worker *w, void *state, void *arg)
{
    read_job *j = arg;
    j->work(w, state, j->arg);
}

static void start_waiting(msg_plugin *mp);

static void run_done(void *state, void *arg, int status)
{
    msg_plugin *mp = state;
    read_job *j = arg;
    mp->reads_running--;
    j->done(state, j->arg, status);
    free(j);
    start_waiting(mp);
}

static void start(msg_plugin *mp, read_job *j)
{
    mp->reads_running++;
    msg_api->submit_job(mp->self, 0, run_work, run_done, j); /* run_done runs in every case */
}

static void start_waiting(msg_plugin *mp)
{
    while (mp->reads_running < mp->cfg.read_jobs_max && mp->reads_head != NULL) {
        read_job *j = mp->reads_head;
        mp->reads_head = j->next;
        if (mp->reads_head == NULL)
            mp->reads_tail = NULL;
        start(mp, j);
    }
}

void msg_read_submit(msg_plugin *mp, imgate_job_fn work, imgate_job_done_fn done, void *arg)
{
    read_job *j = malloc(sizeof *j);
    if (j == NULL) {
        msg_api->submit_job(mp->self, 0, work, done, arg); /* no memory to wait: run it uncounted */
        return;
    }
    j->next = NULL;
    j->work = work;
    j->done = done;
    j->arg = arg;
    if (mp->reads_running < mp->cfg.read_jobs_max && mp->reads_head == NULL) {
        start(mp, j);
        return;
    }
    if (mp->reads_tail)
        mp->reads_tail->next = j;
    else
        mp->reads_head = j;
    mp->reads_tail = j;
    msg_api->metric_inc(mp->reads_waited, 1);
}
