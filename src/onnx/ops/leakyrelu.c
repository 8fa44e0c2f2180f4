/* LeakyRelu: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(LeakyRelu, 1, ONNX_UNARY_LEAKY_RELU)
