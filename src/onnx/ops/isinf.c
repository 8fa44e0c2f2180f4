/* IsInf: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(IsInf, 10, ONNX_UNARY_ISINF)
