/* sha256.h - SHA-256 (FIPS 180-4), for ids derived from content and from
 * other ids: deterministic event ids, blob keys of crops and of pictures that
 * arrive inside events, duplicate detection of demo and inbox pictures.
 * Internal to kh_services. */
#ifndef KH_SERVICES_SHA256_H
#define KH_SERVICES_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct kh_sha256 {
    uint32_t state[8];
    uint64_t length;      /* bytes hashed so far */
    uint8_t block[64];
    size_t used;          /* bytes waiting in block */
} kh_sha256;

void kh_sha256_init(kh_sha256 *h);
void kh_sha256_update(kh_sha256 *h, const void *data, size_t len);
void kh_sha256_final(kh_sha256 *h, uint8_t digest[32]);

/* The first hex_chars (even, at most 64) lowercase hex digits of the digest
 * into out (hex_chars + 1 bytes, NUL-terminated). */
void kh_sha256_hex(const uint8_t digest[32], size_t hex_chars, char *out);

#endif
