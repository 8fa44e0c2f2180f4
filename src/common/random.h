/* random.h - kernel randomness for ids (picture ids, blob names, temporary
 * file names). Straight from getrandom(2) on every call: callers that need
 * many small draws and must never fail (span ids) buffer on top of this
 * (src/obs). Safe from any thread.
 */
#ifndef KH_COMMON_RANDOM_H
#define KH_COMMON_RANDOM_H

#include <stddef.h>

#include "common/error.h"

/* Fills out[0..n) from the kernel's generator. KH_EIO ("getrandom: <why>")
 * when it cannot; out is then partly written. */
int kh_random_bytes(void *out, size_t n, kh_error *err);

/* Writes 2*n_bytes lower-case hex digits of kernel randomness and a NUL
 * into out, which holds at least 2*n_bytes+1 characters. Errors as
 * kh_random_bytes. */
int kh_random_hex(char *out, size_t n_bytes, kh_error *err);

#endif
