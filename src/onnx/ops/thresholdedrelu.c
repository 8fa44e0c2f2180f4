/* ThresholdedRelu: elementwise, shared kernel in kernels/unary.c. */
#include "onnx/kernels/unary.h"

ONNX_UNARY_OPERATOR(ThresholdedRelu, 10, ONNX_UNARY_THRESHOLDED_RELU)
