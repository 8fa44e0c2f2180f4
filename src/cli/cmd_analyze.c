/* khappy analyze - pictures in, faces and emotions out.
 *
 * Each worker thread owns its own detector and classifier (the engine runs
 * one model on one thread at a time) and takes the next picture from a
 * shared counter; results are printed in the order the pictures were given,
 * whatever order they finish in. */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/domain.h"
#include "common/json_text.h"
#include "common/text.h"
#include "vision/classifier.h"
#include "vision/detector.h"
#include "vision/image.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: khappy analyze [options] PICTURE|DIR...\n"
            "\n"
            "Finds the faces in JPEG and PNG pictures and scores their "
            "emotions.\nDirectories are walked for *.jpg, *.jpeg and *.png.\n"
            "\n"
            "options:\n"
            "  --detector NAME   tinyface (default) or pico\n"
            "  --size N          tinyface input size, a multiple of 32 "
            "(default 416)\n"
            "  --threshold T     tinyface: score threshold (default 0.5);\n"
            "                    pico: cluster quality threshold (default 5)\n"
            "  --min-size N      pico: smallest face in pixels (default 5%% "
            "of the shorter side)\n"
            "  --no-emotions     find faces only\n"
            "  --models DIR      tinyface.onnx, expression.onnx, facefinder\n"
            "                    (default $KHAPPY_MODELS, else ./models)\n"
            "  --json            one JSON line per picture\n"
            "  --annotate DIR    write each picture with boxes and top "
            "emotions\n"
            "  --crops DIR       write each face as a PNG\n"
            "                    Files are named after the picture's path "
            "below the\n"
            "                    folder given (in/sub/c.jpg: sub_c.jpg, "
            "sub_c_face1.png);\n"
            "                    a name already given in this run gets -2, "
            "-3, ...\n"
            "                    A later run replaces files of the same "
            "name.\n"
            "  --threads N       pictures analysed in parallel (default 1)\n"
            "  --max-pixels N    refuse larger pictures, checked before decoding\n"
            "                    (default 64000000)\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 when every picture was analysed, 1 when some "
            "failed, 2 on bad usage.\n");
}

typedef struct analyze_options {
    const char *detector;
    int size;
    float threshold; /* 0: the detector's default */
    int min_size;
    int emotions;
    char models[PATH_MAX];
    int json;
    const char *annotate_dir, *crops_dir;
    int threads;
    unsigned long long max_pixels; /* 0: the decoder's default */
} analyze_options;

/* ---- collecting pictures ------------------------------------------------- */

typedef struct path_list {
    char **items;
    size_t count, capacity;
} path_list;

static int path_list_add(path_list *l, const char *path) {
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? l->capacity * 2 : 64;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        l->items = grown;
        l->capacity = cap;
    }
    l->items[l->count] = strdup(path);
    if (!l->items[l->count])
        return -1;
    l->count++;
    return 0;
}

static void path_list_free(path_list *l) {
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
}

static int is_picture_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0 ||
                   strcasecmp(dot, ".png") == 0);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir with an explicit stack of pending directories (no recursion),
 * adding pictures in name order. Returns 0, or -1 after reporting. */
static int collect_dir(const char *root, path_list *out) {
    path_list pending = {0};
    int rc = 0;
    if (path_list_add(&pending, root))
        return -1;
    while (pending.count > 0) {
        char *dir = pending.items[--pending.count];
        DIR *d = opendir(dir);
        if (!d) {
            cli_error("%s: %s", dir, strerror(errno));
            free(dir);
            rc = -1;
            continue;
        }
        path_list files = {0}, subdirs = {0};
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
                (int)sizeof path)
                continue;
            struct stat st;
            /* Linked directories are not followed: a link to a parent would
             * walk forever. Linked pictures are read. */
            if (lstat(path, &st) != 0)
                continue;
            if (S_ISDIR(st.st_mode)) {
                rc |= path_list_add(&subdirs, path);
                continue;
            }
            if (S_ISLNK(st.st_mode) && stat(path, &st) != 0)
                continue;
            if (S_ISREG(st.st_mode) && is_picture_name(e->d_name))
                rc |= path_list_add(&files, path);
        }
        closedir(d);
        free(dir);
        if (files.count > 1)
            qsort(files.items, files.count, sizeof *files.items,
                  compare_names);
        if (subdirs.count > 1)
            qsort(subdirs.items, subdirs.count, sizeof *subdirs.items,
                  compare_names);
        for (size_t i = 0; i < files.count; i++)
            rc |= path_list_add(out, files.items[i]);
        /* Pushed in reverse so the stack pops them in name order. */
        for (size_t i = subdirs.count; i-- > 0;)
            rc |= path_list_add(&pending, subdirs.items[i]);
        path_list_free(&files);
        path_list_free(&subdirs);
    }
    path_list_free(&pending);
    return rc ? -1 : 0;
}

/* ---- naming what --annotate and --crops write ---------------------------- */

/* A picture's outputs are named after its path below the folder it was
 * found in (its base name when given by itself), without the extension and
 * with '/' written as '_': in/sub/c.JPG, walked from in, gives sub_c.jpg and
 * sub_c_face1.png. A name taken earlier in the run gets -2, -3, ... (p.jpg
 * then p.png: p, p-2), compared without ASCII case for case-insensitive
 * file systems. Names are given in the order the pictures are listed,
 * before any is analysed, so threads do not change them. */

/* Longest name kept from a path, in bytes: NAME_MAX keeps room for
 * "-<counter>" and "_face<n>.png". */
#define OUTPUT_STEM_MAX 200

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The name before uniqueness, into out[OUTPUT_STEM_MAX + 1]. */
static void output_stem(const char *relative, char *out) {
    size_t n = strlen(relative);
    const char *last = base_name(relative);
    const char *dot = strrchr(last, '.');
    if (dot && dot != last)
        n = (size_t)(dot - relative);
    if (n > OUTPUT_STEM_MAX) {
        n = OUTPUT_STEM_MAX;
        /* Cut before a character, not inside one (UTF-8). */
        while (n > 0 && ((unsigned char)relative[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = relative[i] == '/' ? '_' : relative[i];
    out[n] = '\0';
}

/* Names given so far: open addressing over borrowed strings, never full
 * (twice as many slots as pictures). */
typedef struct name_set {
    const char **slots; /* NULL: free */
    size_t mask;
} name_set;

static size_t name_hash(const char *s) {
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint64_t)tolower((unsigned char)*s)) * 1099511628211u;
    return (size_t)h;
}

/* The slot holding name (any case), or the free slot where it belongs. */
static const char **name_slot(name_set *set, const char *name) {
    size_t i = name_hash(name) & set->mask;
    while (set->slots[i] && strcasecmp(set->slots[i], name) != 0)
        i = (i + 1) & set->mask;
    return &set->slots[i];
}

/* Adds to names one unique name for each of relatives (paths below their
 * folders, in picture order). Returns 0, or -1 out of memory. */
static int name_outputs(const path_list *relatives, path_list *names) {
    size_t cap = 16;
    while (cap < 2 * relatives->count)
        cap *= 2;
    name_set set = {calloc(cap, sizeof *set.slots), cap - 1};
    if (!set.slots)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < relatives->count && !rc; i++) {
        char stem[OUTPUT_STEM_MAX + 1], name[OUTPUT_STEM_MAX + 24];
        output_stem(relatives->items[i], stem);
        snprintf(name, sizeof name, "%s", stem);
        const char **slot = name_slot(&set, name);
        for (unsigned long k = 2; *slot; k++) {
            snprintf(name, sizeof name, "%s-%lu", stem, k);
            slot = name_slot(&set, name);
        }
        rc = path_list_add(names, name);
        if (!rc)
            *slot = names->items[names->count - 1];
    }
    free(set.slots);
    return rc;
}

/* dir/name into out; an error rather than a cut path, which could name
 * another picture's file. */
static int output_path(char *out, size_t size, const char *dir,
                       const char *name, kh_error *err) {
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return kh_error_set(err, KH_ELIMIT, "%s/%s: path too long", dir,
                            name);
    return KH_OK;
}

/* ---- one picture ----------------------------------------------------------- */

typedef struct picture_result {
    int done, failed;
    char *text; /* what to print (a JSON line or a table block) */
} picture_result;

typedef struct analysis {
    const analyze_options *opts;
    const path_list *pictures;
    const path_list *output_names; /* of --annotate and --crops files, by
                                      picture; empty without them */
    picture_result *results;
    size_t next;  /* next picture to take */
    size_t shown; /* pictures printed so far */
    int failures;
    int progress; /* draw a progress bar on stderr */
    pthread_mutex_t lock;
} analysis;

static double now_ms(void) { return (double)kh_clock_mono_ns() / 1e6; }

/* CPU time of this thread: on a busy machine it says what the work costs
 * when wall time says mostly how long others held the cores. common/clock.h
 * has no per-thread clock: this is the one place that needs it. */
static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A JSON string in the \u00xx spelling the output has always used. */
static void json_string(kh_text *out, const char *s) {
    kh_json_string(out, s, strlen(s), KH_JSON_UNICODE_ESCAPES);
}

typedef struct worker {
    analysis *job;
    kh_detector *detector;
    kh_classifier *classifier;
} worker;

static int write_crops(const analyze_options *o, const char *name,
                       const kh_image *img, float scale, const kh_face *faces,
                       size_t n, kh_error *err) {
    for (size_t i = 0; i < n; i++) {
        kh_box box = {faces[i].box.x / scale, faces[i].box.y / scale,
                      faces[i].box.w / scale, faces[i].box.h / scale};
        kh_face_crop crop;
        if (!kh_face_crop_of(&box, img->width, img->height, &crop))
            continue;
        kh_image face;
        int rc = kh_image_crop(img, crop.x, crop.y, crop.w, crop.h, &face, err);
        if (rc)
            return rc;
        char file[OUTPUT_STEM_MAX + 64], out[PATH_MAX];
        snprintf(file, sizeof file, "%s_face%zu.png", name, i + 1);
        rc = output_path(out, sizeof out, o->crops_dir, file, err);
        if (!rc)
            rc = kh_image_save(&face, out, err);
        kh_image_free(&face);
        if (rc)
            return rc;
    }
    return KH_OK;
}

/* A box coordinate as a pixel index, clamped so the cast is defined. */
static int to_pixel(float v) {
    if (!(v > -1e8f))
        return -100000000;
    return v < 1e8f ? (int)v : 100000000;
}

static int write_annotated(const analyze_options *o, const char *name,
                           kh_image *img, float scale, const kh_face *faces,
                           const kh_emotion_scores *scores, size_t n,
                           kh_error *err) {
    const kh_rgb box_color = {40, 220, 60}, ink = {0, 0, 0};
    const int shorter = img->width < img->height ? img->width : img->height;
    const int thickness = shorter / 300 + 1;
    const int text_scale = shorter / 400 + 1;
    for (size_t i = 0; i < n; i++) {
        int x = to_pixel(faces[i].box.x / scale);
        int y = to_pixel(faces[i].box.y / scale);
        int w = to_pixel(faces[i].box.w / scale);
        int h = to_pixel(faces[i].box.h / scale);
        kh_image_draw_rect(img, x, y, w, h, thickness, box_color);
        char label[64];
        kh_emotion top = scores ? kh_emotion_top(&scores[i]) : KH_EMOTION_COUNT;
        if (top != KH_EMOTION_COUNT)
            snprintf(label, sizeof label, "%s %.2f", kh_emotion_name(top),
                     scores[i].p[top]);
        else
            snprintf(label, sizeof label, "face %.2f", faces[i].score);
        int tw, th;
        kh_text_size(label, text_scale, &tw, &th);
        int ty = y - th - 2 * text_scale >= 0 ? y - th - 2 * text_scale
                                              : y + h;
        kh_image_fill_rect(img, x, ty, tw + 2 * text_scale,
                           th + 2 * text_scale, box_color);
        kh_image_draw_text(img, x + text_scale, ty + text_scale, label,
                           text_scale, ink);
    }
    char file[OUTPUT_STEM_MAX + 64], out[PATH_MAX];
    snprintf(file, sizeof file, "%s.jpg", name);
    int rc = output_path(out, sizeof out, o->annotate_dir, file, err);
    return rc ? rc : kh_image_save(img, out, err);
}

/* The emotions present in s but `skip` (KH_EMOTION_COUNT: none), in
 * kh_emotion order: "name":0.1234 pairs for JSON, "name 0.12" for the
 * table. */
static void list_emotions(kh_text *out, const kh_emotion_scores *s,
                          kh_emotion skip, int json) {
    const char *separator = "";
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        if (!s->present[e] || e == (int)skip)
            continue;
        const char *name = kh_emotion_name((kh_emotion)e);
        if (json)
            kh_text_printf(out, "%s\"%s\":%.4f", separator, name, s->p[e]);
        else
            kh_text_printf(out, "%s%s %.2f", separator, name, s->p[e]);
        separator = json ? "," : ", ";
    }
}

static void analyze_one(worker *w, size_t index, kh_text *out, int *failed) {
    const analyze_options *o = w->job->opts;
    const char *path = w->job->pictures->items[index];
    kh_error err = {0};
    kh_image img = {0};
    kh_face *faces = NULL;
    kh_emotion_scores *scores = NULL;
    size_t n = 0;
    float scale = 1.0f;
    int orig_w = 0, orig_h = 0;

    const double t0 = now_ms(), cpu0 = thread_cpu_ms();
    /* pico alone reads gray: let libjpeg hand over its luma directly. */
    kh_decode_options dopt = {
        .channels = strcmp(o->detector, "pico") == 0 && !o->emotions ? 1 : 3,
        .max_pixels = o->max_pixels};
    int rc = kh_image_load(path, &dopt, &img, &scale, &orig_w, &orig_h, &err);
    const double t_decoded = now_ms(), cpu_decoded = thread_cpu_ms();
    if (!rc)
        rc = kh_detector_detect(w->detector, &img, scale, &faces, &n, &err);
    const double t_detected = now_ms(), cpu_detected = thread_cpu_ms();
    if (!rc && n && w->classifier) {
        scores = calloc(n, sizeof *scores);
        rc = scores ? kh_classifier_classify(w->classifier, &img, scale, faces,
                                             n, scores, &err)
                    : kh_error_set(&err, KH_ENOMEM, "out of memory");
    }
    const double t_done = now_ms(), cpu_done = thread_cpu_ms();
    const char *name = o->crops_dir || o->annotate_dir
                           ? w->job->output_names->items[index]
                           : NULL;
    if (!rc && o->crops_dir)
        rc = write_crops(o, name, &img, scale, faces, n, &err);
    if (!rc && o->annotate_dir)
        rc = write_annotated(o, name, &img, scale, faces, scores, n, &err);

    if (rc) {
        *failed = 1;
        if (o->json) {
            kh_text_puts(out, "{\"file\":");
            json_string(out, path);
            kh_text_puts(out, ",\"error\":");
            json_string(out, err.message);
            kh_text_puts(out, "}\n");
        } else {
            kh_text_printf(out, "%s: error: %s\n", path, err.message);
        }
        goto done;
    }
    if (o->json) {
        kh_text_puts(out, "{\"file\":");
        json_string(out, path);
        kh_text_printf(out,
                       ",\"width\":%d,\"height\":%d,\"ms\":%.2f,"
                       "\"cpu_ms\":%.2f,\"decode_ms\":%.2f,\"detect_ms\":%.2f,"
                       "\"detect_cpu_ms\":%.2f,\"classify_ms\":%.2f,"
                       "\"detector\":\"%s\",\"faces\":[",
                       orig_w, orig_h, t_done - t0, cpu_done - cpu0,
                       t_decoded - t0, t_detected - t_decoded,
                       cpu_detected - cpu_decoded, t_done - t_detected,
                       w->detector->name);
        for (size_t i = 0; i < n; i++) {
            const kh_box *b = &faces[i].box;
            kh_text_printf(out,
                           "%s{\"box\":[%.2f,%.2f,%.2f,%.2f],\"score\":%.4f",
                           i ? "," : "", b->x, b->y, b->w, b->h,
                           faces[i].score);
            if (scores) {
                kh_text_puts(out, ",\"emotions\":{");
                list_emotions(out, &scores[i], KH_EMOTION_COUNT, 1);
                kh_text_puts(out, "}");
            }
            kh_text_puts(out, "}");
        }
        kh_text_puts(out, "]}\n");
    } else {
        kh_text_printf(out, "%s  %dx%d  %.1f ms  %zu face%s\n", path, orig_w,
                       orig_h, t_done - t0, n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++) {
            const kh_box *b = &faces[i].box;
            kh_text_printf(out,
                           "  %2zu  box %6.0f %6.0f %5.0fx%-5.0f  score %6.2f",
                           i + 1, b->x, b->y, b->w, b->h, faces[i].score);
            kh_emotion top =
                scores ? kh_emotion_top(&scores[i]) : KH_EMOTION_COUNT;
            if (top != KH_EMOTION_COUNT) {
                kh_text_printf(out, "  %-9s %.2f  (", kh_emotion_name(top),
                               scores[i].p[top]);
                list_emotions(out, &scores[i], top, 0);
                kh_text_puts(out, ")");
            }
            kh_text_puts(out, "\n");
        }
    }
done:
    free(scores);
    free(faces);
    kh_image_free(&img);
}

static void draw_progress(analysis *job) {
    const size_t total = job->pictures->count;
    const int width = 30;
    int filled = (int)(job->shown * width / (total ? total : 1));
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled,
            "==============================", width - filled, "", job->shown,
            total);
    if (job->shown == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Prints every finished result that is next in order. Called with the lock
 * held. */
static void flush_results(analysis *job) {
    while (job->shown < job->pictures->count &&
           job->results[job->shown].done) {
        picture_result *r = &job->results[job->shown];
        if (job->progress)
            fputs("\r\033[K", stderr);
        if (r->text) {
            FILE *stream = r->failed && !job->opts->json ? stderr : stdout;
            fputs(r->text, stream);
            fflush(stream);
        } else {
            cli_error("%s: out of memory for its result",
                      job->pictures->items[job->shown]);
        }
        free(r->text);
        r->text = NULL;
        job->shown++;
        if (job->progress)
            draw_progress(job);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    analysis *job = w->job;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t index = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (index >= job->pictures->count)
            break;
        kh_text out = {0};
        int failed = 0;
        analyze_one(w, index, &out, &failed);
        char *text = kh_text_take(&out, NULL); /* NULL: out of memory */
        failed |= !text;
        pthread_mutex_lock(&job->lock);
        job->results[index].text = text;
        job->results[index].failed = failed;
        job->results[index].done = 1;
        if (failed)
            job->failures++;
        flush_results(job);
        pthread_mutex_unlock(&job->lock);
    }
    return NULL;
}

static int create_models(const analyze_options *o, int engine_threads,
                         worker *w) {
    kh_error err = {0};
    char path[PATH_MAX + 32];
    int rc;
    if (strcmp(o->detector, "pico") == 0) {
        kh_pico_options po = {.min_size = o->min_size,
                              .quality_threshold = o->threshold};
        snprintf(path, sizeof path, "%s/facefinder", o->models);
        rc = kh_pico_create(path, &po, &w->detector, &err);
    } else {
        kh_tinyface_options to = {.input_size = o->size,
                                  .score_threshold = o->threshold,
                                  .threads = engine_threads};
        snprintf(path, sizeof path, "%s/tinyface.onnx", o->models);
        rc = kh_tinyface_create(path, &to, &w->detector, &err);
    }
    if (!rc && o->emotions) {
        snprintf(path, sizeof path, "%s/expression.onnx", o->models);
        rc = kh_expression_create(path, engine_threads, &w->classifier, &err);
    }
    if (rc) {
        cli_error("%s", err.message);
        if (access(path, R_OK) != 0)
            cli_error("models are made by 'make models' (or give --models "
                      "DIR or $KHAPPY_MODELS)");
    }
    return rc;
}

static int make_dir(const char *dir) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return 0;
    cli_error("%s: %s", dir, strerror(errno));
    return -1;
}

int cmd_analyze(int argc, char **argv) {
    /* Every picture allocates and frees tens of megabytes. By default glibc
     * returns them to the kernel and faults them back in, page by page, for
     * the next picture; keep them instead (a tuning of this process only). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    analyze_options o = {.detector = "tinyface", .size = 416, .emotions = 1,
                         .threads = 1};
    const char *env_models = getenv("KHAPPY_MODELS");
    snprintf(o.models, sizeof o.models, "%s",
             env_models && *env_models ? env_models : "models");
    enum { OPT_DETECTOR = 256, OPT_SIZE, OPT_THRESHOLD, OPT_MIN_SIZE,
           OPT_NO_EMOTIONS, OPT_MODELS, OPT_JSON, OPT_ANNOTATE, OPT_CROPS,
           OPT_THREADS, OPT_MAX_PIXELS };
    static const struct option long_options[] = {
        {"detector", required_argument, NULL, OPT_DETECTOR},
        {"size", required_argument, NULL, OPT_SIZE},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"min-size", required_argument, NULL, OPT_MIN_SIZE},
        {"no-emotions", no_argument, NULL, OPT_NO_EMOTIONS},
        {"models", required_argument, NULL, OPT_MODELS},
        {"json", no_argument, NULL, OPT_JSON},
        {"annotate", required_argument, NULL, OPT_ANNOTATE},
        {"crops", required_argument, NULL, OPT_CROPS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_DETECTOR:
            if (strcmp(optarg, "tinyface") != 0 && strcmp(optarg, "pico") != 0) {
                cli_error("--detector: '%s' is not tinyface or pico", optarg);
                return 2;
            }
            o.detector = optarg;
            break;
        case OPT_SIZE:
            o.size = (int)strtol(optarg, &end, 10);
            if (*end || o.size < 32 || o.size % 32 != 0 || o.size > 4096) {
                cli_error("--size: '%s' is not a multiple of 32 in 32..4096",
                          optarg);
                return 2;
            }
            break;
        case OPT_THRESHOLD:
            o.threshold = strtof(optarg, &end);
            if (*end || !(o.threshold > 0)) {
                cli_error("--threshold: '%s' is not a positive number", optarg);
                return 2;
            }
            break;
        case OPT_MIN_SIZE:
            o.min_size = (int)strtol(optarg, &end, 10);
            if (*end || o.min_size < 1) {
                cli_error("--min-size: '%s' is not a positive number of "
                          "pixels", optarg);
                return 2;
            }
            break;
        case OPT_NO_EMOTIONS: o.emotions = 0; break;
        case OPT_MODELS: snprintf(o.models, sizeof o.models, "%s", optarg); break;
        case OPT_JSON: o.json = 1; break;
        case OPT_ANNOTATE: o.annotate_dir = optarg; break;
        case OPT_CROPS: o.crops_dir = optarg; break;
        case OPT_MAX_PIXELS:
            o.max_pixels = strtoull(optarg, &end, 10);
            if (*end || o.max_pixels == 0 || optarg[0] == '-') {
                cli_error("--max-pixels: '%s' is not a positive number", optarg);
                return 2;
            }
            break;
        case OPT_THREADS:
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 1 || o.threads > 256) {
                cli_error("--threads: '%s' is not in 1..256", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default:
            cli_error("analyze: unknown or incomplete option '%s' (see "
                      "'khappy analyze --help')", argv[optind - 1]);
            return 2;
        }
    }
    if (strcmp(o.detector, "tinyface") == 0 && o.threshold >= 1) {
        cli_error("--threshold: a tinyface score threshold lies in (0, 1)");
        return 2;
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if ((o.annotate_dir && make_dir(o.annotate_dir)) ||
        (o.crops_dir && make_dir(o.crops_dir)))
        return 2;

    path_list pictures = {0}, output_names = {0};
    path_list relatives = {0}; /* each picture's path below its folder */
    const int writes_files = o.annotate_dir || o.crops_dir;
    int collect_failed = 0, out_of_memory = 0;
    for (int i = optind; i < argc && !out_of_memory; i++) {
        const size_t first = pictures.count;
        struct stat st;
        int is_dir = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode);
        if (is_dir) {
            if (collect_dir(argv[i], &pictures))
                collect_failed = 1;
        } else {
            out_of_memory = path_list_add(&pictures, argv[i]) != 0;
        }
        /* collect_dir names pictures "<argv[i]>/<path below it>". */
        for (size_t k = first; writes_files && k < pictures.count; k++) {
            const char *path = pictures.items[k];
            out_of_memory |= path_list_add(&relatives,
                                           is_dir ? path + strlen(argv[i]) + 1
                                                  : base_name(path)) != 0;
        }
    }
    if (!out_of_memory && writes_files)
        out_of_memory = name_outputs(&relatives, &output_names) != 0;
    path_list_free(&relatives);
    if (out_of_memory) {
        cli_error("out of memory");
        path_list_free(&pictures);
        path_list_free(&output_names);
        return 1;
    }

    size_t workers_n = (size_t)o.threads;
    if (workers_n > pictures.count)
        workers_n = pictures.count ? pictures.count : 1;
    const int engine_threads = o.threads / (int)workers_n;
    worker *workers = calloc(workers_n, sizeof *workers);
    analysis job = {.opts = &o, .pictures = &pictures,
                    .output_names = &output_names};
    job.results = calloc(pictures.count ? pictures.count : 1,
                         sizeof *job.results);
    job.progress = !o.json && pictures.count > 1 && isatty(STDERR_FILENO);
    pthread_mutex_init(&job.lock, NULL);
    int status = 0;
    if (!workers || !job.results) {
        cli_error("out of memory");
        status = 1;
        goto done;
    }
    for (size_t i = 0; i < workers_n; i++) {
        workers[i].job = &job;
        if (create_models(&o, engine_threads, &workers[i])) {
            status = 1;
            goto done;
        }
    }
    pthread_t *threads = calloc(workers_n, sizeof *threads);
    size_t started = 0;
    if (threads && workers_n > 1)
        for (; started < workers_n; started++)
            if (pthread_create(&threads[started], NULL, worker_main,
                               &workers[started]) != 0)
                break;
    if (started == 0)
        worker_main(&workers[0]); /* one worker, or threads unavailable */
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    status = job.failures || collect_failed ? 1 : 0;
done:
    for (size_t i = 0; workers && i < workers_n; i++) {
        kh_detector_destroy(workers[i].detector);
        kh_classifier_destroy(workers[i].classifier);
    }
    for (size_t i = 0; job.results && i < pictures.count; i++)
        free(job.results[i].text);
    free(job.results);
    free(workers);
    pthread_mutex_destroy(&job.lock);
    path_list_free(&pictures);
    path_list_free(&output_names);
    return status;
}
