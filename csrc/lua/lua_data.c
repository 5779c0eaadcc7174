/* lua_data.c: IDX files, record files, the batch loader, image decoding and the MNIST recipe. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua/lua_common.h"
#include "data/idx.h"
#include "data/image.h"
#include "data/augment.h"
#include "data/loader.h"
#include "data/photo.h"
#include "data/record.h"
#include "sys/fileio.h"

/* IDX files, record files, the batch loader, image decoding and the MNIST recipe
 * (lua/mnist/dataset.lua, download.lua and preprocessing.lua build on these). */

#define LOADER_MT "mnist.Loader"
#define OWNED_MT "mnist.OwnedBuffer"

/* A userdata owning one malloc'd pointer (freed by __gc): C results of unknown size are parked in
 * it before anything that may raise. */
static void **push_owned(lua_State *L) {
    void **box = lua_newuserdata(L, sizeof *box);
    *box = NULL;
    luaL_getmetatable(L, OWNED_MT);
    lua_setmetatable(L, -2);
    return box;
}

static int l_owned_gc(lua_State *L) {
    void **box = luaL_checkudata(L, 1, OWNED_MT);
    free(*box);
    *box = NULL;
    return 0;
}

/* Pushes nil and "path: reason" (the reason from why, or errno for an I/O error); returns 2. */
static int push_file_error(lua_State *L, const char *path, int st, const char *why) {
    lua_pushnil(L);
    if (why && *why) lua_pushfstring(L, "%s: %s", path, why);
    else if (st == MN_ERR_IO) lua_pushfstring(L, "%s: %s", path, strerror(errno));
    else lua_pushfstring(L, "%s: %s", path, mn_status_str(st));
    return 2;
}

/* core.idx_read(path) -> uint8 tensor with the file's dims, or nil and "path: reason". */
static int l_idx_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char why[256];
    Tensor *t = push_tensor(L);
    int st = idx_read(t, path, why, sizeof why);
    if (st != MN_OK) return push_file_error(L, path, st, why);
    account_storage(L, t);
    return 1;
}

/* core.idx_check_pair(images, labels, num_classes): raises unless they belong together. */
static int l_idx_check_pair(lua_State *L) {
    const char *fn = "idx_check_pair";
    Tensor *images = check_contiguous(L, 1, fn), *labels = check_contiguous(L, 2, fn);
    int classes = (int)luaL_checkinteger(L, 3);
    char why[256];
    int st = idx_check_pair(images, labels, classes, why, sizeof why);
    if (st != MN_OK) raisef(L, fn, "%s", why);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.sha256_gunzip(path) -> hex digest of the content after gunzip, content length; or nil and
 * "path: reason". */
static int l_sha256_gunzip(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    uint8_t digest[32];
    uint64_t len = 0;
    char hex[65];
    int st = sha256_file_gunzip(digest, &len, path);
    if (st != MN_OK)
        return push_file_error(L, path, st, st == MN_ERR_FORMAT ? "corrupt or truncated gzip data" : NULL);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    lua_pushnumber(L, (lua_Number)len);
    return 2;
}

/* core.record_write(path, images, labels) -> payload SHA-256 (hex), or nil and "path: reason". */
static int l_record_write(lua_State *L) {
    const char *fn = "record_write";
    const char *path = luaL_checkstring(L, 1);
    Tensor *images = check_contiguous(L, 2, fn), *labels = check_contiguous(L, 3, fn);
    char why[256];
    if (idx_check_pair(images, labels, 256, why, sizeof why) != MN_OK) raisef(L, fn, "%s", why);
    uint8_t digest[32];
    char hex[65];
    int st = record_write(digest, path, images, labels);
    if (st != MN_OK) return push_file_error(L, path, st, NULL);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 1;
}

/* core.record_open(path [, verify]) -> images (N, H, W), labels (N) (uint8 views of the mapped
 * file), payload SHA-256 (hex); or nil and "path: reason". verify (default true) re-hashes the
 * payload. */
static int l_record_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int verify = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    Tensor *images = push_tensor(L);
    Tensor *labels = push_tensor(L);
    uint8_t digest[32];
    char why[256], hex[65];
    int st = record_open(images, labels, digest, path, verify, why, sizeof why);
    if (st != MN_OK) return push_file_error(L, path, st, why);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 3;
}

/* A whole number in [lo, hi] at idx (or `def` when absent), named `what` in errors. */
static double check_whole(lua_State *L, int idx, const char *fn, const char *what, double lo,
                          double hi, double def) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    if (d != floor(d) || d < lo || d > hi)
        raisef(L, fn, "%s must be a whole number from %.0f to %.0f, got %g", what, lo, hi, d);
    return d;
}

/* A number in [lo, hi] at idx (or `def` when absent), named `what` in errors. */
static float check_range(lua_State *L, int idx, const char *fn, const char *what, double lo, double hi,
                         double def) {
    if (lua_isnoneornil(L, idx)) return (float)def;
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    if (!(d >= lo && d <= hi)) raisef(L, fn, "%s must be from %g to %g, got %g", what, lo, hi, d);
    return (float)d;
}

/* Reads opts[key] (a number or boolean field) onto the stack top and returns its index. */
static int opt_field(lua_State *L, int opts, const char *key) {
    lua_getfield(L, opts, key);
    return lua_gettop(L);
}

static Loader *check_loader(lua_State *L, int idx, const char *fn) {
    Loader *ld = luaL_testudata(L, idx, LOADER_MT);
    if (!ld) raisef(L, fn, "argument #%d: expected a loader, got %s", idx, luaL_typename(L, idx));
    if (!ld->sync_ready) raisef(L, fn, "the loader is closed");
    return ld;
}

/* core.loader(images, labels, rows, opts) -> loader. rows: a table of 1-based rows of images
 * (nil: all, in order); opts: batch_size, drop_last, shuffle, augment_shift, augment_rotate,
 * augment_scale, mean, std, seed, prefetch. */
static int l_loader_new(lua_State *L) {
    const char *fn = "loader";
    Tensor *images = check_contiguous(L, 1, fn), *labels = check_contiguous(L, 2, fn);
    if (images->dtype != DTYPE_UINT8 || labels->dtype != DTYPE_UINT8 || images->ndim != 3 ||
        labels->ndim != 1 || images->shape[0] != labels->shape[0]) {
        char bi[64], bl[64];
        raisef(L, fn, "expected uint8 images (N, H, W) and uint8 labels (N), got %s %s and %s %s",
              dtype_name(images->dtype), shape_of(images, bi, sizeof bi), dtype_name(labels->dtype),
              shape_of(labels, bl, sizeof bl));
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    const int64_t N = images->shape[0];
    LoaderOptions opt;
    opt.batch_size = (int64_t)check_whole(L, opt_field(L, 4, "batch_size"), fn, "batch_size", 1,
                                          (double)TENSOR_MAX_NUMEL, 64);
    opt.prefetch = (int)check_whole(L, opt_field(L, 4, "prefetch"), fn, "prefetch", 0,
                                    LOADER_MAX_PREFETCH, 2);
    opt.augment_shift = (int)check_whole(L, opt_field(L, 4, "augment_shift"), fn, "augment_shift",
                                         0, (double)(images->shape[1] < images->shape[2]
                                                         ? images->shape[1] - 1 : images->shape[2] - 1), 0);
    opt.augment_rotate = check_range(L, opt_field(L, 4, "augment_rotate"), fn, "augment_rotate (degrees)", 0, 180, 0);
    opt.augment_scale = check_range(L, opt_field(L, 4, "augment_scale"), fn, "augment_scale", 0, 0.99, 0);
    opt.seed = (uint64_t)check_whole(L, opt_field(L, 4, "seed"), fn, "seed", 0, 9007199254740992.0, 1);
    opt.drop_last = lua_toboolean(L, opt_field(L, 4, "drop_last"));
    opt.shuffle = lua_toboolean(L, opt_field(L, 4, "shuffle"));
    int mean_idx = opt_field(L, 4, "mean"), std_idx = opt_field(L, 4, "std");
    opt.mean = lua_isnil(L, mean_idx) ? 0.0f : check_float_arg(L, mean_idx, fn, "mean");
    opt.std = lua_isnil(L, std_idx) ? 1.0f : check_float_arg(L, std_idx, fn, "std");
    if (!(opt.std > 0) || !isfinite(opt.mean) || !isfinite(opt.std))
        raisef(L, fn, "need a finite mean and a std > 0, got mean %g, std %g", opt.mean, opt.std);
    lua_settop(L, 4); /* drop the option values read above */
    int64_t n = N;
    int32_t *rows;
    if (lua_isnoneornil(L, 3)) {
        rows = lua_newuserdata(L, (size_t)N * sizeof *rows); /* collected, never leaked */
        for (int64_t i = 0; i < N; i++) rows[i] = (int32_t)i;
    } else {
        luaL_checktype(L, 3, LUA_TTABLE);
        n = (int64_t)lua_objlen(L, 3);
        if (n < 1) raisef(L, fn, "rows: an empty list");
        rows = lua_newuserdata(L, (size_t)n * sizeof *rows);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, 3, (int)i + 1);
            double d = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || d != floor(d) || d < 1 || d > (double)N)
                raisef(L, fn, "rows[%lld] must be a row number from 1 to %lld, got %s",
                      (long long)i + 1, (long long)N, lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
            rows[i] = (int32_t)d - 1;
            lua_pop(L, 1);
        }
    }
    const int64_t steps = opt.drop_last ? n / opt.batch_size : (n + opt.batch_size - 1) / opt.batch_size;
    if (steps < 1)
        raisef(L, fn, "a batch of %lld is larger than the %lld images and drop_last leaves no batch",
              (long long)opt.batch_size, (long long)n);
    Loader *ld = lua_newuserdata(L, sizeof *ld);
    memset(ld, 0, sizeof *ld);
    luaL_getmetatable(L, LOADER_MT);
    lua_setmetatable(L, -2);
    check_status(L, loader_init(ld, images, labels, rows, n, &opt), fn, NULL);
    return 1;
}

/* core.augment(image, t) -> float32 (H, W) = image / 255 under the transform t of the loader's
 * augmentation (data/augment.h): t.shift_y, t.shift_x (pixels down and right), t.rotate (degrees
 * anticlockwise), t.scale (a factor); a whole-pixel shift alone copies pixels, anything else
 * is the bilinear warp. image: uint8 (H, W). For checking the transforms by hand. */
static int l_augment(lua_State *L) {
    const char *fn = "augment";
    Tensor *image = check_contiguous(L, 1, fn);
    if (image->dtype != DTYPE_UINT8 || image->ndim != 2) {
        char b[64];
        raisef(L, fn, "expected a uint8 (H, W) image, got %s %s", dtype_name(image->dtype),
               shape_of(image, b, sizeof b));
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    Affine t;
    t.dy = check_range(L, opt_field(L, 2, "shift_y"), fn, "shift_y", -1e6, 1e6, 0);
    t.dx = check_range(L, opt_field(L, 2, "shift_x"), fn, "shift_x", -1e6, 1e6, 0);
    t.angle = check_range(L, opt_field(L, 2, "rotate"), fn, "rotate", -360, 360, 0);
    t.scale = check_range(L, opt_field(L, 2, "scale"), fn, "scale", 0.01, 100, 1);
    lua_settop(L, 2);
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    const int64_t H = image->shape[0], W = image->shape[1];
    Tensor *out = push_tensor(L);
    check_status(L, tensor_init(out, DTYPE_FLOAT32, 2, image->shape), fn, NULL);
    const int whole_shift = t.angle == 0 && t.scale == 1 && t.dy == floorf(t.dy) && t.dx == floorf(t.dx);
    if (whole_shift) augment_shift(tensor_f32(out), tensor_u8(image), H, W, lut, (int64_t)t.dy, (int64_t)t.dx);
    else augment_affine(tensor_f32(out), tensor_u8(image), H, W, lut, &t);
    return 1;
}

static int l_loader_gc(lua_State *L) {
    Loader *ld = luaL_checkudata(L, 1, LOADER_MT);
    loader_destroy(ld);
    return 0;
}

/* loader:close(): stops the thread and frees the buffers now (batches already taken stay valid). */
static int l_loader_close(lua_State *L) { return l_loader_gc(L); }

/* loader:start(epoch [, first_step]): epoch >= 0; first_step 1-based (default 1). */
static int l_loader_start(lua_State *L) {
    const char *fn = "loader:start";
    Loader *ld = check_loader(L, 1, fn);
    double epoch = check_whole(L, 2, fn, "epoch", 0, 9007199254740992.0, 0);
    double first = check_whole(L, 3, fn, "first step", 1, (double)ld->steps + 1, 1);
    check_status(L, loader_start_epoch(ld, (int64_t)epoch, (int64_t)first - 1), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* loader:next() -> slot (1-based), rows in the batch, step (1-based); nil at the end of the epoch. */
static int l_loader_next(lua_State *L) {
    const char *fn = "loader:next";
    Loader *ld = check_loader(L, 1, fn);
    int slot;
    int64_t count, step;
    check_status(L, loader_next(ld, &slot, &count, &step), fn, "no epoch started (call start first)");
    if (slot < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, slot + 1);
    lua_pushnumber(L, (lua_Number)count);
    lua_pushnumber(L, (lua_Number)step + 1);
    return 3;
}

/* loader:slot(i) -> images (B, 1, H, W), labels (B): tensors sharing slot i's buffers. */
static int l_loader_slot(lua_State *L) {
    const char *fn = "loader:slot";
    Loader *ld = check_loader(L, 1, fn);
    int i = (int)check_whole(L, 2, fn, "slot", 1, ld->slots, 1) - 1;
    Tensor *images = push_tensor(L);
    check_status(L, tensor_view(images, &ld->slot_images[i], 4, ld->slot_images[i].shape), fn, NULL);
    Tensor *labels = push_tensor(L);
    check_status(L, tensor_view(labels, &ld->slot_labels[i], 1, ld->slot_labels[i].shape), fn, NULL);
    return 2;
}

/* loader:order(epoch) -> table of the 1-based rows in the order the epoch visits them. */
static int l_loader_order(lua_State *L) {
    const char *fn = "loader:order";
    Loader *ld = check_loader(L, 1, fn);
    double epoch = check_whole(L, 2, fn, "epoch", 0, 9007199254740992.0, 0);
    int32_t *order = lua_newuserdata(L, (size_t)ld->n * sizeof *order);
    loader_order(ld, (int64_t)epoch, order);
    lua_createtable(L, (int)ld->n, 0);
    for (int64_t i = 0; i < ld->n; i++) {
        lua_pushnumber(L, order[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* loader:info() -> {size, steps, batch_size, slots, prefetch, threaded} */
static int l_loader_info(lua_State *L) {
    Loader *ld = check_loader(L, 1, "loader:info");
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, (lua_Number)ld->n);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)ld->steps);
    lua_setfield(L, -2, "steps");
    lua_pushnumber(L, (lua_Number)ld->opt.batch_size);
    lua_setfield(L, -2, "batch_size");
    lua_pushinteger(L, ld->slots);
    lua_setfield(L, -2, "slots");
    lua_pushinteger(L, ld->opt.prefetch);
    lua_setfield(L, -2, "prefetch");
    lua_pushboolean(L, ld->has_thread);
    lua_setfield(L, -2, "threaded");
    return 1;
}

/* core.split_indices(n_total, n_validation, seed) -> train rows, validation rows (tables of 1-based
 * rows, ascending). */
static int l_split_indices(lua_State *L) {
    const char *fn = "split_indices";
    int64_t total = (int64_t)check_whole(L, 1, fn, "n_total", 1, (double)INT32_MAX, 1);
    int64_t held = (int64_t)check_whole(L, 2, fn, "n_validation", 0, (double)total, 0);
    uint64_t seed = (uint64_t)check_whole(L, 3, fn, "seed", 0, 9007199254740992.0, 1);
    int32_t *train = lua_newuserdata(L, (size_t)(total - held + 1) * sizeof *train);
    int32_t *validation = lua_newuserdata(L, (size_t)(held + 1) * sizeof *validation);
    check_status(L, loader_split(train, validation, total, held, seed), fn, NULL);
    lua_createtable(L, (int)(total - held), 0);
    for (int64_t i = 0; i < total - held; i++) {
        lua_pushnumber(L, train[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_createtable(L, (int)held, 0);
    for (int64_t i = 0; i < held; i++) {
        lua_pushnumber(L, validation[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 2;
}

/* core.image_decode(bytes [, work_side]) -> uint8 (H, W) grayscale, or nil and the reason.
 * work_side (default 0: full size): larger pictures are reduced towards it while decoding. */
static int l_image_decode(lua_State *L) {
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    const int64_t work_side = (int64_t)check_whole(L, 2, "image_decode", "work_side", 0, 1 << 20, 0);
    char why[256];
    Tensor *t = push_tensor(L);
    int st = image_decode_gray(t, data, len, work_side, why, sizeof why);
    if (st == MN_ERR_NOMEM) check_status(L, st, "image_decode", NULL);
    if (st != MN_OK) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    return 1;
}

/* The result of an image step whose output tensor is on the stack top: that tensor, or nil and the
 * reason when the picture holds no digit (MN_ERR_FORMAT); other failures raise. */
static int image_result(lua_State *L, int st, const char *fn, const char *why) {
    if (st == MN_ERR_FORMAT) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    check_status(L, st, fn, why);
    return 1;
}

/* core.image_mnist(gray) -> float32 (28, 28) in [0, 1] (the MNIST recipe), or nil and the reason
 * (a blank picture). gray: (H, W) uint8, or float32 in [0, 1]. */
static int l_image_mnist(lua_State *L) {
    const char *fn = "image_mnist";
    Tensor *gray = check_contiguous(L, 1, fn);
    if (gray->ndim != 2) {
        char b[64];
        raisef(L, fn, "expected a (H, W) image, got %s", shape_of(gray, b, sizeof b));
    }
    char why[256];
    Tensor *out = push_tensor(L);
    return image_result(L, image_mnist_recipe(out, gray, why, sizeof why), fn, why);
}

/* core.image_photo(gray) -> float32 (h, w) in [0, 1]: the digit's ink alone, bright on black,
 * around the digit (csrc/data/photo.h), or nil and the reason (no digit-like ink). gray: (H, W)
 * uint8, or float32 in [0, 1]. */
static int l_image_photo(lua_State *L) {
    const char *fn = "image_photo";
    Tensor *gray = check_contiguous(L, 1, fn);
    char b[64];
    if (gray->ndim != 2 || (gray->dtype != DTYPE_UINT8 && gray->dtype != DTYPE_FLOAT32))
        raisef(L, fn, "expected a uint8 or float32 (H, W) image, got %s %s", dtype_name(gray->dtype),
               shape_of(gray, b, sizeof b));
    char why[256];
    Tensor *out = push_tensor(L);
    return image_result(L, image_photo_clean(out, gray, why, sizeof why), fn, why);
}

/* core.pictures_to_mnist(list [, photo]) -> float32 (n, 28, 28), reasons: each encoded picture of
 * the list (strings) decoded, cleaned up (unless photo is false) and put through the MNIST recipe
 * on the kernels' threads. reasons[i] is false, or why picture i failed (its image is then zero). */
static int l_pictures_to_mnist(lua_State *L) {
    const char *fn = "pictures_to_mnist";
    luaL_checktype(L, 1, LUA_TTABLE);
    const int photo = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    const int64_t n = (int64_t)lua_objlen(L, 1);
    if (n < 1) raisef(L, fn, "expected a non-empty list of encoded pictures");
    enum { WHY = 256 };
    /* one block for the pointers, lengths, statuses and reasons, owned by a userdata (freed by __gc) */
    const size_t bytes = (size_t)n * (sizeof(void *) + sizeof(size_t) + sizeof(int) + WHY);
    void **box = push_owned(L);
    *box = malloc(bytes);
    if (!*box) check_status(L, MN_ERR_NOMEM, fn, NULL);
    const void **data = *box;
    size_t *len = (size_t *)(data + n);
    int *status = (int *)(len + n);
    char *why = (char *)(status + n);
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (int)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING) raisef(L, fn, "item %lld is a %s, expected the bytes of a picture",
                                                   (long long)i + 1, luaL_typename(L, -1));
        data[i] = lua_tolstring(L, -1, &len[i]);
        lua_pop(L, 1); /* still referenced by the list, which stays on the stack */
    }
    Tensor *out = push_tensor(L);
    check_status(L, image_pictures_to_mnist(out, status, why, WHY, data, len, n, photo), fn, NULL);
    account_storage(L, out);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        if (status[i] == MN_OK) lua_pushboolean(L, 0);
        else if (why[i * WHY]) lua_pushstring(L, why + i * WHY);
        else lua_pushstring(L, mn_status_str(status[i]));
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 2;
}

/* core.image_encode(img, format [, quality]) -> bytes. img: (H, W) or (H, W, C) uint8;
 * format: "png", "bmp" or "jpg" (quality 1..100, default 95). */
static int l_image_encode(lua_State *L) {
    const char *fn = "image_encode";
    Tensor *img = check_contiguous(L, 1, fn);
    static const char *const formats[] = {"png", "bmp", "jpg", NULL};
    int format = luaL_checkoption(L, 2, NULL, formats);
    int quality = (int)check_whole(L, 3, fn, "quality", 1, 100, 95);
    char b[64];
    if (img->dtype != DTYPE_UINT8 || (img->ndim != 2 && img->ndim != 3) ||
        (img->ndim == 3 && img->shape[2] != 1 && img->shape[2] != 3 && img->shape[2] != 4))
        raisef(L, fn, "expected a uint8 (H, W) or (H, W, C) image with C = 1, 3 or 4, got %s %s",
              dtype_name(img->dtype), shape_of(img, b, sizeof b));
    void **box = push_owned(L);
    size_t len;
    check_status(L, image_encode(box, &len, img, formats[format], quality), fn,
                 "the image is too large to encode");
    lua_pushlstring(L, *box, len);
    return 1;
}


static const luaL_Reg loader_methods[] = {
    {"start", l_loader_start}, {"next", l_loader_next}, {"slot", l_loader_slot},
    {"order", l_loader_order}, {"info", l_loader_info}, {"close", l_loader_close},
    {NULL, NULL},
};

static const luaL_Reg data_functions[] = {
    {"idx_read", l_idx_read},
    {"idx_check_pair", l_idx_check_pair},
    {"sha256_gunzip", l_sha256_gunzip},
    {"record_write", l_record_write},
    {"record_open", l_record_open},
    {"loader", l_loader_new},
    {"split_indices", l_split_indices},
    {"augment", l_augment},
    {"image_decode", l_image_decode},
    {"image_mnist", l_image_mnist},
    {"image_photo", l_image_photo},
    {"pictures_to_mnist", l_pictures_to_mnist},
    {"image_encode", l_image_encode},
    {NULL, NULL},
};

/* Adds the data functions to the module table at the stack top, and the loader's metatable. */
void register_data(lua_State *L) {
    luaL_register(L, NULL, data_functions);
    lua_pushinteger(L, IMAGE_WORK_SIDE);
    lua_setfield(L, -2, "IMAGE_WORK_SIDE");
    luaL_newmetatable(L, LOADER_MT);
    lua_newtable(L);
    luaL_register(L, NULL, loader_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_loader_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, OWNED_MT);
    lua_pushcfunction(L, l_owned_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}
