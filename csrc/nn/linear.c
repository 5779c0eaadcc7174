#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/linear.h"

#include "tensor/gemm.h"
#include "nn/nn_common.h"

int linear_forward(Tensor *out, const Tensor *inp, const Tensor *weight, const Tensor *bias) {
    if (!nn_is_f32(inp) || !nn_is_f32(weight)) return MN_ERR_DTYPE;
    if (inp->ndim != 2 || weight->ndim != 2 || inp->shape[1] != weight->shape[1])
        return MN_ERR_SHAPE;
    const int64_t n = inp->shape[0], in = inp->shape[1], o = weight->shape[0];
    const int64_t out_shape[2] = {n, o};
    if (!nn_has_shape(out, 2, out_shape) || !nn_opt_vector(bias, o)) return MN_ERR_SHAPE;
    if (tensor_overlaps(out, inp) || tensor_overlaps(out, weight) ||
        (bias && tensor_overlaps(out, bias)))
        return MN_ERR_ARG;
    float *y = tensor_f32(out); /* (N, O) */
    if (bias) {
        const float *b = tensor_f32(bias); /* (O) */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < o; j++) y[i * o + j] = b[j];
    }
    gemm(0, 1, n, o, in, 1.0f, tensor_f32(inp), in, tensor_f32(weight), in, bias ? 1.0f : 0.0f, y,
         o);
    return MN_OK;
}

int linear_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                    const Tensor *inp, const Tensor *weight) {
    if (!nn_is_f32(inp) || !nn_is_f32(weight) || !nn_is_f32(dout)) return MN_ERR_DTYPE;
    if (inp->ndim != 2 || weight->ndim != 2 || inp->shape[1] != weight->shape[1])
        return MN_ERR_SHAPE;
    const int64_t n = inp->shape[0], in = inp->shape[1], o = weight->shape[0];
    const int64_t out_shape[2] = {n, o};
    if (!nn_has_shape(dout, 2, out_shape) || !nn_opt_vector(dbias, o)) return MN_ERR_SHAPE;
    if ((dinp && !nn_same_shape(dinp, inp)) || (dweight && !nn_same_shape(dweight, weight)))
        return MN_ERR_SHAPE;
    if (dinp && (tensor_overlaps(dinp, dout) || tensor_overlaps(dinp, weight))) return MN_ERR_ARG;
    if (dweight && (tensor_overlaps(dweight, dout) || tensor_overlaps(dweight, inp)))
        return MN_ERR_ARG;
    const float *dy = tensor_f32(dout); /* (N, O) */
    if (dinp)
        gemm(0, 0, n, in, o, 1.0f, dy, o, tensor_f32(weight), in, 0.0f, tensor_f32(dinp), in);
    if (dweight)
        gemm(1, 0, o, in, n, 1.0f, dy, o, tensor_f32(inp), in, 1.0f, tensor_f32(dweight), in);
    if (dbias) {
        float *db = tensor_f32(dbias); /* (O) */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < o; j++) db[j] += dy[i * o + j];
    }
    return MN_OK;
}
