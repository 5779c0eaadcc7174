#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#define _GNU_SOURCE /* dladdr */
#include "sys/parallel.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sys/process.h"

extern void openblas_set_num_threads(int);
/* OpenBLAS's own thread pool, started when the library loads: its threads spin on sched_yield
 * for about 0.1 s after start (and after each OpenBLAS call) before they sleep, taking a core
 * from our threads. We never run OpenBLAS threaded, so the pool is stopped. Weak: the symbol is
 * internal to OpenBLAS's pthreads build (its fork handler uses it) and may be absent. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* Threads spin this many rounds (tens of microseconds) for the next job or the last block before
 * sleeping: a training step calls the pool every few hundred microseconds, and a futex wake-up
 * costs tens of them. */
#define SPIN_ROUNDS 4000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* a new job (ticket bumped) */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the last block of a job finished */

static atomic_int threads_wanted = 0; /* 0 until first asked: then the online CPUs */
static int workers = 0;               /* worker threads started (under lock) */
/* (job number << 8) | blocks, bumped under lock for each job: wakes the workers. */
static atomic_ulong ticket = 0;
/* (job number << 16) | next unclaimed block: a thread claims a block with a compare-and-swap,
 * which fails for a stale job number, so a late worker never touches a finished job. */
static atomic_ulong claim = 0;
static atomic_int finished = 0;             /* blocks of the current job done */
static atomic_flag busy = ATOMIC_FLAG_INIT; /* a caller owns the pool */
static _Thread_local int inside = 0;        /* this thread is running a block */
static _Thread_local int thread_index = 0;  /* 0: a caller; k: worker k */

static struct {
    parallel_fn fn;
    void *ctx;
    int64_t n;
    int blocks;
} job;

int parallel_thread_index(void) { return thread_index; }

static void run_block(int b) {
    int64_t lo = job.n * b / job.blocks, hi = job.n * (b + 1) / job.blocks;
    inside = 1;
    if (lo < hi) job.fn(job.ctx, lo, hi, b);
    inside = 0;
}

/* Claims and runs blocks of job `seq` until none is left; the thread that finishes the last one
 * wakes the caller. Returns how many it ran. */
static int run_blocks(unsigned long seq, int blocks) {
    int ran = 0;
    for (;;) {
        unsigned long c = atomic_load_explicit(&claim, memory_order_acquire);
        if (c >> 16 != (seq & 0xffffffffffffUL) || (int)(c & 0xffff) >= blocks) return ran;
        if (!atomic_compare_exchange_weak_explicit(&claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        run_block((int)(c & 0xffff));
        ran++;
        if (atomic_fetch_add_explicit(&finished, 1, memory_order_acq_rel) + 1 == blocks) {
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&lock);
        }
    }
}

static void *worker_main(void *arg) {
    thread_index = (int)(intptr_t)arg;
    unsigned long seen = atomic_load(&ticket);
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
        if (thread_index < (int)(g & 0xff)) run_blocks(g >> 8, (int)(g & 0xff));
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

/* The workers (and the data loader's threads) live until the process ends, running this
 * library's code: the library must never be unmapped under them (Lua's exit closes C modules with
 * dlclose), so it takes a reference of its own, marked never to be dropped (RTLD_NODELETE). */
static void pin_library(void) {
    Dl_info self;
    if (dladdr((void *)pin_library, &self) && self.dli_fname)
        dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

void parallel_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > PARALLEL_MAX_THREADS) n = PARALLEL_MAX_THREADS;
    static atomic_flag first_call = ATOMIC_FLAG_INIT;
    openblas_set_num_threads(1);
    if (!atomic_flag_test_and_set(&first_call)) { /* (luaopen_mnist_core calls parallel_threads) */
        pin_library();
        if (blas_thread_shutdown_) blas_thread_shutdown_();
    }
    atomic_store(&threads_wanted, n);
}

int parallel_parts(int64_t n, int64_t grain) {
    if (grain < 1) grain = 1;
    int64_t most = (n + grain - 1) / grain;
    int parts = parallel_threads();
    if (most < parts) parts = (int)most;
    return parts < 1 ? 1 : parts;
}

/* Starts workers until `count` run (under lock). A worker that cannot start leaves its share to
 * the threads there are (blocks are claimed, not assigned). */
static void start_workers(int count) {
    while (workers < count) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(workers + 1));
        pthread_attr_destroy(&attr);
        if (err) break;
        workers++;
    }
}

void parallel_for(int64_t n, int64_t grain, parallel_fn fn, void *ctx) {
    if (n <= 0) return;
    int blocks = parallel_parts(n, grain);
    if (blocks == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (inside || atomic_flag_test_and_set(&busy)) { /* nested or contended: same split, serial */
        for (int b = 0; b < blocks; b++) {
            int64_t lo = n * b / blocks, hi = n * (b + 1) / blocks;
            if (lo < hi) fn(ctx, lo, hi, b);
        }
        return;
    }
    pthread_mutex_lock(&lock);
    start_workers(blocks - 1);
    job.fn = fn, job.ctx = ctx, job.n = n, job.blocks = blocks;
    unsigned long seq = (atomic_load(&ticket) >> 8) + 1;
    atomic_store(&finished, 0);
    atomic_store_explicit(&claim, (seq & 0xffffffffffffUL) << 16, memory_order_release);
    atomic_store_explicit(&ticket, seq << 8 | (unsigned long)blocks, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);

    run_blocks(seq, blocks); /* the caller works too, and takes over the blocks of a slow worker */

    for (int i = 0; i < SPIN_ROUNDS && atomic_load_explicit(&finished, memory_order_acquire) < blocks;
         i++)
        cpu_relax();
    if (atomic_load(&finished) < blocks) {
        pthread_mutex_lock(&lock);
        while (atomic_load(&finished) < blocks) pthread_cond_wait(&done, &lock);
        pthread_mutex_unlock(&lock);
    }
    atomic_flag_clear(&busy);
}
