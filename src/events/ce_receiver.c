/* ce_receiver.c - see ce_receiver.h. */
#include "events/ce_receiver.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BODY (8u * 1024 * 1024)

struct kh_ce_receiver {
    kh_http_server *server;
    kh_ce_receiver_options opts;
    kh_ce_event_handler on_event;
    void *user;
};

int kh_ce_handler_status(int rc, int no_reply_status) {
    if (rc == KH_OK)
        return no_reply_status;
    if (rc >= 100 && rc <= 599)
        return rc;
    switch (rc) {
    case KH_EINVAL:
    case KH_EFORMAT:
    case KH_ERANGE:
    case KH_ETYPE:
        return 400;
    case KH_ENOTFOUND:
        return 404;
    case KH_EUNSUPPORTED:
        return 415;
    case KH_EEXIST:
    case KH_ESTATE:
        return 409;
    case KH_ETIMEOUT:
        return 504;
    case KH_ENETWORK:
        return 502;
    default:
        return 500;
    }
}

static void answer_handler_failure(kh_http_response *res, int rc,
                                   const kh_error *err, size_t index,
                                   bool batched) {
    int status = kh_ce_handler_status(rc, 500);
    const char *message = err->message[0] ? err->message : kh_strerror(rc);
    if (status < 400) {
        /* A handler's own non-error status (e.g. 200 without a reply). */
        res->status = status;
        return;
    }
    if (batched)
        kh_http_response_error(res, status, "batch event %zu: %s", index,
                               message);
    else
        kh_http_response_error(res, status, "%s", message);
}

void kh_ce_receiver_handle(const kh_ce_receiver_options *opts,
                           kh_ce_event_handler on_event, void *user,
                           const kh_http_request *req, kh_http_response *res) {
    kh_ce_receiver_options defaults = {0};
    if (!opts)
        opts = &defaults;
    int no_reply_status = opts->no_reply_status ? opts->no_reply_status : 202;

    if (strcmp(req->path, "/healthz") == 0 &&
        (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)) {
        kh_http_response_set(res, 200, "application/json",
                             "{\"status\":\"ok\"}\n", 16);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        kh_http_response_header(res, "Allow", "POST");
        kh_http_response_error(res, 405,
                               "method %s not allowed: CloudEvents are "
                               "delivered with POST",
                               req->method);
        return;
    }

    kh_cloudevent *events = NULL;
    size_t count = 0;
    kh_ce_mode mode;
    kh_error err = {0};
    int rc = kh_ce_http_decode(req, &events, &count, &mode, &err);
    if (rc != KH_OK) {
        kh_http_response_error(res, kh_ce_http_status_for_decode(rc),
                               "%s event: %s", kh_ce_mode_name(mode),
                               err.message);
        return;
    }

    bool batched = mode == KH_CE_MODE_BATCH;
    for (size_t i = 0; i < count; i++) {
        kh_cloudevent reply;
        kh_cloudevent_init(&reply);
        kh_error_clear(&err);
        rc = on_event(user, &events[i], batched ? NULL : &reply, &err);
        if (rc != KH_OK) {
            kh_cloudevent_free(&reply);
            answer_handler_failure(res, rc, &err, i, batched);
            kh_cloudevents_free(events, count);
            return;
        }
        bool has_reply = reply.id || reply.specversion || reply.type ||
                         reply.source || reply.data;
        if (has_reply) {
            kh_error reply_err = {0};
            kh_ce_mode reply_mode = opts->reply_mode == KH_CE_MODE_STRUCTURED
                                        ? KH_CE_MODE_STRUCTURED
                                        : KH_CE_MODE_BINARY;
            int reply_rc = kh_ce_http_response_set_event(
                res, 200, &reply, reply_mode, &reply_err);
            if (reply_rc != KH_OK)
                kh_http_response_error(res, 500, "handler reply event: %s",
                                       reply_err.message);
            kh_cloudevent_free(&reply);
            kh_cloudevents_free(events, count);
            return;
        }
        kh_cloudevent_free(&reply);
    }
    kh_cloudevents_free(events, count);
    res->status = no_reply_status;
}

static void serve(void *user, const kh_http_request *req,
                  kh_http_response *res) {
    kh_ce_receiver *receiver = user;
    kh_ce_receiver_handle(&receiver->opts, receiver->on_event, receiver->user,
                          req, res);
}

int kh_ce_receiver_start(const kh_ce_receiver_options *opts,
                         kh_ce_event_handler on_event, void *user,
                         kh_ce_receiver **out, kh_error *err) {
    if (!on_event || !out)
        return kh_error_set(err, KH_EINVAL,
                            "CloudEvents receiver: handler and out are "
                            "required");
    *out = NULL;
    kh_ce_receiver *receiver = calloc(1, sizeof *receiver);
    if (!receiver)
        return kh_error_set(err, KH_ENOMEM,
                            "CloudEvents receiver: out of memory");
    if (opts)
        receiver->opts = *opts;
    if (receiver->opts.no_reply_status != 0 &&
        receiver->opts.no_reply_status != 202 &&
        receiver->opts.no_reply_status != 204) {
        int status = receiver->opts.no_reply_status;
        free(receiver);
        return kh_error_set(err, KH_EINVAL,
                            "CloudEvents receiver: no_reply_status %d (202 or "
                            "204)",
                            status);
    }
    receiver->on_event = on_event;
    receiver->user = user;
    kh_http_server_options server_opts = {
        .bind_addr = receiver->opts.bind_addr,
        .port = receiver->opts.port,
        .max_body_bytes = receiver->opts.max_body_bytes
                              ? receiver->opts.max_body_bytes
                              : DEFAULT_MAX_BODY,
        .threads = receiver->opts.threads,
        .thread_per_connection = receiver->opts.thread_per_connection,
    };
    int rc = kh_http_server_start(&server_opts, serve, receiver,
                                  &receiver->server, err);
    if (rc != KH_OK) {
        free(receiver);
        return kh_error_prefix(err, "CloudEvents receiver");
    }
    /* The caller's strings need not outlive the call. */
    receiver->opts.bind_addr = NULL;
    *out = receiver;
    return KH_OK;
}

int kh_ce_receiver_port(const kh_ce_receiver *receiver) {
    return receiver ? kh_http_server_port(receiver->server) : 0;
}

void kh_ce_receiver_stop(kh_ce_receiver *receiver) {
    if (!receiver)
        return;
    kh_http_server_stop(receiver->server);
    free(receiver);
}
