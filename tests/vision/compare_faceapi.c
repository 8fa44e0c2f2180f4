/* compare_faceapi - checks `khappy analyze --json` against face-api's own
 * results (`faceapi.js detect`, fixtures/faceapi-demo.jsonl).
 *
 *   compare_faceapi REFERENCE.jsonl KHAPPY.jsonl
 *
 * Pictures are matched by file name (without directories). For each picture:
 *   - every reference face is matched by a khappy face with IoU >= 0.9
 *     (each khappy face used once, best IoU first), and khappy has no extra
 *     faces;
 *   - where face-api's top expression has probability >= 0.6, khappy's top
 *     emotion is the same;
 *   - every expression probability is within 0.02.
 * Prints one line per face with both values; exit status 0 when all hold. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_IOU 0.9
#define TOP_MIN_PROBABILITY 0.6
#define PROBABILITY_TOLERANCE 0.02

/* face-api's expression names and khappy's canonical names, same order. */
static const char *const faceapi_names[7] = {
    "neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};
static const char *const khappy_names[7] = {
    "neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise"};

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void box_of(json_t *face, double box[4]) {
    json_t *b = json_object_get(face, "box");
    for (int k = 0; k < 4; k++)
        box[k] = json_number_value(json_array_get(b, k));
}

static double iou(const double a[4], const double b[4]) {
    double w = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
    double h = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
    if (w <= 0 || h <= 0)
        return 0;
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h);
}

static json_t *load_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    json_t *by_name = json_object();
    char *line = NULL;
    size_t cap = 0;
    int number = 0;
    while (getline(&line, &cap, f) > 0) {
        number++;
        json_error_t err;
        json_t *row = json_loads(line, 0, &err);
        json_t *file = json_object_get(row, "file");
        if (!json_is_string(file) || !json_is_array(json_object_get(row, "faces"))) {
            fprintf(stderr, "%s:%d: not a result line (%s)\n", path, number,
                    row ? "no file or faces" : err.text);
            json_decref(row);
            continue;
        }
        json_object_set_new(by_name, base_name(json_string_value(file)), row);
    }
    free(line);
    fclose(f);
    return by_name;
}

/* Returns the number of failed checks for one picture. */
static int compare_picture(const char *name, json_t *ref, json_t *got) {
    json_t *ref_faces = json_object_get(ref, "faces");
    json_t *got_faces = json_object_get(got, "faces");
    size_t nr = json_array_size(ref_faces), ng = json_array_size(got_faces);
    int failures = 0;
    int *used = calloc(ng ? ng : 1, sizeof *used);
    for (size_t i = 0; i < nr; i++) {
        json_t *rf = json_array_get(ref_faces, i);
        double rb[4], best = 0;
        box_of(rf, rb);
        size_t best_j = ng;
        for (size_t j = 0; j < ng; j++) {
            if (used[j])
                continue;
            double gb[4];
            box_of(json_array_get(got_faces, j), gb);
            double v = iou(rb, gb);
            if (v > best) {
                best = v;
                best_j = j;
            }
        }
        if (best_j == ng || best < MIN_IOU) {
            printf("FAIL %s face %zu [%.2f %.2f %.2f %.2f]: best IoU %.4f < "
                   "%.2f\n",
                   name, i + 1, rb[0], rb[1], rb[2], rb[3], best, MIN_IOU);
            failures++;
            continue;
        }
        used[best_j] = 1;
        json_t *gf = json_array_get(got_faces, best_j);
        double gb[4];
        box_of(gf, gb);
        printf("ok   %s face %zu: IoU %.4f  face-api [%.2f %.2f %.2f %.2f] "
               "khappy [%.2f %.2f %.2f %.2f]\n",
               name, i + 1, best, rb[0], rb[1], rb[2], rb[3], gb[0], gb[1],
               gb[2], gb[3]);
        json_t *rex = json_object_get(rf, "expressions");
        json_t *gem = json_object_get(gf, "emotions");
        if (!json_is_object(rex) || !json_is_object(gem)) {
            printf("FAIL %s face %zu: expressions missing (face-api %s, "
                   "khappy %s)\n",
                   name, i + 1, rex ? "present" : "absent",
                   gem ? "present" : "absent");
            failures++;
            continue;
        }
        int ref_top = 0, got_top = 0;
        double worst = 0;
        for (int k = 0; k < 7; k++) {
            double r = json_number_value(json_object_get(rex, faceapi_names[k]));
            json_t *gv = json_object_get(gem, khappy_names[k]);
            double g = json_number_value(gv);
            if (!json_is_number(gv)) {
                printf("FAIL %s face %zu: khappy has no '%s'\n", name, i + 1,
                       khappy_names[k]);
                failures++;
                continue;
            }
            if (fabs(r - g) > worst)
                worst = fabs(r - g);
            if (fabs(r - g) > PROBABILITY_TOLERANCE) {
                printf("FAIL %s face %zu: %s face-api %.4f khappy %.4f (diff "
                       "%.4f > %.2f)\n",
                       name, i + 1, khappy_names[k], r, g, fabs(r - g),
                       PROBABILITY_TOLERANCE);
                failures++;
            }
            if (r > json_number_value(
                        json_object_get(rex, faceapi_names[ref_top])))
                ref_top = k;
            if (g > json_number_value(
                        json_object_get(gem, khappy_names[got_top])))
                got_top = k;
        }
        double ref_top_p =
            json_number_value(json_object_get(rex, faceapi_names[ref_top]));
        if (ref_top_p >= TOP_MIN_PROBABILITY && ref_top != got_top) {
            printf("FAIL %s face %zu: top emotion face-api %s (%.4f) khappy "
                   "%s\n",
                   name, i + 1, khappy_names[ref_top], ref_top_p,
                   khappy_names[got_top]);
            failures++;
        } else {
            printf("     %s face %zu: top face-api %s %.4f, khappy %s; "
                   "largest probability difference %.4f\n",
                   name, i + 1, khappy_names[ref_top], ref_top_p,
                   khappy_names[got_top], worst);
        }
    }
    for (size_t j = 0; j < ng; j++)
        if (!used[j]) {
            double gb[4];
            box_of(json_array_get(got_faces, j), gb);
            printf("FAIL %s: extra khappy face [%.2f %.2f %.2f %.2f] not in "
                   "face-api's results\n",
                   name, gb[0], gb[1], gb[2], gb[3]);
            failures++;
        }
    free(used);
    return failures;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: compare_faceapi REFERENCE.jsonl KHAPPY.jsonl\n");
        return 2;
    }
    json_t *ref = load_lines(argv[1]), *got = load_lines(argv[2]);
    if (!ref || !got || json_object_size(ref) == 0) {
        fprintf(stderr, "nothing to compare\n");
        return 2;
    }
    int failures = 0, pictures = 0, faces = 0;
    const char *name;
    json_t *ref_row;
    json_object_foreach(ref, name, ref_row) {
        json_t *got_row = json_object_get(got, name);
        pictures++;
        faces += (int)json_array_size(json_object_get(ref_row, "faces"));
        if (!got_row) {
            printf("FAIL %s: no khappy result\n", name);
            failures++;
            continue;
        }
        failures += compare_picture(name, ref_row, got_row);
    }
    printf("%d pictures, %d face-api faces: %s (%d failed check%s)\n",
           pictures, faces, failures ? "FAIL" : "ok", failures,
           failures == 1 ? "" : "s");
    json_decref(ref);
    json_decref(got);
    return failures ? 1 : 0;
}
