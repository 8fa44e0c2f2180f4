/* hex.h - lower-case hexadecimal text of bytes (ids, digests, trace ids). */
#ifndef KH_COMMON_HEX_H
#define KH_COMMON_HEX_H

#include <stddef.h>

/* Writes the 2*n lower-case hex digits of bytes[0..n) and a NUL into out,
 * which holds at least 2*n+1 characters. */
void kh_hex_encode(const void *bytes, size_t n, char *out);

#endif
