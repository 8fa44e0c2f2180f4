/* HardSigmoid: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(HardSigmoid, 6, ONNX_UNARY_HARD_SIGMOID)
