/* linear.h: the fully connected layer, out = inp @ weight^T + bias, over a batch of rows.
 *
 * The weight keeps PyTorch's layout (O, I), so both products run as one sgemm with a transpose
 * flag (no copy). Shapes: inp (N, I), weight (O, I), bias (O), out (N, O). */
#ifndef MNIST_LINEAR_H
#define MNIST_LINEAR_H

#include "tensor/tensor.h"

/* out = inp @ weight^T + bias (the bias is written first and the sgemm adds onto it).
 *   out     (N, O) written
 *   inp     (N, I)
 *   weight  (O, I)
 *   bias    (O), or NULL for none */
int linear_forward(Tensor *out, const Tensor *inp, const Tensor *weight, const Tensor *bias);

/* Gradients of linear_forward. dinp is OVERWRITTEN; dweight and dbias ACCUMULATE (+=).
 * Any of dinp, dweight, dbias may be NULL to skip it.
 *   dinp     (N, I) = dout @ weight, or NULL
 *   dweight  (O, I) += dout^T @ inp, or NULL
 *   dbias    (O) += column sums of dout, or NULL
 *   dout     (N, O) gradient w.r.t. the output
 *   inp      (N, I) the forward input
 *   weight   (O, I) the forward weight */
int linear_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                    const Tensor *inp, const Tensor *weight);

#endif
