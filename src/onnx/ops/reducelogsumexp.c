/* ReduceLogSumExp: axes attribute or input, keepdims, noop_with_empty_axes;
 * shared kernel in kernels/reduce.c. */
#include "onnx/kernels/reduce.h"

ONNX_REDUCE_OPERATOR(ReduceLogSumExp, 1, ONNX_REDUCE_LOG_SUM_EXP)
