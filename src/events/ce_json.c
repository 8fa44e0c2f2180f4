/* ce_json.c - the CloudEvents JSON format on jansson (parsing); output is
 * written directly so that JSON data is spliced in byte for byte. */
#include "events/ce_json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/json_text.h"
#include "common/utf8.h"
#include "events/ce_text.h"

#define JSON_PARSE_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

bool kh_ce_media_type_is_json(const char *content_type) {
    char essence[128];
    if (!kh_ce_media_type_essence(content_type, essence, sizeof essence))
        return false;
    const char *slash = strchr(essence, '/');
    if (!slash)
        return false;
    const char *subtype = slash + 1;
    size_t n = strlen(subtype);
    return strcmp(subtype, "json") == 0 ||
           (n > 5 && strcmp(subtype + n - 5, "+json") == 0);
}

/* Content types whose data is text: written as a JSON string when the
 * bytes are UTF-8. Anything else is binary and goes out as data_base64. */
static bool media_type_is_text(const char *content_type) {
    char essence[128];
    if (!kh_ce_media_type_essence(content_type, essence, sizeof essence))
        return false;
    if (strncmp(essence, "text/", 5) == 0)
        return true;
    const char *slash = strchr(essence, '/');
    size_t n = slash ? strlen(slash + 1) : 0;
    if (slash && (strcmp(slash + 1, "xml") == 0 ||
                  (n > 4 && strcmp(slash + 1 + n - 4, "+xml") == 0)))
        return true;
    /* A declared charset says the bytes are characters. */
    return strstr(content_type, "charset=") != NULL;
}

/* ---- output ---- */

/* The shortest of %.15g..%.17g that reads back as the same double, so
 * 0.1 stays "0.1" instead of 0.10000000000000001. */
static void append_real(kh_text *buf, double value) {
    char text[40];
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            break;
    }
    kh_text_puts(buf, text);
}

/* Writes a parsed JSON value back as compact text. */
static void append_json_value(kh_text *buf, const json_t *value) {
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        kh_text_append(buf, "{", 1);
        const char *key;
        json_t *member;
        bool first = true;
        /* json_object_foreach is not const-correct. */
        json_object_foreach((json_t *)value, key, member) {
            if (!first)
                kh_text_append(buf, ",", 1);
            first = false;
            kh_json_string(buf, key, strlen(key), KH_JSON_DEFAULT);
            kh_text_append(buf, ":", 1);
            append_json_value(buf, member);
        }
        kh_text_append(buf, "}", 1);
        break;
    }
    case JSON_ARRAY:
        kh_text_append(buf, "[", 1);
        for (size_t i = 0; i < json_array_size(value); i++) {
            if (i > 0)
                kh_text_append(buf, ",", 1);
            append_json_value(buf, json_array_get(value, i));
        }
        kh_text_append(buf, "]", 1);
        break;
    case JSON_STRING:
        kh_json_string(buf, json_string_value(value),
                       json_string_length(value), KH_JSON_DEFAULT);
        break;
    case JSON_INTEGER: {
        char text[32];
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(value));
        kh_text_puts(buf, text);
        break;
    }
    case JSON_REAL:
        append_real(buf, json_real_value(value));
        break;
    case JSON_TRUE:
        kh_text_append(buf, "true", 4);
        break;
    case JSON_FALSE:
        kh_text_append(buf, "false", 5);
        break;
    case JSON_NULL:
        kh_text_append(buf, "null", 4);
        break;
    }
}

static void append_member(kh_text *buf, const char *name, const char *value,
                          bool *first) {
    if (!*first)
        kh_text_append(buf, ",", 1);
    *first = false;
    kh_json_string(buf, name, strlen(name), KH_JSON_DEFAULT);
    kh_text_append(buf, ":", 1);
    kh_json_string(buf, value, strlen(value), KH_JSON_DEFAULT);
}

bool kh_ce_json_text_valid(const void *text, size_t len) {
    if (!text)
        return false;
    json_error_t error;
    json_t *parsed = json_loadb(text, len, JSON_PARSE_FLAGS, &error);
    if (!parsed)
        return false;
    json_decref(parsed);
    return true;
}

static int append_event(kh_text *buf, const kh_cloudevent *ev,
                        kh_error *err) {
    int rc = kh_cloudevent_validate(ev, err);
    if (rc != KH_OK)
        return rc;
    bool first = true;
    kh_text_append(buf, "{", 1);
    static const char *const order[] = {"specversion", "id",
                                        "source",      "type",
                                        "datacontenttype", "dataschema",
                                        "subject",     "time"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *value = kh_cloudevent_get(ev, order[i]);
        if (value)
            append_member(buf, order[i], value, &first);
    }
    for (size_t i = 0; i < ev->n_extensions; i++)
        append_member(buf, ev->extensions[i].name, ev->extensions[i].value,
                      &first);
    if (ev->data) {
        bool json_type = !ev->datacontenttype ||
                         kh_ce_media_type_is_json(ev->datacontenttype);
        if (!ev->data_is_base64_in_json && json_type &&
            kh_ce_json_text_valid(ev->data, ev->data_len)) {
            /* Spliced verbatim: the JSON text is exactly what was sent. */
            kh_text_puts(buf, ",\"data\":");
            kh_text_append(buf, ev->data, ev->data_len);
        } else if (!ev->data_is_base64_in_json && !json_type &&
                   media_type_is_text(ev->datacontenttype) &&
                   kh_utf8_valid(ev->data, ev->data_len, NULL)) {
            kh_text_puts(buf, ",\"data\":");
            kh_json_string(buf, (const char *)ev->data, ev->data_len,
                           KH_JSON_DEFAULT);
        } else {
            char *encoded = kh_base64_encode(ev->data, ev->data_len);
            if (!encoded)
                return kh_error_set(err, KH_ENOMEM,
                                    "event '%s': out of memory encoding %zu "
                                    "bytes of data",
                                    ev->id, ev->data_len);
            kh_text_puts(buf, ",\"data_base64\":\"");
            kh_text_puts(buf, encoded);
            kh_text_append(buf, "\"", 1);
            free(encoded);
        }
    }
    kh_text_append(buf, "}", 1);
    return KH_OK;
}

static int finish(kh_text *buf, char **out, size_t *len, kh_error *err) {
    if (buf->failed) {
        kh_text_free(buf);
        return kh_error_set(err, KH_ENOMEM, "JSON event: out of memory");
    }
    *out = buf->data;
    if (len)
        *len = buf->len;
    return KH_OK;
}

int kh_ce_json_encode(const kh_cloudevent *ev, char **out, size_t *len,
                      kh_error *err) {
    if (!ev || !out)
        return kh_error_set(err, KH_EINVAL, "JSON encode: NULL argument");
    *out = NULL;
    kh_text buf = {0};
    int rc = append_event(&buf, ev, err);
    if (rc != KH_OK) {
        kh_text_free(&buf);
        return rc;
    }
    return finish(&buf, out, len, err);
}

int kh_ce_json_encode_batch(const kh_cloudevent *events, size_t n,
                            char **out, size_t *len, kh_error *err) {
    if ((!events && n > 0) || !out)
        return kh_error_set(err, KH_EINVAL, "JSON batch encode: NULL argument");
    *out = NULL;
    kh_text buf = {0};
    kh_text_append(&buf, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            kh_text_append(&buf, ",", 1);
        int rc = append_event(&buf, &events[i], err);
        if (rc != KH_OK) {
            kh_text_free(&buf);
            return kh_error_prefix(err, "batch event %zu", i);
        }
    }
    kh_text_append(&buf, "]", 1);
    return finish(&buf, out, len, err);
}

/* ---- input ---- */

static const char *json_type_name(const json_t *value) {
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a non-integer number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* The canonical string form of an extension value. */
static int extension_value(const char *name, const json_t *value, char *out,
                           size_t out_len, const char **text, kh_error *err) {
    switch (json_typeof(value)) {
    case JSON_STRING:
        if (strlen(json_string_value(value)) != json_string_length(value))
            return kh_error_set(err, KH_EINVAL,
                                "extension '%s' contains a NUL character",
                                name);
        *text = json_string_value(value);
        return KH_OK;
    case JSON_INTEGER: {
        json_int_t number = json_integer_value(value);
        /* The spec's Integer is 32-bit. */
        if (number < -2147483648LL || number > 2147483647LL)
            return kh_error_set(err, KH_EINVAL,
                                "extension '%s' (%" JSON_INTEGER_FORMAT
                                ") is outside the 32-bit Integer range",
                                name, number);
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT, number);
        *text = out;
        return KH_OK;
    }
    case JSON_TRUE:
        *text = "true";
        return KH_OK;
    case JSON_FALSE:
        *text = "false";
        return KH_OK;
    default:
        return kh_error_set(err, KH_EINVAL,
                            "extension '%s' is %s; extension values must be "
                            "strings, integers or booleans",
                            name, json_type_name(value));
    }
}

static int decode_data(kh_cloudevent *ev, const json_t *data,
                       const json_t *data_base64, kh_error *err) {
    if (data_base64 && json_is_null(data_base64))
        data_base64 = NULL; /* null means unset */
    if (data && data_base64)
        return kh_error_set(err, KH_EINVAL,
                            "both 'data' and 'data_base64' are present (they "
                            "are mutually exclusive)");
    if (data_base64) {
        if (!json_is_string(data_base64))
            return kh_error_set(err, KH_EINVAL,
                                "'data_base64' is %s, not a Base64 string",
                                json_type_name(data_base64));
        uint8_t *bytes;
        size_t n;
        if (!kh_base64_decode(json_string_value(data_base64),
                                 json_string_length(data_base64), &bytes, &n))
            return kh_error_set(err, KH_EINVAL,
                                "'data_base64' is not valid Base64");
        int rc = kh_cloudevent_set_data(ev, bytes, n, NULL, err);
        free(bytes);
        if (rc == KH_OK)
            ev->data_is_base64_in_json = true;
        return rc;
    }
    if (!data)
        return KH_OK;
    if (!ev->datacontenttype || kh_ce_media_type_is_json(ev->datacontenttype)) {
        kh_text text = {0};
        append_json_value(&text, data);
        if (text.failed) {
            kh_text_free(&text);
            return kh_error_set(err, KH_ENOMEM, "'data': out of memory");
        }
        int rc = kh_cloudevent_set_data(ev, text.data, text.len, NULL, err);
        kh_text_free(&text);
        return rc;
    }
    if (json_is_null(data))
        return KH_OK;
    if (!json_is_string(data))
        return kh_error_set(err, KH_EINVAL,
                            "'data' is %s but datacontenttype '%.64s' is not "
                            "JSON: it must be a string (or use data_base64)",
                            json_type_name(data), ev->datacontenttype);
    return kh_cloudevent_set_data(ev, json_string_value(data),
                                  json_string_length(data), NULL, err);
}

static int decode_object(const json_t *object, kh_cloudevent *ev,
                         kh_error *err) {
    kh_cloudevent_init(ev);
    if (!json_is_object(object))
        return kh_error_set(err, KH_EFORMAT,
                            "an event must be a JSON object, not %s",
                            json_type_name(object));
    const json_t *data = NULL;
    const json_t *data_base64 = NULL;
    const char *key;
    json_t *value;
    int rc = KH_OK;
    json_object_foreach((json_t *)object, key, value) {
        if (strcmp(key, "data") == 0) {
            data = value;
            continue;
        }
        if (strcmp(key, "data_base64") == 0) {
            data_base64 = value;
            continue;
        }
        if (json_is_null(value))
            continue; /* the format: null is the same as absent */
        if (kh_cloudevent_is_core_attribute(key)) {
            if (!json_is_string(value)) {
                rc = kh_error_set(err, KH_EINVAL,
                                  "attribute '%s' is %s; it must be a string",
                                  key, json_type_name(value));
                break;
            }
            if (strlen(json_string_value(value)) !=
                json_string_length(value)) {
                rc = kh_error_set(err, KH_EINVAL,
                                  "attribute '%s' contains a NUL character",
                                  key);
                break;
            }
            rc = kh_cloudevent_set(ev, key, json_string_value(value), err);
        } else {
            if (!kh_cloudevent_name_valid(key)) {
                rc = kh_error_set(err, KH_EINVAL,
                                  "'%.64s' is not a valid attribute name "
                                  "(only lower-case letters a-z and digits "
                                  "0-9)",
                                  key);
                break;
            }
            char number[32];
            const char *text = NULL;
            rc = extension_value(key, value, number, sizeof number, &text,
                                 err);
            if (rc == KH_OK)
                rc = kh_cloudevent_set(ev, key, text, err);
        }
        if (rc != KH_OK)
            break;
    }
    if (rc == KH_OK)
        rc = decode_data(ev, data, data_base64, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_validate(ev, err);
    if (rc != KH_OK)
        kh_cloudevent_free(ev);
    return rc;
}

static json_t *parse(const void *json, size_t len, kh_error *err) {
    if (!json)
        return kh_error_set(err, KH_EFORMAT, "no JSON text"), NULL;
    json_error_t error;
    json_t *root = json_loadb(json, len, JSON_PARSE_FLAGS, &error);
    if (!root)
        kh_error_set(err, KH_EFORMAT,
                     "invalid JSON at line %d, column %d (byte %d): %s",
                     error.line, error.column, error.position, error.text);
    return root;
}

int kh_ce_json_decode(const void *json, size_t len, kh_cloudevent *ev,
                      kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "JSON decode: no event");
    kh_cloudevent_init(ev);
    json_t *root = parse(json, len, err);
    if (!root)
        return KH_EFORMAT;
    int rc = decode_object(root, ev, err);
    json_decref(root);
    return rc;
}

int kh_ce_json_decode_batch(const void *json, size_t len,
                            kh_cloudevent **events, size_t *n, kh_error *err) {
    if (!events || !n)
        return kh_error_set(err, KH_EINVAL, "JSON batch decode: NULL argument");
    *events = NULL;
    *n = 0;
    json_t *root = parse(json, len, err);
    if (!root)
        return KH_EFORMAT;
    if (!json_is_array(root)) {
        int rc = kh_error_set(err, KH_EFORMAT,
                              "a batch must be a JSON array, not %s",
                              json_type_name(root));
        json_decref(root);
        return rc;
    }
    size_t count = json_array_size(root);
    kh_cloudevent *decoded = NULL;
    if (count > 0) {
        decoded = calloc(count, sizeof *decoded);
        if (!decoded) {
            json_decref(root);
            return kh_error_set(err, KH_ENOMEM,
                                "batch of %zu events: out of memory", count);
        }
    }
    for (size_t i = 0; i < count; i++) {
        int rc = decode_object(json_array_get(root, i), &decoded[i], err);
        if (rc != KH_OK) {
            kh_cloudevents_free(decoded, i);
            json_decref(root);
            return kh_error_prefix(err, "batch event %zu", i);
        }
    }
    json_decref(root);
    *events = decoded;
    *n = count;
    return KH_OK;
}
