/* flaky_proxy - an HTTP proxy in front of a subscriber that answers 503 to
 * the first N deliveries of every event (by ce-id) and forwards the rest, so
 * that the end-to-end test can show a failing subscriber retried by the
 * broker and its result stored once.
 *
 *   flaky_proxy --target URL [--fail N] [--port P]
 *
 * Prints "flaky_proxy: listening on http://127.0.0.1:P/", one line per new
 * event on stderr ("flaky_proxy: event ID traceparent T") and, on SIGTERM,
 * "flaky_proxy: E events, F failures answered, D forwarded". */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"

#define MAX_EVENTS 4096

typedef struct proxy {
    const char *target;
    int fail;
    pthread_mutex_t lock;
    char *ids[MAX_EVENTS];
    int attempts[MAX_EVENTS];
    size_t n_events;
    long failures, forwarded;
} proxy;

/* How many times this event was seen before (0 the first time). */
static int seen_before(proxy *p, const char *id, const char *traceparent) {
    pthread_mutex_lock(&p->lock);
    size_t i = 0;
    while (i < p->n_events && strcmp(p->ids[i], id) != 0)
        i++;
    int before = 0;
    if (i < p->n_events) {
        before = p->attempts[i]++;
    } else if (p->n_events < MAX_EVENTS) {
        p->ids[p->n_events] = strdup(id);
        p->attempts[p->n_events++] = 1;
        fprintf(stderr, "flaky_proxy: event %s traceparent %s\n", id,
                traceparent ? traceparent : "-");
    }
    pthread_mutex_unlock(&p->lock);
    return before;
}

static bool forwarded_header(const char *name) {
    static const char *const hop[] = {"host", "content-length", "connection",
                                      "transfer-encoding", "expect",
                                      "accept-encoding", "keep-alive"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return false;
    return true;
}

static void handle(void *user, const kh_http_request *req,
                   kh_http_response *res) {
    proxy *p = user;
    const char *id = kh_http_request_header(req, "ce-id");
    if (strcmp(req->method, "POST") == 0 && id &&
        seen_before(p, id, kh_http_request_header(req, "ce-traceparent")) <
            p->fail) {
        pthread_mutex_lock(&p->lock);
        p->failures++;
        pthread_mutex_unlock(&p->lock);
        kh_http_response_error(res, 503, "failing on purpose (flaky_proxy)");
        return;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s%s%s", p->target, req->path,
             req->query[0] ? "?" : "", req->query);
    kh_http_header *headers = calloc(req->n_headers + 1, sizeof *headers);
    size_t n = 0;
    for (size_t i = 0; headers && i < req->n_headers; i++)
        if (forwarded_header(req->headers[i].name))
            headers[n++] = req->headers[i];
    kh_http_client_request out = {.method = req->method, .url = url,
                                  .headers = headers, .n_headers = n,
                                  .body = req->body,
                                  .body_len = req->body_len};
    kh_http_response answer;
    kh_error err = {0};
    if (!headers || kh_http_client_do(&out, &answer, &err) != KH_OK) {
        free(headers);
        kh_http_response_error(res, 502, "flaky_proxy: %s", err.message);
        return;
    }
    free(headers);
    pthread_mutex_lock(&p->lock);
    p->forwarded++;
    pthread_mutex_unlock(&p->lock);
    const char *type = kh_http_response_header_get(&answer, "Content-Type");
    kh_http_response_set(res, answer.status, type ? type : NULL, answer.body,
                         answer.body_len);
    for (size_t i = 0; i < answer.n_headers; i++)
        if (strncasecmp(answer.headers[i].name, "ce-", 3) == 0)
            kh_http_response_header(res, answer.headers[i].name,
                                    answer.headers[i].value);
    kh_http_response_free(&answer);
}

int main(int argc, char **argv) {
    proxy p = {.fail = 2};
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--target") == 0)
            p.target = argv[i + 1];
        else if (strcmp(argv[i], "--fail") == 0)
            p.fail = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
    }
    if (!p.target) {
        fprintf(stderr, "usage: flaky_proxy --target URL [--fail N] "
                        "[--port P]\n");
        return 2;
    }
    size_t len = strlen(p.target);
    char *target = strdup(p.target);
    if (len && target[len - 1] == '/')
        target[len - 1] = '\0';
    p.target = target;
    pthread_mutex_init(&p.lock, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    kh_http_server_options opts = {.bind_addr = "127.0.0.1", .port = port,
                                   .thread_per_connection = true};
    kh_http_server *server = NULL;
    kh_error err = {0};
    if (kh_http_server_start(&opts, handle, &p, &server, &err) != KH_OK) {
        fprintf(stderr, "flaky_proxy: %s\n", err.message);
        return 1;
    }
    printf("flaky_proxy: listening on http://127.0.0.1:%d/ -> %s\n",
           kh_http_server_port(server), p.target);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    kh_http_server_stop(server);
    fprintf(stderr, "flaky_proxy: %zu events, %ld failures answered, %ld "
                    "forwarded\n",
            p.n_events, p.failures, p.forwarded);
    for (size_t i = 0; i < p.n_events; i++)
        free(p.ids[i]);
    free(target);
    return 0;
}
