/* base64.c - see base64.h. */
#include "common/base64.h"

#include <stdlib.h>

static const char BASE64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *kh_base64_encode(const uint8_t *data, size_t len) {
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t out_len = (len + 2) / 3 * 4;
    char *out = malloc(out_len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                     data[i + 2];
        out[o++] = BASE64_ALPHABET[v >> 18];
        out[o++] = BASE64_ALPHABET[(v >> 12) & 63];
        out[o++] = BASE64_ALPHABET[(v >> 6) & 63];
        out[o++] = BASE64_ALPHABET[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = BASE64_ALPHABET[v >> 18];
        out[o++] = BASE64_ALPHABET[(v >> 12) & 63];
        out[o++] = i + 1 < len ? BASE64_ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool kh_base64_decode(const char *text, size_t len, uint8_t **out,
                      size_t *out_len) {
    /* Padding only at the end, at most two, and only to complete a quad. */
    size_t padding = 0;
    while (len > 0 && text[len - 1] == '=' && padding < 2) {
        len--;
        padding++;
    }
    if (padding > 0 && (len + padding) % 4 != 0)
        return false;
    if (len % 4 == 1)
        return false;
    uint8_t *bytes = malloc(len / 4 * 3 + 3);
    if (!bytes)
        return false;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0) {
            free(bytes);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out = bytes;
    *out_len = n;
    return true;
}
