/* obs_collector - the trace collector of tests/obs/collector.h as a process,
 * for the end-to-end observability test and the tracing-overhead benchmark.
 *
 *   obs_collector
 *
 * Listens on 127.0.0.1, port 0, and prints
 * "obs_collector: listening on http://127.0.0.1:P/". Zipkin (POST
 * /api/v2/spans) and OTLP (POST /v1/traces) requests are kept and answered
 * as a collector would (202 / 200). GET /spans answers every span received
 * so far as a JSON array, each checked against the Zipkin v2 / OTLP field
 * rules by collector.h first:
 *   {"format","traceId","id","parentId","name","kind","service",
 *    "timestamp","duration","error","tags"}
 * A span that breaks a rule ends the process with a message naming the span
 * and the rule (cmocka's fail_msg outside a test exits), so the caller sees
 * GET /spans fail and the message on stderr. SIGTERM/SIGINT: prints
 * "obs_collector: R requests" and exits 0. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../obs/collector.h"

static seen_spans spans; /* large: not on a handler thread's stack */
static pthread_mutex_t spans_lock = PTHREAD_MUTEX_INITIALIZER;

static char *spans_json(collector *c) {
    pthread_mutex_lock(&spans_lock);
    collector_spans(c, &spans);
    json_t *out = json_array();
    for (int i = 0; i < spans.n; i++) {
        const seen_span *s = &spans.spans[i];
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, "
                           "s:b, s:O}",
                           "format", s->format, "traceId", s->trace_id, "id",
                           s->id, "parentId", s->parent_id, "name", s->name,
                           "kind", s->kind, "service", s->service, "timestamp",
                           (json_int_t)s->start_us, "duration",
                           (json_int_t)s->duration_us, "error", s->error,
                           "tags", s->tags));
    }
    seen_spans_free(&spans);
    pthread_mutex_unlock(&spans_lock);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

static void handler(void *user, const kh_http_request *req,
                    kh_http_response *res) {
    collector *c = user;
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/spans") == 0) {
        char *text = spans_json(c);
        if (!text) {
            kh_http_response_error(res, 500, "out of memory");
            return;
        }
        kh_http_response_set_owned(res, 200, "application/json", text,
                                   strlen(text));
        return;
    }
    collector_handler(c, req, res);
}

int main(void) {
    static collector c; /* holds 256 requests: not on the stack */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* server threads inherit it */

    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.changed, NULL);
    kh_http_server_options opts = {.bind_addr = "127.0.0.1",
                                   .port = 0,
                                   .max_body_bytes = 64u << 20,
                                   .thread_per_connection = true};
    kh_error err = {0};
    if (kh_http_server_start(&opts, handler, &c, &c.server, &err) != KH_OK) {
        fprintf(stderr, "obs_collector: %s\n", err.message);
        return 1;
    }
    printf("obs_collector: listening on http://127.0.0.1:%d/\n",
           kh_http_server_port(c.server));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    int n = c.n_requests;
    collector_stop(&c);
    fprintf(stderr, "obs_collector: %d requests\n", n);
    return 0;
}
