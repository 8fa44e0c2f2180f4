/* Scatter (opsets 9-10, then renamed ScatterElements): same semantics,
 * no reduction. */
#include "onnx/kernels/scatter.h"

const onnx_operator onnx_op_Scatter = {
    .op_type = "Scatter",
    .min_opset = 9,
    .reshape = onnx_scatter_elements_reshape,
    .run = onnx_scatter_elements_run,
};
