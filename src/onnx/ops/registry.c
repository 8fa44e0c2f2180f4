#include <string.h>

#include "onnx/op.h"

#define X(name) extern const onnx_operator onnx_op_##name;
#include "onnx/ops/registry.def"
#undef X

static const onnx_operator *const operators[] = {
#define X(name) &onnx_op_##name,
#include "onnx/ops/registry.def"
#undef X
};

const onnx_operator *onnx_operator_find(const char *domain,
                                        const char *op_type) {
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof operators / sizeof operators[0]; i++)
        if (strcmp(operators[i]->op_type, op_type) == 0)
            return operators[i];
    return NULL;
}

size_t onnx_operator_count(void) {
    return sizeof operators / sizeof operators[0];
}

const onnx_operator *onnx_operator_at(size_t i) {
    return i < onnx_operator_count() ? operators[i] : NULL;
}
