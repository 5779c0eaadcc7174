#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor_math.h"

#include <math.h>
#include <string.h>

#include "tensor/strided.h"

static const char *const map_names[MAP_COUNT] = {
    "abs", "sign", "sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid", "floor", "ceil",
    "round", "trunc", "frac", "neg", "square", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
    "cosh", "expm1", "cinv", "add", "mul", "div", "pow", "pow", "clamp", "fmod", "remainder",
};
static const char *const zip_names[ZIP_COUNT] = {"add", "cmul", "cdiv", "cpow", "lerp", "cmax", "cmin", "atan2"};

const char *tensor_map_name(int op) { return op >= 0 && op < MAP_COUNT ? map_names[op] : "?"; }
const char *tensor_zip_name(int op) { return op >= 0 && op < ZIP_COUNT ? zip_names[op] : "?"; }

/* An input that partially overlaps the output (a shifted or transposed alias) is read from a
 * copy; the same view is fine (in place). */
static int unalias(const Tensor **in, const Tensor *out, Tensor *copy) {
    return tensor_unalias(in, out, copy, 1);
}

static int check_float_operand(const Tensor *t, int64_t numel) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    return t->numel == numel ? MN_OK : MN_ERR_SHAPE;
}

/* ---- out = f(x [, a, b]) ---- */

typedef struct { int op; float a, b; } MapArgs;

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }
static inline float signf(float v) { return (float)((v > 0.0f) - (v < 0.0f)); }
static inline float remainderf_floor(float v, float a) { return v - a * floorf(v / a); }

/* One run: v is the input element, the expression its result; contiguous runs are plain loops. */
#define MAP_RUN(expr)                                                                          \
    do {                                                                                       \
        if (so == 4 && sx == 4) {                                                              \
            float *o = (float *)ob;                                                            \
            const float *x = (const float *)xb;                                                \
            for (int64_t i = 0; i < n; i++) { float v = x[i]; o[i] = (expr); }                 \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                float v = *(const float *)(xb + i * sx);                                       \
                *(float *)(ob + i * so) = (expr);                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

static void map_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const MapArgs *m = ctx;
    char *ob = ptr[0];
    const char *xb = ptr[1];
    int64_t so = step[0], sx = step[1];
    const float a = m->a, b = m->b;
    switch (m->op) {
    case MAP_ABS: MAP_RUN(fabsf(v)); break;
    case MAP_SIGN: MAP_RUN(signf(v)); break;
    case MAP_SQRT: MAP_RUN(sqrtf(v)); break;
    case MAP_RSQRT: MAP_RUN(1.0f / sqrtf(v)); break;
    case MAP_EXP: MAP_RUN(expf(v)); break;
    case MAP_LOG: MAP_RUN(logf(v)); break;
    case MAP_LOG1P: MAP_RUN(log1pf(v)); break;
    case MAP_TANH: MAP_RUN(tanhf(v)); break;
    case MAP_SIGMOID: MAP_RUN(sigmoidf(v)); break;
    case MAP_FLOOR: MAP_RUN(floorf(v)); break;
    case MAP_CEIL: MAP_RUN(ceilf(v)); break;
    case MAP_ROUND: MAP_RUN(roundf(v)); break; /* halves away from zero, as Torch7's round */
    case MAP_TRUNC: MAP_RUN(truncf(v)); break;
    case MAP_FRAC: MAP_RUN(v - truncf(v)); break;
    case MAP_NEG: MAP_RUN(-v); break;
    case MAP_SQUARE: MAP_RUN(v * v); break;
    case MAP_SIN: MAP_RUN(sinf(v)); break;
    case MAP_COS: MAP_RUN(cosf(v)); break;
    case MAP_TAN: MAP_RUN(tanf(v)); break;
    case MAP_ASIN: MAP_RUN(asinf(v)); break;
    case MAP_ACOS: MAP_RUN(acosf(v)); break;
    case MAP_ATAN: MAP_RUN(atanf(v)); break;
    case MAP_SINH: MAP_RUN(sinhf(v)); break;
    case MAP_COSH: MAP_RUN(coshf(v)); break;
    case MAP_EXPM1: MAP_RUN(expm1f(v)); break;
    case MAP_CINV: MAP_RUN(1.0f / v); break;
    case MAP_ADD: MAP_RUN(v + a); break;
    case MAP_MUL: MAP_RUN(v * a); break;
    case MAP_DIV: MAP_RUN(v / a); break;
    case MAP_POW:
        if (a == 2.0f) MAP_RUN(v * v);
        else if (a == 1.0f) MAP_RUN(v);
        else if (a == 0.5f) MAP_RUN(sqrtf(v));
        else MAP_RUN(powf(v, a));
        break;
    case MAP_RPOW: MAP_RUN(powf(a, v)); break;
    case MAP_CLAMP: MAP_RUN(v < a ? a : v > b ? b : v); break;
    case MAP_FMOD: MAP_RUN(fmodf(v, a)); break;
    case MAP_REMAINDER: MAP_RUN(remainderf_floor(v, a)); break;
    }
}

int tensor_map(Tensor *out, const Tensor *x, int op, float a, float b) {
    if (op < 0 || op >= MAP_COUNT) return MN_ERR_ARG;
    int st = check_float_operand(x, x->numel);
    if (!st) st = check_float_operand(out, x->numel);
    if (st) return st;
    Tensor copy = {0};
    if ((st = unalias(&x, out, &copy))) return st;
    MapArgs m = {op, a, b};
    const Tensor *ops[2] = {out, x};
    strided_map(2, ops, STRIDED_GRAIN, map_run, &m);
    tensor_release(&copy);
    return MN_OK;
}

/* ---- out = f(x, y) ---- */

typedef struct { int op; float alpha; } ZipArgs;

#define ZIP_RUN(expr)                                                                          \
    do {                                                                                       \
        if (so == 4 && sx == 4 && sy == 4) {                                                   \
            float *o = (float *)ob;                                                            \
            const float *x = (const float *)xb, *y = (const float *)yb;                        \
            for (int64_t i = 0; i < n; i++) { float u = x[i], v = y[i]; o[i] = (expr); }       \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                float u = *(const float *)(xb + i * sx), v = *(const float *)(yb + i * sy);    \
                *(float *)(ob + i * so) = (expr);                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

static void zip_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const ZipArgs *z = ctx;
    char *ob = ptr[0];
    const char *xb = ptr[1], *yb = ptr[2];
    int64_t so = step[0], sx = step[1], sy = step[2];
    const float alpha = z->alpha;
    switch (z->op) {
    case ZIP_ADD:
        if (alpha == 1.0f) ZIP_RUN(u + v);
        else ZIP_RUN(u + alpha * v);
        break;
    case ZIP_MUL: ZIP_RUN(u * v); break;
    case ZIP_DIV: ZIP_RUN(u / v); break;
    case ZIP_POW: ZIP_RUN(powf(u, v)); break;
    case ZIP_LERP: ZIP_RUN(u + alpha * (v - u)); break;
    case ZIP_MAX: ZIP_RUN(u >= v || u != u ? u : v); break; /* NaN propagates, as Torch7's cmax */
    case ZIP_MIN: ZIP_RUN(u <= v || u != u ? u : v); break;
    case ZIP_ATAN2: ZIP_RUN(atan2f(u, v)); break;
    }
}

int tensor_zip(Tensor *out, const Tensor *x, const Tensor *y, int op, float alpha) {
    if (op < 0 || op >= ZIP_COUNT) return MN_ERR_ARG;
    int st = check_float_operand(x, x->numel);
    if (!st) st = check_float_operand(y, x->numel);
    if (!st) st = check_float_operand(out, x->numel);
    if (st) return st;
    Tensor cx = {0}, cy = {0};
    if (!(st = unalias(&x, out, &cx)) && !(st = unalias(&y, out, &cy))) {
        ZipArgs z = {op, alpha};
        const Tensor *ops[3] = {out, x, y};
        strided_map(3, ops, STRIDED_GRAIN, zip_run, &z);
    }
    tensor_release(&cx);
    tensor_release(&cy);
    return st;
}

/* ---- out = f(x, y, z) ---- */

static void zip3_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const ZipArgs *z = ctx;
    const float alpha = z->alpha;
    if (step[0] == 4 && step[1] == 4 && step[2] == 4 && step[3] == 4) {
        float *o = (float *)ptr[0];
        const float *x = (const float *)ptr[1], *y = (const float *)ptr[2], *w = (const float *)ptr[3];
        if (z->op == ZIP3_ADDCMUL) for (int64_t i = 0; i < n; i++) o[i] = x[i] + alpha * y[i] * w[i];
        else for (int64_t i = 0; i < n; i++) o[i] = x[i] + alpha * y[i] / w[i];
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x = *(const float *)(ptr[1] + i * step[1]), y = *(const float *)(ptr[2] + i * step[2]);
        float w = *(const float *)(ptr[3] + i * step[3]);
        *(float *)(ptr[0] + i * step[0]) = z->op == ZIP3_ADDCMUL ? x + alpha * y * w : x + alpha * y / w;
    }
}

int tensor_zip3(Tensor *out, const Tensor *x, const Tensor *y, const Tensor *z, int op, float alpha) {
    if (op != ZIP3_ADDCMUL && op != ZIP3_ADDCDIV) return MN_ERR_ARG;
    int st = check_float_operand(x, x->numel);
    if (!st) st = check_float_operand(y, x->numel);
    if (!st) st = check_float_operand(z, x->numel);
    if (!st) st = check_float_operand(out, x->numel);
    if (st) return st;
    Tensor cx = {0}, cy = {0}, cz = {0};
    if (!(st = unalias(&x, out, &cx)) && !(st = unalias(&y, out, &cy)) &&
        !(st = unalias(&z, out, &cz))) {
        ZipArgs args = {op, alpha};
        const Tensor *ops[4] = {out, x, y, z};
        strided_map(4, ops, STRIDED_GRAIN, zip3_run, &args);
    }
    tensor_release(&cx);
    tensor_release(&cy);
    tensor_release(&cz);
    return st;
}

/* ---- comparisons ---- */

typedef struct { int op, xdtype, ydtype, has_y; double value; } CmpArgs;

static inline double load(const char *p, int dtype) {
    switch (dtype) {
    case DTYPE_FLOAT32: return *(const float *)p;
    case DTYPE_UINT8: return *(const uint8_t *)p;
    default: return (double)*(const int64_t *)p;
    }
}

static inline uint8_t compare(double u, double v, int op) {
    switch (op) {
    case CMP_EQ: return u == v;
    case CMP_NE: return u != v;
    case CMP_GT: return u > v;
    case CMP_LT: return u < v;
    case CMP_GE: return u >= v;
    default: return u <= v;
    }
}

static void cmp_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const CmpArgs *c = ctx;
    uint8_t *o = (uint8_t *)ptr[0];
    if (!c->has_y && c->xdtype == DTYPE_FLOAT32 && step[0] == 1 && step[1] == 4) {
        const float *x = (const float *)ptr[1];
        const float v = (float)c->value;
        if ((double)v == c->value) { /* the common case: a float threshold, vectorised */
            switch (c->op) {
            case CMP_EQ: for (int64_t i = 0; i < n; i++) o[i] = x[i] == v; return;
            case CMP_NE: for (int64_t i = 0; i < n; i++) o[i] = x[i] != v; return;
            case CMP_GT: for (int64_t i = 0; i < n; i++) o[i] = x[i] > v; return;
            case CMP_LT: for (int64_t i = 0; i < n; i++) o[i] = x[i] < v; return;
            case CMP_GE: for (int64_t i = 0; i < n; i++) o[i] = x[i] >= v; return;
            default: for (int64_t i = 0; i < n; i++) o[i] = x[i] <= v; return;
            }
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double u = load(ptr[1] + i * step[1], c->xdtype);
        double v = c->has_y ? load(ptr[2] + i * step[2], c->ydtype) : c->value;
        *(uint8_t *)(ptr[0] + i * step[0]) = compare(u, v, c->op);
    }
}

int tensor_compare(Tensor *out, const Tensor *x, const Tensor *y, double value, int op) {
    if (op < CMP_EQ || op > CMP_LE || !x->storage || !out->storage || (y && !y->storage))
        return MN_ERR_ARG;
    if (out->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (out->numel != x->numel || (y && y->numel != x->numel)) return MN_ERR_SHAPE;
    int st;
    Tensor cx = {0}, cy = {0};
    if (!(st = unalias(&x, out, &cx)) && !(st = unalias(&y, out, &cy))) {
        CmpArgs c = {op, x->dtype, y ? y->dtype : 0, y != NULL, value};
        const Tensor *ops[3] = {out, x, y ? y : x};
        strided_map(3, ops, STRIDED_GRAIN, cmp_run, &c);
    }
    tensor_release(&cx);
    tensor_release(&cy);
    return st;
}
