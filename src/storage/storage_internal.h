/* storage_internal.h - helpers shared by the storage module's files; not a
 * public surface. */
#ifndef KH_STORAGE_INTERNAL_H
#define KH_STORAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Writes the 2*n lowercase hex characters of bytes[0..n) and a NUL into out
 * (which holds at least 2*n+1). */
void kh__hex_encode(const void *bytes, size_t n, char *out);

/* Writes 2*n_bytes lowercase hex characters of kernel randomness and a NUL
 * into out (which holds at least 2*n_bytes+1). */
int kh__random_hex(char *out, size_t n_bytes, kh_error *err);

/* Milliseconds since the Unix epoch (wall clock). */
int64_t kh__now_ms(void);

#endif
