/**
 * Drupal's JSON encoder, byte for byte: what the `webhooks` module posts. The module encodes
 * with the `serializer` service in format `json` (src/WebhooksService.php, 8.x-1.0-alpha6 to
 * alpha8), which is core's Drupal\serialization\Encoder\JsonEncoder
 * (core/modules/serialization/src/Encoder/JsonEncoder.php): PHP's json_encode with JSON_HEX_TAG |
 * JSON_HEX_APOS | JSON_HEX_AMP | JSON_HEX_QUOT, and without JSON_UNESCAPED_SLASHES or
 * JSON_UNESCAPED_UNICODE. Those flags came with 8.3.0 (issue #2813755); read at 8.3.0, 8.9.20,
 * 9.5.11, 10.3.0, 11.0.0 and 11.4.5 (11.4 adds JSON_INVALID_UTF8_SUBSTITUTE, which only touches
 * invalid UTF-8). 8.0 to 8.2 used Symfony's JsonEncoder with no flags, so `<` `>` `&` `'` `"`
 * went out plain there. So:
 * `<` `>` `&` `'` `"` inside strings become `\u003C` `\u003E` `\u0026` `\u0027` `\u0022`
 * (upper-case hex, from the HEX flags), `/` becomes `\/`, and every non-ASCII character
 * becomes `\u` with lower-case hex (a UTF-16 surrogate pair beyond the BMP), as
 * php_json_escape_string in php-src ext/json/json_encoder.c writes them (read in a PHP 8.4 or later
 * copy). No white space; an empty PHP array is `[]`.
 */
export function drupalJsonEncode(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // Shortest round-trip digits: php_json_encode_double prints with serialize_precision
  // (ext/json/json_encoder.c); the emulator assumes its -1 setting, not checked here.
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return encodeString(value);
  if (Array.isArray(value)) return `[${value.map(drupalJsonEncode).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  // PHP has one array type: an empty map encodes as a list.
  if (entries.length === 0) return '[]';
  return `{${entries.map(([key, item]) => `${encodeString(key)}:${drupalJsonEncode(item)}`).join(',')}}`;
}

const HEX_FLAGS: Record<string, string> = { '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', "'": '\\u0027', '"': '\\u0022' };
const SHORT: Record<string, string> = { '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function encodeString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    const code = text.charCodeAt(i);
    out += HEX_FLAGS[char] ?? SHORT[char] ?? (code < 0x20 || code > 0x7f ? `\\u${code.toString(16).padStart(4, '0')}` : char);
  }
  return `${out}"`;
}
