/* libFuzzer target: the ONNX model loader (decode, check, bind, plan at
 * load), then one run on zero inputs when the model loads. Any crash,
 * sanitizer report, leak or timeout is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"

/* Keeps each input cheap: models may declare large shapes. */
#define FUZZ_MEMORY_LIMIT ((size_t)16 << 20)
#define FUZZ_MAX_INPUT_ELEMENTS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    onnx_model *m;
    kh_error err;
    onnx_load_options opts = {.threads = 1,
                              .max_memory_bytes = FUZZ_MEMORY_LIMIT};
    if (onnx_model_load_buffer(data, size, &opts, &m, &err) != KH_OK)
        return 0;
    size_t n_in = onnx_model_input_count(m), n_out = onnx_model_output_count(m);
    onnx_tensor_view *in = calloc(n_in + 1, sizeof *in);
    onnx_tensor_view *out = calloc(n_out + 1, sizeof *out);
    bool runnable = in && out;
    for (size_t i = 0; runnable && i < n_in; i++) {
        onnx_value_info vi;
        onnx_model_input_info(m, i, &vi);
        size_t numel = 1;
        in[i].dtype = vi.dtype;
        in[i].rank = vi.rank < 0 ? 1 : vi.rank;
        for (int d = 0; d < in[i].rank; d++) {
            in[i].dims[d] = vi.rank < 0 || vi.dims[d] < 0 ? 1 : vi.dims[d];
            if (in[i].dims[d] > FUZZ_MAX_INPUT_ELEMENTS)
                runnable = false;
            else
                numel *= (size_t)in[i].dims[d];
        }
        size_t esize = onnx_dtype_size(vi.dtype);
        if (!runnable || numel > FUZZ_MAX_INPUT_ELEMENTS || !esize) {
            runnable = false;
            break;
        }
        in[i].data = calloc(numel + 1, esize);
        if (!in[i].data)
            runnable = false;
    }
    if (runnable)
        onnx_model_run(m, in, n_in, out, n_out, &err);
    for (size_t i = 0; in && i < n_in; i++)
        free(in[i].data);
    free(in);
    free(out);
    onnx_model_destroy(m);
    return 0;
}
