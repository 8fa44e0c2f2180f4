/* http_server.c - kh_http_server on libmicrohttpd.
 *
 * MHD calls the access handler several times per request: once when the
 * headers are in (we check the declared size), once per piece of body (we
 * buffer it, up to the limit), and once when the request is complete (we call
 * the user's handler and queue its response). The per-request state is
 * created by the URI log callback, which is the only place MHD shows the raw
 * request target with its query string.
 */
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY (8u * 1024 * 1024)
#define DEFAULT_THREADS 4
#define DEFAULT_CONNECTION_LIMIT 256
#define DEFAULT_IDLE_TIMEOUT_S 60
#define PREALLOCATE_MAX (256u * 1024)

struct kh_http_server {
    struct MHD_Daemon *daemon;
    kh_http_handler handler;
    void *user;
    size_t max_body_bytes;
    int port;
};

typedef struct request_state {
    char *raw_target;   /* "/path?query" as received */
    bool headers_seen;
    bool too_large;     /* body over the limit: answer 413 at the end */
    bool answered;      /* a response is already queued */
    uint8_t *body;
    size_t body_len;
    size_t body_cap;
} request_state;

/* Header collection for kh_http_request: pointers into MHD's memory, valid
 * for the duration of the request. */
typedef struct header_list {
    kh_http_header *items;
    size_t n;
    size_t cap;
    bool failed;
} header_list;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
    (void)cls;
    (void)con;
    request_state *state = calloc(1, sizeof *state);
    if (!state)
        return NULL;
    state->raw_target = strdup(uri ? uri : "/");
    if (!state->raw_target) {
        free(state);
        return NULL;
    }
    return state;
}

static void on_completed(void *cls, struct MHD_Connection *con,
                         void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)con;
    (void)toe;
    request_state *state = *con_cls;
    if (!state)
        return;
    free(state->raw_target);
    free(state->body);
    free(state);
    *con_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value) {
    (void)kind;
    header_list *list = cls;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        kh_http_header *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown) {
            list->failed = true;
            return MHD_NO;
        }
        list->items = grown;
        list->cap = cap;
    }
    /* kh_http_header has non-const members because responses own theirs;
     * request headers are handed out as const. */
    list->items[list->n].name = (char *)key;
    list->items[list->n].value = (char *)(value ? value : "");
    list->n++;
    return MHD_YES;
}

/* Queues a response; on failure MHD closes the connection, which is all we
 * can do then. */
static enum MHD_Result queue(struct MHD_Connection *con, request_state *state,
                             kh_http_response *res) {
    struct MHD_Response *mhd_res;
    if (res->body && res->body_len > 0) {
        mhd_res = MHD_create_response_from_buffer(res->body_len, res->body,
                                                  MHD_RESPMEM_MUST_FREE);
        if (mhd_res)
            res->body = NULL; /* MHD frees it */
    } else {
        mhd_res = MHD_create_response_from_buffer(0, NULL,
                                                  MHD_RESPMEM_PERSISTENT);
    }
    if (!mhd_res) {
        kh_http_response_free(res);
        return MHD_NO;
    }
    int status = res->status;
    for (size_t i = 0; i < res->n_headers; i++) {
        /* MHD computes the length itself. */
        if (strcasecmp(res->headers[i].name, "Content-Length") == 0)
            continue;
        /* MHD refuses names or values with CR/LF (header injection): then
         * the handler made a mistake, and the client gets a bare 500. */
        /* MHD refuses empty values; a lone space is the same value once
         * the receiver strips the optional whitespace around it. */
        const char *value =
            res->headers[i].value[0] ? res->headers[i].value : " ";
        if (MHD_add_response_header(mhd_res, res->headers[i].name, value) !=
            MHD_YES) {
            MHD_destroy_response(mhd_res);
            kh_http_response_free(res);
            mhd_res = MHD_create_response_from_buffer(
                0, NULL, MHD_RESPMEM_PERSISTENT);
            if (!mhd_res)
                return MHD_NO;
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }
    }
    if (status < 100 || status > 999)
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    enum MHD_Result ok = MHD_queue_response(con, (unsigned)status, mhd_res);
    MHD_destroy_response(mhd_res);
    kh_http_response_free(res);
    if (ok == MHD_YES && state)
        state->answered = true;
    return ok;
}

static enum MHD_Result queue_error(struct MHD_Connection *con,
                                   request_state *state, int status,
                                   const char *message) {
    kh_http_response res;
    kh_http_response_init(&res);
    if (kh_http_response_error(&res, status, "%s", message) != KH_OK)
        res.status = status;
    return queue(con, state, &res);
}

static bool body_append(request_state *state, const char *data, size_t len,
                        size_t limit) {
    if (state->body_len + len > state->body_cap) {
        size_t cap = state->body_cap ? state->body_cap : 4096;
        while (cap < state->body_len + len)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        uint8_t *grown = realloc(state->body, cap);
        if (!grown)
            return false;
        state->body = grown;
        state->body_cap = cap;
    }
    memcpy(state->body + state->body_len, data, len);
    state->body_len += len;
    return true;
}

static void client_address(struct MHD_Connection *con, char *out,
                           size_t len) {
    snprintf(out, len, "unknown");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *addr = info->client_addr;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &v4->sin_addr, out, (socklen_t)len);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &v6->sin6_addr, out, (socklen_t)len);
    }
}

static enum MHD_Result dispatch(kh_http_server *srv, struct MHD_Connection *con,
                                request_state *state, const char *method) {
    /* Split the raw target into the path (decoded here rather than by MHD so
     * that a bad escape or an embedded NUL is refused, not truncated) and the
     * raw query. */
    const char *target = state->raw_target;
    const char *question = strchr(target, '?');
    size_t raw_path_len = question ? (size_t)(question - target)
                                   : strlen(target);
    char *path = malloc(raw_path_len + 1);
    if (!path)
        return queue_error(con, state, 500, "out of memory");
    size_t path_len;
    if (kh_http_percent_decode(target, raw_path_len, false, path,
                               raw_path_len + 1, &path_len) != KH_OK ||
        strlen(path) != path_len) {
        free(path);
        return queue_error(con, state, 400,
                           "request path is not validly percent-encoded");
    }

    header_list headers = {0};
    MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &headers);
    if (headers.failed) {
        free(headers.items);
        free(path);
        return queue_error(con, state, 500, "out of memory");
    }

    char remote[INET6_ADDRSTRLEN];
    client_address(con, remote, sizeof remote);

    kh_http_request req = {
        .method = method,
        .path = path,
        .query = question ? question + 1 : "",
        .headers = headers.items,
        .n_headers = headers.n,
        .body = state->body_len ? state->body : NULL,
        .body_len = state->body_len,
        .remote_addr = remote,
    };
    kh_http_response res;
    kh_http_response_init(&res);
    srv->handler(srv->user, &req, &res);
    free(headers.items);
    free(path);
    return queue(con, state, &res);
}

static bool parse_content_length(const char *text, uint64_t *out) {
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno == ERANGE)
        value = UINT64_MAX; /* absurdly large: certainly over the limit */
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return false;
    *out = value;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)url;
    (void)version;
    kh_http_server *srv = cls;
    request_state *state = *con_cls;
    if (!state) /* the URI callback could not allocate */
        return queue_error(con, NULL, 500, "out of memory");
    if (state->answered) {
        /* An early 413: MHD discards the rest and closes the connection. */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (!state->headers_seen) {
        state->headers_seen = true;
        const char *declared = MHD_lookup_connection_value(
            con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t length;
        if (declared && parse_content_length(declared, &length)) {
            if (length > srv->max_body_bytes) {
                char message[128];
                snprintf(message, sizeof message,
                         "request body of %" PRIu64
                         " bytes is over the limit of %zu bytes",
                         length, srv->max_body_bytes);
                return queue_error(con, state, 413, message);
            }
            /* Allocate a declared body at once instead of growing it, but
             * only up to a bound: a header alone must not reserve megabytes
             * per connection before any byte of body has arrived. */
            if (length > 0) {
                size_t first = length < PREALLOCATE_MAX ? (size_t)length
                                                        : PREALLOCATE_MAX;
                state->body = malloc(first);
                if (!state->body)
                    return queue_error(con, state, 500, "out of memory");
                state->body_cap = first;
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t piece = *upload_data_size;
        *upload_data_size = 0;
        if (state->too_large)
            return MHD_YES;
        if (piece > srv->max_body_bytes - state->body_len) {
            /* A chunked body ran over: drop what we have and try to answer
             * at once; when MHD cannot answer in the middle of a body, the
             * rest is read and discarded (never stored) and the 413 goes out
             * at the end. */
            state->too_large = true;
            free(state->body);
            state->body = NULL;
            state->body_len = state->body_cap = 0;
            char message[128];
            snprintf(message, sizeof message,
                     "request body is over the limit of %zu bytes",
                     srv->max_body_bytes);
            kh_http_response res;
            kh_http_response_init(&res);
            if (kh_http_response_error(&res, 413, "%s", message) != KH_OK)
                res.status = 413;
            queue(con, state, &res);
            return MHD_YES;
        }
        if (!body_append(state, upload_data, piece, srv->max_body_bytes))
            return queue_error(con, state, 500, "out of memory");
        return MHD_YES;
    }

    if (state->too_large) {
        char message[128];
        snprintf(message, sizeof message,
                 "request body is over the limit of %zu bytes",
                 srv->max_body_bytes);
        return queue_error(con, state, 413, message);
    }
    return dispatch(srv, con, state, method);
}

int kh_http_server_start(const kh_http_server_options *opts,
                         kh_http_handler handler, void *user,
                         kh_http_server **out, kh_error *err) {
    if (!handler || !out)
        return kh_error_set(err, KH_EINVAL,
                            "http server: handler and out are required");
    *out = NULL;
    kh_http_server_options defaults = {0};
    if (!opts)
        opts = &defaults;
    if (opts->port < 0 || opts->port > 65535)
        return kh_error_set(err, KH_EINVAL, "http server: port %d out of range",
                            opts->port);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    const char *bind_addr = opts->bind_addr ? opts->bind_addr : "0.0.0.0";
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1)
        return kh_error_set(err, KH_EINVAL,
                            "http server: bind address '%s' is not an IPv4 "
                            "address",
                            bind_addr);

    kh_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return kh_error_set(err, KH_ENOMEM, "http server: out of memory");
    srv->handler = handler;
    srv->user = user;
    srv->max_body_bytes =
        opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;

    unsigned connection_limit =
        opts->connection_limit ? opts->connection_limit
                               : DEFAULT_CONNECTION_LIMIT;
    unsigned idle_timeout =
        opts->idle_timeout_s ? opts->idle_timeout_s : DEFAULT_IDLE_TIMEOUT_S;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    unsigned pool_size = 0;
    if (opts->thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    else
        pool_size = opts->threads > 0 ? (unsigned)opts->threads
                                      : DEFAULT_THREADS;

    /* MHD's pool size of 1 means "no pool": the polling thread serves. */
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_timeout,
        MHD_OPTION_THREAD_POOL_SIZE, pool_size > 1 ? pool_size : 0u,
        MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv);
        return kh_error_set(err, KH_ENETWORK,
                            "http server: cannot listen on %s:%d (address in "
                            "use or not available?)",
                            bind_addr, opts->port);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? (int)info->port : opts->port;
    if (srv->port == 0) {
        MHD_stop_daemon(srv->daemon);
        free(srv);
        return kh_error_set(err, KH_ENETWORK,
                            "http server: cannot read back the bound port");
    }
    *out = srv;
    return KH_OK;
}

int kh_http_server_port(const kh_http_server *srv) {
    return srv ? srv->port : 0;
}

void kh_http_server_stop(kh_http_server *srv) {
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
