/* matmul.c - see matmul.h. */
#include "onnx/kernels/matmul.h"

#include "onnx/kernels/slots.h"

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Packed tiles are narrower: the pack buffer of every slot stays small. */
static size_t tile_cols(size_t k, bool b_transposed) {
    size_t cols = sgemm_tile_cols(k);
    if (b_transposed) {
        cols = cols / 2 / 48 * 48;
        if (cols < 48)
            cols = 48;
    }
    return cols;
}

size_t matmul_scratch_bytes(size_t k, size_t n, bool b_transposed) {
    (void)n;
    if (!b_transposed)
        return align64(k * sizeof(ptrdiff_t));
    return KERNEL_MAX_SLOTS *
           align64(sgemm_pack_buffer_floats(k, tile_cols(k, true)) * sizeof(float));
}

typedef struct matmul_job {
    const sgemm_params *p;
    const float *b;
    size_t ldb;
    bool b_transposed;
    const ptrdiff_t *koffs;
    unsigned char *slots;
    size_t slot_bytes, cols, tiles, m_splits, panels_per_split;
} matmul_job;

static void matmul_tasks(void *arg, size_t begin, size_t end, int slot) {
    const matmul_job *job = arg;
    const sgemm_params *p = job->p;
    size_t panels = sgemm_panels(p->m);
    sgemm_strided_b sb = {job->b, 1, (ptrdiff_t)job->ldb};
    for (size_t t = begin; t < end; t++) {
        size_t tile = t / job->m_splits, split = t % job->m_splits;
        size_t p0 = split * job->panels_per_split;
        size_t p1 = p0 + job->panels_per_split < panels ? p0 + job->panels_per_split : panels;
        size_t n0 = tile * job->cols;
        size_t cols = p->n - n0 < job->cols ? p->n - n0 : job->cols;
        if (p0 >= p1)
            continue;
        if (job->b_transposed)
            sgemm_compute_packed(p, p0, p1, n0, cols, sgemm_pack_b_strided, &sb,
                                 (float *)(job->slots + (size_t)slot * job->slot_bytes));
        else
            sgemm_compute_direct(p, p0, p1, n0, cols, job->b + n0, job->koffs);
    }
}

void matmul_run(const onnx_exec *ex, const sgemm_params *p, const float *b,
                size_t ldb, bool b_transposed, void *scratch) {
    if (p->m == 0 || p->n == 0)
        return;
    onnx_exec serial;
    ex = kernel_exec_for(ex, 0.01 * 2.0 * (double)p->m * (double)p->n * (double)p->k, &serial);
    matmul_job job = {.p = p, .b = b, .ldb = ldb, .b_transposed = b_transposed};
    job.cols = tile_cols(p->k, b_transposed);
    job.tiles = (p->n + job.cols - 1) / job.cols;
    if (b_transposed) {
        job.slots = scratch;
        job.slot_bytes = align64(sgemm_pack_buffer_floats(p->k, job.cols) * sizeof(float));
    } else {
        ptrdiff_t *koffs = scratch;
        for (size_t k = 0; k < p->k; k++)
            koffs[k] = (ptrdiff_t)(k * ldb);
        job.koffs = koffs;
    }
    /* Few column tiles: split the rows too so every thread has work. */
    size_t panels = sgemm_panels(p->m);
    size_t threads = ex && ex->threads > 1 ? (size_t)ex->threads : 1;
    job.m_splits = 1;
    if (threads > 1 && job.tiles < 4 * threads) {
        job.m_splits = (4 * threads + job.tiles - 1) / job.tiles;
        if (job.m_splits > panels)
            job.m_splits = panels;
    }
    job.panels_per_split = (panels + job.m_splits - 1) / job.m_splits;
    kernel_parallel_slots(ex, job.tiles * job.m_splits, matmul_tasks, &job);
}
