/* khappy onnx - inspect, run and test ONNX models with khappy's engine. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/json_text.h"
#include "onnx/onnx.h"
#include "onnx/tensor_io.h"

#ifndef KH_VERSION
#define KH_VERSION "dev"
#endif

#define TEST_RTOL 1e-3
#define TEST_ATOL 1e-7
#define TEST_CASE_SECONDS 120
#define MAX_DIR_DEPTH 16

static void usage_onnx(FILE *out) {
    fprintf(out,
            "usage: khappy onnx <command> [options]\n\n"
            "commands:\n"
            "  info MODEL   inputs, outputs, opset, producer, operators, "
            "parameters\n"
            "  run MODEL    run once (and time more runs), write outputs\n"
            "  test DIR...  run ONNX backend test cases found under DIRs\n\n"
            "'khappy onnx <command> --help' describes a command.\n");
}

static void usage_info(FILE *out) {
    fprintf(out, "usage: khappy onnx info MODEL\n\n"
                 "Prints the model's inputs and outputs (symbolic dimensions "
                 "by name), IR\nversion, opset, producer, a histogram of "
                 "operators and the parameter count.\n");
}

static void usage_run(FILE *out) {
    fprintf(out,
            "usage: khappy onnx run MODEL [--threads N] [--runs N] [--out "
            "DIR] [input_0.pb ...]\n\n"
            "Runs MODEL once on the inputs (ONNX TensorProto files in the "
            "model's input\norder; none given: deterministic pseudo-random "
            "values 0..255 for float\ninputs, symbolic dimensions taken as "
            "1, as ort.js makes them), then times\n--runs N more runs. "
            "Writes DIR/output_<i>.pb with --out. Prints one JSON line:\n"
            "model, threads, runs, median_ms, min_ms and the outputs' names "
            "and dims.\n\n"
            "  --threads N  worker threads (default 1)\n"
            "  --runs N     timed runs after the first (default 0)\n"
            "  --out DIR    write the outputs there (created if needed)\n");
}

static void usage_test(FILE *out) {
    fprintf(out,
            "usage: khappy onnx test [--filter SUBSTR] [--verbose] DIR...\n\n"
            "Runs every ONNX backend test case (a folder with model.onnx and "
            "test_data_set_*/)\nfound under the DIRs. Outputs must match "
            "within |got-expected| <= %g + %g*|expected|\n(NaN equals NaN; "
            "shapes and types exactly). One line per case: PASS, FAIL with\n"
            "the worst element or the error, or SKIP when the model uses "
            "something the\nengine does not support; then 'N passed, M "
            "failed, K skipped'. Each case runs in\nits own process: a crash "
            "is a FAIL. Exits 1 when any case fails.\n\n"
            "  --filter SUBSTR  only cases whose name contains SUBSTR\n"
            "  --verbose        print timings and details\n",
            TEST_ATOL, TEST_RTOL);
}

static bool parse_int(const char *s, int min, int max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static void print_dims(FILE *out, const onnx_value_info *vi) {
    if (vi->rank < 0) {
        fprintf(out, "[?]");
        return;
    }
    fputc('[', out);
    for (int i = 0; i < vi->rank; i++) {
        if (i)
            fputc(',', out);
        if (vi->dims[i] >= 0)
            fprintf(out, "%" PRId64, vi->dims[i]);
        else
            fprintf(out, "%s", vi->dim_names[i] ? vi->dim_names[i] : "?");
    }
    fputc(']', out);
}

static void print_op(const char *op_type, size_t count, void *user) {
    (void)user;
    printf("  %-24s %zu\n", op_type, count);
}

static int cmd_info(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage_info(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage_info(stderr);
        return 2;
    }
    onnx_model *m;
    kh_error err;
    if (onnx_model_load(argv[1], NULL, &m, &err)) {
        cli_error("%s", err.message);
        return 1;
    }
    onnx_model_summary s;
    onnx_model_summary_get(m, &s);
    printf("model: %s\nir_version: %" PRId64 "\nopset: %" PRId64
           "\nproducer: %s\n",
           argv[1], s.ir_version, s.opset, s.producer[0] ? s.producer : "-");
    printf("inputs:\n");
    for (size_t i = 0; i < onnx_model_input_count(m); i++) {
        onnx_value_info vi;
        onnx_model_input_info(m, i, &vi);
        printf("  %s: %s ", vi.name, onnx_dtype_name(vi.dtype));
        print_dims(stdout, &vi);
        putchar('\n');
    }
    printf("outputs:\n");
    for (size_t i = 0; i < onnx_model_output_count(m); i++) {
        onnx_value_info vi;
        onnx_model_output_info(m, i, &vi);
        printf("  %s: %s ", vi.name, onnx_dtype_name(vi.dtype));
        print_dims(stdout, &vi);
        putchar('\n');
    }
    printf("nodes: %zu\ninitializers: %zu\nparameters: %" PRId64
           "\noperators:\n",
           s.node_count, s.initializer_count, s.parameter_count);
    onnx_model_op_histogram(m, print_op, NULL);
    onnx_model_destroy(m);
    return 0;
}

/* ---- run ---- */

static void json_string(FILE *out, const char *s) {
    kh_text text = {0};
    kh_json_string(&text, s, strlen(s), KH_JSON_UNICODE_ESCAPES);
    if (!text.failed)
        fwrite(text.data, 1, text.len, out);
    kh_text_free(&text);
}

static double now_ms(void) {
    return (double)kh_clock_mono_ns() / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ort.js's generator: s = (s*1103515245 + 12345) & 0x7fffffff, v = s % 256,
 * one sequence per input starting at s = 12345. */
static int generate_input(const onnx_value_info *vi, onnx_tensor_view *v) {
    if (vi->dtype != ONNX_FLOAT || vi->rank < 0) {
        cli_error("input '%s': give a .pb file (only float inputs of known "
                  "rank are generated)",
                  vi->name);
        return 1;
    }
    memset(v, 0, sizeof *v);
    v->dtype = ONNX_FLOAT;
    v->rank = vi->rank;
    size_t n = 1;
    for (int i = 0; i < vi->rank; i++) {
        v->dims[i] = vi->dims[i] > 0 ? vi->dims[i] : 1;
        if (vi->dims[i] == 0)
            v->dims[i] = 0;
        if (v->dims[i] && n > ((size_t)1 << 34) / (size_t)v->dims[i]) {
            cli_error("input '%s': too large to generate", vi->name);
            return 1;
        }
        n *= (size_t)v->dims[i];
    }
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) {
        cli_error("input '%s': out of memory", vi->name);
        return 1;
    }
    uint64_t s = 12345;
    for (size_t k = 0; k < n; k++) {
        s = (s * 1103515245u + 12345u) & 0x7fffffffu;
        d[k] = (float)(s % 256);
    }
    v->data = d;
    return 0;
}

static const char *ort_type_name(onnx_dtype t) {
    switch (t) {
    case ONNX_FLOAT: return "float32";
    case ONNX_INT64: return "int64";
    case ONNX_INT32: return "int32";
    case ONNX_UINT8: return "uint8";
    case ONNX_INT8: return "int8";
    case ONNX_BOOL: return "bool";
    default: return onnx_dtype_name(t);
    }
}

static int make_dirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int cmd_run(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage_run(stdout);
        return 0;
    }
    int threads = 1, runs = 0;
    const char *out_dir = NULL, *model_path = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t n_files = 0;
    if (!files) {
        cli_error("out of memory");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--threads") == 0 || strcmp(a, "--runs") == 0 ||
            strcmp(a, "--out") == 0) {
            if (i + 1 >= argc) {
                cli_error("%s needs a value", a);
                free(files);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--out") == 0) {
                out_dir = v;
            } else if (!parse_int(v, strcmp(a, "--runs") == 0 ? 0 : 1,
                                  strcmp(a, "--runs") == 0 ? 1000000 : 256,
                                  strcmp(a, "--runs") == 0 ? &runs
                                                           : &threads)) {
                cli_error("%s: '%s' is not a valid number", a, v);
                free(files);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_error("run: unknown option '%s' (see 'khappy onnx run "
                      "--help')",
                      a);
            free(files);
            return 2;
        } else if (!model_path) {
            model_path = a;
        } else {
            files[n_files++] = a;
        }
    }
    if (!model_path) {
        usage_run(stderr);
        free(files);
        return 2;
    }

    int status = 1;
    onnx_model *m = NULL;
    onnx_tensor_view *inputs = NULL, *outputs = NULL;
    double *times = NULL;
    size_t n_in = 0, n_out = 0;
    kh_error err;
    onnx_load_options opts = {.threads = threads};
    if (onnx_model_load(model_path, &opts, &m, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    n_in = onnx_model_input_count(m);
    n_out = onnx_model_output_count(m);
    if (n_files && n_files != n_in) {
        cli_error("%s: the model has %zu inputs, %zu files given", model_path,
                  n_in, n_files);
        status = 2;
        goto out;
    }
    inputs = calloc(n_in ? n_in : 1, sizeof *inputs);
    outputs = calloc(n_out ? n_out : 1, sizeof *outputs);
    times = calloc(runs ? (size_t)runs : 1, sizeof *times);
    if (!inputs || !outputs || !times) {
        cli_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_in; i++) {
        if (n_files) {
            if (onnx_tensorproto_read_file(files[i], &inputs[i], NULL,
                                           &err)) {
                cli_error("%s", err.message);
                goto out;
            }
        } else {
            onnx_value_info vi;
            onnx_model_input_info(m, i, &vi);
            if (generate_input(&vi, &inputs[i]))
                goto out;
        }
    }
    if (onnx_model_run(m, inputs, n_in, outputs, n_out, &err)) {
        cli_error("%s: %s", model_path, err.message);
        goto out;
    }
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (onnx_model_run(m, inputs, n_in, outputs, n_out, &err)) {
            cli_error("%s: run %d: %s", model_path, r + 2, err.message);
            goto out;
        }
        times[r] = now_ms() - t0;
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    if (out_dir) {
        if (make_dirs(out_dir)) {
            cli_error("%s: cannot create folder: %s", out_dir,
                      strerror(errno));
            goto out;
        }
        for (size_t i = 0; i < n_out; i++) {
            char path[4096];
            onnx_value_info vi;
            onnx_model_output_info(m, i, &vi);
            snprintf(path, sizeof path, "%s/output_%zu.pb", out_dir, i);
            if (onnx_tensorproto_write_file(path, vi.name, &outputs[i],
                                            &err)) {
                cli_error("%s", err.message);
                goto out;
            }
        }
    }
    printf("{\"model\":");
    json_string(stdout, model_path);
    printf(",\"runtime\":\"khappy %s\",\"threads\":%d,\"runs\":%d,"
           "\"median_ms\":",
           KH_VERSION, threads, runs);
    if (runs)
        printf("%.6f,\"min_ms\":%.6f", times[runs / 2], times[0]);
    else
        printf("null,\"min_ms\":null");
    printf(",\"outputs\":[");
    for (size_t i = 0; i < n_out; i++) {
        onnx_value_info vi;
        onnx_model_output_info(m, i, &vi);
        printf("%s{\"name\":", i ? "," : "");
        json_string(stdout, vi.name);
        printf(",\"dims\":[");
        for (int d = 0; d < outputs[i].rank; d++)
            printf("%s%" PRId64, d ? "," : "", outputs[i].dims[d]);
        printf("],\"type\":\"%s\"}", ort_type_name(outputs[i].dtype));
    }
    printf("]}\n");
    status = 0;
out:
    for (size_t i = 0; inputs && i < n_in; i++)
        free(inputs[i].data);
    free(inputs);
    free(outputs);
    free(times);
    free(files);
    onnx_model_destroy(m);
    return status;
}

/* ---- test ---- */

typedef struct string_list {
    char **v;
    size_t n, cap;
} string_list;

static int list_add(string_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static void list_free(string_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Case folders: those holding model.onnx, found recursively. */
static int find_cases(const char *dir, int depth, string_list *cases) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (is_file(path))
        return list_add(cases, dir);
    if (depth >= MAX_DIR_DEPTH)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    string_list subdirs = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof path && is_dir(path) &&
            list_add(&subdirs, path)) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (subdirs.n)
        qsort(subdirs.v, subdirs.n, sizeof *subdirs.v, cmp_str);
    for (size_t i = 0; rc == 0 && i < subdirs.n; i++)
        rc = find_cases(subdirs.v[i], depth + 1, cases);
    list_free(&subdirs);
    return rc;
}

/* Files PREFIX<i>SUFFIX for i = 0, 1, ... until one is missing. */
static int numbered_files(const char *dir, const char *prefix,
                          const char *suffix, string_list *out) {
    char path[4096];
    for (int i = 0;; i++) {
        snprintf(path, sizeof path, "%s/%s%d%s", dir, prefix, i, suffix);
        if (!is_file(path) && !is_dir(path))
            return 0;
        if (list_add(out, path))
            return -1;
    }
}

static bool same_value(double got, double want) {
    if (isnan(got) || isnan(want))
        return isnan(got) && isnan(want);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs(got - want) <= TEST_ATOL + TEST_RTOL * fabs(want);
}

static double element(const onnx_tensor_view *t, size_t i) {
    switch (t->dtype) {
    case ONNX_FLOAT: return ((const float *)t->data)[i];
    case ONNX_INT64: return (double)((const int64_t *)t->data)[i];
    case ONNX_INT32: return ((const int32_t *)t->data)[i];
    case ONNX_INT8: return ((const int8_t *)t->data)[i];
    case ONNX_UINT8:
    case ONNX_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

static void shape_text(const onnx_tensor_view *t, char *buf, size_t len) {
    size_t used = 0;
    int n = snprintf(buf, len, "%s [", onnx_dtype_name(t->dtype));
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < t->rank && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%" PRId64, i ? "," : "",
                     t->dims[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Compares one output; on mismatch writes why into msg. */
static bool compare_output(size_t index, const char *name,
                           const onnx_tensor_view *got,
                           const onnx_tensor_view *want, char *msg,
                           size_t len) {
    bool same_shape = got->dtype == want->dtype && got->rank == want->rank;
    for (int i = 0; same_shape && i < got->rank; i++)
        same_shape = got->dims[i] == want->dims[i];
    if (!same_shape) {
        char a[200], b[200];
        shape_text(got, a, sizeof a);
        shape_text(want, b, sizeof b);
        snprintf(msg, len, "output %zu '%s': got %s, expected %s", index,
                 name, a, b);
        return false;
    }
    size_t n = 1;
    for (int i = 0; i < got->rank; i++)
        n *= (size_t)got->dims[i];
    size_t worst = 0, bad = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double g = element(got, i), w = element(want, i);
        if (same_value(g, w))
            continue;
        bad++;
        double excess = isnan(g) || isnan(w) || isinf(g) || isinf(w)
                            ? INFINITY
                            : fabs(g - w) - TEST_RTOL * fabs(w);
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (!bad)
        return true;
    snprintf(msg, len,
             "output %zu '%s': %zu of %zu elements differ; worst at %zu: "
             "got %.9g, expected %.9g",
             index, name, bad, n, worst, element(got, worst),
             element(want, worst));
    return false;
}

enum case_result { CASE_PASS = 0, CASE_FAIL = 1, CASE_SKIP = 2 };

/* Runs one case; writes its one-line reason (for FAIL/SKIP) into msg. */
static enum case_result run_case(const char *dir, bool verbose, char *msg,
                                 size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    onnx_model *m;
    kh_error err;
    double t0 = now_ms();
    int rc = onnx_model_load(path, NULL, &m, &err);
    if (rc == KH_EUNSUPPORTED) {
        const char *s = err.message;
        size_t plen = strlen(path);
        if (strncmp(s, path, plen) == 0 && strncmp(s + plen, ": ", 2) == 0)
            s += plen + 2;
        snprintf(msg, len, "%s", s);
        return CASE_SKIP;
    }
    if (rc) {
        snprintf(msg, len, "load: %s", err.message);
        return CASE_FAIL;
    }
    double load_ms = now_ms() - t0;
    string_list sets = {0};
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "test_data_set_", 14) == 0) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                list_add(&sets, path);
            }
        closedir(d);
    }
    if (sets.n)
        qsort(sets.v, sets.n, sizeof *sets.v, cmp_str);
    enum case_result result = CASE_PASS;
    if (!sets.n) {
        snprintf(msg, len, "no test_data_set_* folder");
        result = CASE_FAIL;
    }
    double run_ms = 0;
    size_t n_in = onnx_model_input_count(m), n_out = onnx_model_output_count(m);
    for (size_t s = 0; s < sets.n && result == CASE_PASS; s++) {
        string_list in_files = {0}, out_files = {0};
        numbered_files(sets.v[s], "input_", ".pb", &in_files);
        numbered_files(sets.v[s], "output_", ".pb", &out_files);
        onnx_tensor_view *in = calloc(in_files.n + 1, sizeof *in);
        onnx_tensor_view *got = calloc(n_out + 1, sizeof *got);
        const char *set_name = strrchr(sets.v[s], '/');
        set_name = set_name ? set_name + 1 : sets.v[s];
        size_t loaded = 0;
        if (!in || !got) {
            snprintf(msg, len, "out of memory");
            result = CASE_FAIL;
        } else if (in_files.n != n_in) {
            snprintf(msg, len, "%s: %zu input files, the model has %zu inputs",
                     set_name, in_files.n, n_in);
            result = CASE_FAIL;
        } else if (out_files.n > n_out) {
            snprintf(msg, len,
                     "%s: %zu output files, the model has %zu outputs",
                     set_name, out_files.n, n_out);
            result = CASE_FAIL;
        }
        for (; result == CASE_PASS && loaded < in_files.n; loaded++) {
            rc = onnx_tensorproto_read_file(in_files.v[loaded], &in[loaded],
                                            NULL, &err);
            if (rc) {
                snprintf(msg, len, "%s", err.message);
                result = rc == KH_EUNSUPPORTED ? CASE_SKIP : CASE_FAIL;
            }
        }
        if (result == CASE_PASS) {
            t0 = now_ms();
            rc = onnx_model_run(m, in, n_in, got, n_out, &err);
            run_ms += now_ms() - t0;
            if (rc) {
                snprintf(msg, len, "%s: run: %s", set_name, err.message);
                result = CASE_FAIL;
            }
        }
        for (size_t o = 0; result == CASE_PASS && o < out_files.n; o++) {
            onnx_tensor_view want;
            rc = onnx_tensorproto_read_file(out_files.v[o], &want, NULL,
                                            &err);
            if (rc) {
                snprintf(msg, len, "%s", err.message);
                result = rc == KH_EUNSUPPORTED ? CASE_SKIP : CASE_FAIL;
                break;
            }
            onnx_value_info vi;
            onnx_model_output_info(m, o, &vi);
            char why[600];
            if (!compare_output(o, vi.name, &got[o], &want, why, sizeof why)) {
                snprintf(msg, len, "%s: %s", set_name, why);
                result = CASE_FAIL;
            }
            free(want.data);
        }
        for (size_t i = 0; i < loaded; i++)
            free(in[i].data);
        free(in);
        free(got);
        list_free(&in_files);
        list_free(&out_files);
    }
    if (verbose && result == CASE_PASS)
        snprintf(msg, len, "load %.2f ms, %zu data sets run in %.2f ms",
                 load_ms, sets.n, run_ms);
    list_free(&sets);
    onnx_model_destroy(m);
    return result;
}

/* Runs a case in a child process so a crash or hang is one FAIL. */
static enum case_result run_case_isolated(const char *dir, bool verbose,
                                          char *msg, size_t len) {
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(msg, len, "pipe: %s", strerror(errno));
        return CASE_FAIL;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(msg, len, "fork: %s", strerror(errno));
        return CASE_FAIL;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(TEST_CASE_SECONDS);
        char buf[1024] = "";
        enum case_result r = run_case(dir, verbose, buf, sizeof buf);
        size_t n = strlen(buf), off = 0;
        while (off < n) {
            ssize_t w = write(fds[1], buf + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fds[1]);
        _exit((int)r);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fds[0], msg + got, len - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got >= len - 1)
            break;
    }
    msg[got] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(msg, len, "%s (signal %d, %s)",
                 sig == SIGALRM ? "timed out" : "crashed", sig,
                 strsignal(sig));
        return CASE_FAIL;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (code == CASE_PASS || code == CASE_SKIP)
        return (enum case_result)code;
    if (!msg[0])
        snprintf(msg, len, "exit status %d", code);
    return CASE_FAIL;
}

static int cmd_test(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage_test(stdout);
        return 0;
    }
    const char *filter = NULL;
    bool verbose = false;
    string_list dirs = {0}, cases = {0};
    int status = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0) {
            if (i + 1 >= argc) {
                cli_error("--filter needs a value");
                goto out;
            }
            filter = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("test: unknown option '%s' (see 'khappy onnx test "
                      "--help')",
                      argv[i]);
            goto out;
        } else if (list_add(&dirs, argv[i])) {
            cli_error("out of memory");
            status = 1;
            goto out;
        }
    }
    if (!dirs.n) {
        usage_test(stderr);
        goto out;
    }
    status = 1;
    for (size_t i = 0; i < dirs.n; i++) {
        if (!is_dir(dirs.v[i])) {
            cli_error("%s: not a folder", dirs.v[i]);
            goto out;
        }
        if (find_cases(dirs.v[i], 0, &cases)) {
            cli_error("out of memory");
            goto out;
        }
    }
    size_t passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < cases.n; i++) {
        const char *name = strrchr(cases.v[i], '/');
        name = name && name[1] ? name + 1 : cases.v[i];
        if (filter && !strstr(name, filter))
            continue;
        char msg[1024];
        enum case_result r =
            run_case_isolated(cases.v[i], verbose, msg, sizeof msg);
        if (r == CASE_PASS) {
            passed++;
            if (verbose)
                printf("PASS %s: %s\n", name, msg);
            else
                printf("PASS %s\n", name);
        } else if (r == CASE_SKIP) {
            skipped++;
            printf("SKIP %s: %s\n", name, msg);
        } else {
            failed++;
            printf("FAIL %s: %s\n", name, msg);
        }
        fflush(stdout);
    }
    printf("%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    status = failed ? 1 : 0;
out:
    list_free(&dirs);
    list_free(&cases);
    return status;
}

int cmd_onnx(int argc, char **argv) {
    if (argc < 2) {
        usage_onnx(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage_onnx(stdout);
        return 0;
    }
    if (strcmp(sub, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(sub, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(sub, "test") == 0)
        return cmd_test(argc - 1, argv + 1);
    cli_error("onnx: unknown command '%s' (see 'khappy onnx --help')", sub);
    return 2;
}
