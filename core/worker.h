/*
 * worker.h — the pool of threads that run blocking work (SQL, disk, hashing).
 *
 * Each worker has its own queue and its own database connections. A job with
 * a non-zero affinity key always goes to the same worker, so jobs of one key
 * (a connection, a conversation) run, and complete, in submission order.
 * Completions travel back to the loop thread through one wake-up event and
 * run there in the order the jobs finished.
 *
 * Write jobs are batched: a worker that takes a write job from its queue
 * also takes the write jobs queued right behind it (up to the batch limit)
 * and runs them in one transaction on its master connection, so a burst of
 * writes costs one COMMIT. If one write of a batch fails, the batch is rolled
 * back and each write rerun in a transaction of its own.
 */
#ifndef IMGATE_WORKER_H
#define IMGATE_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "db.h"

struct event_base;
typedef struct worker_pool worker_pool;
typedef struct job job;

/* The opaque imgate_worker of the plugin ABI. */
struct imgate_worker {
    int index;
    worker_pool *pool;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job *head, *tail; /* pending jobs */
    int stop;
    db_conn db[2];    /* IMGATE_DB_MASTER, IMGATE_DB_REPLICA */
    int in_batch;     /* running a batched write: explicit transactions are refused */
};

typedef void (*worker_work_fn)(struct imgate_worker *w, void *arg);
/* A write job: 0, or a negative IMGATE_* code (any other non-zero counts as IMGATE_EDB). */
typedef int (*worker_write_fn)(struct imgate_worker *w, void *arg);
/* Completion on the loop thread. status: IMGATE_OK, or for a write IMGATE_EDB / IMGATE_EUNAVAIL. */
typedef void (*worker_done_fn)(void *arg, int status);

/* Starts `n` workers. `db_cfg` describes the databases (not owned; must outlive the pool). A job
 * still queued (not started) after `job_timeout_ms` completes with IMGATE_EUNAVAIL without
 * running: when every worker is stuck (a hung database), requests are refused promptly instead
 * of waiting behind them. */
worker_pool *worker_pool_start(struct event_base *base, int n, int queue_max, int batch_max, uint32_t job_timeout_ms,
                               const db_settings *db_cfg);
/* Queues a job. Returns 0, or -1 when the queue is full or the pool is stopping. Loop thread. */
int worker_pool_submit(worker_pool *p, uint64_t affinity, worker_work_fn work, worker_done_fn done, void *arg);
/* Queues a write job (see above). Same return. Loop thread. */
int worker_pool_submit_write(worker_pool *p, uint64_t affinity, worker_write_fn write, worker_done_fn done,
                             void *arg);
/* Jobs queued or running whose completion has not run yet. Loop thread. */
int worker_pool_in_flight(const worker_pool *p);
/* Stops accepting, finishes queued jobs, runs their completions, joins the threads. Loop thread. */
void worker_pool_stop(worker_pool *p);

#endif
