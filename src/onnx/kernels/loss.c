/* loss.c - the shared NLL step of the loss operators. */
#include "onnx/kernels/loss.h"

#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

int onnx_loss_reduction_read(const onnx_node *n, onnx_loss_reduction *r,
                             kh_error *err) {
    const char *s = onnx_attr_string(n, "reduction", "mean");
    if (strcmp(s, "none") == 0)
        *r = ONNX_LOSS_NONE;
    else if (strcmp(s, "sum") == 0)
        *r = ONNX_LOSS_SUM;
    else if (strcmp(s, "mean") == 0)
        *r = ONNX_LOSS_MEAN;
    else
        return kh_error_set(err, KH_EUNSUPPORTED, "reduction '%s'", s);
    return KH_OK;
}

int onnx_loss_reshape(const onnx_node *n, const onnx_tensor *x,
                      const onnx_tensor *target, const onnx_tensor *weight,
                      onnx_tensor *out, kh_error *err) {
    onnx_loss_reduction r = ONNX_LOSS_NONE; /* set by the read below */
    int rc = onnx_loss_reduction_read(n, &r, err);
    if (rc)
        return rc;
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    if (target->dtype != ONNX_INT64 && target->dtype != ONNX_INT32)
        return kh_error_set(err, KH_ETYPE,
                            "target must be int32 or int64, "
                            "got %s",
                            onnx_dtype_name(target->dtype));
    char sx[160], st[160];
    bool ok = x->rank >= 2 && target->rank == x->rank - 1 &&
              target->dims[0] == x->dims[0];
    for (int d = 1; ok && d < target->rank; d++)
        ok = target->dims[d] == x->dims[d + 1];
    if (!ok)
        return kh_error_set(err, KH_ESHAPE,
                            "target %s does not fit input %s (expected "
                            "[N, d1..dk] for [N, C, d1..dk])",
                            onnx_shape_str(target, st, sizeof st),
                            onnx_shape_str(x, sx, sizeof sx));
    if (weight && (weight->dtype != ONNX_FLOAT || weight->rank != 1 ||
                   weight->dims[0] != x->dims[1]))
        return kh_error_set(err, KH_ESHAPE,
                            "weight must be float [%" PRId64 "]", x->dims[1]);
    if (r == ONNX_LOSS_NONE)
        return onnx_tensor_reshape(out, ONNX_FLOAT, target->rank, target->dims,
                                   err);
    return onnx_tensor_reshape(out, ONNX_FLOAT, 0, NULL, err);
}

int onnx_loss_compute(const onnx_node *n, const onnx_tensor *x,
                      const float *logp, const onnx_tensor *target,
                      const onnx_tensor *weight, onnx_tensor *out,
                      kh_error *err) {
    onnx_loss_reduction r = ONNX_LOSS_NONE; /* set by the read below */
    int rc = onnx_loss_reduction_read(n, &r, err);
    if (rc)
        return rc;
    const onnx_attr *ignore_attr = onnx_attr_find(n, "ignore_index");
    const bool has_ignore = ignore_attr && ignore_attr->type == ONNX_ATTR_INT;
    const int64_t ignore = has_ignore ? ignore_attr->i : 0;
    const int64_t classes = x->dims[1];
    const size_t inner = onnx_dims_product(x->dims, 2, x->rank);
    const float *w = weight ? weight->data : NULL;
    float *o = out->data;
    double sum = 0, weight_sum = 0;
    for (size_t i = 0; i < target->numel; i++) {
        int64_t t = onnx_tensor_get_i64(target, i);
        float loss = 0, wt = 0;
        if (!(has_ignore && t == ignore)) {
            if (t < 0 || t >= classes)
                return kh_error_set(err, KH_ERANGE,
                                    "target %" PRId64 " (at %zu) is outside "
                                    "0..%" PRId64,
                                    t, i, classes - 1);
            size_t batch = i / inner, pos = i % inner;
            wt = w ? w[t] : 1.0f;
            loss =
                -wt * logp[(batch * (size_t)classes + (size_t)t) * inner + pos];
        }
        if (r == ONNX_LOSS_NONE)
            o[i] = loss;
        sum += loss;
        weight_sum += wt;
    }
    if (r == ONNX_LOSS_SUM)
        o[0] = (float)sum;
    else if (r == ONNX_LOSS_MEAN)
        o[0] = (float)(sum / weight_sum); /* 0/0 is NaN, as the reference */
    return KH_OK;
}
