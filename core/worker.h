/*
 * worker.h — the pool of threads that run blocking work (SQL, disk, hashing).
 *
 * Each worker has its own queue and its own database connections. A job with
 * a non-zero affinity key always goes to the same worker, so jobs of one
 * connection run, and complete, in submission order. Completions travel back
 * to the loop thread through one wake-up event and run there in the order the
 * jobs finished.
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
};

typedef void (*worker_work_fn)(struct imgate_worker *w, void *arg);
typedef void (*worker_done_fn)(void *arg);

/* Starts `n` workers. `db_cfg` describes the databases (not owned; must outlive the pool). */
worker_pool *worker_pool_start(struct event_base *base, int n, int queue_max, const db_settings *db_cfg);
/* Queues a job. Returns 0, or -1 when the queue is full or the pool is stopping. Loop thread. */
int worker_pool_submit(worker_pool *p, uint64_t affinity, worker_work_fn work, worker_done_fn done, void *arg);
/* Jobs queued or running whose completion has not run yet. Loop thread. */
int worker_pool_in_flight(const worker_pool *p);
/* Stops accepting, finishes queued jobs, runs their completions, joins the threads. Loop thread. */
void worker_pool_stop(worker_pool *p);

#endif
