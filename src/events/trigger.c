/* trigger.c - Knative Trigger manifests: parsing (libyaml), filtering,
 * delivery settings, destinations. See trigger.h for the accepted subset. */
#include "events/trigger.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "common/file.h"

/* ---------------------------------------------------------------- memory */

static char *dup_string(const char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (copy)
        memcpy(copy, s, n + 1);
    return copy;
}

static void filter_expr_free(kh_filter_expr *expr) {
    if (!expr)
        return;
    free(expr->attribute);
    free(expr->value);
    for (size_t i = 0; i < expr->n_children; i++)
        filter_expr_free(&expr->children[i]);
    free(expr->children);
    memset(expr, 0, sizeof *expr);
}

void kh_destination_free(kh_destination *dest) {
    if (!dest)
        return;
    free(dest->ref_api_version);
    free(dest->ref_kind);
    free(dest->ref_name);
    free(dest->ref_namespace);
    free(dest->uri);
    memset(dest, 0, sizeof *dest);
}

int kh_destination_copy(kh_destination *dst, const kh_destination *src,
                        kh_error *err) {
    memset(dst, 0, sizeof *dst);
    const char *from[] = {src->ref_api_version, src->ref_kind, src->ref_name,
                          src->ref_namespace, src->uri};
    char **to[] = {&dst->ref_api_version, &dst->ref_kind, &dst->ref_name,
                   &dst->ref_namespace, &dst->uri};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        if (from[i] && !(*to[i] = dup_string(from[i]))) {
            kh_destination_free(dst);
            return kh_error_set(err, KH_ENOMEM, "copying a destination");
        }
    }
    return KH_OK;
}

static void trigger_free(kh_trigger *t) {
    free(t->name);
    free(t->namespace_name);
    free(t->broker);
    for (size_t i = 0; i < t->n_attributes; i++) {
        free(t->attributes[i].name);
        free(t->attributes[i].value);
    }
    free(t->attributes);
    for (size_t i = 0; i < t->n_filters; i++)
        filter_expr_free(&t->filters[i]);
    free(t->filters);
    kh_destination_free(&t->subscriber);
    kh_destination_free(&t->delivery.dead_letter_sink);
    free(t->source_file);
    memset(t, 0, sizeof *t);
}

int kh_trigger_set_create(kh_trigger_set **out, kh_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out)
        return kh_error_set(err, KH_ENOMEM, "allocating a trigger set");
    return KH_OK;
}

static void trigger_set_clear(kh_trigger_set *set) {
    for (size_t i = 0; i < set->count; i++)
        trigger_free(&set->triggers[i]);
    free(set->triggers);
    set->triggers = NULL;
    set->count = 0;
}

void kh_trigger_set_destroy(kh_trigger_set *set) {
    if (!set)
        return;
    trigger_set_clear(set);
    free(set);
}

const kh_trigger *kh_trigger_set_find(const kh_trigger_set *set,
                                      const char *namespace_name,
                                      const char *name) {
    for (size_t i = 0; set && i < set->count; i++) {
        const kh_trigger *t = &set->triggers[i];
        if (strcmp(t->name, name) == 0 &&
            strcmp(t->namespace_name, namespace_name) == 0)
            return t;
    }
    return NULL;
}

/* Moves every trigger of `from` to the end of `to`; `from` ends empty. */
static int trigger_set_move(kh_trigger_set *to, kh_trigger_set *from,
                            kh_error *err) {
    if (from->count == 0)
        return KH_OK;
    size_t n = to->count + from->count;
    kh_trigger *grown = realloc(to->triggers, n * sizeof *grown);
    if (!grown)
        return kh_error_set(err, KH_ENOMEM, "growing a trigger set");
    memcpy(grown + to->count, from->triggers,
           from->count * sizeof *from->triggers);
    to->triggers = grown;
    to->count = n;
    free(from->triggers);
    from->triggers = NULL;
    from->count = 0;
    return KH_OK;
}

/* ------------------------------------------------------------- durations */

int kh_duration_parse_iso8601(const char *text, int64_t *ms, kh_error *err) {
    /* Units in the order ISO 8601 requires them. */
    static const struct {
        char letter;
        bool time_part;
        int64_t unit_ms; /* 0: calendar unit, refused */
    } units[] = {
        {'Y', false, 0},          {'M', false, 0},
        {'W', false, 604800000},  {'D', false, 86400000},
        {'H', true, 3600000},     {'M', true, 60000},
        {'S', true, 1000},
    };
    const size_t n_units = sizeof units / sizeof units[0];
    if (!text || !*text)
        return kh_error_set(err, KH_EFORMAT, "empty duration");
    if (text[0] == '-')
        return kh_error_set(err, KH_EFORMAT,
                            "negative duration '%s' is not allowed", text);
    if (text[0] != 'P')
        return kh_error_set(err, KH_EFORMAT,
                            "duration '%s' must start with 'P' (ISO 8601, "
                            "e.g. PT0.2S)",
                            text);
    const char *p = text + 1;
    bool in_time = false, time_has_component = false, any_component = false;
    size_t next_unit = 0;
    int64_t total = 0;
    while (*p) {
        if (*p == 'T') {
            if (in_time)
                return kh_error_set(err, KH_EFORMAT,
                                    "duration '%s': 'T' appears twice", text);
            in_time = true;
            while (next_unit < n_units && !units[next_unit].time_part)
                next_unit++;
            p++;
            continue;
        }
        if (*p < '0' || *p > '9')
            return kh_error_set(err, KH_EFORMAT,
                                "duration '%s': expected a number at '%s'",
                                text, p);
        int64_t whole = 0;
        while (*p >= '0' && *p <= '9') {
            if (whole > (INT64_MAX - 9) / 10)
                return kh_error_set(err, KH_ERANGE,
                                    "duration '%s' is too large", text);
            whole = whole * 10 + (*p++ - '0');
        }
        int64_t fraction = 0, fraction_scale = 1;
        bool has_fraction = false, fraction_rest = false;
        if (*p == '.' || *p == ',') {
            has_fraction = true;
            p++;
            if (*p < '0' || *p > '9')
                return kh_error_set(err, KH_EFORMAT,
                                    "duration '%s': digits expected after "
                                    "the decimal sign",
                                    text);
            while (*p >= '0' && *p <= '9') {
                if (fraction_scale < 1000000000) {
                    fraction = fraction * 10 + (*p - '0');
                    fraction_scale *= 10;
                } else if (*p != '0') {
                    fraction_rest = true; /* beyond nanoseconds: round up */
                }
                p++;
            }
        }
        char letter = *p;
        size_t u = next_unit;
        while (u < n_units &&
               !(units[u].letter == letter && units[u].time_part == in_time))
            u++;
        if (!letter || u == n_units)
            return kh_error_set(
                err, KH_EFORMAT,
                "duration '%s': unit '%c' is unknown or out of order "
                "(P[nW][nD][T[nH][nM][nS]])",
                text, letter ? letter : '?');
        if (units[u].unit_ms == 0)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "duration '%s': years and months have no "
                                "fixed length; use days (D) or weeks (W)",
                                text);
        p++;
        if (has_fraction && *p)
            return kh_error_set(err, KH_EFORMAT,
                                "duration '%s': only the last component may "
                                "have a fraction",
                                text);
        int64_t unit_ms = units[u].unit_ms;
        if (whole > (INT64_MAX - total) / unit_ms - 1)
            return kh_error_set(err, KH_ERANGE, "duration '%s' is too large",
                                text);
        total += whole * unit_ms;
        if (has_fraction) {
            /* fraction < 1e9 and unit_ms < 1e9: the product fits. */
            int64_t num = fraction * unit_ms;
            int64_t part = num / fraction_scale;
            if (num % fraction_scale != 0 || fraction_rest)
                part++;
            total += part;
        }
        next_unit = u + 1;
        any_component = true;
        if (in_time)
            time_has_component = true;
    }
    if (!any_component)
        return kh_error_set(err, KH_EFORMAT,
                            "duration '%s' has no component", text);
    if (in_time && !time_has_component)
        return kh_error_set(err, KH_EFORMAT,
                            "duration '%s': 'T' must be followed by hours, "
                            "minutes or seconds",
                            text);
    *ms = total;
    return KH_OK;
}

int64_t kh_delivery_backoff_ms(const kh_delivery *delivery,
                               int retry_number) {
    int64_t delay = delivery->backoff_delay_ms;
    if (delay <= 0 || retry_number <= 0)
        return 0;
    int64_t result;
    if (delivery->backoff_policy == KH_BACKOFF_LINEAR) {
        if (delay > KH_DELIVERY_MAX_BACKOFF_MS / retry_number)
            return KH_DELIVERY_MAX_BACKOFF_MS;
        result = delay * retry_number;
    } else {
        result = delay;
        for (int i = 0; i < retry_number; i++) {
            if (result > KH_DELIVERY_MAX_BACKOFF_MS / 2)
                return KH_DELIVERY_MAX_BACKOFF_MS;
            result *= 2;
        }
    }
    return result < KH_DELIVERY_MAX_BACKOFF_MS ? result
                                               : KH_DELIVERY_MAX_BACKOFF_MS;
}

/* -------------------------------------------------------------- matching */

const char *kh_trigger_event_attribute(const kh_cloudevent *ev,
                                       const char *name) {
    if (!ev || !name)
        return NULL;
    const struct {
        const char *name;
        const char *value;
    } context[] = {
        {"specversion", ev->specversion},
        {"id", ev->id},
        {"source", ev->source},
        {"type", ev->type},
        {"subject", ev->subject},
        {"time", ev->time},
        {"dataschema", ev->dataschema},
        {"datacontenttype", ev->datacontenttype},
    };
    for (size_t i = 0; i < sizeof context / sizeof context[0]; i++)
        if (strcmp(context[i].name, name) == 0)
            return context[i].value;
    for (size_t i = 0; i < ev->n_extensions; i++)
        if (ev->extensions[i].name &&
            strcmp(ev->extensions[i].name, name) == 0)
            return ev->extensions[i].value;
    return NULL;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Knative's FilterResult.And / Or: no opinion defers to the other side. */
static kh_filter_result result_and(kh_filter_result a, kh_filter_result b) {
    if (a == KH_FILTER_NO_OPINION)
        return b;
    if (b == KH_FILTER_NO_OPINION)
        return a;
    return a == KH_FILTER_PASS && b == KH_FILTER_PASS ? KH_FILTER_PASS
                                                      : KH_FILTER_FAIL;
}

static kh_filter_result result_or(kh_filter_result a, kh_filter_result b) {
    if (a == KH_FILTER_NO_OPINION)
        return b;
    if (b == KH_FILTER_NO_OPINION)
        return a;
    return a == KH_FILTER_PASS || b == KH_FILTER_PASS ? KH_FILTER_PASS
                                                      : KH_FILTER_FAIL;
}

kh_filter_result kh_filter_evaluate(const kh_filter_expr *expr,
                                    const kh_cloudevent *ev) {
    const char *actual;
    kh_filter_result r = KH_FILTER_NO_OPINION;
    switch (expr->dialect) {
    case KH_FILTER_EXACT:
    case KH_FILTER_PREFIX:
    case KH_FILTER_SUFFIX:
        actual = kh_trigger_event_attribute(ev, expr->attribute);
        if (!actual)
            return KH_FILTER_FAIL;
        if (expr->dialect == KH_FILTER_EXACT)
            return strcmp(actual, expr->value) == 0 ? KH_FILTER_PASS
                                                    : KH_FILTER_FAIL;
        if (expr->dialect == KH_FILTER_PREFIX)
            return strncmp(actual, expr->value, strlen(expr->value)) == 0
                       ? KH_FILTER_PASS
                       : KH_FILTER_FAIL;
        return has_suffix(actual, expr->value) ? KH_FILTER_PASS
                                               : KH_FILTER_FAIL;
    case KH_FILTER_ALL:
        for (size_t i = 0; i < expr->n_children; i++) {
            r = result_and(r, kh_filter_evaluate(&expr->children[i], ev));
            if (r == KH_FILTER_FAIL)
                return r;
        }
        return r;
    case KH_FILTER_ANY:
        for (size_t i = 0; i < expr->n_children; i++) {
            r = result_or(r, kh_filter_evaluate(&expr->children[i], ev));
            if (r == KH_FILTER_PASS)
                return r;
        }
        return r;
    case KH_FILTER_NOT:
        if (expr->n_children != 1)
            return KH_FILTER_NO_OPINION;
        r = kh_filter_evaluate(&expr->children[0], ev);
        return (kh_filter_result)(-(int)r);
    }
    return KH_FILTER_NO_OPINION;
}

bool kh_trigger_matches(const kh_trigger *trigger, const kh_cloudevent *ev) {
    if (trigger->n_filters > 0) {
        kh_filter_result r = KH_FILTER_NO_OPINION;
        for (size_t i = 0; i < trigger->n_filters; i++) {
            r = result_and(r, kh_filter_evaluate(&trigger->filters[i], ev));
            if (r == KH_FILTER_FAIL)
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < trigger->n_attributes; i++) {
        const kh_attribute_match *m = &trigger->attributes[i];
        const char *actual = kh_trigger_event_attribute(ev, m->name);
        if (!actual)
            return false;
        if (m->value[0] != '\0' && strcmp(actual, m->value) != 0)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------- destinations */

static bool is_absolute_url(const char *uri) {
    /* scheme ":" with scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    const char *p = uri;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        p++;
    return p[0] == ':' && p[1] == '/' && p[2] == '/';
}

int kh_destination_resolve_url(const kh_destination *dest,
                               kh_ref_url_lookup lookup, void *user,
                               char **url, kh_error *err) {
    *url = NULL;
    if (!dest->ref_name) {
        if (!dest->uri || !is_absolute_url(dest->uri))
            return kh_error_set(err, KH_EINVAL,
                                "destination has neither a ref nor an "
                                "absolute uri");
        *url = dup_string(dest->uri);
        return *url ? KH_OK
                    : kh_error_set(err, KH_ENOMEM, "copying a destination");
    }
    if (!lookup)
        return kh_error_set(err, KH_ENOTFOUND,
                            "no address known for %s '%s'",
                            dest->ref_kind ? dest->ref_kind : "ref",
                            dest->ref_name);
    char *base = NULL;
    int rc = lookup(user, dest, &base, err);
    if (rc != KH_OK)
        return rc;
    if (!base)
        return kh_error_set(err, KH_EINTERNAL,
                            "the address lookup of '%s' returned nothing",
                            dest->ref_name);
    if (!dest->uri || !*dest->uri) {
        *url = base;
        return KH_OK;
    }
    /* Join base and path with exactly one '/'. */
    size_t blen = strlen(base), plen = strlen(dest->uri);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    const char *path = dest->uri;
    while (*path == '/') {
        path++;
        plen--;
    }
    char *joined = malloc(blen + 1 + plen + 1);
    if (!joined) {
        free(base);
        return kh_error_set(err, KH_ENOMEM, "joining a destination URL");
    }
    memcpy(joined, base, blen);
    joined[blen] = '/';
    memcpy(joined + blen + 1, path, plen + 1);
    free(base);
    *url = joined;
    return KH_OK;
}

/* --------------------------------------------------------------- parsing */

typedef struct parse_ctx {
    yaml_document_t *doc;
    const char *origin;
    kh_error *err;
    size_t expressions; /* filter expressions parsed in this document */
} parse_ctx;

/* Aliases let a small file name a huge tree ("billion laughs"); these caps
 * keep parsing linear in practice. */
#define MAX_FILTER_EXPRESSIONS 4096
#define MAX_MAPPING_KEYS 256

/* Field paths for messages ("spec.filters[2].exact"); long ones are cut. */
#define PATH_MAX_LEN 256
__attribute__((format(printf, 2, 3))) static void
make_path(char out[PATH_MAX_LEN], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_MAX_LEN, fmt, ap);
    va_end(ap);
}

/* "origin:line:column: path: message" (lines and columns from 1). */
__attribute__((format(printf, 5, 6))) static int
fail_at(parse_ctx *ctx, const yaml_node_t *node, int code, const char *path,
        const char *fmt, ...) {
    char what[KH_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t line = node ? node->start_mark.line + 1 : 0;
    size_t column = node ? node->start_mark.column + 1 : 0;
    return kh_error_set(ctx->err, code, "%s:%zu:%zu: %s: %s", ctx->origin,
                        line, column, path, what);
}

static const char *node_kind_name(const yaml_node_t *node) {
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static yaml_node_t *node_at(parse_ctx *ctx, int index) {
    return yaml_document_get_node(ctx->doc, index);
}

static bool scalar_is_null(const yaml_node_t *node) {
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The key's text when it is a scalar, else NULL. */
static const char *key_text(parse_ctx *ctx, const yaml_node_pair_t *pair) {
    yaml_node_t *key = node_at(ctx, pair->key);
    if (!key || key->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)key->data.scalar.value;
}

static yaml_node_t *mapping_get(parse_ctx *ctx, yaml_node_t *map,
                                const char *name) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const char *key = key_text(ctx, pair);
        if (key && strcmp(key, name) == 0)
            return node_at(ctx, pair->value);
    }
    return NULL;
}

static int expect_type(parse_ctx *ctx, yaml_node_t *node, yaml_node_type_t t,
                       const char *path) {
    if (node->type == t)
        return KH_OK;
    yaml_node_t want = {.type = t};
    return fail_at(ctx, node, KH_EFORMAT, path, "expected %s, found %s",
                   node_kind_name(&want), node_kind_name(node));
}

/* Mapping keys must be scalars, unique, and (when `allowed` is non-NULL)
 * among `allowed`. */
static int check_keys(parse_ctx *ctx, yaml_node_t *map, const char *path,
                      const char *const *allowed) {
    int rc = expect_type(ctx, map, YAML_MAPPING_NODE, path);
    if (rc != KH_OK)
        return rc;
    if (map->data.mapping.pairs.top - map->data.mapping.pairs.start >
        MAX_MAPPING_KEYS)
        return fail_at(ctx, map, KH_ELIMIT, path, "more than %d fields",
                       MAX_MAPPING_KEYS);
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const char *key = key_text(ctx, pair);
        yaml_node_t *key_node = node_at(ctx, pair->key);
        if (!key)
            return fail_at(ctx, key_node, KH_EFORMAT, path,
                           "mapping keys must be scalars");
        for (yaml_node_pair_t *other = map->data.mapping.pairs.start;
             other < pair; other++) {
            const char *earlier = key_text(ctx, other);
            if (earlier && strcmp(earlier, key) == 0)
                return fail_at(ctx, key_node, KH_EFORMAT, path,
                               "duplicate key '%s'", key);
        }
        if (!allowed)
            continue;
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known = known || strcmp(allowed[i], key) == 0;
        if (!known)
            return fail_at(ctx, key_node, KH_EFORMAT, path,
                           "unknown field '%s'", key);
    }
    return KH_OK;
}

/* A scalar as a new string; *out NULL for YAML null. Embedded NULs refused. */
static int scalar_string(parse_ctx *ctx, yaml_node_t *node, const char *path,
                         char **out) {
    *out = NULL;
    int rc = expect_type(ctx, node, YAML_SCALAR_NODE, path);
    if (rc != KH_OK)
        return rc;
    if (scalar_is_null(node))
        return KH_OK;
    const char *v = (const char *)node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length)
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "value contains a NUL character");
    *out = dup_string(v);
    if (!*out)
        return kh_error_set(ctx->err, KH_ENOMEM, "%s: copying %s",
                            ctx->origin, path);
    return KH_OK;
}

/* A required, non-empty string field of `map`. */
static int required_string(parse_ctx *ctx, yaml_node_t *map,
                           const char *field, const char *path, char **out) {
    char full[PATH_MAX_LEN];
    make_path(full, "%s.%s", path, field);
    yaml_node_t *node = mapping_get(ctx, map, field);
    if (!node)
        return fail_at(ctx, map, KH_EFORMAT, full, "missing");
    int rc = scalar_string(ctx, node, full, out);
    if (rc != KH_OK)
        return rc;
    if (!*out || !**out) {
        free(*out);
        *out = NULL;
        return fail_at(ctx, node, KH_EFORMAT, full, "must not be empty");
    }
    return KH_OK;
}

static int optional_string(parse_ctx *ctx, yaml_node_t *map,
                           const char *field, const char *path, char **out) {
    char full[PATH_MAX_LEN];
    make_path(full, "%s.%s", path, field);
    *out = NULL;
    yaml_node_t *node = mapping_get(ctx, map, field);
    return node ? scalar_string(ctx, node, full, out) : KH_OK;
}

/* CloudEvents attribute names as Knative validates them: [a-z0-9]+. */
static bool attribute_name_valid(const char *name) {
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Kubernetes object names: DNS-1123 subdomain (lower-case alphanumerics,
 * '-' and '.', starting and ending alphanumeric, at most 253). */
static bool object_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

static int parse_filter_expr(parse_ctx *ctx, yaml_node_t *node,
                             const char *path, int depth,
                             kh_filter_expr *out);

static int parse_filter_list(parse_ctx *ctx, yaml_node_t *node,
                             const char *path, int depth,
                             kh_filter_expr **out, size_t *count) {
    *out = NULL;
    *count = 0;
    int rc = expect_type(ctx, node, YAML_SEQUENCE_NODE, path);
    if (rc != KH_OK)
        return rc;
    size_t n = (size_t)(node->data.sequence.items.top -
                        node->data.sequence.items.start);
    if (n == 0)
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "needs at least one filter expression");
    kh_filter_expr *list = calloc(n, sizeof *list);
    if (!list)
        return kh_error_set(ctx->err, KH_ENOMEM, "%s: %s", ctx->origin, path);
    for (size_t i = 0; i < n; i++) {
        char item_path[PATH_MAX_LEN];
        make_path(item_path, "%s[%zu]", path, i);
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        rc = parse_filter_expr(ctx, item, item_path, depth, &list[i]);
        if (rc != KH_OK) {
            for (size_t j = 0; j < i; j++)
                filter_expr_free(&list[j]);
            free(list);
            return rc;
        }
    }
    *out = list;
    *count = n;
    return KH_OK;
}

static int parse_filter_expr(parse_ctx *ctx, yaml_node_t *node,
                             const char *path, int depth,
                             kh_filter_expr *out) {
    static const struct {
        const char *name;
        kh_filter_dialect dialect;
    } dialects[] = {
        {"exact", KH_FILTER_EXACT}, {"prefix", KH_FILTER_PREFIX},
        {"suffix", KH_FILTER_SUFFIX}, {"all", KH_FILTER_ALL},
        {"any", KH_FILTER_ANY},     {"not", KH_FILTER_NOT},
    };
    memset(out, 0, sizeof *out);
    if (++ctx->expressions > MAX_FILTER_EXPRESSIONS)
        return fail_at(ctx, node, KH_ELIMIT, path,
                       "more than %d filter expressions",
                       MAX_FILTER_EXPRESSIONS);
    if (depth >= KH_FILTER_MAX_DEPTH)
        return fail_at(ctx, node, KH_ELIMIT, path,
                       "filters nested deeper than %d levels",
                       KH_FILTER_MAX_DEPTH);
    int rc = check_keys(ctx, node, path, NULL);
    if (rc != KH_OK)
        return rc;
    size_t n_keys = (size_t)(node->data.mapping.pairs.top -
                             node->data.mapping.pairs.start);
    if (n_keys == 0)
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "empty filter expression: one dialect expected "
                       "(exact, prefix, suffix, all, any, not)");
    yaml_node_pair_t *pair = node->data.mapping.pairs.start;
    const char *name = key_text(ctx, pair);
    if (n_keys > 1)
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "multiple dialects ('%s', '%s', ...): a filter "
                       "expression has exactly one",
                       name, key_text(ctx, pair + 1));
    char sub[PATH_MAX_LEN];
    make_path(sub, "%s.%s", path, name ? name : "");
    yaml_node_t *body = node_at(ctx, pair->value);
    size_t d = 0;
    while (d < sizeof dialects / sizeof dialects[0] &&
           strcmp(dialects[d].name, name) != 0)
        d++;
    if (d == sizeof dialects / sizeof dialects[0]) {
        if (strcmp(name, "cesql") == 0)
            return fail_at(ctx, node_at(ctx, pair->key), KH_EUNSUPPORTED,
                           path,
                           "filter dialect 'cesql' is not supported by "
                           "khappy's broker (use exact, prefix, suffix, all, "
                           "any, not)");
        return fail_at(ctx, node_at(ctx, pair->key), KH_EFORMAT, path,
                       "unknown filter dialect '%s' (exact, prefix, suffix, "
                       "all, any, not)",
                       name);
    }
    out->dialect = dialects[d].dialect;
    switch (out->dialect) {
    case KH_FILTER_EXACT:
    case KH_FILTER_PREFIX:
    case KH_FILTER_SUFFIX: {
        rc = check_keys(ctx, body, sub, NULL);
        if (rc != KH_OK)
            return rc;
        size_t n = (size_t)(body->data.mapping.pairs.top -
                            body->data.mapping.pairs.start);
        if (n != 1)
            return fail_at(ctx, body, KH_EFORMAT, sub,
                           "needs exactly one attribute: value pair, found "
                           "%zu",
                           n);
        yaml_node_pair_t *attr = body->data.mapping.pairs.start;
        const char *attr_name = key_text(ctx, attr);
        if (!attribute_name_valid(attr_name))
            return fail_at(ctx, node_at(ctx, attr->key), KH_EFORMAT, sub,
                           "invalid attribute name '%s' (lower-case a-z, "
                           "0-9)",
                           attr_name);
        char value_path[PATH_MAX_LEN];
        make_path(value_path, "%s.%s", sub, attr_name);
        yaml_node_t *value_node = node_at(ctx, attr->value);
        rc = scalar_string(ctx, value_node, value_path, &out->value);
        if (rc != KH_OK)
            return rc;
        if (!out->value || !*out->value) {
            filter_expr_free(out);
            return fail_at(ctx, value_node, KH_EFORMAT, value_path,
                           "value must not be empty");
        }
        out->attribute = dup_string(attr_name);
        if (!out->attribute) {
            filter_expr_free(out);
            return kh_error_set(ctx->err, KH_ENOMEM, "%s", sub);
        }
        return KH_OK;
    }
    case KH_FILTER_ALL:
    case KH_FILTER_ANY:
        return parse_filter_list(ctx, body, sub, depth + 1, &out->children,
                                 &out->n_children);
    case KH_FILTER_NOT:
        out->children = calloc(1, sizeof *out->children);
        if (!out->children)
            return kh_error_set(ctx->err, KH_ENOMEM, "%s", sub);
        rc = parse_filter_expr(ctx, body, sub, depth + 1, out->children);
        if (rc != KH_OK) {
            free(out->children);
            out->children = NULL;
            return rc;
        }
        out->n_children = 1;
        return KH_OK;
    }
    return KH_OK;
}

/* A Knative Destination (spec.subscriber, delivery.deadLetterSink). */
static int parse_destination(parse_ctx *ctx, yaml_node_t *node,
                             const char *path, const char *default_namespace,
                             kh_destination *out) {
    static const char *const fields[] = {"ref", "uri", "CACerts", "audience",
                                         NULL};
    static const char *const ref_fields[] = {"apiVersion", "kind", "name",
                                             "namespace", "group", "address",
                                             NULL};
    memset(out, 0, sizeof *out);
    if (scalar_is_null(node))
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "missing: needs ref or uri");
    int rc = check_keys(ctx, node, path, fields);
    if (rc != KH_OK)
        return rc;
    yaml_node_t *ref = mapping_get(ctx, node, "ref");
    rc = optional_string(ctx, node, "uri", path, &out->uri);
    if (rc == KH_OK && ref && !scalar_is_null(ref)) {
        char ref_path[PATH_MAX_LEN];
        make_path(ref_path, "%s.ref", path);
        rc = check_keys(ctx, ref, ref_path, ref_fields);
        if (rc == KH_OK)
            rc = required_string(ctx, ref, "name", ref_path, &out->ref_name);
        if (rc == KH_OK)
            rc = required_string(ctx, ref, "kind", ref_path, &out->ref_kind);
        if (rc == KH_OK)
            rc = required_string(ctx, ref, "apiVersion", ref_path,
                                 &out->ref_api_version);
        if (rc == KH_OK)
            rc = optional_string(ctx, ref, "namespace", ref_path,
                                 &out->ref_namespace);
        if (rc == KH_OK && !out->ref_namespace &&
            !(out->ref_namespace = dup_string(default_namespace)))
            rc = kh_error_set(ctx->err, KH_ENOMEM, "%s", ref_path);
    }
    if (rc != KH_OK) {
        kh_destination_free(out);
        return rc;
    }
    if (!out->ref_name && (!out->uri || !*out->uri)) {
        kh_destination_free(out);
        return fail_at(ctx, node, KH_EFORMAT, path,
                       "missing: needs ref or uri");
    }
    if (!out->ref_name && !is_absolute_url(out->uri)) {
        yaml_node_t *uri = mapping_get(ctx, node, "uri");
        kh_destination_free(out);
        return fail_at(ctx, uri, KH_EFORMAT, path,
                       "uri must be absolute (http://host/...) when there "
                       "is no ref");
    }
    if (out->ref_name && out->uri && is_absolute_url(out->uri)) {
        yaml_node_t *uri = mapping_get(ctx, node, "uri");
        kh_destination_free(out);
        return fail_at(ctx, uri, KH_EFORMAT, path,
                       "uri must be a relative path when ref is set");
    }
    return KH_OK;
}

static int parse_duration_field(parse_ctx *ctx, yaml_node_t *map,
                                const char *field, const char *path,
                                int64_t *ms, bool *present) {
    char full[PATH_MAX_LEN];
    make_path(full, "%s.%s", path, field);
    *present = false;
    yaml_node_t *node = mapping_get(ctx, map, field);
    if (!node || scalar_is_null(node))
        return KH_OK;
    int rc = expect_type(ctx, node, YAML_SCALAR_NODE, full);
    if (rc != KH_OK)
        return rc;
    kh_error why;
    rc = kh_duration_parse_iso8601((const char *)node->data.scalar.value, ms,
                                   &why);
    if (rc != KH_OK)
        return fail_at(ctx, node, rc, full, "%s", why.message);
    *present = true;
    return KH_OK;
}

static int parse_delivery(parse_ctx *ctx, yaml_node_t *node, const char *path,
                          const char *default_namespace, kh_delivery *out) {
    static const char *const fields[] = {
        "retry",   "backoffPolicy",  "backoffDelay", "deadLetterSink",
        "timeout", "retryAfterMax",  NULL};
    int rc = check_keys(ctx, node, path, fields);
    if (rc != KH_OK)
        return rc;
    char full[PATH_MAX_LEN];
    yaml_node_t *retry = mapping_get(ctx, node, "retry");
    if (retry && !scalar_is_null(retry)) {
        make_path(full, "%s.retry", path);
        if ((rc = expect_type(ctx, retry, YAML_SCALAR_NODE, full)) != KH_OK)
            return rc;
        const char *text = (const char *)retry->data.scalar.value;
        char *end = NULL;
        errno = 0;
        long value = strtol(text, &end, 10);
        if (!*text || *end || errno == ERANGE ||
            retry->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return fail_at(ctx, retry, KH_EFORMAT, full,
                           "must be an integer, got '%s'", text);
        if (value < 0)
            return fail_at(ctx, retry, KH_ERANGE, full,
                           "must not be negative, got %ld", value);
        if (value > KH_DELIVERY_MAX_RETRY)
            return fail_at(ctx, retry, KH_ERANGE, full,
                           "at most %d, got %ld", KH_DELIVERY_MAX_RETRY,
                           value);
        out->retry = (int)value;
    }
    yaml_node_t *policy = mapping_get(ctx, node, "backoffPolicy");
    if (policy && !scalar_is_null(policy)) {
        make_path(full, "%s.backoffPolicy", path);
        if ((rc = expect_type(ctx, policy, YAML_SCALAR_NODE, full)) != KH_OK)
            return rc;
        const char *text = (const char *)policy->data.scalar.value;
        if (strcmp(text, "linear") == 0)
            out->backoff_policy = KH_BACKOFF_LINEAR;
        else if (strcmp(text, "exponential") == 0)
            out->backoff_policy = KH_BACKOFF_EXPONENTIAL;
        else
            return fail_at(ctx, policy, KH_EFORMAT, full,
                           "'%s' is not a backoff policy (linear, "
                           "exponential)",
                           text);
    }
    bool present;
    int64_t ms;
    rc = parse_duration_field(ctx, node, "backoffDelay", path, &ms, &present);
    if (rc != KH_OK)
        return rc;
    if (present)
        out->backoff_delay_ms = ms;
    rc = parse_duration_field(ctx, node, "timeout", path, &ms, &present);
    if (rc != KH_OK)
        return rc;
    if (present) {
        if (ms <= 0)
            return fail_at(ctx, mapping_get(ctx, node, "timeout"), KH_ERANGE,
                           path, "timeout must be longer than zero");
        out->timeout_ms = ms;
    }
    /* retryAfterMax is validated but khappy does not honour Retry-After. */
    rc = parse_duration_field(ctx, node, "retryAfterMax", path, &ms, &present);
    if (rc != KH_OK)
        return rc;
    yaml_node_t *dls = mapping_get(ctx, node, "deadLetterSink");
    if (dls && !scalar_is_null(dls)) {
        make_path(full, "%s.deadLetterSink", path);
        rc = parse_destination(ctx, dls, full, default_namespace,
                               &out->dead_letter_sink);
        if (rc != KH_OK)
            return rc;
        out->has_dead_letter_sink = true;
    }
    return KH_OK;
}

static int parse_attribute_filter(parse_ctx *ctx, yaml_node_t *filter,
                                  kh_trigger *t) {
    static const char *const fields[] = {"attributes", NULL};
    if (scalar_is_null(filter))
        return KH_OK;
    int rc = check_keys(ctx, filter, "spec.filter", fields);
    if (rc != KH_OK)
        return rc;
    yaml_node_t *attrs = mapping_get(ctx, filter, "attributes");
    if (!attrs || scalar_is_null(attrs))
        return KH_OK;
    rc = check_keys(ctx, attrs, "spec.filter.attributes", NULL);
    if (rc != KH_OK)
        return rc;
    size_t n = (size_t)(attrs->data.mapping.pairs.top -
                        attrs->data.mapping.pairs.start);
    if (n == 0)
        return KH_OK;
    t->attributes = calloc(n, sizeof *t->attributes);
    if (!t->attributes)
        return kh_error_set(ctx->err, KH_ENOMEM, "spec.filter.attributes");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &attrs->data.mapping.pairs.start[i];
        const char *name = key_text(ctx, pair);
        char path[PATH_MAX_LEN];
        make_path(path, "spec.filter.attributes.%s", name ? name : "");
        if (!attribute_name_valid(name))
            return fail_at(ctx, node_at(ctx, pair->key), KH_EFORMAT,
                           "spec.filter.attributes",
                           "invalid attribute name '%s' (lower-case a-z, "
                           "0-9)",
                           name);
        kh_attribute_match *m = &t->attributes[t->n_attributes];
        rc = scalar_string(ctx, node_at(ctx, pair->value), path, &m->value);
        if (rc != KH_OK)
            return rc;
        /* null means "any value" like "" (Go decodes both to ""). */
        if (!m->value)
            m->value = dup_string("");
        m->name = dup_string(name);
        t->n_attributes++;
        if (!m->value || !m->name)
            return kh_error_set(ctx->err, KH_ENOMEM, "%s", path);
    }
    return KH_OK;
}

/* Parses one document's root. *is_trigger is false for other kinds. */
static int parse_trigger(parse_ctx *ctx, yaml_node_t *root, kh_trigger *t,
                         bool *is_trigger) {
    static const char *const spec_fields[] = {
        "broker", "filter", "filters", "subscriber", "delivery", NULL};
    *is_trigger = false;
    int rc = check_keys(ctx, root, "document", NULL);
    if (rc != KH_OK)
        return rc;
    char *kind = NULL, *api_version = NULL;
    rc = required_string(ctx, root, "kind", "document", &kind);
    if (rc != KH_OK)
        return rc;
    bool trigger_kind = strcmp(kind, "Trigger") == 0;
    free(kind);
    if (!trigger_kind)
        return KH_OK;
    rc = required_string(ctx, root, "apiVersion", "document", &api_version);
    if (rc != KH_OK)
        return rc;
    if (strcmp(api_version, KH_TRIGGER_API_VERSION) != 0) {
        rc = fail_at(ctx, mapping_get(ctx, root, "apiVersion"), KH_EFORMAT,
                     "apiVersion", "a Trigger must be %s, got '%s'",
                     KH_TRIGGER_API_VERSION, api_version);
        free(api_version);
        return rc;
    }
    free(api_version);
    *is_trigger = true;
    t->source_line = (int)root->start_mark.line + 1;

    yaml_node_t *metadata = mapping_get(ctx, root, "metadata");
    if (!metadata)
        return fail_at(ctx, root, KH_EFORMAT, "metadata", "missing");
    if ((rc = check_keys(ctx, metadata, "metadata", NULL)) != KH_OK)
        return rc;
    if ((rc = required_string(ctx, metadata, "name", "metadata", &t->name)))
        return rc;
    if (!object_name_valid(t->name))
        return fail_at(ctx, mapping_get(ctx, metadata, "name"), KH_EFORMAT,
                       "metadata.name",
                       "'%s' is not a valid name (lower-case a-z, 0-9, '-', "
                       "'.')",
                       t->name);
    rc = optional_string(ctx, metadata, "namespace", "metadata",
                         &t->namespace_name);
    if (rc != KH_OK)
        return rc;
    if (!t->namespace_name && !(t->namespace_name = dup_string("default")))
        return kh_error_set(ctx->err, KH_ENOMEM, "metadata.namespace");

    yaml_node_t *spec = mapping_get(ctx, root, "spec");
    if (!spec)
        return fail_at(ctx, root, KH_EFORMAT, "spec", "missing");
    if ((rc = check_keys(ctx, spec, "spec", spec_fields)) != KH_OK)
        return rc;
    if ((rc = optional_string(ctx, spec, "broker", "spec", &t->broker)))
        return rc;
    if (!t->broker && !(t->broker = dup_string("default")))
        return kh_error_set(ctx->err, KH_ENOMEM, "spec.broker");

    yaml_node_t *filter = mapping_get(ctx, spec, "filter");
    if (filter && (rc = parse_attribute_filter(ctx, filter, t)) != KH_OK)
        return rc;
    yaml_node_t *filters = mapping_get(ctx, spec, "filters");
    if (filters && !scalar_is_null(filters)) {
        rc = parse_filter_list(ctx, filters, "spec.filters", 0, &t->filters,
                               &t->n_filters);
        if (rc != KH_OK)
            return rc;
    }

    yaml_node_t *subscriber = mapping_get(ctx, spec, "subscriber");
    if (!subscriber)
        return fail_at(ctx, spec, KH_EFORMAT, "spec.subscriber",
                       "missing: needs ref or uri");
    rc = parse_destination(ctx, subscriber, "spec.subscriber",
                           t->namespace_name, &t->subscriber);
    if (rc != KH_OK)
        return rc;

    t->delivery.retry = KH_DELIVERY_DEFAULT_RETRY;
    t->delivery.backoff_policy = KH_DELIVERY_DEFAULT_BACKOFF;
    t->delivery.backoff_delay_ms = KH_DELIVERY_DEFAULT_DELAY_MS;
    yaml_node_t *delivery = mapping_get(ctx, spec, "delivery");
    if (delivery && !scalar_is_null(delivery)) {
        rc = parse_delivery(ctx, delivery, "spec.delivery", t->namespace_name,
                            &t->delivery);
        if (rc != KH_OK)
            return rc;
    }
    return KH_OK;
}

static int check_unique(parse_ctx *ctx, const kh_trigger_set *existing,
                        const kh_trigger_set *parsed, const kh_trigger *t) {
    const kh_trigger *dup =
        kh_trigger_set_find(existing, t->namespace_name, t->name);
    if (!dup)
        dup = kh_trigger_set_find(parsed, t->namespace_name, t->name);
    if (!dup)
        return KH_OK;
    return kh_error_set(ctx->err, KH_EEXIST,
                        "%s:%d: trigger %s/%s is already defined at %s:%d",
                        ctx->origin, t->source_line, t->namespace_name,
                        t->name, dup->source_file, dup->source_line);
}

int kh_trigger_set_parse(kh_trigger_set *set, const char *yaml, size_t len,
                         const char *origin, kh_error *err) {
    if (!set || (!yaml && len))
        return kh_error_set(err, KH_EINVAL, "kh_trigger_set_parse: no input");
    if (!origin)
        origin = "<triggers>";
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return kh_error_set(err, KH_ENOMEM, "%s: initialising libyaml",
                            origin);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    kh_trigger_set parsed = {0};
    int rc = KH_OK;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            rc = kh_error_set(err, KH_EFORMAT, "%s:%zu:%zu: YAML: %s%s%s",
                              origin, parser.problem_mark.line + 1,
                              parser.problem_mark.column + 1,
                              parser.problem ? parser.problem : "error",
                              parser.context ? " " : "",
                              parser.context ? parser.context : "");
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) { /* end of stream */
            yaml_document_delete(&doc);
            break;
        }
        parse_ctx ctx = {.doc = &doc, .origin = origin, .err = err};
        if (scalar_is_null(root)) { /* an empty document between --- */
            yaml_document_delete(&doc);
            continue;
        }
        kh_trigger t = {0};
        bool is_trigger = false;
        rc = parse_trigger(&ctx, root, &t, &is_trigger);
        if (rc == KH_OK && is_trigger) {
            t.source_file = dup_string(origin);
            if (!t.source_file)
                rc = kh_error_set(err, KH_ENOMEM, "%s", origin);
        }
        if (rc == KH_OK && is_trigger)
            rc = check_unique(&ctx, set, &parsed, &t);
        if (rc == KH_OK && is_trigger) {
            kh_trigger *grown = realloc(parsed.triggers,
                                        (parsed.count + 1) * sizeof *grown);
            if (!grown) {
                rc = kh_error_set(err, KH_ENOMEM, "%s", origin);
            } else {
                parsed.triggers = grown;
                parsed.triggers[parsed.count++] = t;
                memset(&t, 0, sizeof t);
            }
        }
        trigger_free(&t);
        yaml_document_delete(&doc);
        if (rc != KH_OK)
            break;
    }
    yaml_parser_delete(&parser);
    if (rc == KH_OK)
        rc = trigger_set_move(set, &parsed, err);
    trigger_set_clear(&parsed);
    return rc;
}

int kh_trigger_set_load_file(kh_trigger_set *set, const char *path,
                             kh_error *err) {
    uint8_t *text;
    size_t n;
    int rc = kh_file_read(path, KH_TRIGGER_FILE_MAX_BYTES, &text, &n, err);
    if (rc == KH_ENOTFOUND) {
        /* trigger.h: one code for a file that cannot be read. */
        rc = KH_EIO;
        if (err)
            err->code = KH_EIO;
    }
    if (rc != KH_OK)
        return rc;
    rc = kh_trigger_set_parse(set, (const char *)text, n, path, err);
    free(text);
    return rc;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int kh_trigger_set_load_dir(kh_trigger_set *set, const char *dir,
                            kh_error *err) {
    DIR *d = opendir(dir);
    if (!d)
        return kh_error_set(err, KH_EIO, "%s: %s", dir, strerror(errno));
    char **paths = NULL;
    size_t n = 0;
    int rc = KH_OK;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.' ||
            !(has_suffix(name, ".yaml") || has_suffix(name, ".yml")))
            continue;
        size_t len = strlen(dir) + 1 + strlen(name) + 1;
        char *path = malloc(len);
        char **grown = realloc(paths, (n + 1) * sizeof *paths);
        if (!path || !grown) {
            free(path);
            if (grown)
                paths = grown;
            rc = kh_error_set(err, KH_ENOMEM, "%s: listing", dir);
            break;
        }
        paths = grown;
        snprintf(path, len, "%s/%s", dir, name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        paths[n++] = path;
    }
    closedir(d);
    if (rc == KH_OK && n > 1)
        qsort(paths, n, sizeof *paths, compare_names);
    /* All or nothing: load into a scratch set, keep it only if every file
     * parses. Duplicates are checked against `set` too. */
    kh_trigger_set scratch = {0};
    for (size_t i = 0; rc == KH_OK && i < n; i++) {
        kh_trigger_set one = {0};
        rc = kh_trigger_set_load_file(&one, paths[i], err);
        for (size_t j = 0; rc == KH_OK && j < one.count; j++) {
            const kh_trigger *t = &one.triggers[j];
            const kh_trigger *dup =
                kh_trigger_set_find(set, t->namespace_name, t->name);
            if (!dup)
                dup = kh_trigger_set_find(&scratch, t->namespace_name,
                                          t->name);
            if (dup)
                rc = kh_error_set(err, KH_EEXIST,
                                  "%s:%d: trigger %s/%s is already defined "
                                  "at %s:%d",
                                  t->source_file, t->source_line,
                                  t->namespace_name, t->name,
                                  dup->source_file, dup->source_line);
        }
        if (rc == KH_OK)
            rc = trigger_set_move(&scratch, &one, err);
        trigger_set_clear(&one);
    }
    if (rc == KH_OK)
        rc = trigger_set_move(set, &scratch, err);
    trigger_set_clear(&scratch);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}
