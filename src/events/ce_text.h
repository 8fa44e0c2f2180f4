/* ce_text.h - value checks from the CloudEvents type system (String,
 * Timestamp, URI, media types) shared by the model, the JSON format and the
 * HTTP binding. Internal to src/events, but with no hidden state: safe from
 * any thread. UTF-8, Base64 and the output buffer are common/utf8.h,
 * common/base64.h and common/text.h.
 */
#ifndef KH_EVENTS_CE_TEXT_H
#define KH_EVENTS_CE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
