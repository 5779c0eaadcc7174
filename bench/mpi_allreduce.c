/* bench/mpi_allreduce.c: the sum of the default model's flat gradient (1,199,882 floats, 4.8 MB)
 * over the ranks, three ways: one blocking MPI_Allreduce (what mnist.mpi does), one non-blocking
 * MPI_Iallreduce polled with MPI_Test, and the non-blocking sum in two buckets as the backward pass
 * would hand them over (the head's 1,181,834 floats first, then the features' 18,048), each
 * started while the "rest of the backward pass" (a busy loop of BACKWARD_MS) runs between
 * MPI_Test calls. Built and run by bench/mpi.sh; prints the median and best of 30 repetitions. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define N 1199882
#define HEAD 1181834
#define REPS 30

static double busy(double ms, MPI_Request *req, int n) { /* computes, testing reqs now and then */
    double t = MPI_Wtime(), x = 0;
    int done = 0;
    while ((MPI_Wtime() - t) * 1e3 < ms) {
        for (int i = 0; i < 20000; i++) x += i * 1e-9;
        if (req && !done) MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    }
    return x;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const double backward_ms = argc > 1 ? atof(argv[1]) : 20;
    float *g = calloc(N, sizeof *g);
    const char *names[] = {"blocking MPI_Allreduce", "MPI_Iallreduce + MPI_Test",
                           "2 buckets overlapping backward"};
    double sink = 0;
    for (int mode = 0; mode < 3; mode++) {
        double times[REPS];
        for (int r = 0; r < REPS; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime();
            if (mode == 0) {
                sink += busy(backward_ms, NULL, 0);
                MPI_Allreduce(MPI_IN_PLACE, g, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            } else if (mode == 1) {
                sink += busy(backward_ms, NULL, 0);
                MPI_Request q;
                MPI_Iallreduce(MPI_IN_PLACE, g, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q);
                MPI_Wait(&q, MPI_STATUS_IGNORE);
            } else {
                MPI_Request q[2];
                MPI_Iallreduce(MPI_IN_PLACE, g, HEAD, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q[0]);
                sink += busy(backward_ms, q, 1); /* the features' backward runs meanwhile */
                MPI_Iallreduce(MPI_IN_PLACE, g + HEAD, N - HEAD, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q[1]);
                MPI_Waitall(2, q, MPI_STATUSES_IGNORE);
            }
            times[r] = (MPI_Wtime() - t) * 1e3 - backward_ms; /* what the sum adds to the step */
        }
        qsort(times, REPS, sizeof *times, by_value);
        if (rank == 0) printf("%-32s adds %7.2f ms to the step (median; best %.2f ms), %d repetitions\n",
                              names[mode], times[REPS / 2], times[0], REPS);
    }
    if (sink < 0) printf("%g\n", sink);
    free(g);
    MPI_Finalize();
    return 0;
}
