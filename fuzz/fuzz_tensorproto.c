/* libFuzzer target: the TensorProto (.pb) reader. */
#include <stdint.h>
#include <stdlib.h>

#include "onnx/tensor_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    onnx_tensor_view t;
    char *name;
    kh_error err;
    if (onnx_tensorproto_read_buffer(data, size, &t, &name, &err) == KH_OK) {
        /* Touch every byte the reader claims to own. */
        size_t n = onnx_dtype_size(t.dtype);
        for (int i = 0; i < t.rank; i++)
            n *= (size_t)t.dims[i];
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < n; i++)
            sink ^= ((const uint8_t *)t.data)[i];
        (void)sink;
        free(t.data);
        free(name);
    }
    return 0;
}
