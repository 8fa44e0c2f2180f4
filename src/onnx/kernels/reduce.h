/* reduce.h - the Reduce* operators and ArgMax/ArgMin, one implementation.
 *
 * Axes come from the `axes` attribute (older opsets) or input 1 (ReduceSum
 * from 13, the others from 18); empty axes reduce everything unless
 * noop_with_empty_axes=1, which copies the input. When the reduced axes are
 * the innermost ones (the usual case: spatial means, last-axis sums) each
 * output element reduces one contiguous block, split across threads; any
 * other layout accumulates in one pass over the input with a strided
 * iterator.
 */
#ifndef KH_ONNX_KERNELS_REDUCE_H
#define KH_ONNX_KERNELS_REDUCE_H

#include "onnx/op.h"

typedef enum onnx_reduce_kind {
    ONNX_REDUCE_SUM,
    ONNX_REDUCE_MEAN,
    ONNX_REDUCE_MAX,
    ONNX_REDUCE_MIN,
    ONNX_REDUCE_PROD,
    ONNX_REDUCE_L1,
    ONNX_REDUCE_SUM_SQUARE,
    /* float only from here */
    ONNX_REDUCE_L2,
    ONNX_REDUCE_LOG_SUM,
    ONNX_REDUCE_LOG_SUM_EXP,
    ONNX_REDUCE_COUNT
} onnx_reduce_kind;

int onnx_reduce_reshape(onnx_node *n, onnx_reduce_kind kind, kh_error *err);
int onnx_reduce_run(onnx_node *n, const onnx_exec *ex, onnx_reduce_kind kind,
                    kh_error *err);

/* ArgMax (is_max) / ArgMin: int64 indices along `axis`, keepdims,
 * select_last_index (opset 12) picks the last of equal extremes. */
int onnx_arg_reshape(onnx_node *n, bool is_max, kh_error *err);
int onnx_arg_run(onnx_node *n, const onnx_exec *ex, bool is_max, kh_error *err);

#define ONNX_REDUCE_OPERATOR(Name, min, kind)                                  \
    static int Name##_reshape(onnx_node *n, kh_error *err) {                   \
        return onnx_reduce_reshape(n, kind, err);                              \
    }                                                                          \
    static int Name##_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {  \
        return onnx_reduce_run(n, ex, kind, err);                              \
    }                                                                          \
    const onnx_operator onnx_op_##Name = {                                     \
        .op_type = #Name,                                                      \
        .min_opset = min,                                                      \
        .reshape = Name##_reshape,                                             \
        .run = Name##_run,                                                     \
    };

#endif
