/* ReduceMean: axes attribute or input, keepdims, noop_with_empty_axes; shared
 * kernel in kernels/reduce.c. */
#include "onnx/kernels/reduce.h"

ONNX_REDUCE_OPERATOR(ReduceMean, 1, ONNX_REDUCE_MEAN)
