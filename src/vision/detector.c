/* detector.c - dispatch through the kh_detector interface. */
#include "vision/detector.h"

int kh_detector_detect(kh_detector *d, const kh_image *picture,
                       float scale_to_original, kh_face **faces,
                       size_t *count, kh_error *err) {
    if (!d || !picture || !picture->pixels || !faces || !count)
        return kh_error_set(err, KH_EINVAL, "detect: missing argument");
    if (!(scale_to_original > 0))
        return kh_error_set(err, KH_EINVAL, "%s: scale %g to the original",
                            d->name, scale_to_original);
    return d->detect(d, picture, scale_to_original, faces, count, err);
}

void kh_detector_destroy(kh_detector *d) {
    if (d)
        d->destroy(d);
}
