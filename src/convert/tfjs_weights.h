/* tfjs_weights.h - reads a TensorFlow.js weights manifest and its binary
 * shards into named float32 tensors (dequantised), as face-api ships them.
 *
 * The manifest (`*-weights_manifest.json`) is a JSON array of groups; each
 * group lists shard files ("paths", concatenated in order) and weight specs
 * ("weights": name, shape, dtype, optional quantization) laid out back to back
 * in those bytes. Everything is treated as hostile: names must be unique,
 * shapes small and non-negative, shard paths plain file names next to the
 * manifest, and the specs must account for every byte of their group.
 *
 * Dequantisation reproduces TensorFlow.js: uint8/uint16 values become
 * (float)(q * scale + min) computed in double, float16 is widened exactly,
 * float32 is read little-endian.
 */
#ifndef KH_CONVERT_TFJS_WEIGHTS_H
#define KH_CONVERT_TFJS_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define TFJS_MAX_RANK 8
/* Limits for hostile input (the face-api models are far below them). */
#define TFJS_MAX_SHARD_BYTES ((size_t)256 << 20)
#define TFJS_MAX_WEIGHTS 4096
#define TFJS_MAX_NAME 256

typedef struct tfjs_weight {
    const char *name;               /* owned by the tfjs_weights */
    int rank;
    int64_t dims[TFJS_MAX_RANK];    /* TensorFlow layout, e.g. HWIO */
    size_t count;                   /* product of dims */
    const float *values;            /* count floats, owned by tfjs_weights */
} tfjs_weight;

typedef struct tfjs_weights tfjs_weights;

/* Loads one shard named by the manifest. On success *data is a malloc'd
 * buffer the caller frees, *len its size. Returns a kh_status and fills err. */
typedef int (*tfjs_shard_reader)(void *user, const char *path, uint8_t **data,
                                 size_t *len, kh_error *err);

/* Parses a manifest held in memory; shards come from read_shard. On success
 * *out owns everything (free with tfjs_weights_destroy); on failure *out is
 * NULL and err names the weight, group or byte range at fault. */
int tfjs_weights_parse(const char *json, size_t json_len,
                       tfjs_shard_reader read_shard, void *user,
                       tfjs_weights **out, kh_error *err);

/* Reads manifest_path and the shards next to it (shard paths must be plain
 * file names: no '/', no "..", at most TFJS_MAX_SHARD_BYTES each). */
int tfjs_weights_load(const char *manifest_path, tfjs_weights **out,
                      kh_error *err);

void tfjs_weights_destroy(tfjs_weights *w); /* NULL is a no-op */

size_t tfjs_weights_count(const tfjs_weights *w);
/* Weight i in manifest order (i < count), or NULL. Owned by w. */
const tfjs_weight *tfjs_weights_at(const tfjs_weights *w, size_t i);
/* The weight called name, or NULL. Owned by w. */
const tfjs_weight *tfjs_weights_find(const tfjs_weights *w, const char *name);

/* Finds name and checks it has exactly the given shape. On success *weight
 * points into w. KH_ENOTFOUND or KH_ESHAPE (expected and actual shapes in
 * the message) otherwise. */
int tfjs_weights_expect(const tfjs_weights *w, const char *name, int rank,
                        const int64_t *dims, const tfjs_weight **weight,
                        kh_error *err);

/* IEEE 754 binary16 to float (exact; used for float16 quantization). */
float tfjs_half_to_float(uint16_t h);

#endif
