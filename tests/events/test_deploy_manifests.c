/* The Knative deployment files (deploy/knative/) and the trigger files
 * (triggers/) hold together: every document has a known kind with its
 * apiVersion and the required fields, every trigger's subscriber is a
 * defined Knative Service and its broker a defined Broker, deploy's triggers
 * are triggers/ plus a namespace, exactly one detector is active, and the
 * routes carry the event flow from picture to report. Read with libyaml
 * via KH_SOURCE_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "events/trigger.h"

#ifndef KH_SOURCE_DIR
#error "KH_SOURCE_DIR must name the source tree"
#endif

#define DEPLOY KH_SOURCE_DIR "/deploy/knative"
#define TRIGGERS KH_SOURCE_DIR "/triggers"
#define NAMESPACE "khappy"

static const char *const SERVICES[] = {
    "khappy-face-detector-tinyface", "khappy-face-detector-pico",
    "khappy-face-extractor", "khappy-emotion", "khappy-report"};
#define N_SERVICES (sizeof SERVICES / sizeof SERVICES[0])

/* ------------------------------------------------- generic YAML access */

typedef struct manifest {
    char file[1024];
    int line;
    char kind[64];
    char api_version[64];
    char name[128];
    char namespace_name[64];
    /* Service */
    char image[256];
    char arg0[64];
    long container_port;
    bool emits_events;
    char data_claim[64];    /* volume "data": persistentVolumeClaim.claimName */
    char data_mount[128];   /* where the container mounts volume "data" */
    /* SinkBinding */
    char sink_kind[64];
    char sink_name[64];
    char selector_label[128];
} manifest;

static manifest manifests[64];
static size_t n_manifests;

static yaml_node_t *get(yaml_document_t *doc, yaml_node_t *map,
                        const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static yaml_node_t *item(yaml_document_t *doc, yaml_node_t *seq, size_t i) {
    if (!seq || seq->type != YAML_SEQUENCE_NODE ||
        (size_t)(seq->data.sequence.items.top -
                 seq->data.sequence.items.start) <= i)
        return NULL;
    return yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
}

static void copy_scalar(yaml_node_t *node, char *out, size_t len) {
    out[0] = '\0';
    if (node && node->type == YAML_SCALAR_NODE)
        snprintf(out, len, "%s", (const char *)node->data.scalar.value);
}

/* Path like "spec.template.spec"; NULL when a step is missing. */
static yaml_node_t *at(yaml_document_t *doc, yaml_node_t *node,
                       const char *path) {
    char copy[256];
    snprintf(copy, sizeof copy, "%s", path);
    char *save = NULL;
    for (char *step = strtok_r(copy, ".", &save); step && node;
         step = strtok_r(NULL, ".", &save))
        node = get(doc, node, step);
    return node;
}

static void read_manifests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc))
            fail_msg("%s:%zu: YAML error: %s", path,
                     parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "?");
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break;
        }
        if (n_manifests == sizeof manifests / sizeof manifests[0])
            fail_msg("too many manifests");
        manifest *m = &manifests[n_manifests++];
        memset(m, 0, sizeof *m);
        snprintf(m->file, sizeof m->file, "%s", path);
        m->line = (int)root->start_mark.line + 1;
        copy_scalar(get(&doc, root, "kind"), m->kind, sizeof m->kind);
        copy_scalar(get(&doc, root, "apiVersion"), m->api_version,
                    sizeof m->api_version);
        copy_scalar(at(&doc, root, "metadata.name"), m->name, sizeof m->name);
        copy_scalar(at(&doc, root, "metadata.namespace"), m->namespace_name,
                    sizeof m->namespace_name);
        if (!m->kind[0] || !m->api_version[0] || !m->name[0])
            fail_msg("%s:%d: kind, apiVersion and metadata.name are "
                     "required (kind '%s', apiVersion '%s', name '%s')",
                     path, m->line, m->kind, m->api_version, m->name);
        if (strcmp(m->kind, "Service") == 0) {
            yaml_node_t *container =
                item(&doc, at(&doc, root, "spec.template.spec.containers"),
                     0);
            copy_scalar(get(&doc, container, "image"), m->image,
                        sizeof m->image);
            copy_scalar(item(&doc, get(&doc, container, "args"), 0), m->arg0,
                        sizeof m->arg0);
            char port[16];
            copy_scalar(get(&doc, item(&doc, get(&doc, container, "ports"),
                                       0),
                            "containerPort"),
                        port, sizeof port);
            m->container_port = strtol(port, NULL, 10);
            char emits[16];
            /* The label key holds dots: look it up in the labels. */
            yaml_node_t *labels = at(&doc, root, "metadata.labels");
            copy_scalar(get(&doc, labels, "khappy.dev/emits-events"), emits,
                        sizeof emits);
            m->emits_events = strcmp(emits, "true") == 0;
            yaml_node_t *volume =
                item(&doc, at(&doc, root, "spec.template.spec.volumes"), 0);
            copy_scalar(get(&doc, get(&doc, volume, "persistentVolumeClaim"),
                            "claimName"),
                        m->data_claim, sizeof m->data_claim);
            copy_scalar(get(&doc,
                            item(&doc, get(&doc, container, "volumeMounts"),
                                 0),
                            "mountPath"),
                        m->data_mount, sizeof m->data_mount);
        }
        if (strcmp(m->kind, "SinkBinding") == 0) {
            copy_scalar(at(&doc, root, "spec.sink.ref.kind"), m->sink_kind,
                        sizeof m->sink_kind);
            copy_scalar(at(&doc, root, "spec.sink.ref.name"), m->sink_name,
                        sizeof m->sink_name);
            yaml_node_t *labels =
                at(&doc, root, "spec.subject.selector.matchLabels");
            if (labels && labels->type == YAML_MAPPING_NODE &&
                labels->data.mapping.pairs.top >
                    labels->data.mapping.pairs.start) {
                yaml_node_pair_t *p = labels->data.mapping.pairs.start;
                char key[96], value[32];
                copy_scalar(yaml_document_get_node(&doc, p->key), key,
                            sizeof key);
                copy_scalar(yaml_document_get_node(&doc, p->value), value,
                            sizeof value);
                snprintf(m->selector_label, sizeof m->selector_label,
                         "%s=%s", key, value);
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
}

static void read_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".yaml") == 0) {
            char path[768];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            read_manifests(path);
        }
    }
    closedir(d);
}

static const manifest *find(const char *kind, const char *name,
                            const char *namespace_name) {
    for (size_t i = 0; i < n_manifests; i++)
        if (strcmp(manifests[i].kind, kind) == 0 &&
            strcmp(manifests[i].name, name) == 0 &&
            (!namespace_name ||
             strcmp(manifests[i].namespace_name, namespace_name) == 0))
            return &manifests[i];
    return NULL;
}

static int load_deploy(void **state) {
    (void)state;
    n_manifests = 0;
    read_folder(DEPLOY);
    read_folder(DEPLOY "/alternatives");
    return 0;
}

/* ------------------------------------------------------------ checks */

static void kinds_api_versions_and_namespaces(void **state) {
    (void)state;
    static const struct {
        const char *kind, *api_version;
    } known[] = {
        {"Namespace", "v1"},
        {"Broker", "eventing.knative.dev/v1"},
        {"Trigger", "eventing.knative.dev/v1"},
        {"Service", "serving.knative.dev/v1"},
        {"SinkBinding", "sources.knative.dev/v1"},
        {"PersistentVolumeClaim", "v1"},
    };
    assert_true(n_manifests >= 12);
    for (size_t i = 0; i < n_manifests; i++) {
        const manifest *m = &manifests[i];
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] &&
               strcmp(known[k].kind, m->kind) != 0)
            k++;
        if (k == sizeof known / sizeof known[0])
            fail_msg("%s:%d: unexpected kind '%s'", m->file, m->line,
                     m->kind);
        if (strcmp(known[k].api_version, m->api_version) != 0)
            fail_msg("%s:%d: %s needs apiVersion %s, got %s", m->file,
                     m->line, m->kind, known[k].api_version,
                     m->api_version);
        if (strcmp(m->kind, "Namespace") != 0 &&
            strcmp(m->namespace_name, NAMESPACE) != 0)
            fail_msg("%s:%d: %s '%s' must be in namespace %s, is in '%s'",
                     m->file, m->line, m->kind, m->name, NAMESPACE,
                     m->namespace_name);
    }
    assert_non_null(find("Namespace", NAMESPACE, NULL));
    assert_non_null(find("Broker", "default", NAMESPACE));
}

static void every_service_is_defined_and_runnable(void **state) {
    (void)state;
    static const char *const commands[] = {"face-detector", "face-extractor",
                                           "emotion", "report"};
    size_t services = 0;
    for (size_t i = 0; i < n_manifests; i++)
        services += strcmp(manifests[i].kind, "Service") == 0;
    assert_int_equal(services, N_SERVICES);
    for (size_t i = 0; i < N_SERVICES; i++) {
        const manifest *m = find("Service", SERVICES[i], NAMESPACE);
        if (!m)
            fail_msg("Knative Service %s is not defined", SERVICES[i]);
        if (!m->image[0])
            fail_msg("%s:%d: %s has no container image", m->file, m->line,
                     m->name);
        bool known = false;
        for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
            known = known || strcmp(commands[c], m->arg0) == 0;
        if (!known)
            fail_msg("%s:%d: %s runs `khappy service %s`, not a service",
                     m->file, m->line, m->name, m->arg0);
        assert_int_equal(m->container_port, 8080);
        /* Pictures and crops travel as keys into one shared data folder. */
        if (!find("PersistentVolumeClaim", m->data_claim, NAMESPACE))
            fail_msg("%s:%d: %s mounts no defined PersistentVolumeClaim "
                     "(claim '%s')",
                     m->file, m->line, m->name, m->data_claim);
        assert_string_equal(m->data_mount, "/var/lib/khappy");
    }
    /* Services that emit events get K_SINK from the SinkBinding. */
    const manifest *binding = NULL;
    for (size_t i = 0; i < n_manifests; i++)
        if (strcmp(manifests[i].kind, "SinkBinding") == 0)
            binding = &manifests[i];
    assert_non_null(binding);
    assert_string_equal(binding->sink_kind, "Broker");
    assert_non_null(find("Broker", binding->sink_name, NAMESPACE));
    assert_string_equal(binding->selector_label,
                        "khappy.dev/emits-events=true");
    const char *emitters[] = {"khappy-face-detector-tinyface",
                              "khappy-face-detector-pico",
                              "khappy-face-extractor", "khappy-emotion"};
    for (size_t i = 0; i < 4; i++)
        if (!find("Service", emitters[i], NAMESPACE)->emits_events)
            fail_msg("%s emits events but is not labelled for K_SINK",
                     emitters[i]);
}

static kh_trigger_set *load_triggers(const char *dir, const char *file) {
    kh_trigger_set *set = NULL;
    kh_error err = {0};
    assert_int_equal(kh_trigger_set_create(&set, &err), KH_OK);
    int rc = dir ? kh_trigger_set_load_dir(set, dir, &err) : KH_OK;
    if (rc == KH_OK && file)
        rc = kh_trigger_set_load_file(set, file, &err);
    if (rc != KH_OK)
        fail_msg("triggers: %s", err.message);
    return set;
}

static void triggers_point_at_defined_services(void **state) {
    (void)state;
    kh_trigger_set *set =
        load_triggers(DEPLOY, DEPLOY "/alternatives/"
                              "trigger-face-detector-pico.yaml");
    assert_int_equal(set->count, 5);
    for (size_t i = 0; i < set->count; i++) {
        const kh_trigger *t = &set->triggers[i];
        const kh_destination *s = &t->subscriber;
        if (!s->ref_name || strcmp(s->ref_kind, "Service") != 0 ||
            strcmp(s->ref_api_version, "serving.knative.dev/v1") != 0)
            fail_msg("%s:%d: trigger %s must name a Knative Service",
                     t->source_file, t->source_line, t->name);
        if (!find("Service", s->ref_name, s->ref_namespace))
            fail_msg("%s:%d: trigger %s: subscriber Service %s/%s is not "
                     "defined in deploy/knative",
                     t->source_file, t->source_line, t->name,
                     s->ref_namespace, s->ref_name);
        if (!find("Broker", t->broker, t->namespace_name))
            fail_msg("%s:%d: trigger %s: broker %s/%s is not defined",
                     t->source_file, t->source_line, t->name,
                     t->namespace_name, t->broker);
    }
    kh_trigger_set_destroy(set);
}

static bool same_filter(const kh_filter_expr *a, const kh_filter_expr *b) {
    if (a->dialect != b->dialect || a->n_children != b->n_children)
        return false;
    if ((a->attribute || b->attribute) &&
        (!a->attribute || !b->attribute ||
         strcmp(a->attribute, b->attribute) != 0 ||
         strcmp(a->value, b->value) != 0))
        return false;
    for (size_t i = 0; i < a->n_children; i++)
        if (!same_filter(&a->children[i], &b->children[i]))
            return false;
    return true;
}

static void deploy_triggers_are_the_trigger_files(void **state) {
    (void)state;
    kh_trigger_set *local = load_triggers(
        TRIGGERS, TRIGGERS "/alternatives/face-detector-pico.yaml");
    kh_trigger_set *deployed =
        load_triggers(DEPLOY, DEPLOY "/alternatives/"
                              "trigger-face-detector-pico.yaml");
    assert_int_equal(local->count, deployed->count);
    for (size_t i = 0; i < local->count; i++) {
        const kh_trigger *l = &local->triggers[i];
        assert_string_equal(l->namespace_name, "default");
        const kh_trigger *d =
            kh_trigger_set_find(deployed, NAMESPACE, l->name);
        if (!d)
            fail_msg("triggers/ has %s (%s), deploy/knative does not",
                     l->name, l->source_file);
        assert_string_equal(l->broker, d->broker);
        assert_string_equal(l->subscriber.ref_name, d->subscriber.ref_name);
        assert_int_equal(l->n_filters, d->n_filters);
        assert_int_equal(l->n_attributes, d->n_attributes);
        for (size_t f = 0; f < l->n_filters; f++)
            if (!same_filter(&l->filters[f], &d->filters[f]))
                fail_msg("trigger %s: filter %zu differs between %s and %s",
                         l->name, f, l->source_file, d->source_file);
        assert_int_equal(l->delivery.retry, d->delivery.retry);
        assert_int_equal(l->delivery.backoff_policy,
                         d->delivery.backoff_policy);
        assert_int_equal(l->delivery.backoff_delay_ms,
                         d->delivery.backoff_delay_ms);
        assert_int_equal(l->delivery.timeout_ms, d->delivery.timeout_ms);
    }
    kh_trigger_set_destroy(local);
    kh_trigger_set_destroy(deployed);
}

static kh_cloudevent event_of(const char *type, const char *element) {
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_cloudevent_set(&ev, "id", "1", NULL);
    kh_cloudevent_set(&ev, "source", "/test", NULL);
    kh_cloudevent_set(&ev, "specversion", "1.0", NULL);
    kh_cloudevent_set(&ev, "type", type, NULL);
    kh_cloudevent_set(&ev, "pictureid", "7", NULL);
    if (element)
        kh_cloudevent_set(&ev, "element", element, NULL);
    return ev;
}

/* Exactly one trigger of `set` takes ev, and it goes to `service`. */
static void routes_to(const kh_trigger_set *set, const char *type,
                      const char *element, const char *service) {
    kh_cloudevent ev = event_of(type, element);
    const kh_trigger *only = NULL;
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        if (kh_trigger_matches(&set->triggers[i], &ev)) {
            only = &set->triggers[i];
            n++;
        }
    kh_cloudevent_free(&ev);
    if (service && (n != 1 || strcmp(only->subscriber.ref_name, service)))
        fail_msg("%s (element %s): expected exactly %s, got %zu matches "
                 "(first: %s)",
                 type, element ? element : "-", service, n,
                 only ? only->subscriber.ref_name : "none");
    if (!service && n != 0)
        fail_msg("%s (element %s): expected no route, got %s", type,
                 element ? element : "-", only->subscriber.ref_name);
}

static void the_flow_goes_from_picture_to_report(void **state) {
    (void)state;
    kh_trigger_set *set = load_triggers(TRIGGERS, NULL);
    routes_to(set, "dev.khappy.picture.stored", NULL,
              "khappy-face-detector-tinyface");
    routes_to(set, "dev.khappy.face.detected", "face",
              "khappy-face-extractor");
    routes_to(set, "dev.khappy.face.detected", "eye", NULL);
    routes_to(set, "dev.khappy.face.cropped", "face", "khappy-emotion");
    routes_to(set, "dev.khappy.emotion.scored", "face", "khappy-report");
    routes_to(set, "com.example.unrelated", NULL, NULL);
    kh_trigger_set_destroy(set);

    /* The swapped configuration: pico instead of tinyface. */
    set = load_triggers(NULL, TRIGGERS "/alternatives/face-detector-pico.yaml");
    routes_to(set, "dev.khappy.picture.stored", NULL,
              "khappy-face-detector-pico");
    kh_trigger_set_destroy(set);

    /* On Knative the same: 40-triggers.yaml has only tinyface. */
    set = load_triggers(DEPLOY, NULL);
    routes_to(set, "dev.khappy.picture.stored", NULL,
              "khappy-face-detector-tinyface");
    kh_trigger_set_destroy(set);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void dockerfile_is_multistage_slim_and_non_root(void **state) {
    (void)state;
    const char *text = slurp(DEPLOY "/Dockerfile");
    const char *needles[] = {
        "FROM debian:12-slim AS build",
        "\nFROM debian:12-slim\n",
        "USER 10001",
        "ENTRYPOINT [\"/usr/local/bin/khappy\", \"service\"]",
        "/usr/share/khappy/models",
        "scripts/models.sh",
    };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (!strstr(text, needles[i]))
            fail_msg("deploy/knative/Dockerfile lacks \"%s\"", needles[i]);
    /* The user switch comes after the last FROM. */
    const char *last_from = strstr(text, "\nFROM debian:12-slim\n");
    assert_non_null(strstr(last_from, "USER 10001"));
    const char *readme = slurp(DEPLOY "/README.md");
    assert_non_null(strstr(readme, "PostgreSQL"));
    assert_non_null(strstr(readme, "kubectl apply"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(kinds_api_versions_and_namespaces,
                               load_deploy),
        cmocka_unit_test_setup(every_service_is_defined_and_runnable,
                               load_deploy),
        cmocka_unit_test_setup(triggers_point_at_defined_services,
                               load_deploy),
        cmocka_unit_test(deploy_triggers_are_the_trigger_files),
        cmocka_unit_test(the_flow_goes_from_picture_to_report),
        cmocka_unit_test(dockerfile_is_multistage_slim_and_non_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
