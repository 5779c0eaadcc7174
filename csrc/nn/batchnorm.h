/* batchnorm.h: batch normalization per channel, as PyTorch's BatchNorm1d/BatchNorm2d.
 *
 * inp is (N, C) or (N, C, H, W): channel c's statistics run over the M = N*H*W values of
 * column / plane c. Training normalizes with the batch mean and biased variance and updates the
 * running statistics: running = (1 - momentum) * running + momentum * batch, with the UNBIASED
 * batch variance (var * M / (M - 1)) for running_var, as PyTorch. Evaluation normalizes with the
 * running statistics. Statistics accumulate in double (per row chunk of float lanes, see
 * batchnorm.c).
 *
 *     out = (inp - mean) * invstd * weight + bias,   invstd = 1 / sqrt(var + eps)
 *
 * The forward pass saves the mean and invstd it used (batch or running) for the backward pass. */
#ifndef MNIST_BATCHNORM_H
#define MNIST_BATCHNORM_H

#include "tensor/tensor.h"

/* Normalizes inp per channel. MN_ERR_SHAPE in training when a channel has fewer than 2 values.
 *   out           (N, C, ...) written, same shape as inp
 *   save_mean     (C) written: the mean used
 *   save_invstd   (C) written: the 1/sqrt(var + eps) used
 *   running_mean  (C) read in evaluation, updated in training
 *   running_var   (C) read in evaluation, updated in training
 *   inp           (N, C) or (N, C, H, W)
 *   weight        (C) scale (gamma), or NULL for 1
 *   bias          (C) shift (beta), or NULL for 0
 *   training      1: batch statistics, update the running ones; 0: running statistics
 *   momentum      weight of the batch statistics in the running update (PyTorch: 0.1)
 *   eps           added to the variance (PyTorch: 1e-5) */
int batchnorm_forward(Tensor *out, Tensor *save_mean, Tensor *save_invstd, Tensor *running_mean,
                      Tensor *running_var, const Tensor *inp, const Tensor *weight,
                      const Tensor *bias, int training, float momentum, float eps);

/* Gradients of batchnorm_forward. dinp is OVERWRITTEN; dweight and dbias ACCUMULATE (+=).
 * Any of dinp, dweight, dbias may be NULL to skip it.
 *   dinp         (N, C, ...) gradient w.r.t. the input, or NULL
 *   dweight      (C) += sum of dout * normalized input, or NULL
 *   dbias        (C) += sum of dout, or NULL
 *   dout         (N, C, ...) gradient w.r.t. the output
 *   inp          (N, C, ...) the forward input
 *   weight       (C) the forward scale, or NULL for 1
 *   save_mean    (C) from batchnorm_forward
 *   save_invstd  (C) from batchnorm_forward
 *   training     the flag of the forward call (the batch statistics depend on inp; the running
 *                ones do not) */
int batchnorm_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                       const Tensor *inp, const Tensor *weight, const Tensor *save_mean,
                       const Tensor *save_invstd, int training);

/* Sums values[0..n) in place over every process of a data-parallel job (an all-reduce); returns a
 * status. The core knows no transport: the MPI module (csrc/mpi/comm.h) provides one. */
typedef struct ChannelReducer {
    int (*sum)(void *ctx, double *values, int64_t n);
    void *ctx;
} ChannelReducer;

/* batchnorm_forward in training with statistics over the union of every process's batch (as
 * PyTorch's SyncBatchNorm): each channel's sum, then its squared deviations from the joint mean,
 * are summed by `reducer` (two calls, the same on every process), so N processes holding the
 * shards of one batch normalise, and update the running statistics, as one process holding it. */
int batchnorm_forward_synced(Tensor *out, Tensor *save_mean, Tensor *save_invstd,
                             Tensor *running_mean, Tensor *running_var, const Tensor *inp,
                             const Tensor *weight, const Tensor *bias, float momentum, float eps,
                             const ChannelReducer *reducer);

/* batchnorm_backward of a synced forward: the sums of dout and dout * (x - mean) over every
 * process's batch go into dinp (one `reducer` call); dweight and dbias get this process's own
 * share (+=), which the job's gradient all-reduce then sums. */
int batchnorm_backward_synced(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                              const Tensor *inp, const Tensor *weight, const Tensor *save_mean,
                              const Tensor *save_invstd, const ChannelReducer *reducer);

#endif
