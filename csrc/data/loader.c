#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/loader.h"

#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "tensor/rng.h"

/* Independent random streams derived from the one seed: the split, each epoch's order, each
 * batch's augmentation. */
enum { STREAM_SPLIT = 1, STREAM_ORDER = 2, STREAM_AUGMENT = 3 };

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void stream_rng(Rng *rng, uint64_t seed, uint64_t stream, uint64_t epoch, uint64_t batch) {
    uint64_t h = mix64(mix64(mix64(seed ^ mix64(stream)) ^ epoch) ^ batch);
    rng_seed(rng, h);
}

int loader_split(int32_t *train, int32_t *validation, int64_t n_total, int64_t n_validation,
                 uint64_t seed) {
    if (n_total < 1 || n_validation < 0 || n_validation > n_total) return MN_ERR_ARG;
    uint8_t *held_out = calloc((size_t)n_total, 1); // (n_total) 1 = validation
    if (!held_out) return MN_ERR_NOMEM;
    /* Floyd's algorithm: n_validation distinct rows, uniformly, in n_validation draws */
    Rng rng;
    stream_rng(&rng, seed, STREAM_SPLIT, 0, 0);
    for (int64_t j = n_total - n_validation; j < n_total; j++) {
        int64_t t = (int64_t)rng_below(&rng, (uint64_t)j + 1);
        held_out[held_out[t] ? j : t] = 1;
    }
    int64_t kept = 0, out = 0;
    for (int64_t i = 0; i < n_total; i++) {
        if (held_out[i]) validation[out++] = (int32_t)i;
        else train[kept++] = (int32_t)i;
    }
    free(held_out);
    return MN_OK;
}

void loader_order(const Loader *ld, int64_t epoch, int32_t *out) {
    if (!ld->opt.shuffle) {
        memcpy(out, ld->rows, (size_t)ld->n * sizeof *out);
        return;
    }
    Rng rng;
    stream_rng(&rng, ld->opt.seed, STREAM_ORDER, (uint64_t)epoch, 0);
    rng_permutation(&rng, out, ld->n);
    for (int64_t i = 0; i < ld->n; i++) out[i] = ld->rows[out[i]];
}

/* Writes batch `step` of `epoch` into slot `slot`. Reads only settings, sources and ld->order
 * (which loader_start_epoch rewrites only while no fill is running). */
static void fill_batch(Loader *ld, int slot, int64_t epoch, int64_t step) {
    const int64_t B = ld->opt.batch_size, H = ld->height, W = ld->width, HW = H * W;
    const int64_t first = step * B;
    const int64_t count = ld->n - first < B ? ld->n - first : B;
    float *x = tensor_f32(&ld->slot_images[slot]); // (B, 1, H, W)
    float *y = tensor_f32(&ld->slot_labels[slot]); // (B)
    const uint8_t *images = tensor_u8(&ld->images); // (N, H, W)
    const uint8_t *labels = tensor_u8(&ld->labels); // (N)
    const float *lut = ld->lut;
    const AugmentOptions aug = {ld->opt.augment_shift, ld->opt.augment_rotate, ld->opt.augment_scale};
    const int augmenting = aug.shift > 0 || augment_is_affine(&aug);
    Rng rng;
    if (augmenting) stream_rng(&rng, ld->opt.seed, STREAM_AUGMENT, (uint64_t)epoch, (uint64_t)step);
    for (int64_t i = 0; i < count; i++) {
        const int32_t row = ld->order[first + i];
        const uint8_t *src = images + (int64_t)row * HW; // (H, W)
        float *dst = x + i * HW;                          // (H, W)
        y[i] = (float)labels[row];
        if (!augmenting) {
            for (int64_t p = 0; p < HW; p++) dst[p] = lut[src[p]];
            continue;
        }
        Affine t;
        augment_draw(&t, &rng, &aug);
        if (augment_is_affine(&aug)) augment_affine(dst, src, H, W, lut, &t);
        else augment_shift(dst, src, H, W, lut, (int64_t)t.dy, (int64_t)t.dx);
    }
}

static void *producer(void *arg) {
    Loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->quit &&
               !(ld->active && ld->filled < ld->steps && ld->filled < ld->held + ld->slots)) {
            ld->producer_waiting = 1;
            pthread_cond_wait(&ld->work, &ld->mu);
            ld->producer_waiting = 0;
        }
        if (ld->quit) break;
        const int64_t step = ld->filled, epoch = ld->epoch;
        const uint64_t generation = ld->generation;
        ld->busy = 1;
        pthread_mutex_unlock(&ld->mu);
        fill_batch(ld, (int)(step % ld->slots), epoch, step);
        pthread_mutex_lock(&ld->mu);
        ld->busy = 0;
        if (generation == ld->generation) ld->filled = step + 1;
        if (ld->consumer_waiting) pthread_cond_signal(&ld->ready);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* Wakes the producer if it sleeps (called with mu held). */
static void wake_producer(Loader *ld) {
    if (ld->producer_waiting) pthread_cond_signal(&ld->work);
}

/* Sleeps on `ready` (called with mu held). */
static void wait_ready(Loader *ld) {
    ld->consumer_waiting = 1;
    pthread_cond_wait(&ld->ready, &ld->mu);
    ld->consumer_waiting = 0;
}

int loader_init(Loader *ld, const Tensor *images, const Tensor *labels, const int32_t *rows,
                int64_t n, const LoaderOptions *opt) {
    memset(ld, 0, sizeof *ld);
    if (!images->storage || !labels->storage) return MN_ERR_ARG;
    if (images->dtype != DTYPE_UINT8 || labels->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (images->ndim != 3 || labels->ndim != 1 || images->shape[0] != labels->shape[0])
        return MN_ERR_SHAPE;
    if (n < 1 || opt->batch_size < 1 || opt->batch_size > TENSOR_MAX_NUMEL || !(opt->std > 0) ||
        opt->prefetch < 0 || opt->prefetch > LOADER_MAX_PREFETCH || opt->augment_shift < 0 ||
        opt->augment_shift >= images->shape[1] || opt->augment_shift >= images->shape[2] ||
        !(opt->augment_rotate >= 0 && opt->augment_rotate <= 180) ||
        !(opt->augment_scale >= 0 && opt->augment_scale < 1))
        return MN_ERR_ARG;
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= images->shape[0]) return MN_ERR_RANGE;
    const int64_t steps = opt->drop_last ? n / opt->batch_size
                                         : (n + opt->batch_size - 1) / opt->batch_size;
    if (steps < 1) return MN_ERR_ARG;
    int64_t numel, shape[4] = {opt->batch_size, 1, images->shape[1], images->shape[2]};
    if (tensor_check_shape(4, shape, &numel) != MN_OK) return MN_ERR_SHAPE;

    int st = MN_OK;
    ld->opt = *opt;
    ld->n = n;
    ld->steps = steps;
    ld->height = images->shape[1];
    ld->width = images->shape[2];
    ld->slots = opt->prefetch + 1;
    for (int v = 0; v < 256; v++) ld->lut[v] = ((float)v / 255.0f - opt->mean) / opt->std;
    tensor_view(&ld->images, images, images->ndim, images->shape); /* references */
    tensor_view(&ld->labels, labels, labels->ndim, labels->shape);
    ld->rows = malloc((size_t)n * sizeof *ld->rows);
    ld->order = malloc((size_t)n * sizeof *ld->order);
    if (!ld->rows || !ld->order) st = MN_ERR_NOMEM;
    if (st == MN_OK) memcpy(ld->rows, rows, (size_t)n * sizeof *rows);
    for (int s = 0; s < ld->slots && st == MN_OK; s++) {
        st = tensor_init(&ld->slot_images[s], DTYPE_FLOAT32, 4, shape);
        if (st == MN_OK) st = tensor_init(&ld->slot_labels[s], DTYPE_FLOAT32, 1, shape);
    }
    if (st == MN_OK) {
        if (pthread_mutex_init(&ld->mu, NULL) != 0) {
            st = MN_ERR_NOMEM;
        } else if (pthread_cond_init(&ld->work, NULL) != 0) {
            pthread_mutex_destroy(&ld->mu);
            st = MN_ERR_NOMEM;
        } else if (pthread_cond_init(&ld->ready, NULL) != 0) {
            pthread_cond_destroy(&ld->work);
            pthread_mutex_destroy(&ld->mu);
            st = MN_ERR_NOMEM;
        } else {
            ld->sync_ready = 1;
        }
    }
    if (st == MN_OK && opt->prefetch > 0) {
        if (pthread_create(&ld->thread, NULL, producer, ld) != 0) st = MN_ERR_NOMEM;
        else ld->has_thread = 1;
    }
    if (st != MN_OK) loader_destroy(ld);
    return st;
}

void loader_destroy(Loader *ld) {
    if (ld->has_thread) {
        pthread_mutex_lock(&ld->mu);
        ld->quit = 1;
        pthread_cond_signal(&ld->work);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
    }
    if (ld->sync_ready) {
        pthread_cond_destroy(&ld->ready);
        pthread_cond_destroy(&ld->work);
        pthread_mutex_destroy(&ld->mu);
    }
    for (int s = 0; s <= LOADER_MAX_PREFETCH; s++) {
        tensor_release(&ld->slot_images[s]);
        tensor_release(&ld->slot_labels[s]);
    }
    tensor_release(&ld->images);
    tensor_release(&ld->labels);
    free(ld->rows);
    free(ld->order);
    memset(ld, 0, sizeof *ld);
}

int loader_start_epoch(Loader *ld, int64_t epoch, int64_t first_step) {
    if (!ld->sync_ready) return MN_ERR_ARG;
    if (epoch < 0 || first_step < 0 || first_step > ld->steps) return MN_ERR_RANGE;
    pthread_mutex_lock(&ld->mu);
    ld->generation++;
    while (ld->busy) wait_ready(ld); /* a fill may still read the order */
    loader_order(ld, epoch, ld->order);
    ld->epoch = epoch;
    ld->filled = ld->held = ld->cursor = first_step;
    ld->active = 1;
    wake_producer(ld);
    pthread_mutex_unlock(&ld->mu);
    return MN_OK;
}

int loader_next(Loader *ld, int *slot, int64_t *count, int64_t *step) {
    *slot = -1;
    *count = 0;
    *step = -1;
    if (!ld->sync_ready) return MN_ERR_ARG;
    pthread_mutex_lock(&ld->mu);
    if (!ld->active) {
        pthread_mutex_unlock(&ld->mu);
        return MN_ERR_ARG;
    }
    const int64_t k = ld->cursor;
    ld->held = k; /* frees the previous batch's slot */
    wake_producer(ld);
    if (k >= ld->steps) {
        pthread_mutex_unlock(&ld->mu);
        return MN_OK;
    }
    if (ld->has_thread) {
        while (ld->filled <= k) wait_ready(ld);
    } else {
        fill_batch(ld, (int)(k % ld->slots), ld->epoch, k);
    }
    ld->cursor = k + 1;
    pthread_mutex_unlock(&ld->mu);
    *slot = (int)(k % ld->slots);
    *step = k;
    *count = ld->n - k * ld->opt.batch_size < ld->opt.batch_size ? ld->n - k * ld->opt.batch_size
                                                                  : ld->opt.batch_size;
    return MN_OK;
}
