/* comm.h: the data-parallel job's collectives over MPI (the optional mnist.mpi module, built only
 * where mpi.h is found; the core never includes this header).
 *
 * One job per process (MPI is process-global). Every collective has a deadline (comm_init's
 * timeout): the sums block (Open MPI's blocking all-reduce is the fast one) under a watchdog
 * thread that ends this process past the deadline, naming the call; the barrier and the broadcast,
 * where ranks wait long for rank 0, are non-blocking, waited on with sleeps, and past the deadline
 * return MN_ERR_COMM with a message in comm_error(). Either way no rank waits forever for a peer
 * that hangs or died unnoticed; after a failed collective the caller ends the job (comm_abort). */
#ifndef MNIST_COMM_H
#define MNIST_COMM_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI (threads: only the calling thread talks to MPI) and sets the deadline of every
 * collective, in seconds (> 0). *rank, *size: this process's rank and the job's size. */
int comm_init(double timeout_seconds, int *rank, int *size);
/* 1 between comm_init and comm_finalize. */
int comm_active(void);
/* This process's rank (0 before comm_init). */
int comm_rank(void);
/* data[0..n) summed in place over every rank (float32; n may exceed INT_MAX). */
int comm_allreduce_f32(float *data, int64_t n);
/* values[0..n) summed in place over every rank (float64). */
int comm_allreduce_f64(double *values, int64_t n);
/* The step's sums: its scalars stats[0..k) (loss, counts, flags), then its flat gradient
 * grad[0..n). seconds (or NULL): [0] the scalars' sum, which waits for the slowest rank, [1] the
 * gradient's, which then times the transfer alone. */
int comm_allreduce_step(float *grad, int64_t n, double *stats, int64_t k, double seconds[2]);
/* buf[0..n) of root on every rank (n the same everywhere). */
int comm_broadcast(char *buf, int64_t n, int root);
/* Returns when every rank has called it. */
int comm_barrier(void);
/* The ChannelReducer's function (nn/batchnorm.h): comm_allreduce_f64; ctx is unused. */
int comm_sum_doubles(void *ctx, double *values, int64_t n);
/* Ends every process of the job with exit code `code` (MPI_Abort): the one call here that does not
 * return, for the binding's fatal-error path only. */
void comm_abort(int code);
/* Ends MPI in this process (every rank calls it once at a normal end). */
int comm_finalize(void);
/* The last failure's message ("" when none). */
const char *comm_error(void);
/* The MPI library's name and version, one line, into buf. */
const char *comm_library(char *buf, size_t size);

#endif
