/* Sqrt: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Sqrt, 1, ONNX_UNARY_SQRT)
