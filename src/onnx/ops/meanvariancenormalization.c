/* MeanVarianceNormalization (opset 9+): over 'axes' (default [0, 2, 3])
 *   Y = (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9)
 * as the operator's function body defines it. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/op.h"

typedef struct mvn_plan {
    int rank;
    size_t group_stride[ONNX_MAX_RANK]; /* 0 on reduced axes */
    size_t groups, per_group;
} mvn_plan;

static int mvn_plan_of(const onnx_node *n, const onnx_tensor *x, mvn_plan *p, kh_error *err) {
    int64_t axes[ONNX_MAX_RANK] = {0, 2, 3};
    size_t count = 3;
    const onnx_attr *a = onnx_attr_find(n, "axes");
    if (a) {
        if (a->type != ONNX_ATTR_INTS || a->count > ONNX_MAX_RANK)
            return kh_error_set(err, KH_EINVAL, "attribute 'axes' must list at most %d ints",
                                ONNX_MAX_RANK);
        count = a->count;
        memcpy(axes, a->ints, count * sizeof *axes);
    }
    bool reduced[ONNX_MAX_RANK];
    int rc = onnx_axes_normalize(axes, count, x->rank, reduced, err);
    if (rc)
        return rc;
    p->rank = x->rank;
    p->groups = p->per_group = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        if (reduced[d]) {
            p->group_stride[d] = 0;
            p->per_group *= (size_t)x->dims[d];
        } else {
            p->group_stride[d] = p->groups;
            p->groups *= (size_t)x->dims[d];
        }
    }
    return KH_OK;
}

static int mvn_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    mvn_plan p;
    int rc = mvn_plan_of(n, x, &p, err);
    if (rc)
        return rc;
    n->scratch_bytes = 2 * p.groups * sizeof(double);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

/* Calls the body for every element with its group, walking an odometer. */
#define FOR_EACH_ELEMENT(x, p, i, g, body)                                     \
    do {                                                                       \
        int64_t idx_[ONNX_MAX_RANK] = {0};                                     \
        size_t g = 0;                                                          \
        for (size_t i = 0; i < (x)->numel; i++) {                              \
            body;                                                              \
            for (int d_ = (p).rank - 1; d_ >= 0; d_--) {                       \
                g += (p).group_stride[d_];                                     \
                if (++idx_[d_] < (x)->dims[d_])                                \
                    break;                                                     \
                g -= (p).group_stride[d_] * (size_t)(x)->dims[d_];             \
                idx_[d_] = 0;                                                  \
            }                                                                  \
        }                                                                      \
    } while (0)

static int mvn_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    mvn_plan p;
    int rc = mvn_plan_of(n, x, &p, err);
    if (rc || !x->numel)
        return rc;
    const float *xv = x->data;
    float *y = n->outputs[0]->data;
    double *sum = ex->scratch, *sq = sum + p.groups;
    for (size_t g = 0; g < p.groups; g++)
        sum[g] = sq[g] = 0.0;
    FOR_EACH_ELEMENT(x, p, i, g, {
        sum[g] += xv[i];
        sq[g] += (double)xv[i] * xv[i];
    });
    for (size_t g = 0; g < p.groups; g++) {
        double mean = sum[g] / (double)p.per_group;
        double var = sq[g] / (double)p.per_group - mean * mean;
        sum[g] = mean;
        sq[g] = 1.0 / (sqrt(var > 0 ? var : 0) + 1e-9);
    }
    FOR_EACH_ELEMENT(x, p, i, g, { y[i] = (float)((xv[i] - sum[g]) * sq[g]); });
    return KH_OK;
}

const onnx_operator onnx_op_MeanVarianceNormalization = {
    .op_type = "MeanVarianceNormalization",
    .min_opset = 9,
    .reshape = mvn_reshape,
    .run = mvn_run,
};
