/**
 * MySQL's utf8mb4_unicode_ci in miniature: CiviCRM's text columns compare without
 * regard to case, accents or trailing spaces, so `Chess Club`, `chess club ` and
 * `Chéss Club` are the same value to a UNIQUE index and to a `=` filter.
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
