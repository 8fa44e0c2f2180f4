/* libFuzzer target: picture decoding (JPEG via libjpeg-turbo, PNG via
 * libpng, EXIF orientation), the first thing khappy does with bytes from
 * outside. Run: build-fuzz/fuzz/fuzz_picture -max_total_time=60 SEEDS/ */
#include <stdint.h>
#include <stdlib.h>

#include "vision/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The input's length picks the options, so every path is reachable:
     * RGB or gray output, DCT scaling or not. A small pixel limit keeps
     * each run fast; the limit itself is under test too. */
    kh_decode_options opts = {.channels = size & 1 ? 1 : 3,
                              .max_pixels = 1u << 20,
                              .min_side_hint = size & 2 ? 16 : 0};
    kh_image img;
    float scale;
    int w, h;
    kh_error err;
    if (kh_image_decode(data, size, "fuzz", &opts, &img, &scale, &w, &h,
                        &err) == KH_OK) {
        /* Touch every pixel the decoder claims to have written. */
        volatile uint8_t sink = 0;
        size_t n = (size_t)img.width * img.height * img.channels;
        for (size_t i = 0; i < n; i++)
            sink ^= img.pixels[i];
        (void)sink;
        kh_image_free(&img);
    }
    (void)kh_exif_orientation(data, size);
    return 0;
}
