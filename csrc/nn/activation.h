/* activation.h: elementwise and row-wise activations: ReLU, dropout and log-softmax.
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

#endif
