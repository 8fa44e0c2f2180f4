/* json_text.c - see json_text.h. */
#include "common/json_text.h"

#include <stdint.h>

#include "common/utf8.h"

/* The two-character escape of a control character, 0 when it has none. */
static char short_escape(unsigned char c) {
    switch (c) {
    case '\b': return 'b';
    case '\f': return 'f';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    default: return 0;
    }
}

void kh_json_string(kh_text *t, const char *s, size_t len, unsigned flags) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const int replace = (flags & KH_JSON_REPLACE_BAD_UTF8) != 0;
    const int unicode_only = (flags & KH_JSON_UNICODE_ESCAPES) != 0;
    kh_text_putc(t, '"');
    size_t i = 0;
    while (i < len) {
        /* Runs of bytes that need nothing go out in one append. */
        size_t run = i;
        while (i < len && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
               (p[i] < 0x80 || !replace))
            i++;
        if (i > run)
            kh_text_append(t, p + run, i - run);
        if (i == len)
            break;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            kh_text_append(t, esc, 2);
            i++;
        } else if (c < 0x20) {
            char letter = unicode_only ? 0 : short_escape(c);
            if (letter) {
                char esc[2] = {'\\', letter};
                kh_text_append(t, esc, 2);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                kh_text_append(t, esc, 6);
            }
            i++;
        } else {
            /* c >= 0x80 and bad UTF-8 is to be replaced. */
            size_t n = kh_utf8_decode(p + i, len - i, NULL);
            if (n > 0) {
                kh_text_append(t, p + i, n);
                i += n;
            } else {
                kh_text_puts(t, unicode_only ? "\\ufffd"
                                             : KH_UTF8_REPLACEMENT_TEXT);
                i++;
            }
        }
    }
    kh_text_putc(t, '"');
}
