/* GreaterOrEqual: elementwise with numpy broadcasting, shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

ONNX_BINARY_OPERATOR(GreaterOrEqual, 12, ONNX_BINARY_GREATER_EQUAL)
