#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sys/memory.h"
#include "tensor/strided.h"

/* ---- life cycle ---- */

int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) return MN_ERR_SHAPE;
    int64_t n = ndim ? 1 : 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > TENSOR_MAX_NUMEL) return MN_ERR_SHAPE;
        n *= shape[i]; /* both factors <= 2^31, so no overflow before the check */
        if (n > TENSOR_MAX_NUMEL) return MN_ERR_SHAPE;
    }
    *numel = n;
    return MN_OK;
}

/* t's sizes = shape, strides row-major. */
static void set_contiguous(Tensor *t, int ndim, const int64_t *shape, int64_t numel) {
    int64_t sizes[TENSOR_MAX_DIMS];
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape); /* shape may alias t->shape */
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = TENSOR_MAX_DIMS - 1; i >= 0; i--) {
        t->shape[i] = i < ndim ? sizes[i] : 1;
        t->stride[i] = i < ndim ? stride : 1;
        if (i < ndim && sizes[i] > 1) stride *= sizes[i];
    }
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
    if (dtype != DTYPE_FLOAT32 && dtype != DTYPE_UINT8 && dtype != DTYPE_INT64) return MN_ERR_DTYPE;
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    size_t nbytes = (size_t)numel * dtype_size(dtype);
    void *data = calloc(1, nbytes ? nbytes : 1);
    if (!data) return MN_ERR_NOMEM;
    if (nbytes >= 2 * MEM_HUGE_PAGE) mem_advise_huge(data, nbytes); /* fewer page faults (sys/memory.h) */
    Tensor tmp = {0};
    st = tensor_wrap(&tmp, dtype, ndim, shape, data, nbytes);
    if (st) {
        free(data);
        return st;
    }
    tensor_release(out); /* after the shape was read: shape may point into out */
    *out = tmp;
    return MN_OK;
}

int tensor_init_like(Tensor *out, const Tensor *src, int dtype) {
    if (!src->storage) return MN_ERR_ARG;
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    return tensor_init(out, dtype >= 0 ? dtype : src->dtype, src->ndim, shape);
}

int tensor_wrap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data, size_t nbytes) {
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    if (nbytes < (size_t)numel * dtype_size(dtype)) return MN_ERR_SHAPE;
    Storage *s = storage_new(data, nbytes, 0);
    if (!s) return MN_ERR_NOMEM;
    int64_t sizes[TENSOR_MAX_DIMS];
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape);
    tensor_release(out);
    out->storage = s;
    out->offset = 0;
    out->dtype = dtype;
    set_contiguous(out, ndim, sizes, numel);
    return MN_OK;
}

int tensor_wrap_mmap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data,
                     void *map, size_t unmap_len) {
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    size_t esize = dtype_size(dtype);
    if ((char *)data < (char *)map || (size_t)((char *)data - (char *)map) % esize != 0 ||
        (size_t)((char *)data - (char *)map) + (size_t)numel * esize > unmap_len)
        return MN_ERR_RANGE;
    Storage *s = storage_new(map, unmap_len, unmap_len);
    if (!s) return MN_ERR_NOMEM;
    int64_t sizes[TENSOR_MAX_DIMS];
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape);
    tensor_release(out);
    out->storage = s;
    out->offset = (size_t)((char *)data - (char *)map) / esize;
    out->dtype = dtype;
    set_contiguous(out, ndim, sizes, numel);
    return MN_OK;
}

int tensor_resize(Tensor *t, int ndim, const int64_t *shape) {
    if (!t->storage) return MN_ERR_ARG;
    int64_t numel;
    int st = tensor_check_shape(ndim, shape, &numel);
    if (st) return st;
    size_t need = (t->offset + (size_t)numel) * dtype_size(t->dtype);
    if (tensor_is_contiguous(t) && need <= t->storage->nbytes && !t->storage->unmap_len) {
        set_contiguous(t, ndim, shape, numel);
        return MN_OK;
    }
    return tensor_init(t, t->dtype, ndim, shape);
}

/* ---- layout ---- */

int tensor_is_contiguous(const Tensor *t) {
    int64_t expected = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->stride[d] != expected) return 0;
        expected *= t->shape[d];
    }
    return 1;
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
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

/* ---- views ---- */

/* out: a view of src's storage with the given layout (arrays may alias out's own). */
static void share(Tensor *out, const Tensor *src, size_t offset, int ndim, const int64_t *shape,
                  const int64_t *stride) {
    int64_t sizes[TENSOR_MAX_DIMS], strides[TENSOR_MAX_DIMS];
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape);
    memcpy(strides, stride, (size_t)ndim * sizeof *stride);
    Storage *s = src->storage;
    int dtype = src->dtype;
    storage_retain(s); /* before release: out may be src itself */
    tensor_release(out);
    out->storage = s;
    out->offset = offset;
    out->dtype = dtype;
    out->ndim = ndim;
    out->numel = ndim ? 1 : 0;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) {
        out->shape[i] = i < ndim ? sizes[i] : 1;
        out->stride[i] = i < ndim ? strides[i] : 1;
        if (i < ndim) out->numel *= sizes[i];
    }
}

/* The strides `shape` can have over src's elements without a copy (Torch7's and PyTorch's
 * rule: every group of src's dims that the new shape splits or merges must be contiguous within
 * itself). Returns 0 when the layout does not allow it. */
static int view_strides(int64_t *stride, const Tensor *src, int ndim, const int64_t *shape) {
    if (src->numel == 0) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) stride[d] = s, s *= shape[d] > 1 ? shape[d] : 1;
        return 1;
    }
    int view_d = ndim - 1;
    /* walk src's dims from the last, grouping those that are contiguous with one another */
    int64_t chunk_base_stride = src->ndim ? src->stride[src->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = src->ndim - 1; d >= 0; d--) {
        tensor_numel *= src->shape[d];
        if (d == 0 || (src->shape[d - 1] != 1 &&
                       src->stride[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return 0;
            if (d > 0) {
                chunk_base_stride = src->stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    for (; view_d >= 0; view_d--) stride[view_d] = 1; /* leading size-1 dims */
    return 1;
}

int tensor_view(Tensor *out, const Tensor *src, int ndim, const int64_t *shape) {
    if (!src->storage) return MN_ERR_ARG;
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) return MN_ERR_SHAPE;
    int64_t sizes[TENSOR_MAX_DIMS];
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        if (sizes[d] == -1) {
            if (infer >= 0) return MN_ERR_SHAPE;
            infer = d;
        } else {
            known *= sizes[d] >= 0 ? sizes[d] : 0;
        }
    }
    if (infer >= 0) {
        if (known == 0 || src->numel % known) return MN_ERR_SHAPE;
        sizes[infer] = src->numel / known;
    }
    int64_t numel;
    int st = tensor_check_shape(ndim, sizes, &numel);
    if (st) return st;
    if (numel != src->numel) return MN_ERR_SHAPE;
    int64_t stride[TENSOR_MAX_DIMS];
    if (!view_strides(stride, src, ndim, sizes)) return MN_ERR_LAYOUT;
    share(out, src, src->offset, ndim, sizes, stride);
    return MN_OK;
}

int tensor_select(Tensor *out, const Tensor *src, int dim, int64_t index) {
    if (!src->storage || src->ndim < 1) return MN_ERR_ARG;
    if (dim < 0 || dim >= src->ndim) return MN_ERR_ARG;
    if (index < 0 || index >= src->shape[dim]) return MN_ERR_RANGE;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < src->ndim; d++) {
        if (d == dim) continue;
        shape[n] = src->shape[d];
        stride[n] = src->stride[d];
        n++;
    }
    share(out, src, src->offset + (size_t)(index * src->stride[dim]), n, shape, stride);
    return MN_OK;
}

int tensor_narrow(Tensor *out, const Tensor *src, int dim, int64_t start, int64_t length) {
    if (!src->storage) return MN_ERR_ARG;
    if (dim < 0 || dim >= src->ndim) return MN_ERR_ARG;
    if (start < 0 || length < 0 || start > src->shape[dim] || length > src->shape[dim] - start)
        return MN_ERR_RANGE;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    memcpy(stride, src->stride, sizeof stride);
    shape[dim] = length;
    size_t offset = src->offset + (length ? (size_t)(start * src->stride[dim]) : 0);
    share(out, src, offset, src->ndim, shape, stride);
    return MN_OK;
}

int tensor_transpose(Tensor *out, const Tensor *src, int d1, int d2) {
    if (!src->storage) return MN_ERR_ARG;
    if (d1 < 0 || d1 >= src->ndim || d2 < 0 || d2 >= src->ndim) return MN_ERR_ARG;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    memcpy(stride, src->stride, sizeof stride);
    int64_t s = shape[d1], t = stride[d1];
    shape[d1] = shape[d2], stride[d1] = stride[d2];
    shape[d2] = s, stride[d2] = t;
    share(out, src, src->offset, src->ndim, shape, stride);
    return MN_OK;
}

int tensor_expand(Tensor *out, const Tensor *src, int ndim, const int64_t *shape) {
    if (!src->storage) return MN_ERR_ARG;
    if (ndim < src->ndim || ndim > TENSOR_MAX_DIMS || src->ndim == 0) return MN_ERR_SHAPE;
    int64_t sizes[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS], numel;
    memcpy(sizes, shape, (size_t)ndim * sizeof *shape);
    int st = tensor_check_shape(ndim, sizes, &numel);
    if (st) return st;
    int lead = ndim - src->ndim;
    for (int d = 0; d < ndim; d++) {
        if (d < lead) {
            stride[d] = 0;
            continue;
        }
        int64_t have = src->shape[d - lead];
        if (have == sizes[d]) stride[d] = src->stride[d - lead];
        else if (have == 1) stride[d] = 0;
        else return MN_ERR_SHAPE;
    }
    share(out, src, src->offset, ndim, sizes, stride);
    return MN_OK;
}

int tensor_unfold(Tensor *out, const Tensor *src, int dim, int64_t size, int64_t step) {
    if (!src->storage) return MN_ERR_ARG;
    if (src->ndim == TENSOR_MAX_DIMS) return MN_ERR_SHAPE;
    if (dim < 0 || dim >= src->ndim || step < 1 || size < 0) return MN_ERR_ARG;
    if (size > src->shape[dim]) return MN_ERR_RANGE;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    memcpy(stride, src->stride, sizeof stride);
    shape[dim] = (src->shape[dim] - size) / step + 1;
    stride[dim] = src->stride[dim] * step;
    shape[src->ndim] = size;
    stride[src->ndim] = src->stride[dim];
    share(out, src, src->offset, src->ndim + 1, shape, stride);
    return MN_OK;
}

int tensor_squeeze(Tensor *out, const Tensor *src, int dim) {
    if (!src->storage) return MN_ERR_ARG;
    if (dim >= src->ndim) return MN_ERR_ARG;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < src->ndim; d++) {
        if (src->shape[d] == 1 && (dim < 0 || d == dim)) continue;
        shape[n] = src->shape[d];
        stride[n] = src->stride[d];
        n++;
    }
    if (n == 0 && src->numel == 1) { /* Torch7 keeps one dim for a single element */
        shape[0] = 1;
        stride[0] = 1;
        n = 1;
    }
    share(out, src, src->offset, n, shape, stride);
    return MN_OK;
}

int tensor_unsqueeze(Tensor *out, const Tensor *src, int dim) {
    if (!src->storage) return MN_ERR_ARG;
    if (src->ndim == TENSOR_MAX_DIMS) return MN_ERR_SHAPE;
    if (dim < 0 || dim > src->ndim) return MN_ERR_ARG;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
    int n = 0;
    for (int d = 0; d <= src->ndim; d++) {
        if (d == dim) {
            shape[n] = 1;
            stride[n] = d < src->ndim ? src->shape[d] * src->stride[d] : 1;
            n++;
        }
        if (d < src->ndim) {
            shape[n] = src->shape[d];
            stride[n] = src->stride[d];
            n++;
        }
    }
    share(out, src, src->offset, n, shape, stride);
    return MN_OK;
}

int tensor_contiguous(Tensor *out, const Tensor *src) {
    if (!src->storage) return MN_ERR_ARG;
    if (!tensor_is_contiguous(src)) return tensor_clone(out, src);
    share(out, src, src->offset, src->ndim, src->shape, src->stride);
    return MN_OK;
}

int tensor_set_storage(Tensor *t, const Tensor *src, size_t offset) {
    if (!t->storage || !src->storage) return MN_ERR_ARG;
    if (t->dtype != src->dtype) return MN_ERR_DTYPE;
    if (!tensor_is_contiguous(src)) return MN_ERR_LAYOUT;
    size_t esize = dtype_size(src->dtype);
    size_t first = src->offset + offset;
    if (offset > (size_t)src->numel || (size_t)t->numel > (size_t)src->numel - offset ||
        (first + (size_t)t->numel) * esize > src->storage->nbytes)
        return MN_ERR_RANGE;
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    int64_t numel = t->numel;
    storage_retain(src->storage);
    Storage *s = src->storage;
    int ndim = t->ndim, dtype = t->dtype;
    tensor_release(t);
    t->storage = s;
    t->offset = first;
    t->dtype = dtype;
    set_contiguous(t, ndim, shape, numel);
    return MN_OK;
}

int tensor_shares_storage(const Tensor *a, const Tensor *b) {
    return a->storage != NULL && a->storage == b->storage;
}

/* [first, last] element offsets t reaches in its storage. */
static void element_span(const Tensor *t, size_t *first, size_t *last) {
    int64_t lo = 0, hi = 0;
    for (int d = 0; d < t->ndim; d++) {
        int64_t reach = (t->shape[d] - 1) * t->stride[d];
        if (reach > 0) hi += reach;
        else lo += reach;
    }
    *first = t->offset + (size_t)lo;
    *last = t->offset + (size_t)hi;
}

int tensor_overlaps(const Tensor *a, const Tensor *b) {
    if (!tensor_shares_storage(a, b) || a->numel == 0 || b->numel == 0) return 0;
    size_t a0, a1, b0, b1;
    element_span(a, &a0, &a1);
    element_span(b, &b0, &b1);
    return a0 <= b1 && b0 <= a1;
}

int tensor_same_view(const Tensor *a, const Tensor *b) {
    if (!tensor_shares_storage(a, b) || a->offset != b->offset || a->numel != b->numel) return 0;
    Walk wa, wb;
    walk_init(&wa, a);
    walk_init(&wb, b);
    if (wa.ndim != wb.ndim) return 0;
    for (int d = 0; d < wa.ndim; d++)
        if (wa.size[d] != wb.size[d] || wa.step[d] != wb.step[d]) return 0;
    return 1;
}

int tensor_unalias(const Tensor **in, const Tensor *out, Tensor *copy, int in_place_ok) {
    if (!*in || !tensor_overlaps(*in, out) || (in_place_ok && tensor_same_view(*in, out))) return MN_OK;
    int st = tensor_clone(copy, *in);
    if (!st) *in = copy;
    return st;
}

/* ---- copies ---- */

int tensor_clone(Tensor *out, const Tensor *src) {
    if (!src->storage) return MN_ERR_ARG;
    Tensor tmp = {0};
    int st = tensor_init_like(&tmp, src, -1);
    if (!st) st = tensor_copy(&tmp, src);
    if (st) {
        tensor_release(&tmp);
        return st;
    }
    tensor_release(out);
    *out = tmp;
    return MN_OK;
}

/* Reads element p of dtype as a double, and writes one (float to integer truncates toward zero,
 * as C's and Torch7's casts do). */
static inline double load_as_double(const char *p, int dtype) {
    switch (dtype) {
    case DTYPE_FLOAT32: return *(const float *)p;
    case DTYPE_UINT8: return *(const uint8_t *)p;
    default: return (double)*(const int64_t *)p;
    }
}

typedef struct { int dst_dtype, src_dtype; } CopyKind;

static void copy_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const CopyKind *k = ctx;
    char *d = ptr[0];
    const char *s = ptr[1];
    if (k->dst_dtype == k->src_dtype) {
        size_t esize = dtype_size(k->dst_dtype);
        if (step[0] == (int64_t)esize && step[1] == (int64_t)esize) {
            memmove(d, s, (size_t)n * esize);
            return;
        }
        if (esize == 4) {
            for (int64_t i = 0; i < n; i++) *(float *)(d + i * step[0]) = *(const float *)(s + i * step[1]);
        } else if (esize == 8) {
            for (int64_t i = 0; i < n; i++) *(int64_t *)(d + i * step[0]) = *(const int64_t *)(s + i * step[1]);
        } else {
            for (int64_t i = 0; i < n; i++) d[i * step[0]] = s[i * step[1]];
        }
        return;
    }
    if (k->dst_dtype == DTYPE_FLOAT32 && k->src_dtype == DTYPE_UINT8 && step[0] == 4 && step[1] == 1) {
        float *o = (float *)d;
        const uint8_t *in = (const uint8_t *)s;
        for (int64_t i = 0; i < n; i++) o[i] = (float)in[i];
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = load_as_double(s + i * step[1], k->src_dtype);
        char *o = d + i * step[0];
        switch (k->dst_dtype) {
        case DTYPE_FLOAT32: *(float *)o = (float)v; break;
        case DTYPE_UINT8: *(uint8_t *)o = (uint8_t)(int64_t)v; break; /* wraps, as Torch7's byte() */
        default: *(int64_t *)o = (int64_t)v; break;
        }
    }
}

int tensor_copy(Tensor *dst, const Tensor *src) {
    if (!dst->storage || !src->storage) return MN_ERR_ARG;
    if (dst->numel != src->numel) return MN_ERR_SHAPE;
    if (dst->numel == 0) return MN_OK;
    Tensor tmp = {0};
    const Tensor *from = src;
    if (tensor_overlaps(dst, src) && !tensor_same_view(dst, src)) {
        /* a shifted or permuted alias: go through a copy so no element is read after it is written */
        int st = tensor_clone(&tmp, src);
        if (st) return st;
        from = &tmp;
    }
    CopyKind kind = {dst->dtype, from->dtype};
    const Tensor *ops[2] = {dst, from};
    strided_map(2, ops, STRIDED_GRAIN, copy_run, &kind);
    tensor_release(&tmp);
    return MN_OK;
}

int tensor_bytes_to_float(Tensor *dst, const Tensor *src, float scale, float shift) {
    if (!dst->storage || !src->storage) return MN_ERR_ARG;
    if (dst->dtype != DTYPE_FLOAT32 || src->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (dst->numel != src->numel) return MN_ERR_SHAPE;
    if (!tensor_is_contiguous(dst) || !tensor_is_contiguous(src)) return MN_ERR_LAYOUT;
    float *out = tensor_f32(dst);
    const uint8_t *in = tensor_u8(src);
    for (int64_t i = 0; i < src->numel; i++) out[i] = (float)in[i] * scale + shift;
    return MN_OK;
}

/* MN_OK when value is one of dtype's values. */
static int fits(int dtype, double value) {
    if (dtype == DTYPE_FLOAT32) return MN_OK;
    if (value != floor(value)) return MN_ERR_ARG;
    if (dtype == DTYPE_UINT8) return value >= 0 && value <= 255 ? MN_OK : MN_ERR_ARG;
    return value >= -9223372036854775808.0 && value < 9223372036854775808.0 ? MN_OK : MN_ERR_ARG;
}

typedef struct { int dtype; float f; uint8_t u; int64_t l; } FillValue;

static void fill_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const FillValue *v = ctx;
    char *p = ptr[0];
    int64_t s = step[0];
    switch (v->dtype) {
    case DTYPE_FLOAT32:
        if (s == 4) for (int64_t i = 0; i < n; i++) ((float *)p)[i] = v->f;
        else for (int64_t i = 0; i < n; i++) *(float *)(p + i * s) = v->f;
        break;
    case DTYPE_UINT8:
        if (s == 1) memset(p, v->u, (size_t)n);
        else for (int64_t i = 0; i < n; i++) p[i * s] = (char)v->u;
        break;
    default:
        for (int64_t i = 0; i < n; i++) *(int64_t *)(p + i * s) = v->l;
        break;
    }
}

int tensor_fill(Tensor *t, double value) {
    if (!t->storage) return MN_ERR_ARG;
    int st = fits(t->dtype, value);
    if (st) return st;
    FillValue v = {t->dtype, (float)value, (uint8_t)(t->dtype == DTYPE_UINT8 ? value : 0),
                   t->dtype == DTYPE_INT64 ? (int64_t)value : 0};
    const Tensor *ops[1] = {t};
    strided_map(1, ops, STRIDED_GRAIN, fill_run, &v);
    return MN_OK;
}

/* ---- element access ---- */

int64_t tensor_element_offset(const Tensor *t, const int64_t *index) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += index[d] * t->stride[d];
    return off;
}

double tensor_get_at(const Tensor *t, int64_t off) {
    return load_as_double(tensor_bytes(t) + off * (int64_t)dtype_size(t->dtype), t->dtype);
}

int tensor_set_at(Tensor *t, int64_t off, double value) {
    int st = fits(t->dtype, value);
    if (st) return st;
    char *p = tensor_bytes(t) + off * (int64_t)dtype_size(t->dtype);
    switch (t->dtype) {
    case DTYPE_FLOAT32: *(float *)p = (float)value; break;
    case DTYPE_UINT8: *(uint8_t *)p = (uint8_t)value; break;
    default: *(int64_t *)p = (int64_t)value; break;
    }
    return MN_OK;
}
