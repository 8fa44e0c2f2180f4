/* Add: elementwise with numpy broadcasting, shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

ONNX_BINARY_OPERATOR(Add, 7, ONNX_BINARY_ADD)
