/* tensor_math.h: element-wise math and comparisons on tensors of any strides (Torch7's
 * x:f() / torch.f(x) / res:f(x) all come down to one call here with out = x, a new tensor or res).
 *
 * Operands have the same element count and are walked each in its own row-major order (Torch7's
 * rule: no broadcasting; expand a tensor explicitly). `out` may be an input itself (in place), but
 * not a shifted or permuted alias of one (MN_ERR_ARG). Math is on float32 (MN_ERR_DTYPE
 * otherwise); comparisons take any dtype and write uint8 0/1. Contiguous float32 runs are plain
 * loops GCC vectorises, split over the kernels' threads when large. */
#ifndef MNIST_TENSOR_MATH_H
#define MNIST_TENSOR_MATH_H

#include "tensor/tensor.h"

typedef enum {
    /* out = f(x) */
    MAP_ABS, MAP_SIGN, MAP_SQRT, MAP_RSQRT, MAP_EXP, MAP_LOG, MAP_LOG1P, MAP_TANH, MAP_SIGMOID,
    MAP_FLOOR, MAP_CEIL, MAP_ROUND, MAP_TRUNC, MAP_FRAC, MAP_NEG, MAP_SQUARE,
    MAP_SIN, MAP_COS, MAP_TAN, MAP_ASIN, MAP_ACOS, MAP_ATAN, MAP_SINH, MAP_COSH, MAP_EXPM1,
    MAP_CINV,
    /* out = f(x, a [, b]) */
    MAP_ADD,     /* x + a */
    MAP_MUL,     /* x * a */
    MAP_DIV,     /* x / a */
    MAP_POW,     /* x ^ a */
    MAP_RPOW,    /* a ^ x (Torch7's torch.pow(number, x)) */
    MAP_CLAMP,   /* min(max(x, a), b) */
    MAP_FMOD,    /* fmod(x, a) (sign of x) */
    MAP_REMAINDER, /* x - a * floor(x / a) (sign of a) */
    MAP_COUNT
} tensor_map_op;

typedef enum {
    ZIP_ADD,   /* x + alpha * y */
    ZIP_MUL,   /* x * y */
    ZIP_DIV,   /* x / y */
    ZIP_POW,   /* x ^ y */
    ZIP_LERP,  /* x + alpha * (y - x) */
    ZIP_MAX,   /* max(x, y) (Torch7's cmax) */
    ZIP_MIN,   /* min(x, y) (cmin) */
    ZIP_ATAN2, /* atan2(x, y) */
    ZIP_COUNT
} tensor_zip_op;

typedef enum { ZIP3_ADDCMUL, /* x + alpha * y * z */ ZIP3_ADDCDIV /* x + alpha * y / z */ } tensor_zip3_op;

typedef enum { CMP_EQ, CMP_NE, CMP_GT, CMP_LT, CMP_GE, CMP_LE } tensor_cmp_op;

/* The op's Torch7 name ("abs", "add", ...), for error messages. */
const char *tensor_map_name(int op);
const char *tensor_zip_name(int op);

/* out = op(x [, a, b]). */
int tensor_map(Tensor *out, const Tensor *x, int op, float a, float b);
/* out = op(x, y) (alpha for ZIP_ADD and ZIP_LERP). */
int tensor_zip(Tensor *out, const Tensor *x, const Tensor *y, int op, float alpha);
/* out = op(x, y, z, alpha). */
int tensor_zip3(Tensor *out, const Tensor *x, const Tensor *y, const Tensor *z, int op, float alpha);
/* out (uint8) = x op y (y a tensor), or x op value (y NULL); x and y of any dtype. */
int tensor_compare(Tensor *out, const Tensor *x, const Tensor *y, double value, int op);

#endif
