#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* After stretching, pixels at least this bright count as ink for the bounding box. */
#define INK_THRESHOLD 0.1f

/* ---- Decoding -----------------------------------------------------------------------------
 * JPEG through libjpeg-turbo (DCT scaling straight to the working size), PNG through libpng (rows
 * streamed and reduced on the way in), the rest (BMP, PGM/PPM, GIF, TGA) through stb_image. Every
 * header's size is checked against IMAGE_MAX_PIXELS before anything is allocated.
 *
 * Debian 12's libstb is stb_image 2.27, whose decoders have known memory-safety bugs on hostile
 * files, fixed upstream in 2.28 (stb issues #1289, #1291-#1293, oss-fuzz 22620) or never (PSD,
 * PIC and HDR: crashes and endless loops). The walks below refuse each known trigger before a
 * decoder reads a byte; the checks follow stb's own parsing so that no file stb decodes correctly
 * is refused. JPEG and PNG no longer reach stb, but the walks stay in front of libjpeg and libpng:
 * they name the problem more clearly than those libraries' messages. */

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
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) { /* SOFn: the size, first */
            const int64_t h = byte_at(p, len, i + 3) << 8 | byte_at(p, len, i + 4);
            const int64_t w = byte_at(p, len, i + 5) << 8 | byte_at(p, len, i + 6);
            if (w * h > IMAGE_MAX_PIXELS) {
                snprintf(why, why_size, "a %lld x %lld JPEG is too large (more than 2^26 pixels)", (long long)w,
                         (long long)h);
                return MN_ERR_FORMAT;
            }
        }
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

/* MN_OK when a decoder may read data; otherwise MN_ERR_FORMAT with the reason. The JPEG and PNG
 * walks above also give clearer reasons than libjpeg's and libpng's for the files they refuse. */
static int precheck(const uint8_t *p, size_t len, char *why, size_t why_size) {
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

/* ---- Reduction on the way in ------------------------------------------------------------
 * Every decoder hands its rows, top to bottom, to a Reducer, which averages k x k blocks (k >= 1,
 * partial blocks at the right and bottom edges average what they hold) into the output, so a
 * large picture never exists at full size in memory. Gray+alpha rows are kept premultiplied
 * (averaging commutes with compositing) and composited at the end, when the backdrop is known. */
typedef struct {
    int64_t in_w, in_h, k, out_w, out_h;
    int alpha;            /* rows are (gray, alpha) pairs */
    int64_t row;          /* input rows seen */
    double *sum, *asum;   /* (out_w) the current block row's sums of gray*alpha/255 (or gray), of alpha */
    uint8_t *g, *a;       /* (out_h, out_w) averaged premultiplied gray, averaged alpha */
    int64_t opaque, transparent;
    double opaque_sum;    /* the gray of the pixels with alpha >= 128 */
} Reducer;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int reducer_init(Reducer *r, int64_t w, int64_t h, int64_t k, int alpha) {
    memset(r, 0, sizeof *r);
    r->in_w = w, r->in_h = h, r->k = k, r->alpha = alpha;
    r->out_w = ceil_div(w, k), r->out_h = ceil_div(h, k);
    const size_t n = (size_t)(r->out_w * r->out_h);
    r->sum = calloc((size_t)r->out_w, sizeof *r->sum);
    r->asum = calloc((size_t)r->out_w, sizeof *r->asum);
    r->g = malloc(n);
    r->a = alpha ? malloc(n) : NULL;
    return r->sum && r->asum && r->g && (!alpha || r->a) ? MN_OK : MN_ERR_NOMEM;
}

static void reducer_free(Reducer *r) {
    free(r->sum);
    free(r->asum);
    free(r->g);
    free(r->a);
    memset(r, 0, sizeof *r);
}

/* One input row: in_w gray values, or in_w (gray, alpha) pairs. */
static void reducer_row(Reducer *r, const uint8_t *px) {
    const int64_t k = r->k, W = r->in_w;
    if (r->alpha) {
        for (int64_t ox = 0, x = 0; ox < r->out_w; ox++) {
            const int64_t end = x + k < W ? x + k : W;
            uint64_t ga = 0, a = 0;
            for (; x < end; x++) {
                const unsigned v = px[2 * x], al = px[2 * x + 1];
                ga += v * al;
                a += al;
                if (al >= 128) r->opaque++, r->opaque_sum += v;
                if (al < 255) r->transparent++;
            }
            r->sum[ox] += ga / 255.0;
            r->asum[ox] += a;
        }
    } else if (k == 1) {
        memcpy(r->g + r->row * r->out_w, px, (size_t)W);
        r->row++;
        return;
    } else {
        for (int64_t ox = 0, x = 0; ox < r->out_w; ox++) {
            const int64_t end = x + k < W ? x + k : W;
            uint32_t g = 0;
            for (; x < end; x++) g += px[x];
            r->sum[ox] += g;
        }
    }
    r->row++;
    if (r->row % k != 0 && r->row != r->in_h) return;
    const int64_t oy = (r->row - 1) / k, rows = r->row - oy * k;
    for (int64_t ox = 0; ox < r->out_w; ox++) {
        const int64_t cols = ox == r->out_w - 1 ? W - ox * k : k;
        const double n = (double)(rows * cols);
        r->g[oy * r->out_w + ox] = (uint8_t)lrint(r->sum[ox] / n);
        if (r->alpha) r->a[oy * r->out_w + ox] = (uint8_t)lrint(r->asum[ox] / n);
        r->sum[ox] = r->asum[ox] = 0;
    }
}

/* out (out_h, out_w) uint8: the reduced picture; a transparent background becomes the colour that
 * contrasts with the opaque ink (dark ink on a transparent canvas goes on white, light ink on black). */
static int reducer_finish(Reducer *r, Tensor *out, char *why, size_t why_size) {
    if (r->row != r->in_h) {
        snprintf(why, why_size, "truncated image: %lld of %lld rows decoded", (long long)r->row,
                 (long long)r->in_h);
        return MN_ERR_FORMAT;
    }
    int64_t shape[2] = {r->out_h, r->out_w};
    int st = tensor_init(out, DTYPE_UINT8, 2, shape);
    if (st != MN_OK) return st;
    uint8_t *g = tensor_u8(out); // (out_h, out_w)
    const int64_t n = r->out_h * r->out_w;
    if (!r->alpha) {
        memcpy(g, r->g, (size_t)n);
        return MN_OK;
    }
    const int backdrop = r->transparent && r->opaque && r->opaque_sum / (double)r->opaque >= 128 ? 0 : 255;
    for (int64_t i = 0; i < n; i++) {
        const int v = r->g[i] + (backdrop * (255 - r->a[i]) + 127) / 255;
        g[i] = (uint8_t)(v > 255 ? 255 : v);
    }
    return MN_OK;
}

/* The block size that brings a w x h picture down towards work_side: the largest k with
 * max(w, h) / k >= work_side (1 when work_side is 0 or the picture is small). */
static int64_t reduction_for(int64_t w, int64_t h, int64_t work_side) {
    const int64_t side = w > h ? w : h;
    return work_side > 0 && side >= 2 * work_side ? side / work_side : 1;
}

/* The header's size against the budget: refused before anything is allocated. */
static int check_size(int64_t w, int64_t h, const char *format, char *why, size_t why_size) {
    if (w < 1 || h < 1 || w * h > IMAGE_MAX_PIXELS) {
        snprintf(why, why_size, "a %lld x %lld %s is %s", (long long)w, (long long)h, format,
                 w < 1 || h < 1 ? "empty" : "too large (more than 2^26 pixels)");
        return MN_ERR_FORMAT;
    }
    return MN_OK;
}

/* ---- JPEG (libjpeg-turbo) ------------------------------------------------------------------
 * libjpeg reports a fatal error by calling error_exit, which must not return: it longjmps back
 * into jpeg_decode, whose only state lives in the caller's JpegState, and never further. */
typedef struct {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;
} JpegErrors;

/* A progressive JPEG may hold thousands of tiny scans that each cost a pass over the image
 * (libjpeg-turbo's own advice: cap them). */
#define JPEG_MAX_SCANS 256

static void jpeg_on_error(j_common_ptr cinfo) {
    JpegErrors *e = (JpegErrors *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    JpegErrors *e = (JpegErrors *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static void jpeg_on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->progressive_mode && d->input_scan_number > JPEG_MAX_SCANS) {
        JpegErrors *e = (JpegErrors *)cinfo->err;
        snprintf(e->message, sizeof e->message, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    JpegErrors errors;
    Reducer reducer;
    uint8_t *row;
} JpegState;

/* The DCT scale M/8 (M = 1..8) that decodes a w x h JPEG straight to the smallest size whose longer
 * side is still >= work_side: libjpeg then skips the rest of the inverse DCT. */
static int jpeg_scale_for(int64_t w, int64_t h, int64_t work_side) {
    const int64_t side = w > h ? w : h;
    if (work_side <= 0) return 8;
    for (int m = 1; m < 8; m++)
        if (ceil_div(side * m, 8) >= work_side) return m;
    return 8;
}

static int jpeg_decode(JpegState *s, Tensor *out, const uint8_t *data, size_t len, int64_t work_side,
                       char *why, size_t why_size) {
    struct jpeg_decompress_struct *c = &s->cinfo;
    c->err = jpeg_std_error(&s->errors.pub);
    s->errors.pub.error_exit = jpeg_on_error;
    s->errors.pub.emit_message = jpeg_on_message;
    if (setjmp(s->errors.jump)) {
        snprintf(why, why_size, "corrupt JPEG: %s", s->errors.message);
        return MN_ERR_FORMAT;
    }
    jpeg_create_decompress(c);
    s->errors.progress.progress_monitor = jpeg_on_progress;
    c->progress = &s->errors.progress;
    /* nothing of a JPEG is worth more than this much working memory (coefficients of a progressive one) */
    c->mem->max_memory_to_use = 256L << 20;
    jpeg_mem_src(c, data, (unsigned long)len);
    jpeg_read_header(c, TRUE);
    int st = check_size(c->image_width, c->image_height, "JPEG", why, why_size);
    if (st != MN_OK) return st;
    if (c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK) {
        snprintf(why, why_size, "CMYK JPEGs are not supported; save it as RGB or grayscale");
        return MN_ERR_FORMAT;
    }
    c->out_color_space = JCS_GRAYSCALE; /* the luminance: no chroma is decoded for YCbCr */
    c->scale_num = (unsigned)jpeg_scale_for(c->image_width, c->image_height, work_side);
    c->scale_denom = 8;
    jpeg_calc_output_dimensions(c);
    const int64_t w = c->output_width, h = c->output_height;
    st = reducer_init(&s->reducer, w, h, reduction_for(w, h, work_side), 0);
    s->row = malloc((size_t)w);
    if (st != MN_OK || !s->row) return MN_ERR_NOMEM;
    jpeg_start_decompress(c);
    while (c->output_scanline < c->output_height) {
        JSAMPROW rows[1] = {s->row};
        if (jpeg_read_scanlines(c, rows, 1) != 1) break;
        if (s->errors.truncated) break;
        reducer_row(&s->reducer, s->row);
    }
    if (s->errors.truncated) {
        snprintf(why, why_size, "truncated JPEG: the data ends at row %lld of %lld",
                 (long long)s->reducer.row * s->reducer.k, (long long)c->image_height);
        return MN_ERR_FORMAT;
    }
    return reducer_finish(&s->reducer, out, why, why_size);
}

static int decode_jpeg(Tensor *out, const uint8_t *data, size_t len, int64_t work_side, char *why,
                       size_t why_size) {
    JpegState *s = calloc(1, sizeof *s);
    if (!s) return MN_ERR_NOMEM;
    int st = jpeg_decode(s, out, data, len, work_side, why, why_size);
    jpeg_destroy_decompress(&s->cinfo);
    reducer_free(&s->reducer);
    free(s->row);
    free(s);
    return st;
}

/* ---- PNG (libpng) --------------------------------------------------------------------------
 * libpng, too, reports errors by longjmp to the png_jmpbuf set in png_decode, whose state lives in
 * the caller's PngState. Rows stream through the Reducer; an interlaced PNG must be read whole. */
#define PNG_MAX_INTERLACED_PIXELS ((int64_t)1 << 24)

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t len, at;
    Reducer reducer;
    uint8_t *rows; /* one row, or the whole picture when interlaced */
    int truncated;
    char message[160];
} PngState;

static void png_on_error(png_structp png, png_const_charp msg) {
    PngState *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_memory(png_structp png, png_bytep dst, size_t n) {
    PngState *s = png_get_io_ptr(png);
    if (n > s->len - s->at) {
        s->truncated = 1;
        png_error(png, "the file ends early");
    }
    memcpy(dst, s->data + s->at, n);
    s->at += n;
}

static int png_decode(PngState *s, Tensor *out, int64_t work_side, char *why, size_t why_size) {
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    if (!s->png) return MN_ERR_NOMEM;
    s->info = png_create_info_struct(s->png);
    if (!s->info) return MN_ERR_NOMEM;
    if (setjmp(png_jmpbuf(s->png))) {
        snprintf(why, why_size, "%s PNG: %s", s->truncated ? "truncated" : "corrupt", s->message);
        return MN_ERR_FORMAT;
    }
    png_set_read_fn(s->png, s, png_read_memory);
    png_set_user_limits(s->png, 1u << 26, 1u << 26);
    png_set_chunk_cache_max(s->png, 256);       /* ancillary chunks: no text or sPLT bombs */
    png_set_chunk_malloc_max(s->png, 4u << 20);
    png_read_info(s->png, s->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    int st = check_size(w, h, "PNG", why, why_size);
    if (st != MN_OK) return st;
    if (interlace != PNG_INTERLACE_NONE && (int64_t)w * h > PNG_MAX_INTERLACED_PIXELS) {
        snprintf(why, why_size, "an interlaced %u x %u PNG must be decoded whole, and is too large "
                 "for that (more than 2^24 pixels); save it without interlacing", w, h);
        return MN_ERR_FORMAT;
    }
    /* to 8-bit gray or gray+alpha */
    png_set_expand(s->png);
    png_set_strip_16(s->png);
    if (color & PNG_COLOR_MASK_COLOR || color == PNG_COLOR_TYPE_PALETTE) png_set_rgb_to_gray(s->png, 1, -1, -1);
    const int passes = png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    const int channels = png_get_channels(s->png, s->info);
    if (channels != 1 && channels != 2) {
        snprintf(why, why_size, "corrupt PNG: %d channels after conversion to gray", channels);
        return MN_ERR_FORMAT;
    }
    const size_t rowbytes = png_get_rowbytes(s->png, s->info);
    st = reducer_init(&s->reducer, w, h, reduction_for(w, h, work_side), channels == 2);
    s->rows = malloc(passes > 1 ? rowbytes * h : rowbytes);
    if (st != MN_OK || !s->rows) return MN_ERR_NOMEM;
    if (passes > 1) {
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++) png_read_row(s->png, s->rows + y * rowbytes, NULL);
        for (png_uint_32 y = 0; y < h; y++) reducer_row(&s->reducer, s->rows + y * rowbytes);
    } else {
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(s->png, s->rows, NULL);
            reducer_row(&s->reducer, s->rows);
        }
    }
    return reducer_finish(&s->reducer, out, why, why_size);
}

static int decode_png(Tensor *out, const uint8_t *data, size_t len, int64_t work_side, char *why,
                      size_t why_size) {
    PngState *s = calloc(1, sizeof *s);
    if (!s) return MN_ERR_NOMEM;
    s->data = data, s->len = len;
    int st = png_decode(s, out, work_side, why, why_size);
    png_destroy_read_struct(&s->png, &s->info, NULL);
    reducer_free(&s->reducer);
    free(s->rows);
    free(s);
    return st;
}

/* ---- the other formats (BMP, PGM/PPM, GIF, TGA) through stb_image, guarded above ---------- */
#define STB_MAX_PIXELS_PER_BYTE 1024
static int decode_stb(Tensor *out, const uint8_t *data, size_t len, int64_t work_side, char *why,
                      size_t why_size) {
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp)) {
        snprintf(why, why_size, "not a readable image (%s; PNG, JPEG, BMP, PGM, GIF or TGA)",
                 stbi_failure_reason());
        return MN_ERR_FORMAT;
    }
    int st = check_size(w, h, "image", why, why_size);
    if (st != MN_OK) return st;
    /* stb's formats compress little (RLE, GIF's LZW): far more pixels than bytes is a truncated or
     * corrupt header, which stb would decode to a huge image of zeros */
    if ((int64_t)w * h > (int64_t)len * STB_MAX_PIXELS_PER_BYTE) {
        snprintf(why, why_size, "a %d x %d image cannot be held in %zu bytes (truncated or corrupt)", w, h, len);
        return MN_ERR_FORMAT;
    }
    /* gray + alpha: the alpha decides what a transparent background should become */
    uint8_t *ga = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 2);
    if (!ga) {
        snprintf(why, why_size, "cannot decode the image (%s)", stbi_failure_reason());
        return MN_ERR_FORMAT;
    }
    Reducer r;
    st = reducer_init(&r, w, h, reduction_for(w, h, work_side), 1);
    if (st == MN_OK) {
        for (int y = 0; y < h; y++) reducer_row(&r, ga + (size_t)y * (size_t)w * 2);
        st = reducer_finish(&r, out, why, why_size);
    }
    reducer_free(&r);
    stbi_image_free(ga);
    return st;
}

int image_decode_gray(Tensor *out, const void *data, size_t len, int64_t work_side, char *why,
                      size_t why_size) {
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
    const uint8_t *p = data;
    int st = precheck(p, len, why, why_size);
    if (st != MN_OK) return st;
    const size_t soi = jpeg_after_soi(p, len);
    if (soi) return decode_jpeg(out, p + soi - 2, len - (soi - 2), work_side, why, why_size);
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(out, p, len, work_side, why, why_size);
    return decode_stb(out, p, len, work_side, why, why_size);
}

void image_blank_reason(char *why, size_t why_size, int background_light, float contrast) {
    snprintf(why, why_size, "blank image: no ink stands out from the %s background (contrast %.3f, "
             "needs %.2f)", background_light ? "light" : "dark", contrast, IMAGE_BLANK_CONTRAST);
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
    if (!(ink - background >= IMAGE_BLANK_CONTRAST)) {
        image_blank_reason(why, why_size, invert, ink - background);
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
