/* Elu: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Elu, 1, ONNX_UNARY_ELU)
