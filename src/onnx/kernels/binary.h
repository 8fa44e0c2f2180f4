/* binary.h - one implementation of every binary elementwise operator
 * (arithmetic, comparison, logic, PRelu, BitShift) with numpy broadcasting.
 *
 * Each kind has one row kernel per element type, chosen once per run from a
 * table; a row kernel specialises its loop on the operands' row strides
 * (both contiguous, one scalar, or general), so there is no per-element
 * dispatch. An operator file is one line:
 *     ONNX_BINARY_OPERATOR(Add, 7, ONNX_BINARY_ADD)
 */
#ifndef KH_ONNX_KERNELS_BINARY_H
#define KH_ONNX_KERNELS_BINARY_H

#include "onnx/op.h"

typedef enum onnx_binary_kind {
    ONNX_BINARY_ADD,
    ONNX_BINARY_SUB,
    ONNX_BINARY_MUL,
    ONNX_BINARY_DIV,  /* integers: truncating; x/0 is 0 */
    ONNX_BINARY_POW,  /* exponent may have another type */
    ONNX_BINARY_MOD,  /* sign of the divisor (Python); x mod 0 is 0 */
    ONNX_BINARY_FMOD, /* sign of the dividend (C fmod) */
    ONNX_BINARY_MIN,
    ONNX_BINARY_MAX,
    ONNX_BINARY_EQUAL, /* comparisons produce bool */
    ONNX_BINARY_LESS,
    ONNX_BINARY_LESS_EQUAL,
    ONNX_BINARY_GREATER,
    ONNX_BINARY_GREATER_EQUAL,
    ONNX_BINARY_AND, /* bool only */
    ONNX_BINARY_OR,
    ONNX_BINARY_XOR,
    ONNX_BINARY_PRELU, /* x < 0 ? x * slope : x; slope broadcasts to x */
    ONNX_BINARY_SHIFT_LEFT,
    ONNX_BINARY_SHIFT_RIGHT,
    ONNX_BINARY_COUNT
} onnx_binary_kind;

/* Output dtype of kind for inputs of dtype t. */
onnx_dtype onnx_binary_out_dtype(onnx_binary_kind kind, onnx_dtype t);

/* Checks dtypes (KH_ETYPE when they differ, KH_EUNSUPPORTED naming the type
 * when kind has no kernel for it) and sets output 0 to the broadcast shape. */
int onnx_binary_reshape(onnx_node *n, onnx_binary_kind kind, kh_error *err);
int onnx_binary_run(onnx_node *n, const onnx_exec *ex, onnx_binary_kind kind,
                    kh_error *err);

/* out = a (kind) b, broadcasting a and b to out's shape (already set, data
 * allocated). out may be a itself (variadic ops fold into their output). */
int onnx_binary_apply(const onnx_exec *ex, onnx_binary_kind kind,
                      onnx_tensor *out, const onnx_tensor *a,
                      const onnx_tensor *b, kh_error *err);

/* Whether kind has a kernel for dtype t. */
bool onnx_binary_supports(onnx_binary_kind kind, onnx_dtype t);

/* Variadic Sum / Mean / Min / Max: all inputs broadcast together; the
 * output is folded pairwise in place (Mean then scales by 1/n). */
int onnx_variadic_reshape(onnx_node *n, onnx_binary_kind kind, kh_error *err);
int onnx_variadic_run(onnx_node *n, const onnx_exec *ex, onnx_binary_kind kind,
                      bool mean, kh_error *err);

#define ONNX_BINARY_OPERATOR(Name, min, kind)                                  \
    static int Name##_reshape(onnx_node *n, kh_error *err) {                   \
        return onnx_binary_reshape(n, kind, err);                              \
    }                                                                          \
    static int Name##_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {  \
        return onnx_binary_run(n, ex, kind, err);                              \
    }                                                                          \
    const onnx_operator onnx_op_##Name = {                                     \
        .op_type = #Name,                                                      \
        .min_opset = min,                                                      \
        .reshape = Name##_reshape,                                             \
        .run = Name##_run,                                                     \
    };

#endif
