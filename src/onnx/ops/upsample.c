/* Upsample (opset 7-9, deprecated in 10): nearest or linear enlargement by
 * scales >= 1 (an attribute in opset 7, an input from 9), asymmetric
 * coordinates; output floor(input * scale). */
#include <math.h>
#include <stdlib.h>

#include "onnx/kernels/resize.h"
#include "onnx/op.h"

static int upsample_init(onnx_node *n, kh_error *err) {
    resize_params *p = calloc(1, sizeof *p);
    if (!p)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = p;
    int rc = resize_parse_mode(onnx_attr_string(n, "mode", "nearest"), &p->mode, err);
    if (rc)
        return rc;
    if (p->mode == RESIZE_CUBIC)
        return kh_error_set(err, KH_EINVAL, "mode 'cubic' is not an Upsample mode");
    p->coord = RESIZE_ASYMMETRIC;
    p->nearest = RESIZE_SIMPLE;
    return KH_OK;
}

static void upsample_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

static int upsample_reshape(onnx_node *n, kh_error *err) {
    resize_params *p = n->state;
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    const onnx_tensor *scales = onnx_node_input(n, 1);
    const float *attr = NULL;
    size_t count;
    if (scales) {
        count = scales->numel;
        if (!onnx_tensor_value_known(scales))
            return kh_error_set(err, KH_EDYNAMIC, "scales not known yet");
    } else {
        count = onnx_attr_floats(n, "scales", &attr);
    }
    if (count != (size_t)x->rank)
        return kh_error_set(err, KH_ESHAPE, "%zu scales for rank %d", count, x->rank);
    p->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        double s = scales ? onnx_tensor_get_f64(scales, (size_t)i) : attr[i];
        if (!(s >= 1.0) || !isfinite(s) || (double)x->dims[i] * s > 9.0e18)
            return kh_error_set(err, KH_EINVAL, "scale %g must be >= 1", s);
        p->in[i] = x->dims[i];
        p->scale[i] = s;
        p->out[i] = (int64_t)floor((double)x->dims[i] * s);
        p->roi_start[i] = 0.0;
        p->roi_end[i] = 1.0;
    }
    n->scratch_bytes = resize_scratch_bytes(p);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, p->out, err);
}

static int upsample_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    if (n->outputs[0]->numel && n->inputs[0]->numel)
        resize_run(ex, n->state, n->inputs[0]->data, n->outputs[0]->data, ex->scratch);
    return KH_OK;
}

const onnx_operator onnx_op_Upsample = {
    .op_type = "Upsample",
    .min_opset = 7,
    .init = upsample_init,
    .reshape = upsample_reshape,
    .run = upsample_run,
    .exit = upsample_exit,
};
