/* http_client.c - kh_http_client_do on libcurl: one blocking request on the
 * calling thread's own easy handle, so calls on several threads never share
 * state and calls on one thread reuse connections. */
#include "net/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
/* Bodies this large ask the server first (Expect: 100-continue), so a server
 * that refuses them (413) does not make us send megabytes for nothing. */
#define EXPECT_CONTINUE_FROM (64u * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static pthread_key_t thread_handle_key;

static void thread_handle_destroy(void *curl) {
    curl_easy_cleanup(curl);
}

static void curl_init_once(void) {
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (curl_init_result == CURLE_OK &&
        pthread_key_create(&thread_handle_key, thread_handle_destroy) != 0)
        curl_init_result = CURLE_FAILED_INIT;
}

/* The calling thread's easy handle, reset for a new request. One per thread
 * keeps its connection cache: repeated requests to the same peer (a broker
 * delivering to a subscriber) reuse the connection instead of paying a TCP
 * handshake each time. Freed when the thread exits. */
static CURL *thread_handle(void) {
    CURL *curl = pthread_getspecific(thread_handle_key);
    if (curl) {
        curl_easy_reset(curl);
        return curl;
    }
    curl = curl_easy_init();
    if (curl && pthread_setspecific(thread_handle_key, curl) != 0) {
        curl_easy_cleanup(curl);
        return NULL;
    }
    return curl;
}

typedef struct transfer {
    kh_http_response *res;
    size_t max_body;
    bool body_too_large;
    bool out_of_memory;
    size_t body_cap;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    size_t len = size * nmemb;
    kh_http_response *res = t->res;
    if (len > t->max_body - res->body_len) {
        t->body_too_large = true;
        return 0; /* aborts the transfer */
    }
    if (res->body_len + len > t->body_cap) {
        size_t cap = t->body_cap ? t->body_cap : 4096;
        while (cap < res->body_len + len)
            cap *= 2;
        uint8_t *grown = realloc(res->body, cap);
        if (!grown) {
            t->out_of_memory = true;
            return 0;
        }
        res->body = grown;
        t->body_cap = cap;
    }
    memcpy(res->body + res->body_len, data, len);
    res->body_len += len;
    return len;
}

static void drop_headers(kh_http_response *res) {
    for (size_t i = 0; i < res->n_headers; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    res->headers = NULL;
    res->n_headers = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    size_t len = size * nmemb;
    /* A status line starts a new response (after "100 Continue"): only the
     * last response's headers count. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        drop_headers(t->res);
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return len; /* blank line or folded continuation: ignored */
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    while (value_len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len > 0 && (value[value_len - 1] == '\r' ||
                             value[value_len - 1] == '\n' ||
                             value[value_len - 1] == ' ' ||
                             value[value_len - 1] == '\t'))
        value_len--;
    char *name_copy = strndup(line, name_len);
    char *value_copy = strndup(value, value_len);
    kh_http_header *grown =
        realloc(t->res->headers, (t->res->n_headers + 1) * sizeof *grown);
    if (!name_copy || !value_copy || !grown) {
        free(name_copy);
        free(value_copy);
        if (grown)
            t->res->headers = grown;
        t->out_of_memory = true;
        return 0;
    }
    t->res->headers = grown;
    grown[t->res->n_headers].name = name_copy;
    grown[t->res->n_headers].value = value_copy;
    t->res->n_headers++;
    return len;
}

static bool header_name_valid(const char *name) {
    if (!name || !*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
            return false;
    }
    return true;
}

static bool header_value_valid(const char *value) {
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '\r' || *p == '\n')
            return false;
    }
    return true;
}

/* Builds the header list; "Name:" alone would remove a header in curl, so an
 * empty value is sent with curl's "Name;" form. */
static int build_headers(const kh_http_client_request *req,
                         struct curl_slist **out, kh_error *err) {
    struct curl_slist *list = NULL;
    bool has_content_type = false;
    bool has_expect = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value ? req->headers[i].value : "";
        if (!header_name_valid(name) || !header_value_valid(value)) {
            curl_slist_free_all(list);
            return kh_error_set(err, KH_EINVAL,
                                "%s: request header %zu ('%s') has an invalid "
                                "name or a line break in its value",
                                req->url, i, name ? name : "(null)");
        }
        if (strcasecmp(name, "Content-Type") == 0)
            has_content_type = true;
        if (strcasecmp(name, "Expect") == 0)
            has_expect = true;
        size_t len = strlen(name) + strlen(value) + 3;
        char *line = malloc(len);
        if (!line) {
            curl_slist_free_all(list);
            return kh_error_set(err, KH_ENOMEM, "%s: out of memory", req->url);
        }
        if (*value)
            snprintf(line, len, "%s: %s", name, value);
        else
            snprintf(line, len, "%s;", name);
        struct curl_slist *grown = curl_slist_append(list, line);
        free(line);
        if (!grown) {
            curl_slist_free_all(list);
            return kh_error_set(err, KH_ENOMEM, "%s: out of memory", req->url);
        }
        list = grown;
    }
    const char *extra[2];
    size_t n_extra = 0;
    /* curl would otherwise label a body as a form. */
    if (!has_content_type)
        extra[n_extra++] = "Content-Type:";
    if (!has_expect)
        extra[n_extra++] = req->body_len >= EXPECT_CONTINUE_FROM
                               ? "Expect: 100-continue"
                               : "Expect:";
    for (size_t i = 0; i < n_extra; i++) {
        struct curl_slist *grown = curl_slist_append(list, extra[i]);
        if (!grown) {
            curl_slist_free_all(list);
            return kh_error_set(err, KH_ENOMEM, "%s: out of memory", req->url);
        }
        list = grown;
    }
    *out = list;
    return KH_OK;
}

int kh_http_client_do(const kh_http_client_request *req,
                      kh_http_response *res, kh_error *err) {
    if (!res)
        return kh_error_set(err, KH_EINVAL, "http client: res is required");
    kh_http_response_init(res);
    res->status = 0;
    if (!req || !req->url || !*req->url)
        return kh_error_set(err, KH_EINVAL, "http client: a URL is required");
    if (req->body_len > 0 && !req->body)
        return kh_error_set(err, KH_EINVAL, "%s: body_len without a body",
                            req->url);
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return kh_error_set(err, KH_EINTERNAL, "%s: curl_global_init: %s",
                            req->url, curl_easy_strerror(curl_init_result));

    const char *method = req->method ? req->method
                         : req->body ? "POST"
                                     : "GET";
    struct curl_slist *headers = NULL;
    int rc = build_headers(req, &headers, err);
    if (rc != KH_OK)
        return rc;
    CURL *curl = thread_handle();
    if (!curl) {
        curl_slist_free_all(headers);
        return kh_error_set(err, KH_ENOMEM, "%s: curl_easy_init failed",
                            req->url);
    }

    char curl_message[CURL_ERROR_SIZE] = "";
    transfer t = {
        .res = res,
        .max_body = req->max_response_bytes ? req->max_response_bytes
                                            : DEFAULT_MAX_RESPONSE,
    };
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms
                                         : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_message);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, NULL);

    bool has_body = req->body != NULL || strcmp(method, "POST") == 0 ||
                    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                         req->body ? (const char *)req->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    /* The handle outlives this call: drop its pointers into our stack. */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, NULL);
    curl_slist_free_all(headers);

    if (t.body_too_large) {
        rc = kh_error_set(err, KH_ELIMIT,
                          "%s %s: response body over the limit of %zu bytes",
                          method, req->url, t.max_body);
    } else if (t.out_of_memory) {
        rc = kh_error_set(err, KH_ENOMEM, "%s %s: out of memory reading the "
                                          "response",
                          method, req->url);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        rc = kh_error_set(err, KH_ETIMEOUT, "%s %s: %s", method, req->url,
                          curl_message[0] ? curl_message
                                          : curl_easy_strerror(code));
    } else if (code != CURLE_OK) {
        rc = kh_error_set(err, KH_ENETWORK, "%s %s: %s", method, req->url,
                          curl_message[0] ? curl_message
                                          : curl_easy_strerror(code));
    } else {
        res->status = (int)status;
        return KH_OK;
    }
    kh_http_response_free(res);
    res->status = 0;
    return rc;
}
