/* libFuzzer target: the pico cascade reader, then a scan of a small
 * picture with whatever cascade it accepted (the scanner must keep every
 * read inside the picture whatever the codes say).
 * Run: build-fuzz/fuzz/fuzz_pico_cascade -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vision/pico.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kh_pico_cascade *cascade;
    kh_error err;
    if (kh_pico_cascade_parse(data, size, "fuzz", &cascade, &err) != KH_OK)
        return 0;
    uint8_t pixels[48 * 32];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 37 + (i >> 5) * 11);
    kh_image gray = {48, 32, 1, pixels};
    kh_pico_scan_params params = {.min_size = 4, .max_size = 32,
                                  .scale_factor = 1.5f, .shift_factor = 0.2f,
                                  .max_windows = 1000};
    kh_pico_window *windows;
    size_t n;
    if (kh_pico_scan(cascade, &gray, &params, &windows, &n, &err) == KH_OK) {
        kh_pico_window *clusters = malloc(sizeof *clusters * (n ? n : 1));
        uint32_t *scratch = malloc(sizeof *scratch * 3 * (n ? n : 1));
        if (clusters && scratch)
            (void)kh_pico_cluster(windows, n, 0.3f, clusters, scratch);
        free(clusters);
        free(scratch);
        free(windows);
    }
    kh_pico_cascade_destroy(cascade);
    return 0;
}
