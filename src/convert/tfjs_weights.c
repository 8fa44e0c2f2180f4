/* tfjs_weights.c - TensorFlow.js weights manifest + shards -> float tensors. */
#include "convert/tfjs_weights.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"

#define TFJS_MAX_MANIFEST_BYTES ((size_t)16 << 20)
#define TFJS_MAX_SHARDS_PER_GROUP 1024

struct tfjs_weights {
    tfjs_weight *items;
    size_t count, cap;
};

enum storage {
    STORAGE_FLOAT32,
    STORAGE_UINT8,
    STORAGE_UINT16,
    STORAGE_FLOAT16,
};

static size_t storage_bytes(enum storage s) {
    switch (s) {
    case STORAGE_FLOAT32: return 4;
    case STORAGE_UINT8: return 1;
    case STORAGE_UINT16: return 2;
    case STORAGE_FLOAT16: return 2;
    }
    return 0;
}

float tfjs_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) { /* inf / nan */
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal half: normalise into a float */
        int shift = 0;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            shift++;
        }
        mantissa &= 0x3ffu;
        uint32_t exp32 = (uint32_t)(127 - 15 + 1 - shift);
        bits = sign | (exp32 << 23) | (mantissa << 13);
    }
    union { uint32_t u; float f; } c = {bits};
    return c.f;
}

void tfjs_weights_destroy(tfjs_weights *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free((char *)w->items[i].name);
        free((float *)w->items[i].values);
    }
    free(w->items);
    free(w);
}

size_t tfjs_weights_count(const tfjs_weights *w) { return w ? w->count : 0; }

const tfjs_weight *tfjs_weights_at(const tfjs_weights *w, size_t i) {
    return w && i < w->count ? &w->items[i] : NULL;
}

const tfjs_weight *tfjs_weights_find(const tfjs_weights *w, const char *name) {
    if (!w || !name)
        return NULL;
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return &w->items[i];
    return NULL;
}

static void shape_text(char *buf, size_t len, int rank, const int64_t *dims) {
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld",
                                 i ? "," : "", (long long)dims[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

int tfjs_weights_expect(const tfjs_weights *w, const char *name, int rank,
                        const int64_t *dims, const tfjs_weight **weight,
                        kh_error *err) {
    *weight = NULL;
    const tfjs_weight *found = tfjs_weights_find(w, name);
    if (!found)
        return kh_error_set(err, KH_ENOTFOUND,
                            "weight '%s' is missing from the manifest", name);
    bool same = found->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = found->dims[i] == dims[i];
    if (!same) {
        char want[128], have[128];
        shape_text(want, sizeof want, rank, dims);
        shape_text(have, sizeof have, found->rank, found->dims);
        return kh_error_set(err, KH_ESHAPE,
                            "weight '%s': expected shape %s, manifest has %s",
                            name, want, have);
    }
    *weight = found;
    return KH_OK;
}

/* One weight spec, validated, before its bytes are decoded. */
typedef struct weight_spec {
    const char *name;
    int rank;
    int64_t dims[TFJS_MAX_RANK];
    size_t count;
    enum storage storage;
    double scale, min; /* uint8 / uint16 */
    size_t byte_length;
} weight_spec;

static int parse_spec(json_t *spec, size_t group, size_t index,
                      weight_spec *out, kh_error *err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(spec))
        return kh_error_set(err, KH_EFORMAT,
                            "group %zu weight %zu: not a JSON object", group,
                            index);
    json_t *name = json_object_get(spec, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > TFJS_MAX_NAME ||
        strlen(json_string_value(name)) != json_string_length(name))
        return kh_error_set(err, KH_EFORMAT,
                            "group %zu weight %zu: 'name' must be a string of "
                            "1..%d characters",
                            group, index, TFJS_MAX_NAME);
    out->name = json_string_value(name);

    json_t *shape = json_object_get(spec, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > TFJS_MAX_RANK)
        return kh_error_set(err, KH_EFORMAT,
                            "weight '%s': 'shape' must be an array of at most "
                            "%d dimensions",
                            out->name, TFJS_MAX_RANK);
    out->rank = (int)json_array_size(shape);
    size_t count = 1;
    for (int i = 0; i < out->rank; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > INT32_MAX)
            return kh_error_set(err, KH_EFORMAT,
                                "weight '%s': dimension %d is not an integer "
                                "in 0..%d",
                                out->name, i, INT32_MAX);
        out->dims[i] = json_integer_value(d);
        size_t dim = (size_t)out->dims[i];
        if (dim != 0 && count > SIZE_MAX / 4 / dim)
            return kh_error_set(err, KH_ELIMIT,
                                "weight '%s': shape is too large", out->name);
        count *= dim;
    }
    out->count = count;

    json_t *dtype = json_object_get(spec, "dtype");
    if (!json_is_string(dtype) ||
        strcmp(json_string_value(dtype), "float32") != 0)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "weight '%s': dtype %s%s%s is not supported "
                            "(only float32)",
                            out->name, json_is_string(dtype) ? "'" : "",
                            json_is_string(dtype) ? json_string_value(dtype)
                                                  : "(missing)",
                            json_is_string(dtype) ? "'" : "");

    json_t *quant = json_object_get(spec, "quantization");
    if (!quant || json_is_null(quant)) {
        out->storage = STORAGE_FLOAT32;
    } else {
        json_t *qtype = json_is_object(quant) ? json_object_get(quant, "dtype")
                                              : NULL;
        const char *q = json_is_string(qtype) ? json_string_value(qtype) : "";
        if (strcmp(q, "uint8") == 0)
            out->storage = STORAGE_UINT8;
        else if (strcmp(q, "uint16") == 0)
            out->storage = STORAGE_UINT16;
        else if (strcmp(q, "float16") == 0)
            out->storage = STORAGE_FLOAT16;
        else
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "weight '%s': quantization dtype '%s' is not "
                                "supported (uint8, uint16, float16)",
                                out->name, q);
        if (out->storage != STORAGE_FLOAT16) {
            json_t *scale = json_object_get(quant, "scale");
            json_t *min = json_object_get(quant, "min");
            if (!json_is_number(scale) || !json_is_number(min))
                return kh_error_set(err, KH_EFORMAT,
                                    "weight '%s': %s quantization needs "
                                    "numbers 'scale' and 'min'",
                                    out->name, q);
            out->scale = json_number_value(scale);
            out->min = json_number_value(min);
        }
    }
    out->byte_length = count * storage_bytes(out->storage);
    return KH_OK;
}

static int append_weight(tfjs_weights *w, const weight_spec *spec,
                         const uint8_t *bytes, kh_error *err) {
    if (tfjs_weights_find(w, spec->name))
        return kh_error_set(err, KH_EFORMAT,
                            "weight '%s' appears twice in the manifest",
                            spec->name);
    if (w->count >= TFJS_MAX_WEIGHTS)
        return kh_error_set(err, KH_ELIMIT,
                            "more than %d weights in the manifest",
                            TFJS_MAX_WEIGHTS);
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        tfjs_weight *items = realloc(w->items, cap * sizeof *items);
        if (!items)
            return kh_error_set(err, KH_ENOMEM, "out of memory for weights");
        w->items = items;
        w->cap = cap;
    }
    char *name = strdup(spec->name);
    float *values = malloc(spec->count ? spec->count * sizeof(float) : 1);
    if (!name || !values) {
        free(name);
        free(values);
        return kh_error_set(err, KH_ENOMEM, "out of memory for weight '%s'",
                            spec->name);
    }
    for (size_t i = 0; i < spec->count; i++) {
        switch (spec->storage) {
        case STORAGE_FLOAT32: {
            union { uint32_t u; float f; } c = {
                (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
                (uint32_t)bytes[4 * i + 2] << 16 |
                (uint32_t)bytes[4 * i + 3] << 24};
            values[i] = c.f;
            break;
        }
        case STORAGE_UINT8:
            /* TensorFlow.js computes this in double and stores a float. */
            values[i] = (float)((double)bytes[i] * spec->scale + spec->min);
            break;
        case STORAGE_UINT16: {
            uint16_t q = (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
            values[i] = (float)((double)q * spec->scale + spec->min);
            break;
        }
        case STORAGE_FLOAT16:
            values[i] = tfjs_half_to_float(
                (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8));
            break;
        }
    }
    tfjs_weight *item = &w->items[w->count++];
    memset(item, 0, sizeof *item);
    item->name = name;
    item->rank = spec->rank;
    memcpy(item->dims, spec->dims, sizeof item->dims);
    item->count = spec->count;
    item->values = values;
    return KH_OK;
}

static bool safe_shard_name(const char *p) {
    return p[0] != '\0' && strchr(p, '/') == NULL && strcmp(p, ".") != 0 &&
           strcmp(p, "..") != 0;
}

/* Concatenates a group's shards into one buffer (*bytes, caller frees). */
static int read_group(json_t *paths, size_t group, tfjs_shard_reader read_shard,
                      void *user, uint8_t **bytes, size_t *len,
                      kh_error *err) {
    *bytes = NULL;
    *len = 0;
    if (!json_is_array(paths) || json_array_size(paths) == 0 ||
        json_array_size(paths) > TFJS_MAX_SHARDS_PER_GROUP)
        return kh_error_set(err, KH_EFORMAT,
                            "group %zu: 'paths' must be an array of 1..%d "
                            "file names",
                            group, TFJS_MAX_SHARDS_PER_GROUP);
    uint8_t *all = NULL;
    size_t all_len = 0;
    for (size_t i = 0; i < json_array_size(paths); i++) {
        json_t *p = json_array_get(paths, i);
        if (!json_is_string(p) ||
            strlen(json_string_value(p)) != json_string_length(p) ||
            !safe_shard_name(json_string_value(p))) {
            free(all);
            return kh_error_set(err, KH_EFORMAT,
                                "group %zu path %zu: must be a plain file name "
                                "next to the manifest",
                                group, i);
        }
        uint8_t *data = NULL;
        size_t data_len = 0;
        int rc = read_shard(user, json_string_value(p), &data, &data_len, err);
        if (rc) {
            free(all);
            return rc;
        }
        if (data_len > TFJS_MAX_SHARD_BYTES ||
            all_len > TFJS_MAX_SHARD_BYTES * 4 - data_len) {
            free(data);
            free(all);
            return kh_error_set(err, KH_ELIMIT,
                                "group %zu: shard '%s' makes the group larger "
                                "than the limit",
                                group, json_string_value(p));
        }
        uint8_t *grown = realloc(all, all_len + data_len + 1);
        if (!grown) {
            free(data);
            free(all);
            return kh_error_set(err, KH_ENOMEM, "out of memory for shards");
        }
        all = grown;
        if (data_len)
            memcpy(all + all_len, data, data_len);
        all_len += data_len;
        free(data);
    }
    *bytes = all;
    *len = all_len;
    return KH_OK;
}

static int parse_group(json_t *group_json, size_t group,
                       tfjs_shard_reader read_shard, void *user,
                       tfjs_weights *w, kh_error *err) {
    if (!json_is_object(group_json))
        return kh_error_set(err, KH_EFORMAT, "group %zu: not a JSON object",
                            group);
    json_t *specs = json_object_get(group_json, "weights");
    if (!json_is_array(specs))
        return kh_error_set(err, KH_EFORMAT,
                            "group %zu: 'weights' must be an array", group);
    uint8_t *bytes;
    size_t len;
    int rc = read_group(json_object_get(group_json, "paths"), group,
                        read_shard, user, &bytes, &len, err);
    if (rc)
        return rc;
    size_t offset = 0;
    for (size_t i = 0; i < json_array_size(specs); i++) {
        weight_spec spec;
        rc = parse_spec(json_array_get(specs, i), group, i, &spec, err);
        if (rc)
            break;
        if (spec.byte_length > len - offset) {
            rc = kh_error_set(err, KH_EFORMAT,
                              "weight '%s': needs bytes %zu..%zu of group %zu "
                              "but its shards hold only %zu bytes",
                              spec.name, offset, offset + spec.byte_length,
                              group, len);
            break;
        }
        rc = append_weight(w, &spec, bytes + offset, err);
        if (rc)
            break;
        offset += spec.byte_length;
    }
    if (!rc && offset != len)
        rc = kh_error_set(err, KH_EFORMAT,
                          "group %zu: weights use %zu bytes but its shards "
                          "hold %zu (manifest and shards do not match)",
                          group, offset, len);
    free(bytes);
    return rc;
}

int tfjs_weights_parse(const char *json, size_t json_len,
                       tfjs_shard_reader read_shard, void *user,
                       tfjs_weights **out, kh_error *err) {
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kh_error_set(err, KH_EFORMAT,
                            "manifest is not valid JSON: %s (line %d, "
                            "column %d)",
                            jerr.text, jerr.line, jerr.column);
    int rc = KH_OK;
    tfjs_weights *w = calloc(1, sizeof *w);
    if (!w) {
        rc = kh_error_set(err, KH_ENOMEM, "out of memory for weights");
        goto done;
    }
    if (!json_is_array(root) || json_array_size(root) == 0) {
        rc = kh_error_set(err, KH_EFORMAT,
                          "manifest must be a non-empty JSON array of groups");
        goto done;
    }
    for (size_t g = 0; g < json_array_size(root) && !rc; g++)
        rc = parse_group(json_array_get(root, g), g, read_shard, user, w, err);
done:
    json_decref(root);
    if (rc) {
        tfjs_weights_destroy(w);
        return rc;
    }
    *out = w;
    return KH_OK;
}

typedef struct shard_dir {
    const char *dir; /* "" for the current folder */
} shard_dir;

static int read_shard_file(void *user, const char *path, uint8_t **data,
                           size_t *len, kh_error *err) {
    const shard_dir *sd = user;
    size_t need = strlen(sd->dir) + 1 + strlen(path) + 1;
    char *full = malloc(need);
    if (!full)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    snprintf(full, need, "%s%s%s", sd->dir, sd->dir[0] ? "/" : "", path);
    int rc = kh_file_read(full, TFJS_MAX_SHARD_BYTES, data, len, err);
    free(full);
    return rc;
}

int tfjs_weights_load(const char *manifest_path, tfjs_weights **out,
                      kh_error *err) {
    *out = NULL;
    uint8_t *json = NULL;
    size_t json_len = 0;
    int rc = kh_file_read(manifest_path, TFJS_MAX_MANIFEST_BYTES, &json,
                          &json_len, err);
    if (rc)
        return rc;
    char *dir = strdup(manifest_path);
    if (!dir) {
        free(json);
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0'; /* "/x.json": shards in "/" */
    else if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    shard_dir sd = {dir};
    rc = tfjs_weights_parse((const char *)json, json_len, read_shard_file, &sd,
                            out, err);
    if (rc)
        kh_error_prefix(err, "%s", manifest_path);
    free(dir);
    free(json);
    return rc;
}
