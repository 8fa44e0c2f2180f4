/* CloudEvents interoperability with the official JavaScript SDK (npm
 * `cloudevents`, pinned in package.json / package-lock.json beside this
 * file, installed by setup.sh at test time).
 *
 * 1. The SDK sends events to our receiver in binary, structured and batched
 *    mode (peer.js send); we check every attribute, extension and data byte
 *    against the literal values peer.js uses.
 * 2. We send events to a Node server that parses them with the SDK's
 *    HTTP.toEvent and echoes what it understood as JSON (peer.js serve); we
 *    check it against what we sent, in every mode.
 *
 * Environment: KH_INTEROP_NODE_MODULES, the node_modules folder setup.sh
 * filled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "events/ce_receiver.h"
#include "events/ce_sender.h"
#include "events/cloudevent.h"
#include "../test_ce_support.h"

extern char **environ;

#define PEER_JS KH_SOURCE_DIR "/tests/events/interop/peer.js"
#define CHILD_TIMEOUT_MS 60000

/* ---- child processes ---- */

typedef struct child {
    pid_t pid;
    int stdout_fd;
    int stdin_fd; /* -1 when stdin is /dev/null */
} child;

static void spawn_peer(const char *command, const char *url, bool keep_stdin,
                       child *c) {
    const char *modules = getenv("KH_INTEROP_NODE_MODULES");
    if (!modules)
        fail_msg("KH_INTEROP_NODE_MODULES is not set (run through ctest)");
    setenv("NODE_PATH", modules, 1);
    int out[2], in[2] = {-1, -1};
    assert_int_equal(pipe(out), 0);
    if (keep_stdin)
        assert_int_equal(pipe(in), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    if (keep_stdin) {
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        posix_spawn_file_actions_addclose(&actions, in[1]);
    } else {
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                         O_RDONLY, 0);
    }
    char *argv[] = {"node", PEER_JS, (char *)command, (char *)url, NULL};
    int rc = posix_spawnp(&c->pid, "node", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (keep_stdin)
        close(in[0]);
    if (rc != 0)
        fail_msg("cannot start node: %s", strerror(rc));
    c->stdout_fd = out[0];
    c->stdin_fd = keep_stdin ? in[1] : -1;
}

/* Reads until EOF, or a line when stop_at_newline; bounded in time. */
static char *read_output(int fd, bool stop_at_newline) {
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
                       (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > CHILD_TIMEOUT_MS)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        if (len + 1024 > cap) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
        text[len] = '\0';
        if (stop_at_newline && memchr(text, '\n', len))
            break;
    }
    text[len] = '\0';
    return text;
}

static int wait_child(child *c, int timeout_ms) {
    int status = 0;
    for (int i = 0; i < timeout_ms / 100; i++) {
        pid_t done = waitpid(c->pid, &status, WNOHANG);
        if (done == c->pid) {
            c->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        usleep(100 * 1000);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
    c->pid = 0;
    return 124;
}

static void end_child(child *c) {
    if (c->stdin_fd >= 0)
        close(c->stdin_fd);
    c->stdin_fd = -1;
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        wait_child(c, 5000);
    }
    if (c->stdout_fd >= 0)
        close(c->stdout_fd);
    c->stdout_fd = -1;
}

/* ---- 1. the SDK sends, we receive ---- */

#define MAX_EVENTS 16

typedef struct received {
    pthread_mutex_t lock;
    kh_cloudevent events[MAX_EVENTS];
    size_t n;
} received;

static int record(void *user, const kh_cloudevent *in, kh_cloudevent *reply,
                  kh_error *err) {
    (void)reply;
    received *r = user;
    pthread_mutex_lock(&r->lock);
    int rc = KH_OK;
    if (r->n < MAX_EVENTS)
        rc = kh_cloudevent_copy(&r->events[r->n++], in, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static const kh_cloudevent *find(const received *r, const char *id) {
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->events[i].id, id) == 0)
            return &r->events[i];
    }
    fail_msg("event '%s' never arrived (%zu events did)", id, r->n);
    return NULL;
}

static void expect_attr(const kh_cloudevent *ev, const char *name,
                        const char *expected) {
    ce_assert_same_string(name, kh_cloudevent_get(ev, name), expected);
}

static const uint8_t PNG_BYTES[] = {0x89, 0x50, 0x4e, 0x47,
                                    0x00, 0xff, 0x10, 0x0a};

static void expect_bytes(const kh_cloudevent *ev, const uint8_t *bytes,
                         size_t len) {
    if (!ev->data || ev->data_len != len || memcmp(ev->data, bytes, len) != 0)
        fail_msg("event '%s': %zu data bytes, expected %zu (or different "
                 "bytes)",
                 ev->id, ev->data_len, len);
}

static void sdk_sends_to_our_receiver(void **unused) {
    (void)unused;
    received r = {.n = 0};
    pthread_mutex_init(&r.lock, NULL);
    kh_ce_receiver_options opts = {.bind_addr = "127.0.0.1",
                                   .thread_per_connection = true};
    kh_ce_receiver *receiver;
    kh_error err = {0};
    if (kh_ce_receiver_start(&opts, record, &r, &receiver, &err) != KH_OK)
        fail_msg("receiver: %s", err.message);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/",
             kh_ce_receiver_port(receiver));

    child c;
    spawn_peer("send", url, false, &c);
    char *output = read_output(c.stdout_fd, false);
    int exit_code = wait_child(&c, CHILD_TIMEOUT_MS);
    end_child(&c);
    kh_ce_receiver_stop(receiver);
    print_message("peer.js send:\n%s", output);
    if (exit_code != 0)
        fail_msg("peer.js send exited %d:\n%s", exit_code, output);
    free(output);
    assert_int_equal(r.n, 6);

    /* Binary mode, JSON data, extensions of three types. */
    const kh_cloudevent *ev = find(&r, "js-binary-json");
    expect_attr(ev, "specversion", "1.0");
    expect_attr(ev, "source", "/interop/js");
    expect_attr(ev, "type", "io.khappy.interop.json");
    expect_attr(ev, "subject", "picture 42");
    expect_attr(ev, "time", "2024-05-01T12:00:00.123Z");
    expect_attr(ev, "datacontenttype", "application/json");
    expect_attr(ev, "dataschema", "https://khappy.example/schemas/faces");
    expect_attr(ev, "pictureid", "42");
    expect_attr(ev, "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01");
    expect_attr(ev, "count", "7");
    expect_attr(ev, "flag", "true");
    assert_int_equal(ev->n_extensions, 4);
    ce_assert_data(ev, "{\"faces\":[{\"x\":1,\"y\":2.5}],\"name\":\"J\xc3\xb6rg\"}");

    /* Binary mode, binary data. */
    ev = find(&r, "js-binary-bytes");
    expect_attr(ev, "datacontenttype", "application/octet-stream");
    expect_attr(ev, "time", "2024-05-01T12:00:01.000Z");
    expect_bytes(ev, PNG_BYTES, sizeof PNG_BYTES);

    /* Structured mode: Unicode everywhere, text data. */
    ev = find(&r, "js-structured-text");
    expect_attr(ev, "type", "io.khappy.interop.text");
    expect_attr(ev, "subject", "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    expect_attr(ev, "datacontenttype", "text/plain");
    expect_attr(ev, "unicode", "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9");
    ce_assert_data(ev, "Hello, \xf0\x9f\x8c\x8e! \"quoted\" 100%");

    /* Structured mode, binary data (data_base64). */
    ev = find(&r, "js-structured-bytes");
    expect_attr(ev, "datacontenttype", "image/png");
    expect_bytes(ev, PNG_BYTES, sizeof PNG_BYTES);
    assert_true(ev->data_is_base64_in_json);

    /* Batched mode. */
    ev = find(&r, "js-batch-1");
    expect_attr(ev, "type", "io.khappy.interop.emotion");
    expect_attr(ev, "datacontenttype", NULL);
    ce_assert_data(ev, "{\"emotion\":\"happiness\",\"score\":0.875}");
    ev = find(&r, "js-batch-2");
    expect_attr(ev, "datacontenttype", "text/plain");
    expect_attr(ev, "pictureid", "43");
    ce_assert_data(ev, "second");

    for (size_t i = 0; i < r.n; i++)
        kh_cloudevent_free(&r.events[i]);
    pthread_mutex_destroy(&r.lock);
}

/* ---- 2. we send, the SDK parses ---- */

static kh_cloudevent our_event(const char *id, const char *content_type,
                               const void *data, size_t len) {
    kh_cloudevent ev;
    ce_build(&ev, "specversion", "1.0", "id", id, "source", "/interop/c",
             "type", "io.khappy.interop.c", "time", "2024-05-02T08:00:00.000Z",
             "pictureid", "42", "traceparent",
             "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01", NULL);
    kh_error err = {0};
    if (kh_cloudevent_set_data(&ev, data, len, content_type, &err) != KH_OK)
        fail_msg("set_data: %s", err.message);
    return ev;
}

/* The SDK hands binary-mode header values out as they came, without the
 * percent-decoding the binding asks for; we accept either the value or its
 * percent-decoded form there, and require the exact value elsewhere. */
static void expect_sdk_string(const char *what, const char *sdk_value,
                              const char *ours, bool binary_mode) {
    if (!ours && !sdk_value)
        return;
    if (!ours || !sdk_value)
        fail_msg("%s: SDK has '%s', we sent '%s'",
                 what, sdk_value ? sdk_value : "(absent)",
                 ours ? ours : "(absent)");
    if (strcmp(sdk_value, ours) == 0)
        return;
    if (binary_mode) {
        char decoded[512];
        size_t len;
        if (kh_http_percent_decode(sdk_value, strlen(sdk_value), false,
                                   decoded, sizeof decoded, &len) == KH_OK &&
            strcmp(decoded, ours) == 0)
            return;
    }
    fail_msg("%s: SDK has '%s', we sent '%s'", what, sdk_value, ours);
}

static const char *json_str(const json_t *object, const char *key) {
    const json_t *value = json_object_get(object, key);
    return json_is_string(value) ? json_string_value(value) : NULL;
}

static void expect_sdk_event(const json_t *sdk, const kh_cloudevent *ours,
                             bool binary_mode) {
    static const char *const attributes[] = {"id", "source", "type",
                                             "specversion", "subject",
                                             "dataschema", "time",
                                             "datacontenttype"};
    for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++)
        expect_sdk_string(attributes[i], json_str(sdk, attributes[i]),
                          kh_cloudevent_get(ours, attributes[i]),
                          binary_mode);
    const json_t *extensions = json_object_get(sdk, "extensions");
    if (json_object_size(extensions) != ours->n_extensions)
        fail_msg("event '%s': SDK sees %zu extensions, we sent %zu", ours->id,
                 json_object_size(extensions), ours->n_extensions);
    for (size_t i = 0; i < ours->n_extensions; i++)
        expect_sdk_string(ours->extensions[i].name,
                          json_str(extensions, ours->extensions[i].name),
                          ours->extensions[i].value, binary_mode);

    const char *kind = json_str(sdk, "data_kind");
    const char *data = json_str(sdk, "data");
    assert_non_null(kind);
    if (strcmp(kind, "none") == 0) {
        assert_null(ours->data);
    } else if (strcmp(kind, "base64") == 0) {
        uint8_t *bytes;
        size_t n;
        assert_true(kh_base64_decode(data, strlen(data), &bytes, &n));
        if (n != ours->data_len || memcmp(bytes, ours->data, n) != 0)
            fail_msg("event '%s': SDK data %zu bytes (%s), we sent %zu",
                     ours->id, n, data, ours->data_len);
        free(bytes);
    } else { /* text, or JSON the SDK re-serialized compactly */
        ce_assert_data(ours, data);
    }
}

static json_t *sdk_echo(const char *url, const kh_cloudevent *events, size_t n,
                        kh_ce_mode mode) {
    kh_http_response res;
    kh_error err = {0};
    if (kh_ce_send_response(url, events, n, mode, NULL, 0, 20000, &res,
                            &err) != KH_OK)
        fail_msg("send (%s): %s", kh_ce_mode_name(mode), err.message);
    if (res.status != 200)
        fail_msg("the SDK refused our %s message: %d %.*s",
                 kh_ce_mode_name(mode), res.status, (int)res.body_len,
                 (const char *)res.body);
    json_error_t error;
    json_t *echo = json_loadb((const char *)res.body, res.body_len, 0, &error);
    if (!echo)
        fail_msg("echo is not JSON: %s", error.text);
    kh_http_response_free(&res);
    return echo;
}

/* Module-level so that the teardown ends the server whatever happened. */
static child serve_child = {.pid = 0, .stdout_fd = -1, .stdin_fd = -1};

static int stop_serve_child(void **unused) {
    (void)unused;
    end_child(&serve_child);
    return 0;
}

static void we_send_to_the_sdk(void **unused) {
    (void)unused;
    child *c = &serve_child;
    spawn_peer("serve", NULL, true, c);
    char *line = read_output(c->stdout_fd, true);
    int port = 0;
    if (sscanf(line, "PORT %d", &port) != 1 || port <= 0) {
        fail_msg("peer.js serve did not say its port: '%s'", line);
    }
    free(line);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);

    const char *json_data = "{\"faces\":[{\"x\":1,\"y\":2.5}],\"name\":\"J\xc3\xb6rg\"}";
    const char *text_data = "Hello, \xf0\x9f\x8c\x8e! \"quoted\" 100%";
    kh_cloudevent events[3] = {
        our_event("c-json", "application/json", json_data, strlen(json_data)),
        our_event("c-bytes", "application/octet-stream", PNG_BYTES,
                  sizeof PNG_BYTES),
        our_event("c-text", "text/plain", text_data, strlen(text_data)),
    };
    kh_error err = {0};
    kh_cloudevent_set(&events[0], "subject", "picture-42", &err);
    kh_cloudevent_set(&events[0], "dataschema",
                      "https://khappy.example/schemas/faces", &err);
    kh_cloudevent_set(&events[2], "subject", "Euro \xe2\x82\xac \xf0\x9f\x98\x80",
                      &err);
    kh_cloudevent_set(&events[2], "note", "a b%c \"d\"", &err);

    kh_ce_mode modes[] = {KH_CE_MODE_BINARY, KH_CE_MODE_STRUCTURED,
                          KH_CE_MODE_BATCH};
    for (size_t e = 0; e < 3; e++) {
        for (size_t m = 0; m < 3; m++) {
            json_t *echo = sdk_echo(url, &events[e], 1, modes[m]);
            const json_t *parsed = json_object_get(echo, "events");
            assert_int_equal(json_array_size(parsed), 1);
            expect_sdk_event(json_array_get(parsed, 0), &events[e],
                             modes[m] == KH_CE_MODE_BINARY);
            if (modes[m] == KH_CE_MODE_BINARY && e == 2) {
                /* On the wire the header is the binding's encoding. */
                const json_t *headers = json_object_get(echo, "ce_headers");
                assert_string_equal(json_str(headers, "ce-subject"),
                                    "Euro%20%E2%82%AC%20%F0%9F%98%80");
                assert_string_equal(json_str(headers, "ce-note"),
                                    "a%20b%25c%20%22d%22");
            }
            json_decref(echo);
        }
    }
    /* All three in one batch. */
    json_t *echo = sdk_echo(url, events, 3, KH_CE_MODE_BATCH);
    const json_t *parsed = json_object_get(echo, "events");
    assert_int_equal(json_array_size(parsed), 3);
    for (size_t e = 0; e < 3; e++)
        expect_sdk_event(json_array_get(parsed, e), &events[e], false);
    json_decref(echo);

    for (size_t e = 0; e < 3; e++)
        kh_cloudevent_free(&events[e]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sdk_sends_to_our_receiver),
        cmocka_unit_test_teardown(we_send_to_the_sdk, stop_serve_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
