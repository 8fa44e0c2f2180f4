/* tensor_check - makes network inputs and compares outputs for the converted
 * models' tests (tests/convert/CMakeLists.txt, run_model.sh).
 *
 *   tensor_check random SEED N C H W OUT.pb     pseudo-random floats 0..255
 *   tensor_check widen IN.pb OUT.pb             uint8 tensor -> float
 *   tensor_check stack OUT.pb IN.pb...          concatenate along axis 0
 *   tensor_check compare EXPECTED.pb ACTUAL.pb MAX_ABS_ERROR
 *
 * `random` is the generator of tests/convert/fixtures/make.js (xorshift32,
 * value = state % 256), so the fixtures need not hold those inputs.
 * `compare` prints the largest absolute error and where it is, and exits 1
 * when it exceeds MAX_ABS_ERROR or when the shapes or types differ.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/tensor_io.h"

static int usage(void) {
    fprintf(stderr,
            "usage: tensor_check random SEED N C H W OUT.pb\n"
            "       tensor_check widen IN.pb OUT.pb\n"
            "       tensor_check stack OUT.pb IN.pb...\n"
            "       tensor_check compare EXPECTED.pb ACTUAL.pb "
            "MAX_ABS_ERROR\n");
    return 2;
}

static size_t element_count(const onnx_tensor_view *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static void shape_text(const onnx_tensor_view *t, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "%s [", onnx_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
                                 (long long)t->dims[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

static int read_tensor(const char *path, onnx_tensor_view *t) {
    kh_error err;
    if (onnx_tensorproto_read_file(path, t, NULL, &err)) {
        fprintf(stderr, "tensor_check: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int write_tensor(const char *path, const onnx_tensor_view *t) {
    kh_error err;
    if (onnx_tensorproto_write_file(path, "image", t, &err)) {
        fprintf(stderr, "tensor_check: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int parse_dim(const char *s, int64_t *v) {
    char *end;
    long long x = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || x <= 0 || x > 4096) {
        fprintf(stderr, "tensor_check: bad number '%s'\n", s);
        return 1;
    }
    *v = x;
    return 0;
}

static int cmd_random(int argc, char **argv) {
    if (argc != 7)
        return usage();
    int64_t seed;
    onnx_tensor_view t = {ONNX_FLOAT, 4, {0}, NULL};
    if (parse_dim(argv[1], &seed))
        return 2;
    for (int i = 0; i < 4; i++)
        if (parse_dim(argv[2 + i], &t.dims[i]))
            return 2;
    size_t n = element_count(&t);
    float *data = malloc(n * sizeof *data);
    if (!data)
        return 1;
    uint32_t s = (uint32_t)seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        data[i] = (float)(s % 256);
    }
    t.data = data;
    int rc = write_tensor(argv[6], &t);
    free(data);
    return rc;
}

static int cmd_widen(int argc, char **argv) {
    if (argc != 3)
        return usage();
    onnx_tensor_view in;
    if (read_tensor(argv[1], &in))
        return 1;
    if (in.dtype != ONNX_UINT8) {
        fprintf(stderr, "tensor_check: %s: expected uint8, got %s\n", argv[1],
                onnx_dtype_name(in.dtype));
        free(in.data);
        return 1;
    }
    size_t n = element_count(&in);
    float *data = malloc((n ? n : 1) * sizeof *data);
    if (!data) {
        free(in.data);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        data[i] = (float)((const uint8_t *)in.data)[i];
    onnx_tensor_view out = in;
    out.dtype = ONNX_FLOAT;
    out.data = data;
    int rc = write_tensor(argv[2], &out);
    free(data);
    free(in.data);
    return rc;
}

static int cmd_stack(int argc, char **argv) {
    if (argc < 3)
        return usage();
    int count = argc - 2;
    onnx_tensor_view *parts = calloc((size_t)count, sizeof *parts);
    if (!parts)
        return 1;
    int rc = 0;
    int loaded = 0;
    size_t total = 0;
    for (; loaded < count && !rc; loaded++) {
        rc = read_tensor(argv[2 + loaded], &parts[loaded]);
        if (rc)
            break;
        const onnx_tensor_view *p = &parts[loaded], *first = &parts[0];
        int same = p->dtype == ONNX_FLOAT && p->rank == first->rank &&
                   p->rank >= 1;
        for (int d = 1; same && d < p->rank; d++)
            same = p->dims[d] == first->dims[d];
        if (!same) {
            fprintf(stderr, "tensor_check: %s: expected float with the shape "
                            "of %s after axis 0\n",
                    argv[2 + loaded], argv[2]);
            rc = 1;
        }
        total += element_count(p);
    }
    float *data = rc ? NULL : malloc(total * sizeof *data);
    if (!rc && data) {
        onnx_tensor_view out = parts[0];
        out.dims[0] = 0;
        size_t at = 0;
        for (int i = 0; i < count; i++) {
            size_t n = element_count(&parts[i]);
            memcpy(data + at, parts[i].data, n * sizeof *data);
            at += n;
            out.dims[0] += parts[i].dims[0];
        }
        out.data = data;
        rc = write_tensor(argv[1], &out);
    } else if (!rc) {
        rc = 1;
    }
    free(data);
    for (int i = 0; i < loaded && i < count; i++)
        free(parts[i].data);
    free(parts);
    return rc;
}

static int cmd_compare(int argc, char **argv) {
    if (argc != 4)
        return usage();
    char *end;
    double tolerance = strtod(argv[3], &end);
    if (*end != '\0' || !(tolerance >= 0))
        return usage();
    onnx_tensor_view want, got;
    if (read_tensor(argv[1], &want))
        return 1;
    if (read_tensor(argv[2], &got)) {
        free(want.data);
        return 1;
    }
    char want_shape[128], got_shape[128];
    shape_text(&want, want_shape, sizeof want_shape);
    shape_text(&got, got_shape, sizeof got_shape);
    int rc = 0;
    if (strcmp(want_shape, got_shape) != 0 || want.dtype != ONNX_FLOAT) {
        printf("FAIL shape: expected %s (float), got %s\n", want_shape,
               got_shape);
        rc = 1;
    } else {
        size_t n = element_count(&want), worst_at = 0;
        const float *w = want.data, *g = got.data;
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)g[i] - (double)w[i]);
            if (e > worst || isnan(e)) {
                worst = isnan(e) ? INFINITY : e;
                worst_at = i;
            }
        }
        rc = worst > tolerance;
        printf("%s %s: max abs error %.3e at index %zu (expected %.9g, got "
               "%.9g), tolerance %.1e\n",
               rc ? "FAIL" : "PASS", want_shape, worst, worst_at,
               n ? (double)w[worst_at] : 0.0, n ? (double)g[worst_at] : 0.0,
               tolerance);
    }
    free(want.data);
    free(got.data);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "random") == 0)
        return cmd_random(argc - 1, argv + 1);
    if (strcmp(argv[1], "widen") == 0)
        return cmd_widen(argc - 1, argv + 1);
    if (strcmp(argv[1], "stack") == 0)
        return cmd_stack(argc - 1, argv + 1);
    if (strcmp(argv[1], "compare") == 0)
        return cmd_compare(argc - 1, argv + 1);
    return usage();
}
