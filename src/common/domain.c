#include "common/domain.h"

#include <string.h>

static const char *const emotion_names[] = {
#define KH__EMOTION_NAME(id, name) name,
    KH_EMOTIONS(KH__EMOTION_NAME)
#undef KH__EMOTION_NAME
};
_Static_assert(sizeof emotion_names / sizeof emotion_names[0] ==
                   KH_EMOTION_COUNT,
               "one name per emotion");

const char *kh_emotion_name(kh_emotion e) {
    return (unsigned)e < KH_EMOTION_COUNT ? emotion_names[e] : NULL;
}

kh_emotion kh_emotion_from_name(const char *name) {
    for (int i = 0; i < KH_EMOTION_COUNT; i++)
        if (name && strcmp(name, emotion_names[i]) == 0)
            return (kh_emotion)i;
    return KH_EMOTION_COUNT;
}

kh_emotion kh_emotion_top(const kh_emotion_scores *s) {
    kh_emotion best = KH_EMOTION_COUNT;
    for (int i = 0; i < KH_EMOTION_COUNT; i++)
        if (s->present[i] && (best == KH_EMOTION_COUNT || s->p[i] > s->p[best]))
            best = (kh_emotion)i;
    return best;
}
