/* Gelu: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Gelu, 20, ONNX_UNARY_GELU)
