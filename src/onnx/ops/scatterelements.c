/* ScatterElements (opset 11+): data with updates written along axis at
 * the given indices, optionally reduced (add/mul 16, max/min 18). */
#include "onnx/kernels/scatter.h"

static int scatterelements_init(onnx_node *n, kh_error *err) {
    onnx_scatter_reduction r;
    return onnx_scatter_reduction_read(n, &r, err);
}

const onnx_operator onnx_op_ScatterElements = {
    .op_type = "ScatterElements",
    .min_opset = 11,
    .init = scatterelements_init,
    .reshape = onnx_scatter_elements_reshape,
    .run = onnx_scatter_elements_run,
};
