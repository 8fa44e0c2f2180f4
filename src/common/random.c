/* random.c - see random.h. */
#include "common/random.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "common/hex.h"

int kh_random_bytes(void *out, size_t n, kh_error *err) {
    uint8_t *p = out;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return kh_error_set(err, KH_EIO, "getrandom: %s", strerror(errno));
        }
        got += (size_t)r;
    }
    return KH_OK;
}

int kh_random_hex(char *out, size_t n_bytes, kh_error *err) {
    /* In chunks, so any length works without a heap buffer. */
    uint8_t raw[32];
    size_t done = 0;
    while (done < n_bytes) {
        size_t chunk = n_bytes - done < sizeof raw ? n_bytes - done
                                                   : sizeof raw;
        int rc = kh_random_bytes(raw, chunk, err);
        if (rc != KH_OK)
            return rc;
        kh_hex_encode(raw, chunk, out + 2 * done);
        done += chunk;
    }
    out[2 * n_bytes] = '\0';
    return KH_OK;
}
