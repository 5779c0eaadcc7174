/* activation.h: elementwise activations (ReLU, tanh, sigmoid, log-sigmoid, leaky ReLU, ELU,
 * hard tanh), dropout (elementwise and per feature map) and (log-)softmax along one dim.
 * All tensors are float32; out and inp have the same shape (any rank) unless said otherwise. */
#ifndef MNIST_ACTIVATION_H
#define MNIST_ACTIVATION_H

#include "tensor/rng.h"
#include "tensor/tensor.h"

/* out = max(inp, 0).
 *   out  written, inp's shape (may be inp itself: in place)
 *   inp  any shape */
int relu_forward(Tensor *out, const Tensor *inp);

/* dinp = dout where the forward output was positive, else 0 (OVERWRITES dinp).
 *   dinp  written, out's shape (may be dout itself: in place)
 *   dout  gradient w.r.t. the output
 *   out   the forward output (positive exactly where the input was) */
int relu_backward(Tensor *dinp, const Tensor *dout, const Tensor *out);

/* Inverted dropout: each element is zeroed with probability p, the rest scaled by 1/(1-p), so
 * evaluation is the identity. One uniform draw per element, in order, from rng.
 *   out   written, inp's shape
 *   mask  written, inp's shape: the factor each element got (0 or 1/(1-p))
 *   inp   any shape
 *   p     drop probability in [0, 1] (p = 1 zeroes everything)
 *   rng   the generator to draw from (mnist.random.default from Lua) */
int dropout_forward(Tensor *out, Tensor *mask, const Tensor *inp, float p, Rng *rng);

/* dinp = dout * mask (OVERWRITES dinp).
 *   dinp  written, dout's shape (may be dout itself: in place)
 *   dout  gradient w.r.t. the output
 *   mask  from dropout_forward */
int dropout_backward(Tensor *dinp, const Tensor *dout, const Tensor *mask);

/* out = log(softmax(inp)) along the last dim, computed stably (max subtracted, sum in double).
 *   out  (N, D) written (any rank: rows are the last dim)
 *   inp  (N, D) */
int logsoftmax_forward(Tensor *out, const Tensor *inp);

/* dinp = dout - exp(out) * rowsum(dout) (OVERWRITES dinp).
 *   dinp  (N, D) written
 *   dout  (N, D) gradient w.r.t. the output
 *   out   (N, D) the forward output (log-probabilities) */
int logsoftmax_backward(Tensor *dinp, const Tensor *dout, const Tensor *out);

/* The elementwise activations of activation_forward / activation_backward; a and b are the
 * kind's constants. */
typedef enum {
    ACT_TANH = 0,       /* tanh(x) */
    ACT_SIGMOID = 1,    /* 1 / (1 + exp(-x)) */
    ACT_LOGSIGMOID = 2, /* log(sigmoid(x)) = -log(1 + exp(-x)), computed without overflow */
    ACT_LEAKY_RELU = 3, /* x > 0 ? x : a * x          (a: the negative slope, Torch's negval) */
    ACT_ELU = 4,        /* x > 0 ? x : a * (exp(x)-1) (a: alpha >= 0) */
    ACT_HARDTANH = 5,   /* min(max(x, a), b)          (a < b) */
    ACT_COUNT = 6
} ActivationKind;

/* The instruction set of tanh, sigmoid, log-sigmoid and ELU (csrc/nn/activation_simd.h) on this
 * machine: "avx512", "avx2" or "generic" (GNU C vectors of 4 floats), chosen with the GEMM's
 * micro-kernel (MNIST_GEMM_KERNEL forces a narrower one). */
const char *activation_path(void);

/* out = f(inp) elementwise (f: kind, with constants a, b).
 *   out   written, inp's shape (may be inp itself: in place)
 *   inp   any shape
 *   kind  an ActivationKind; MN_ERR_ARG for an unknown one or bad constants */
int activation_forward(Tensor *out, const Tensor *inp, int kind, float a, float b);

/* dinp = dout * f'(x) (OVERWRITES dinp). Each kind reads what it needs: tanh and sigmoid the
 * output, log-sigmoid the input, ELU the output (y > 0 exactly where x > 0, and y + a), the
 * others the sign of the input (unchanged by f when a >= 0, so after an in-place forward inp and
 * out may be the same tensor, holding the output).
 *   dinp  written, inp's shape (may be dout itself: in place)
 *   dout  gradient w.r.t. the output
 *   inp   the forward input
 *   out   the forward output */
int activation_backward(Tensor *dinp, const Tensor *dout, const Tensor *inp, const Tensor *out,
                        int kind, float a, float b);

/* Dropout of whole feature maps (Torch7's SpatialDropout): each (n, c) plane of inp (N, C, ...)
 * is kept with probability 1 - p (one uniform draw per plane, in order, from rng) and multiplied
 * by `scale`, or zeroed.
 *   out    written, inp's shape
 *   mask   (N, C) written: the factor each plane got (0 or scale)
 *   inp    (N, C, ...) at least 2-D
 *   p      drop probability in [0, 1]
 *   scale  factor of the kept planes (Torch7: 1, evaluation then scales by 1 - p) */
int spatial_dropout_forward(Tensor *out, Tensor *mask, const Tensor *inp, float p, float scale,
                            Rng *rng);

/* dinp = dout * mask, each mask value over its plane (OVERWRITES dinp).
 *   dinp  written, dout's shape (may be dout itself)
 *   dout  (N, C, ...) gradient w.r.t. the output
 *   mask  (N, C) from spatial_dropout_forward */
int spatial_dropout_backward(Tensor *dinp, const Tensor *dout, const Tensor *mask);

/* out = softmax(inp) (or log(softmax(inp)) when take_log) along dim `dim` (0-based), stably (max
 * subtracted, sums in double). Torch7 picks the dim by rank: the only dim of a 1-D input, the
 * second of a 2-D batch (N, D), the first of a 3-D image (C, H, W), the second of a 4-D batch.
 *   out  written, inp's shape
 *   inp  any shape
 *   dim  0 .. ndim-1 */
int softmax_forward(Tensor *out, const Tensor *inp, int dim, int take_log);

/* The gradient of softmax_forward (OVERWRITES dinp): dinp = out * (dout - sum(dout * out)) for
 * softmax, dout - exp(out) * sum(dout) for log-softmax, sums along dim.
 *   dinp  written, out's shape
 *   dout  gradient w.r.t. the output
 *   out   the forward output */
int softmax_backward(Tensor *dinp, const Tensor *dout, const Tensor *out, int dim, int take_log);

#endif
