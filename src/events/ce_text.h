/* ce_text.h - text helpers shared by the CloudEvents model, the JSON format
 * and the HTTP binding: value checks from the spec's type system (String,
 * Timestamp, media types), Base64, and a growable output buffer. Internal to
 * src/events, but with no hidden state: safe from any thread.
 */
#ifndef KH_EVENTS_CE_TEXT_H
#define KH_EVENTS_CE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF. */
bool kh_ce_utf8_valid(const uint8_t *s, size_t len);

/* A CloudEvents String: well-formed UTF-8 without the control characters
 * U+0000-U+001F and U+007F-U+009F and without Unicode noncharacters. On
 * failure *bad_offset (may be NULL) is the byte offset of the offence. */
bool kh_ce_string_valid(const char *s, size_t len, size_t *bad_offset);

/* RFC 3339 date-time: "2018-04-05T17:31:00Z", fractions and numeric
 * offsets; calendar ranges checked (Feb 29 only in leap years). */
bool kh_ce_timestamp_valid(const char *s);

/* RFC 2046 media type with optional parameters: type "/" subtype
 * *( ";" name "=" (token / quoted-string) ). */
bool kh_ce_media_type_valid(const char *s);

/* Copies the media type of `content_type` without parameters, lower-case,
 * into out ("Application/JSON; charset=x" -> "application/json"). Returns
 * false when it does not fit or content_type is NULL. */
bool kh_ce_media_type_essence(const char *content_type, char *out,
                              size_t out_len);

/* Absolute URI: a scheme ("[A-Za-z][A-Za-z0-9+.-]*:") followed by at least
 * one character, no white space. */
bool kh_ce_absolute_uri_valid(const char *s);

/* Base64 (RFC 4648, standard alphabet). Encode returns a malloc'd
 * NUL-terminated string (NULL when out of memory). Decode accepts missing
 * padding, refuses any other character; *out is malloc'd (never NULL on
 * success, even for empty input), *out_len its size. */
char *kh_ce_base64_encode(const uint8_t *data, size_t len);
bool kh_ce_base64_decode(const char *text, size_t len, uint8_t **out,
                         size_t *out_len);

/* Growable text buffer. Appends never fail loudly: a failed allocation sets
 * `failed` and later appends do nothing; check it once at the end. */
typedef struct kh_ce_buf {
    char *data; /* NUL-terminated when not failed; malloc'd */
    size_t len;
    size_t cap;
    bool failed;
} kh_ce_buf;

void kh_ce_buf_append(kh_ce_buf *buf, const void *data, size_t len);
void kh_ce_buf_append_str(kh_ce_buf *buf, const char *s);
/* Appends s (len bytes, valid UTF-8) as a quoted JSON string. */
void kh_ce_buf_append_json_string(kh_ce_buf *buf, const char *s, size_t len);
void kh_ce_buf_free(kh_ce_buf *buf);

#endif
