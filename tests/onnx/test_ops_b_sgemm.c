/* The packed SGEMM (every instruction set, direct and packed B, K blocking,
 * accumulation, the fused epilogue) and im2col / col2im against plain loops.
 * Tolerance: |got - want| <= 1e-5 * (K + 1) + 1e-5 * |want|.
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "onnx/kernels/im2col.h"
#include "test_ops_b_harness.h"

typedef struct gemm_case {
    size_t m, n, k;
    bool packed, transposed_b, accumulate;
    kernel_activation act;
    int residuals;
    bool bias;
} gemm_case;

static void run_gemm(const gemm_case *gc, sgemm_isa isa) {
    uint32_t seed = (uint32_t)(gc->m * 131 + gc->n * 7 + gc->k);
    const size_t m = gc->m, n = gc->n, k = gc->k;
    /* B rows are strided (ldb > n) to prove koffs are honoured. */
    const size_t ldb = n + 3;
    float *a = th_random_floats(m * k, &seed), *b = th_random_floats(k * ldb, &seed);
    float *bt = malloc((n * k + 1) * sizeof *bt); /* B^T, n x k */
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++)
            bt[j * k + i] = b[i * ldb + j];
    float *bias = th_random_floats(m, &seed), *c = th_random_floats(m * n, &seed);
    float *want = malloc((m * n + 1) * sizeof *want);
    float *res[3] = {th_random_floats(m * n, &seed), th_random_floats(m * n, &seed),
                     th_random_floats(m * n, &seed)};
    kernel_epilogue ep = {.bias = gc->bias ? bias : NULL, .activation = gc->act,
                          .alpha = 0.2f, .lo = -0.3f, .hi = 0.4f};
    for (int r = 0; r < gc->residuals; r++)
        ep.residual[r] = res[r];
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = gc->accumulate ? c[i * n + j] : 0.0;
            for (size_t q = 0; q < k; q++)
                s += (double)a[i * k + q] * b[q * ldb + j];
            float v = (float)s + (gc->bias ? bias[i] : 0.0f);
            for (int r = 0; r < gc->residuals; r++)
                v += res[r][i * n + j];
            want[i * n + j] = kernel_activate(&ep, v);
        }

    assert_true(sgemm_isa_select(isa));
    float *packed = malloc((sgemm_packed_a_floats(m, k) + 1) * sizeof *packed);
    sgemm_pack_a(a, (ptrdiff_t)k, 1, m, k, 1.0f, packed);
    sgemm_params p = {.m = m, .n = n, .k = k, .a_packed = packed, .c = c, .ldc = n,
                      .accumulate = gc->accumulate, .epilogue = &ep};
    ptrdiff_t *koffs = malloc((k + 1) * sizeof *koffs);
    for (size_t q = 0; q < k; q++)
        koffs[q] = (ptrdiff_t)(q * ldb);
    /* Odd tile widths: partial micro-tiles everywhere. */
    const size_t cols = gc->packed ? 53 : 71;
    float *buffer = malloc(sgemm_pack_buffer_floats(k, cols) * sizeof *buffer + 64);
    sgemm_strided_b sb = gc->transposed_b ? (sgemm_strided_b){bt, 1, (ptrdiff_t)k}
                                          : (sgemm_strided_b){b, (ptrdiff_t)ldb, 1};
    /* Two row-panel ranges, as threads split them. */
    size_t panels = sgemm_panels(m), half = panels / 2;
    for (size_t n0 = 0; n0 < n; n0 += cols) {
        size_t w = n - n0 < cols ? n - n0 : cols;
        for (int part = 0; part < 2; part++) {
            size_t p0 = part ? half : 0, p1 = part ? panels : half;
            if (gc->packed)
                sgemm_compute_packed(&p, p0, p1, n0, w, sgemm_pack_b_strided, &sb, buffer);
            else
                sgemm_compute_direct(&p, p0, p1, n0, w, b + n0, koffs);
        }
    }
    sgemm_isa_select(sgemm_isa_best());
    char what[128];
    snprintf(what, sizeof what, "sgemm %zux%zux%zu %s%s [%s]", m, n, k,
             gc->packed ? "packed" : "direct", gc->transposed_b ? " B^T" : "",
             sgemm_isa_name(isa));
    assert_int_equal(th_compare(what, c, want, m * n, 1e-5f * (float)(k + 1), 1e-5f), -1);
    free(a);
    free(b);
    free(bt);
    free(bias);
    free(c);
    free(want);
    for (int r = 0; r < 3; r++)
        free(res[r]);
    free(packed);
    free(koffs);
    free(buffer);
}

static const gemm_case gemm_cases[] = {
    {1, 1, 1, false, false, false, KERNEL_ACT_NONE, 0, false},
    {8, 48, 16, false, false, false, KERNEL_ACT_NONE, 0, false},
    {13, 100, 27, false, false, false, KERNEL_ACT_RELU, 1, true},
    {37, 33, 500, false, false, false, KERNEL_ACT_LEAKY_RELU, 2, true}, /* two K blocks */
    {9, 17, 3, false, false, true, KERNEL_ACT_CLIP, 3, true},
    {25, 169, 512, true, false, false, KERNEL_ACT_NONE, 0, true},
    {7, 300, 20, true, true, false, KERNEL_ACT_RELU, 0, false},
    {64, 49, 800, true, true, true, KERNEL_ACT_NONE, 1, true},
    {3, 5, 0, false, false, false, KERNEL_ACT_LEAKY_RELU, 1, true}, /* K = 0 */
};

static void test_sgemm_matches_reference(void **state) {
    (void)state;
    sgemm_isa isas[3];
    size_t n_isas = th_isas(isas);
    for (size_t i = 0; i < n_isas; i++)
        for (size_t c = 0; c < sizeof gemm_cases / sizeof gemm_cases[0]; c++)
            run_gemm(&gemm_cases[c], isas[i]);
}

static void test_sgemm_pack_a_transposed_and_scaled(void **state) {
    (void)state;
    /* A is 3 x 2 stored transposed (2 x 3); scale 2. */
    const float at[6] = {1, 2, 3, 4, 5, 6};
    float packed[SGEMM_MR * 2];
    sgemm_pack_a(at, 1, 3, 3, 2, 2.0f, packed);
    const float want[SGEMM_MR * 2] = {2, 4, 6, 0, 0, 0, 0, 0, 8, 10, 12, 0, 0, 0, 0, 0};
    assert_int_equal(th_compare("packed A", packed, want, SGEMM_MR * 2, 0, 0), -1);
}

static void test_isa_select_refuses_unknown(void **state) {
    (void)state;
    assert_false(sgemm_isa_select((sgemm_isa)7));
    assert_true(sgemm_isa_select(SGEMM_ISA_SCALAR));
    assert_int_equal(sgemm_isa_current(), SGEMM_ISA_SCALAR);
    assert_int_equal(sgemm_nr(), 8);
    sgemm_isa_select(sgemm_isa_best());
    assert_int_equal(sgemm_isa_current(), sgemm_isa_best());
}

/* col[k][n] as im2col defines it, by brute force. */
static float im2col_value(const conv_geometry *g, const float *image, size_t k, size_t n) {
    size_t ks = conv_kernel_size(g);
    size_t c = k / ks, r = k % ks;
    size_t t[3] = {r / (g->kernel[1] * g->kernel[2]), r / g->kernel[2] % g->kernel[1],
                   r % g->kernel[2]};
    size_t o[3] = {n / (g->out[1] * g->out[2]), n / g->out[2] % g->out[1], n % g->out[2]};
    ptrdiff_t pos[3];
    for (int i = 0; i < 3; i++) {
        pos[i] = (ptrdiff_t)(o[i] * g->stride[i] + t[i] * g->dilation[i]) - g->pad[i];
        if (pos[i] < 0 || pos[i] >= (ptrdiff_t)g->in[i])
            return 0.0f;
    }
    return image[c * conv_in_size(g) + ((size_t)pos[0] * g->in[1] + (size_t)pos[1]) * g->in[2] +
                 (size_t)pos[2]];
}

static void test_im2col_pack_and_col2im(void **state) {
    (void)state;
    const conv_geometry geos[] = {
        {2, {1, 7, 9}, {1, 4, 5}, {1, 3, 2}, {1, 2, 2}, {1, 1, 2}, {0, 1, 1}},
        {3, {4, 5, 6}, {3, 5, 3}, {2, 2, 3}, {1, 1, 2}, {1, 1, 1}, {0, 1, 1}},
        {1, {1, 1, 20}, {1, 1, 9}, {1, 1, 4}, {1, 1, 2}, {1, 1, 1}, {0, 0, 1}},
    };
    for (size_t gi = 0; gi < sizeof geos / sizeof geos[0]; gi++) {
        const conv_geometry *g = &geos[gi];
        uint32_t seed = 77 + (uint32_t)gi;
        size_t K = g->channels * conv_kernel_size(g), N = conv_out_size(g);
        float *image = th_random_floats(g->channels * conv_in_size(g), &seed);
        im2col_source src = {g, image};
        /* A tile in the middle, nr 8, and a row block in the middle. */
        size_t nr = 8, k0 = 1, kc = K - 2, n0 = 3, cols = N - 5;
        size_t panels = (cols + nr - 1) / nr;
        float *dst = malloc(panels * kc * nr * sizeof *dst);
        im2col_pack(&src, k0, kc, n0, cols, nr, dst);
        for (size_t r = 0; r < kc; r++)
            for (size_t j = 0; j < panels * nr; j++) {
                float got = dst[(j / nr) * kc * nr + r * nr + j % nr];
                float want = j < cols ? im2col_value(g, image, k0 + r, n0 + j) : 0.0f;
                if (got != want)
                    fprintf(stderr, "geometry %zu: row %zu col %zu: got %g, want %g\n", gi, r, j,
                            (double)got, (double)want);
                assert_true(got == want);
            }
        /* col2im adds col back where im2col read it from. */
        float *col = th_random_floats(K * N, &seed);
        float *got = calloc(g->channels * conv_in_size(g), sizeof *got);
        float *want = calloc(g->channels * conv_in_size(g), sizeof *want);
        col2im_add(g, col, got);
        for (size_t k = 0; k < K; k++)
            for (size_t n = 0; n < N; n++) {
                /* Find the image position by marking it. */
                float saved;
                for (size_t i = 0; i < g->channels * conv_in_size(g); i++) {
                    saved = image[i];
                    image[i] = 1e9f;
                    if (im2col_value(g, image, k, n) == 1e9f)
                        want[i] += col[k * N + n];
                    image[i] = saved;
                }
            }
        assert_int_equal(th_compare("col2im", got, want, g->channels * conv_in_size(g), 1e-5f, 1e-5f), -1);
        free(image);
        free(dst);
        free(col);
        free(got);
        free(want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_matches_reference),
        cmocka_unit_test(test_sgemm_pack_a_transposed_and_scaled),
        cmocka_unit_test(test_isa_select_refuses_unknown),
        cmocka_unit_test(test_im2col_pack_and_col2im),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
