/* Trigger manifests: every filter dialect (nested), attribute vs extension
 * names, the legacy attribute filter, delivery settings and their defaults,
 * durations, destinations, and refusals with file:line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events/trigger.h"

/* Events built field by field so these tests need nothing but trigger.c. */
static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static kh_cloudevent make_event(const char *type, const char *source,
                                const char *subject, ...) {
    kh_cloudevent ev;
    memset(&ev, 0, sizeof ev);
    ev.id = strdup("1");
    ev.specversion = strdup("1.0");
    ev.type = dup_or_null(type);
    ev.source = dup_or_null(source);
    ev.subject = dup_or_null(subject);
    va_list ap;
    va_start(ap, subject);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        ev.extensions = realloc(ev.extensions, (ev.n_extensions + 1) *
                                                   sizeof *ev.extensions);
        ev.extensions[ev.n_extensions].name = strdup(name);
        ev.extensions[ev.n_extensions].value = strdup(value);
        ev.n_extensions++;
    }
    va_end(ap);
    return ev;
}

static void free_event(kh_cloudevent *ev) {
    free(ev->id);
    free(ev->specversion);
    free(ev->type);
    free(ev->source);
    free(ev->subject);
    for (size_t i = 0; i < ev->n_extensions; i++) {
        free(ev->extensions[i].name);
        free(ev->extensions[i].value);
    }
    free(ev->extensions);
}

#define HEADER                                                                 \
    "apiVersion: eventing.knative.dev/v1\n"                                    \
    "kind: Trigger\n"                                                          \
    "metadata:\n"                                                              \
    "  name: t\n"                                                              \
    "spec:\n"                                                                  \
    "  broker: default\n"
#define SUBSCRIBER                                                             \
    "  subscriber:\n"                                                          \
    "    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: s}\n"

static kh_trigger_set *parse_ok(const char *yaml) {
    kh_trigger_set *set = NULL;
    kh_error err = {0};
    assert_int_equal(kh_trigger_set_create(&set, &err), KH_OK);
    int rc = kh_trigger_set_parse(set, yaml, strlen(yaml), "test.yaml", &err);
    if (rc != KH_OK)
        fail_msg("expected the YAML to parse, got %s: %s", kh_err_name(rc),
                 err.message);
    return set;
}

static void expect_refused(const char *yaml, int code, const char *needle) {
    kh_trigger_set *set = NULL;
    kh_error err = {0};
    assert_int_equal(kh_trigger_set_create(&set, &err), KH_OK);
    int rc = kh_trigger_set_parse(set, yaml, strlen(yaml), "bad.yaml", &err);
    if (rc != code || !strstr(err.message, needle))
        fail_msg("expected %s with \"%s\", got %s: \"%s\"", kh_err_name(code),
                 needle, kh_err_name(rc), err.message);
    assert_int_equal(set->count, 0);
    kh_trigger_set_destroy(set);
}

static bool matches(const kh_trigger_set *set, kh_cloudevent *ev) {
    assert_int_equal(set->count, 1);
    return kh_trigger_matches(&set->triggers[0], ev);
}

static void exact_prefix_suffix(void **state) {
    (void)state;
    kh_trigger_set *exact = parse_ok(HEADER "  filters:\n"
                                            "    - exact:\n"
                                            "        type: dev.khappy.face.detected\n"
                                            SUBSCRIBER);
    kh_trigger_set *prefix = parse_ok(HEADER "  filters:\n"
                                             "    - prefix: {type: dev.khappy.}\n"
                                             SUBSCRIBER);
    kh_trigger_set *suffix = parse_ok(HEADER "  filters:\n"
                                             "    - suffix: {type: .detected}\n"
                                             SUBSCRIBER);
    kh_cloudevent detected =
        make_event("dev.khappy.face.detected", "/x", NULL, NULL);
    kh_cloudevent stored =
        make_event("dev.khappy.picture.stored", "/x", NULL, NULL);
    kh_cloudevent upper =
        make_event("DEV.KHAPPY.FACE.DETECTED", "/x", NULL, NULL);
    assert_true(matches(exact, &detected));
    assert_false(matches(exact, &stored));
    assert_false(matches(exact, &upper)); /* case-sensitive */
    assert_true(matches(prefix, &detected));
    assert_true(matches(prefix, &stored));
    assert_false(matches(prefix, &upper));
    assert_true(matches(suffix, &detected));
    assert_false(matches(suffix, &stored));
    free_event(&detected);
    free_event(&stored);
    free_event(&upper);
    kh_trigger_set_destroy(exact);
    kh_trigger_set_destroy(prefix);
    kh_trigger_set_destroy(suffix);
}

static void all_any_not_nested(void **state) {
    (void)state;
    /* type starts with dev.khappy. AND (element is face OR element is eye)
     * AND NOT detector = pico AND NOT (source ends with /test AND ...). */
    kh_trigger_set *set = parse_ok(
        HEADER "  filters:\n"
               "    - all:\n"
               "        - prefix: {type: dev.khappy.}\n"
               "        - any:\n"
               "            - exact: {element: face}\n"
               "            - exact: {element: eye}\n"
               "    - not:\n"
               "        exact: {detector: pico}\n"
               "    - not:\n"
               "        all:\n"
               "          - suffix: {source: /test}\n"
               "          - not: {prefix: {subject: keep}}\n" SUBSCRIBER);
    kh_cloudevent face = make_event("dev.khappy.face.detected", "/svc", NULL,
                                    "element", "face", "detector", "tinyface",
                                    NULL);
    kh_cloudevent eye =
        make_event("dev.khappy.face.detected", "/svc", NULL, "element", "eye",
                   NULL);
    kh_cloudevent body =
        make_event("dev.khappy.face.detected", "/svc", NULL, "element", "body",
                   NULL);
    kh_cloudevent pico = make_event("dev.khappy.face.detected", "/svc", NULL,
                                    "element", "face", "detector", "pico",
                                    NULL);
    kh_cloudevent other_type =
        make_event("com.example", "/svc", NULL, "element", "face", NULL);
    kh_cloudevent from_test =
        make_event("dev.khappy.face.detected", "/a/test", "drop-me",
                   "element", "face", NULL);
    kh_cloudevent from_test_kept =
        make_event("dev.khappy.face.detected", "/a/test", "keep-me",
                   "element", "face", NULL);
    assert_true(matches(set, &face));
    assert_true(matches(set, &eye));
    assert_false(matches(set, &body));       /* any: neither alternative */
    assert_false(matches(set, &pico));       /* not */
    assert_false(matches(set, &other_type)); /* all: prefix fails */
    assert_false(matches(set, &from_test));  /* not(all(..., not(...))) */
    assert_true(matches(set, &from_test_kept));
    /* An expression on its own. */
    const kh_filter_expr *not_pico = &set->triggers[0].filters[1];
    assert_int_equal(not_pico->dialect, KH_FILTER_NOT);
    assert_int_equal(kh_filter_evaluate(not_pico, &pico), KH_FILTER_FAIL);
    assert_int_equal(kh_filter_evaluate(not_pico, &face), KH_FILTER_PASS);
    kh_cloudevent *all[] = {&face, &eye, &body, &pico, &other_type,
                            &from_test, &from_test_kept};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free_event(all[i]);
    kh_trigger_set_destroy(set);
}

static void attribute_and_extension_names(void **state) {
    (void)state;
    kh_cloudevent ev = make_event("dev.khappy.face.cropped", "/extractor",
                                  NULL, "pictureid", "42", "types", "x",
                                  NULL);
    assert_string_equal(kh_trigger_event_attribute(&ev, "type"),
                        "dev.khappy.face.cropped");
    assert_string_equal(kh_trigger_event_attribute(&ev, "specversion"),
                        "1.0");
    assert_string_equal(kh_trigger_event_attribute(&ev, "pictureid"), "42");
    assert_null(kh_trigger_event_attribute(&ev, "subject"));
    assert_null(kh_trigger_event_attribute(&ev, "dataschema"));
    assert_null(kh_trigger_event_attribute(&ev, "element"));

    /* An extension whose name starts like an attribute is not it. */
    kh_trigger_set *types = parse_ok(HEADER "  filters:\n"
                                            "    - exact: {types: x}\n"
                                            SUBSCRIBER);
    kh_trigger_set *type = parse_ok(HEADER "  filters:\n"
                                           "    - exact: {type: x}\n"
                                           SUBSCRIBER);
    /* An absent optional attribute does not match, not even by prefix "". */
    kh_trigger_set *subject = parse_ok(HEADER "  filters:\n"
                                              "    - prefix: {subject: a}\n"
                                              SUBSCRIBER);
    kh_trigger_set *picture = parse_ok(HEADER "  filters:\n"
                                              "    - exact: {pictureid: 42}\n"
                                              SUBSCRIBER);
    assert_true(matches(types, &ev));
    assert_false(matches(type, &ev));
    assert_false(matches(subject, &ev));
    assert_true(matches(picture, &ev)); /* a YAML number, compared as text */
    kh_trigger_set_destroy(types);
    kh_trigger_set_destroy(type);
    kh_trigger_set_destroy(subject);
    kh_trigger_set_destroy(picture);
    free_event(&ev);
}

static void legacy_attribute_filter(void **state) {
    (void)state;
    kh_trigger_set *set = parse_ok(HEADER "  filter:\n"
                                          "    attributes:\n"
                                          "      type: dev.khappy.face.detected\n"
                                          "      element: \"\"\n" SUBSCRIBER);
    kh_cloudevent face = make_event("dev.khappy.face.detected", "/d", NULL,
                                    "element", "face", NULL);
    kh_cloudevent anything = make_event("dev.khappy.face.detected", "/d",
                                        NULL, "element", "anything", NULL);
    kh_cloudevent missing =
        make_event("dev.khappy.face.detected", "/d", NULL, NULL);
    kh_cloudevent wrong_type = make_event("dev.khappy.picture.stored", "/d",
                                          NULL, "element", "face", NULL);
    assert_true(matches(set, &face));
    assert_true(matches(set, &anything)); /* "" = any value ... */
    assert_false(matches(set, &missing)); /* ... of a present attribute */
    assert_false(matches(set, &wrong_type));
    kh_trigger_set_destroy(set);

    /* spec.filters wins over spec.filter, as in Knative. */
    set = parse_ok(HEADER "  filter:\n"
                          "    attributes: {type: never.this}\n"
                          "  filters:\n"
                          "    - exact: {element: face}\n" SUBSCRIBER);
    assert_true(matches(set, &face));
    kh_trigger_set_destroy(set);

    /* No filter at all: everything. */
    set = parse_ok(HEADER SUBSCRIBER);
    assert_true(matches(set, &missing));
    kh_trigger_set_destroy(set);
    free_event(&face);
    free_event(&anything);
    free_event(&missing);
    free_event(&wrong_type);
}

static void delivery_defaults_and_settings(void **state) {
    (void)state;
    kh_trigger_set *set = parse_ok(HEADER SUBSCRIBER);
    const kh_trigger *t = &set->triggers[0];
    assert_string_equal(t->name, "t");
    assert_string_equal(t->namespace_name, "default");
    assert_string_equal(t->broker, "default");
    assert_int_equal(t->delivery.retry, KH_DELIVERY_DEFAULT_RETRY);
    assert_int_equal(t->delivery.backoff_policy, KH_BACKOFF_EXPONENTIAL);
    assert_int_equal(t->delivery.backoff_delay_ms, 200);
    assert_int_equal(t->delivery.timeout_ms, 0);
    assert_false(t->delivery.has_dead_letter_sink);
    assert_string_equal(t->subscriber.ref_name, "s");
    assert_string_equal(t->subscriber.ref_kind, "Service");
    assert_string_equal(t->subscriber.ref_namespace, "default");
    assert_int_equal(t->source_line, 1);
    kh_trigger_set_destroy(set);

    set = parse_ok("apiVersion: eventing.knative.dev/v1\n"
                   "kind: Trigger\n"
                   "metadata: {name: with-delivery, namespace: khappy}\n"
                   "spec:\n"
                   "  subscriber:\n"
                   "    ref: {apiVersion: v1, kind: Service, name: s}\n"
                   "    uri: /hook\n"
                   "  delivery:\n"
                   "    retry: 3\n"
                   "    backoffPolicy: linear\n"
                   "    backoffDelay: PT0.5S\n"
                   "    timeout: PT2S\n"
                   "    deadLetterSink:\n"
                   "      uri: http://127.0.0.1:9999/dead\n");
    t = &set->triggers[0];
    assert_string_equal(t->namespace_name, "khappy");
    assert_string_equal(t->subscriber.ref_namespace, "khappy");
    assert_string_equal(t->subscriber.uri, "/hook");
    assert_int_equal(t->delivery.retry, 3);
    assert_int_equal(t->delivery.backoff_policy, KH_BACKOFF_LINEAR);
    assert_int_equal(t->delivery.backoff_delay_ms, 500);
    assert_int_equal(t->delivery.timeout_ms, 2000);
    assert_true(t->delivery.has_dead_letter_sink);
    assert_string_equal(t->delivery.dead_letter_sink.uri,
                        "http://127.0.0.1:9999/dead");
    /* linear: delay * n */
    assert_int_equal(kh_delivery_backoff_ms(&t->delivery, 1), 500);
    assert_int_equal(kh_delivery_backoff_ms(&t->delivery, 3), 1500);
    kh_trigger_set_destroy(set);

    kh_delivery exponential = {.retry = 5,
                               .backoff_policy = KH_BACKOFF_EXPONENTIAL,
                               .backoff_delay_ms = 200};
    /* exponential: delay * 2^n */
    assert_int_equal(kh_delivery_backoff_ms(&exponential, 1), 400);
    assert_int_equal(kh_delivery_backoff_ms(&exponential, 3), 1600);
    assert_int_equal(kh_delivery_backoff_ms(&exponential, 0), 0);
    assert_int_equal(kh_delivery_backoff_ms(&exponential, 100000),
                     KH_DELIVERY_MAX_BACKOFF_MS);
}

static void durations(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"PT0.2S", 200},      {"PT1S", 1000},       {"PT1M30S", 90000},
        {"P1DT2H", 93600000}, {"P2W", 1209600000}, {"PT0S", 0},
        {"PT0,5S", 500},      {"PT0.0001S", 1},     {"PT1.5M", 90000},
        {"P1D", 86400000},    {"PT36H", 129600000},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        kh_error err = {0};
        int rc = kh_duration_parse_iso8601(good[i].text, &ms, &err);
        if (rc != KH_OK || ms != good[i].ms)
            fail_msg("%s: expected %lld ms, got %lld (%s %s)", good[i].text,
                     (long long)good[i].ms, (long long)ms, kh_err_name(rc),
                     err.message);
    }
    static const char *const bad[] = {
        "",     "P",     "PT",       "1S",    "PT1",  "P1Y",   "P1M",
        "-PT1S", "PT1.5M30S", "PT1S1M", "PT1H1H", "P1S", "PTT1S", "PT.5S",
        "PT1.S", "P99999999999999999999D", "P106751991167301D", "PT1s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 12345;
        kh_error err = {0};
        int rc = kh_duration_parse_iso8601(bad[i], &ms, &err);
        if (rc == KH_OK)
            fail_msg("'%s' should be refused, got %lld ms", bad[i],
                     (long long)ms);
        assert_int_equal(ms, 12345);
        assert_true(strlen(err.message) > 0);
    }
}

static void refusals_name_file_line_and_what(void **state) {
    (void)state;
    expect_refused(HEADER "  filters:\n"
                          "    - regex: {type: x}\n" SUBSCRIBER,
                   KH_EFORMAT,
                   "bad.yaml:8:7: spec.filters[0]: unknown filter dialect "
                   "'regex'");
    expect_refused(HEADER "  filters:\n"
                          "    - cesql: \"type = 'x'\"\n" SUBSCRIBER,
                   KH_EUNSUPPORTED, "bad.yaml:8:7: spec.filters[0]: filter "
                                    "dialect 'cesql' is not supported");
    expect_refused(HEADER "  filters:\n"
                          "    - exact: {type: x}\n"
                          "      prefix: {type: y}\n" SUBSCRIBER,
                   KH_EFORMAT, "bad.yaml:8:7: spec.filters[0]: multiple "
                               "dialects");
    expect_refused(HEADER "  filters:\n"
                          "    - exact: {type: x, source: y}\n" SUBSCRIBER,
                   KH_EFORMAT, "spec.filters[0].exact: needs exactly one");
    expect_refused(HEADER "  filters:\n"
                          "    - all:\n"
                          "      - exact: {Type: x}\n" SUBSCRIBER,
                   KH_EFORMAT,
                   "bad.yaml:9:17: spec.filters[0].all[0].exact: invalid "
                   "attribute name 'Type'");
    expect_refused(HEADER "  filters:\n"
                          "    - exact: {type: \"\"}\n" SUBSCRIBER,
                   KH_EFORMAT, "spec.filters[0].exact.type: value must not "
                               "be empty");
    expect_refused(HEADER "  filters:\n"
                          "    - {}\n" SUBSCRIBER,
                   KH_EFORMAT, "empty filter expression");
    expect_refused(HEADER "  filters:\n"
                          "    - any: []\n" SUBSCRIBER,
                   KH_EFORMAT, "spec.filters[0].any: needs at least one");
    expect_refused(HEADER SUBSCRIBER "  delivery:\n"
                                     "    retry: -1\n",
                   KH_ERANGE,
                   "bad.yaml:10:12: spec.delivery.retry: must not be "
                   "negative, got -1");
    expect_refused(HEADER SUBSCRIBER "  delivery:\n"
                                     "    retry: three\n",
                   KH_EFORMAT, "spec.delivery.retry: must be an integer");
    expect_refused(HEADER SUBSCRIBER "  delivery:\n"
                                     "    backoffDelay: 200ms\n",
                   KH_EFORMAT,
                   "bad.yaml:10:19: spec.delivery.backoffDelay: duration "
                   "'200ms' must start with 'P'");
    expect_refused(HEADER SUBSCRIBER "  delivery:\n"
                                     "    backoffPolicy: random\n",
                   KH_EFORMAT, "'random' is not a backoff policy");
    expect_refused(HEADER SUBSCRIBER "  delivery:\n"
                                     "    deadLetterSink: {uri: /relative}\n",
                   KH_EFORMAT, "uri must be absolute");
    expect_refused(HEADER, KH_EFORMAT,
                   "bad.yaml:6:3: spec.subscriber: missing");
    expect_refused(HEADER "  subscriber: {}\n", KH_EFORMAT,
                   "bad.yaml:7:15: spec.subscriber: missing: needs ref or "
                   "uri");
    expect_refused(HEADER "  subscriber:\n"
                          "    ref: {kind: Service, apiVersion: v1}\n",
                   KH_EFORMAT, "spec.subscriber.ref.name: missing");
    expect_refused(HEADER SUBSCRIBER "  extra: 1\n", KH_EFORMAT,
                   "bad.yaml:9:3: spec: unknown field 'extra'");
    expect_refused("apiVersion: eventing.knative.dev/v1beta1\n"
                   "kind: Trigger\n",
                   KH_EFORMAT, "bad.yaml:1:13: apiVersion: a Trigger must be "
                               "eventing.knative.dev/v1");
    expect_refused("kind: Trigger\napiVersion: eventing.knative.dev/v1\n"
                   "metadata: {name: Bad_Name}\nspec: {}\n",
                   KH_EFORMAT, "metadata.name: 'Bad_Name' is not a valid");
    expect_refused(HEADER "  filters: [\n" SUBSCRIBER, KH_EFORMAT,
                   "bad.yaml:");
    expect_refused(HEADER "  filters:\n"
                          "    - exact: {type: x}\n"
                          "     bad indentation\n",
                   KH_EFORMAT, "bad.yaml:9:");
    expect_refused(HEADER SUBSCRIBER "---\n" HEADER SUBSCRIBER, KH_EEXIST,
                   "bad.yaml:10: trigger default/t is already defined at "
                   "bad.yaml:1");
    expect_refused(HEADER SUBSCRIBER "  broker: twice\n", KH_EFORMAT,
                   "duplicate key 'broker'");
    expect_refused("metadata: {name: x}\n", KH_EFORMAT,
                   "bad.yaml:1:1: document.kind: missing");

    /* Nesting beyond the limit. */
    char deep[4096] = HEADER "  filters:\n    - ";
    for (int i = 0; i < KH_FILTER_MAX_DEPTH + 1; i++)
        strcat(deep, "not: {");
    strcat(deep, "exact: {type: x}");
    for (int i = 0; i < KH_FILTER_MAX_DEPTH + 1; i++)
        strcat(deep, "}");
    strcat(deep, "\n" SUBSCRIBER);
    expect_refused(deep, KH_ELIMIT, "nested deeper than");

    /* Aliases cannot make a small file expand into a huge filter tree. */
    char laughs[8192] = HEADER "  filters:\n"
                               "    - any: &a0 [{exact: {type: x}}, {exact: "
                               "{type: y}}]\n";
    for (int i = 1; i < 20; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "    - any: &a%d [{any: *a%d}, {any: *a%d}]\n", i, i - 1,
                 i - 1);
        strcat(laughs, line);
    }
    strcat(laughs, SUBSCRIBER);
    expect_refused(laughs, KH_ELIMIT, "more than");
}

static void documents_kinds_and_directories(void **state) {
    (void)state;
    /* Other kinds are skipped; empty documents too. */
    kh_trigger_set *set = parse_ok(
        "apiVersion: eventing.knative.dev/v1\n"
        "kind: Broker\n"
        "metadata: {name: default}\n"
        "---\n"
        "---\n" HEADER SUBSCRIBER "---\n"
        "apiVersion: eventing.knative.dev/v1\n"
        "kind: Trigger\n"
        "metadata: {name: second}\n"
        "spec:\n"
        "  subscriber: {uri: \"http://127.0.0.1:1/x\"}\n");
    assert_int_equal(set->count, 2);
    assert_string_equal(set->triggers[1].name, "second");
    assert_int_equal(set->triggers[1].source_line, 15);
    assert_non_null(kh_trigger_set_find(set, "default", "second"));
    assert_null(kh_trigger_set_find(set, "other", "second"));
    kh_trigger_set_destroy(set);

    char dir[] = "/tmp/kh-triggers-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/b.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(HEADER SUBSCRIBER, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/a.yml", dir);
    f = fopen(path, "w");
    fputs("apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
          "metadata: {name: first}\nspec:\n"
          "  subscriber: {uri: \"http://127.0.0.1:1/\"}\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/alternatives", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/alternatives/c.yaml", dir);
    f = fopen(path, "w");
    fputs("not: [valid", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    f = fopen(path, "w");
    fputs("not yaml", f);
    fclose(f);

    kh_error err = {0};
    assert_int_equal(kh_trigger_set_create(&set, &err), KH_OK);
    int rc = kh_trigger_set_load_dir(set, dir, &err);
    if (rc != KH_OK)
        fail_msg("load_dir: %s", err.message);
    assert_int_equal(set->count, 2);
    assert_string_equal(set->triggers[0].name, "first"); /* a.yml first */
    assert_string_equal(set->triggers[1].name, "t");
    /* Loading again: every name is a duplicate, the set is unchanged. */
    rc = kh_trigger_set_load_dir(set, dir, &err);
    assert_int_equal(rc, KH_EEXIST);
    assert_non_null(strstr(err.message, "already defined"));
    assert_int_equal(set->count, 2);
    kh_trigger_set_destroy(set);

    /* A broken file fails the whole directory with its name and line. */
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    f = fopen(path, "w");
    fputs(HEADER "  filters:\n    - exact: {type: x}\n      nope: 1\n", f);
    fclose(f);
    assert_int_equal(kh_trigger_set_create(&set, &err), KH_OK);
    rc = kh_trigger_set_load_dir(set, dir, &err);
    assert_int_equal(rc, KH_EFORMAT);
    if (!strstr(err.message, "c.yaml:8:7"))
        fail_msg("expected c.yaml:8:7 in \"%s\"", err.message);
    assert_int_equal(set->count, 0);
    assert_int_equal(kh_trigger_set_load_file(set, "/nonexistent/x.yaml",
                                              &err),
                     KH_EIO);
    kh_trigger_set_destroy(set);
    kh_trigger_set_destroy(NULL);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int lookup_service(void *user, const kh_destination *dest, char **url,
                          kh_error *err) {
    (void)user;
    if (strcmp(dest->ref_name, "khappy-emotion") == 0) {
        *url = strdup("http://127.0.0.1:9003/");
        return KH_OK;
    }
    return kh_error_set(err, KH_ENOTFOUND, "no address for '%s'",
                        dest->ref_name);
}

static void destinations_resolve(void **state) {
    (void)state;
    kh_destination d = {.ref_name = "khappy-emotion", .ref_kind = "Service"};
    char *url = NULL;
    kh_error err = {0};
    assert_int_equal(kh_destination_resolve_url(&d, lookup_service, NULL,
                                                &url, &err),
                     KH_OK);
    assert_string_equal(url, "http://127.0.0.1:9003/");
    free(url);
    d.uri = "/events/in";
    assert_int_equal(kh_destination_resolve_url(&d, lookup_service, NULL,
                                                &url, &err),
                     KH_OK);
    assert_string_equal(url, "http://127.0.0.1:9003/events/in");
    free(url);
    d.ref_name = "unknown";
    assert_int_equal(kh_destination_resolve_url(&d, lookup_service, NULL,
                                                &url, &err),
                     KH_ENOTFOUND);
    assert_null(url);
    assert_int_equal(
        kh_destination_resolve_url(&d, NULL, NULL, &url, &err), KH_ENOTFOUND);
    kh_destination plain = {.uri = "http://example.test:8080/x"};
    assert_int_equal(kh_destination_resolve_url(&plain, NULL, NULL, &url,
                                                &err),
                     KH_OK);
    assert_string_equal(url, "http://example.test:8080/x");
    free(url);

    kh_destination copy;
    d.ref_name = "khappy-emotion";
    assert_int_equal(kh_destination_copy(&copy, &d, &err), KH_OK);
    assert_string_equal(copy.ref_name, "khappy-emotion");
    assert_string_equal(copy.uri, "/events/in");
    assert_null(copy.ref_namespace);
    kh_destination_free(&copy);
    kh_destination_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_prefix_suffix),
        cmocka_unit_test(all_any_not_nested),
        cmocka_unit_test(attribute_and_extension_names),
        cmocka_unit_test(legacy_attribute_filter),
        cmocka_unit_test(delivery_defaults_and_settings),
        cmocka_unit_test(durations),
        cmocka_unit_test(refusals_name_file_line_and_what),
        cmocka_unit_test(documents_kinds_and_directories),
        cmocka_unit_test(destinations_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
