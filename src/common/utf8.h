/* utf8.h - one UTF-8 decoder for every module that checks, copies or
 * repairs text from outside (HTTP bodies, CloudEvents attributes, file
 * names, span tags).
 *
 * Well-formed means RFC 3629: no overlong forms, no surrogates
 * (U+D800-U+DFFF), nothing past U+10FFFF, no truncated sequence. What a
 * caller does with a malformed byte (refuse the text, write U+FFFD, write
 * '_') is its own policy; the decoder only says where a sequence ends.
 * No state: safe from any thread.
 */
#ifndef KH_COMMON_UTF8_H
#define KH_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point a malformed byte is replaced with by callers that repair
 * text rather than refuse it, and its UTF-8 bytes. */
#define KH_UTF8_REPLACEMENT 0xfffdu
#define KH_UTF8_REPLACEMENT_TEXT "\xef\xbf\xbd"

/* Length (1..4) of the well-formed sequence at s[0..len), 0 when it is
 * malformed or cut short by len (len == 0 also gives 0). When cp is
 * non-NULL and the result is not 0, *cp is the code point. A NUL byte is a
 * well-formed one-byte sequence; a NUL-terminated string may be passed with
 * len = strlen(s) or with any len that does not reach past the NUL, since a
 * sequence stops at the first byte that is not a continuation byte. */
size_t kh_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* True when s[0..len) is well-formed UTF-8. On false, *bad_offset (may be
 * NULL) is the byte offset of the first malformed sequence. */
bool kh_utf8_valid(const void *s, size_t len, size_t *bad_offset);

#endif
