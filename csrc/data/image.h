/* image.h: image files in and out (libjpeg-turbo, libpng; stb_image for BMP, PGM, GIF, TGA;
 * stb_image_write) and the MNIST recipe that turns an arbitrary picture of a digit into a 28x28 MNIST-style image.
 *
 * The recipe (LeCun et al.'s normalisation of NIST digits):
 *   1. grayscale (decode), 2. invert when the background (median of the border) is light,
 *   3. stretch so the background is 0 and the strongest ink 1, 4. crop to the ink's bounding box,
 *   5. scale to fit a 20x20 box keeping the aspect ratio (antialiased), 6. paste into 28x28 so the
 *   centre of mass lands on pixel (14, 14) (clamped so no ink is cut).
 * An MNIST digit passes through it unchanged. `why` receives a sentence for the error message. */
#ifndef MNIST_IMAGE_H
#define MNIST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"
#include "tensor/tensor.h"

#define IMAGE_MNIST_SIZE 28 /* output side */
#define IMAGE_MNIST_BOX 20  /* the digit is scaled to fit this box */
#define IMAGE_MAX_PIXELS ((int64_t)1 << 26) /* larger pictures are refused before decoding */

/* Pictures whose longer side is at least twice this are reduced while they are decoded (photos:
 * the clean-up and the recipe need no more; a 7000x7000 JPEG decodes at 1/8 scale). */
#ifndef IMAGE_WORK_SIDE
#define IMAGE_WORK_SIDE 768
#endif

/* out (H', W') uint8 gray: the encoded image data[0..len) (PNG, JPEG, BMP, binary PGM/PPM, GIF,
 * TGA, ...), luminance of RGB; a transparent background becomes the colour that contrasts with the
 * opaque ink. work_side 0 decodes at full size (H, W); otherwise a picture with a longer side of at
 * least 2 * work_side is reduced on the way in (JPEG: DCT scaling by M/8; then averaging of k x k
 * blocks) to the smallest size whose longer side is still >= work_side. The size in the header is
 * checked against IMAGE_MAX_PIXELS before any allocation. MN_ERR_FORMAT with the reason in why for
 * unreadable, truncated, oversized or empty data. */
int image_decode_gray(Tensor *out, const void *data, size_t len, int64_t work_side, char *why,
                      size_t why_size);

/* why (why_size bytes): the sentence for a picture with no ink (the recipe's and the photo
 * clean-up's); background_light: the page is light; contrast: how far the ink stands out. */
void image_blank_reason(char *why, size_t why_size, int background_light, float contrast);

/* Below this contrast between ink and background (on a 0..1 scale) the picture is blank. */
#define IMAGE_BLANK_CONTRAST 0.1f

/* out (28, 28) float32 in [0, 1], bright ink on black: the recipe above applied to gray, a (H, W)
 * uint8 tensor or a float32 tensor with values in [0, 1]. MN_ERR_FORMAT with a reason in why for a
 * blank picture (no ink to find). */
int image_mnist_recipe(Tensor *out, const Tensor *gray, char *why, size_t why_size);

/* *data, *len: img ((H, W) or (H, W, C) with C = 1, 3 or 4, uint8) encoded as "png", "bmp" or
 * "jpg" (quality 1..100); *data is malloc'd, the caller frees it. */
int image_encode(void **data, size_t *len, const Tensor *img, const char *format, int quality);

#endif
