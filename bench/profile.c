/* profile.c - time of every node of a model, to see where a run goes.
 *
 * usage: bench_profile MODEL [--threads N] [--runs N] [input_0.pb ...]
 * Runs the model once through onnx_model_run (planning), then runs the
 * planned nodes one by one N times, the way run.c does, and prints each
 * node's median time, sorted by the order of the graph. Engine internals
 * (engine.h) are used on purpose: this is a development tool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnx/engine.h"
#include "onnx/tensor_io.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *model = NULL;
    int threads = 1, runs = 20;
    const char *files[8];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!model)
            model = argv[i];
        else if (n_files < 8)
            files[n_files++] = argv[i];
    }
    if (!model || runs < 1) {
        fprintf(stderr, "usage: bench_profile MODEL [--threads N] [--runs N] [input_0.pb ...]\n");
        return 2;
    }
    kh_error err = {0};
    onnx_load_options opts = {.threads = threads};
    onnx_model *m;
    if (onnx_model_load(model, &opts, &m, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    onnx_tensor_view in[8];
    size_t n_in = onnx_model_input_count(m);
    if ((size_t)n_files != n_in) {
        fprintf(stderr, "give %zu input .pb files\n", n_in);
        return 2;
    }
    for (size_t i = 0; i < n_in; i++) {
        char *name = NULL;
        if (onnx_tensorproto_read_file(files[i], &in[i], &name, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        free(name);
    }
    onnx_tensor_view out[8];
    size_t n_out = onnx_model_output_count(m) < 8 ? onnx_model_output_count(m) : 8;
    if (onnx_model_run(m, in, n_in, out, n_out, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double *t = calloc(m->n_nodes * (size_t)runs, sizeof *t);
    onnx_exec ex = {.scratch = m->scratch,
                    .pool = (struct onnx_threadpool *)m->pool_threads,
                    .threads = m->threads};
    for (int r = 0; r < runs; r++)
        for (size_t i = 0; i < m->dynamic_from; i++) {
            if (m->node_folded[i])
                continue;
            onnx_node *n = &m->nodes[i];
            double t0 = now_ms();
            if (n->op->run(n, &ex, &err)) {
                fprintf(stderr, "%s: %s\n", n->name, err.message);
                return 1;
            }
            t[i * (size_t)runs + (size_t)r] = now_ms() - t0;
        }
    double total = 0, total_min = 0;
    printf("%-28s %-20s %-22s %9s %9s\n", "node", "op", "output", "median ms", "min ms");
    for (size_t i = 0; i < m->dynamic_from; i++) {
        onnx_node *n = &m->nodes[i];
        if (m->node_folded[i] || !n->n_outputs)
            continue;
        qsort(t + i * (size_t)runs, (size_t)runs, sizeof *t, cmp_double);
        double med = t[i * (size_t)runs + (size_t)runs / 2], min = t[i * (size_t)runs];
        total += med;
        total_min += min;
        char shape[64];
        onnx_shape_str(n->outputs[0], shape, sizeof shape);
        printf("%-28s %-20s %-22s %9.3f %9.3f\n", n->name, n->op_type, shape, med, min);
    }
    printf("%-72s %9.3f %9.3f\n", "sum", total, total_min);
    free(t);
    for (size_t i = 0; i < n_in; i++)
        free(in[i].data);
    onnx_model_destroy(m);
    return 0;
}
