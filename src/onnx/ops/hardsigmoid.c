/* HardSigmoid: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(HardSigmoid, 1, ONNX_UNARY_HARD_SIGMOID)
