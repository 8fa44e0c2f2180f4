/* axes.h - reading and normalising axes and other small integer lists that
 * ONNX passes either as attributes (older opsets) or as inputs (newer).
 */
#ifndef KH_ONNX_KERNELS_AXES_H
#define KH_ONNX_KERNELS_AXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx/op.h"

/* Maps axis in [-rank, rank) to [0, rank); KH_ERANGE naming `what` (e.g.
 * "axis") otherwise. */
int onnx_axis_normalize(int64_t axis, int rank, const char *what, int64_t *out,
                        kh_error *err);

/* Normalises n axes in place against rank and marks them in mask (rank
 * entries, cleared first). KH_ERANGE for an axis out of range, KH_EINVAL for
 * a repeated axis. */
int onnx_axes_normalize(int64_t *axes, size_t n, int rank, bool *mask,
                        kh_error *err);

/* When a value is read: while planning (reshape) only values the engine
 * marks known may be read (onnx_tensor_value_known), else KH_EDYNAMIC asks it
 * to plan the node at run time; while running every input value exists. */
typedef enum onnx_read_when { ONNX_AT_PLAN, ONNX_AT_RUN } onnx_read_when;

/* Values of integer tensor t (rank 0 or 1, int32/int64/...) into out (at
 * most cap). KH_EDYNAMIC when t's value is not known yet (reshape asks the
 * engine to plan at run time), KH_ELIMIT when t has more than cap elements,
 * KH_ETYPE when t is not an integer tensor. `what` names t in messages. */
int onnx_read_ints(const onnx_tensor *t, const char *what, onnx_read_when when,
                   int64_t *out, size_t cap, size_t *count, kh_error *err);

/* An integer list that is an attribute before some opset and an input from
 * it on: reads input `input_index` when present, else attribute `attr`.
 * *present says whether either was given. */
int onnx_ints_from_input_or_attr(const onnx_node *n, size_t input_index,
                                 const char *attr, onnx_read_when when,
                                 int64_t *out, size_t cap, size_t *count,
                                 bool *present, kh_error *err);

/* A scalar (one element) of any numeric tensor as double / int64. KH_EDYNAMIC
 * when not known, KH_ESHAPE when t has not exactly one element. */
int onnx_read_scalar_f64(const onnx_tensor *t, const char *what,
                         onnx_read_when when, double *out, kh_error *err);
int onnx_read_scalar_i64(const onnx_tensor *t, const char *what,
                         onnx_read_when when, int64_t *out, kh_error *err);

/* True for the element types the engine holds. */
bool onnx_dtype_is_integer(onnx_dtype t); /* int8/16/32/64, uint8.., not bool */
bool onnx_dtype_is_supported(onnx_dtype t); /* onnx_dtype_size(t) != 0 */

/* Product of dims[begin..end). */
size_t onnx_dims_product(const int64_t *dims, int begin, int end);

#endif
