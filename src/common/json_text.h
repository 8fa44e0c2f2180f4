/* json_text.h - writing a JSON string (RFC 8259 section 7) into a kh_text.
 *
 * One escaper for every module that writes JSON by hand (error bodies,
 * structured CloudEvents, span export, log lines). What differs between them
 * is explicit in the flags, not in separate copies:
 *  - whether the bytes are trusted to be UTF-8 (the caller checked them) or
 *    come from outside and may not be, in which case each byte that does not
 *    start a well-formed sequence becomes U+FFFD so the output stays valid
 *    JSON;
 *  - how escapes are spelled: the two-character forms (\n, \t, ...) or
 *    \uXXXX only.
 */
#ifndef KH_COMMON_JSON_TEXT_H
#define KH_COMMON_JSON_TEXT_H

#include <stddef.h>

#include "common/text.h"

enum {
    /* Default (0): \" \\ \b \f \n \r \t, other controls below U+0020 as
     * \u00xx, bytes from 0x80 up copied as they are. */
    KH_JSON_DEFAULT = 0,
    /* A byte that does not start a well-formed UTF-8 sequence (utf8.h)
     * becomes U+FFFD; well-formed sequences are copied. */
    KH_JSON_REPLACE_BAD_UTF8 = 1 << 0,
    /* Every escape spelled \uXXXX: controls as \u00xx (no two-character
     * forms) and a replacement as the six characters \ufffd rather than
     * its UTF-8 bytes. */
    KH_JSON_UNICODE_ESCAPES = 1 << 1,
};

/* Appends s[0..len) as a quoted JSON string ("..." with the quotes). NUL
 * bytes inside len are escaped as \u0000. */
void kh_json_string(kh_text *t, const char *s, size_t len, unsigned flags);

#endif
