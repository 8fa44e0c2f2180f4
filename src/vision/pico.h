/* pico.h - the pico cascade (pixel intensity comparisons in binary trees)
 * behind the "pico" detector; exposed for tests and tools.
 *
 * File format (all little-endian), as published with pico's cascades:
 *   int32  version            (3 for facefinder)
 *   4 bytes                   learning-time data, unused at detection
 *   int32  depth              of every tree (1..16)
 *   int32  trees              count (>= 1)
 *   per tree:
 *     (2^depth - 1) nodes of 4 int8: row1, col1, row2, col2 - two points
 *                             relative to the window centre in 1/256 of the
 *                             window size; a node sends a window right when
 *                             pixel1 <= pixel2
 *     2^depth float32         leaf outputs
 *     float32                 threshold: the window is rejected when the
 *                             running sum of outputs falls to it or below
 * The file size must be exactly what depth and trees imply.
 */
#ifndef KH_VISION_PICO_H
#define KH_VISION_PICO_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vision/image.h"

typedef struct kh_pico_cascade kh_pico_cascade;

/* Cascades are a few hundred kilobytes (facefinder: 234 KiB): a file of
 * megabytes is not one. */
#define KH_PICO_CASCADE_MAX_BYTES ((size_t)64 << 20)

/* Parses and validates a cascade; `what` names it in messages. On success
 * *out is owned by the caller (kh_pico_cascade_destroy). */
int kh_pico_cascade_parse(const void *data, size_t len, const char *what,
                          kh_pico_cascade **out, kh_error *err);
/* Reads the file at path (at most KH_PICO_CASCADE_MAX_BYTES, else KH_ELIMIT)
 * and parses it. A file that cannot be read, a missing one included, is
 * KH_EIO. */
int kh_pico_cascade_load(const char *path, kh_pico_cascade **out,
                         kh_error *err);
void kh_pico_cascade_destroy(kh_pico_cascade *c); /* NULL is a no-op */
int kh_pico_cascade_depth(const kh_pico_cascade *c);
int kh_pico_cascade_trees(const kh_pico_cascade *c);

/* A square window: centre (row, col), side `size`, cascade output. */
typedef struct kh_pico_window {
    float row, col, size, quality;
} kh_pico_window;

/* Runs the cascade on one window centred at integer (row, col) of a gray
 * picture; returns the output above the last threshold (> 0: a face-like
 * window) or -1 when a stage rejects it. The whole window must lie inside
 * the picture (kh_pico_scan ensures it). The points are placed with the
 * integer part of size, as kh_pico_scan does. */
float kh_pico_classify(const kh_pico_cascade *c, const kh_image *gray,
                       int row, int col, float size);

typedef struct kh_pico_scan_params {
    float min_size, max_size, scale_factor, shift_factor;
    size_t max_windows;
} kh_pico_scan_params;

/* Scans every scale and position; *windows (malloc'ed, caller frees) gets
 * the windows with output > 0. KH_ELIMIT when more than max_windows pass. */
int kh_pico_scan(const kh_pico_cascade *c, const kh_image *gray,
                 const kh_pico_scan_params *params, kh_pico_window **windows,
                 size_t *count, kh_error *err);

/* Intersection over union of two square windows. */
float kh_pico_iou(const kh_pico_window *a, const kh_pico_window *b);

/* Clustering without recursion: windows overlapping by more than
 * iou_threshold are joined (union-find over a column sweep), so a cluster is
 * a connected component of the overlap graph. A cluster is the mean centre
 * and size of its windows and the sum of their qualities; clusters come out
 * by descending quality. Reorders `windows`. `clusters` holds up to n
 * entries; `scratch` holds 3 n entries. Returns the cluster count. */
size_t kh_pico_cluster(kh_pico_window *windows, size_t n, float iou_threshold,
                       kh_pico_window *clusters, uint32_t *scratch);

#endif
