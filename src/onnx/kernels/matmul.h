/* matmul.h - one matrix product C = A * B (+ C) split across threads, for
 * Gemm and MatMul: A already packed (sgemm_pack_a), B a row-major matrix read
 * in place, or a transposed one packed tile by tile.
 */
#ifndef KH_ONNX_KERNELS_MATMUL_H
#define KH_ONNX_KERNELS_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "onnx/kernels/sgemm.h"
#include "onnx/op.h"

/* Scratch that matmul_run needs for a k x n B (64-byte multiple). */
size_t matmul_scratch_bytes(size_t k, size_t n, bool b_transposed);

/* p->c (m x n) = p->a_packed * B (+ p->c when p->accumulate), then the
 * epilogue. B[k][j] = b[k * ldb + j], or b[j * ldb + k] when transposed.
 * scratch: matmul_scratch_bytes(p->k, p->n, b_transposed) bytes. */
void matmul_run(const onnx_exec *ex, const sgemm_params *p, const float *b,
                size_t ldb, bool b_transposed, void *scratch);

#endif
