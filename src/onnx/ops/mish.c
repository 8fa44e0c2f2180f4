/* Mish: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Mish, 18, ONNX_UNARY_MISH)
