/* metrics.c - see metrics.h. Series are found through a small per-metric
 * hash table whose chains are only ever appended to (atomically, under the
 * metric's mutex), so readers walk them without locks. */
#include "obs/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "obs/obs_text.h"

#ifndef KH_VERSION
#define KH_VERSION "dev"
#endif

#define SERIES_TABLE_SIZE 64 /* power of two */
#define MAX_COLLECT_HOOKS 16

struct kh_metric_series {
    kh_metric *metric;
    kh_metric_series *_Atomic chain_next; /* same hash slot */
    kh_metric_series *_Atomic order_next; /* creation order, for render */
    uint64_t hash;
    char **values;                   /* metric->n_labels copies */
    _Atomic uint64_t value_bits;     /* counter/gauge: a double's bits */
    _Atomic uint64_t sum_bits;       /* histogram sum: a double's bits */
    _Atomic uint64_t bucket_counts[]; /* histogram: n_buckets + 1 (+Inf) */
};

struct kh_metric {
    kh_metrics *registry;
    kh_metric *next; /* registration order */
    kh_metric_type type;
    char *name;
    char *help;
    char **labels;
    size_t n_labels;
    double *buckets;
    size_t n_buckets;
    size_t max_series;

    pthread_mutex_t lock; /* creating series */
    kh_metric_series *_Atomic table[SERIES_TABLE_SIZE];
    kh_metric_series *_Atomic order_head;
    kh_metric_series *order_tail;
    size_t n_series;
    kh_metric_series *_Atomic overflow;
};

typedef struct collect_hook {
    kh_metrics_collect_fn fn;
    void *user;
} collect_hook;

struct kh_metrics {
    pthread_mutex_t lock; /* registering, hooks, rendering */
    kh_metric *first;
    kh_metric *last;
    collect_hook hooks[MAX_COLLECT_HOOKS];
    size_t n_hooks;
};

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25,
                                         .5,   1,   2.5,  5,   10};

/* ---- doubles in atomics ---- */

static uint64_t bits_of(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static double double_of(uint64_t bits) {
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static void atomic_double_add(_Atomic uint64_t *target, double v) {
    uint64_t old = atomic_load_explicit(target, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        target, &old, bits_of(double_of(old) + v), memory_order_relaxed,
        memory_order_relaxed)) {
    }
}

/* ---- names ---- */

static bool metric_name_valid(const char *name) {
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || c == ':';
        if (!alpha && !(p > name && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool label_name_valid(const char *name) {
    if (!name || !*name || strncmp(name, "__", 2) == 0)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_';
        if (!alpha && !(p > name && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* ---- registry ---- */

int kh_metrics_create(kh_metrics **out, kh_error *err) {
    if (!out)
        return kh_error_set(err, KH_EINVAL, "metrics: out is required");
    kh_metrics *registry = calloc(1, sizeof *registry);
    if (!registry)
        return kh_error_set(err, KH_ENOMEM, "metrics: out of memory");
    pthread_mutex_init(&registry->lock, NULL);
    *out = registry;
    return KH_OK;
}

static void series_free(kh_metric_series *series) {
    if (!series)
        return;
    free(series->values); /* strings live in the same block */
    free(series);
}

static void metric_free(kh_metric *m) {
    kh_metric_series *series = atomic_load(&m->order_head);
    while (series) {
        kh_metric_series *next = atomic_load(&series->order_next);
        series_free(series);
        series = next;
    }
    series_free(atomic_load(&m->overflow));
    for (size_t i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->buckets);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void kh_metrics_destroy(kh_metrics *registry) {
    if (!registry)
        return;
    kh_metric *m = registry->first;
    while (m) {
        kh_metric *next = m->next;
        metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&registry->lock);
    free(registry);
}

static size_t count_list(const char *const *list) {
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* Same type, labels and buckets as desc. */
static bool same_definition(const kh_metric *m, const kh_metric_desc *desc,
                            const double *buckets, size_t n_buckets) {
    size_t n_labels = count_list(desc->labels);
    if (m->type != desc->type || m->n_labels != n_labels)
        return false;
    for (size_t i = 0; i < n_labels; i++) {
        if (strcmp(m->labels[i], desc->labels[i]) != 0)
            return false;
    }
    if (m->type != KH_METRIC_HISTOGRAM)
        return true;
    if (m->n_buckets != n_buckets)
        return false;
    for (size_t i = 0; i < n_buckets; i++) {
        if (m->buckets[i] != buckets[i])
            return false;
    }
    return true;
}

static int validate_desc(const kh_metric_desc *desc, const double **buckets,
                         size_t *n_buckets, kh_error *err) {
    if (!metric_name_valid(desc->name))
        return kh_error_set(err, KH_EINVAL, "metrics: invalid metric name "
                                            "'%s'",
                            desc->name ? desc->name : "(null)");
    if (desc->type != KH_METRIC_COUNTER && desc->type != KH_METRIC_GAUGE &&
        desc->type != KH_METRIC_HISTOGRAM)
        return kh_error_set(err, KH_EINVAL, "metrics: %s: unknown type %d",
                            desc->name, (int)desc->type);
    size_t n_labels = count_list(desc->labels);
    if (n_labels > KH_METRIC_MAX_LABELS)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: %s: %zu labels, at most %d", desc->name,
                            n_labels, KH_METRIC_MAX_LABELS);
    for (size_t i = 0; i < n_labels; i++) {
        if (!label_name_valid(desc->labels[i]))
            return kh_error_set(err, KH_EINVAL,
                                "metrics: %s: invalid label name '%s'",
                                desc->name, desc->labels[i]);
        if (desc->type == KH_METRIC_HISTOGRAM &&
            strcmp(desc->labels[i], "le") == 0)
            return kh_error_set(err, KH_EINVAL,
                                "metrics: %s: a histogram cannot have a "
                                "label 'le'",
                                desc->name);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(desc->labels[i], desc->labels[j]) == 0)
                return kh_error_set(err, KH_EINVAL,
                                    "metrics: %s: label '%s' repeated",
                                    desc->name, desc->labels[i]);
        }
    }
    *buckets = NULL;
    *n_buckets = 0;
    if (desc->type != KH_METRIC_HISTOGRAM)
        return KH_OK;
    *buckets = desc->buckets ? desc->buckets : default_buckets;
    *n_buckets = desc->buckets ? desc->n_buckets
                               : sizeof default_buckets /
                                     sizeof *default_buckets;
    if (*n_buckets < 1 || *n_buckets > KH_METRIC_MAX_BUCKETS)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: %s: %zu buckets, expected 1..%d",
                            desc->name, *n_buckets, KH_METRIC_MAX_BUCKETS);
    for (size_t i = 0; i < *n_buckets; i++) {
        if (!isfinite((*buckets)[i]))
            return kh_error_set(err, KH_EINVAL,
                                "metrics: %s: bucket %zu is not finite "
                                "(+Inf is implicit)",
                                desc->name, i);
        if (i > 0 && !((*buckets)[i] > (*buckets)[i - 1]))
            return kh_error_set(err, KH_EINVAL,
                                "metrics: %s: bucket %zu (%g) is not above "
                                "bucket %zu (%g)",
                                desc->name, i, (*buckets)[i], i - 1,
                                (*buckets)[i - 1]);
    }
    return KH_OK;
}

static kh_metric *find_locked(kh_metrics *registry, const char *name) {
    for (kh_metric *m = registry->first; m; m = m->next) {
        if (strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

kh_metric *kh_metrics_find(kh_metrics *registry, const char *name) {
    if (!registry || !name)
        return NULL;
    pthread_mutex_lock(&registry->lock);
    kh_metric *m = find_locked(registry, name);
    pthread_mutex_unlock(&registry->lock);
    return m;
}

int kh_metrics_register(kh_metrics *registry, const kh_metric_desc *desc,
                        kh_metric **out, kh_error *err) {
    if (!registry || !desc)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: registry and desc are required");
    const double *buckets = NULL;
    size_t n_buckets = 0;
    int rc = validate_desc(desc, &buckets, &n_buckets, err);
    if (rc != KH_OK)
        return rc;

    pthread_mutex_lock(&registry->lock);
    kh_metric *existing = find_locked(registry, desc->name);
    if (existing) {
        bool same = same_definition(existing, desc, buckets, n_buckets);
        pthread_mutex_unlock(&registry->lock);
        if (!same)
            return kh_error_set(err, KH_EEXIST,
                                "metrics: %s already registered with another "
                                "type, labels or buckets",
                                desc->name);
        if (out)
            *out = existing;
        return KH_OK;
    }
    kh_metric *m = calloc(1, sizeof *m);
    size_t n_labels = count_list(desc->labels);
    if (m) {
        pthread_mutex_init(&m->lock, NULL);
        m->registry = registry;
        m->type = desc->type;
        m->name = strdup(desc->name);
        m->help = strdup(desc->help ? desc->help : "");
        m->labels = calloc(n_labels ? n_labels : 1, sizeof *m->labels);
        m->n_labels = n_labels;
        m->max_series = desc->max_series ? desc->max_series
                                         : KH_METRIC_DEFAULT_MAX_SERIES;
        bool ok = m->name && m->help && m->labels;
        for (size_t i = 0; ok && i < n_labels; i++)
            ok = (m->labels[i] = strdup(desc->labels[i])) != NULL;
        if (ok && n_buckets) {
            m->buckets = malloc(n_buckets * sizeof *m->buckets);
            ok = m->buckets != NULL;
            if (ok) {
                memcpy(m->buckets, buckets, n_buckets * sizeof *m->buckets);
                m->n_buckets = n_buckets;
            }
        }
        if (!ok) {
            metric_free(m);
            m = NULL;
        }
    }
    if (!m) {
        pthread_mutex_unlock(&registry->lock);
        return kh_error_set(err, KH_ENOMEM, "metrics: %s: out of memory",
                            desc->name);
    }
    if (registry->last)
        registry->last->next = m;
    else
        registry->first = m;
    registry->last = m;
    pthread_mutex_unlock(&registry->lock);
    /* A metric without labels is shown (at 0) before its first update. */
    if (n_labels == 0)
        kh_metric_series_get(m, NULL);
    if (out)
        *out = m;
    return KH_OK;
}

/* ---- series ---- */

static uint64_t hash_values(const char *const *values, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p;
             p++) {
            h ^= *p;
            h *= 0x100000001b3ull;
        }
        h ^= 0xff; /* separator: ("ab","c") differs from ("a","bc") */
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool same_values(const kh_metric_series *series,
                        const char *const *values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(series->values[i], values[i]) != 0)
            return false;
    }
    return true;
}

static kh_metric_series *series_new(kh_metric *m, const char *const *values,
                                    uint64_t hash) {
    size_t n_counts = m->type == KH_METRIC_HISTOGRAM ? m->n_buckets + 1 : 0;
    kh_metric_series *series =
        calloc(1, sizeof *series + n_counts * sizeof series->bucket_counts[0]);
    if (!series)
        return NULL;
    size_t text = 0;
    for (size_t i = 0; i < m->n_labels; i++)
        text += strlen(values[i]) + 1;
    /* One block: the pointer array, then the strings. */
    series->values = malloc(m->n_labels * sizeof(char *) + text + 1);
    if (!series->values) {
        free(series);
        return NULL;
    }
    char *p = (char *)(series->values + m->n_labels);
    for (size_t i = 0; i < m->n_labels; i++) {
        size_t len = strlen(values[i]);
        memcpy(p, values[i], len + 1);
        series->values[i] = p;
        p += len + 1;
    }
    series->metric = m;
    series->hash = hash;
    atomic_init(&series->value_bits, bits_of(0.0));
    atomic_init(&series->sum_bits, bits_of(0.0));
    for (size_t i = 0; i < n_counts; i++)
        atomic_init(&series->bucket_counts[i], 0);
    return series;
}

static kh_metric_series *lookup(kh_metric *m, const char *const *values,
                                uint64_t hash) {
    kh_metric_series *series = atomic_load_explicit(
        &m->table[hash & (SERIES_TABLE_SIZE - 1)], memory_order_acquire);
    for (; series;
         series = atomic_load_explicit(&series->chain_next,
                                       memory_order_acquire)) {
        if (series->hash == hash && same_values(series, values, m->n_labels))
            return series;
    }
    return NULL;
}

static kh_metric_series *overflow_series(kh_metric *m) {
    kh_metric_series *series = atomic_load(&m->overflow);
    if (series)
        return series;
    const char *values[KH_METRIC_MAX_LABELS];
    for (size_t i = 0; i < m->n_labels; i++)
        values[i] = KH_METRIC_OVERFLOW_VALUE;
    series = series_new(m, values, hash_values(values, m->n_labels));
    if (series)
        atomic_store(&m->overflow, series);
    return series;
}

kh_metric_series *kh_metric_series_get(kh_metric *m,
                                       const char *const *label_values) {
    if (!m)
        return NULL;
    const char *values[KH_METRIC_MAX_LABELS];
    size_t n = 0;
    for (; label_values && label_values[n]; n++) {
        if (n == m->n_labels)
            return NULL;
        values[n] = label_values[n];
    }
    if (n != m->n_labels)
        return NULL;
    uint64_t hash = hash_values(values, n);
    kh_metric_series *series = lookup(m, values, hash);
    if (series)
        return series;

    pthread_mutex_lock(&m->lock);
    series = lookup(m, values, hash); /* another thread may have made it */
    if (!series) {
        if (m->n_series >= m->max_series) {
            series = overflow_series(m);
        } else {
            series = series_new(m, values, hash);
            if (series) {
                _Atomic(kh_metric_series *) *slot =
                    &m->table[hash & (SERIES_TABLE_SIZE - 1)];
                /* Fully built before it becomes reachable (release). */
                atomic_store_explicit(&series->chain_next,
                                      atomic_load(slot),
                                      memory_order_relaxed);
                atomic_store_explicit(slot, series, memory_order_release);
                if (m->order_tail)
                    atomic_store_explicit(&m->order_tail->order_next, series,
                                          memory_order_release);
                else
                    atomic_store_explicit(&m->order_head, series,
                                          memory_order_release);
                m->order_tail = series;
                m->n_series++;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    return series;
}

void kh_series_add(kh_metric_series *series, double v) {
    if (!series || isnan(v))
        return;
    kh_metric_type type = series->metric->type;
    if (type == KH_METRIC_HISTOGRAM || (type == KH_METRIC_COUNTER && v < 0))
        return;
    atomic_double_add(&series->value_bits, v);
}

void kh_series_set(kh_metric_series *series, double v) {
    if (!series || series->metric->type == KH_METRIC_HISTOGRAM)
        return;
    atomic_store_explicit(&series->value_bits, bits_of(v),
                          memory_order_relaxed);
}

void kh_series_observe(kh_metric_series *series, double v) {
    if (!series || isnan(v) || series->metric->type != KH_METRIC_HISTOGRAM)
        return;
    const kh_metric *m = series->metric;
    /* Few buckets: a linear scan beats a binary search's branches. */
    size_t i = 0;
    while (i < m->n_buckets && v > m->buckets[i])
        i++;
    atomic_fetch_add_explicit(&series->bucket_counts[i], 1,
                              memory_order_relaxed);
    atomic_double_add(&series->sum_bits, v);
}

void kh_metric_inc(kh_metric *m, const char *const *label_values) {
    kh_series_add(kh_metric_series_get(m, label_values), 1.0);
}

void kh_metric_add(kh_metric *m, const char *const *label_values, double v) {
    kh_series_add(kh_metric_series_get(m, label_values), v);
}

void kh_metric_set(kh_metric *m, const char *const *label_values, double v) {
    kh_series_set(kh_metric_series_get(m, label_values), v);
}

void kh_metric_observe(kh_metric *m, const char *const *label_values,
                       double v) {
    kh_series_observe(kh_metric_series_get(m, label_values), v);
}

double kh_metric_value(kh_metric *m, const char *const *label_values) {
    if (!m)
        return NAN;
    size_t n = count_list(label_values);
    if (n != m->n_labels)
        return NAN;
    kh_metric_series *series =
        lookup(m, (const char **)label_values, hash_values(label_values, n));
    if (!series)
        return NAN;
    if (m->type != KH_METRIC_HISTOGRAM)
        return double_of(atomic_load(&series->value_bits));
    uint64_t count = 0;
    for (size_t i = 0; i <= m->n_buckets; i++)
        count += atomic_load(&series->bucket_counts[i]);
    return (double)count;
}

int kh_metrics_on_collect(kh_metrics *registry, kh_metrics_collect_fn fn,
                          void *user, kh_error *err) {
    if (!registry || !fn)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: registry and fn are required");
    pthread_mutex_lock(&registry->lock);
    if (registry->n_hooks == MAX_COLLECT_HOOKS) {
        pthread_mutex_unlock(&registry->lock);
        return kh_error_set(err, KH_ELIMIT,
                            "metrics: more than %d collect hooks",
                            MAX_COLLECT_HOOKS);
    }
    registry->hooks[registry->n_hooks++] = (collect_hook){fn, user};
    pthread_mutex_unlock(&registry->lock);
    return KH_OK;
}

/* ---- exposition ---- */

static const char *type_name(kh_metric_type type) {
    switch (type) {
    case KH_METRIC_COUNTER: return "counter";
    case KH_METRIC_GAUGE: return "gauge";
    case KH_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

/* {a="x",b="y"[,le="..."]} or nothing. */
static void render_labels(kh_text *out, const kh_metric *m,
                          const kh_metric_series *series, const char *le) {
    if (m->n_labels == 0 && !le)
        return;
    kh_text_putc(out, '{');
    for (size_t i = 0; i < m->n_labels; i++) {
        if (i > 0)
            kh_text_putc(out, ',');
        kh_text_puts(out, m->labels[i]);
        kh_text_puts(out, "=\"");
        obs_text_prom_label_value(out, series->values[i]);
        kh_text_putc(out, '"');
    }
    if (le) {
        if (m->n_labels > 0)
            kh_text_putc(out, ',');
        kh_text_puts(out, "le=\"");
        kh_text_puts(out, le);
        kh_text_putc(out, '"');
    }
    kh_text_putc(out, '}');
}

static void render_series(kh_text *out, const kh_metric *m,
                          kh_metric_series *series) {
    if (m->type != KH_METRIC_HISTOGRAM) {
        kh_text_puts(out, m->name);
        render_labels(out, m, series, NULL);
        kh_text_putc(out, ' ');
        obs_text_double(out, double_of(atomic_load(&series->value_bits)));
        kh_text_putc(out, '\n');
        return;
    }
    /* Cumulative counts; _count is their total, so +Inf and _count always
     * agree even while observations land during the render. */
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= m->n_buckets; i++) {
        cumulative += atomic_load(&series->bucket_counts[i]);
        kh_text buf;
        char le[48];
        kh_text_init_fixed(&buf, le, sizeof le);
        if (i < m->n_buckets)
            obs_text_double(&buf, m->buckets[i]);
        else
            kh_text_puts(&buf, "+Inf");
        kh_text_puts(out, m->name);
        kh_text_puts(out, "_bucket");
        render_labels(out, m, series, le);
        kh_text_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    kh_text_puts(out, m->name);
    kh_text_puts(out, "_sum");
    render_labels(out, m, series, NULL);
    kh_text_putc(out, ' ');
    obs_text_double(out, double_of(atomic_load(&series->sum_bits)));
    kh_text_putc(out, '\n');
    kh_text_puts(out, m->name);
    kh_text_puts(out, "_count");
    render_labels(out, m, series, NULL);
    kh_text_printf(out, " %llu\n", (unsigned long long)cumulative);
}

int kh_metrics_render(kh_metrics *registry, char **out, size_t *len,
                      kh_error *err) {
    if (!registry || !out)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: registry and out are required");
    *out = NULL;
    pthread_mutex_lock(&registry->lock);
    collect_hook hooks[MAX_COLLECT_HOOKS];
    size_t n_hooks = registry->n_hooks;
    memcpy(hooks, registry->hooks, n_hooks * sizeof *hooks);
    pthread_mutex_unlock(&registry->lock);
    /* Outside the lock: a hook may register or look up metrics. */
    for (size_t i = 0; i < n_hooks; i++)
        hooks[i].fn(hooks[i].user, registry);

    kh_text text;
    kh_text_init(&text);
    pthread_mutex_lock(&registry->lock);
    for (kh_metric *m = registry->first; m; m = m->next) {
        kh_text_printf(&text, "# HELP %s ", m->name);
        obs_text_prom_help(&text, m->help);
        kh_text_printf(&text, "\n# TYPE %s %s\n", m->name,
                      type_name(m->type));
        for (kh_metric_series *series = atomic_load(&m->order_head); series;
             series = atomic_load(&series->order_next))
            render_series(&text, m, series);
        kh_metric_series *overflow = atomic_load(&m->overflow);
        if (overflow)
            render_series(&text, m, overflow);
    }
    pthread_mutex_unlock(&registry->lock);
    *out = kh_text_take(&text, len);
    if (!*out)
        return kh_error_set(err, KH_ENOMEM,
                            "metrics: out of memory rendering");
    return KH_OK;
}

void kh_metrics_http_handler(void *registry, const kh_http_request *req,
                             kh_http_response *res) {
    bool head = strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->method, "GET") != 0 && !head) {
        kh_http_response_header(res, "Allow", "GET, HEAD");
        kh_http_response_error(res, 405, "%s /metrics: only GET",
                               req->method);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    kh_error err = {0};
    if (kh_metrics_render(registry, &text, &len, &err) != KH_OK) {
        kh_http_response_error(res, 500, "%s", err.message);
        return;
    }
    if (head) {
        free(text);
        kh_http_response_set(res, 200, KH_METRICS_CONTENT_TYPE, NULL, 0);
        return;
    }
    if (kh_http_response_set_owned(res, 200, KH_METRICS_CONTENT_TYPE, text,
                                   len) != KH_OK) {
        free(text);
        kh_http_response_error(res, 500, "metrics: out of memory");
    }
}

/* ---- khappy's metric set ---- */

static const double pipeline_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,  2,
                                          5,    10,  20,   30,  60, 120};
static const double inference_buckets[] = {0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025, 0.05,   0.1,
                                           0.25,   0.5,   1,      2.5};
static const double http_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1,    2.5,  5,
                                      10};

int kh_std_metrics_register(kh_metrics *registry, const char *version,
                            kh_std_metrics *out, kh_error *err) {
    if (!registry || !out)
        return kh_error_set(err, KH_EINVAL,
                            "metrics: registry and out are required");
    const char *const *by_type = KH_LABELS("type", "trigger");
    struct {
        kh_metric **slot;
        kh_metric_desc desc;
    } set[] = {
        {&out->events_received,
         {KH_METRIC_COUNTER, "khappy_events_received_total",
          "CloudEvents received by a service, by event type and trigger.",
          by_type, NULL, 0, 0}},
        {&out->events_delivered,
         {KH_METRIC_COUNTER, "khappy_events_delivered_total",
          "Broker deliveries a subscriber accepted (2xx), by event type and "
          "trigger.",
          by_type, NULL, 0, 0}},
        {&out->events_retried,
         {KH_METRIC_COUNTER, "khappy_events_retried_total",
          "Broker delivery attempts that failed and were scheduled again.",
          by_type, NULL, 0, 0}},
        {&out->events_dead_lettered,
         {KH_METRIC_COUNTER, "khappy_events_dead_lettered_total",
          "Broker deliveries given up and sent to the dead-letter sink.",
          by_type, NULL, 0, 0}},
        {&out->events_dropped,
         {KH_METRIC_COUNTER, "khappy_events_dropped_total",
          "Broker deliveries given up without a dead-letter sink (or whose "
          "sink failed too).",
          by_type, NULL, 0, 0}},
        {&out->http_requests,
         {KH_METRIC_COUNTER, "khappy_http_requests_total",
          "HTTP requests answered, by route, method and status code.",
          KH_LABELS("route", "method", "status"), NULL, 0, 0}},
        {&out->http_request_duration,
         {KH_METRIC_HISTOGRAM, "khappy_http_request_duration_seconds",
          "Time to answer an HTTP request, by route.", KH_LABELS("route"),
          http_buckets, sizeof http_buckets / sizeof *http_buckets, 0}},
        {&out->pipeline_latency,
         {KH_METRIC_HISTOGRAM, "khappy_pipeline_latency_seconds",
          "Time from a picture's arrival to its result being stored (done "
          "or failed).",
          NULL, pipeline_buckets,
          sizeof pipeline_buckets / sizeof *pipeline_buckets, 0}},
        {&out->pictures_processed,
         {KH_METRIC_COUNTER, "khappy_pictures_processed_total",
          "Pictures finished, by final status (done or failed).",
          KH_LABELS("status"), NULL, 0, 0}},
        {&out->inference_duration,
         {KH_METRIC_HISTOGRAM, "khappy_inference_duration_seconds",
          "Time of one model inference, by model.", KH_LABELS("model"),
          inference_buckets,
          sizeof inference_buckets / sizeof *inference_buckets, 0}},
        {&out->faces_detected,
         {KH_METRIC_COUNTER, "khappy_faces_detected_total",
          "Faces found, by detector.", KH_LABELS("detector"), NULL, 0, 0}},
        {&out->queue_depth,
         {KH_METRIC_GAUGE, "khappy_queue_depth",
          "Work waiting in a queue now (broker: deliveries pending or in "
          "flight).",
          KH_LABELS("queue"), NULL, 0, 0}},
        {&out->build_info,
         {KH_METRIC_GAUGE, "khappy_build_info",
          "Always 1; the version of this khappy is a label.",
          KH_LABELS("version"), NULL, 0, 0}},
        {&out->trace_spans_exported,
         {KH_METRIC_COUNTER, "khappy_trace_spans_exported_total",
          "Spans a trace collector accepted.", NULL, NULL, 0, 0}},
        {&out->trace_spans_dropped,
         {KH_METRIC_COUNTER, "khappy_trace_spans_dropped_total",
          "Spans lost: export queue full, or the collector down or refusing.",
          KH_LABELS("reason"), NULL, 0, 0}},
    };
    for (size_t i = 0; i < sizeof set / sizeof *set; i++) {
        int rc = kh_metrics_register(registry, &set[i].desc, set[i].slot, err);
        if (rc != KH_OK)
            return rc;
    }
    kh_metric_set(out->build_info, KH_LABELS(version ? version : KH_VERSION),
                  1);
    return KH_OK;
}
