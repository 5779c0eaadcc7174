/* fuzz_image: what `mnist.lua predict` does with a picture: decode to grayscale, reduced on the way
 * in (image_decode_gray: libjpeg-turbo with DCT scaling, libpng streamed through the reducer,
 * stb_image for the other formats), the photo clean-up (image_photo_clean) and the MNIST recipe
 * (image_mnist_recipe). A small working side makes the fuzzer's small pictures take the reducing
 * paths too. The recipe's output must be a 28x28 image with every value in [0, 1]. */
#include <math.h>
#include <stdlib.h>

#include "data/image.h"
#include "data/photo.h"

#define FUZZ_WORK_SIDE 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[256];
    Tensor gray = {0}, clean = {0}, out = {0};
    int st = image_decode_gray(&gray, data, size, FUZZ_WORK_SIDE, why, sizeof why);
    if (st == MN_OK) {
        const int64_t side = FUZZ_WORK_SIDE, longer = gray.shape[0] > gray.shape[1] ? gray.shape[0] : gray.shape[1];
        if (longer > 2 * side) abort(); /* not reduced as promised */
        st = image_photo_clean(&clean, &gray, why, sizeof why);
        if (st == MN_OK) {
            for (int64_t i = 0; i < clean.numel; i++)
                if (!(tensor_f32(&clean)[i] >= 0.0f && tensor_f32(&clean)[i] <= 1.0f)) abort();
            st = image_mnist_recipe(&out, &clean, why, sizeof why);
        }
        if (st == MN_OK) {
            if (out.ndim != 2 || out.shape[0] != IMAGE_MNIST_SIZE || out.shape[1] != IMAGE_MNIST_SIZE)
                abort();
            const float *o = tensor_f32(&out);
            for (int64_t i = 0; i < out.numel; i++)
                if (!(o[i] >= 0.0f && o[i] <= 1.0f)) abort(); /* also catches NaN */
        }
    }
    if (st == MN_ERR_FORMAT && why[0] == '\0') abort();
    tensor_release(&gray);
    tensor_release(&clean);
    tensor_release(&out);
    return 0;
}
