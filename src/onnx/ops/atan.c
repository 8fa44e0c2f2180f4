/* Atan: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Atan, 7, ONNX_UNARY_ATAN)
