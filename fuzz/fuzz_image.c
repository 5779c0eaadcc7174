/* fuzz_image: what `mnist.lua predict` does with an image file: decode to grayscale
 * (image_decode_gray, stb_image), then the MNIST recipe (image_mnist_recipe). The recipe's output
 * must be a 28x28 image with every value in [0, 1]. */
#include <math.h>
#include <stdlib.h>

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[256];
    Tensor gray = {0}, out = {0};
    int st = image_decode_gray(&gray, data, size, why, sizeof why);
    if (st == MN_OK) {
        st = image_mnist_recipe(&out, &gray, why, sizeof why);
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
    tensor_release(&out);
    return 0;
}
