/* A stand-in for `khappy serve` while the pipeline is not wired: serves
 * kh_web over a SQLite store seeded with drawn faces, and takes uploads
 * through a fake ingest hook that, a moment later, "detects" one face in
 * the middle of the picture with made-up emotions (a picture whose name
 * contains "fail" fails instead). For developing the UI and for the
 * browser test.
 *
 *   web_fixture_server --data DIR [--port N] [--no-seed]
 *       prints "http://127.0.0.1:PORT/" on one line, serves until SIGINT or
 *       SIGTERM.
 *   web_fixture_server --write-pictures DIR [--count N]
 *       writes N drawn PNG pictures (demo-1.png, ...) and exits.
 */
#include <errno.h>
#include <png.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "net/http.h"
#include "storage/storage.h"
#include "web/web.h"

/* ---- drawing faces ---------------------------------------------------------- */

typedef struct canvas {
    int w, h;
    uint8_t *rgb;
} canvas;

static void fill(canvas *c, uint8_t r, uint8_t g, uint8_t b) {
    for (int i = 0; i < c->w * c->h; i++) {
        c->rgb[3 * i] = r;
        c->rgb[3 * i + 1] = g;
        c->rgb[3 * i + 2] = b;
    }
}

static void disc(canvas *c, float cx, float cy, float rx, float ry,
                 const uint8_t col[3]) {
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            float dx = (x - cx) / rx, dy = (y - cy) / ry;
            if (dx * dx + dy * dy <= 1.0f)
                memcpy(&c->rgb[3 * (y * c->w + x)], col, 3);
        }
}

/* A round face in box (x, y, s, s); mood > 0 smiles, < 0 frowns. */
static void draw_face(canvas *c, float x, float y, float s, float mood,
                      const uint8_t skin[3]) {
    static const uint8_t dark[3] = {40, 30, 30};
    disc(c, x + s / 2, y + s / 2, s * 0.46f, s * 0.5f, skin);
    disc(c, x + s * 0.33f, y + s * 0.38f, s * 0.06f, s * 0.08f, dark);
    disc(c, x + s * 0.67f, y + s * 0.38f, s * 0.06f, s * 0.08f, dark);
    for (int i = 0; i <= 40; i++) {
        float t = i / 40.0f;
        float mx = x + s * (0.3f + 0.4f * t);
        float bend = (t - 0.5f) * (t - 0.5f) * 4.0f; /* 1 at the ends */
        float my = y + s * (0.7f + mood * 0.1f * (1.0f - bend) -
                            mood * 0.05f);
        disc(c, mx, my, s * 0.03f, s * 0.03f, dark);
    }
}

static int encode_png(const canvas *c, void **out, size_t *len) {
    png_image img = {0};
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)c->w;
    img.height = (png_uint_32)c->h;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, c->rgb, 0, NULL))
        return -1;
    void *buf = malloc(size);
    if (!buf ||
        !png_image_write_to_memory(&img, buf, &size, 0, c->rgb, 0, NULL)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = size;
    return 0;
}

static const uint8_t skins[4][3] = {
    {241, 194, 125}, {224, 172, 105}, {198, 134, 66}, {141, 85, 36}};
static const uint8_t backgrounds[4][3] = {
    {120, 160, 200}, {150, 190, 140}, {200, 170, 190}, {170, 170, 170}};

/* A picture of n faces side by side; boxes get each face's box. */
static int draw_picture(int seed, int n, kh_box *boxes, void **png,
                        size_t *len) {
    canvas c = {.w = 160 * n + 40, .h = 240};
    c.rgb = malloc((size_t)c.w * c.h * 3);
    if (!c.rgb)
        return -1;
    const uint8_t *bg = backgrounds[seed % 4];
    fill(&c, bg[0], bg[1], bg[2]);
    for (int i = 0; i < n; i++) {
        float x = 30.0f + 160.0f * i, y = 50.0f + 20.0f * (i % 2), s = 130;
        draw_face(&c, x, y, s, ((seed + i) % 3) - 1.0f, skins[(seed + i) % 4]);
        if (boxes)
            boxes[i] = (kh_box){x, y, s, s};
    }
    int rc = encode_png(&c, png, len);
    free(c.rgb);
    return rc;
}

static int draw_crop(int seed, void **png, size_t *len) {
    canvas c = {.w = 96, .h = 96};
    c.rgb = malloc((size_t)c.w * c.h * 3);
    if (!c.rgb)
        return -1;
    const uint8_t *bg = backgrounds[seed % 4];
    fill(&c, bg[0], bg[1], bg[2]);
    draw_face(&c, 2, 2, 92, (seed % 3) - 1.0f, skins[seed % 4]);
    int rc = encode_png(&c, png, len);
    free(c.rgb);
    return rc;
}

/* ---- made-up emotions -------------------------------------------------------- */

static kh_emotion_scores fake_scores(unsigned seed) {
    kh_emotion_scores s = {.model = "fixture"};
    kh_emotion top = (kh_emotion)(seed % KH_EMOTION_COUNT);
    kh_emotion second = (kh_emotion)((seed / 8 + 1 + top) % KH_EMOTION_COUNT);
    float rest = 0.1f / (KH_EMOTION_COUNT - 2);
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        s.present[e] = true;
        s.p[e] = e == (int)top ? 0.7f : e == (int)second ? 0.2f : rest;
    }
    return s;
}

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int store_face(kh_store *store, kh_blob_store *blobs,
                      const char *picture_id, int index, kh_box box,
                      unsigned seed, const void *crop, size_t crop_len,
                      kh_error *err) {
    char crop_key[KH_BLOB_KEY_MAX] = "", event[96], face_id[KH_ID_MAX];
    int rc;
    if (crop && (rc = kh_blob_key_generate("crops", ".png", crop_key, err)))
        return rc;
    if (crop && (rc = kh_blob_put(blobs, crop_key, crop, crop_len, err)))
        return rc;
    snprintf(event, sizeof event, "fixture-face-%s-%d", picture_id, index);
    kh_face_new face = {.picture_id = picture_id, .face_index = index,
                        .crop_key = crop_key, .event_id = event,
                        .face = {.box = box, .score = 0.9f,
                                 .detector = "fixture"}};
    if ((rc = kh_store_face_add(store, &face, face_id, NULL, err)))
        return rc;
    kh_emotion_scores scores = fake_scores(seed);
    snprintf(event, sizeof event, "fixture-emotions-%s-%d", picture_id, index);
    kh_emotions_new em = {picture_id, face_id, &scores, event};
    return kh_store_emotions_add(store, &em, NULL, err);
}

static int seed_store(kh_store *store, kh_blob_store *blobs, kh_error *err) {
    kh_store_stats stats;
    int rc = kh_store_stats_get(store, NULL, &stats, err);
    if (rc || stats.pictures > 0)
        return rc; /* seeded before */
    unsigned seed = 0;
    for (int p = 0; p < 4; p++) {
        int n = 1 + p % 3;
        kh_box boxes[3];
        void *png;
        size_t len;
        if (draw_picture(p, n, boxes, &png, &len))
            return kh_error_set(err, KH_EINTERNAL, "drawing picture %d", p);
        char name[32], id[KH_ID_MAX];
        snprintf(name, sizeof name, "seed-%d.png", p + 1);
        rc = kh_store_picture_ingest(store, blobs, png, len, name, id, err);
        free(png);
        if (rc || (rc = kh_store_picture_detected(store, id, n, 0, 0, err)))
            return rc;
        for (int i = 0; i < n; i++, seed += 5) {
            void *crop;
            size_t crop_len;
            if (draw_crop(p + i, &crop, &crop_len))
                return kh_error_set(err, KH_EINTERNAL, "drawing a crop");
            rc = store_face(store, blobs, id, i, boxes[i], seed, crop, crop_len,
                            err);
            free(crop);
            if (rc)
                return rc;
        }
    }
    return KH_OK;
}

/* ---- the fake pipeline -------------------------------------------------------- */

typedef struct job {
    char id[KH_ID_MAX];
    bool fail;
    struct job *next;
} job;

typedef struct pipeline {
    kh_store *store;
    kh_blob_store *blobs;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job *head, *tail;
    bool stopping;
    pthread_t thread;
} pipeline;

static void analyse(pipeline *p, const job *j) {
    kh_error err = {0};
    if (j->fail) {
        kh_store_picture_fail(p->store, j->id,
                              "fixture: this picture was asked to fail", &err);
        return;
    }
    kh_picture_record pic;
    if (kh_store_picture_get(p->store, j->id, &pic, NULL, NULL, &err))
        return; /* deleted meanwhile */
    void *bytes;
    size_t len;
    if (kh_blob_get(p->blobs, pic.blob_key, 0, &bytes, &len, &err)) {
        kh_store_picture_fail(p->store, j->id, err.message, &err);
        return;
    }
    float w = pic.width > 0 ? (float)pic.width : 100.0f;
    float h = pic.height > 0 ? (float)pic.height : 100.0f;
    float s = (w < h ? w : h) * 0.5f;
    kh_box box = {(w - s) / 2, (h - s) / 2, s, s};
    /* The uploaded picture serves as its own crop: enough for the UI. */
    if (kh_store_picture_detected(p->store, j->id, 1, 0, 0, &err) ||
        store_face(p->store, p->blobs, j->id, 0, box, hash(j->id), bytes, len,
                   &err))
        kh_store_picture_fail(p->store, j->id, err.message, &err);
    free(bytes);
}

static void *pipeline_run(void *arg) {
    pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        /* Long enough for the page to show "Analysing…". */
        nanosleep(&(struct timespec){0, 400 * 1000 * 1000}, NULL);
        analyse(p, j);
        free(j);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int fake_ingest(void *user, const void *bytes, size_t len,
                       const char *name, char id[KH_ID_MAX], kh_error *err) {
    pipeline *p = user;
    int rc = kh_store_picture_ingest(p->store, p->blobs, bytes, len, name, id,
                                     err);
    if (rc)
        return rc;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return kh_error_set(err, KH_ENOMEM, "fixture: out of memory");
    snprintf(j->id, sizeof j->id, "%s", id);
    j->fail = name && strstr(name, "fail");
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return KH_OK;
}

/* ---- main ---------------------------------------------------------------------- */

static int write_pictures(const char *dir, int count) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < count; i++) {
        void *png;
        size_t len;
        if (draw_picture(i + 1, 1 + i % 2, NULL, &png, &len))
            return 1;
        char path[512];
        snprintf(path, sizeof path, "%s/demo-%d.png", dir, i + 1);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "writing %s failed\n", path);
            free(png);
            return 1;
        }
        free(png);
        printf("%s\n", path);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *data = NULL, *pictures = NULL;
    int port = 0, count = 3;
    bool seed = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-seed") == 0)
            seed = false;
        else if (strcmp(argv[i], "--write-pictures") == 0 && i + 1 < argc)
            pictures = argv[++i];
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --data DIR [--port N] [--no-seed] | "
                    "--write-pictures DIR [--count N]\n", argv[0]);
            return 2;
        }
    }
    if (pictures)
        return write_pictures(pictures, count);
    if (!data) {
        fprintf(stderr, "%s: --data DIR is required\n", argv[0]);
        return 2;
    }
    if (mkdir(data, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", data, strerror(errno));
        return 1;
    }
    /* Block the stop signals before any thread starts, then wait for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char url[600], blob_dir[600];
    snprintf(url, sizeof url, "sqlite://%s/khappy.db", data);
    snprintf(blob_dir, sizeof blob_dir, "%s/blobs", data);
    kh_error err = {0};
    pipeline p = {.lock = PTHREAD_MUTEX_INITIALIZER,
                  .wake = PTHREAD_COND_INITIALIZER};
    kh_web *web = NULL;
    kh_http_server *server = NULL;
    int status = 1;
    if (kh_store_open(url, &p.store, &err) ||
        kh_blob_store_open_dir(blob_dir, &p.blobs, &err) ||
        (seed && seed_store(p.store, p.blobs, &err))) {
        fprintf(stderr, "fixture: %s\n", err.message);
        goto out;
    }
    pthread_create(&p.thread, NULL, pipeline_run, &p);
    kh_web_hooks hooks = {.ingest = fake_ingest, .user = &p};
    kh_http_server_options opts = {.bind_addr = "127.0.0.1", .port = port,
                                   .max_body_bytes = 32u << 20};
    if (kh_web_create(p.store, p.blobs, &hooks, &web, &err) ||
        kh_http_server_start(&opts, kh_web_handle, web, &server, &err)) {
        fprintf(stderr, "fixture: %s\n", err.message);
    } else {
        printf("http://127.0.0.1:%d/\n", kh_http_server_port(server));
        fflush(stdout);
        int sig;
        sigwait(&stop, &sig);
        status = 0;
    }
    kh_http_server_stop(server);
    pthread_mutex_lock(&p.lock);
    p.stopping = true;
    pthread_cond_signal(&p.wake);
    pthread_mutex_unlock(&p.lock);
    pthread_join(p.thread, NULL);
    while (p.head) {
        job *j = p.head;
        p.head = j->next;
        free(j);
    }
out:
    kh_web_destroy(web);
    kh_blob_store_close(p.blobs);
    kh_store_close(p.store);
    return status;
}
