/* signal_window.h - HannWindow, HammingWindow and BlackmanWindow (opset 17): a
 * 1-D window of `size` (a scalar input, so known when planning or planned at
 * run time) samples, periodic (default) or symmetric, in output_datatype.
 */
#ifndef KH_ONNX_KERNELS_SIGNAL_WINDOW_H
#define KH_ONNX_KERNELS_SIGNAL_WINDOW_H

#include "onnx/op.h"

typedef enum onnx_signal_window_kind {
    ONNX_SIGNAL_WINDOW_HANN,
    ONNX_SIGNAL_WINDOW_HAMMING,
    ONNX_SIGNAL_WINDOW_BLACKMAN,
} onnx_signal_window_kind;

int onnx_signal_window_reshape(onnx_node *n, kh_error *err);
int onnx_signal_window_run(onnx_node *n, onnx_signal_window_kind kind,
                           const onnx_exec *ex, kh_error *err);

#define ONNX_SIGNAL_WINDOW_OPERATOR(Name, kind)                                \
    static int Name##_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {  \
        return onnx_signal_window_run(n, kind, ex, err);                       \
    }                                                                          \
    const onnx_operator onnx_op_##Name = {                                     \
        .op_type = #Name,                                                      \
        .min_opset = 17,                                                       \
        .reshape = onnx_signal_window_reshape,                                 \
        .run = Name##_run,                                                     \
    };

#endif
