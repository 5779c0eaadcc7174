/* photo.h: the clean-up that lets the MNIST recipe (image.h) read a photo of a handwritten digit:
 * a phone picture of a note (uneven light, shadows, ruled or squared paper, noise, blur), a scan,
 * or a drawing made with a thin pen.
 *
 * The steps, on a (H, W) gray picture (decoded at most about IMAGE_WORK_SIDE on its longer side):
 *   1. polarity: the page is the median; a dark page (light ink) is inverted so the page is bright;
 *   2. illumination: the page's brightness is estimated at a large scale (a grey closing, which
 *      removes the ink, then smoothing) and every pixel is divided by it: shadows and light
 *      gradients vanish, ink becomes 1 - pixel / page;
 *   3. binarisation: Otsu's threshold on that ink (never below PHOTO_MIN_INK);
 *   4. ruled and squared paper: thin straight runs of ink that span the frame (at the page's
 *      angle, found from projection profiles) are removed, except where a stroke crosses them;
 *   5. the digit: the largest blob of ink (blobs on the frame's edge count less: page edges,
 *      shadows) and the blobs near it; specks and far marks are dropped;
 *   6. stroke width: measured with a distance transform and, when the strokes are much thinner
 *      than MNIST's for the digit's size, thickened to it (a thin-pen drawing).
 * The output is the digit's ink alone, soft-edged, bright on black, cropped around the digit:
 * what image_mnist_recipe expects. */
#ifndef MNIST_PHOTO_H
#define MNIST_PHOTO_H

#include <stddef.h>

#include "sys/status.h"
#include "tensor/tensor.h"

/* out (h, w) float32 in [0, 1]: the digit's ink, bright on black, around the digit; gray: (H, W)
 * uint8, or float32 in [0, 1]. MN_ERR_FORMAT with a reason in why for a blank picture, or one with
 * no digit-like ink (only shading, lines or specks). */
int image_photo_clean(Tensor *out, const Tensor *gray, char *why, size_t why_size);

/* out (28, 28) float32 in [0, 1]: the encoded picture data[0..len) decoded at about
 * IMAGE_WORK_SIDE, cleaned up (unless photo is 0) and put through the MNIST recipe: what
 * `mnist.lua predict` classifies. MN_ERR_FORMAT with the reason in why. */
int image_picture_to_mnist(float *out, const void *data, size_t len, int photo, char *why, size_t why_size);

/* out (n, 28, 28) float32 (tensor_init'd here): image_picture_to_mnist of the n pictures data[i]
 * (len[i] bytes), on the kernels' threads (sys/parallel.h). status[i] and why[i] (why_size bytes
 * each) say how each went; a picture that fails leaves its 28x28 zero. Returns MN_OK unless out
 * cannot be allocated. */
int image_pictures_to_mnist(Tensor *out, int *status, char *why, size_t why_size, const void *const *data,
                            const size_t *len, int64_t n, int photo);

/* The stroke width of MNIST digits relative to the larger side of their bounding box, measured
 * as photo.c measures a picture's (tools/photo_stroke_width.py on the training set). */
extern const float PHOTO_MNIST_STROKE;

#endif
