/* process.h: what the training loop needs from the operating system. */
#ifndef MNIST_PROCESS_H
#define MNIST_PROCESS_H

/* on != 0: SIGINT and SIGTERM only set a flag (a second one stops the process the default way);
 * on == 0: the default handlers again. Resets the flag. Returns MN_OK or MN_ERR_IO. */
int process_trap_interrupt(int on);
/* 1 once a trapped SIGINT/SIGTERM arrived since the trap was set. */
int process_interrupted(void);
/* A write past the file-size limit (RLIMIT_FSIZE, `ulimit -f`) fails with EFBIG instead of killing
 * the process with SIGXFSZ, so the atomic writer reports it and keeps the previous file. */
int process_ignore_file_size_signal(void);
/* Online CPUs (at least 1). */
int process_cpu_count(void);
/* Seconds on a monotonic clock (for durations and throughput). */
double process_wall_time(void);

#endif
