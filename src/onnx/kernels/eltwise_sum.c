/* eltwise_sum.c - see eltwise_sum.h. */
#include "onnx/kernels/eltwise_sum.h"

#include <stdbool.h>
#include <string.h>

#include "onnx/kernels/sgemm.h"
#include "onnx/kernels/slots.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SUM_X86 1
#else
#define SUM_X86 0
#endif

int eltwise_sum_shape(const onnx_tensor *const *xs, size_t n, int *rank,
                      int64_t *dims, kh_error *err) {
    *rank = 0;
    for (size_t k = 0; k < n; k++)
        if (xs[k]->rank > *rank)
            *rank = xs[k]->rank;
    for (int i = 0; i < *rank; i++)
        dims[i] = 1;
    for (size_t k = 0; k < n; k++) {
        const onnx_tensor *t = xs[k];
        for (int i = 0; i < t->rank; i++) {
            int64_t *d = &dims[*rank - t->rank + i];
            int64_t e = t->dims[i];
            if (e == *d || e == 1)
                continue;
            if (*d != 1) {
                char s[96];
                return kh_error_set(err, KH_ESHAPE, "operand '%s' %s does not broadcast",
                                    t->name, onnx_shape_str(t, s, sizeof s));
            }
            *d = e;
        }
    }
    return KH_OK;
}

typedef struct sum_job {
    const float *x[ELTWISE_SUM_MAX];
    size_t n;
    float *y;
    const kernel_epilogue *act;
} sum_job;

static void sum_scalar(const sum_job *job, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        float v = job->x[0][i];
        for (size_t k = 1; k < job->n; k++)
            v += job->x[k][i];
        job->y[i] = kernel_activate(job->act, v);
    }
}

#if SUM_X86
__attribute__((target("avx512f"))) static void sum_avx512(const sum_job *job, size_t begin,
                                                          size_t end) {
    const kernel_epilogue *a = job->act;
    const __m512 zero = _mm512_setzero_ps(), alpha = _mm512_set1_ps(a->alpha);
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    for (size_t i = begin; i < end; i += 16) {
        size_t left = end - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, job->x[0] + i);
        for (size_t k = 1; k < job->n; k++)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, job->x[k] + i));
        switch (a->activation) {
        case KERNEL_ACT_RELU:
            v = _mm512_max_ps(v, zero);
            break;
        case KERNEL_ACT_LEAKY_RELU:
            v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, alpha);
            break;
        case KERNEL_ACT_CLIP:
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            break;
        case KERNEL_ACT_NONE:
            break;
        }
        _mm512_mask_storeu_ps(job->y + i, m, v);
    }
}
#endif

static void sum_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const sum_job *job = arg;
#if SUM_X86
    if (sgemm_isa_current() == SGEMM_ISA_AVX512) {
        sum_avx512(job, begin, end);
        return;
    }
#endif
    sum_scalar(job, begin, end);
}

/* Odometer over y with per-operand strides (0 where broadcast). */
static void sum_broadcast(const onnx_tensor *const *xs, size_t n, onnx_tensor *y,
                          const kernel_epilogue *act) {
    const int rank = y->rank;
    int64_t strides[ELTWISE_SUM_MAX][ONNX_MAX_RANK];
    for (size_t k = 0; k < n; k++) {
        const onnx_tensor *t = xs[k];
        int64_t s = 1;
        for (int i = rank - 1; i >= 0; i--) {
            int j = i - (rank - t->rank);
            if (j < 0 || t->dims[j] == 1) {
                strides[k][i] = 0;
            } else {
                strides[k][i] = s;
                s *= t->dims[j];
            }
        }
    }
    int64_t idx[ONNX_MAX_RANK] = {0};
    int64_t off[ELTWISE_SUM_MAX] = {0};
    float *out = y->data;
    for (size_t i = 0; i < y->numel; i++) {
        float v = 0.0f;
        for (size_t k = 0; k < n; k++)
            v += ((const float *)xs[k]->data)[off[k]];
        out[i] = kernel_activate(act, v);
        for (int d = rank - 1; d >= 0; d--) {
            for (size_t k = 0; k < n; k++)
                off[k] += strides[k][d];
            if (++idx[d] < y->dims[d])
                break;
            for (size_t k = 0; k < n; k++)
                off[k] -= strides[k][d] * y->dims[d];
            idx[d] = 0;
        }
    }
}

void eltwise_sum_run(const onnx_exec *ex, const onnx_tensor *const *xs,
                     size_t n, onnx_tensor *y, const kernel_epilogue *act) {
    if (!y->numel)
        return;
    bool same = true;
    for (size_t k = 0; k < n; k++)
        same &= xs[k]->numel == y->numel;
    if (!same) {
        sum_broadcast(xs, n, y, act);
        return;
    }
    sum_job job = {.n = n, .y = y->data, .act = act};
    for (size_t k = 0; k < n; k++)
        job.x[k] = xs[k]->data;
    onnx_exec serial;
    onnx_parallel_for(kernel_exec_for(ex, 0.15 * (double)y->numel * (double)n, &serial), y->numel,
                      sum_task, &job);
}
