/* Softplus: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Softplus, 1, ONNX_UNARY_SOFTPLUS)
