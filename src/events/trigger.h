/* trigger.h - Knative Trigger manifests: which events go to which subscriber.
 *
 * Trigger files are real Knative `Trigger` manifests (apiVersion
 * eventing.knative.dev/v1), several documents per file allowed. The same file
 * works with `kubectl apply` against a Knative Broker and with khappy's
 * embedded broker. Understood fields:
 *
 *   metadata.name, metadata.namespace (default "default")
 *   spec.broker                    (default "default")
 *   spec.filter.attributes         exact match; every key must be present in
 *                                  the event; "" matches any value
 *   spec.filters                   the Subscriptions API dialects: exact,
 *                                  prefix, suffix (one attribute each), all,
 *                                  any (lists), not (one expression), nested
 *                                  freely. When present, spec.filter is
 *                                  ignored, as Knative does.
 *   spec.subscriber                ref {apiVersion, kind, name, namespace}
 *                                  and/or uri (absolute, or a path appended to
 *                                  the ref's address)
 *   spec.delivery                  retry, backoffPolicy (linear|exponential),
 *                                  backoffDelay and timeout (ISO 8601
 *                                  durations), deadLetterSink (destination)
 *
 * Filter evaluation follows Knative's three-valued logic: an expression
 * passes, fails or has no opinion (an empty `all`, a `not` of no opinion); an
 * event is delivered unless the conjunction of spec.filters fails. Attribute
 * names are the CloudEvents context attributes (specversion, id, source,
 * type, subject, time, dataschema, datacontenttype) and then extensions; an
 * absent attribute never matches (an absent optional attribute is absent, not
 * "").
 *
 * Refused, with file:line:column and the field path: unknown filter dialects
 * (cesql is reported as unsupported), more than one dialect in an expression,
 * exact/prefix/suffix with other than one attribute, invalid attribute names,
 * negative or non-integer retry, unknown backoff policies, malformed or
 * calendar (Y, M) durations, a missing or empty subscriber, unknown fields in
 * spec, a Trigger with a wrong apiVersion, duplicate trigger names. Documents
 * of other kinds (Broker, Service, ...) are skipped, so a deployment file can
 * be loaded as a whole.
 */
#ifndef KH_EVENTS_TRIGGER_H
#define KH_EVENTS_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "events/cloudevent.h"

#define KH_TRIGGER_API_VERSION "eventing.knative.dev/v1"
/* Nesting limit of all/any/not, so hostile files cannot exhaust the stack. */
#define KH_FILTER_MAX_DEPTH 32
/* Larger trigger files are refused (they are configuration, not data). */
#define KH_TRIGGER_FILE_MAX_BYTES (1u << 20)

typedef enum kh_filter_dialect {
    KH_FILTER_EXACT,
    KH_FILTER_PREFIX,
    KH_FILTER_SUFFIX,
    KH_FILTER_ALL,
    KH_FILTER_ANY,
    KH_FILTER_NOT,
} kh_filter_dialect;

/* One expression of spec.filters. */
typedef struct kh_filter_expr {
    kh_filter_dialect dialect;
    char *attribute;                   /* exact, prefix, suffix */
    char *value;
    struct kh_filter_expr *children;   /* all, any: the list; not: one */
    size_t n_children;
} kh_filter_expr;

typedef enum kh_filter_result {
    KH_FILTER_FAIL = -1,
    KH_FILTER_NO_OPINION = 0,
    KH_FILTER_PASS = 1,
} kh_filter_result;

/* spec.filter.attributes: name -> value ("" = any value). */
typedef struct kh_attribute_match {
    char *name;
    char *value;
} kh_attribute_match;

/* A Knative Destination: ref, uri or both (uri is then a path relative to
 * the ref's address). Absent fields are NULL. */
typedef struct kh_destination {
    char *ref_api_version;
    char *ref_kind;
    char *ref_name;
    char *ref_namespace; /* defaults to the trigger's namespace */
    char *uri;
} kh_destination;

typedef enum kh_backoff_policy {
    KH_BACKOFF_EXPONENTIAL, /* delay * 2^n before retry n (n = 1, 2, ...) */
    KH_BACKOFF_LINEAR,      /* delay * n */
} kh_backoff_policy;

/* Knative's shipped broker defaults (config-br-defaults) for a trigger that
 * does not say otherwise. */
#define KH_DELIVERY_DEFAULT_RETRY 10
#define KH_DELIVERY_DEFAULT_BACKOFF KH_BACKOFF_EXPONENTIAL
#define KH_DELIVERY_DEFAULT_DELAY_MS 200
/* Upper bound of retry, so that a typo cannot schedule work for centuries. */
#define KH_DELIVERY_MAX_RETRY 10000

typedef struct kh_delivery {
    int retry;                  /* retries after the first attempt */
    kh_backoff_policy backoff_policy;
    int64_t backoff_delay_ms;
    int64_t timeout_ms;         /* per attempt; 0: the sink's default */
    bool has_dead_letter_sink;
    kh_destination dead_letter_sink;
} kh_delivery;

typedef struct kh_trigger {
    char *name;
    char *namespace_name;
    char *broker;
    kh_attribute_match *attributes; /* spec.filter.attributes */
    size_t n_attributes;
    kh_filter_expr *filters;        /* spec.filters */
    size_t n_filters;
    kh_destination subscriber;
    kh_delivery delivery;
    char *source_file;              /* where it was defined (messages) */
    int source_line;
} kh_trigger;

/* An ordered set of triggers (file order, files sorted by name). */
typedef struct kh_trigger_set {
    kh_trigger *triggers;
    size_t count;
} kh_trigger_set;

/* Returns an empty set in *out (caller destroys it). */
int kh_trigger_set_create(kh_trigger_set **out, kh_error *err);
/* Frees the set and every trigger. NULL is a no-op. */
void kh_trigger_set_destroy(kh_trigger_set *set);

/* Parses YAML text (one or more documents) and appends its Triggers.
 * `origin` names the text in messages ("triggers/x.yaml"). On failure the set
 * is unchanged and err says "origin:line:column: field: what is wrong". */
int kh_trigger_set_parse(kh_trigger_set *set, const char *yaml, size_t len,
                         const char *origin, kh_error *err);
/* Reads one file (at most KH_TRIGGER_FILE_MAX_BYTES, else KH_ELIMIT) and
 * parses it. A file that cannot be read, a missing one included, is KH_EIO. */
int kh_trigger_set_load_file(kh_trigger_set *set, const char *path,
                             kh_error *err);
/* Every *.yaml / *.yml file directly in `dir`, in name order (subfolders,
 * such as triggers/alternatives/, are not read). */
int kh_trigger_set_load_dir(kh_trigger_set *set, const char *dir,
                            kh_error *err);

/* The trigger named namespace/name, or NULL. */
const kh_trigger *kh_trigger_set_find(const kh_trigger_set *set,
                                      const char *namespace_name,
                                      const char *name);

/* Value of a context attribute or extension of ev by name, NULL if absent.
 * The names are those filters use (see above). */
const char *kh_trigger_event_attribute(const kh_cloudevent *ev,
                                       const char *name);
kh_filter_result kh_filter_evaluate(const kh_filter_expr *expr,
                                    const kh_cloudevent *ev);
/* True when the trigger's filters let ev through. */
bool kh_trigger_matches(const kh_trigger *trigger, const kh_cloudevent *ev);

/* Parses an ISO 8601 duration (PT0.2S, PT1M30S, P1DT2H, P2W) into
 * milliseconds (fractions below a millisecond are rounded up). Years and
 * months are refused: they have no fixed length. */
int kh_duration_parse_iso8601(const char *text, int64_t *ms, kh_error *err);

/* Delay before retry number `retry_number` (1 for the first retry), capped
 * at KH_DELIVERY_MAX_BACKOFF_MS. */
#define KH_DELIVERY_MAX_BACKOFF_MS (3600 * 1000LL)
int64_t kh_delivery_backoff_ms(const kh_delivery *delivery, int retry_number);

/* Looks up the base URL of a referenced object (a Knative Service, a
 * Broker...). Returns KH_OK with *url (malloc'd, caller frees) or
 * KH_ENOTFOUND. */
typedef int (*kh_ref_url_lookup)(void *user, const kh_destination *dest,
                                 char **url, kh_error *err);

/* The URL a destination points to: uri when absolute, otherwise the ref's
 * URL from `lookup` with uri (a path) appended. *url is malloc'd; the caller
 * frees it. */
int kh_destination_resolve_url(const kh_destination *dest,
                               kh_ref_url_lookup lookup, void *user,
                               char **url, kh_error *err);

/* Deep copy / free of a destination (free: NULL-safe, leaves it zeroed). */
int kh_destination_copy(kh_destination *dst, const kh_destination *src,
                        kh_error *err);
void kh_destination_free(kh_destination *dest);

#endif
