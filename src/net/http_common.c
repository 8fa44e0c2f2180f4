/* http_common.c - what the server and the client share: header look-ups,
 * response building, percent-decoding and query parameters. */
#include "net/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json_text.h"

const char *kh_http_headers_get(const kh_http_header *headers, size_t n,
                                const char *name) {
    if (!headers || !name)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name && strcasecmp(headers[i].name, name) == 0)
            return headers[i].value ? headers[i].value : "";
    }
    return NULL;
}

const char *kh_http_request_header(const kh_http_request *req,
                                   const char *name) {
    if (!req)
        return NULL;
    return kh_http_headers_get(req->headers, req->n_headers, name);
}

const char *kh_http_response_header_get(const kh_http_response *res,
                                        const char *name) {
    if (!res)
        return NULL;
    return kh_http_headers_get(res->headers, res->n_headers, name);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kh_http_percent_decode(const char *in, size_t in_len, bool plus_is_space,
                           char *out, size_t out_cap, size_t *out_len) {
    if (!in || !out || out_cap == 0)
        return KH_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        char c = in[i];
        if (c == '%') {
            if (in_len - i < 3)
                return KH_EFORMAT;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return KH_EFORMAT;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (n + 1 >= out_cap)
            return KH_ELIMIT;
        out[n++] = c;
    }
    out[n] = '\0';
    if (out_len)
        *out_len = n;
    return KH_OK;
}

bool kh_http_query_param(const char *query, const char *name, char *buf,
                         size_t len) {
    if (!query || !name || !buf || len == 0)
        return false;
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t pair_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', pair_len);
        size_t key_len = eq ? (size_t)(eq - p) : pair_len;
        /* Keys are decoded too ("a%5Bb%5D" is "a[b]"); a key that long is
         * not one we look for. */
        char key[256];
        size_t decoded_key_len;
        if (key_len < sizeof key &&
            kh_http_percent_decode(p, key_len, true, key, sizeof key,
                                   &decoded_key_len) == KH_OK &&
            decoded_key_len == name_len && memcmp(key, name, name_len) == 0) {
            const char *value = eq ? eq + 1 : p + pair_len;
            size_t value_len = eq ? pair_len - key_len - 1 : 0;
            size_t decoded_len;
            if (kh_http_percent_decode(value, value_len, true, buf, len,
                                       &decoded_len) != KH_OK)
                return false;
            return strlen(buf) == decoded_len; /* no embedded NUL */
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

bool kh_http_request_query(const kh_http_request *req, const char *name,
                           char *buf, size_t len) {
    if (!req)
        return false;
    return kh_http_query_param(req->query ? req->query : "", name, buf, len);
}

void kh_http_response_init(kh_http_response *res) {
    if (!res)
        return;
    memset(res, 0, sizeof *res);
    res->status = 200;
}

int kh_http_response_header(kh_http_response *res, const char *name,
                            const char *value) {
    if (!res || !name || !value)
        return KH_EINVAL;
    kh_http_header *grown =
        realloc(res->headers, (res->n_headers + 1) * sizeof *grown);
    if (!grown)
        return KH_ENOMEM;
    res->headers = grown;
    char *name_copy = strdup(name);
    char *value_copy = strdup(value);
    if (!name_copy || !value_copy) {
        free(name_copy);
        free(value_copy);
        return KH_ENOMEM;
    }
    grown[res->n_headers].name = name_copy;
    grown[res->n_headers].value = value_copy;
    res->n_headers++;
    return KH_OK;
}

/* Replaces the value of an existing header (first match) or adds it. */
static int response_header_replace(kh_http_response *res, const char *name,
                                   const char *value) {
    for (size_t i = 0; i < res->n_headers; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0) {
            char *copy = strdup(value);
            if (!copy)
                return KH_ENOMEM;
            free(res->headers[i].value);
            res->headers[i].value = copy;
            return KH_OK;
        }
    }
    return kh_http_response_header(res, name, value);
}

int kh_http_response_set_owned(kh_http_response *res, int status,
                               const char *content_type, void *body,
                               size_t len) {
    if (!res) {
        free(body);
        return KH_EINVAL;
    }
    if (content_type) {
        int rc = response_header_replace(res, "Content-Type", content_type);
        if (rc != KH_OK) {
            free(body);
            return rc;
        }
    }
    free(res->body);
    res->status = status;
    res->body = body;
    res->body_len = body ? len : 0;
    return KH_OK;
}

int kh_http_response_set(kh_http_response *res, int status,
                         const char *content_type, const void *body,
                         size_t len) {
    void *copy = NULL;
    if (body && len > 0) {
        copy = malloc(len);
        if (!copy)
            return KH_ENOMEM;
        memcpy(copy, body, len);
    }
    return kh_http_response_set_owned(res, status, content_type, copy,
                                      copy ? len : 0);
}

int kh_http_response_error(kh_http_response *res, int status, const char *fmt,
                           ...) {
    if (!res || !fmt)
        return KH_EINVAL;
    char message[KH_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* Messages may quote hostile input (a header value, a truncated name):
     * bytes that are not UTF-8 become \ufffd so the body stays valid JSON. */
    kh_text body = {0};
    kh_text_puts(&body, "{\"error\":");
    kh_json_string(&body, message, strlen(message),
                   KH_JSON_REPLACE_BAD_UTF8 | KH_JSON_UNICODE_ESCAPES);
    kh_text_puts(&body, "}\n");
    size_t n = 0;
    char *bytes = kh_text_take(&body, &n);
    if (!bytes)
        return KH_ENOMEM;
    return kh_http_response_set_owned(res, status, "application/json", bytes,
                                      n);
}

void kh_http_response_free(kh_http_response *res) {
    if (!res)
        return;
    for (size_t i = 0; i < res->n_headers; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    free(res->body);
    res->headers = NULL;
    res->n_headers = 0;
    res->body = NULL;
    res->body_len = 0;
}
