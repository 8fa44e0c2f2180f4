/* http_sink.c - what `khappy service` needs around the service functions to
 * behave as a Knative service: K_CE_OVERRIDES and posting to K_SINK. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "events/ce_sender.h"
#include "services/services.h"

void kh_ce_overrides_free(kh_ce_overrides *overrides) {
    if (!overrides)
        return;
    for (size_t i = 0; i < overrides->count; i++) {
        free(overrides->extensions[i].name);
        free(overrides->extensions[i].value);
    }
    free(overrides->extensions);
    overrides->extensions = NULL;
    overrides->count = 0;
}

int kh_ce_overrides_parse(const char *text, kh_ce_overrides *out,
                          kh_error *err) {
    out->extensions = NULL;
    out->count = 0;
    if (!text || !*text)
        return KH_OK;
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return kh_error_set(err, KH_EFORMAT, "K_CE_OVERRIDES is not a JSON "
                            "object%s%s", root ? "" : ": ",
                            root ? "" : jerr.text);
    }
    int rc = KH_OK;
    const char *field;
    json_t *value;
    json_object_foreach(root, field, value) {
        if (strcmp(field, "extensions") != 0) {
            rc = kh_error_set(err, KH_EINVAL, "K_CE_OVERRIDES: unknown field "
                              "'%.40s' (only \"extensions\")", field);
            goto out;
        }
    }
    json_t *extensions = json_object_get(root, "extensions");
    if (!extensions)
        goto out;
    if (!json_is_object(extensions) ||
        json_object_size(extensions) > KH_CLOUDEVENT_MAX_EXTENSIONS) {
        rc = kh_error_set(err, KH_EINVAL, "K_CE_OVERRIDES: \"extensions\" is "
                          "not an object of at most %d names",
                          KH_CLOUDEVENT_MAX_EXTENSIONS);
        goto out;
    }
    out->extensions = calloc(json_object_size(extensions) + 1,
                             sizeof *out->extensions);
    if (!out->extensions) {
        rc = kh_error_set(err, KH_ENOMEM, "K_CE_OVERRIDES: out of memory");
        goto out;
    }
    json_object_foreach(extensions, field, value) {
        if (!kh_cloudevent_name_valid(field) ||
            kh_cloudevent_is_core_attribute(field)) {
            rc = kh_error_set(err, KH_EINVAL, "K_CE_OVERRIDES: '%.40s' is not "
                              "an extension name", field);
            goto out;
        }
        if (!json_is_string(value)) {
            rc = kh_error_set(err, KH_EINVAL, "K_CE_OVERRIDES: extension "
                              "'%s' is not a string", field);
            goto out;
        }
        kh_ce_extension *e = &out->extensions[out->count];
        e->name = strdup(field);
        e->value = strdup(json_string_value(value));
        out->count++;
        if (!e->name || !e->value) {
            rc = kh_error_set(err, KH_ENOMEM, "K_CE_OVERRIDES: out of memory");
            goto out;
        }
    }
out:
    json_decref(root);
    if (rc != KH_OK)
        kh_ce_overrides_free(out);
    return rc;
}

int kh_ce_overrides_apply(const kh_ce_overrides *overrides,
                          kh_cloudevent *event, kh_error *err) {
    for (size_t i = 0; overrides && i < overrides->count; i++) {
        int rc = kh_cloudevent_set(event, overrides->extensions[i].name,
                                   overrides->extensions[i].value, err);
        if (rc != KH_OK)
            return rc;
    }
    return KH_OK;
}

int kh_http_sink_send(void *http_sink, const kh_cloudevent *event,
                      kh_error *err) {
    const kh_http_sink *sink = http_sink;
    if (!sink->url)
        return kh_error_set(err, KH_ESTATE, "no sink: set K_SINK or --sink");
    kh_cloudevent copy;
    const kh_cloudevent *sent = event;
    int rc = KH_OK;
    if (sink->overrides && sink->overrides->count) {
        if ((rc = kh_cloudevent_copy(&copy, event, err)) != KH_OK)
            return rc;
        rc = kh_ce_overrides_apply(sink->overrides, &copy, err);
        sent = &copy;
    }
    int status = 0;
    if (rc == KH_OK)
        rc = kh_ce_send(sink->url, sent, KH_CE_MODE_BINARY, NULL, 0,
                        sink->timeout_ms, &status, NULL, err);
    if (sent == &copy)
        kh_cloudevent_free(&copy);
    if (rc == KH_OK && (status < 200 || status > 299))
        rc = kh_error_set(err, KH_ENETWORK, "sink %s answered %d to event %s",
                          sink->url, status, event->id);
    return rc;
}
