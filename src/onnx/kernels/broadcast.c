/* broadcast.c - numpy broadcasting and the strided N-d iterator. */
#include "onnx/kernels/broadcast.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *dims_str(int rank, const int64_t *dims, char *buf,
                            size_t len) {
    size_t used = 0;
    int n = snprintf(buf, len, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < rank && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%" PRId64, i ? "," : "",
                     dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

int onnx_broadcast_dims(int rank_a, const int64_t *dims_a, int rank_b,
                        const int64_t *dims_b, int *rank, int64_t *dims,
                        kh_error *err) {
    int r = rank_a > rank_b ? rank_a : rank_b;
    if (r > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ESHAPE, "broadcast rank %d exceeds %d", r,
                            ONNX_MAX_RANK);
    int64_t out[ONNX_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ia = i - (r - rank_a), ib = i - (r - rank_b);
        int64_t a = ia >= 0 ? dims_a[ia] : 1;
        int64_t b = ib >= 0 ? dims_b[ib] : 1;
        if (a == b || b == 1)
            out[i] = a;
        else if (a == 1)
            out[i] = b;
        else {
            char sa[160], sb[160];
            return kh_error_set(err, KH_ESHAPE,
                                "shapes %s and %s do not broadcast "
                                "(axis %d: %" PRId64 " vs %" PRId64 ")",
                                dims_str(rank_a, dims_a, sa, sizeof sa),
                                dims_str(rank_b, dims_b, sb, sizeof sb), i, a,
                                b);
        }
    }
    *rank = r;
    memcpy(dims, out, (size_t)r * sizeof *out);
    return KH_OK;
}

int onnx_broadcast_shape(const onnx_tensor *const *tensors, size_t n, int *rank,
                         int64_t *dims, kh_error *err) {
    int r = 0;
    int64_t out[ONNX_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++) {
        const onnx_tensor *t = tensors[i];
        if (!t)
            continue;
        if (t->rank < 0 || t->rank > ONNX_MAX_RANK)
            return kh_error_set(err, KH_ESHAPE, "input %zu has no known shape",
                                i);
        int rc = onnx_broadcast_dims(r, out, t->rank, t->dims, &r, out, err);
        if (rc)
            return kh_error_prefix(err, "input %zu", i);
    }
    *rank = r;
    memcpy(dims, out, (size_t)r * sizeof *out);
    return KH_OK;
}

void onnx_contiguous_strides(int rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

void onnx_broadcast_strides(int t_rank, const int64_t *t_dims, int rank,
                            const int64_t *dims, int64_t *strides) {
    (void)dims;
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int ti = i - (rank - t_rank);
        if (ti < 0 || t_dims[ti] == 1) {
            strides[i] = 0;
        } else {
            strides[i] = s;
        }
        if (ti >= 0)
            s *= t_dims[ti];
    }
}

void onnx_nditer_begin(onnx_nditer *it, int rank, const int64_t *dims) {
    it->rank = rank;
    it->operands = 0;
    size_t numel = 1;
    for (int i = 0; i < rank; i++) {
        it->dims[i] = dims[i];
        numel *= (size_t)dims[i];
    }
    it->numel = numel;
}

int onnx_nditer_add(onnx_nditer *it, const int64_t *strides) {
    int k = it->operands++;
    for (int i = 0; i < it->rank; i++)
        it->strides[k][i] = strides[i];
    return k;
}

int onnx_nditer_add_contiguous(onnx_nditer *it) {
    int64_t strides[ONNX_ITER_MAX_RANK];
    onnx_contiguous_strides(it->rank, it->dims, strides);
    return onnx_nditer_add(it, strides);
}

int onnx_nditer_add_broadcast(onnx_nditer *it, const onnx_tensor *t) {
    int64_t strides[ONNX_ITER_MAX_RANK];
    onnx_broadcast_strides(t->rank, t->dims, it->rank, it->dims, strides);
    return onnx_nditer_add(it, strides);
}

void onnx_nditer_seal(onnx_nditer *it) {
    int r = 0;
    /* Size-1 axes step nowhere: drop them. */
    for (int i = 0; i < it->rank; i++) {
        if (it->dims[i] == 1)
            continue;
        it->dims[r] = it->dims[i];
        for (int k = 0; k < it->operands; k++)
            it->strides[k][r] = it->strides[k][i];
        r++;
    }
    /* Axis i folds into i+1 when, for every operand, stepping i equals
     * stepping i+1 across its whole length. */
    int m = 0;
    for (int i = 0; i < r; i++) {
        if (m > 0) {
            bool mergeable = true;
            for (int k = 0; k < it->operands && mergeable; k++)
                mergeable =
                    it->strides[k][m - 1] == it->strides[k][i] * it->dims[i];
            if (mergeable) {
                it->dims[m - 1] *= it->dims[i];
                for (int k = 0; k < it->operands; k++)
                    it->strides[k][m - 1] = it->strides[k][i];
                continue;
            }
        }
        it->dims[m] = it->dims[i];
        for (int k = 0; k < it->operands; k++)
            it->strides[k][m] = it->strides[k][i];
        m++;
    }
    if (m == 0) {
        it->dims[0] = it->numel == 0 ? 0 : 1;
        for (int k = 0; k < it->operands; k++)
            it->strides[k][0] = 0;
        m = 1;
    }
    it->rank = m;
}

void onnx_nditer_visit(const onnx_nditer *it, size_t begin, size_t end,
                       onnx_nditer_row_fn fn, void *ctx) {
    if (end > it->numel)
        end = it->numel;
    if (begin >= end)
        return;
    const int outer = it->rank - 1;
    const size_t inner = (size_t)it->dims[outer];
    int64_t idx[ONNX_ITER_MAX_RANK];
    int64_t row[ONNX_ITER_MAX_OPERANDS];
    int64_t off[ONNX_ITER_MAX_OPERANDS];

    size_t row_index = begin / inner, col = begin % inner;
    for (int k = 0; k < it->operands; k++)
        row[k] = 0;
    for (int d = outer - 1; d >= 0; d--) {
        idx[d] = (int64_t)(row_index % (size_t)it->dims[d]);
        row_index /= (size_t)it->dims[d];
        for (int k = 0; k < it->operands; k++)
            row[k] += idx[d] * it->strides[k][d];
    }
    size_t pos = begin;
    while (pos < end) {
        size_t count = inner - col;
        if (count > end - pos)
            count = end - pos;
        for (int k = 0; k < it->operands; k++)
            off[k] = row[k] + (int64_t)col * it->strides[k][outer];
        fn(ctx, off, count);
        pos += count;
        col = 0;
        if (pos >= end)
            break;
        /* Odometer over the outer axes. */
        for (int d = outer - 1; d >= 0; d--) {
            for (int k = 0; k < it->operands; k++)
                row[k] += it->strides[k][d];
            if (++idx[d] < it->dims[d])
                break;
            for (int k = 0; k < it->operands; k++)
                row[k] -= it->strides[k][d] * it->dims[d];
            idx[d] = 0;
        }
    }
}

typedef struct range_job {
    size_t n, tasks;
    void (*fn)(void *arg, size_t begin, size_t end, int worker);
    void *arg;
} range_job;

static void range_task(void *arg, size_t begin, size_t end, int worker) {
    const range_job *job = arg;
    /* Task t covers [t*n/tasks, (t+1)*n/tasks); n*tasks cannot overflow for
     * sizes the engine can hold (numel < 2^63, tasks <= threads). */
    size_t lo = (size_t)((unsigned __int128)begin * job->n / job->tasks);
    size_t hi = (size_t)((unsigned __int128)end * job->n / job->tasks);
    if (lo < hi)
        job->fn(job->arg, lo, hi, worker);
}

void onnx_parallel_range(const onnx_exec *ex, size_t n, size_t grain,
                         void (*fn)(void *arg, size_t begin, size_t end,
                                    int worker),
                         void *arg) {
    if (n == 0)
        return;
    int threads = ex && ex->pool && ex->threads > 1 ? ex->threads : 1;
    if (grain == 0)
        grain = 1;
    size_t tasks = n / grain;
    if (tasks > (size_t)threads)
        tasks = (size_t)threads;
    if (tasks < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    range_job job = {n, tasks, fn, arg};
    onnx_parallel_for(ex, tasks, range_task, &job);
}

typedef struct iter_job {
    const onnx_nditer *it;
    onnx_nditer_row_fn fn;
    void *ctx;
} iter_job;

static void iter_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const iter_job *job = arg;
    onnx_nditer_visit(job->it, begin, end, job->fn, job->ctx);
}

void onnx_nditer_run(const onnx_exec *ex, const onnx_nditer *it,
                     onnx_nditer_row_fn fn, void *ctx) {
    iter_job job = {it, fn, ctx};
    onnx_parallel_range(ex, it->numel, ONNX_PARALLEL_GRAIN, iter_task, &job);
}
