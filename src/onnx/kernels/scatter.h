/* scatter.h - what ScatterElements, Scatter (its opset 9-10 name) and
 * ScatterND share: the `reduction` attribute (none / add / mul from opset
 * 16, max / min from 18) and the element update it implies.
 */
#ifndef KH_ONNX_KERNELS_SCATTER_H
#define KH_ONNX_KERNELS_SCATTER_H

#include "onnx/op.h"

typedef enum onnx_scatter_reduction {
    ONNX_SCATTER_NONE,
    ONNX_SCATTER_ADD,
    ONNX_SCATTER_MUL,
    ONNX_SCATTER_MAX,
    ONNX_SCATTER_MIN,
} onnx_scatter_reduction;

/* KH_EUNSUPPORTED naming an unknown reduction. */
int onnx_scatter_reduction_read(const onnx_node *n, onnx_scatter_reduction *out,
                                kh_error *err);

/* dst[i] = dst[i] (reduction) src[i] for n elements of type t. */
void onnx_scatter_combine(void *dst, const void *src, onnx_dtype t, size_t n,
                          onnx_scatter_reduction r);

/* ScatterElements / Scatter: output = data with updates written at the
 * positions indices give along `axis`. Indices are checked before anything
 * is written (KH_ERANGE). */
int onnx_scatter_elements_reshape(onnx_node *n, kh_error *err);
int onnx_scatter_elements_run(onnx_node *n, const onnx_exec *ex, kh_error *err);

#endif
