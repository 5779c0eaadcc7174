/* loader.h: batches of (images, labels) prepared by a background thread into a small ring of
 * reused buffers, so the training loop never waits on preprocessing.
 *
 * A loader serves `n` rows of a uint8 image set (N, H, W) with its labels (N): the rows of one
 * split. Each epoch visits every row once, in an order that is a pure function of (seed, epoch)
 * (never of how many batches were drawn before), so a run resumes bitwise from (epoch, step).
 * A batch is float32 images (B, 1, H, W) = (pixel / 255 - mean) / std and float32 labels (B).
 * Augmentation (random shifts, rotations, scaling: data/augment.h) draws from a generator seeded
 * by (seed, epoch, batch), one image after the other, so the
 * batches are identical whatever the prefetch depth, with or without the thread.
 *
 * Threading: one producer thread per loader fills batch k into slot k % slots while the consumer
 * holds batch k - 1; it never touches Lua or allocates. The consumer's batch stays valid until its
 * next call to loader_next (or loader_start_epoch). loader_destroy stops and joins the thread. */
#ifndef MNIST_LOADER_H
#define MNIST_LOADER_H

#include <pthread.h>
#include <stdint.h>

#include "sys/status.h"
#include "tensor/tensor.h"

#define LOADER_MAX_PREFETCH 16

typedef struct LoaderOptions {
    int64_t batch_size; /* images per batch, >= 1 */
    int drop_last;      /* 1: an epoch has floor(n / batch_size) batches, no partial one */
    int shuffle;        /* 1: a new order every epoch; 0: the rows in the order given */
    int augment_shift;  /* random shifts of up to this many pixels each way (0: none) */
    float augment_rotate; /* random rotations of up to this many degrees each way, 0..180 (0: none) */
    float augment_scale;  /* random scaling by [1 - s, 1 + s], 0 <= s < 1 (0: none); data/augment.h */
    float mean, std;    /* normalisation of pixel / 255; std > 0 */
    uint64_t seed;      /* with the epoch, decides the order and the shifts */
    int prefetch;       /* batches prepared ahead by the thread, 0..LOADER_MAX_PREFETCH (0: none) */
} LoaderOptions;

typedef struct Loader {
    Tensor images;          /* (N, H, W) uint8, a reference to the source */
    Tensor labels;          /* (N) uint8 */
    int32_t *rows;          /* (n) the rows of images this loader serves */
    int32_t *order;         /* (n) this epoch's rows, in visiting order */
    int64_t n, steps;       /* rows, and batches per epoch */
    int64_t height, width;
    LoaderOptions opt;
    float lut[256];         /* pixel byte -> normalised float */
    int slots;              /* prefetch + 1: one held by the consumer, the rest ahead */
    Tensor slot_images[LOADER_MAX_PREFETCH + 1]; /* each (B, 1, H, W) float32 */
    Tensor slot_labels[LOADER_MAX_PREFETCH + 1]; /* each (B) float32 */
    /* shared with the producer thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work;    /* the producer waits here for a free slot (or quit) */
    pthread_cond_t ready;   /* the consumer waits here for a batch (or for a fill to end) */
    pthread_t thread;
    int sync_ready;         /* mu and the conditions are initialised */
    int has_thread;
    int quit, busy, active;
    int producer_waiting, consumer_waiting; /* signal only a thread that sleeps */
    uint64_t generation;    /* bumped by every loader_start_epoch: stale fills are dropped */
    int64_t epoch;
    int64_t filled;         /* batches before this one are ready (the producer fills it next) */
    int64_t held;           /* the consumer holds this batch: slots of later ones may be filled */
    int64_t cursor;         /* the batch the consumer takes next */
} Loader;

/* ld (zeroed memory): a loader over rows[0..n) (0-based rows of images) of images (N, H, W) and
 * labels (N), both uint8; keeps references to them. Starts the thread when opt->prefetch > 0.
 * MN_ERR_SHAPE / MN_ERR_DTYPE / MN_ERR_RANGE / MN_ERR_ARG for bad inputs; on failure ld is left
 * destroyed (zeroed). */
int loader_init(Loader *ld, const Tensor *images, const Tensor *labels, const int32_t *rows,
                int64_t n, const LoaderOptions *opt);
/* Stops and joins the thread, frees everything. Safe on a zeroed or destroyed loader. */
void loader_destroy(Loader *ld);
/* Begins epoch `epoch` (any number >= 0) at batch first_step (0-based, <= steps); the batch the
 * consumer held is given up. */
int loader_start_epoch(Loader *ld, int64_t epoch, int64_t first_step);
/* The next batch of the current epoch: *slot (0-based) holds *count rows (the last batch may be
 * partial when !drop_last), *step is its 0-based batch index. *slot = -1 at the end of the epoch.
 * Blocks until the thread has the batch ready. MN_ERR_ARG when no epoch was started. */
int loader_next(Loader *ld, int *slot, int64_t *count, int64_t *step);
/* out (n): the rows in the order epoch `epoch` visits them. Thread-safe (reads only settings). */
void loader_order(const Loader *ld, int64_t epoch, int32_t *out);

/* train (n_total - n_validation), validation (n_validation): a seeded split of rows 0..n_total-1,
 * each part in ascending order. A pure function of (n_total, n_validation, seed).
 * MN_ERR_ARG unless 0 <= n_validation <= n_total, n_total >= 1. */
int loader_split(int32_t *train, int32_t *validation, int64_t n_total, int64_t n_validation,
                 uint64_t seed);

#endif
