/* test_ce_support.h - helpers shared by the CloudEvents tests: building
 * events and comparing them with both values printed on a mismatch.
 * Include after cmocka.h. */
#ifndef KH_TEST_CE_SUPPORT_H
#define KH_TEST_CE_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/cloudevent.h"

/* Builds an event from "name", "value" pairs (NULL-terminated); fails the
 * test when a setter refuses. */
static inline void ce_build(kh_cloudevent *ev, ...) {
    kh_cloudevent_init(ev);
    va_list ap;
    va_start(ap, ev);
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name)
            break;
        const char *value = va_arg(ap, const char *);
        kh_error err = {0};
        if (kh_cloudevent_set(ev, name, value, &err) != KH_OK)
            fail_msg("set %s=%s: %s", name, value, err.message);
    }
    va_end(ap);
}

static inline void ce_minimal(kh_cloudevent *ev, const char *id) {
    ce_build(ev, "specversion", "1.0", "id", id, "source", "/khappy/tests",
             "type", "io.khappy.test", NULL);
}

static inline void ce_assert_same_string(const char *what, const char *a,
                                         const char *b) {
    if (!a && !b)
        return;
    if (!a || !b || strcmp(a, b) != 0)
        fail_msg("%s differs: '%s' vs '%s'", what, a ? a : "(absent)",
                 b ? b : "(absent)");
}

/* Same attributes, same extensions (any order), same data bytes. */
static inline void ce_assert_equal(const kh_cloudevent *a,
                                   const kh_cloudevent *b) {
    static const char *const core[] = {"specversion", "id", "source",
                                       "type", "datacontenttype",
                                       "dataschema", "subject", "time"};
    for (size_t i = 0; i < sizeof core / sizeof *core; i++)
        ce_assert_same_string(core[i], kh_cloudevent_get(a, core[i]),
                              kh_cloudevent_get(b, core[i]));
    if (a->n_extensions != b->n_extensions)
        fail_msg("extension count differs: %zu vs %zu", a->n_extensions,
                 b->n_extensions);
    for (size_t i = 0; i < a->n_extensions; i++)
        ce_assert_same_string(a->extensions[i].name, a->extensions[i].value,
                              kh_cloudevent_get(b, a->extensions[i].name));
    if ((a->data == NULL) != (b->data == NULL))
        fail_msg("data present differs: %s vs %s", a->data ? "yes" : "no",
                 b->data ? "yes" : "no");
    if (a->data_len != b->data_len)
        fail_msg("data length differs: %zu vs %zu ('%.*s' vs '%.*s')",
                 a->data_len, b->data_len, (int)(a->data_len < 200 ? a->data_len : 200),
                 (const char *)a->data, (int)(b->data_len < 200 ? b->data_len : 200),
                 (const char *)b->data);
    if (a->data_len && memcmp(a->data, b->data, a->data_len) != 0)
        fail_msg("data bytes differ ('%.*s' vs '%.*s')",
                 (int)(a->data_len < 200 ? a->data_len : 200), (const char *)a->data,
                 (int)(b->data_len < 200 ? b->data_len : 200), (const char *)b->data);
}

static inline void ce_assert_data(const kh_cloudevent *ev, const char *text) {
    if (!ev->data)
        fail_msg("no data, expected '%s'", text);
    size_t len = strlen(text);
    if (ev->data_len != len || memcmp(ev->data, text, len) != 0)
        fail_msg("data '%.*s' (%zu bytes), expected '%s' (%zu bytes)",
                 (int)ev->data_len, (const char *)ev->data, ev->data_len,
                 text, len);
}

/* Fails unless message contains needle. */
static inline void ce_assert_contains(const char *message,
                                      const char *needle) {
    if (!strstr(message, needle))
        fail_msg("message '%s' does not mention '%s'", message, needle);
}

#endif
