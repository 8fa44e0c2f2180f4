/* libFuzzer target: the CloudEvents parsers (JSON format, batches, the HTTP
 * binding's binary/structured/batched decoding) and a round-trip property:
 * every event they accept must encode in every mode and decode back to the
 * same attributes, extensions and data.
 *
 * Input: the bytes are tried as a JSON event and a JSON batch, then as an
 * HTTP message: "name:value" lines up to an empty line, the rest the body. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/ce_http.h"
#include "events/ce_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 32

static void require(bool ok, const char *what, kh_ce_mode mode,
                    const kh_error *err) {
    if (ok)
        return;
    fprintf(stderr, "round trip (%s): %s%s%s\n", kh_ce_mode_name(mode), what,
            err ? ": " : "", err ? err->message : "");
    abort();
}

static void check_round_trip(const kh_cloudevent *ev) {
    const kh_ce_mode modes[] = {KH_CE_MODE_BINARY, KH_CE_MODE_STRUCTURED,
                                KH_CE_MODE_BATCH};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        kh_ce_mode mode = modes[m];
        kh_http_header *headers;
        size_t n_headers;
        uint8_t *body;
        size_t body_len;
        kh_error err;
        require(kh_ce_http_encode(ev, mode, &headers, &n_headers, &body,
                                  &body_len, &err) == KH_OK,
                "an accepted event does not encode", mode, &err);
        kh_cloudevent *back;
        size_t count;
        kh_ce_mode detected;
        require(kh_ce_http_decode_message(headers, n_headers, body, body_len,
                                          &back, &count, &detected,
                                          &err) == KH_OK,
                "our own encoding does not decode", mode, &err);
        require(count == 1 && detected == mode, "count or mode", mode, NULL);
        static const char *const core[] = {"id", "source", "type",
                                           "subject", "time", "dataschema"};
        for (size_t i = 0; i < sizeof core / sizeof *core; i++) {
            const char *a = kh_cloudevent_get(ev, core[i]);
            const char *b = kh_cloudevent_get(&back[0], core[i]);
            require((!a && !b) || (a && b && strcmp(a, b) == 0), core[i], mode,
                    NULL);
        }
        require(back[0].n_extensions == ev->n_extensions, "extension count",
                mode, NULL);
        for (size_t i = 0; i < ev->n_extensions; i++) {
            const char *value =
                kh_cloudevent_get(&back[0], ev->extensions[i].name);
            require(value && strcmp(value, ev->extensions[i].value) == 0,
                    "extension value", mode, NULL);
        }
        /* Binary mode has no way to say "empty data" apart from "none". */
        bool expect_data = ev->data &&
                           !(mode == KH_CE_MODE_BINARY && ev->data_len == 0);
        require((back[0].data != NULL) == expect_data, "data presence", mode,
                NULL);
        /* JSON data comes back re-written compactly from the JSON format;
         * everything else byte for byte. */
        bool json = !ev->datacontenttype ||
                    kh_ce_media_type_is_json(ev->datacontenttype);
        bool rewritten = mode != KH_CE_MODE_BINARY && json &&
                         !ev->data_is_base64_in_json;
        if (expect_data && !rewritten)
            require(back[0].data_len == ev->data_len &&
                        memcmp(back[0].data, ev->data, ev->data_len) == 0,
                    "data bytes", mode, NULL);
        kh_cloudevents_free(back, count);
        kh_ce_http_headers_free(headers, n_headers);
        free(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kh_cloudevent ev;
    kh_error err;
    if (kh_ce_json_decode(data, size, &ev, &err) == KH_OK) {
        check_round_trip(&ev);
        kh_cloudevent_free(&ev);
    }
    kh_cloudevent *events;
    size_t count;
    if (kh_ce_json_decode_batch(data, size, &events, &count, &err) == KH_OK)
        kh_cloudevents_free(events, count);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    kh_http_header headers[MAX_HEADERS];
    size_t n_headers = 0;
    char *p = text;
    char *end = text + size;
    while (p < end && n_headers < MAX_HEADERS) {
        char *newline = memchr(p, '\n', (size_t)(end - p));
        if (!newline)
            break;
        *newline = '\0';
        if (p == newline) {
            p = newline + 1;
            break;
        }
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            headers[n_headers].name = p;
            headers[n_headers].value = colon + 1;
            n_headers++;
        }
        p = newline + 1;
    }
    kh_ce_mode mode;
    if (kh_ce_http_decode_message(headers, n_headers, (const uint8_t *)p,
                                  (size_t)(end - p), &events, &count, &mode,
                                  &err) == KH_OK) {
        if (mode != KH_CE_MODE_BATCH)
            check_round_trip(&events[0]);
        kh_cloudevents_free(events, count);
    }
    free(text);
    return 0;
}
