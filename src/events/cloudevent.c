/* cloudevent.c - the CloudEvents v1.0.2 event model: attributes,
 * extensions, data, validation. */
#include "events/cloudevent.h"

#include <stdlib.h>
#include <string.h>

#include "events/ce_text.h"

/* The core attributes in the order formats write them; `offset` finds the
 * member so that get/set/copy/free are one loop each. */
typedef struct core_attribute {
    const char *name;
    size_t offset;
    bool required;
} core_attribute;

#define CORE(member, req) {#member, offsetof(kh_cloudevent, member), req}
static const core_attribute CORE_ATTRIBUTES[] = {
    CORE(specversion, true),      CORE(id, true),
    CORE(source, true),           CORE(type, true),
    CORE(datacontenttype, false), CORE(dataschema, false),
    CORE(subject, false),         CORE(time, false),
};
#undef CORE
#define N_CORE (sizeof CORE_ATTRIBUTES / sizeof *CORE_ATTRIBUTES)

static char **core_slot(kh_cloudevent *ev, size_t i) {
    return (char **)((char *)ev + CORE_ATTRIBUTES[i].offset);
}

static const char *core_value(const kh_cloudevent *ev, size_t i) {
    return *(char *const *)((const char *)ev + CORE_ATTRIBUTES[i].offset);
}

static int find_core(const char *name) {
    for (size_t i = 0; i < N_CORE; i++) {
        if (strcmp(CORE_ATTRIBUTES[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

bool kh_cloudevent_is_core_attribute(const char *name) {
    return name && find_core(name) >= 0;
}

bool kh_cloudevent_name_valid(const char *name) {
    if (!name || !*name || strlen(name) > KH_CLOUDEVENT_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    }
    return true;
}

void kh_cloudevent_init(kh_cloudevent *ev) {
    if (ev)
        memset(ev, 0, sizeof *ev);
}

void kh_cloudevent_free(kh_cloudevent *ev) {
    if (!ev)
        return;
    for (size_t i = 0; i < N_CORE; i++)
        free(*core_slot(ev, i));
    for (size_t i = 0; i < ev->n_extensions; i++) {
        free(ev->extensions[i].name);
        free(ev->extensions[i].value);
    }
    free(ev->extensions);
    free(ev->data);
    memset(ev, 0, sizeof *ev);
}

void kh_cloudevents_free(kh_cloudevent *events, size_t n) {
    if (!events)
        return;
    for (size_t i = 0; i < n; i++)
        kh_cloudevent_free(&events[i]);
    free(events);
}

static int find_extension(const kh_cloudevent *ev, const char *name) {
    for (size_t i = 0; i < ev->n_extensions; i++) {
        if (strcmp(ev->extensions[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

const char *kh_cloudevent_get(const kh_cloudevent *ev, const char *attribute) {
    if (!ev || !attribute)
        return NULL;
    int core = find_core(attribute);
    if (core >= 0)
        return core_value(ev, (size_t)core);
    int ext = find_extension(ev, attribute);
    return ext >= 0 ? ev->extensions[ext].value : NULL;
}

static int set_extension(kh_cloudevent *ev, const char *name,
                         const char *value, kh_error *err) {
    int found = find_extension(ev, name);
    if (!value) {
        if (found < 0)
            return KH_OK;
        free(ev->extensions[found].name);
        free(ev->extensions[found].value);
        /* Keep the order of the others: formats write them as they came. */
        memmove(&ev->extensions[found], &ev->extensions[found + 1],
                (ev->n_extensions - (size_t)found - 1) *
                    sizeof *ev->extensions);
        ev->n_extensions--;
        return KH_OK;
    }
    char *copy = strdup(value);
    if (!copy)
        return kh_error_set(err, KH_ENOMEM, "extension '%s': out of memory",
                            name);
    if (found >= 0) {
        free(ev->extensions[found].value);
        ev->extensions[found].value = copy;
        return KH_OK;
    }
    if (ev->n_extensions >= KH_CLOUDEVENT_MAX_EXTENSIONS) {
        free(copy);
        return kh_error_set(err, KH_ELIMIT,
                            "extension '%s': more than %d extensions on one "
                            "event",
                            name, KH_CLOUDEVENT_MAX_EXTENSIONS);
    }
    char *name_copy = strdup(name);
    kh_ce_extension *grown =
        realloc(ev->extensions, (ev->n_extensions + 1) * sizeof *grown);
    if (!name_copy || !grown) {
        free(copy);
        free(name_copy);
        if (grown)
            ev->extensions = grown;
        return kh_error_set(err, KH_ENOMEM, "extension '%s': out of memory",
                            name);
    }
    ev->extensions = grown;
    grown[ev->n_extensions].name = name_copy;
    grown[ev->n_extensions].value = copy;
    ev->n_extensions++;
    return KH_OK;
}

int kh_cloudevent_set(kh_cloudevent *ev, const char *attribute,
                      const char *value, kh_error *err) {
    if (!ev || !attribute)
        return kh_error_set(err, KH_EINVAL,
                            "cloudevent set: event and attribute name are "
                            "required");
    int core = find_core(attribute);
    if (core >= 0) {
        char *copy = NULL;
        if (value && !(copy = strdup(value)))
            return kh_error_set(err, KH_ENOMEM, "attribute '%s': out of memory",
                                attribute);
        char **slot = core_slot(ev, (size_t)core);
        free(*slot);
        *slot = copy;
        return KH_OK;
    }
    if (!kh_cloudevent_name_valid(attribute))
        return kh_error_set(err, KH_EINVAL,
                            "'%s' is not a valid attribute name (only "
                            "lower-case letters a-z and digits 0-9)",
                            attribute);
    if (strcmp(attribute, "data") == 0)
        return kh_error_set(err, KH_EINVAL,
                            "'data' is reserved and cannot be an attribute");
    return set_extension(ev, attribute, value, err);
}

int kh_cloudevent_set_data(kh_cloudevent *ev, const void *data, size_t len,
                           const char *content_type, kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "cloudevent set_data: no event");
    if (!data && len > 0)
        return kh_error_set(err, KH_EINVAL,
                            "cloudevent set_data: %zu bytes but no data", len);
    uint8_t *copy = NULL;
    if (data) {
        /* One spare byte: present-but-empty data still has a pointer, and
         * text data can be read as a C string by careful callers. */
        copy = malloc(len + 1);
        if (!copy)
            return kh_error_set(err, KH_ENOMEM,
                                "event data of %zu bytes: out of memory", len);
        memcpy(copy, data, len);
        copy[len] = '\0';
    }
    if (content_type) {
        int rc = kh_cloudevent_set(ev, "datacontenttype", content_type, err);
        if (rc != KH_OK) {
            free(copy);
            return rc;
        }
    }
    free(ev->data);
    ev->data = copy;
    ev->data_len = copy ? len : 0;
    ev->data_is_base64_in_json = false;
    return KH_OK;
}

int kh_cloudevent_copy(kh_cloudevent *dst, const kh_cloudevent *src,
                       kh_error *err) {
    if (!dst || !src)
        return kh_error_set(err, KH_EINVAL, "cloudevent copy: NULL event");
    kh_cloudevent_init(dst);
    int rc = KH_OK;
    for (size_t i = 0; i < N_CORE && rc == KH_OK; i++) {
        const char *value = core_value(src, i);
        if (value)
            rc = kh_cloudevent_set(dst, CORE_ATTRIBUTES[i].name, value, err);
    }
    for (size_t i = 0; i < src->n_extensions && rc == KH_OK; i++)
        rc = set_extension(dst, src->extensions[i].name,
                           src->extensions[i].value, err);
    if (rc == KH_OK && src->data)
        rc = kh_cloudevent_set_data(dst, src->data, src->data_len, NULL, err);
    if (rc != KH_OK) {
        kh_cloudevent_free(dst);
        return rc;
    }
    dst->data_is_base64_in_json = src->data_is_base64_in_json;
    return KH_OK;
}

static int check_string(const char *kind, const char *name, const char *value,
                        kh_error *err) {
    size_t bad;
    if (!kh_ce_string_valid(value, strlen(value), &bad))
        return kh_error_set(err, KH_EINVAL,
                            "%s '%s' is not a valid CloudEvents string "
                            "(invalid UTF-8, a control character or a "
                            "noncharacter at byte %zu)",
                            kind, name, bad);
    return KH_OK;
}

int kh_cloudevent_validate(const kh_cloudevent *ev, kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "no event");
    for (size_t i = 0; i < N_CORE; i++) {
        const char *name = CORE_ATTRIBUTES[i].name;
        const char *value = core_value(ev, i);
        if (!value) {
            if (CORE_ATTRIBUTES[i].required)
                return kh_error_set(err, KH_EINVAL,
                                    "missing required attribute '%s'", name);
            continue;
        }
        if (!*value)
            return kh_error_set(err, KH_EINVAL,
                                "attribute '%s' is empty (it must be a "
                                "non-empty string when present)",
                                name);
        int rc = check_string("attribute", name, value, err);
        if (rc != KH_OK)
            return rc;
    }
    if (strcmp(ev->specversion, "1.0") != 0)
        return kh_error_set(err, KH_EINVAL,
                            "specversion '%.64s' is not supported (expected "
                            "'1.0')",
                            ev->specversion);
    if (ev->time && !kh_ce_timestamp_valid(ev->time))
        return kh_error_set(err, KH_EINVAL,
                            "attribute 'time' ('%.64s') is not an RFC 3339 "
                            "timestamp",
                            ev->time);
    if (ev->datacontenttype && !kh_ce_media_type_valid(ev->datacontenttype))
        return kh_error_set(err, KH_EINVAL,
                            "attribute 'datacontenttype' ('%.64s') is not an "
                            "RFC 2046 media type",
                            ev->datacontenttype);
    if (ev->dataschema && !kh_ce_absolute_uri_valid(ev->dataschema))
        return kh_error_set(err, KH_EINVAL,
                            "attribute 'dataschema' ('%.64s') is not an "
                            "absolute URI",
                            ev->dataschema);
    if (ev->n_extensions > KH_CLOUDEVENT_MAX_EXTENSIONS)
        return kh_error_set(err, KH_ELIMIT, "more than %d extensions",
                            KH_CLOUDEVENT_MAX_EXTENSIONS);
    for (size_t i = 0; i < ev->n_extensions; i++) {
        const kh_ce_extension *ext = &ev->extensions[i];
        if (!kh_cloudevent_name_valid(ext->name) ||
            kh_cloudevent_is_core_attribute(ext->name) ||
            strcmp(ext->name, "data") == 0)
            return kh_error_set(err, KH_EINVAL,
                                "'%.64s' is not a valid extension name (only "
                                "lower-case letters a-z and digits 0-9, not "
                                "'data' or a core attribute)",
                                ext->name ? ext->name : "(null)");
        if (!ext->value)
            return kh_error_set(err, KH_EINVAL, "extension '%s' has no value",
                                ext->name);
        int rc = check_string("extension", ext->name, ext->value, err);
        if (rc != KH_OK)
            return rc;
    }
    return KH_OK;
}
