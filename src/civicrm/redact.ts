// Finds the CiviCRM keys in text a server sent back, however they were encoded on the way.
// A proxy's 502 page or an error that repeats its parameters quotes the request: the form
// body percent-encodes a base64 key (`+` → `%2B`, `/` → `%2F`), PHP's json_encode writes
// `\/`, an HTML page escapes characters as references. Each character of a secret is
// matched in any of those spellings, so mixed encodings are caught too.

export const REDACTED = '[redacted]';

/** A function that replaces every spelling of every secret with `[redacted]`. */
export function secretRedactor(secrets: readonly string[]): (text: string) => string {
  const wanted = [...new Set(secrets.filter((s) => s !== ''))].sort((a, b) => b.length - a.length);
  if (wanted.length === 0) return (text) => text;
  const pattern = new RegExp(wanted.map(secretPattern).join('|'), 'g');
  return (text) => text.replace(pattern, REDACTED);
}

const NAMED_REFERENCES: Record<string, string[]> = {
  '&': ['amp'], '<': ['lt'], '>': ['gt'], '"': ['quot'], "'": ['apos'],
  '/': ['sol'], '+': ['plus'], '=': ['equals'], ' ': ['nbsp'],
};

function secretPattern(secret: string): string {
  return [...secret].map((char) => `(?:${spellings(char).join('|')})`).join('');
}

/** The ways one character may come back: as is, percent-encoded (once or twice), JSON- or HTML-escaped. */
function spellings(char: string): string[] {
  const code = char.codePointAt(0)!;
  const utf8 = [...Buffer.from(char, 'utf8')];
  const out = [
    escapeRegExp(char),
    utf8.map((byte) => `%(?:25)?${hex(byte, 2)}`).join(''),
    `&#0*${code};?`,
    `&#[xX]0*${hex(code)};?`,
  ];
  if (char === ' ') out.push('\\+');
  if (char === '/' || char === '"' || char === '\\') out.push(escapeRegExp(`\\${char}`));
  if (code <= 0xffff) out.push(`\\\\u${hex(code, 4)}`);
  for (const name of NAMED_REFERENCES[char] ?? []) out.push(`&${name};`);
  if (char === "'") out.push('&#39;');
  return out;
}

/** A case-insensitive pattern for `value` in hexadecimal, at least `width` digits. */
function hex(value: number, width = 1): string {
  return [...value.toString(16).padStart(width, '0')]
    .map((digit) => (/[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit))
    .join('');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
