/* Round: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(Round, 11, ONNX_UNARY_ROUND)
