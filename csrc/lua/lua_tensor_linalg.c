/* lua_tensor_linalg.c: matrix products (csrc/tensor/tensor_linalg.h). One entry point,
 * core.tensor_product(kind, res, beta, m, alpha, a, b), checks a Torch7 product's operands, resizes
 * res and computes res = beta * m + alpha * a @ b; lua/mnist/tensor.lua builds Torch7's call forms
 * (x:addmm(...), res:mm(a, b), torch.bmm(a, b)) on it. Also the method t:dot(u). */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <string.h>

#include "lua/lua_common.h"
#include "tensor/tensor_linalg.h"

/* A product's shape rules: the dims of a and b, the names Torch7's documentation gives them, and
 * whether the batch is summed (addbmm). The result is (a's rows, b's cols), with the batch in
 * front for bmm and without the missing dim for mv. */
typedef struct {
    const char *kind;     /* the Torch7 function named in errors */
    int a_dims, b_dims;   /* 2 and 2 (mm), 2 and 1 (mv), 1 and 1 (outer product), 3 and 3 (batch) */
    int reduce;           /* addbmm: the sum over the batch */
    const char *a_name, *b_name, *m_name;
} Kind;

static const Kind kinds[] = {
    {"mm", 2, 2, 0, "mat1", "mat2", NULL},        {"addmm", 2, 2, 0, "mat1", "mat2", "M"},
    {"mv", 2, 1, 0, "mat", "vec", NULL},          {"addmv", 2, 1, 0, "mat", "vec2", "vec1"},
    {"ger", 1, 1, 0, "vec1", "vec2", NULL},       {"addr", 1, 1, 0, "vec1", "vec2", "M"},
    {"bmm", 3, 3, 0, "batch1", "batch2", NULL},   {"baddbmm", 3, 3, 0, "batch1", "batch2", "M"},
    {"addbmm", 3, 3, 1, "batch1", "batch2", "M"},
};

static const Kind *check_kind(lua_State *L, int idx) {
    const char *name = luaL_checkstring(L, idx);
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(kinds[i].kind, name) == 0) return &kinds[i];
    raisef(L, "tensor_product", "unknown product '%s'", name);
}

/* The float32 operand at idx, named `name` in errors, with `dims` dims. */
static Tensor *check_operand(lua_State *L, int idx, const Kind *k, const char *name, int dims) {
    Tensor *t = check_tensor(L, idx, k->kind);
    char b[64];
    if (t->dtype != DTYPE_FLOAT32)
        raisef(L, k->kind, "%s %s is %s; matrix products take float32 tensors (convert it with "
               ":float())", name, shape_of(t, b, sizeof b), dtype_name(t->dtype));
    if (dims && t->ndim != dims)
        raisef(L, k->kind, "%s must be %d-D, got %s", name, dims, shape_of(t, b, sizeof b));
    return t;
}

/* Pushes a view of the vector t as an (n, 1) column or a (1, n) row (as_row). */
static Tensor *push_matrix_of_vector(lua_State *L, const Tensor *t, int as_row, const char *fn) {
    Tensor *v = push_tensor(L);
    check_status(L, tensor_unsqueeze(v, t, as_row ? 0 : 1), fn, NULL);
    return v;
}

/* Pushes another view of all of t (holding its own reference to t's storage). */
static Tensor *push_view(lua_State *L, const Tensor *t, const char *fn) {
    Tensor *v = push_tensor(L);
    check_status(L, tensor_narrow(v, t, 0, 0, t->shape[0]), fn, NULL);
    return v;
}

/* core.tensor_product(kind, res, beta, m, alpha, a, b) -> res = beta * m + alpha * a @ b; m nil:
 * beta is ignored (res is only written). res is resized to the result's shape unless it has it. */
static int l_tensor_product(lua_State *L) {
    const Kind *k = check_kind(L, 1);
    const char *fn = k->kind;
    Tensor *res = check_operand(L, 2, k, "res", 0);
    float beta = check_float_arg(L, 3, fn, "beta (the multiplier of M)");
    float alpha = check_float_arg(L, 5, fn, "alpha (the multiplier of the product)");
    Tensor *a = check_operand(L, 6, k, k->a_name, k->a_dims);
    Tensor *b = check_operand(L, 7, k, k->b_name, k->b_dims);
    char ba[64], bb[64], bm[64];
    /* the result's shape */
    int64_t shape[3];
    int ndim;
    if (k->a_dims == 1) { /* outer product */
        shape[0] = a->shape[0];
        shape[1] = b->shape[0];
        ndim = 2;
    } else {
        int64_t inner_a = a->shape[a->ndim - 1], inner_b = b->shape[k->b_dims == 1 ? 0 : b->ndim - 2];
        if (inner_a != inner_b)
            raisef(L, fn, "size mismatch: %s %s @ %s %s (%lld columns vs %lld rows)", k->a_name,
                   shape_of(a, ba, sizeof ba), k->b_name, shape_of(b, bb, sizeof bb),
                   (long long)inner_a, (long long)inner_b);
        if (k->a_dims == 3 && a->shape[0] != b->shape[0])
            raisef(L, fn, "batch sizes differ: %s %s, %s %s", k->a_name, shape_of(a, ba, sizeof ba),
                   k->b_name, shape_of(b, bb, sizeof bb));
        ndim = 0;
        if (k->a_dims == 3 && !k->reduce) shape[ndim++] = a->shape[0];
        shape[ndim++] = a->shape[a->ndim - 2];
        if (k->b_dims > 1) shape[ndim++] = b->shape[b->ndim - 1];
    }
    Tensor want = {0}; /* a shape holder for the messages */
    want.ndim = ndim;
    for (int d = 0; d < ndim; d++) want.shape[d] = shape[d];
    char bw[64];
    shape_of(&want, bw, sizeof bw);
    Tensor *m = NULL;
    if (!lua_isnoneornil(L, 4)) {
        m = check_operand(L, 4, k, k->m_name ? k->m_name : "M", 0);
        if (!tensor_same_shape(m, &want))
            raisef(L, fn, "%s has shape %s, expected %s for %s %s and %s %s", k->m_name,
                   shape_of(m, bm, sizeof bm), bw, k->a_name, shape_of(a, ba, sizeof ba),
                   k->b_name, shape_of(b, bb, sizeof bb));
    }
    if (!tensor_same_shape(res, &want)) {
        if (m == res) /* x:addmm(a, b) accumulates into x: it must have the shape already */
            raisef(L, fn, "%s has shape %s, expected %s", k->m_name, shape_of(res, bm, sizeof bm), bw);
        /* an operand that is res itself keeps its shape and values through a view of its own */
        if (a == res) a = push_view(L, a, fn);
        if (b == res) b = push_view(L, b, fn);
        check_status(L, tensor_resize(res, ndim, shape), fn, NULL);
        account_storage(L, res);
    }
    /* vectors as matrices: mv's (n) = (n, m) @ (m, 1); the outer product (n, 1) @ (1, m) */
    Tensor *ra = a, *rb = b, *rres = res, *rm = m;
    if (k->b_dims == 1) {
        rb = push_matrix_of_vector(L, b, k->a_dims == 1, fn);
        if (k->a_dims == 1) ra = push_matrix_of_vector(L, a, 0, fn);
        else {
            rres = push_matrix_of_vector(L, res, 0, fn);
            if (m) rm = push_matrix_of_vector(L, m, 0, fn);
        }
    }
    if (m == res) rm = NULL;
    int st = k->reduce ? tensor_addbmm(rres, beta, rm, alpha, ra, rb)
                       : tensor_addmm(rres, m ? beta : 0.0f, rm, alpha, ra, rb);
    check_status(L, st, fn, NULL);
    lua_settop(L, 2);
    return 1;
}

/* x:dot(y) -> the sum of x[i] * y[i] over the same number of elements (any shapes), a number. */
static int l_tensor_dot(lua_State *L) {
    const Kind k = {"dot", 0, 0, 0, "tensor1", "tensor2", NULL};
    Tensor *a = check_operand(L, 1, &k, "tensor1", 0), *b = check_operand(L, 2, &k, "tensor2", 0);
    if (a->numel != b->numel) {
        char ba[64], bb[64];
        raisef(L, "dot", "size mismatch: tensor1 %s has %lld elements, tensor2 %s has %lld",
               shape_of(a, ba, sizeof ba), (long long)a->numel, shape_of(b, bb, sizeof bb),
               (long long)b->numel);
    }
    double s;
    check_status(L, tensor_dot(&s, a, b), "dot", NULL);
    lua_pushnumber(L, s);
    return 1;
}

static const luaL_Reg linalg_methods[] = {
    {"dot", l_tensor_dot},
    {NULL, NULL},
};

/* core.linalg_copies() -> the operand and result copies the products have made so far. */
static int l_linalg_copies(lua_State *L) {
    lua_pushnumber(L, (lua_Number)tensor_linalg_copies());
    return 1;
}

void register_tensor_linalg(lua_State *L) {
    lua_pushcfunction(L, l_tensor_product);
    lua_setfield(L, -2, "tensor_product");
    lua_pushcfunction(L, l_linalg_copies);
    lua_setfield(L, -2, "linalg_copies");
    lua_getfield(L, -1, "tensor_methods");
    luaL_register(L, NULL, linalg_methods);
    lua_pop(L, 1);
}
