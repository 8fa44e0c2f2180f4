/* Asin: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Asin, 7, ONNX_UNARY_ASIN)
