/* Celu: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Celu, 12, ONNX_UNARY_CELU)
