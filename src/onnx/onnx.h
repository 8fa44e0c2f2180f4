/* onnx.h - public API of khappy's ONNX inference engine.
 *
 *   onnx_model *m;  kh_error err;
 *   if (onnx_model_load("net.onnx", NULL, &m, &err)) { report err.message; }
 *   onnx_tensor_view in = { ONNX_FLOAT, 4, {1,3,416,416}, pixels };
 *   onnx_tensor_view out[1];
 *   onnx_model_run(m, &in, 1, out, 1, &err);   // out[0].data owned by m
 *   onnx_model_destroy(m);
 *
 * Thread safety: one model may be run by one thread at a time; load several
 * models (they share nothing) to run in parallel.
 */
#ifndef KH_ONNX_H
#define KH_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define ONNX_MAX_RANK 8

/* Values are those of onnx.TensorProto.DataType. */
typedef enum onnx_dtype {
    ONNX_UNDEFINED = 0,
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_UINT16 = 4,
    ONNX_INT16 = 5,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_STRING = 8,
    ONNX_BOOL = 9,
    ONNX_FLOAT16 = 10,
    ONNX_DOUBLE = 11,
    ONNX_UINT32 = 12,
    ONNX_UINT64 = 13,
    ONNX_COMPLEX64 = 14,
    ONNX_COMPLEX128 = 15,
    ONNX_BFLOAT16 = 16,
} onnx_dtype;

/* Size in bytes of one element; 0 for types the engine cannot hold. */
size_t onnx_dtype_size(onnx_dtype t);
/* "float", "int64", ...; never NULL. */
const char *onnx_dtype_name(onnx_dtype t);

/* A tensor passed in or out of the engine. The caller owns input data; output
 * data is owned by the model and valid until the next run or destroy. */
typedef struct onnx_tensor_view {
    onnx_dtype dtype;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    void *data;
} onnx_tensor_view;

/* Description of a graph input or output. A dimension is -1 when symbolic or
 * unknown; dim_names[i] then holds its symbol (or NULL). Strings are owned by
 * the model. */
typedef struct onnx_value_info {
    const char *name;
    onnx_dtype dtype;
    int rank; /* -1 when unknown */
    int64_t dims[ONNX_MAX_RANK];
    const char *dim_names[ONNX_MAX_RANK];
} onnx_value_info;

typedef struct onnx_load_options {
    int threads;            /* worker threads for run(); <= 1 means none */
    size_t max_file_bytes;  /* 0: default limit (2 GiB) */
    size_t max_memory_bytes; /* limit for any one tensor and for all planned
                                tensors together; 0: none (for untrusted
                                models) */
} onnx_load_options;

typedef struct onnx_model onnx_model;

/* Loads, checks and binds a model. On success *out owns the model (free with
 * onnx_model_destroy). On failure *out is NULL and err says what and where;
 * every unsupported operator/type in the graph is listed in one message
 * (code KH_EUNSUPPORTED). opts may be NULL. */
int onnx_model_load(const char *path, const onnx_load_options *opts,
                    onnx_model **out, kh_error *err);

/* Same, from bytes in memory (copied as needed; buf may be freed after). */
int onnx_model_load_buffer(const void *buf, size_t len,
                           const onnx_load_options *opts, onnx_model **out,
                           kh_error *err);

void onnx_model_destroy(onnx_model *m); /* NULL is a no-op */

size_t onnx_model_input_count(const onnx_model *m);
size_t onnx_model_output_count(const onnx_model *m);
/* Fills *info for input/output i; returns KH_ERANGE for a bad index. */
int onnx_model_input_info(const onnx_model *m, size_t i, onnx_value_info *info);
int onnx_model_output_info(const onnx_model *m, size_t i, onnx_value_info *info);

/* Model facts for `khappy onnx info`. Strings owned by the model. */
typedef struct onnx_model_summary {
    int64_t ir_version;
    int64_t opset;           /* default-domain opset */
    const char *producer;    /* may be "" */
    size_t node_count;
    size_t initializer_count;
    int64_t parameter_count; /* elements in all initializers */
} onnx_model_summary;
void onnx_model_summary_get(const onnx_model *m, onnx_model_summary *s);

/* Histogram of operator types: calls fn(op_type, count, user) once per type,
 * in order of first appearance. */
void onnx_model_op_histogram(const onnx_model *m,
                             void (*fn)(const char *op_type, size_t count,
                                        void *user),
                             void *user);

/* Runs the graph. inputs[i] must match the model's input i (dtype, rank, and
 * every fixed dimension); n_inputs must equal the input count. outputs gets
 * n_outputs views (n_outputs <= output count) whose data is owned by the
 * model. Shapes are planned at the first run and again only when input shapes
 * change; a run with planned shapes does not allocate. */
int onnx_model_run(onnx_model *m, const onnx_tensor_view *inputs,
                   size_t n_inputs, onnx_tensor_view *outputs,
                   size_t n_outputs, kh_error *err);

/* Sets the number of threads used by later runs (>= 1). */
int onnx_model_set_threads(onnx_model *m, int threads, kh_error *err);

#endif
