/* Log lines: text and JSON forms, levels, the fields taken from an event
 * (never its data), and hostile values that must not break a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"

#define MAX_LINES 8

typedef struct captured {
    int n;
    char *lines[MAX_LINES];
    kh_log_level levels[MAX_LINES];
} captured;

static void capture(void *user, kh_log_level level, const char *line,
                    size_t len) {
    captured *c = user;
    assert_int_equal(strlen(line), len);
    if (c->n < MAX_LINES) {
        c->lines[c->n] = strndup(line, len);
        c->levels[c->n] = level;
    }
    c->n++;
}

static int setup(void **state) {
    captured *c = calloc(1, sizeof *c);
    kh_log_set_sink(capture, c);
    kh_log_set_level(KH_LOG_INFO);
    kh_log_set_format(KH_LOG_TEXT);
    kh_log_set_service("test-service");
    *state = c;
    return 0;
}

static int teardown(void **state) {
    captured *c = *state;
    kh_log_set_sink(NULL, NULL);
    for (int i = 0; i < c->n && i < MAX_LINES; i++)
        free(c->lines[i]);
    free(c);
    return 0;
}

static void assert_matches(const char *pattern, const char *line) {
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("line does not match.\n  pattern: %s\n  line:    %s", pattern,
                 line);
}

static json_t *parse_json_line(const char *line) {
    json_error_t error;
    json_t *root = json_loads(line, 0, &error);
    if (!root || !json_is_object(root))
        fail_msg("not a JSON object (%s): %s", error.text, line);
    return root;
}

static void assert_json_string(json_t *root, const char *key,
                               const char *expected) {
    const char *actual = json_string_value(json_object_get(root, key));
    if (!actual || strcmp(actual, expected) != 0)
        fail_msg("%s: expected '%s', got '%s'", key, expected,
                 actual ? actual : "(absent)");
}

static void text_line_has_time_level_service_and_fields(void **state) {
    captured *c = *state;
    kh_log_fields fields = {.event_id = "ev-1", .picture_id = "17",
                            .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
    kh_log(KH_LOG_INFO, &fields, "%d faces", 2);
    assert_int_equal(c->n, 1);
    assert_matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                   "[0-9]{3}Z INFO  test-service: 2 faces event=ev-1 "
                   "picture=17 trace=4bf92f3577b34da6a3ce929d0e0e4736$",
                   c->lines[0]);
    fields.service = "other";
    kh_log(KH_LOG_ERROR, &fields, "boom");
    assert_matches(" ERROR other: boom event=", c->lines[1]);
    assert_int_equal(c->levels[1], KH_LOG_ERROR);
}

static void levels_below_the_threshold_are_skipped(void **state) {
    captured *c = *state;
    kh_log(KH_LOG_DEBUG, NULL, "hidden");
    assert_int_equal(c->n, 0);
    assert_false(kh_log_enabled(KH_LOG_DEBUG));
    kh_log_set_level(KH_LOG_DEBUG);
    kh_log(KH_LOG_DEBUG, NULL, "shown");
    assert_int_equal(c->n, 1);
    kh_log_set_level(KH_LOG_OFF);
    kh_log(KH_LOG_ERROR, NULL, "off");
    assert_int_equal(c->n, 1);
    assert_false(kh_log_enabled(KH_LOG_OFF));

    kh_log_level level;
    kh_log_format format;
    kh_error err = {0};
    assert_int_equal(kh_log_parse_level("WARNING", &level, &err), KH_OK);
    assert_int_equal(level, KH_LOG_WARN);
    assert_int_equal(kh_log_parse_level("quiet", &level, &err), KH_OK);
    assert_int_equal(level, KH_LOG_OFF);
    assert_int_equal(kh_log_parse_level("loud", &level, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "loud"));
    assert_int_equal(kh_log_parse_format("json", &format, &err), KH_OK);
    assert_int_equal(format, KH_LOG_JSON);
    assert_int_equal(kh_log_parse_format("xml", &format, &err), KH_EINVAL);
}

static void json_lines_are_objects_with_every_field(void **state) {
    captured *c = *state;
    kh_log_set_format(KH_LOG_JSON);
    kh_log_fields fields = {.event_id = "ev\"1", .picture_id = "17"};
    kh_log(KH_LOG_WARN, &fields, "quote \" backslash \\ newline \n tab \t "
                                 "ctl \x01 bad \xff");
    assert_int_equal(c->n, 1);
    json_t *root = parse_json_line(c->lines[0]);
    assert_json_string(root, "level", "warn");
    assert_json_string(root, "service", "test-service");
    assert_json_string(root, "event_id", "ev\"1");
    assert_json_string(root, "picture_id", "17");
    assert_null(json_object_get(root, "trace_id"));
    assert_json_string(root, "message", "quote \" backslash \\ newline \n tab "
                                        "\t ctl \x01 bad \xef\xbf\xbd");
    assert_matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$",
                   json_string_value(json_object_get(root, "time")));
    assert_null(strchr(c->lines[0], '\n'));
    json_decref(root);
}

static void text_values_cannot_forge_lines(void **state) {
    captured *c = *state;
    kh_log_fields fields = {.event_id = "x\nFAKE 2024 ERROR evil: y"};
    kh_log(KH_LOG_INFO, &fields, "a\r\nb");
    assert_int_equal(c->n, 1);
    assert_null(strchr(c->lines[0], '\n'));
    assert_null(strchr(c->lines[0], '\r'));
    assert_matches("test-service: a\\\\r\\\\nb event=x\\\\nFAKE", c->lines[0]);
}

static void event_lines_read_ids_never_data(void **state) {
    captured *c = *state;
    kh_log_set_format(KH_LOG_JSON);
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_error err = {0};
    assert_int_equal(kh_cloudevent_set(&ev, "id", "face-3", &err), KH_OK);
    assert_int_equal(kh_cloudevent_set(&ev, "pictureid", "42", &err), KH_OK);
    assert_int_equal(
        kh_cloudevent_set(&ev, "traceparent",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
                          "01",
                          &err),
        KH_OK);
    assert_int_equal(kh_cloudevent_set_data(&ev, "SECRET-PIXELS", 13,
                                            "image/jpeg", &err),
                     KH_OK);
    kh_log_event(KH_LOG_INFO, "emotion", &ev, "scored");
    kh_log_event(KH_LOG_INFO, "emotion", NULL, "no event");
    assert_int_equal(c->n, 2);
    json_t *root = parse_json_line(c->lines[0]);
    assert_json_string(root, "service", "emotion");
    assert_json_string(root, "event_id", "face-3");
    assert_json_string(root, "picture_id", "42");
    assert_json_string(root, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_json_string(root, "message", "scored");
    json_decref(root);
    assert_null(strstr(c->lines[0], "SECRET"));
    root = parse_json_line(c->lines[1]);
    assert_null(json_object_get(root, "event_id"));
    json_decref(root);
    kh_cloudevent_free(&ev);
}

static void long_messages_are_cut_and_stay_valid(void **state) {
    captured *c = *state;
    kh_log_set_format(KH_LOG_JSON);
    char *huge = malloc(100000);
    memset(huge, '\x01', 99999); /* every byte escapes to six */
    huge[99999] = '\0';
    char *long_id = malloc(5000);
    memset(long_id, 'i', 4999);
    long_id[4999] = '\0';
    /* A multi-byte character straddling the cut must not be split. */
    char accents[3000] = "x";
    for (int i = 0; i < 1400; i++)
        strcat(accents, "\xc3\xa9");
    kh_log_fields fields = {.event_id = long_id, .picture_id = long_id,
                            .trace_id = long_id, .service = long_id};
    kh_log(KH_LOG_INFO, &fields, "%s", huge);
    kh_log(KH_LOG_INFO, NULL, "%s", accents);
    assert_int_equal(c->n, 2);
    assert_true(strlen(c->lines[0]) <= KH_LOG_LINE_MAX);
    json_t *root = parse_json_line(c->lines[0]);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "message"))),
                     1024);
    assert_int_equal(
        strlen(json_string_value(json_object_get(root, "event_id"))), 256);
    json_decref(root);
    root = parse_json_line(c->lines[1]);
    const char *message = json_string_value(json_object_get(root, "message"));
    assert_non_null(message);
    assert_null(strstr(message, "\xef\xbf\xbd")); /* nothing split */
    json_decref(root);
    free(huge);
    free(long_id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            text_line_has_time_level_service_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(levels_below_the_threshold_are_skipped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(json_lines_are_objects_with_every_field,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(text_values_cannot_forge_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(event_lines_read_ids_never_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(long_messages_are_cut_and_stay_valid,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
