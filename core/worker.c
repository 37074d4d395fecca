/* worker.c — see worker.h. */
#include "worker.h"

#include <event2/event.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgate/plugin.h"
#include "log.h"
#include "metrics.h"

struct job {
    job *next;
    worker_work_fn work;
    worker_write_fn write; /* set for write jobs */
    worker_done_fn done;
    void *arg;
    int status;
    uint64_t queued_ms; /* monotonic, when submitted */
};

struct worker_pool {
    struct imgate_worker *workers;
    int n;
    int queue_max;
    int batch_max;
    int queued;       /* loop thread: submitted and not yet completed */
    unsigned next_rr; /* round robin for affinity 0 */
    int stopping;
    /* finished jobs waiting for the loop thread */
    pthread_mutex_t done_lock;
    job *done_head, *done_tail;
    struct event *done_event;
    struct event *expiry; /* the watch over queued jobs' age */
    uint32_t job_timeout_ms;
    metric_series *depth, *batches, *batched_writes, *batch_fallbacks, *expired;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- on the worker thread --------------------------------------------------------------------- */

static int write_status(int rc)
{
    if (rc == 0)
        return IMGATE_OK;
    return rc == IMGATE_EUNAVAIL ? IMGATE_EUNAVAIL : IMGATE_EDB;
}

/* One write in a transaction of its own. */
static void run_write_alone(struct imgate_worker *w, job *j)
{
    db_conn *db = &w->db[IMGATE_DB_MASTER];
    int rc = db_begin(db);
    if (rc != IMGATE_OK) {
        j->status = rc;
        return;
    }
    rc = j->write(w, j->arg);
    if (rc != 0) {
        db_rollback(db);
        j->status = write_status(rc);
        return;
    }
    j->status = db_commit(db);
}

/* Several writes in one transaction; on any failure, each again alone. */
static void run_writes(struct imgate_worker *w, job **batch, int n)
{
    worker_pool *pool = w->pool;
    w->in_batch = 1;
    if (n == 1) {
        run_write_alone(w, batch[0]);
        w->in_batch = 0;
        return;
    }
    metrics_inc(pool->batches, 1);
    metrics_inc(pool->batched_writes, (uint64_t)n);
    db_conn *db = &w->db[IMGATE_DB_MASTER];
    int rc = db_begin(db);
    if (rc == IMGATE_OK) {
        int failed = 0;
        for (int i = 0; i < n && !failed; i++)
            failed = batch[i]->write(w, batch[i]->arg) != 0;
        if (!failed) {
            rc = db_commit(db);
            if (rc == IMGATE_OK || rc == IMGATE_EUNAVAIL) {
                /* Committed, or the outcome is unknown (the link died during COMMIT): never rerun
                 * what may be stored. Unknown is reported as not stored. */
                for (int i = 0; i < n; i++)
                    batch[i]->status = rc;
                w->in_batch = 0;
                return;
            }
        } else {
            db_rollback(db);
        }
        metrics_inc(pool->batch_fallbacks, 1);
    }
    for (int i = 0; i < n; i++)
        run_write_alone(w, batch[i]);
    w->in_batch = 0;
}

static void finished(struct imgate_worker *w, job *j)
{
    worker_pool *pool = w->pool;
    j->next = NULL;
    pthread_mutex_lock(&pool->done_lock);
    if (pool->done_tail)
        pool->done_tail->next = j;
    else
        pool->done_head = j;
    pool->done_tail = j;
    pthread_mutex_unlock(&pool->done_lock);
    event_active(pool->done_event, EV_READ, 0);
}

/* Loop thread, every 250 ms: jobs queued for too long complete as "unavailable", unrun. */
static void expire_jobs(evutil_socket_t fd, short what, void *arg)
{
    worker_pool *pool = arg;
    uint64_t now = mono_ms();
    for (int i = 0; i < pool->n; i++) {
        struct imgate_worker *w = &pool->workers[i];
        job *expired = NULL, **tail = &expired;
        pthread_mutex_lock(&w->lock);
        /* Queues are FIFO: only a prefix can be old enough. */
        while (w->head && now - w->head->queued_ms >= pool->job_timeout_ms) {
            job *j = w->head;
            w->head = j->next;
            j->next = NULL;
            *tail = j;
            tail = &j->next;
        }
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        for (job *j = expired, *next; j; j = next) {
            next = j->next;
            j->status = IMGATE_EUNAVAIL;
            metrics_inc(pool->expired, 1);
            finished(w, j);
        }
    }
}

static void *worker_main(void *p)
{
    struct imgate_worker *w = p;
    job **batch = calloc((size_t)w->pool->batch_max, sizeof *batch);
    /* Connector/C needs per-thread init for threads it did not create. */
    mysql_thread_init();
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->wake, &w->lock);
        job *j = w->head;
        if (j == NULL) { /* stop requested and queue empty */
            pthread_mutex_unlock(&w->lock);
            break;
        }
        int n = 0;
        if (j->write && batch != NULL) {
            /* This write and the writes queued right behind it, in order. */
            while (w->head && w->head->write && n < w->pool->batch_max) {
                batch[n++] = w->head;
                w->head = w->head->next;
            }
        } else {
            w->head = j->next;
        }
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);

        if (n > 0) {
            run_writes(w, batch, n);
            for (int i = 0; i < n; i++)
                finished(w, batch[i]);
            continue;
        }
        if (j->write) { /* no batch array (out of memory): alone */
            w->in_batch = 1;
            run_write_alone(w, j);
            w->in_batch = 0;
        } else if (j->work) {
            j->work(w, j->arg);
        }
        finished(w, j);
    }
    free(batch);
    db_conn_discard(&w->db[0]);
    db_conn_discard(&w->db[1]);
    mysql_thread_end();
    return NULL;
}

/* --- on the loop thread ----------------------------------------------------------------------- */

/* Runs every finished job's completion, in finishing order. */
static void run_completions(evutil_socket_t fd, short what, void *arg)
{
    worker_pool *pool = arg;
    pthread_mutex_lock(&pool->done_lock);
    job *j = pool->done_head;
    pool->done_head = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->done_lock);
    while (j) {
        job *next = j->next;
        pool->queued--;
        if (j->done)
            j->done(j->arg, j->status);
        free(j);
        j = next;
    }
    metrics_gauge_set(pool->depth, pool->queued);
}

worker_pool *worker_pool_start(struct event_base *base, int n, int queue_max, int batch_max, uint32_t job_timeout_ms,
                               const db_settings *db_cfg)
{
    worker_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->n = n;
    pool->queue_max = queue_max;
    pool->batch_max = batch_max > 0 ? batch_max : 1;
    pool->job_timeout_ms = job_timeout_ms;
    pool->expired = metrics_counter("imgate_worker_jobs_expired_total", "");
    pool->depth = metrics_gauge("imgate_worker_queue_depth", "");
    pool->batches = metrics_counter("imgate_write_batches_total", "");
    pool->batched_writes = metrics_counter("imgate_batched_writes_total", "");
    pool->batch_fallbacks = metrics_counter("imgate_write_batch_fallbacks_total", "");
    pthread_mutex_init(&pool->done_lock, NULL);
    pool->done_event = event_new(base, -1, 0, run_completions, pool);
    pool->expiry = event_new(base, -1, EV_PERSIST, expire_jobs, pool);
    if (pool->expiry) {
        struct timeval tv = {0, 250 * 1000};
        event_add(pool->expiry, &tv);
    }
    pool->workers = calloc((size_t)n, sizeof *pool->workers);
    if (pool->done_event == NULL || pool->workers == NULL) {
        free(pool->workers);
        if (pool->done_event)
            event_free(pool->done_event);
        free(pool);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        struct imgate_worker *w = &pool->workers[i];
        w->index = i;
        w->pool = pool;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        db_conn_init(&w->db[0], db_cfg->pool[0]);
        db_conn_init(&w->db[1], db_cfg->pool[1]);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            log_error("event=worker_start_failed index=%d", i);
            pool->n = i;
            worker_pool_stop(pool);
            return NULL;
        }
    }
    return pool;
}

static int enqueue(worker_pool *p, uint64_t affinity, worker_work_fn work, worker_write_fn write, worker_done_fn done,
                   void *arg)
{
    if (p->stopping || p->queued >= p->queue_max)
        return -1;
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -1;
    j->work = work;
    j->write = write;
    j->done = done;
    j->arg = arg;
    j->queued_ms = mono_ms();
    struct imgate_worker *w = &p->workers[affinity ? affinity % (uint64_t)p->n : p->next_rr++ % (unsigned)p->n];
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    p->queued++;
    metrics_gauge_set(p->depth, p->queued);
    return 0;
}

int worker_pool_submit(worker_pool *p, uint64_t affinity, worker_work_fn work, worker_done_fn done, void *arg)
{
    return enqueue(p, affinity, work, NULL, done, arg);
}

int worker_pool_submit_write(worker_pool *p, uint64_t affinity, worker_write_fn write, worker_done_fn done,
                             void *arg)
{
    if (write == NULL)
        return -1;
    return enqueue(p, affinity, NULL, write, done, arg);
}

int worker_pool_in_flight(const worker_pool *p) { return p->queued; }

void worker_pool_stop(worker_pool *p)
{
    if (p == NULL)
        return;
    p->stopping = 1;
    for (int i = 0; i < p->n; i++) {
        struct imgate_worker *w = &p->workers[i];
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; i < p->n; i++)
        pthread_join(p->workers[i].thread, NULL);
    /* Every job has finished; run the completions still waiting. */
    run_completions(-1, 0, p);
    for (int i = 0; i < p->n; i++) {
        pthread_mutex_destroy(&p->workers[i].lock);
        pthread_cond_destroy(&p->workers[i].wake);
    }
    event_free(p->done_event);
    if (p->expiry)
        event_free(p->expiry);
    pthread_mutex_destroy(&p->done_lock);
    free(p->workers);
    free(p);
}
