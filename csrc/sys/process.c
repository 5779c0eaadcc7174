#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "sys/process.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sys/status.h"

/* The handler only counts; the training loop polls the count between steps, writes a checkpoint
 * and exits cleanly. */
static volatile sig_atomic_t interrupt_count = 0;

static void on_interrupt(int sig) {
    interrupt_count++;
    if (interrupt_count >= 2) { /* asked twice: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

int process_trap_interrupt(int on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_interrupt : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    interrupt_count = 0;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return MN_ERR_IO;
    return MN_OK;
}

int process_interrupted(void) { return interrupt_count > 0; }

int process_ignore_file_size_signal(void) {
    return signal(SIGXFSZ, SIG_IGN) == SIG_ERR ? MN_ERR_IO : MN_OK;
}

int process_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

double process_wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
