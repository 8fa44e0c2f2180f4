/* model_writer.h - builds an ONNX ModelProto in memory (for the converter
 * and for tests that need hand-made, possibly broken, models).
 *
 *   onnx_model_writer *w;
 *   onnx_model_writer_create("tiny", 13, &w, &err);
 *   int64_t in_dims[] = {-1, 3, 416, 416};
 *   const char *in_names[] = {"batch", NULL, NULL, NULL};
 *   onnx_model_writer_add_input(w, "image", ONNX_FLOAT, 4, in_dims, in_names);
 *   onnx_model_writer_add_initializer(w, "conv0.w", 4, wdims, weights);
 *   const char *ins[] = {"image", "conv0.w"}, *outs[] = {"y"};
 *   onnx_model_writer_add_node(w, "Conv", "conv0", ins, 2, outs, 1);
 *   onnx_model_writer_attr_ints(w, "strides", (int64_t[]){1, 1}, 2);
 *   onnx_model_writer_add_output(w, "y", ONNX_FLOAT, -1, NULL, NULL);
 *   onnx_model_writer_save(w, "tiny.onnx", &err);
 *   onnx_model_writer_destroy(w);
 *
 * The writer does not check the graph (tests use it to build bad models);
 * the loader does. Calls after an allocation failure do nothing and the
 * failure is reported by finish/save.
 */
#ifndef KH_ONNX_MODEL_WRITER_H
#define KH_ONNX_MODEL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "onnx/onnx.h"

typedef struct onnx_model_writer onnx_model_writer;

/* A model with ir_version 8, producer "khappy", one default-domain opset
 * import of version `opset` and a graph named graph_name. *out owns the
 * writer (free with onnx_model_writer_destroy). */
int onnx_model_writer_create(const char *graph_name, int64_t opset,
                             onnx_model_writer **out, kh_error *err);
void onnx_model_writer_destroy(onnx_model_writer *w); /* NULL is a no-op */

void onnx_model_writer_set_ir_version(onnx_model_writer *w, int64_t ir);
void onnx_model_writer_set_producer(onnx_model_writer *w, const char *name,
                                    const char *version);
/* Adds another opset import (domain "" is the default domain). */
void onnx_model_writer_add_opset(onnx_model_writer *w, const char *domain,
                                 int64_t version);

/* Graph inputs and outputs. rank -1 writes no shape. A dim < 0 is written as
 * dim_param dim_names[i] (or no value when dim_names or dim_names[i] is
 * NULL); dim_names may be NULL. */
void onnx_model_writer_add_input(onnx_model_writer *w, const char *name,
                                 onnx_dtype dtype, int rank,
                                 const int64_t *dims,
                                 const char *const *dim_names);
void onnx_model_writer_add_output(onnx_model_writer *w, const char *name,
                                  onnx_dtype dtype, int rank,
                                  const int64_t *dims,
                                  const char *const *dim_names);

/* Initializers, stored as raw_data (little-endian). data holds the product
 * of dims elements of dtype, in host order. */
void onnx_model_writer_add_initializer(onnx_model_writer *w, const char *name,
                                       int rank, const int64_t *dims,
                                       const float *data);
void onnx_model_writer_add_initializer_typed(onnx_model_writer *w,
                                             const char *name,
                                             onnx_dtype dtype, int rank,
                                             const int64_t *dims,
                                             const void *data);

/* Appends a node; the attr_* calls that follow attach to it. An input name
 * "" marks a left-out optional input. name may be NULL (no name written). */
void onnx_model_writer_add_node(onnx_model_writer *w, const char *op_type,
                                const char *name, const char *const *inputs,
                                size_t n_inputs, const char *const *outputs,
                                size_t n_outputs);
/* Sets the current node's domain (default: none written). */
void onnx_model_writer_node_domain(onnx_model_writer *w, const char *domain);
void onnx_model_writer_attr_int(onnx_model_writer *w, const char *name,
                                int64_t v);
void onnx_model_writer_attr_ints(onnx_model_writer *w, const char *name,
                                 const int64_t *v, size_t n);
void onnx_model_writer_attr_float(onnx_model_writer *w, const char *name,
                                  float v);
void onnx_model_writer_attr_floats(onnx_model_writer *w, const char *name,
                                   const float *v, size_t n);
void onnx_model_writer_attr_string(onnx_model_writer *w, const char *name,
                                   const char *s);
/* A tensor attribute (Constant's `value`). */
void onnx_model_writer_attr_tensor(onnx_model_writer *w, const char *name,
                                   onnx_dtype dtype, int rank,
                                   const int64_t *dims, const void *data);

/* Serialises the model. On success *buf is malloc'd (caller frees) and *len
 * its size. The writer stays usable (finish may be called again). */
int onnx_model_writer_finish(onnx_model_writer *w, uint8_t **buf,
                             size_t *len, kh_error *err);
/* finish + write to path (replaced). */
int onnx_model_writer_save(onnx_model_writer *w, const char *path,
                           kh_error *err);

#endif
