#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* Below this contrast between ink and background (on a 0..1 scale) the picture is blank. */
#define BLANK_CONTRAST 0.1f
/* After stretching, pixels at least this bright count as ink for the bounding box. */
#define INK_THRESHOLD 0.1f

int image_decode_gray(Tensor *out, const void *data, size_t len, char *why, size_t why_size) {
    tensor_release(out);
    why[0] = '\0';
    if (len == 0) {
        snprintf(why, why_size, "empty (0 bytes)");
        return MN_ERR_FORMAT;
    }
    if (len > (size_t)INT32_MAX) {
        snprintf(why, why_size, "%zu bytes is more than an image file can be", len);
        return MN_ERR_FORMAT;
    }
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp)) {
        snprintf(why, why_size, "not a readable image (%s; PNG, JPEG, BMP, PGM, GIF or TGA)",
                 stbi_failure_reason());
        return MN_ERR_FORMAT;
    }
    if (w < 1 || h < 1 || (int64_t)w * h > IMAGE_MAX_PIXELS) {
        snprintf(why, why_size, "a %d x %d image is %s", w, h,
                 w < 1 || h < 1 ? "empty" : "too large (more than 2^26 pixels)");
        return MN_ERR_FORMAT;
    }
    /* gray + alpha: the alpha decides what a transparent background should become */
    uint8_t *ga = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 2);
    if (!ga) {
        snprintf(why, why_size, "cannot decode the image (%s)", stbi_failure_reason());
        return MN_ERR_FORMAT;
    }
    const int64_t n = (int64_t)w * h;
    int64_t opaque = 0, transparent = 0;
    double opaque_sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ga[2 * i + 1] >= 128) {
            opaque++;
            opaque_sum += ga[2 * i];
        }
        if (ga[2 * i + 1] < 255) transparent++;
    }
    /* dark ink on a transparent canvas goes on white, light ink on black */
    const int backdrop = transparent && opaque && opaque_sum / (double)opaque >= 128 ? 0 : 255;
    int64_t shape[2] = {h, w};
    int st = tensor_init(out, DTYPE_UINT8, 2, shape);
    if (st == MN_OK) {
        uint8_t *g = tensor_u8(out); // (H, W)
        for (int64_t i = 0; i < n; i++) {
            const int a = ga[2 * i + 1];
            g[i] = (uint8_t)((ga[2 * i] * a + backdrop * (255 - a) + 127) / 255);
        }
    }
    stbi_image_free(ga);
    return st;
}

/* The median of the border pixels of g (H, W) in [0, 1], from a 256-bin histogram. */
static float border_median(const float *g, int64_t H, int64_t W) {
    int64_t hist[256] = {0}, count = 0;
    for (int64_t r = 0; r < H; r++) {
        for (int64_t c = 0; c < W; c++) {
            if (r != 0 && r != H - 1 && c != 0 && c != W - 1) {
                c = W - 2; /* jump to the right edge */
                continue;
            }
            float v = g[r * W + c];
            int bin = (int)lrintf((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f);
            hist[bin]++;
            count++;
        }
    }
    int64_t seen = 0;
    for (int b = 0; b < 256; b++) {
        seen += hist[b];
        if (2 * seen >= count) return (float)b / 255.0f;
    }
    return 1.0f;
}

/* dst[i * dstride], i < dn: src[j * sstride], j < sn, resampled. Shrinking averages each output
 * pixel's footprint (area sampling, antialiased: a k-times enlarged picture shrinks back
 * exactly); growing interpolates linearly; sn == dn copies exactly. */
static void resample_axis(float *dst, int64_t dn, int64_t dstride, const float *src, int64_t sn,
                          int64_t sstride) {
    const double ratio = (double)sn / (double)dn;
    for (int64_t i = 0; i < dn; i++) {
        double acc = 0;
        if (ratio > 1) {
            const double lo = (double)i * ratio, hi = (double)(i + 1) * ratio;
            int64_t last = (int64_t)ceil(hi) - 1;
            if (last > sn - 1) last = sn - 1;
            for (int64_t j = (int64_t)floor(lo); j <= last; j++) {
                const double a = lo > (double)j ? lo : (double)j;
                const double b = hi < (double)(j + 1) ? hi : (double)(j + 1);
                if (b > a) acc += (b - a) * src[j * sstride];
            }
            dst[i * dstride] = (float)(acc / ratio);
            continue;
        }
        double x = ((double)i + 0.5) * ratio - 0.5;
        if (x < 0) x = 0;
        if (x > (double)(sn - 1)) x = (double)(sn - 1);
        const int64_t j = (int64_t)floor(x);
        const double t = x - (double)j;
        acc = (1 - t) * src[j * sstride];
        if (t > 0 && j + 1 < sn) acc += t * src[(j + 1) * sstride];
        dst[i * dstride] = (float)acc;
    }
}

int image_mnist_recipe(Tensor *out, const Tensor *gray, char *why, size_t why_size) {
    tensor_release(out);
    why[0] = '\0';
    if (!gray->storage) return MN_ERR_ARG;
    if (gray->ndim != 2) return MN_ERR_SHAPE;
    const int64_t H = gray->shape[0], W = gray->shape[1];
    if (H * W > IMAGE_MAX_PIXELS) {
        snprintf(why, why_size, "a %lld x %lld image is too large", (long long)H, (long long)W);
        return MN_ERR_SHAPE;
    }
    float *g = calloc((size_t)(H * W), sizeof *g); // (H, W)
    float *rows = NULL, *box = NULL;
    int st = MN_OK;
    if (!g) return MN_ERR_NOMEM;
    if (gray->dtype == DTYPE_UINT8) {
        const uint8_t *p = tensor_u8(gray);
        for (int64_t i = 0; i < H * W; i++) g[i] = (float)p[i] / 255.0f;
    } else {
        memcpy(g, tensor_f32(gray), (size_t)(H * W) * sizeof *g);
    }

    /* 2-3: invert a light background, stretch background..ink to 0..1 */
    float background = border_median(g, H, W);
    const int invert = background > 0.5f;
    if (invert) {
        for (int64_t i = 0; i < H * W; i++) g[i] = 1.0f - g[i];
        background = 1.0f - background;
    }
    float ink = 0;
    for (int64_t i = 0; i < H * W; i++) ink = g[i] > ink ? g[i] : ink;
    if (!(ink - background >= BLANK_CONTRAST)) {
        snprintf(why, why_size, "blank image: no ink stands out from the %s background "
                 "(contrast %.3f, needs %.2f)", invert ? "light" : "dark", ink - background,
                 BLANK_CONTRAST);
        st = MN_ERR_FORMAT;
        goto done;
    }
    const float span = ink - background;
    int64_t top = H, bottom = -1, left = W, right = -1;
    for (int64_t r = 0; r < H; r++) {
        for (int64_t c = 0; c < W; c++) {
            float v = (g[r * W + c] - background) / span;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            g[r * W + c] = v;
            if (v >= INK_THRESHOLD) {
                if (r < top) top = r;
                if (r > bottom) bottom = r;
                if (c < left) left = c;
                if (c > right) right = c;
            }
        }
    }

    /* 4-5: crop to the ink, scale to fit 20x20 keeping the aspect ratio */
    const int64_t bh = bottom - top + 1, bw = right - left + 1;
    const double scale = (double)IMAGE_MNIST_BOX / (double)(bh > bw ? bh : bw);
    int64_t nh = (int64_t)lround((double)bh * scale), nw = (int64_t)lround((double)bw * scale);
    nh = nh < 1 ? 1 : nh > IMAGE_MNIST_BOX ? IMAGE_MNIST_BOX : nh;
    nw = nw < 1 ? 1 : nw > IMAGE_MNIST_BOX ? IMAGE_MNIST_BOX : nw;
    rows = malloc((size_t)(bh * nw) * sizeof *rows); // (bh, nw)
    box = malloc((size_t)(nh * nw) * sizeof *box);   // (nh, nw)
    if (!rows || !box) {
        st = MN_ERR_NOMEM;
        goto done;
    }
    for (int64_t r = 0; r < bh; r++)
        resample_axis(rows + r * nw, nw, 1, g + (top + r) * W + left, bw, 1);
    for (int64_t c = 0; c < nw; c++) resample_axis(box + c, nh, nw, rows + c, bh, nw);

    /* 6: centre of mass to (14, 14), clamped inside the 28x28 field */
    double mass = 0, my = 0, mx = 0;
    for (int64_t r = 0; r < nh; r++) {
        for (int64_t c = 0; c < nw; c++) {
            const double v = box[r * nw + c];
            mass += v;
            my += v * (double)r;
            mx += v * (double)c;
        }
    }
    const double centre = IMAGE_MNIST_SIZE / 2;
    int64_t oy = mass > 0 ? (int64_t)lround(centre - my / mass) : (IMAGE_MNIST_SIZE - nh) / 2;
    int64_t ox = mass > 0 ? (int64_t)lround(centre - mx / mass) : (IMAGE_MNIST_SIZE - nw) / 2;
    oy = oy < 0 ? 0 : oy > IMAGE_MNIST_SIZE - nh ? IMAGE_MNIST_SIZE - nh : oy;
    ox = ox < 0 ? 0 : ox > IMAGE_MNIST_SIZE - nw ? IMAGE_MNIST_SIZE - nw : ox;
    int64_t shape[2] = {IMAGE_MNIST_SIZE, IMAGE_MNIST_SIZE};
    st = tensor_init(out, DTYPE_FLOAT32, 2, shape);
    if (st == MN_OK) {
        float *o = tensor_f32(out); // (28, 28)
        for (int64_t r = 0; r < nh; r++)
            memcpy(o + (oy + r) * IMAGE_MNIST_SIZE + ox, box + r * nw, (size_t)nw * sizeof *o);
    }
done:
    free(g);
    free(rows);
    free(box);
    return st;
}

/* stb_image_write's callback: appends to a growing malloc'd buffer. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} Sink;

static void sink_write(void *ctx, void *data, int size) {
    Sink *s = ctx;
    if (s->failed || size <= 0) return;
    if (s->len + (size_t)size > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + (size_t)size) cap *= 2;
        unsigned char *p = realloc(s->data, cap);
        if (!p) {
            s->failed = 1;
            return;
        }
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, (size_t)size);
    s->len += (size_t)size;
}

int image_encode(void **data, size_t *len, const Tensor *img, const char *format, int quality) {
    *data = NULL;
    *len = 0;
    if (!img->storage) return MN_ERR_ARG;
    if (img->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (img->ndim != 2 && img->ndim != 3) return MN_ERR_SHAPE;
    const int64_t H = img->shape[0], W = img->shape[1], C = img->ndim == 3 ? img->shape[2] : 1;
    if ((C != 1 && C != 3 && C != 4) || H > 65535 || W > 65535) return MN_ERR_SHAPE;
    Sink sink = {0};
    int ok;
    const int h = (int)H, w = (int)W, c = (int)C;
    if (strcmp(format, "png") == 0)
        ok = stbi_write_png_to_func(sink_write, &sink, w, h, c, tensor_u8(img), w * c);
    else if (strcmp(format, "bmp") == 0)
        ok = stbi_write_bmp_to_func(sink_write, &sink, w, h, c, tensor_u8(img));
    else if (strcmp(format, "jpg") == 0 && quality >= 1 && quality <= 100)
        ok = stbi_write_jpg_to_func(sink_write, &sink, w, h, c, tensor_u8(img), quality);
    else
        return MN_ERR_ARG;
    if (!ok || sink.failed) {
        free(sink.data);
        return MN_ERR_NOMEM;
    }
    *data = sink.data;
    *len = sink.len;
    return MN_OK;
}
