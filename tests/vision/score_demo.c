/* score_demo - counts found, missed and false faces of `khappy analyze
 * --json` output against hand-checked boxes (demo-faces.json).
 *
 *   score_demo FACES.json RESULTS.jsonl [MIN_FOUND MAX_FALSE]
 *
 * The rule is the one stated in FACES.json: a detection finds a face when its
 * centre lies inside the face box grown by 25% on each side and the square
 * roots of the two areas differ by at most 2x; each face is found at most
 * once, detections taken by descending score; other detections are false.
 * With MIN_FOUND and MAX_FALSE the exit status says whether the totals meet
 * them (0 yes, 1 no). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct detection {
    double box[4], score;
} detection;

static int by_score_desc(const void *a, const void *b) {
    const detection *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int finds(const double face[4], const double det[4]) {
    double cx = det[0] + det[2] / 2, cy = det[1] + det[3] / 2;
    double gx = face[2] * 0.25, gy = face[3] * 0.25;
    if (cx < face[0] - gx || cx > face[0] + face[2] + gx ||
        cy < face[1] - gy || cy > face[1] + face[3] + gy)
        return 0;
    double a = sqrt(face[2] * face[3]), b = sqrt(fabs(det[2] * det[3]));
    return a <= 2 * b && b <= 2 * a;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: score_demo FACES.json RESULTS.jsonl "
                        "[MIN_FOUND MAX_FALSE]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *truth = json_load_file(argv[1], 0, &jerr);
    json_t *faces = truth ? json_object_get(truth, "faces") : NULL;
    if (!json_is_object(faces)) {
        fprintf(stderr, "%s: line %d: %s\n", argv[1], jerr.line, jerr.text);
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", argv[2]);
        return 2;
    }
    int total_faces = 0, total_found = 0, total_false = 0, pictures = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *result = json_loads(line, 0, &jerr);
        json_t *file = json_object_get(result, "file");
        json_t *dets = json_object_get(result, "faces");
        if (!json_is_string(file) || !json_is_array(dets)) {
            fprintf(stderr, "%s: a line without file and faces: %s", argv[2],
                    line);
            return 2;
        }
        const char *name = base_name(json_string_value(file));
        json_t *boxes = json_object_get(faces, name);
        if (!json_is_array(boxes)) {
            fprintf(stderr, "%s: no hand-checked faces\n", name);
            json_decref(result);
            continue;
        }
        size_t nd = json_array_size(dets), nf = json_array_size(boxes);
        detection *d = calloc(nd ? nd : 1, sizeof *d);
        int *found = calloc(nf ? nf : 1, sizeof *found);
        for (size_t i = 0; i < nd; i++) {
            json_t *det = json_array_get(dets, i);
            json_t *box = json_object_get(det, "box");
            for (int k = 0; k < 4; k++)
                d[i].box[k] = json_number_value(json_array_get(box, k));
            d[i].score = json_number_value(json_object_get(det, "score"));
        }
        qsort(d, nd, sizeof *d, by_score_desc);
        int found_here = 0, false_here = 0;
        for (size_t i = 0; i < nd; i++) {
            int hit = 0;
            for (size_t j = 0; j < nf && !hit; j++) {
                if (found[j])
                    continue;
                double face[4];
                for (int k = 0; k < 4; k++)
                    face[k] = json_number_value(
                        json_array_get(json_array_get(boxes, j), k));
                if (finds(face, d[i].box)) {
                    found[j] = 1;
                    hit = 1;
                }
            }
            if (hit)
                found_here++;
            else
                false_here++;
        }
        printf("%s: %d of %zu faces found, %d false\n", name, found_here, nf,
               false_here);
        total_faces += (int)nf;
        total_found += found_here;
        total_false += false_here;
        pictures++;
        free(d);
        free(found);
        json_decref(result);
    }
    free(line);
    fclose(f);
    json_decref(truth);
    printf("total: %d of %d faces found, %d false, in %d pictures\n",
           total_found, total_faces, total_false, pictures);
    if (argc == 5) {
        int min_found = atoi(argv[3]), max_false = atoi(argv[4]);
        if (total_found < min_found || total_false > max_false) {
            printf("FAIL: found %d (want >= %d), false %d (want <= %d)\n",
                   total_found, min_found, total_false, max_false);
            return 1;
        }
        printf("ok: found %d >= %d, false %d <= %d\n", total_found,
               min_found, total_false, max_false);
    }
    return 0;
}
