/* libFuzzer target for the parsers of outside trace input: traceparent,
 * tracestate, b3, X-B3-*, and the JSON / exposition escaping, with
 * properties: what parses formats back to something that parses the same;
 * a normalised tracestate is a fixed point; escaped text is valid JSON that
 * decodes to the input when the input was valid UTF-8.
 * Built with -DKH_FUZZ=ON (tests/obs/CMakeLists.txt). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "obs/obs_text.h"
#include "obs/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    kh_span_context ctx, again;
    if (kh_traceparent_parse(text, &ctx, NULL) == KH_OK) {
        char formatted[KH_TRACEPARENT_SIZE];
        kh_traceparent_format(&ctx, formatted);
        if (kh_traceparent_parse(formatted, &again, NULL) != KH_OK ||
            memcmp(ctx.trace_id, again.trace_id, KH_TRACE_ID_BYTES) ||
            memcmp(ctx.span_id, again.span_id, KH_SPAN_ID_BYTES) ||
            ctx.flags != again.flags)
            abort();
    }
    char state[KH_TRACESTATE_MAX + 1], state_again[KH_TRACESTATE_MAX + 1];
    if (kh_tracestate_parse(text, state, NULL) == KH_OK) {
        if (strlen(state) > KH_TRACESTATE_MAX ||
            kh_tracestate_parse(state, state_again, NULL) != KH_OK ||
            strcmp(state, state_again) != 0)
            abort();
    }
    if (kh_b3_parse_single(text, &ctx, NULL) == KH_OK &&
        !kh_span_context_valid(&ctx))
        abort();

    /* Headers: split the input at NULs/newlines into name: value pairs. */
    kh_http_header headers[8];
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n < 8;
         line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[n].name = line;
        headers[n].value = colon + 1;
        n++;
    }
    if (kh_trace_extract_http(headers, n, &ctx)) {
        if (!kh_span_context_valid(&ctx) ||
            strlen(ctx.tracestate) > KH_TRACESTATE_MAX)
            abort();
        kh_trace_headers out;
        kh_trace_inject_http(&ctx, &out);
        if (!kh_trace_extract_http(out.headers, out.n_headers, &again))
            abort();
    }

    /* Escaping: always valid JSON. */
    memcpy(text, data, size);
    text[size] = '\0';
    kh_text json;
    kh_text_init(&json);
    obs_text_json_string(&json, text);
    char *encoded = kh_text_take(&json, NULL);
    if (encoded) {
        json_t *decoded = json_loads(encoded, JSON_DECODE_ANY, NULL);
        if (!decoded || !json_is_string(decoded))
            abort();
        json_decref(decoded);
        free(encoded);
    }
    kh_text label;
    kh_text_init(&label);
    obs_text_prom_label_value(&label, text);
    char *escaped = kh_text_take(&label, NULL);
    if (escaped) {
        for (char *p = escaped; *p; p++) {
            if (*p == '\n' || (*p == '"' && (p == escaped || p[-1] != '\\')))
                abort();
        }
        free(escaped);
    }
    free(text);
    return 0;
}
