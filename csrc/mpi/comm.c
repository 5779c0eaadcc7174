#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "mpi/comm.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "sys/status.h"

static struct {
    int active, rank, size;
    double timeout;
    char error[320];
} job;

/* A call's failure as a message; returns MN_ERR_COMM. */
static int fail(const char *what, int code) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (code != MPI_SUCCESS) MPI_Error_string(code, text, &len);
    snprintf(job.error, sizeof job.error, "rank %d: %s%s%s", job.rank, what, len ? ": " : "", text);
    return MN_ERR_COMM;
}

/* The watchdog of the blocking collectives. Open MPI's non-blocking all-reduce (libnbc) took 9-27
 * ms for the 4.8 MB gradient where the blocking one (coll/tuned) took 1.5 ms, so the step's sums
 * block; a blocking call cannot time out, so a thread watches it: the call stores its start time
 * before and 0 after (two atomic stores, no system call: a step makes seven such calls), and the
 * thread, waking every quarter of the timeout (at most every second), finds a call that has run
 * past the deadline. Such a call will never return (a peer is gone and the launcher has not ended
 * the job): the watchdog names it on stderr and ends this process with status 2, and the launcher
 * (mpirun) then ends every other rank. The one place the module exits: no status can come back
 * out of the stuck call. */
static struct {
    int64_t started;    /* CLOCK_MONOTONIC nanoseconds when the current call began; 0: none */
    const char *what;   /* the current call, for the message */
    int running;
} dog;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *watch(void *arg) {
    (void)arg;
    const double period = job.timeout / 4 < 1.0 ? job.timeout / 4 : 1.0;
    const struct timespec pause = {(time_t)period, (long)((period - (double)(time_t)period) * 1e9)};
    for (;;) {
        nanosleep(&pause, NULL);
        const int64_t started = __atomic_load_n(&dog.started, __ATOMIC_ACQUIRE);
        if (started != 0 && (double)(now_ns() - started) * 1e-9 > job.timeout) {
            fprintf(stderr, "mnist: rank %d: %s did not complete within %g s (mpi_timeout): a peer "
                    "rank died or hangs; ending this rank (the launcher ends the others)\n",
                    job.rank, __atomic_load_n(&dog.what, __ATOMIC_ACQUIRE), job.timeout);
            fflush(stderr);
            _exit(2);
        }
    }
    return NULL;
}

static void arm(const char *what) {
    __atomic_store_n(&dog.what, what, __ATOMIC_RELEASE);
    __atomic_store_n(&dog.started, now_ns(), __ATOMIC_RELEASE);
}

static void disarm(void) {
    __atomic_store_n(&dog.started, (int64_t)0, __ATOMIC_RELEASE);
}

int comm_init(double timeout_seconds, int *rank, int *size) {
    if (!(timeout_seconds > 0)) return MN_ERR_ARG;
    job.timeout = timeout_seconds;
    if (!job.active) {
        int provided, code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (code != MPI_SUCCESS) return fail("MPI_Init_thread failed", code);
        /* errors come back as codes (the default handler aborts the job without a word of ours) */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &job.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &job.size);
        job.active = 1;
    }
    if (!dog.running) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, watch, NULL) != 0) return fail("cannot start the watchdog thread", MPI_SUCCESS);
        pthread_detach(thread);
        dog.running = 1;
    }
    *rank = job.rank;
    *size = job.size;
    return MN_OK;
}

int comm_active(void) { return job.active; }

int comm_rank(void) { return job.rank; }

/* Waits for reqs[0..n) (a barrier, a broadcast: where ranks wait for rank 0 to evaluate or write)
 * until the deadline. The first 2 ms poll flat out (MPI progresses a non-blocking collective only
 * inside MPI calls); after that the wait sleeps 200 us between polls, so a waiting rank leaves the
 * cores to the ranks that work. */
static int wait_all(MPI_Request *reqs, int n, const char *what) {
    const double start = MPI_Wtime();
    for (;;) {
        int done = 0, code = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (code != MPI_SUCCESS) return fail(what, code);
        if (done) return MN_OK;
        const double waited = MPI_Wtime() - start;
        if (waited > job.timeout) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s did not complete within %g s (mpi_timeout): a peer rank "
                     "died or hangs", what, job.timeout);
            return fail(msg, MPI_SUCCESS);
        }
        if (waited > 0.002) {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
        } else {
            sched_yield();
        }
    }
}

/* data[0..n) summed in place, blocking, in pieces of at most INT_MAX elements, under the watchdog. */
static int sum_blocking(void *data, int64_t n, MPI_Datatype type, size_t elem, const char *what) {
    arm(what);
    int code = MPI_SUCCESS;
    for (int64_t at = 0; at < n && code == MPI_SUCCESS; at += INT_MAX) {
        const int len = n - at > INT_MAX ? INT_MAX : (int)(n - at);
        code = MPI_Allreduce(MPI_IN_PLACE, (char *)data + (size_t)at * elem, len, type, MPI_SUM,
                             MPI_COMM_WORLD);
    }
    disarm();
    return code == MPI_SUCCESS ? MN_OK : fail(what, code);
}

int comm_allreduce_step(float *grad, int64_t n, double *stats, int64_t k, double seconds[2]) {
    if (!job.active || n < 0 || k < 0) return MN_ERR_ARG;
    const double start = MPI_Wtime();
    /* the scalars first: a rank that stops (interrupted, non-finite loss) says so before the big
     * sum, and the ranks leave this small sum together, so the gradient's sum after it times the
     * transfer alone (the first, the wait for the slowest rank) */
    int st = k > 0 ? sum_blocking(stats, k, MPI_DOUBLE, sizeof *stats, "the all-reduce of the step's loss") : MN_OK;
    const double synced = MPI_Wtime();
    if (!st && n > 0) st = sum_blocking(grad, n, MPI_FLOAT, sizeof *grad, "the all-reduce of the gradient");
    if (seconds) seconds[0] = synced - start, seconds[1] = MPI_Wtime() - synced;
    return st;
}

int comm_allreduce_f32(float *data, int64_t n) {
    return comm_allreduce_step(data, n, NULL, 0, NULL);
}

int comm_allreduce_f64(double *values, int64_t n) {
    if (!job.active || n < 0) return MN_ERR_ARG;
    return sum_blocking(values, n, MPI_DOUBLE, sizeof *values, "an all-reduce of batch-norm statistics");
}

int comm_sum_doubles(void *ctx, double *values, int64_t n) {
    (void)ctx;
    return comm_allreduce_f64(values, n);
}

int comm_broadcast(char *buf, int64_t n, int root) {
    if (!job.active) return MN_ERR_ARG;
    if (n < 0 || n > INT_MAX || root < 0 || root >= job.size) return MN_ERR_ARG;
    MPI_Request req;
    int code = MPI_Ibcast(buf, (int)n, MPI_CHAR, root, MPI_COMM_WORLD, &req);
    if (code != MPI_SUCCESS) return fail("MPI_Ibcast failed", code);
    return wait_all(&req, 1, "a broadcast from rank 0");
}

int comm_barrier(void) {
    if (!job.active) return MN_ERR_ARG;
    MPI_Request req;
    int code = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    if (code != MPI_SUCCESS) return fail("MPI_Ibarrier failed", code);
    return wait_all(&req, 1, "a barrier");
}

void comm_abort(int code) {
    if (job.active) MPI_Abort(MPI_COMM_WORLD, code);
}

int comm_finalize(void) {
    if (!job.active) return MN_OK;
    job.active = 0;
    int code = MPI_Finalize();
    return code == MPI_SUCCESS ? MN_OK : fail("MPI_Finalize failed", code);
}

const char *comm_error(void) { return job.error; }

const char *comm_library(char *buf, size_t size) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(text, &len);
    text[strcspn(text, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    snprintf(buf, size, "%s", text);
    return buf;
}
