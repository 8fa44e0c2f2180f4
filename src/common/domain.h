/* domain.h - the words of khappy's domain: pictures, faces, emotions.
 * Knows nothing of HTTP, SQL or ONNX; every adapter speaks these types. */
#ifndef KH_DOMAIN_H
#define KH_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* The canonical emotion names (those of the FER+ model of the original
 * system), in this order everywhere: arrays indexed by kh_emotion. */
#define KH_EMOTIONS(X)                                                         \
    X(NEUTRAL, "neutral")                                                      \
    X(HAPPINESS, "happiness")                                                  \
    X(SURPRISE, "surprise")                                                    \
    X(SADNESS, "sadness")                                                      \
    X(ANGER, "anger")                                                          \
    X(DISGUST, "disgust")                                                      \
    X(FEAR, "fear")                                                            \
    X(CONTEMPT, "contempt")

typedef enum kh_emotion {
#define KH__EMOTION_ENUM(id, name) KH_EMOTION_##id,
    KH_EMOTIONS(KH__EMOTION_ENUM)
#undef KH__EMOTION_ENUM
    KH_EMOTION_COUNT
} kh_emotion;

/* "happiness" for KH_EMOTION_HAPPINESS; NULL when out of range. */
const char *kh_emotion_name(kh_emotion e);
/* KH_EMOTION_COUNT when the name is unknown. */
kh_emotion kh_emotion_from_name(const char *name);

/* A box in pixels of the original picture (after EXIF orientation). */
typedef struct kh_box {
    float x, y, w, h;
} kh_box;

#define KH_NAME_MAX 32

typedef struct kh_face {
    kh_box box;
    float score;                   /* detector confidence */
    char detector[KH_NAME_MAX];    /* "tinyface", "pico" */
} kh_face;

/* Scores of one face by one model; present[e] is false for classes the
 * model lacks (face-api has no contempt). */
typedef struct kh_emotion_scores {
    float p[KH_EMOTION_COUNT];
    bool present[KH_EMOTION_COUNT];
    char model[KH_NAME_MAX];       /* "expression" */
} kh_emotion_scores;

/* The present emotion with the highest score (KH_EMOTION_COUNT if none). */
kh_emotion kh_emotion_top(const kh_emotion_scores *s);

#endif
