/* LessOrEqual: elementwise with numpy broadcasting, shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

ONNX_BINARY_OPERATOR(LessOrEqual, 12, ONNX_BINARY_LESS_EQUAL)
