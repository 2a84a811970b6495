/**
 * MySQL's utf8mb4_unicode_ci in miniature: CiviCRM's text columns compare without
 * regard to case, accents or trailing spaces, so `Chess Club`, `chess club ` and
 * `Chéss Club` are the same value to a UNIQUE index and to a `=` filter. The collation is
 * CiviCRM's schema default (xml/schema/Schema.xml `<collate>utf8mb4_unicode_ci</collate>`, 5.69);
 * that it ignores case and accents and pads with spaces (PAD SPACE) is MySQL's behaviour, not
 * read in MySQL's source here.
 */
export function collationKey(value: string): string {
  return value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/ +$/, '');
}

export function sameText(a: string, b: string): boolean {
  return collationKey(a) === collationKey(b);
}

/** Compares two strings the way ORDER BY does under that collation. */
export function compareText(a: string, b: string): number {
  const ka = collationKey(a);
  const kb = collationKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
