/* http.h - the HTTP adapters every server-side module uses: a small server
 * (libmicrohttpd underneath) and a client (libcurl underneath). Knows nothing
 * of CloudEvents, storage or the UI.
 *
 * Server: one handler function sees each complete request (body buffered,
 * limited by max_body_bytes: larger bodies get 413 without calling the
 * handler) and fills a response. Handlers may run on several threads at once.
 */
#ifndef KH_NET_HTTP_H
#define KH_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct kh_http_header {
    char *name;
    char *value;
} kh_http_header;

typedef struct kh_http_request {
    const char *method;      /* "GET", "POST", ... */
    const char *path;        /* decoded path without the query: "/api/pictures" */
    const char *query;       /* raw query string without '?', "" if none */
    const kh_http_header *headers; /* as received; names as sent */
    size_t n_headers;
    const uint8_t *body;     /* NULL when empty */
    size_t body_len;
    const char *remote_addr; /* "127.0.0.1" */
} kh_http_request;

/* Case-insensitive header look-up; NULL when absent (first one if repeated). */
const char *kh_http_request_header(const kh_http_request *req,
                                   const char *name);
/* Decoded value of query parameter `name` into buf; false when absent or
 * too long. */
bool kh_http_request_query(const kh_http_request *req, const char *name,
                           char *buf, size_t len);

typedef struct kh_http_response {
    int status;              /* default 200 */
    kh_http_header *headers; /* owned; add with kh_http_response_header */
    size_t n_headers;
    uint8_t *body;           /* owned (malloc); may be NULL */
    size_t body_len;
} kh_http_response;

/* Adds a header (copied). Returns KH_OK or KH_ENOMEM. */
int kh_http_response_header(kh_http_response *res, const char *name,
                            const char *value);
/* Sets status, Content-Type and a copy of the body. */
int kh_http_response_set(kh_http_response *res, int status,
                         const char *content_type, const void *body,
                         size_t len);
/* Same, taking ownership of a malloc'd body. */
int kh_http_response_set_owned(kh_http_response *res, int status,
                               const char *content_type, void *body,
                               size_t len);
/* {"error": message} with the status. */
int kh_http_response_error(kh_http_response *res, int status,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kh_http_response_free(kh_http_response *res);

/* Returns nothing: a handler always answers; on internal failure it sets a
 * 500 response itself. */
typedef void (*kh_http_handler)(void *user, const kh_http_request *req,
                                kh_http_response *res);

typedef struct kh_http_server_options {
    const char *bind_addr;   /* NULL: 0.0.0.0 */
    int port;                /* 0: pick a free port (see kh_http_server_port) */
    size_t max_body_bytes;   /* 0: 8 MiB */
    /* 0: 4. Size of the internal thread pool; a connection stays on one
     * thread, so a handler that blocks delays the other connections that
     * thread serves (see thread_per_connection). */
    int threads;
    /* Added: one thread per connection instead of a pool, for handlers that
     * block for long (inference, calls to other services): a slow handler
     * then never delays requests on other connections. `threads` is ignored;
     * connection_limit bounds the number of threads. */
    bool thread_per_connection;
    unsigned connection_limit; /* 0: 256 */
    unsigned idle_timeout_s;   /* idle keep-alive connections closed; 0: 60 */
} kh_http_server_options;

typedef struct kh_http_server kh_http_server;

/* opts NULL: all defaults. The request passed to the handler and all it
 * points to live only during the call. Fails with KH_ENETWORK when the
 * address cannot be bound. */
int kh_http_server_start(const kh_http_server_options *opts,
                         kh_http_handler handler, void *user,
                         kh_http_server **out, kh_error *err);
int kh_http_server_port(const kh_http_server *srv);
/* Stops accepting, waits for running handlers, frees. NULL is a no-op. */
void kh_http_server_stop(kh_http_server *srv);

/* Client: one blocking request. *res is initialised by the call (its old
 * contents are not freed); response body and headers are owned by the
 * caller (kh_http_response_free; after a failure there is nothing to free).
 * Network failures and timeouts return KH_ENETWORK / KH_ETIMEOUT with the
 * URL in the message; any HTTP status is a success at this level (look at
 * res->status). Safe to call from several threads at once. */
typedef struct kh_http_client_request {
    const char *method;      /* NULL: "POST" when body != NULL, else "GET" */
    const char *url;
    const kh_http_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    long timeout_ms;         /* 0: 30 s */
    size_t max_response_bytes; /* larger bodies fail with KH_ELIMIT; 0: 64 MiB */
} kh_http_client_request;

int kh_http_client_do(const kh_http_client_request *req,
                      kh_http_response *res, kh_error *err);

/* ---- Helpers (added) ---- */

/* Percent-decodes in[0..in_len) into out (capacity out_cap, always
 * NUL-terminated on success); plus_is_space turns '+' into ' ' (query
 * strings, not paths). *out_len (may be NULL) receives the decoded length,
 * which may contain NUL bytes when the input has %00. Returns KH_EFORMAT for a
 * '%' not followed by two hex digits, KH_ELIMIT when out is too small. */
int kh_http_percent_decode(const char *in, size_t in_len, bool plus_is_space,
                           char *out, size_t out_cap, size_t *out_len);

/* Decoded value of parameter `name` in a raw query string ("a=1&b=x%20y"):
 * the first occurrence; a name without '=' has the value "". False when
 * absent, badly encoded, containing NUL, or longer than len - 1. */
bool kh_http_query_param(const char *query, const char *name, char *buf,
                         size_t len);

/* Initialises an empty response (status 200, no headers, no body). */
void kh_http_response_init(kh_http_response *res);
/* Case-insensitive look-up in a response's headers; NULL when absent. */
const char *kh_http_response_header_get(const kh_http_response *res,
                                        const char *name);
/* Case-insensitive look-up in any header array; NULL when absent. */
const char *kh_http_headers_get(const kh_http_header *headers, size_t n,
                                const char *name);

#endif
