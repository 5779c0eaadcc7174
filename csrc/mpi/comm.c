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

/* The watchdog of the blocking collectives. Open MPI's non-blocking all-reduce (libnbc) took 27 ms
 * for the 4.8 MB gradient where the blocking one (coll/tuned) took 1.6 ms, so the step's sums
 * block; a blocking call cannot time out, so a thread watches it: armed before the call with a
 * deadline, disarmed after. Past the deadline the call will never return (a peer is gone and the
 * launcher has not ended the job): the watchdog names the call on stderr and ends this process
 * with status 2, and the launcher (mpirun) then ends every other rank. The one place the module
 * exits: no status can come back out of the stuck call. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t armed;
    pthread_t thread;
    int started;
    double deadline; /* CLOCK_REALTIME seconds (the condition's clock); 0 when disarmed */
    const char *what;
} dog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0.0, NULL};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *watch(void *arg) {
    (void)arg;
    pthread_mutex_lock(&dog.mu);
    for (;;) {
        if (dog.deadline == 0.0) {
            pthread_cond_wait(&dog.armed, &dog.mu);
            continue;
        }
        const double deadline = dog.deadline;
        if (now() >= deadline) {
            fprintf(stderr, "mnist: rank %d: %s did not complete within %g s (mpi_timeout): a peer "
                    "rank died or hangs; ending this rank (the launcher ends the others)\n",
                    job.rank, dog.what, job.timeout);
            fflush(stderr);
            _exit(2);
        }
        struct timespec until = {(time_t)deadline, (long)((deadline - (double)(time_t)deadline) * 1e9)};
        pthread_cond_timedwait(&dog.armed, &dog.mu, &until);
    }
    return NULL;
}

static void arm(const char *what) {
    pthread_mutex_lock(&dog.mu);
    dog.deadline = now() + job.timeout;
    dog.what = what;
    pthread_cond_signal(&dog.armed);
    pthread_mutex_unlock(&dog.mu);
}

static void disarm(void) {
    pthread_mutex_lock(&dog.mu);
    dog.deadline = 0.0;
    pthread_mutex_unlock(&dog.mu);
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
    if (!dog.started) {
        if (pthread_create(&dog.thread, NULL, watch, NULL) != 0) return fail("cannot start the watchdog thread", MPI_SUCCESS);
        pthread_detach(dog.thread);
        dog.started = 1;
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
