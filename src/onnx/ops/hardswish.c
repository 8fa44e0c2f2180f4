/* HardSwish: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(HardSwish, 14, ONNX_UNARY_HARD_SWISH)
