/* Shared by the engine's unit tests: build models in memory with the model
 * writer and load them. */
#ifndef KH_TESTS_ONNX_ENGINE_FIXTURES_H
#define KH_TESTS_ONNX_ENGINE_FIXTURES_H

#include <stdlib.h>
#include <string.h>

#include "onnx/model_writer.h"
#include "onnx/onnx.h"
#include "onnx/protobuf.h"

/* Serialises and destroys w; fails the test on error. */
static inline uint8_t *fixture_bytes(onnx_model_writer *w, size_t *len) {
    uint8_t *buf;
    kh_error err;
    if (onnx_model_writer_finish(w, &buf, len, &err))
        fail_msg("model writer: %s", err.message);
    onnx_model_writer_destroy(w);
    return buf;
}

/* Loads the writer's model (destroying w); returns the load status. */
static inline int fixture_load(onnx_model_writer *w, onnx_model **m,
                               kh_error *err) {
    size_t len;
    uint8_t *buf = fixture_bytes(w, &len);
    int rc = onnx_model_load_buffer(buf, len, NULL, m, err);
    free(buf);
    return rc;
}

static inline onnx_model_writer *fixture_writer(int64_t opset) {
    onnx_model_writer *w;
    kh_error err;
    if (onnx_model_writer_create("test", opset, &w, &err))
        fail_msg("model writer: %s", err.message);
    return w;
}

/* Asserts that haystack contains needle, printing both when it does not. */
#define assert_contains(haystack, needle)                                      \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!strstr(h_, n_))                                                   \
            fail_msg("expected \"%s\" in \"%s\"", n_, h_);                     \
    } while (0)

#endif
