/* base64.h - Base64 (RFC 4648 section 4, the standard alphabet with '+' and
 * '/'), as CloudEvents' data_base64 and Knative's error data use it. */
#ifndef KH_COMMON_BASE64_H
#define KH_COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd, NUL-terminated, padded encoding of data[0..len) that
 * the caller frees; NULL when out of memory or len is too large to
 * encode. */
char *kh_base64_encode(const uint8_t *data, size_t len);

/* Decodes text[0..len). Accepts missing padding; refuses any character
 * outside the alphabet, padding anywhere but at the end, more than two '='
 * and a lone final character. On success *out is malloc'd (never NULL, even
 * for empty input; the caller frees it) and *out_len its size. False when
 * the text is not Base64 or memory ran out; *out is then untouched. */
bool kh_base64_decode(const char *text, size_t len, uint8_t **out,
                      size_t *out_len);

#endif
