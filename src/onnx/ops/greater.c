/* Greater: elementwise with numpy broadcasting, shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

ONNX_BINARY_OPERATOR(Greater, 7, ONNX_BINARY_GREATER)
