/* TensorFlow.js weights manifests: decoding as TensorFlow.js does, and every
 * kind of hostile manifest refused with a message naming what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/tfjs_weights.h"

/* Shards served from memory. */
typedef struct shard {
    const char *name;
    const uint8_t *data;
    size_t len;
} shard;

typedef struct shard_set {
    const shard *shards;
    size_t count;
    int reads;
} shard_set;

static int read_memory_shard(void *user, const char *path, uint8_t **data,
                             size_t *len, kh_error *err) {
    shard_set *set = user;
    set->reads++;
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->shards[i].name, path) == 0) {
            *data = malloc(set->shards[i].len + 1);
            assert_non_null(*data);
            memcpy(*data, set->shards[i].data, set->shards[i].len);
            *len = set->shards[i].len;
            return KH_OK;
        }
    return kh_error_set(err, KH_ENOTFOUND, "%s: no such shard", path);
}

static int parse(const char *json, const shard *shards, size_t n_shards,
                 tfjs_weights **out, kh_error *err) {
    shard_set set = {shards, n_shards, 0};
    kh_error_clear(err);
    return tfjs_weights_parse(json, strlen(json), read_memory_shard, &set, out,
                              err);
}

static void put_float(uint8_t *p, float f) {
    union { float f; uint32_t u; } c = {f};
    p[0] = (uint8_t)c.u;
    p[1] = (uint8_t)(c.u >> 8);
    p[2] = (uint8_t)(c.u >> 16);
    p[3] = (uint8_t)(c.u >> 24);
}

static void decodes_float32_and_quantized_weights(void **state) {
    (void)state;
    /* w: float32 [2]; q8: uint8 [2,2]; q16: uint16 [1]; h: float16 [3]. */
    uint8_t bytes[8 + 4 + 2 + 6];
    put_float(bytes, 1.5f);
    put_float(bytes + 4, -0.25f);
    uint8_t q8[4] = {0, 1, 128, 255};
    memcpy(bytes + 8, q8, 4);
    bytes[12] = 0x34;
    bytes[13] = 0x12; /* 0x1234 */
    uint16_t halves[3] = {0x3c00, 0xc000, 0x0001};
    for (int i = 0; i < 3; i++) {
        bytes[14 + 2 * i] = (uint8_t)halves[i];
        bytes[15 + 2 * i] = (uint8_t)(halves[i] >> 8);
    }
    shard shards[] = {{"a.bin", bytes, 10}, {"b.bin", bytes + 10, 10}};
    const char *json =
        "[{\"paths\": [\"a.bin\", \"b.bin\"], \"weights\": ["
        "{\"name\": \"w\", \"shape\": [2], \"dtype\": \"float32\"},"
        "{\"name\": \"q8\", \"shape\": [2, 2], \"dtype\": \"float32\","
        " \"quantization\": {\"dtype\": \"uint8\", \"scale\": "
        "0.009007044399485869, \"min\": -1.2069439495311063}},"
        "{\"name\": \"q16\", \"shape\": [1], \"dtype\": \"float32\","
        " \"quantization\": {\"dtype\": \"uint16\", \"scale\": 0.5, \"min\": "
        "-3}},"
        "{\"name\": \"h\", \"shape\": [3], \"dtype\": \"float32\","
        " \"quantization\": {\"dtype\": \"float16\"}}]}]";
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(parse(json, shards, 2, &w, &err), KH_OK);
    assert_int_equal(tfjs_weights_count(w), 4);

    const tfjs_weight *f = tfjs_weights_find(w, "w");
    assert_non_null(f);
    assert_int_equal(f->count, 2);
    assert_true(f->values[0] == 1.5f && f->values[1] == -0.25f);

    const tfjs_weight *q = tfjs_weights_find(w, "q8");
    assert_int_equal(q->rank, 2);
    for (int i = 0; i < 4; i++) {
        /* TensorFlow.js: q * scale + min in double, stored as float. */
        float want = (float)((double)q8[i] * 0.009007044399485869 +
                             -1.2069439495311063);
        assert_true(q->values[i] == want);
    }
    assert_true(tfjs_weights_find(w, "q16")->values[0] ==
                (float)(0x1234 * 0.5 - 3));
    const tfjs_weight *h = tfjs_weights_find(w, "h");
    assert_true(h->values[0] == 1.0f && h->values[1] == -2.0f);
    assert_true(h->values[2] == ldexpf(1.0f, -24));
    assert_string_equal(tfjs_weights_at(w, 3)->name, "h");
    assert_null(tfjs_weights_at(w, 4));
    assert_null(tfjs_weights_find(w, "nope"));
    tfjs_weights_destroy(w);
    tfjs_weights_destroy(NULL);
}

static void half_floats_widen_exactly(void **state) {
    (void)state;
    assert_true(tfjs_half_to_float(0x0000) == 0.0f);
    assert_true(signbit(tfjs_half_to_float(0x8000)));
    assert_true(tfjs_half_to_float(0x3c00) == 1.0f);
    assert_true(tfjs_half_to_float(0x7bff) == 65504.0f);
    assert_true(tfjs_half_to_float(0x0400) == ldexpf(1.0f, -14));
    assert_true(tfjs_half_to_float(0x03ff) == ldexpf(1023.0f, -24));
    assert_true(isinf(tfjs_half_to_float(0xfc00)) &&
                tfjs_half_to_float(0xfc00) < 0);
    assert_true(isnan(tfjs_half_to_float(0x7e00)));
}

static void several_groups_each_read_their_shards(void **state) {
    (void)state;
    uint8_t one[4], two[1] = {7};
    put_float(one, 2.0f);
    shard shards[] = {{"g0.bin", one, 4}, {"g1.bin", two, 1}};
    const char *json =
        "[{\"paths\": [\"g0.bin\"], \"weights\": [{\"name\": \"a\", "
        "\"shape\": [], \"dtype\": \"float32\"}]},"
        " {\"paths\": [\"g1.bin\"], \"weights\": [{\"name\": \"b\", "
        "\"shape\": [1], \"dtype\": \"float32\", \"quantization\": "
        "{\"dtype\": \"uint8\", \"scale\": 1, \"min\": 0}}]}]";
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(parse(json, shards, 2, &w, &err), KH_OK);
    assert_int_equal(tfjs_weights_find(w, "a")->rank, 0);
    assert_true(tfjs_weights_find(w, "a")->values[0] == 2.0f);
    assert_true(tfjs_weights_find(w, "b")->values[0] == 7.0f);
    tfjs_weights_destroy(w);
}

static void expect_checks_name_and_shape(void **state) {
    (void)state;
    uint8_t bytes[24] = {0};
    shard shards[] = {{"x.bin", bytes, 24}};
    const char *json = "[{\"paths\": [\"x.bin\"], \"weights\": [{\"name\": "
                       "\"conv/filters\", \"shape\": [1, 2, 3], \"dtype\": "
                       "\"float32\", \"quantization\": {\"dtype\": \"uint8\", "
                       "\"scale\": 1, \"min\": 0}}, {\"name\": \"x\", "
                       "\"shape\": [18], \"dtype\": \"float32\", "
                       "\"quantization\": {\"dtype\": \"uint8\", \"scale\": 1,"
                       " \"min\": 0}}]}]";
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(parse(json, shards, 1, &w, &err), KH_OK);
    const tfjs_weight *found;
    int64_t right[3] = {1, 2, 3}, wrong[3] = {1, 3, 2};
    assert_int_equal(
        tfjs_weights_expect(w, "conv/filters", 3, right, &found, &err), KH_OK);
    assert_non_null(found);
    assert_int_equal(
        tfjs_weights_expect(w, "conv/filters", 3, wrong, &found, &err),
        KH_ESHAPE);
    assert_null(found);
    assert_non_null(strstr(err.message, "conv/filters"));
    assert_non_null(strstr(err.message, "[1,3,2]"));
    assert_non_null(strstr(err.message, "[1,2,3]"));
    assert_int_equal(
        tfjs_weights_expect(w, "conv/bias", 1, right, &found, &err),
        KH_ENOTFOUND);
    assert_non_null(strstr(err.message, "conv/bias"));
    tfjs_weights_destroy(w);
}

/* A manifest that must be refused: the status and a piece of the message. */
typedef struct bad_case {
    const char *json;
    int status;
    const char *says;
} bad_case;

static void hostile_manifests_are_refused(void **state) {
    (void)state;
    uint8_t bytes[16] = {0};
    shard shards[] = {{"w.bin", bytes, 16}, {"short.bin", bytes, 3}};
#define SPEC(name, shape) \
    "{\"name\": \"" name "\", \"shape\": " shape ", \"dtype\": \"float32\"}"
    static const bad_case cases[] = {
        {"[{", KH_EFORMAT, "not valid JSON"},
        {"{}", KH_EFORMAT, "non-empty JSON array"},
        {"[]", KH_EFORMAT, "non-empty JSON array"},
        {"[7]", KH_EFORMAT, "group 0: not a JSON object"},
        {"[{\"paths\": [\"w.bin\"]}]", KH_EFORMAT, "'weights' must be"},
        {"[{\"weights\": []}]", KH_EFORMAT, "'paths' must be"},
        {"[{\"paths\": [], \"weights\": []}]", KH_EFORMAT, "'paths' must be"},
        {"[{\"paths\": [\"../w.bin\"], \"weights\": []}]", KH_EFORMAT,
         "plain file name"},
        {"[{\"paths\": [\"/etc/passwd\"], \"weights\": []}]", KH_EFORMAT,
         "plain file name"},
        {"[{\"paths\": [\"..\"], \"weights\": []}]", KH_EFORMAT,
         "plain file name"},
        {"[{\"paths\": [3], \"weights\": []}]", KH_EFORMAT, "plain file name"},
        {"[{\"paths\": [\"missing.bin\"], \"weights\": []}]", KH_ENOTFOUND,
         "missing.bin"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "[5]") "]}]",
         KH_EFORMAT, "needs bytes 0..20 of group 0 but its shards hold only 16"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "[3]") "]}]",
         KH_EFORMAT, "weights use 12 bytes but its shards hold 16"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "[2]") ","
         SPEC("a", "[2]") "]}]",
         KH_EFORMAT, "'a' appears twice"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "[-4]") "]}]",
         KH_EFORMAT, "dimension 0"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "[1.5]") "]}]",
         KH_EFORMAT, "dimension 0"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("a", "4") "]}]",
         KH_EFORMAT, "'shape' must be"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC(
             "a", "[1,1,1,1,1,1,1,1,4]") "]}]",
         KH_EFORMAT, "at most 8"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC(
             "a", "[2147483647,2147483647,2147483647]") "]}]",
         KH_ELIMIT, "too large"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [" SPEC("", "[4]") "]}]",
         KH_EFORMAT, "'name' must be"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"a\", "
         "\"shape\": [4], \"dtype\": \"int32\"}]}]",
         KH_EUNSUPPORTED, "dtype 'int32'"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"a\", "
         "\"shape\": [4]}]}]",
         KH_EUNSUPPORTED, "(missing)"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"a\", "
         "\"shape\": [16], \"dtype\": \"float32\", \"quantization\": "
         "{\"dtype\": \"int4\"}}]}]",
         KH_EUNSUPPORTED, "quantization dtype 'int4'"},
        {"[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"a\", "
         "\"shape\": [16], \"dtype\": \"float32\", \"quantization\": "
         "{\"dtype\": \"uint8\", \"min\": 0}}]}]",
         KH_EFORMAT, "'scale' and 'min'"},
        {"[{\"paths\": [\"w.bin\"], \"paths\": [\"w.bin\"], \"weights\": []}]",
         KH_EFORMAT, "not valid JSON"},
        {"[{\"paths\": [\"short.bin\"], \"weights\": [" SPEC("a", "[1]") "]}]",
         KH_EFORMAT, "needs bytes 0..4 of group 0 but its shards hold only 3"},
    };
#undef SPEC
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tfjs_weights *w = (tfjs_weights *)&w; /* must be reset to NULL */
        kh_error err;
        int rc = parse(cases[i].json, shards, 2, &w, &err);
        if (rc != cases[i].status || !strstr(err.message, cases[i].says)) {
            fail_msg("case %zu %s: expected %s containing \"%s\", got %s: %s",
                     i, cases[i].json, kh_err_name(cases[i].status),
                     cases[i].says, kh_err_name(rc), err.message);
        }
        assert_null(w);
    }
}

static void a_long_weight_name_is_refused(void **state) {
    (void)state;
    char json[2 * TFJS_MAX_NAME];
    char name[TFJS_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(json, sizeof json,
             "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"%s\", "
             "\"shape\": [1], \"dtype\": \"float32\"}]}]",
             name);
    uint8_t bytes[4] = {0};
    shard shards[] = {{"w.bin", bytes, 4}};
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(parse(json, shards, 1, &w, &err), KH_EFORMAT);
    assert_non_null(strstr(err.message, "'name' must be"));
}

static void loads_manifest_and_shards_from_files(void **state) {
    (void)state;
    char dir[] = "/tmp/khappy-tfjs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char manifest[128], bin[128];
    snprintf(manifest, sizeof manifest, "%s/m.json", dir);
    snprintf(bin, sizeof bin, "%s/m.bin", dir);
    FILE *f = fopen(manifest, "w");
    assert_non_null(f);
    fputs("[{\"paths\": [\"m.bin\"], \"weights\": [{\"name\": \"v\", "
          "\"shape\": [2], \"dtype\": \"float32\"}]}]",
          f);
    fclose(f);

    tfjs_weights *w;
    kh_error err;
    assert_int_equal(tfjs_weights_load(manifest, &w, &err), KH_ENOTFOUND);
    assert_non_null(strstr(err.message, "m.bin"));
    assert_non_null(strstr(err.message, manifest)); /* prefixed with it */

    uint8_t bytes[8];
    put_float(bytes, 3.0f);
    put_float(bytes + 4, -7.0f);
    f = fopen(bin, "wb");
    assert_non_null(f);
    fwrite(bytes, 1, sizeof bytes, f);
    fclose(f);
    assert_int_equal(tfjs_weights_load(manifest, &w, &err), KH_OK);
    assert_true(tfjs_weights_find(w, "v")->values[1] == -7.0f);
    tfjs_weights_destroy(w);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    assert_int_equal(tfjs_weights_load(missing, &w, &err), KH_ENOTFOUND);
    assert_null(w);
    assert_int_equal(tfjs_weights_load(dir, &w, &err), KH_EIO); /* a folder */
    unlink(manifest);
    unlink(bin);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_float32_and_quantized_weights),
        cmocka_unit_test(half_floats_widen_exactly),
        cmocka_unit_test(several_groups_each_read_their_shards),
        cmocka_unit_test(expect_checks_name_and_shape),
        cmocka_unit_test(hostile_manifests_are_refused),
        cmocka_unit_test(a_long_weight_name_is_refused),
        cmocka_unit_test(loads_manifest_and_shards_from_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
