/* ce_http.c - the CloudEvents HTTP protocol binding; see ce_http.h. */
#include "events/ce_http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "events/ce_json.h"
#include "common/utf8.h"
#include "events/ce_text.h"

#define HEADER_PREFIX "ce-"
#define HEADER_PREFIX_LEN 3
#define STRUCTURED_CONTENT_TYPE KH_CE_JSON_MEDIA_TYPE "; charset=utf-8"
#define BATCH_CONTENT_TYPE KH_CE_JSON_BATCH_MEDIA_TYPE "; charset=utf-8"

const char *kh_ce_mode_name(kh_ce_mode mode) {
    switch (mode) {
    case KH_CE_MODE_BINARY:
        return "binary";
    case KH_CE_MODE_STRUCTURED:
        return "structured";
    case KH_CE_MODE_BATCH:
        return "batch";
    case KH_CE_MODE_UNKNOWN:
        break;
    }
    return "unknown";
}

kh_ce_mode kh_ce_http_mode(const char *content_type, bool has_ce_specversion) {
    char essence[128];
    if (content_type &&
        kh_ce_media_type_essence(content_type, essence, sizeof essence)) {
        if (strcmp(essence, KH_CE_JSON_BATCH_MEDIA_TYPE) == 0)
            return KH_CE_MODE_BATCH;
        if (strcmp(essence, KH_CE_JSON_MEDIA_TYPE) == 0)
            return KH_CE_MODE_STRUCTURED;
        /* Another event format (+avro, +protobuf, ...): a CloudEvent, but
         * not one we can read. */
        if (strncmp(essence, "application/cloudevents",
                    strlen("application/cloudevents")) == 0)
            return KH_CE_MODE_UNKNOWN;
    }
    return has_ce_specversion ? KH_CE_MODE_BINARY : KH_CE_MODE_UNKNOWN;
}

int kh_ce_http_status_for_decode(int rc) {
    switch (rc) {
    case KH_OK:
        return 200;
    case KH_EUNSUPPORTED:
        return 415;
    case KH_EFORMAT:
    case KH_EINVAL:
    case KH_ELIMIT:
        return 400;
    default:
        return 500;
    }
}

/* ---- header values ---- */

char *kh_ce_http_header_value_encode(const char *value) {
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(value);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '%') {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return out;
}

int kh_ce_http_header_value_decode(const char *header_value, char **out,
                                   kh_error *err) {
    *out = NULL;
    size_t len = strlen(header_value);
    char *unquoted = malloc(len + 1);
    if (!unquoted)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    size_t n = 0;
    if (header_value[0] == '"') {
        /* RFC 7230 quoted-string: backslash escapes any character. */
        const char *p = header_value + 1;
        while (*p && *p != '"') {
            if (*p == '\\') {
                p++;
                if (!*p)
                    break;
            }
            unquoted[n++] = *p++;
        }
        if (*p != '"') {
            free(unquoted);
            return kh_error_set(err, KH_EFORMAT,
                                "unterminated quoted string");
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p) {
            free(unquoted);
            return kh_error_set(err, KH_EFORMAT,
                                "text after the closing quote");
        }
    } else {
        memcpy(unquoted, header_value, len);
        n = len;
    }
    char *decoded = malloc(n + 1);
    if (!decoded) {
        free(unquoted);
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    }
    size_t decoded_len;
    int rc = kh_http_percent_decode(unquoted, n, false, decoded, n + 1,
                                    &decoded_len);
    free(unquoted);
    if (rc != KH_OK) {
        free(decoded);
        return kh_error_set(err, KH_EFORMAT,
                            "bad percent-encoding ('%%' must be followed by "
                            "two hex digits)");
    }
    if (strlen(decoded) != decoded_len) {
        free(decoded);
        return kh_error_set(err, KH_EFORMAT, "percent-encoded NUL (%%00)");
    }
    if (!kh_utf8_valid(decoded, decoded_len, NULL)) {
        free(decoded);
        return kh_error_set(err, KH_EFORMAT,
                            "not valid UTF-8 after percent-decoding");
    }
    *out = decoded;
    return KH_OK;
}

/* ---- decoding ---- */

static int decode_binary(const kh_http_header *headers, size_t n_headers,
                         const uint8_t *body, size_t body_len,
                         kh_cloudevent *ev, kh_error *err) {
    kh_cloudevent_init(ev);
    int rc = KH_OK;
    for (size_t i = 0; i < n_headers && rc == KH_OK; i++) {
        const char *name = headers[i].name;
        if (!name || strncasecmp(name, HEADER_PREFIX, HEADER_PREFIX_LEN) != 0)
            continue;
        /* Header names are case-insensitive; attribute names lower-case. */
        char attribute[KH_CLOUDEVENT_NAME_MAX + 1];
        size_t attribute_len = strlen(name + HEADER_PREFIX_LEN);
        if (attribute_len == 0 || attribute_len >= sizeof attribute) {
            rc = kh_error_set(err, KH_EINVAL,
                              "header '%.80s': not a valid attribute name",
                              name);
            break;
        }
        for (size_t k = 0; k <= attribute_len; k++)
            attribute[k] =
                (char)tolower((unsigned char)name[HEADER_PREFIX_LEN + k]);
        if (strcmp(attribute, "datacontenttype") == 0) {
            rc = kh_error_set(err, KH_EINVAL,
                              "header '%s' must not be present in binary mode "
                              "(Content-Type carries datacontenttype)",
                              name);
            break;
        }
        if (!kh_cloudevent_name_valid(attribute) ||
            strcmp(attribute, "data") == 0) {
            rc = kh_error_set(err, KH_EINVAL,
                              "header '%.80s': '%s' is not a valid attribute "
                              "name (only lower-case letters a-z and digits "
                              "0-9)",
                              name, attribute);
            break;
        }
        if (kh_cloudevent_get(ev, attribute)) {
            rc = kh_error_set(err, KH_EINVAL,
                              "header '%s' is repeated (attribute '%s')", name,
                              attribute);
            break;
        }
        char *value;
        rc = kh_ce_http_header_value_decode(headers[i].value
                                                ? headers[i].value
                                                : "",
                                            &value, err);
        if (rc != KH_OK) {
            kh_error_prefix(err, "header '%s'", name);
            break;
        }
        rc = kh_cloudevent_set(ev, attribute, value, err);
        free(value);
    }
    if (rc == KH_OK) {
        const char *content_type =
            kh_http_headers_get(headers, n_headers, "Content-Type");
        if (content_type && *content_type)
            rc = kh_cloudevent_set(ev, "datacontenttype", content_type, err);
    }
    if (rc == KH_OK && body && body_len > 0)
        rc = kh_cloudevent_set_data(ev, body, body_len, NULL, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_validate(ev, err);
    if (rc != KH_OK)
        kh_cloudevent_free(ev);
    return rc;
}

int kh_ce_http_decode_message(const kh_http_header *headers, size_t n_headers,
                              const uint8_t *body, size_t body_len,
                              kh_cloudevent **events, size_t *count,
                              kh_ce_mode *mode, kh_error *err) {
    if (mode)
        *mode = KH_CE_MODE_UNKNOWN;
    if (!events || !count)
        return kh_error_set(err, KH_EINVAL,
                            "CloudEvents decode: NULL argument");
    *events = NULL;
    *count = 0;
    const char *content_type =
        kh_http_headers_get(headers, n_headers, "Content-Type");
    bool has_specversion =
        kh_http_headers_get(headers, n_headers, "ce-specversion") != NULL;
    kh_ce_mode detected = kh_ce_http_mode(content_type, has_specversion);
    if (mode)
        *mode = detected;

    if (detected == KH_CE_MODE_UNKNOWN) {
        char essence[128] = "";
        kh_ce_media_type_essence(content_type, essence, sizeof essence);
        if (strncmp(essence, "application/cloudevents", 23) == 0)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "unsupported event format '%.80s' (only "
                                KH_CE_JSON_MEDIA_TYPE " and "
                                KH_CE_JSON_BATCH_MEDIA_TYPE ")",
                                content_type);
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "not a CloudEvent: no ce-specversion header and "
                            "Content-Type '%.80s' is not a CloudEvents "
                            "format",
                            content_type ? content_type : "(none)");
    }
    if (detected == KH_CE_MODE_BATCH)
        return kh_ce_json_decode_batch(body ? (const void *)body : "",
                                       body ? body_len : 0, events, count, err);

    kh_cloudevent *event = malloc(sizeof *event);
    if (!event)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    int rc;
    if (detected == KH_CE_MODE_STRUCTURED)
        rc = kh_ce_json_decode(body ? (const void *)body : "",
                               body ? body_len : 0, event, err);
    else
        rc = decode_binary(headers, n_headers, body, body_len, event, err);
    if (rc != KH_OK) {
        free(event);
        return rc;
    }
    *events = event;
    *count = 1;
    return KH_OK;
}

int kh_ce_http_decode(const kh_http_request *req, kh_cloudevent **events,
                      size_t *count, kh_ce_mode *mode, kh_error *err) {
    if (!req) {
        if (mode)
            *mode = KH_CE_MODE_UNKNOWN;
        return kh_error_set(err, KH_EINVAL, "CloudEvents decode: no request");
    }
    return kh_ce_http_decode_message(req->headers, req->n_headers, req->body,
                                     req->body_len, events, count, mode, err);
}

/* ---- encoding ---- */

typedef struct header_list {
    kh_http_header *items;
    size_t n;
    bool failed;
} header_list;

/* Takes ownership of value. */
static void header_add_owned(header_list *list, const char *name,
                             char *value) {
    if (list->failed || !value) {
        list->failed = true;
        free(value);
        return;
    }
    kh_http_header *grown =
        realloc(list->items, (list->n + 1) * sizeof *grown);
    char *name_copy = strdup(name);
    if (!grown || !name_copy) {
        if (grown)
            list->items = grown;
        free(name_copy);
        free(value);
        list->failed = true;
        return;
    }
    list->items = grown;
    grown[list->n].name = name_copy;
    grown[list->n].value = value;
    list->n++;
}

void kh_ce_http_headers_free(kh_http_header *headers, size_t n) {
    if (!headers)
        return;
    for (size_t i = 0; i < n; i++) {
        free(headers[i].name);
        free(headers[i].value);
    }
    free(headers);
}

static void add_attribute_header(header_list *list, const char *attribute,
                                 const char *value) {
    char name[HEADER_PREFIX_LEN + KH_CLOUDEVENT_NAME_MAX + 1];
    size_t len = strlen(attribute);
    if (len >= sizeof name - HEADER_PREFIX_LEN) {
        list->failed = true;
        return;
    }
    memcpy(name, HEADER_PREFIX, HEADER_PREFIX_LEN);
    memcpy(name + HEADER_PREFIX_LEN, attribute, len + 1);
    header_add_owned(list, name, kh_ce_http_header_value_encode(value));
}

static int encode_binary(const kh_cloudevent *ev, header_list *list,
                         uint8_t **body, size_t *body_len, kh_error *err) {
    static const char *const order[] = {"specversion", "id",      "source",
                                        "type",        "dataschema", "subject",
                                        "time"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *value = kh_cloudevent_get(ev, order[i]);
        if (value)
            add_attribute_header(list, order[i], value);
    }
    for (size_t i = 0; i < ev->n_extensions; i++)
        add_attribute_header(list, ev->extensions[i].name,
                             ev->extensions[i].value);
    const char *content_type = ev->datacontenttype;
    /* JSON-format events without datacontenttype hold JSON: the binding
     * says to make the implied type explicit. */
    if (!content_type && ev->data && !ev->data_is_base64_in_json &&
        kh_ce_json_text_valid(ev->data, ev->data_len))
        content_type = "application/json";
    if (content_type)
        header_add_owned(list, "Content-Type", strdup(content_type));
    if (list->failed)
        return kh_error_set(err, KH_ENOMEM, "event '%s': out of memory",
                            ev->id);
    if (ev->data && ev->data_len > 0) {
        *body = malloc(ev->data_len);
        if (!*body)
            return kh_error_set(err, KH_ENOMEM,
                                "event '%s': out of memory copying %zu bytes",
                                ev->id, ev->data_len);
        memcpy(*body, ev->data, ev->data_len);
        *body_len = ev->data_len;
    }
    return KH_OK;
}

static int encode(const kh_cloudevent *events, size_t n, kh_ce_mode mode,
                  kh_http_header **headers, size_t *n_headers, uint8_t **body,
                  size_t *body_len, kh_error *err) {
    if (!headers || !n_headers || !body || !body_len || (!events && n > 0))
        return kh_error_set(err, KH_EINVAL,
                            "CloudEvents encode: NULL argument");
    *headers = NULL;
    *n_headers = 0;
    *body = NULL;
    *body_len = 0;
    header_list list = {0};
    int rc;
    if (mode == KH_CE_MODE_BINARY) {
        rc = kh_cloudevent_validate(&events[0], err);
        if (rc == KH_OK)
            rc = encode_binary(&events[0], &list, body, body_len, err);
    } else if (mode == KH_CE_MODE_STRUCTURED || mode == KH_CE_MODE_BATCH) {
        char *json = NULL;
        size_t json_len = 0;
        rc = mode == KH_CE_MODE_STRUCTURED
                 ? kh_ce_json_encode(&events[0], &json, &json_len, err)
                 : kh_ce_json_encode_batch(events, n, &json, &json_len, err);
        if (rc == KH_OK) {
            header_add_owned(&list, "Content-Type",
                             strdup(mode == KH_CE_MODE_STRUCTURED
                                        ? STRUCTURED_CONTENT_TYPE
                                        : BATCH_CONTENT_TYPE));
            if (list.failed) {
                free(json);
                rc = kh_error_set(err, KH_ENOMEM, "out of memory");
            } else {
                *body = (uint8_t *)json;
                *body_len = json_len;
            }
        }
    } else {
        rc = kh_error_set(err, KH_EINVAL, "cannot encode in mode '%s'",
                          kh_ce_mode_name(mode));
    }
    if (rc != KH_OK) {
        kh_ce_http_headers_free(list.items, list.n);
        free(*body);
        *body = NULL;
        *body_len = 0;
        return rc;
    }
    *headers = list.items;
    *n_headers = list.n;
    return KH_OK;
}

int kh_ce_http_encode(const kh_cloudevent *ev, kh_ce_mode mode,
                      kh_http_header **headers, size_t *n_headers,
                      uint8_t **body, size_t *body_len, kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "CloudEvents encode: no event");
    return encode(ev, 1, mode, headers, n_headers, body, body_len, err);
}

int kh_ce_http_encode_batch(const kh_cloudevent *events, size_t n,
                            kh_http_header **headers, size_t *n_headers,
                            uint8_t **body, size_t *body_len, kh_error *err) {
    return encode(events, n, KH_CE_MODE_BATCH, headers, n_headers, body,
                  body_len, err);
}

int kh_ce_http_response_set_event(kh_http_response *res, int status,
                                  const kh_cloudevent *ev, kh_ce_mode mode,
                                  kh_error *err) {
    if (!res || !ev)
        return kh_error_set(err, KH_EINVAL,
                            "CloudEvents response: NULL argument");
    kh_http_header *headers;
    size_t n_headers;
    uint8_t *body;
    size_t body_len;
    int rc = kh_ce_http_encode(ev, mode, &headers, &n_headers, &body,
                               &body_len, err);
    if (rc != KH_OK)
        return rc;
    for (size_t i = 0; i < n_headers && rc == KH_OK; i++) {
        if (strcasecmp(headers[i].name, "Content-Type") == 0)
            continue; /* set with the body below, replacing any earlier */
        rc = kh_http_response_header(res, headers[i].name, headers[i].value);
    }
    const char *content_type = kh_http_headers_get(headers, n_headers,
                                                   "Content-Type");
    if (rc == KH_OK) {
        rc = kh_http_response_set_owned(res, status, content_type, body,
                                        body_len);
        body = NULL; /* owned by res now, or freed on failure */
    }
    free(body);
    kh_ce_http_headers_free(headers, n_headers);
    if (rc != KH_OK)
        return kh_error_set(err, rc, "event '%s': out of memory", ev->id);
    return KH_OK;
}

int kh_ce_http_decode_reply(const kh_http_response *res, kh_cloudevent *reply,
                            bool *has_reply, kh_error *err) {
    if (!res || !reply || !has_reply)
        return kh_error_set(err, KH_EINVAL, "CloudEvents reply: NULL argument");
    kh_cloudevent_init(reply);
    *has_reply = false;
    if (res->status < 200 || res->status > 299)
        return KH_OK;
    const char *content_type = kh_http_response_header_get(res, "Content-Type");
    bool has_specversion =
        kh_http_response_header_get(res, "ce-specversion") != NULL;
    kh_ce_mode mode = kh_ce_http_mode(content_type, has_specversion);
    if (mode == KH_CE_MODE_UNKNOWN)
        return KH_OK; /* a plain response: no reply event */
    if (mode == KH_CE_MODE_BATCH)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "a batch is not a reply event");
    kh_cloudevent *events;
    size_t count;
    int rc = kh_ce_http_decode_message(res->headers, res->n_headers, res->body,
                                       res->body_len, &events, &count, NULL,
                                       err);
    if (rc != KH_OK)
        return rc;
    /* Moved, not copied: the array's only event becomes *reply. */
    *reply = events[0];
    free(events);
    *has_reply = true;
    return KH_OK;
}
