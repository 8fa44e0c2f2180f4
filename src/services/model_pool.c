/* model_pool.c - model instances shared by the threads of a service. A
 * detector or classifier runs on one thread at a time and costs memory and
 * load time, so instances are made on demand up to a bound and reused. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/services.h"

struct kh_model_pool {
    pthread_mutex_t lock;
    pthread_cond_t released;
    kh_model_factory factory;
    void *factory_user;
    kh_model_release_fn destroy;
    size_t max;
    size_t made;       /* instances in existence (idle or handed out) */
    size_t making;     /* instances being made right now */
    size_t n_idle;
    void **idle;       /* max slots */
};

int kh_model_pool_create(size_t max, kh_model_factory factory,
                         void *factory_user, kh_model_release_fn destroy,
                         kh_model_pool **out, kh_error *err) {
    if (max == 0 || max > 1024 || !factory || !destroy)
        return kh_error_set(err, KH_EINVAL, "model pool: size %zu out of "
                            "1..1024, or no factory", max);
    kh_model_pool *pool = calloc(1, sizeof *pool);
    void **idle = calloc(max, sizeof *idle);
    if (!pool || !idle) {
        free(pool);
        free(idle);
        return kh_error_set(err, KH_ENOMEM, "model pool: out of memory");
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->released, NULL);
    pool->factory = factory;
    pool->factory_user = factory_user;
    pool->destroy = destroy;
    pool->max = max;
    pool->idle = idle;
    *out = pool;
    return KH_OK;
}

int kh_model_pool_acquire(kh_model_pool *pool, void **instance,
                          kh_error *err) {
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->n_idle > 0) {
            *instance = pool->idle[--pool->n_idle];
            pthread_mutex_unlock(&pool->lock);
            return KH_OK;
        }
        if (pool->made + pool->making < pool->max)
            break;
        pthread_cond_wait(&pool->released, &pool->lock);
    }
    /* Made outside the lock: loading a model takes a while. */
    pool->making++;
    pthread_mutex_unlock(&pool->lock);
    void *made = NULL;
    int rc = pool->factory(pool->factory_user, &made, err);
    pthread_mutex_lock(&pool->lock);
    pool->making--;
    if (rc == KH_OK)
        pool->made++;
    else
        pthread_cond_signal(&pool->released); /* a waiter may try instead */
    pthread_mutex_unlock(&pool->lock);
    if (rc == KH_OK)
        *instance = made;
    return rc;
}

void kh_model_pool_release(kh_model_pool *pool, void *instance) {
    if (!instance)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->n_idle++] = instance;
    pthread_cond_signal(&pool->released);
    pthread_mutex_unlock(&pool->lock);
}

int kh_model_pool_warm(kh_model_pool *pool, kh_error *err) {
    void *instance = NULL;
    int rc = kh_model_pool_acquire(pool, &instance, err);
    if (rc == KH_OK)
        kh_model_pool_release(pool, instance);
    return rc;
}

void kh_model_pool_destroy(kh_model_pool *pool) {
    if (!pool)
        return;
    for (size_t i = 0; i < pool->n_idle; i++)
        pool->destroy(pool->idle[i]);
    pthread_cond_destroy(&pool->released);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool);
}

/* ---- factories for models/ ------------------------------------------------ */

int kh_detector_factory(void *options, void **instance, kh_error *err) {
    const kh_detector_factory_options *o = options;
    char path[PATH_MAX];
    kh_detector *detector = NULL;
    int rc;
    if (strcmp(o->detector, "tinyface") == 0) {
        snprintf(path, sizeof path, "%s/tinyface.onnx", o->models_dir);
        rc = kh_tinyface_create(path, NULL, &detector, err);
    } else if (strcmp(o->detector, "pico") == 0) {
        snprintf(path, sizeof path, "%s/facefinder", o->models_dir);
        rc = kh_pico_create(path, NULL, &detector, err);
    } else {
        return kh_error_set(err, KH_EINVAL, "detector '%s' is not one of "
                            "tinyface, pico", o->detector);
    }
    if (rc == KH_OK)
        *instance = detector;
    return rc;
}

void kh_detector_factory_destroy(void *instance) {
    kh_detector_destroy(instance);
}

int kh_classifier_factory(void *options, void **instance, kh_error *err) {
    const kh_classifier_factory_options *o = options;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/expression.onnx", o->models_dir);
    kh_classifier *classifier = NULL;
    int rc = kh_expression_create(path, 1, &classifier, err);
    if (rc == KH_OK)
        *instance = classifier;
    return rc;
}

void kh_classifier_factory_destroy(void *instance) {
    kh_classifier_destroy(instance);
}
