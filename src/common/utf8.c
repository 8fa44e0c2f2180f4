/* utf8.c - see utf8.h. */
#include "common/utf8.h"

size_t kh_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp) {
    if (len == 0)
        return 0;
    uint8_t lead = s[0];
    if (lead < 0x80) {
        if (cp)
            *cp = lead;
        return 1;
    }
    size_t need;
    uint32_t min;
    uint32_t value;
    if ((lead & 0xe0) == 0xc0) {
        need = 2, min = 0x80, value = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
        need = 3, min = 0x800, value = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
        need = 4, min = 0x10000, value = lead & 0x07;
    } else {
        return 0; /* a continuation byte or 0xf8..0xff */
    }
    /* Each byte is checked before the next is read, so a NUL-terminated
     * string is never read past its terminator. */
    for (size_t i = 1; i < need; i++) {
        if (i >= len || (s[i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (s[i] & 0x3f);
    }
    if (value < min || value > 0x10ffff ||
        (value >= 0xd800 && value <= 0xdfff))
        return 0; /* overlong, past U+10FFFF or a surrogate */
    if (cp)
        *cp = value;
    return need;
}

bool kh_utf8_valid(const void *s, size_t len, size_t *bad_offset) {
    const uint8_t *p = s;
    size_t i = 0;
    while (i < len) {
        size_t n = kh_utf8_decode(p + i, len - i, NULL);
        if (n == 0) {
            if (bad_offset)
                *bad_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}
