/* pico.c - cascade reader, scanner and clustering, and the "pico" detector.
 *
 * Speed comes from one observation: for a window of a given size, a node's
 * two comparison points sit at fixed offsets from the window centre. So the
 * scanner turns every node into two pixel offsets once per scale, and a
 * window is then a walk down each tree comparing center[a] <= center[b]. */
#include "vision/pico.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/detector.h"
#include "vision/read_file.h"

#define PICO_MAX_DEPTH 16
#define PICO_HEADER_BYTES 16

struct kh_pico_cascade {
    int depth, trees;
    int nodes_per_tree;  /* 2^depth - 1 */
    int leaves_per_tree; /* 2^depth */
    int8_t *codes;       /* trees * nodes_per_tree * 4 */
    float *leaves;       /* trees * leaves_per_tree */
    float *thresholds;   /* trees */
};

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static float le_float(const uint8_t *p) {
    uint32_t bits = le32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void kh_pico_cascade_destroy(kh_pico_cascade *c) {
    if (!c)
        return;
    free(c->codes);
    free(c->leaves);
    free(c->thresholds);
    free(c);
}

int kh_pico_cascade_parse(const void *data, size_t len, const char *what,
                          kh_pico_cascade **out, kh_error *err) {
    *out = NULL;
    if (!what)
        what = "cascade";
    const uint8_t *bytes = data;
    if (!data || len < PICO_HEADER_BYTES)
        return kh_error_set(err, KH_EFORMAT,
                            "%s: %zu bytes, a pico cascade has a %d-byte "
                            "header",
                            what, len, PICO_HEADER_BYTES);
    int32_t depth = (int32_t)le32(bytes + 8);
    int32_t trees = (int32_t)le32(bytes + 12);
    if (depth < 1 || depth > PICO_MAX_DEPTH)
        return kh_error_set(err, KH_EFORMAT,
                            "%s: byte 8: tree depth %d, expected 1..%d", what,
                            (int)depth, PICO_MAX_DEPTH);
    if (trees < 1)
        return kh_error_set(err, KH_EFORMAT,
                            "%s: byte 12: %d trees, expected at least 1", what,
                            (int)trees);
    const size_t leaves = (size_t)1 << depth;
    const size_t tree_bytes = 4 * (leaves - 1) + 4 * leaves + 4;
    if ((size_t)trees > (len - PICO_HEADER_BYTES) / tree_bytes ||
        PICO_HEADER_BYTES + (size_t)trees * tree_bytes != len)
        return kh_error_set(err, KH_EFORMAT,
                            "%s: %d trees of depth %d need %llu bytes, the "
                            "file has %zu",
                            what, (int)trees, (int)depth,
                            (unsigned long long)PICO_HEADER_BYTES +
                                (unsigned long long)trees * tree_bytes,
                            len);
    kh_pico_cascade *c = calloc(1, sizeof *c);
    if (!c)
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
    c->depth = depth;
    c->trees = trees;
    c->nodes_per_tree = (int)leaves - 1;
    c->leaves_per_tree = (int)leaves;
    c->codes = malloc((size_t)trees * (leaves - 1) * 4);
    c->leaves = malloc(sizeof *c->leaves * (size_t)trees * leaves);
    c->thresholds = malloc(sizeof *c->thresholds * (size_t)trees);
    if (!c->codes || !c->leaves || !c->thresholds) {
        kh_pico_cascade_destroy(c);
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
    }
    size_t pos = PICO_HEADER_BYTES;
    for (int t = 0; t < trees; t++) {
        for (size_t i = 0; i < 4 * (leaves - 1); i++)
            c->codes[(size_t)t * 4 * (leaves - 1) + i] =
                (int8_t)(bytes[pos + i] < 128 ? bytes[pos + i]
                                         : bytes[pos + i] - 256);
        pos += 4 * (leaves - 1);
        for (size_t i = 0; i < leaves; i++, pos += 4) {
            float v = le_float(bytes + pos);
            if (!isfinite(v)) {
                kh_pico_cascade_destroy(c);
                return kh_error_set(err, KH_EFORMAT,
                                    "%s: byte %zu: leaf output of tree %d is "
                                    "not a finite number",
                                    what, pos, t);
            }
            c->leaves[(size_t)t * leaves + i] = v;
        }
        float threshold = le_float(bytes + pos);
        if (!isfinite(threshold)) {
            kh_pico_cascade_destroy(c);
            return kh_error_set(err, KH_EFORMAT,
                                "%s: byte %zu: threshold of tree %d is not a "
                                "finite number",
                                what, pos, t);
        }
        c->thresholds[t] = threshold;
        pos += 4;
    }
    *out = c;
    return KH_OK;
}

int kh_pico_cascade_load(const char *path, kh_pico_cascade **out,
                         kh_error *err) {
    *out = NULL;
    uint8_t *bytes;
    size_t len;
    int rc = kh_vision_read_file(path, KH_PICO_CASCADE_MAX_BYTES, &bytes,
                                 &len, err);
    if (rc)
        return rc;
    rc = kh_pico_cascade_parse(bytes, len, path, out, err);
    free(bytes);
    return rc;
}

int kh_pico_cascade_depth(const kh_pico_cascade *c) { return c->depth; }
int kh_pico_cascade_trees(const kh_pico_cascade *c) { return c->trees; }

/* Offset of a code point from the window centre: floor(code * size / 256),
 * the same rounding as integer division of (256 r + code s) by 256. */
static int code_offset(int8_t code, float size) {
    return (int)floorf((float)code * size / 256.0f);
}

float kh_pico_classify(const kh_pico_cascade *c, const kh_image *gray, int row,
                       int col, float size) {
    size = (float)(int)size;
    const uint8_t *px = gray->pixels;
    const int ldim = gray->width;
    float output = 0.0f;
    for (int t = 0; t < c->trees; t++) {
        const int8_t *codes = c->codes + (size_t)t * c->nodes_per_tree * 4;
        int idx = 1;
        for (int d = 0; d < c->depth; d++) {
            const int8_t *n = codes + 4 * (idx - 1);
            int a = (row + code_offset(n[0], size)) * ldim + col +
                    code_offset(n[1], size);
            int b = (row + code_offset(n[2], size)) * ldim + col +
                    code_offset(n[3], size);
            idx = 2 * idx + (px[a] <= px[b]);
        }
        output += c->leaves[(size_t)t * c->leaves_per_tree + idx -
                            c->leaves_per_tree];
        if (output <= c->thresholds[t])
            return -1.0f;
    }
    return output - c->thresholds[c->trees - 1];
}

typedef struct scan_plan {
    int32_t *offsets; /* per node: pixel offsets of its two points */
    int row_lo, row_hi, col_lo, col_hi; /* extreme code offsets */
} scan_plan;

static void plan_scale(const kh_pico_cascade *c, float size, int ldim,
                       scan_plan *plan) {
    const size_t nodes = (size_t)c->trees * c->nodes_per_tree;
    plan->row_lo = plan->col_lo = 0;
    plan->row_hi = plan->col_hi = 0;
    for (size_t i = 0; i < nodes; i++) {
        const int8_t *n = c->codes + 4 * i;
        for (int k = 0; k < 2; k++) {
            int dr = code_offset(n[2 * k], size);
            int dc = code_offset(n[2 * k + 1], size);
            plan->offsets[2 * i + k] = dr * ldim + dc;
            if (dr < plan->row_lo) plan->row_lo = dr;
            if (dr > plan->row_hi) plan->row_hi = dr;
            if (dc < plan->col_lo) plan->col_lo = dc;
            if (dc > plan->col_hi) plan->col_hi = dc;
        }
    }
}

/* Runs the cascade on the windows of one row breadth-first: a tree on every
 * window still alive, then the next tree on the survivors. The sums are the
 * same, in the same order, as one window at a time. A tree walk is a chain
 * of dependent loads (node, pixels, next node), so four windows walk side
 * by side to keep the core busy while each waits. alive[] and output[] hold
 * n entries; on return alive[0..k) are the indices (into cols) of the k
 * windows that passed every stage and output[] their running sums. */
static int classify_row(const kh_pico_cascade *c, const int32_t *offsets,
                        const uint8_t *row, const int *cols, int n,
                        int *alive, float *output) {
    const int nodes = c->nodes_per_tree, leaves = c->leaves_per_tree;
    const int depth = c->depth;
    for (int i = 0; i < n; i++) {
        alive[i] = i;
        output[i] = 0.0f;
    }
    for (int t = 0; t < c->trees && n > 0; t++) {
        const int32_t *tree = offsets + (size_t)t * 2 * nodes;
        const float *leaf = c->leaves + (size_t)t * leaves - leaves;
        const float threshold = c->thresholds[t];
        int kept = 0, k = 0;
        for (; k + 4 <= n; k += 4) {
            const int i0 = alive[k], i1 = alive[k + 1], i2 = alive[k + 2],
                      i3 = alive[k + 3];
            const uint8_t *p0 = row + cols[i0], *p1 = row + cols[i1],
                          *p2 = row + cols[i2], *p3 = row + cols[i3];
            int x0 = 1, x1 = 1, x2 = 1, x3 = 1;
            for (int d = 0; d < depth; d++) {
                const int32_t *n0 = tree + 2 * (x0 - 1),
                              *n1 = tree + 2 * (x1 - 1),
                              *n2 = tree + 2 * (x2 - 1),
                              *n3 = tree + 2 * (x3 - 1);
                x0 = 2 * x0 + (p0[n0[0]] <= p0[n0[1]]);
                x1 = 2 * x1 + (p1[n1[0]] <= p1[n1[1]]);
                x2 = 2 * x2 + (p2[n2[0]] <= p2[n2[1]]);
                x3 = 2 * x3 + (p3[n3[0]] <= p3[n3[1]]);
            }
            const float o0 = output[i0] + leaf[x0], o1 = output[i1] + leaf[x1],
                        o2 = output[i2] + leaf[x2], o3 = output[i3] + leaf[x3];
            output[i0] = o0;
            output[i1] = o1;
            output[i2] = o2;
            output[i3] = o3;
            alive[kept] = i0;
            kept += o0 > threshold;
            alive[kept] = i1;
            kept += o1 > threshold;
            alive[kept] = i2;
            kept += o2 > threshold;
            alive[kept] = i3;
            kept += o3 > threshold;
        }
        for (; k < n; k++) {
            const int i = alive[k];
            const uint8_t *p = row + cols[i];
            int x = 1;
            for (int d = 0; d < depth; d++) {
                const int32_t *node = tree + 2 * (x - 1);
                x = 2 * x + (p[node[0]] <= p[node[1]]);
            }
            const float o = output[i] + leaf[x];
            output[i] = o;
            alive[kept] = i;
            kept += o > threshold;
        }
        n = kept;
    }
    return n;
}

int kh_pico_scan(const kh_pico_cascade *c, const kh_image *gray,
                 const kh_pico_scan_params *params, kh_pico_window **windows,
                 size_t *count, kh_error *err) {
    *windows = NULL;
    *count = 0;
    if (gray->channels != 1)
        return kh_error_set(err, KH_EINVAL, "pico: scan needs a gray picture");
    if (!(params->scale_factor > 1.0f) || !(params->shift_factor > 0.0f) ||
        !(params->min_size >= 1.0f) || params->max_windows == 0)
        return kh_error_set(err, KH_EINVAL,
                            "pico: scale factor %g (> 1), shift factor %g "
                            "(> 0), min size %g (>= 1), window limit %zu (> 0)",
                            params->scale_factor, params->shift_factor,
                            params->min_size, params->max_windows);
    scan_plan plan;
    plan.offsets = malloc(sizeof *plan.offsets * 2 * (size_t)c->trees *
                          c->nodes_per_tree);
    const int rows = gray->height, cols = gray->width;
    /* Per row of windows: their columns (as pixels and as the fractional
     * positions reported), and the breadth-first survivors. */
    int *window_cols = malloc(sizeof *window_cols * (size_t)cols);
    float *window_cfs = malloc(sizeof *window_cfs * (size_t)cols);
    int *alive = malloc(sizeof *alive * (size_t)cols);
    float *output = malloc(sizeof *output * (size_t)cols);
    size_t capacity = params->max_windows < 1024 ? params->max_windows : 1024;
    size_t n = 0;
    kh_pico_window *found = malloc(sizeof *found * capacity);
    int rc = KH_OK;
    if (!plan.offsets || !found || !window_cols || !window_cfs || !alive ||
        !output) {
        rc = kh_error_set(err, KH_ENOMEM, "pico: out of memory");
        goto fail;
    }
    for (float size = params->min_size; size <= params->max_size;
         size *= params->scale_factor) {
        /* Window centres advance by a fractional stride from size/2 + 1 and
         * are truncated to pixels; the comparison points use the integer
         * window size. */
        const float step = fmaxf(params->shift_factor * size, 1.0f);
        plan_scale(c, (float)(int)size, cols, &plan);
        /* Every point the cascade reads stays inside the picture, whatever
         * the codes say. */
        const int r_min = -plan.row_lo, r_max = rows - 1 - plan.row_hi;
        const int c_min = -plan.col_lo, c_max = cols - 1 - plan.col_hi;
        int per_row = 0;
        for (float cf = size / 2 + 1; cf <= cols - size / 2 - 1 && per_row < cols;
             cf += step) {
            const int col = (int)cf;
            if (col < c_min || col > c_max)
                continue;
            window_cols[per_row] = col;
            window_cfs[per_row++] = cf;
        }
        if (per_row == 0)
            continue;
        for (float rf = size / 2 + 1; rf <= rows - size / 2 - 1; rf += step) {
            const int r = (int)rf;
            if (r < r_min || r > r_max)
                continue;
            const uint8_t *row = gray->pixels + (size_t)r * cols;
            const int passed = classify_row(c, plan.offsets, row, window_cols,
                                            per_row, alive, output);
            for (int k = 0; k < passed; k++) {
                const int i = alive[k];
                const float q = output[i] - c->thresholds[c->trees - 1];
                if (q <= 0.0f)
                    continue;
                if (n == params->max_windows) {
                    rc = kh_error_set(err, KH_ELIMIT,
                                      "pico: more than %zu windows pass the "
                                      "cascade",
                                      params->max_windows);
                    goto fail;
                }
                if (n == capacity) {
                    size_t grown_cap = capacity * 2 < params->max_windows
                                           ? capacity * 2
                                           : params->max_windows;
                    kh_pico_window *grown =
                        realloc(found, sizeof *found * grown_cap);
                    if (!grown) {
                        rc = kh_error_set(err, KH_ENOMEM,
                                          "pico: out of memory");
                        goto fail;
                    }
                    found = grown;
                    capacity = grown_cap;
                }
                found[n++] = (kh_pico_window){rf, window_cfs[i], size, q};
            }
        }
    }
    free(plan.offsets);
    free(window_cols);
    free(window_cfs);
    free(alive);
    free(output);
    *windows = found;
    *count = n;
    return KH_OK;
fail:
    free(plan.offsets);
    free(window_cols);
    free(window_cfs);
    free(alive);
    free(output);
    free(found);
    return rc;
}

float kh_pico_iou(const kh_pico_window *a, const kh_pico_window *b) {
    float rows = fminf(a->row + a->size / 2, b->row + b->size / 2) -
                 fmaxf(a->row - a->size / 2, b->row - b->size / 2);
    float cols = fminf(a->col + a->size / 2, b->col + b->size / 2) -
                 fmaxf(a->col - a->size / 2, b->col - b->size / 2);
    if (rows <= 0 || cols <= 0)
        return 0.0f;
    float inter = rows * cols;
    return inter / (a->size * a->size + b->size * b->size - inter);
}

static int by_quality_desc(const void *pa, const void *pb) {
    const kh_pico_window *a = pa, *b = pb;
    return a->quality < b->quality ? 1 : a->quality > b->quality ? -1 : 0;
}

static int by_col(const void *pa, const void *pb) {
    const kh_pico_window *a = pa, *b = pb;
    return a->col < b->col ? -1 : a->col > b->col ? 1 : 0;
}

static uint32_t find_root(uint32_t *parent, uint32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]]; /* path halving keeps trees flat */
        i = parent[i];
    }
    return i;
}

size_t kh_pico_cluster(kh_pico_window *windows, size_t n, float iou_threshold,
                       kh_pico_window *clusters, uint32_t *scratch) {
    uint32_t *parent = scratch, *id = scratch + n, *members = scratch + 2 * n;
    float max_size = 0;
    for (size_t i = 0; i < n; i++) {
        parent[i] = (uint32_t)i;
        if (windows[i].size > max_size)
            max_size = windows[i].size;
    }
    /* Sorted by column, a window can only overlap those that follow it
     * within max_size columns: a sweep instead of all pairs. */
    qsort(windows, n, sizeof *windows, by_col);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1;
             j < n && windows[j].col - windows[i].col < max_size; j++)
            if (kh_pico_iou(&windows[i], &windows[j]) > iou_threshold) {
                uint32_t a = find_root(parent, (uint32_t)i);
                uint32_t b = find_root(parent, (uint32_t)j);
                /* The smaller index becomes the root, so a component's root
                 * is its first window. */
                if (a < b)
                    parent[b] = a;
                else if (b < a)
                    parent[a] = b;
            }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t root = find_root(parent, (uint32_t)i);
        if (root == i) {
            id[i] = (uint32_t)count;
            members[count] = 0;
            clusters[count++] = (kh_pico_window){0, 0, 0, 0};
        }
        kh_pico_window *c = &clusters[id[root]];
        c->row += windows[i].row;
        c->col += windows[i].col;
        c->size += windows[i].size;
        c->quality += windows[i].quality;
        members[id[root]]++;
    }
    for (size_t k = 0; k < count; k++) {
        clusters[k].row /= (float)members[k];
        clusters[k].col /= (float)members[k];
        clusters[k].size /= (float)members[k];
    }
    qsort(clusters, count, sizeof *clusters, by_quality_desc);
    return count;
}

/* ---- the detector ---------------------------------------------------------- */

typedef struct pico_detector {
    kh_detector base;
    kh_pico_cascade *cascade;
    kh_pico_options options;
} pico_detector;

static int pico_detect(kh_detector *self, const kh_image *picture,
                       float scale_to_original, kh_face **faces,
                       size_t *count, kh_error *err) {
    pico_detector *d = self->state;
    const kh_pico_options *o = &d->options;
    *faces = NULL;
    *count = 0;
    kh_image gray = {0};
    const kh_image *scan_input = picture;
    int rc = KH_OK;
    if (picture->channels != 1) {
        rc = kh_image_to_gray(picture, &gray, err);
        if (rc)
            return kh_error_prefix(err, "pico");
        scan_input = &gray;
    }
    const int shorter =
        picture->width < picture->height ? picture->width : picture->height;
    kh_pico_scan_params params = {
        .min_size = o->min_size > 0 ? (float)o->min_size
                                    : o->min_size_fraction * (float)shorter,
        .max_size = o->max_size > 0 ? (float)o->max_size : (float)shorter,
        .scale_factor = o->scale_factor,
        .shift_factor = o->shift_factor,
        .max_windows = o->max_windows,
    };
    if (params.min_size < 1.0f)
        params.min_size = 1.0f;
    kh_pico_window *windows = NULL, *clusters = NULL;
    uint32_t *scratch = NULL;
    size_t n = 0;
    rc = kh_pico_scan(d->cascade, scan_input, &params, &windows, &n, err);
    if (rc)
        goto done;
    clusters = malloc(sizeof *clusters * (n ? n : 1));
    scratch = malloc(sizeof *scratch * 3 * (n ? n : 1));
    if (!clusters || !scratch) {
        rc = kh_error_set(err, KH_ENOMEM, "pico: out of memory");
        goto done;
    }
    size_t k = kh_pico_cluster(windows, n, o->cluster_iou, clusters, scratch);
    size_t kept = 0;
    for (size_t i = 0; i < k; i++)
        if (clusters[i].quality >= o->quality_threshold)
            clusters[kept++] = clusters[i];
    if (kept) {
        *faces = calloc(kept, sizeof **faces);
        if (!*faces) {
            rc = kh_error_set(err, KH_ENOMEM, "pico: out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < kept; i++) {
        kh_face *f = &(*faces)[i];
        f->box.x = (clusters[i].col - clusters[i].size / 2) * scale_to_original;
        f->box.y = (clusters[i].row - clusters[i].size / 2) * scale_to_original;
        f->box.w = clusters[i].size * scale_to_original;
        f->box.h = clusters[i].size * scale_to_original;
        f->score = clusters[i].quality;
        snprintf(f->detector, sizeof f->detector, "pico");
    }
    *count = kept;
done:
    free(windows);
    free(clusters);
    free(scratch);
    kh_image_free(&gray);
    return rc;
}

static void pico_destroy(kh_detector *self) {
    pico_detector *d = self->state;
    kh_pico_cascade_destroy(d->cascade);
    free(d);
}

int kh_pico_create(const char *cascade_path, const kh_pico_options *opts,
                   kh_detector **out, kh_error *err) {
    *out = NULL;
    kh_pico_options o = opts ? *opts : (kh_pico_options){0};
    if (o.min_size_fraction <= 0)
        o.min_size_fraction = 0.05f;
    if (o.scale_factor <= 0)
        o.scale_factor = 1.1f;
    if (o.shift_factor <= 0)
        o.shift_factor = 0.1f;
    if (o.quality_threshold <= 0)
        o.quality_threshold = 5.0f;
    if (o.cluster_iou <= 0)
        o.cluster_iou = 0.3f;
    if (o.max_windows == 0)
        o.max_windows = 20000;
    if (o.scale_factor <= 1.0f || o.shift_factor > 1.0f ||
        o.min_size_fraction > 1.0f || o.cluster_iou >= 1.0f)
        return kh_error_set(err, KH_EINVAL,
                            "pico: scale factor %g must be > 1, shift factor "
                            "%g <= 1, min size fraction %g <= 1, cluster IoU "
                            "%g < 1",
                            o.scale_factor, o.shift_factor,
                            o.min_size_fraction, o.cluster_iou);
    pico_detector *d = calloc(1, sizeof *d);
    if (!d)
        return kh_error_set(err, KH_ENOMEM, "pico: out of memory");
    int rc = kh_pico_cascade_load(cascade_path, &d->cascade, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->options = o;
    d->base = (kh_detector){"pico", pico_detect, pico_destroy, d};
    *out = &d->base;
    return KH_OK;
}
