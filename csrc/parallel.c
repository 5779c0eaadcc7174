#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#include "process.h"

extern void openblas_set_num_threads(int);

/* Workers spin this many rounds for the next job before sleeping: a training step calls the
 * pool every few hundred microseconds, and a futex wake-up costs tens of them. */
#define SPIN_ROUNDS 4000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* a new job (ticket bumped) */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the last part of a job finished */

static atomic_int threads_wanted = 0;  /* 0 until first asked: then the online CPUs */
static int workers = 0;                /* worker threads started (under lock) */
/* (job number << 8) | parts, bumped under lock for each job: a worker learns from this one word
 * whether it takes part, and only those that do read `job` (the next job waits for them). */
static atomic_ulong ticket = 0;
static unsigned long start_ticket[PARALLEL_MAX_THREADS]; /* the ticket when worker i was made */
static atomic_int remaining = 0;       /* parts of the current job still running on workers */
static atomic_flag busy = ATOMIC_FLAG_INIT; /* a caller owns the pool */
static _Thread_local int inside = 0;   /* this thread is running a part */

static struct {
    parallel_fn fn;
    void *ctx;
    int64_t n;
    int parts;
} job;

static void run_part(int p) {
    int64_t lo = job.n * p / job.parts, hi = job.n * (p + 1) / job.parts;
    inside = 1;
    if (lo < hi) job.fn(job.ctx, lo, hi, p);
    inside = 0;
}

static void *worker_main(void *arg) {
    const int me = (int)(intptr_t)arg; /* the part this worker runs: 1, 2, ... */
    unsigned long seen = start_ticket[me]; /* the job that made it comes after this one */
    for (;;) {
        unsigned long g = atomic_load_explicit(&ticket, memory_order_acquire);
        for (int i = 0; i < SPIN_ROUNDS && g == seen; i++) {
            cpu_relax();
            g = atomic_load_explicit(&ticket, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&lock);
            while ((g = atomic_load(&ticket)) == seen) pthread_cond_wait(&wake, &lock);
            pthread_mutex_unlock(&lock);
        }
        seen = g;
        if (me < (int)(g & 0xff)) {
            run_part(me);
            if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&lock);
                pthread_cond_signal(&done);
                pthread_mutex_unlock(&lock);
            }
        }
    }
    return NULL;
}

int parallel_threads(void) {
    int n = atomic_load(&threads_wanted);
    if (n == 0) {
        parallel_set_threads(process_cpu_count());
        n = atomic_load(&threads_wanted);
    }
    return n;
}

void parallel_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > PARALLEL_MAX_THREADS) n = PARALLEL_MAX_THREADS;
    openblas_set_num_threads(1);
    atomic_store(&threads_wanted, n);
}

int parallel_parts(int64_t n, int64_t grain) {
    if (grain < 1) grain = 1;
    int64_t most = (n + grain - 1) / grain;
    int parts = parallel_threads();
    if (most < parts) parts = (int)most;
    return parts < 1 ? 1 : parts;
}

/* Starts workers until `count` run (under lock); returns how many run. */
static int start_workers(int count) {
    while (workers < count) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        start_ticket[workers + 1] = atomic_load(&ticket);
        int err = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(workers + 1));
        pthread_attr_destroy(&attr);
        if (err) break; /* no more threads: the parts run with the workers there are */
        workers++;
    }
    return workers;
}

void parallel_for(int64_t n, int64_t grain, parallel_fn fn, void *ctx) {
    if (n <= 0) return;
    int parts = parallel_parts(n, grain);
    if (parts == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (inside || atomic_flag_test_and_set(&busy)) { /* nested or contended: same split, serial */
        for (int p = 0; p < parts; p++) {
            int64_t lo = n * p / parts, hi = n * (p + 1) / parts;
            if (lo < hi) fn(ctx, lo, hi, p);
        }
        return;
    }
    pthread_mutex_lock(&lock);
    int running = start_workers(parts - 1);
    job.fn = fn, job.ctx = ctx, job.n = n, job.parts = parts;
    int on_workers = running < parts - 1 ? running : parts - 1;
    atomic_store(&remaining, on_workers);
    unsigned long next = ((atomic_load(&ticket) >> 8) + 1) << 8 | (unsigned long)(on_workers + 1);
    atomic_store_explicit(&ticket, next, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);

    run_part(0);
    for (int p = on_workers + 1; p < parts; p++) run_part(p); /* parts without a worker */

    for (int i = 0; i < SPIN_ROUNDS && atomic_load_explicit(&remaining, memory_order_acquire); i++)
        cpu_relax();
    if (atomic_load(&remaining)) {
        pthread_mutex_lock(&lock);
        while (atomic_load(&remaining)) pthread_cond_wait(&done, &lock);
        pthread_mutex_unlock(&lock);
    }
    atomic_flag_clear(&busy);
}
