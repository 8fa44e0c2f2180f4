/* Shrink: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Shrink, 9, ONNX_UNARY_SHRINK)
