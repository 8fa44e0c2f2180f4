/* ce_sender.c - see ce_sender.h. */
#include "events/ce_sender.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int check_extra_headers(const char *url, const kh_http_header *extra,
                               size_t n, kh_error *err) {
    if (n > 0 && !extra)
        return kh_error_set(err, KH_EINVAL, "%s: %zu extra headers but none "
                                            "given",
                            url, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = extra[i].name ? extra[i].name : "";
        if (strcasecmp(name, "Content-Type") == 0 ||
            strncasecmp(name, "ce-", 3) == 0)
            return kh_error_set(err, KH_EINVAL,
                                "%s: extra header '%s' would override the "
                                "event's own",
                                url, name);
    }
    return KH_OK;
}

int kh_ce_send_response(const char *url, const kh_cloudevent *events,
                        size_t n, kh_ce_mode mode,
                        const kh_http_header *extra_headers,
                        size_t n_extra_headers, long timeout_ms,
                        kh_http_response *res, kh_error *err) {
    if (!res)
        return kh_error_set(err, KH_EINVAL, "CloudEvents send: no response");
    kh_http_response_init(res);
    res->status = 0;
    if (!url)
        return kh_error_set(err, KH_EINVAL, "CloudEvents send: no URL");
    if (mode != KH_CE_MODE_BATCH && (n != 1 || !events))
        return kh_error_set(err, KH_EINVAL,
                            "%s: %s mode sends exactly one event, not %zu",
                            url, kh_ce_mode_name(mode), n);
    int rc = check_extra_headers(url, extra_headers, n_extra_headers, err);
    if (rc != KH_OK)
        return rc;

    kh_http_header *headers;
    size_t n_headers;
    uint8_t *body;
    size_t body_len;
    rc = mode == KH_CE_MODE_BATCH
             ? kh_ce_http_encode_batch(events, n, &headers, &n_headers, &body,
                                       &body_len, err)
             : kh_ce_http_encode(events, mode, &headers, &n_headers, &body,
                                 &body_len, err);
    if (rc != KH_OK)
        return kh_error_prefix(err, "%s", url);

    kh_http_header *all = malloc((n_headers + n_extra_headers + 1) *
                                 sizeof *all);
    if (!all) {
        kh_ce_http_headers_free(headers, n_headers);
        free(body);
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory", url);
    }
    if (n_headers)
        memcpy(all, headers, n_headers * sizeof *all);
    if (n_extra_headers)
        memcpy(all + n_headers, extra_headers, n_extra_headers * sizeof *all);

    kh_http_client_request req = {
        .method = "POST",
        .url = url,
        .headers = all,
        .n_headers = n_headers + n_extra_headers,
        .body = body,
        .body_len = body_len,
        .timeout_ms = timeout_ms,
    };
    rc = kh_http_client_do(&req, res, err);
    free(all);
    kh_ce_http_headers_free(headers, n_headers);
    free(body);
    return rc;
}

int kh_ce_send(const char *url, const kh_cloudevent *event, kh_ce_mode mode,
               const kh_http_header *extra_headers, size_t n_extra_headers,
               long timeout_ms, int *status, kh_cloudevent *reply,
               kh_error *err) {
    if (status)
        *status = 0;
    if (reply)
        kh_cloudevent_init(reply);
    if (!event)
        return kh_error_set(err, KH_EINVAL, "CloudEvents send: no event");
    kh_http_response res;
    int rc = kh_ce_send_response(url, event, 1,
                                 mode, extra_headers, n_extra_headers,
                                 timeout_ms, &res, err);
    if (rc != KH_OK)
        return rc;
    if (status)
        *status = res.status;
    if (reply) {
        bool has_reply;
        rc = kh_ce_http_decode_reply(&res, reply, &has_reply, err);
        if (rc != KH_OK)
            kh_error_prefix(err, "reply from %s", url);
    }
    kh_http_response_free(&res);
    return rc;
}

int kh_ce_send_batch(const char *url, const kh_cloudevent *events, size_t n,
                     const kh_http_header *extra_headers,
                     size_t n_extra_headers, long timeout_ms, int *status,
                     kh_error *err) {
    if (status)
        *status = 0;
    kh_http_response res;
    int rc = kh_ce_send_response(url, events, n, KH_CE_MODE_BATCH,
                                 extra_headers, n_extra_headers, timeout_ms,
                                 &res, err);
    if (rc != KH_OK)
        return rc;
    if (status)
        *status = res.status;
    kh_http_response_free(&res);
    return KH_OK;
}
