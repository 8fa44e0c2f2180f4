/* quantize.c - shared quantisation helpers. */
#include "onnx/kernels/quantize.h"

#include <inttypes.h>
#include <math.h>

#include "onnx/kernels/axes.h"

int onnx_quant_layout_make(const onnx_node *n, const onnx_tensor *x,
                           const onnx_tensor *scale, const onnx_tensor *zp,
                           onnx_quant_layout *l, kh_error *err) {
    if (scale->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s scale not supported",
                            onnx_dtype_name(scale->dtype));
    if (zp && zp->numel != scale->numel) {
        char ss[160], sz[160];
        return kh_error_set(err, KH_ESHAPE,
                            "zero point %s does not match scale %s",
                            onnx_shape_str(zp, sz, sizeof sz),
                            onnx_shape_str(scale, ss, sizeof ss));
    }
    if (scale->rank == 0 || (scale->rank == 1 && scale->numel == 1)) {
        l->outer = 1;
        l->channels = 1;
        l->inner = x->numel;
        return KH_OK;
    }
    if (scale->rank != 1)
        return kh_error_set(err, KH_EUNSUPPORTED, "blocked (rank %d) scale",
                            scale->rank);
    int64_t axis;
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", 1), x->rank, "axis",
                                 &axis, err);
    if (rc)
        return rc;
    if (scale->dims[0] != x->dims[axis])
        return kh_error_set(err, KH_ESHAPE,
                            "scale has %" PRId64 " entries, axis %" PRId64
                            " has %" PRId64,
                            scale->dims[0], axis, x->dims[axis]);
    l->outer = onnx_dims_product(x->dims, 0, (int)axis);
    l->channels = (size_t)x->dims[axis];
    l->inner = onnx_dims_product(x->dims, (int)axis + 1, x->rank);
    return KH_OK;
}

int64_t onnx_quant_round_saturate(float v, int64_t lo, int64_t hi) {
    if (v != v)
        return 0;
    float r = rintf(v); /* the default rounding mode: half to even */
    if (r <= (float)lo)
        return lo;
    if (r >= (float)hi)
        return hi;
    return (int64_t)r;
}
