/* trace.c - span contexts and their carriers: W3C traceparent/tracestate,
 * B3, HTTP headers and the CloudEvents distributed-tracing extension. The
 * spans and the exporter are in trace_export.c. */
#include "obs/trace.h"

#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "obs/obs_text.h"

static bool is_lower_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
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

/* Decodes 2n hex digits into n bytes; lower-case only unless any_case. */
static bool hex_decode(const char *s, size_t n, bool any_case, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        char hi = s[2 * i], lo = s[2 * i + 1];
        if (!any_case && (!is_lower_hex(hi) || !is_lower_hex(lo)))
            return false;
        int h = hex_value(hi), l = hex_value(lo);
        if (h < 0 || l < 0)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

static bool all_zero(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (bytes[i])
            return false;
    }
    return true;
}

bool kh_span_context_valid(const kh_span_context *ctx) {
    return ctx && !all_zero(ctx->trace_id, KH_TRACE_ID_BYTES) &&
           !all_zero(ctx->span_id, KH_SPAN_ID_BYTES);
}

void kh_trace_id_hex(const kh_span_context *ctx,
                     char out[KH_TRACE_ID_HEX_SIZE]) {
    kh_hex_encode(ctx->trace_id, KH_TRACE_ID_BYTES, out);
}

void kh_span_id_hex(const kh_span_context *ctx,
                    char out[KH_SPAN_ID_HEX_SIZE]) {
    kh_hex_encode(ctx->span_id, KH_SPAN_ID_BYTES, out);
}

static bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* [*start, *end) without surrounding spaces and tabs. */
static void trim(const char **start, const char **end) {
    while (*start < *end && is_ows(**start))
        (*start)++;
    while (*end > *start && is_ows((*end)[-1]))
        (*end)--;
}

/* ---- traceparent ---- */

#define TRACEPARENT_V00_LEN 55

int kh_traceparent_parse(const char *value, kh_span_context *out,
                         kh_error *err) {
    if (!value || !out)
        return kh_error_set(err, KH_EINVAL, "traceparent: no value");
    const char *s = value;
    const char *end = value + strlen(value);
    trim(&s, &end);
    size_t len = (size_t)(end - s);
    if (len < TRACEPARENT_V00_LEN)
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: %zu characters, expected 55", len);
    uint8_t version;
    if (!hex_decode(s, 1, false, &version))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: version is not 2 lower-case hex "
                            "digits");
    if (version == 0xff)
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: version ff is invalid");
    if (version == 0 && len != TRACEPARENT_V00_LEN)
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: version 00 has %zu characters, "
                            "expected 55",
                            len);
    /* A later version may append fields, after a '-'. */
    if (len > TRACEPARENT_V00_LEN && s[TRACEPARENT_V00_LEN] != '-')
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: no '-' after the flags");
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: fields not separated by '-' at "
                            "2, 35 and 52");
    kh_span_context parsed;
    memset(&parsed, 0, sizeof parsed);
    if (!hex_decode(s + 3, KH_TRACE_ID_BYTES, false, parsed.trace_id))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: trace-id is not 32 lower-case hex "
                            "digits");
    if (!hex_decode(s + 36, KH_SPAN_ID_BYTES, false, parsed.span_id))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: parent-id is not 16 lower-case hex "
                            "digits");
    uint8_t flags;
    if (!hex_decode(s + 53, 1, false, &flags))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: trace-flags is not 2 lower-case "
                            "hex digits");
    if (all_zero(parsed.trace_id, KH_TRACE_ID_BYTES))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: trace-id is all zeros");
    if (all_zero(parsed.span_id, KH_SPAN_ID_BYTES))
        return kh_error_set(err, KH_EFORMAT,
                            "traceparent: parent-id is all zeros");
    /* Flags we do not know are not propagated (version 00 defines only
     * sampled). */
    parsed.flags = flags & KH_TRACE_FLAG_SAMPLED;
    *out = parsed;
    return KH_OK;
}

void kh_traceparent_format(const kh_span_context *ctx,
                           char out[KH_TRACEPARENT_SIZE]) {
    char trace_hex[KH_TRACE_ID_HEX_SIZE], span_hex[KH_SPAN_ID_HEX_SIZE];
    kh_trace_id_hex(ctx, trace_hex);
    kh_span_id_hex(ctx, span_hex);
    memcpy(out, "00-", 3);
    memcpy(out + 3, trace_hex, 32);
    out[35] = '-';
    memcpy(out + 36, span_hex, 16);
    out[52] = '-';
    out[53] = '0';
    out[54] = (ctx->flags & KH_TRACE_FLAG_SAMPLED) ? '1' : '0';
    out[55] = '\0';
}

/* ---- tracestate ---- */

static bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '*' || c == '/';
}

static bool lcalpha(char c) {
    return c >= 'a' && c <= 'z';
}

/* key = simple-key / multi-tenant-key (Trace Context Level 1):
 *   simple-key       = lcalpha 0*255(keychar)
 *   multi-tenant-key = tenant-id "@" system-id
 *   tenant-id        = (lcalpha / DIGIT) 0*240(keychar)
 *   system-id        = lcalpha 0*13(keychar) */
static bool tracestate_key_valid(const char *key, size_t len) {
    const char *at = memchr(key, '@', len);
    if (!at) {
        if (len < 1 || len > 256 || !lcalpha(key[0]))
            return false;
        for (size_t i = 1; i < len; i++) {
            if (!key_char(key[i]))
                return false;
        }
        return true;
    }
    size_t tenant_len = (size_t)(at - key);
    size_t system_len = len - tenant_len - 1;
    if (tenant_len < 1 || tenant_len > 241 || system_len < 1 ||
        system_len > 14)
        return false;
    if (!lcalpha(key[0]) && !(key[0] >= '0' && key[0] <= '9'))
        return false;
    for (size_t i = 1; i < tenant_len; i++) {
        if (!key_char(key[i]))
            return false;
    }
    if (!lcalpha(at[1]))
        return false;
    for (size_t i = 1; i < system_len; i++) {
        if (!key_char(at[1 + i]))
            return false;
    }
    return true;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E (printable ASCII but ',' '='). */
static bool tracestate_value_valid(const char *value, size_t len) {
    if (len < 1 || len > 256)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return false;
    }
    return value[len - 1] != ' ';
}

typedef struct tracestate_member {
    const char *start;
    size_t len;     /* whole "key=value" */
    size_t key_len;
    bool kept;
} tracestate_member;

int kh_tracestate_parse(const char *value, char out[KH_TRACESTATE_MAX + 1],
                        kh_error *err) {
    out[0] = '\0';
    if (!value)
        return KH_OK;
    tracestate_member members[KH_TRACESTATE_MAX_MEMBERS];
    size_t n_members = 0;
    const char *p = value;
    for (size_t index = 0;; index++) {
        const char *comma = strchr(p, ',');
        const char *start = p;
        const char *end = comma ? comma : p + strlen(p);
        trim(&start, &end);
        if (start < end) {
            if (n_members == KH_TRACESTATE_MAX_MEMBERS)
                return kh_error_set(err, KH_EFORMAT,
                                    "tracestate: more than %d list-members",
                                    KH_TRACESTATE_MAX_MEMBERS);
            size_t len = (size_t)(end - start);
            const char *eq = memchr(start, '=', len);
            if (!eq)
                return kh_error_set(err, KH_EFORMAT,
                                    "tracestate: list-member %zu has no '='",
                                    index + 1);
            size_t key_len = (size_t)(eq - start);
            if (!tracestate_key_valid(start, key_len))
                return kh_error_set(err, KH_EFORMAT,
                                    "tracestate: list-member %zu has an "
                                    "invalid key",
                                    index + 1);
            if (!tracestate_value_valid(eq + 1, len - key_len - 1))
                return kh_error_set(err, KH_EFORMAT,
                                    "tracestate: list-member %zu has an "
                                    "invalid value",
                                    index + 1);
            for (size_t i = 0; i < n_members; i++) {
                if (members[i].key_len == key_len &&
                    memcmp(members[i].start, start, key_len) == 0)
                    return kh_error_set(err, KH_EFORMAT,
                                        "tracestate: key of list-member %zu "
                                        "repeats an earlier one",
                                        index + 1);
            }
            members[n_members++] = (tracestate_member){
                .start = start, .len = len, .key_len = key_len, .kept = true};
        }
        if (!comma)
            break;
        p = comma + 1;
    }

    /* Cut to size the way the recommendation suggests: members over 128
     * characters go first, then members from the end. */
    size_t total = 0;
    for (size_t i = 0; i < n_members; i++)
        total += members[i].len + (i > 0);
    for (size_t i = 0; i < n_members && total > KH_TRACESTATE_MAX; i++) {
        if (members[i].len > 128) {
            members[i].kept = false;
            total -= members[i].len + 1;
        }
    }
    for (size_t i = n_members; i-- > 0 && total > KH_TRACESTATE_MAX;) {
        if (members[i].kept) {
            members[i].kept = false;
            total -= members[i].len + 1;
        }
    }
    size_t len = 0;
    for (size_t i = 0; i < n_members; i++) {
        if (!members[i].kept)
            continue;
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, members[i].start, members[i].len);
        len += members[i].len;
    }
    out[len] = '\0';
    return KH_OK;
}

/* ---- B3 ---- */

/* A 16- or 32-digit trace id (64-bit ids left-padded), any case. */
static bool b3_trace_id(const char *s, size_t len, uint8_t out[16]) {
    memset(out, 0, KH_TRACE_ID_BYTES);
    if (len == 32)
        return hex_decode(s, 16, true, out);
    if (len == 16)
        return hex_decode(s, 8, true, out + 8);
    return false;
}

static bool b3_span_id(const char *s, size_t len, uint8_t out[8]) {
    return len == 16 && hex_decode(s, 8, true, out);
}

int kh_b3_parse_single(const char *value, kh_span_context *out,
                       kh_error *err) {
    if (!value || !out)
        return kh_error_set(err, KH_EINVAL, "b3: no value");
    const char *s = value;
    const char *end = value + strlen(value);
    trim(&s, &end);
    const char *fields[4];
    size_t lengths[4];
    size_t n = 0;
    for (const char *p = s;;) {
        const char *dash = memchr(p, '-', (size_t)(end - p));
        if (n == 4)
            return kh_error_set(err, KH_EFORMAT, "b3: more than 4 fields");
        fields[n] = p;
        lengths[n] = (size_t)((dash ? dash : end) - p);
        n++;
        if (!dash)
            break;
        p = dash + 1;
    }
    if (n == 1) {
        if (lengths[0] == 1 && strchr("01d", fields[0][0]))
            return kh_error_set(err, KH_ENOTFOUND,
                                "b3: a sampling decision without ids");
        return kh_error_set(err, KH_EFORMAT, "b3: no span id");
    }
    kh_span_context parsed;
    memset(&parsed, 0, sizeof parsed);
    if (!b3_trace_id(fields[0], lengths[0], parsed.trace_id))
        return kh_error_set(err, KH_EFORMAT,
                            "b3: trace id is not 16 or 32 hex digits");
    if (!b3_span_id(fields[1], lengths[1], parsed.span_id))
        return kh_error_set(err, KH_EFORMAT,
                            "b3: span id is not 16 hex digits");
    parsed.flags = KH_TRACE_FLAG_SAMPLED;
    if (n >= 3) {
        if (lengths[2] != 1 || !strchr("01d", fields[2][0]))
            return kh_error_set(err, KH_EFORMAT,
                                "b3: sampling state is not 0, 1 or d");
        if (fields[2][0] == '0')
            parsed.flags = 0;
    }
    uint8_t parent[KH_SPAN_ID_BYTES];
    if (n == 4 && (!b3_span_id(fields[3], lengths[3], parent) ||
                   all_zero(parent, KH_SPAN_ID_BYTES)))
        return kh_error_set(err, KH_EFORMAT,
                            "b3: parent span id is not 16 hex digits");
    if (!kh_span_context_valid(&parsed))
        return kh_error_set(err, KH_EFORMAT, "b3: an id is all zeros");
    *out = parsed;
    return KH_OK;
}

int kh_b3_parse_multi(const char *trace_id, const char *span_id,
                      const char *sampled, const char *flags,
                      const char *parent_span_id, kh_span_context *out,
                      kh_error *err) {
    if (!out)
        return kh_error_set(err, KH_EINVAL, "X-B3: no output");
    if (!trace_id || !span_id)
        return kh_error_set(err, KH_ENOTFOUND,
                            "X-B3: X-B3-TraceId and X-B3-SpanId required");
    kh_span_context parsed;
    memset(&parsed, 0, sizeof parsed);
    if (!b3_trace_id(trace_id, strlen(trace_id), parsed.trace_id))
        return kh_error_set(err, KH_EFORMAT,
                            "X-B3-TraceId: not 16 or 32 hex digits");
    if (!b3_span_id(span_id, strlen(span_id), parsed.span_id))
        return kh_error_set(err, KH_EFORMAT,
                            "X-B3-SpanId: not 16 hex digits");
    parsed.flags = KH_TRACE_FLAG_SAMPLED;
    if (sampled) {
        if (strcmp(sampled, "0") == 0 || strcasecmp(sampled, "false") == 0)
            parsed.flags = 0;
        else if (strcmp(sampled, "1") != 0 && strcasecmp(sampled, "true") != 0)
            return kh_error_set(err, KH_EFORMAT,
                                "X-B3-Sampled: not 1, 0, true or false");
    }
    if (flags) {
        if (strcmp(flags, "1") == 0)
            parsed.flags = KH_TRACE_FLAG_SAMPLED;
        else if (strcmp(flags, "0") != 0)
            return kh_error_set(err, KH_EFORMAT, "X-B3-Flags: not 0 or 1");
    }
    uint8_t parent[KH_SPAN_ID_BYTES];
    if (parent_span_id &&
        !b3_span_id(parent_span_id, strlen(parent_span_id), parent))
        return kh_error_set(err, KH_EFORMAT,
                            "X-B3-ParentSpanId: not 16 hex digits");
    if (!kh_span_context_valid(&parsed))
        return kh_error_set(err, KH_EFORMAT, "X-B3: an id is all zeros");
    *out = parsed;
    return KH_OK;
}

/* ---- carriers ---- */

bool kh_trace_extract_http(const kh_http_header *headers, size_t n_headers,
                           kh_span_context *out) {
    if (!out)
        return false;
    const char *traceparent = NULL;
    size_t n_traceparent = 0;
    /* Several tracestate headers are one list (RFC 7230 field order). */
    char joined[KH_TRACESTATE_MAX * 2 + 2];
    size_t joined_len = 0;
    bool tracestate_too_long = false;
    for (size_t i = 0; i < n_headers; i++) {
        const char *name = headers[i].name;
        const char *value = headers[i].value ? headers[i].value : "";
        if (!name)
            continue;
        if (strcasecmp(name, "traceparent") == 0) {
            traceparent = value;
            n_traceparent++;
        } else if (strcasecmp(name, "tracestate") == 0) {
            size_t len = strlen(value);
            if (joined_len + len + 2 > sizeof joined) {
                tracestate_too_long = true;
                continue;
            }
            if (joined_len > 0)
                joined[joined_len++] = ',';
            memcpy(joined + joined_len, value, len);
            joined_len += len;
        }
    }
    joined[joined_len] = '\0';
    if (n_traceparent == 1 &&
        kh_traceparent_parse(traceparent, out, NULL) == KH_OK) {
        /* A tracestate we cannot read (or that is absurdly long) is
         * dropped; the trace goes on. */
        if (tracestate_too_long ||
            kh_tracestate_parse(joined, out->tracestate, NULL) != KH_OK)
            out->tracestate[0] = '\0';
        return true;
    }
    if (n_traceparent > 0)
        return false;
    const char *b3 = kh_http_headers_get(headers, n_headers, "b3");
    if (b3)
        return kh_b3_parse_single(b3, out, NULL) == KH_OK;
    if (kh_b3_parse_multi(
            kh_http_headers_get(headers, n_headers, "X-B3-TraceId"),
            kh_http_headers_get(headers, n_headers, "X-B3-SpanId"),
            kh_http_headers_get(headers, n_headers, "X-B3-Sampled"),
            kh_http_headers_get(headers, n_headers, "X-B3-Flags"),
            kh_http_headers_get(headers, n_headers, "X-B3-ParentSpanId"), out,
            NULL) == KH_OK)
        return true;
    /* A CloudEvent in binary mode carries its tracing extension as ce-
     * headers: a broker delivery without trace headers still joins the
     * event's trace. */
    const char *ce_traceparent =
        kh_http_headers_get(headers, n_headers, "ce-traceparent");
    if (!ce_traceparent ||
        kh_traceparent_parse(ce_traceparent, out, NULL) != KH_OK)
        return false;
    const char *ce_tracestate =
        kh_http_headers_get(headers, n_headers, "ce-tracestate");
    if (ce_tracestate &&
        kh_tracestate_parse(ce_tracestate, out->tracestate, NULL) != KH_OK)
        out->tracestate[0] = '\0';
    return true;
}

void kh_trace_inject_http(const kh_span_context *ctx, kh_trace_headers *out) {
    memset(out, 0, sizeof *out);
    if (!kh_span_context_valid(ctx))
        return;
    kh_traceparent_format(ctx, out->traceparent);
    out->headers[0].name = (char *)"traceparent";
    out->headers[0].value = out->traceparent;
    out->n_headers = 1;
    if (ctx->tracestate[0]) {
        memcpy(out->tracestate, ctx->tracestate, sizeof out->tracestate);
        out->tracestate[KH_TRACESTATE_MAX] = '\0';
        out->headers[1].name = (char *)"tracestate";
        out->headers[1].value = out->tracestate;
        out->n_headers = 2;
    }
}

bool kh_trace_extract_event(const kh_cloudevent *ev, kh_span_context *out) {
    if (!ev || !out)
        return false;
    const char *traceparent = kh_cloudevent_get(ev, "traceparent");
    if (!traceparent || kh_traceparent_parse(traceparent, out, NULL) != KH_OK)
        return false;
    const char *tracestate = kh_cloudevent_get(ev, "tracestate");
    if (tracestate &&
        kh_tracestate_parse(tracestate, out->tracestate, NULL) != KH_OK)
        out->tracestate[0] = '\0';
    return true;
}

int kh_trace_inject_event(kh_cloudevent *ev, const kh_span_context *ctx,
                          kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "trace inject: no event");
    if (!kh_span_context_valid(ctx))
        return KH_OK;
    char traceparent[KH_TRACEPARENT_SIZE];
    kh_traceparent_format(ctx, traceparent);
    int rc = kh_cloudevent_set(ev, "traceparent", traceparent, err);
    if (rc != KH_OK)
        return rc;
    return kh_cloudevent_set(ev, "tracestate",
                             ctx->tracestate[0] ? ctx->tracestate : NULL, err);
}
