/* gemm.h: the one matrix product the kernels use, row-major float32:
 *
 *     C (M, N) = alpha * op(A) @ op(B) + beta * C,  op(A) (M, K), op(B) (K, N)
 *
 * with A stored (M, K) (or (K, M) when trans_a) with row stride lda, B stored (K, N) (or (N, K)
 * when trans_b) with row stride ldb, C with row stride ldc; beta == 0 never reads C.
 *
 * Our own packed GEMM (BLIS's loop structure) with a micro-kernel chosen at run time: AVX-512
 * (8x32), AVX2+FMA (6x16) or plain C (4x8), so the library runs on any x86-64 and uses the wide
 * units where they exist; NEON (8x12) on AArch64. Why not OpenBLAS's sgemm: Debian's 0.3.21 serializes calls made from
 * several threads, so our threads could not each run one, and OPENBLAS_CORETYPE may pin it to
 * an older kernel than the CPU has. Each element of C sums K in the same order whatever the
 * split, so results do not depend on the thread count.
 *
 * A B that is already laid out as the micro-kernel's packed strip (not transposed, N = ldb = the
 * strip width, 32 on AVX-512, 64-byte aligned) is read in place.
 *
 * gemm_serial runs on the calling thread (thread-safe; each thread packs into its own buffers);
 * gemm splits C into column (or row) blocks over the kernels' threads (parallel.h). */
#ifndef MNIST_GEMM_H
#define MNIST_GEMM_H

#include <stdint.h>

void gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

/* The micro-kernel in use: "avx512", "avx2", "neon" or "generic" (the best the CPU has, or a
 * narrower one named by MNIST_GEMM_KERNEL, for tests). */
const char *gemm_kernel_name(void);

/* 1 when the kernels may use AVX-512 (the CPU has it and MNIST_GEMM_KERNEL does not forbid it):
 * the one switch for every AVX-512 path (conv, pool, winograd), so the specs can run the others. */
int gemm_avx512(void);

/* 1 when the micro-kernel in use is AVX2's (the CPU has AVX2 and FMA, and AVX-512 is absent or
 * forbidden by MNIST_GEMM_KERNEL): the switch for the AVX2 paths of conv and pool, so the choice
 * is the same for every kernel of a process, deterministic per machine. */
int gemm_avx2(void);

/* dst (cols, rows) = src (rows, cols) transposed, rows ldd and lds floats apart (8 x 8 blocks in
 * registers where the CPU has AVX2, as the packing's). */
void gemm_transpose(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                    int64_t cols);

/* A product whose A is packed once and used many times (Winograd's transformed filters): the
 * packing, a fair part of a small product's time, is then not repeated at every call.
 *
 * Floats of op(A) (m, k) packed for the micro-kernel in use (its panels of rows zero-padded). */
int64_t gemm_packed_a_floats(int64_t m, int64_t k);

/* dst (gemm_packed_a_floats(m, k) floats, 64-byte aligned) = op(A) (m, k) packed. */
void gemm_pack_a(float *dst, int trans_a, int64_t m, int64_t k, const float *a, int64_t lda);

/* C (M, N) = A @ B + beta * C on the calling thread, A (M, K) as gemm_pack_a packed it, B (K, N)
 * not transposed. Each element sums K in the same order as gemm_serial's. On AVX-512, B's rows
 * are read in place when they are 64-byte aligned (b and ldb), M is a multiple of 8 and K at most
 * 384, beta 0 or 1: then B's rows must have room for whole 32-column strips (N rounded up to 32
 * floats are read; the extra columns' results are not stored). On AVX2 likewise when they are
 * 32-byte aligned, M at most 384 (any multiple), with room for whole 16-column strips. */
void gemm_packed_serial(int64_t m, int64_t n, int64_t k, const float *packed_a, const float *b,
                        int64_t ldb, float beta, float *c, int64_t ldc);

void gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif
