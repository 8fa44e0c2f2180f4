/* kernels.c - times khappy's SGEMM (each instruction set) against OpenBLAS
 * on the 1x1-convolution shapes of the tiny face detector (416x416) and the
 * expression net (112x112), one thread, in GFLOP/s per shape; the depthwise
 * 3x3 kernel on the same networks' planes; the elementwise activations
 * (Relu, LeakyRelu, HardSigmoid, HardSwish, Clip) in ns per element at 1 and 2 threads; and what one
 * onnx_parallel_for call costs on a 2-thread pool.
 *
 * usage: bench_kernels [sgemm|depthwise|activations|pool] [--ms MILLISECONDS_PER_CASE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnx/kernels/depthwise.h"
#include "onnx/kernels/sgemm.h"
#include "onnx/kernels/threadpool.h"
#include "onnx/op.h"

#ifdef KH_BENCH_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int);
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *random_floats(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* Best of repeated timings over about budget_ms. */
typedef void (*bench_fn)(void *ctx);
static double time_best(bench_fn fn, void *ctx, double budget_ms) {
    fn(ctx);
    double best = 1e30, start = now_ms();
    int reps = 0;
    while (reps < 3 || (now_ms() - start < budget_ms && reps < 10000)) {
        double t0 = now_ms();
        fn(ctx);
        double t = now_ms() - t0;
        if (t < best)
            best = t;
        reps++;
    }
    return best;
}

typedef struct gemm_case {
    const char *name;
    size_t m, n, k;
} gemm_case;

typedef struct gemm_ctx {
    const gemm_case *c;
    const float *a, *b;
    float *a_packed, *out, *pack_buffer;
    ptrdiff_t *koffs;
    kernel_epilogue ep;
    int packed;
} gemm_ctx;

static void run_own(void *arg) {
    gemm_ctx *g = arg;
    sgemm_params p = {.m = g->c->m, .n = g->c->n, .k = g->c->k,
                      .a_packed = g->a_packed, .c = g->out, .ldc = g->c->n,
                      .epilogue = &g->ep};
    size_t tile = sgemm_tile_cols(g->c->k);
    sgemm_strided_b sb = {g->b, (ptrdiff_t)g->c->n, 1};
    for (size_t n0 = 0; n0 < g->c->n; n0 += tile) {
        size_t cols = g->c->n - n0 < tile ? g->c->n - n0 : tile;
        if (g->packed)
            sgemm_compute_packed(&p, 0, sgemm_panels(p.m), n0, cols,
                                 sgemm_pack_b_strided, &sb, g->pack_buffer);
        else
            sgemm_compute_direct(&p, 0, sgemm_panels(p.m), n0, cols,
                                 g->b + n0, g->koffs);
    }
}

#ifdef KH_BENCH_OPENBLAS
static void run_openblas(void *arg) {
    gemm_ctx *g = arg;
    const gemm_case *c = g->c;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->m,
                (int)c->n, (int)c->k, 1.0f, g->a, (int)c->k, g->b, (int)c->n,
                0.0f, g->out, (int)c->n);
}
#endif

static const gemm_case gemm_cases[] = {
    {"tiny pw1 207x207 16->32", 32, 207 * 207, 16},
    {"tiny pw2 104x104 32->64", 64, 104 * 104, 32},
    {"tiny pw3 52x52 64->128", 128, 52 * 52, 64},
    {"tiny pw4 26x26 128->256", 256, 26 * 26, 128},
    {"tiny pw5 13x13 256->512", 512, 13 * 13, 256},
    {"tiny conv8 13x13 512->25", 25, 13 * 13, 512},
    {"expr pw 56x56 32->32", 32, 56 * 56, 32},
    {"expr pw 28x28 32->64", 64, 28 * 28, 32},
    {"expr pw 28x28 64->64", 64, 28 * 28, 64},
    {"expr pw 14x14 128->128", 128, 14 * 14, 128},
    {"expr pw 7x7 128->256", 256, 7 * 7, 128},
    {"expr pw 7x7 256->256", 256, 7 * 7, 256},
};

static void bench_sgemm(double budget_ms) {
    printf("%-28s %10s", "sgemm shape (M,N,K)", "MFLOP");
    const sgemm_isa isas[] = {SGEMM_ISA_AVX512, SGEMM_ISA_AVX2,
                              SGEMM_ISA_SCALAR};
    for (size_t i = 0; i < 3; i++)
        if (isas[i] <= sgemm_isa_best())
            printf(" %9s %9s", sgemm_isa_name(isas[i]), "packed");
#ifdef KH_BENCH_OPENBLAS
    printf(" %9s", "openblas");
    openblas_set_num_threads(1);
#endif
    printf("   (GFLOP/s, 1 thread)\n");
    for (size_t ci = 0; ci < sizeof gemm_cases / sizeof gemm_cases[0]; ci++) {
        const gemm_case *c = &gemm_cases[ci];
        gemm_ctx g = {.c = c};
        g.a = random_floats(c->m * c->k);
        g.b = random_floats(c->k * c->n);
        g.out = random_floats(c->m * c->n);
        g.a_packed = random_floats(sgemm_packed_a_floats(c->m, c->k));
        g.pack_buffer = random_floats(
            sgemm_pack_buffer_floats(c->k, sgemm_tile_cols(c->k) + 48));
        g.koffs = malloc(c->k * sizeof *g.koffs);
        for (size_t k = 0; k < c->k; k++)
            g.koffs[k] = (ptrdiff_t)(k * c->n);
        sgemm_pack_a(g.a, (ptrdiff_t)c->k, 1, c->m, c->k, 1.0f, g.a_packed);
        double flop = 2.0 * c->m * c->n * c->k;
        printf("%-28s %10.1f", c->name, flop / 1e6);
        for (size_t i = 0; i < 3; i++) {
            if (isas[i] > sgemm_isa_best())
                continue;
            sgemm_isa_select(isas[i]);
            for (int packed = 0; packed < 2; packed++) {
                g.packed = packed;
                double ms = time_best(run_own, &g, budget_ms);
                printf(" %9.1f", flop / ms / 1e6);
            }
        }
        sgemm_isa_select(sgemm_isa_best());
#ifdef KH_BENCH_OPENBLAS
        double ms = time_best(run_openblas, &g, budget_ms);
        printf(" %9.1f", flop / ms / 1e6);
#endif
        printf("\n");
        free((void *)g.a);
        free((void *)g.b);
        free(g.out);
        free(g.a_packed);
        free(g.pack_buffer);
        free(g.koffs);
    }
}

typedef struct dw_case {
    const char *name;
    size_t c, h, w, stride;
} dw_case;

typedef struct dw_ctx {
    const dw_case *c;
    conv_geometry g;
    const float *x, *w;
    float *y;
} dw_ctx;

static void run_dw(void *arg) {
    dw_ctx *d = arg;
    depthwise_epilogue ep = {.bias = 0.1f, .activation = KERNEL_ACT_RELU};
    static _Alignas(64) unsigned char plan_buffer[1 << 17];
    const void *plan = depthwise_plan_bytes(&d->g) <= sizeof plan_buffer
                           ? depthwise_plan_build(&d->g, plan_buffer)
                           : NULL;
    size_t in = d->c->h * d->c->w, out = d->g.out[1] * d->g.out[2];
    for (size_t c = 0; c < d->c->c; c++)
        depthwise_plane(&d->g, plan, d->x + c * in, d->w + c * 9, d->y + c * out, &ep);
}

static const dw_case dw_cases[] = {
    {"tiny dw1 16x207x207 s1", 16, 207, 207, 1},
    {"tiny dw3 64x52x52 s1", 64, 52, 52, 1},
    {"tiny dw5 256x13x13 s1", 256, 13, 13, 1},
    {"expr dw 32x56x56 s1", 32, 56, 56, 1},
    {"expr dw 64x28x28 s1", 64, 28, 28, 1},
    {"expr dw 128x14x14 s1", 128, 14, 14, 1},
    {"expr dw 256x7x7 s1", 256, 7, 7, 1},
    {"expr dw 32x56x56 s2", 32, 56, 56, 2},
    {"expr dw 128x14x14 s2", 128, 14, 14, 2},
};

static void bench_depthwise(double budget_ms) {
    printf("\n%-28s %10s", "depthwise 3x3 pad 1", "outputs");
    const sgemm_isa isas[] = {SGEMM_ISA_AVX512, SGEMM_ISA_AVX2, SGEMM_ISA_SCALAR};
    for (size_t i = 0; i < 3; i++)
        if (isas[i] <= sgemm_isa_best())
            printf(" %9s", sgemm_isa_name(isas[i]));
    printf("   (us per call, 1 thread)\n");
    for (size_t ci = 0; ci < sizeof dw_cases / sizeof dw_cases[0]; ci++) {
        const dw_case *c = &dw_cases[ci];
        dw_ctx d = {.c = c};
        size_t oh = (c->h + 2 - 3) / c->stride + 1, ow = (c->w + 2 - 3) / c->stride + 1;
        d.g = (conv_geometry){.channels = 1, .in = {1, c->h, c->w}, .out = {1, oh, ow},
                              .kernel = {1, 3, 3}, .stride = {1, c->stride, c->stride},
                              .dilation = {1, 1, 1}, .pad = {0, 1, 1}};
        d.x = random_floats(c->c * c->h * c->w);
        d.w = random_floats(c->c * 9);
        d.y = random_floats(c->c * oh * ow);
        printf("%-28s %10zu", c->name, c->c * oh * ow);
        for (size_t i = 0; i < 3; i++) {
            if (isas[i] > sgemm_isa_best())
                continue;
            sgemm_isa_select(isas[i]);
            printf(" %9.1f", time_best(run_dw, &d, budget_ms) * 1000);
        }
        sgemm_isa_select(sgemm_isa_best());
        printf("\n");
        free((void *)d.x);
        free((void *)d.w);
        free(d.y);
    }
}


/* Elementwise activations through their operators on random signs (a
 * branch per element mispredicts half the time): ns per element, 1 and 2
 * threads. */
typedef struct act_case {
    const char *name, *op_type;
    size_t numel;
} act_case;

typedef struct act_ctx {
    const onnx_operator *op;
    onnx_node node;
    onnx_exec ex;
} act_ctx;

static void run_act(void *arg) {
    act_ctx *a = arg;
    kh_error err;
    if (a->op->run(&a->node, &a->ex, &err)) {
        fprintf(stderr, "%s: %s\n", a->node.op_type, err.message);
        exit(1);
    }
}

static const act_case act_cases[] = {
    {"Relu 32x56x56", "Relu", 32 * 56 * 56},
    {"Relu 16x208x208", "Relu", 16 * 208 * 208},
    {"LeakyRelu 32x56x56", "LeakyRelu", 32 * 56 * 56},
    {"LeakyRelu 16x208x208", "LeakyRelu", 16 * 208 * 208},
    {"HardSigmoid 32x56x56", "HardSigmoid", 32 * 56 * 56},
    {"HardSwish 32x56x56", "HardSwish", 32 * 56 * 56},
    {"Clip 0..6 32x56x56", "Clip", 32 * 56 * 56},
    {"Clip 0..6 16x208x208", "Clip", 16 * 208 * 208},
};

static void bench_activations(double budget_ms) {
    printf("\n%-28s %10s %9s %9s   (ns per element, best)\n", "activation", "elements",
           "1 thread", "2 threads");
    onnx_threadpool *pool = NULL;
    kh_error err;
    if (onnx_threadpool_create(2, &pool, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    for (size_t ci = 0; ci < sizeof act_cases / sizeof act_cases[0]; ci++) {
        const act_case *c = &act_cases[ci];
        float *x = random_floats(c->numel), *y = random_floats(c->numel);
        for (size_t i = 0; i < c->numel; i++) /* random signs, scale 0..10 */
            x[i] = (float)((i * 2654435761u) >> 7 & 1023) / 51.2f - 10.0f;
        float lo = 0.0f, hi = 6.0f;
        onnx_tensor tx = {.name = "x", .dtype = ONNX_FLOAT, .rank = 1,
                          .dims = {(int64_t)c->numel}, .numel = c->numel, .data = x},
                    ty = {.name = "y"},
                    tlo = {.name = "lo", .dtype = ONNX_FLOAT, .rank = 0, .numel = 1,
                           .data = &lo, .flags = ONNX_TENSOR_CONST},
                    thi = {.name = "hi", .dtype = ONNX_FLOAT, .rank = 0, .numel = 1,
                           .data = &hi, .flags = ONNX_TENSOR_CONST};
        onnx_tensor *ins[3] = {&tx, &tlo, &thi}, *outs[1] = {&ty};
        act_ctx a = {.op = onnx_operator_find("", c->op_type)};
        a.node = (onnx_node){.name = c->name, .op_type = c->op_type, .domain = "",
                             .opset = 13, .inputs = ins,
                             .n_inputs = strcmp(c->op_type, "Clip") ? 1 : 3,
                             .outputs = outs, .n_outputs = 1, .op = a.op};
        if (!a.op || a.op->reshape(&a.node, &err)) {
            fprintf(stderr, "%s: cannot plan\n", c->name);
            exit(1);
        }
        ty.data = y;
        printf("%-28s %10zu", c->name, c->numel);
        for (int threads = 1; threads <= 2; threads++) {
            a.ex = (onnx_exec){.pool = threads > 1 ? pool : NULL, .threads = threads};
            printf(" %9.2f", time_best(run_act, &a, budget_ms) * 1e6 / (double)c->numel);
        }
        printf("\n");
        free(x);
        free(y);
    }
    onnx_threadpool_destroy(pool);
}

/* What a parallel call costs: many short calls on a 2-thread pool (each
 * chunk a few microseconds of work), median and mean per call; the mean
 * shows the calls that waited for a descheduled worker. */
typedef struct short_job {
    const float *x;
    size_t per_item;
    volatile float sink[8];
} short_job;

static void short_items(void *arg, size_t begin, size_t end, int worker) {
    short_job *j = arg;
    float s = 0;
    for (size_t i = begin * j->per_item; i < end * j->per_item; i++)
        s += j->x[i];
    j->sink[worker & 7] = s;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_pool(double budget_ms) {
    enum { CALLS = 20000 };
    printf("\n%-28s %10s %9s %9s %9s   (us per call, %d calls)\n", "parallel_for", "items",
           "threads", "median", "mean", CALLS);
    onnx_threadpool *pool = NULL;
    kh_error err;
    if (onnx_threadpool_create(2, &pool, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    static const struct {
        const char *name;
        size_t items, per_item;
    } cases[] = {{"2 items x 16384 adds", 2, 16384}, {"16 items x 4096 adds", 16, 4096},
                 {"2 items x 1024 adds", 2, 1024}};
    double *times = malloc(CALLS * sizeof *times);
    float *x = random_floats(16 * 16384);
    (void)budget_ms;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        for (int threads = 1; threads <= 2; threads++) {
            onnx_exec ex = {.pool = threads > 1 ? pool : NULL, .threads = threads};
            short_job job = {.x = x, .per_item = cases[ci].per_item};
            double sum = 0;
            for (int k = 0; k < CALLS; k++) {
                double t0 = now_ms();
                onnx_parallel_for(&ex, cases[ci].items, short_items, &job);
                times[k] = (now_ms() - t0) * 1000;
                sum += times[k];
            }
            qsort(times, CALLS, sizeof *times, compare_doubles);
            printf("%-28s %10zu %9d %9.2f %9.2f\n", cases[ci].name, cases[ci].items, threads,
                   times[CALLS / 2], sum / CALLS);
        }
    }
    free(x);
    free(times);
    onnx_threadpool_destroy(pool);
}

int main(int argc, char **argv) {
    double budget_ms = 200;
    const char *what = "all";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            budget_ms = atof(argv[++i]);
        else
            what = argv[i];
    }
    if (!strcmp(what, "all") || !strcmp(what, "sgemm"))
        bench_sgemm(budget_ms);
    if (!strcmp(what, "all") || !strcmp(what, "depthwise"))
        bench_depthwise(budget_ms);
    if (!strcmp(what, "all") || !strcmp(what, "activations"))
        bench_activations(budget_ms);
    if (!strcmp(what, "all") || !strcmp(what, "pool"))
        bench_pool(budget_ms);
    return 0;
}
