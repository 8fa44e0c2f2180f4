/* cast.h - element type conversion between the types the engine holds
 * (float, int32, int64, uint8, int8, bool). Float to integer truncates
 * toward zero; out-of-range values and NaN are defined (saturated to int64,
 * then wrapped to the narrower type; NaN gives 0), never undefined
 * behaviour. Anything to bool is (x != 0).
 */
#ifndef KH_ONNX_KERNELS_CAST_H
#define KH_ONNX_KERNELS_CAST_H

#include "onnx/op.h"

/* Whether onnx_cast converts from/to t. */
bool onnx_cast_supports(onnx_dtype t);

/* Converts n elements; returns KH_EUNSUPPORTED naming the type otherwise. */
int onnx_cast(const onnx_exec *ex, void *dst, onnx_dtype to, const void *src,
              onnx_dtype from, size_t n, kh_error *err);

#endif
