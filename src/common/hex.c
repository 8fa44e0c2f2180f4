/* hex.c - see hex.h. */
#include "common/hex.h"

#include <stdint.h>

void kh_hex_encode(const void *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}
