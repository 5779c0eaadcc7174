#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/image.h"

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

/* ---- stb_image 2.27 hardening ------------------------------------------------------------
 * Debian 12's libstb is stb_image 2.27, whose decoders have known memory-safety bugs on hostile
 * files, fixed upstream in 2.28 (stb issues #1289, #1291-#1293, oss-fuzz 22620) or never (PSD,
 * PIC and HDR: crashes and endless loops). Our fuzzer (fuzz/fuzz_image.c) found the first one on
 * its own. Until the library is fixed, each known trigger is refused here, before stb reads a
 * byte; the checks follow stb's own parsing so that no file stb decodes correctly is refused. */

/* Byte i of p[0..len), or 0 past the end (what stb's reader returns there). */
static unsigned byte_at(const uint8_t *p, size_t len, size_t i) { return i < len ? p[i] : 0; }

/* Where the markers of a JPEG start (after its SOI), or 0 when stb would not read data as one:
 * stb skips 0xFF fill bytes before the SOI marker too (found by fuzz_image: "FF FF D8 ..."). */
static size_t jpeg_after_soi(const uint8_t *p, size_t len) {
    size_t i = 0;
    if (len < 2 || p[0] != 0xFF) return 0;
    while (i < len && p[i] == 0xFF) i++;
    return i < len && p[i] == 0xD8 ? i + 1 : 0;
}

/* JPEG: a DHT segment declaring more than 256 codes makes stb write past its Huffman arrays
 * (heap overflow); a scan using a table no DHT defined makes it decode with uninitialised tables.
 * Walks the markers from i (after the SOI) as stb does: anything up to a 0xFF is skipped between
 * segments; stuffed 0xFF00 and RSTn inside scan data are not segments. */
static int jpeg_check(const uint8_t *p, size_t len, size_t i, char *why, size_t why_size) {
    int defined[2][4] = {{0}}; /* [DC, AC][table id] */
    int progressive = 0;
    for (;;) {
        while (i < len && p[i] != 0xFF) i++;
        while (i < len && p[i] == 0xFF) i++;
        if (i >= len) return MN_OK;
        const unsigned m = p[i++];
        if (m == 0xD9) return MN_OK; /* EOI */
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
        const size_t seg = byte_at(p, len, i) << 8 | byte_at(p, len, i + 1);
        if (m == 0xC2) progressive = 1;
        if (m == 0xC4) { /* DHT: tables of (class/id, 16 counts, the symbols) until the length is used */
            long left = (long)seg - 2;
            size_t q = i + 2;
            while (left > 0) {
                const unsigned tc = byte_at(p, len, q) >> 4, th = byte_at(p, len, q) & 15;
                unsigned n = 0;
                for (size_t k = 1; k <= 16; k++) n += byte_at(p, len, q + k);
                if (n > 256) {
                    snprintf(why, why_size, "corrupt JPEG: a Huffman table declares %u codes (at most 256)", n);
                    return MN_ERR_FORMAT;
                }
                if (tc <= 1 && th <= 3) defined[tc][th] = 1;
                q += 17 + n;
                left -= 17 + (long)n;
            }
        } else if (m == 0xDA) { /* SOS: components (id, DC table << 4 | AC table), then Ss Se Ah/Al */
            const unsigned ns = byte_at(p, len, i + 2);
            const unsigned ss = byte_at(p, len, i + 3 + 2 * ns), ah = byte_at(p, len, i + 5 + 2 * ns) >> 4;
            const int uses_dc = !progressive || (ss == 0 && ah == 0), uses_ac = !progressive || ss != 0;
            for (unsigned c = 0; c < ns && c < 4; c++) {
                const unsigned tables = byte_at(p, len, i + 4 + 2 * c);
                if ((uses_dc && (tables >> 4) <= 3 && !defined[0][tables >> 4]) ||
                    (uses_ac && (tables & 15) <= 3 && !defined[1][tables & 15])) {
                    snprintf(why, why_size, "corrupt JPEG: a scan uses a Huffman table that was never defined");
                    return MN_ERR_FORMAT;
                }
            }
        }
        i += seg; /* the scan data after an SOS header is skipped by the marker search above */
    }
}

/* PGM/PPM: stb overflows an int on a size of more than 9 digits (oss-fuzz 22620) and reads past
 * its buffer converting 16-bit samples (maxval > 255, stb #1225). Reads the header as stb does. */
static int pnm_check(const uint8_t *p, size_t len, char *why, size_t why_size) {
    size_t i = 2;
    for (int field = 0; field < 3; field++) { /* width, height, maxval */
        for (;;) { /* whitespace and # comments */
            while (i < len && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'))) i++;
            if (i >= len || p[i] != '#') break;
            while (i < len && p[i] != '\n' && p[i] != '\r') i++;
        }
        uint64_t value = 0;
        int digits = 0;
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++)
            if (digits < 10) value = value * 10 + (uint64_t)(p[i] - '0');
        if (digits > 9) {
            snprintf(why, why_size, "corrupt PGM/PPM header: a number of %d digits", digits);
            return MN_ERR_FORMAT;
        }
        if (field == 2 && value > 255) {
            snprintf(why, why_size, "16-bit PGM/PPM (maxval %llu) is not supported; save it with 8 bits",
                     (unsigned long long)value);
            return MN_ERR_FORMAT;
        }
    }
    return MN_OK;
}

/* PNG: every chunk must fit in the file (stb grows its buffer by a chunk's declared length before
 * reading it: a 2^30-byte claim in a tiny file costs a gigabyte). */
static int png_check(const uint8_t *p, size_t len, char *why, size_t why_size) {
    for (size_t i = 8; i + 8 <= len;) {
        const uint64_t chunk = (uint64_t)p[i] << 24 | (uint64_t)p[i + 1] << 16 | (uint64_t)p[i + 2] << 8 | p[i + 3];
        if (chunk > len - i - 8) {
            snprintf(why, why_size, "truncated or corrupt PNG: a chunk of %llu bytes at offset %zu runs past "
                     "the end of the file (%zu bytes)", (unsigned long long)chunk, i, len);
            return MN_ERR_FORMAT;
        }
        if (memcmp(p + i + 4, "IEND", 4) == 0) break;
        i += 12 + (size_t)chunk;
    }
    return MN_OK;
}

/* MN_OK when stb_image may read data; otherwise MN_ERR_FORMAT with the reason. */
static int stb_guard(const uint8_t *p, size_t len, char *why, size_t why_size) {
    static const struct { const char *magic; size_t n; const char *name; } refused[] = {
        {"8BPS", 4, "Photoshop (PSD)"}, {"\x53\x80\xF6\x34", 4, "Softimage PIC"},
        {"#?RADIANCE\n", 11, "Radiance HDR"}, {"#?RGBE\n", 7, "Radiance HDR"},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        if (len >= refused[k].n && memcmp(p, refused[k].magic, refused[k].n) == 0) {
            snprintf(why, why_size, "%s images are not supported (PNG, JPEG, BMP, PGM, GIF or TGA)",
                     refused[k].name);
            return MN_ERR_FORMAT;
        }
    }
    const size_t markers = jpeg_after_soi(p, len);
    if (markers) return jpeg_check(p, len, markers, why, why_size);
    if (len >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) return pnm_check(p, len, why, why_size);
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return png_check(p, len, why, why_size);
    return MN_OK;
}

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
    int st = stb_guard(data, len, why, why_size);
    if (st != MN_OK) return st;
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
    st = tensor_init(out, DTYPE_UINT8, 2, shape);
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
