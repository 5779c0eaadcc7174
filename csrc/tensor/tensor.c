#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tensor/gemm.h"

int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS) return MN_ERR_SHAPE;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > TENSOR_MAX_NUMEL) return MN_ERR_SHAPE;
        n *= shape[i]; /* both factors <= 2^31, so no overflow before the check */
        if (n > TENSOR_MAX_NUMEL) return MN_ERR_SHAPE;
    }
    *numel = n;
    return MN_OK;
}

static void set_shape(Tensor *t, int ndim, const int64_t *shape, int64_t numel) {
    t->ndim = ndim;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
}

static Storage *storage_new(void *data, size_t nbytes, size_t unmap_len) {
    Storage *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->data = data;
    s->nbytes = nbytes;
    s->unmap_len = unmap_len;
    s->refcount = 1;
    return s;
}

static void storage_retain(Storage *s) { __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED); }

static void storage_release(Storage *s) {
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->unmap_len) munmap(s->data, s->unmap_len);
    else free(s->data);
    free(s);
}

void tensor_release(Tensor *t) {
    storage_release(t->storage);
    memset(t, 0, sizeof *t);
}

int tensor_init(Tensor *out, int dtype, int ndim, const int64_t *shape) {
    tensor_release(out);
    if (dtype != DTYPE_FLOAT32 && dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    size_t nbytes = (size_t)numel * dtype_size(dtype);
    void *data = calloc(1, nbytes);
    if (!data) return MN_ERR_NOMEM;
    st = tensor_wrap(out, dtype, ndim, shape, data, nbytes);
    if (st) free(data);
    return st;
}

int tensor_wrap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data, size_t nbytes) {
    tensor_release(out);
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    if (nbytes < (size_t)numel * dtype_size(dtype)) return MN_ERR_SHAPE;
    Storage *s = storage_new(data, nbytes, 0);
    if (!s) return MN_ERR_NOMEM;
    out->storage = s;
    out->offset = 0;
    out->dtype = dtype;
    set_shape(out, ndim, shape, numel);
    return MN_OK;
}

int tensor_wrap_mmap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data,
                     void *map, size_t unmap_len) {
    tensor_release(out);
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    size_t esize = dtype_size(dtype);
    if ((char *)data < (char *)map || (size_t)((char *)data - (char *)map) % esize != 0 ||
        (size_t)((char *)data - (char *)map) + (size_t)numel * esize > unmap_len)
        return MN_ERR_RANGE;
    Storage *s = storage_new(map, unmap_len, unmap_len);
    if (!s) return MN_ERR_NOMEM;
    out->storage = s;
    out->offset = (size_t)((char *)data - (char *)map) / esize;
    out->dtype = dtype;
    set_shape(out, ndim, shape, numel);
    return MN_OK;
}

/* ---- views ---- */

static void share(Tensor *out, const Tensor *src, size_t offset, int ndim, const int64_t *shape,
                  int64_t numel) {
    Storage *s = src->storage;
    int dtype = src->dtype;
    storage_retain(s); /* before release: out may be src itself */
    tensor_release(out);
    out->storage = s;
    out->offset = offset;
    out->dtype = dtype;
    set_shape(out, ndim, shape, numel);
}

int tensor_view(Tensor *out, const Tensor *src, int ndim, const int64_t *shape) {
    if (!src->storage) return MN_ERR_ARG;
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    if (numel != src->numel) return MN_ERR_SHAPE;
    int64_t copy[TENSOR_MAX_DIMS];
    memcpy(copy, shape, (size_t)ndim * sizeof *shape); /* shape may alias out->shape */
    share(out, src, src->offset, ndim, copy, numel);
    return MN_OK;
}

int tensor_select(Tensor *out, const Tensor *src, int64_t index) {
    if (!src->storage) return MN_ERR_ARG;
    if (index < 0 || index >= src->shape[0]) return MN_ERR_RANGE;
    int64_t row = src->numel / src->shape[0];
    int64_t shape[TENSOR_MAX_DIMS] = {1, 1, 1, 1};
    int ndim = src->ndim > 1 ? src->ndim - 1 : 1;
    for (int i = 1; i < src->ndim; i++) shape[i - 1] = src->shape[i];
    share(out, src, src->offset + (size_t)(index * row), ndim, shape, row);
    return MN_OK;
}

int tensor_narrow(Tensor *out, const Tensor *src, int64_t start, int64_t length) {
    if (!src->storage) return MN_ERR_ARG;
    if (start < 0 || length < 1 || start >= src->shape[0] || length > src->shape[0] - start)
        return MN_ERR_RANGE;
    int64_t row = src->numel / src->shape[0];
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = length;
    share(out, src, src->offset + (size_t)(start * row), src->ndim, shape, length * row);
    return MN_OK;
}

int tensor_set_storage(Tensor *t, const Tensor *src, size_t offset) {
    if (!t->storage || !src->storage) return MN_ERR_ARG;
    if (t->dtype != src->dtype) return MN_ERR_DTYPE;
    size_t esize = dtype_size(src->dtype);
    size_t first = src->offset + offset;
    if (offset > (size_t)src->numel || (size_t)t->numel > (size_t)src->numel - offset ||
        (first + (size_t)t->numel) * esize > src->storage->nbytes)
        return MN_ERR_RANGE;
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    share(t, src, first, t->ndim, shape, t->numel);
    return MN_OK;
}

int tensor_shares_storage(const Tensor *a, const Tensor *b) {
    return a->storage != NULL && a->storage == b->storage;
}

int tensor_overlaps(const Tensor *a, const Tensor *b) {
    if (!tensor_shares_storage(a, b)) return 0;
    size_t a_end = a->offset + (size_t)a->numel, b_end = b->offset + (size_t)b->numel;
    return a->offset < b_end && b->offset < a_end;
}

/* ---- copies ---- */

int tensor_clone(Tensor *out, const Tensor *src) {
    if (!src->storage) return MN_ERR_ARG;
    Tensor tmp = {0};
    int st = tensor_init(&tmp, src->dtype, src->ndim, src->shape);
    if (st) return st;
    memcpy(tmp.storage->data, (char *)src->storage->data + src->offset * dtype_size(src->dtype),
           (size_t)src->numel * dtype_size(src->dtype));
    tensor_release(out);
    *out = tmp;
    return MN_OK;
}

int tensor_copy(Tensor *dst, const Tensor *src) {
    if (!dst->storage || !src->storage) return MN_ERR_ARG;
    if (dst->numel != src->numel) return MN_ERR_SHAPE;
    if (dst->dtype == src->dtype) {
        memmove((char *)dst->storage->data + dst->offset * dtype_size(dst->dtype),
                (char *)src->storage->data + src->offset * dtype_size(src->dtype),
                (size_t)src->numel * dtype_size(src->dtype));
        return MN_OK;
    }
    if (dst->dtype == DTYPE_FLOAT32) return tensor_bytes_to_float(dst, src, 1.0f, 0.0f);
    return MN_ERR_DTYPE; /* float -> uint8 would silently truncate */
}

int tensor_bytes_to_float(Tensor *dst, const Tensor *src, float scale, float shift) {
    if (!dst->storage || !src->storage) return MN_ERR_ARG;
    if (dst->dtype != DTYPE_FLOAT32 || src->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (dst->numel != src->numel) return MN_ERR_SHAPE;
    float *out = tensor_f32(dst);
    const uint8_t *in = tensor_u8(src);
    for (int64_t i = 0; i < src->numel; i++) out[i] = (float)in[i] * scale + shift;
    return MN_OK;
}

/* ---- elementwise ---- */

static int check_f32(const Tensor *t) {
    if (!t->storage) return MN_ERR_ARG;
    return t->dtype == DTYPE_FLOAT32 ? MN_OK : MN_ERR_DTYPE;
}

static int check_pair(const Tensor *t, const Tensor *x) {
    int st = check_f32(t);
    if (!st) st = check_f32(x);
    if (!st && t->numel != x->numel) st = MN_ERR_SHAPE;
    return st;
}

int tensor_fill(Tensor *t, float value) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->dtype == DTYPE_UINT8) {
        if (!(value >= 0.0f && value <= 255.0f) || value != floorf(value)) return MN_ERR_ARG;
        memset(tensor_u8(t), (int)value, (size_t)t->numel);
        return MN_OK;
    }
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = value;
    return MN_OK;
}

int tensor_add(Tensor *t, const Tensor *x) { return tensor_axpy(t, 1.0f, x); }

int tensor_add_scalar(Tensor *t, float value) {
    int st = check_f32(t);
    if (st) return st;
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] += value;
    return MN_OK;
}

int tensor_mul(Tensor *t, const Tensor *x) {
    int st = check_pair(t, x);
    if (st) return st;
    float *p = tensor_f32(t);
    const float *q = tensor_f32(x);
    for (int64_t i = 0; i < t->numel; i++) p[i] *= q[i];
    return MN_OK;
}

int tensor_scale(Tensor *t, float s) {
    int st = check_f32(t);
    if (st) return st;
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] *= s;
    return MN_OK;
}

int tensor_axpy(Tensor *y, float alpha, const Tensor *x) {
    int st = check_pair(y, x);
    if (st) return st;
    float *p = tensor_f32(y);
    const float *q = tensor_f32(x);
    for (int64_t i = 0; i < y->numel; i++) p[i] += alpha * q[i];
    return MN_OK;
}

int tensor_exp(Tensor *t) {
    int st = check_f32(t);
    if (st) return st;
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = expf(p[i]);
    return MN_OK;
}

/* ---- reductions ---- */

int tensor_sum_all(double *sum, const Tensor *t) {
    int st = check_f32(t);
    if (st) return st;
    const float *p = tensor_f32(t);
    double acc = 0.0;
    for (int64_t i = 0; i < t->numel; i++) acc += p[i];
    *sum = acc;
    return MN_OK;
}

/* Index of the largest of p[0..n): first on ties; a NaN beats every number (as torch.max). */
static int64_t argmax_span(const float *p, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(p[i])) return i;
        if (p[i] > p[best]) best = i;
    }
    return best;
}

int tensor_max_all(float *max, int64_t *argmax, const Tensor *t) {
    int st = check_f32(t);
    if (st) return st;
    const float *p = tensor_f32(t);
    int64_t i = argmax_span(p, t->numel);
    *max = p[i];
    *argmax = i;
    return MN_OK;
}

int tensor_sum_rows(Tensor *out, const Tensor *t) {
    int st = check_f32(t);
    if (!st) st = check_f32(out);
    if (st) return st;
    int64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    if (out->numel != rows) return MN_ERR_SHAPE;
    const float *p = tensor_f32(t);
    float *o = tensor_f32(out);
    for (int64_t r = 0; r < rows; r++) {
        double acc = 0.0;
        for (int64_t c = 0; c < cols; c++) acc += p[r * cols + c];
        o[r] = (float)acc;
    }
    return MN_OK;
}

int tensor_max_rows(Tensor *values, int64_t *indices, const Tensor *t) {
    int st = check_f32(t);
    if (!st) st = check_f32(values);
    if (st) return st;
    int64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    if (values->numel != rows) return MN_ERR_SHAPE;
    const float *p = tensor_f32(t);
    float *v = tensor_f32(values);
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = argmax_span(p + r * cols, cols);
        v[r] = p[r * cols + i];
        indices[r] = i;
    }
    return MN_OK;
}

/* ---- linear algebra ---- */

int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta) {
    int st = check_f32(a);
    if (!st) st = check_f32(b);
    if (!st) st = check_f32(c);
    if (st) return st;
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2) return MN_ERR_SHAPE;
    int64_t m = trans_a ? a->shape[1] : a->shape[0];
    int64_t k = trans_a ? a->shape[0] : a->shape[1];
    int64_t kb = trans_b ? b->shape[1] : b->shape[0];
    int64_t n = trans_b ? b->shape[0] : b->shape[1];
    if (k != kb || c->shape[0] != m || c->shape[1] != n) return MN_ERR_SHAPE;
    if (tensor_overlaps(c, a) || tensor_overlaps(c, b)) return MN_ERR_ARG;
    gemm(trans_a, trans_b, m, n, k, alpha, tensor_f32(a), a->shape[1], tensor_f32(b), b->shape[1],
         beta, tensor_f32(c), n);
    return MN_OK;
}

char *tensor_shape_str(char *buf, size_t size, const Tensor *t) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}
