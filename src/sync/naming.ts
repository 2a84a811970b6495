// How the service names what it makes in CiviCRM. The `source` strings are those of
// CiviCRM's own Drupal OG sync module, so groups it made are found and adopted.

export const TITLE_MAX = 255;
export const NAME_MAX = 64;
const ADMIN_SUFFIX = ': Administrator';

export function memberSource(ogId: number): string {
  return `OG Sync Group :${ogId}:`;
}

export function aclSource(ogId: number): string {
  return `OG Sync Group ACL :${ogId}:`;
}

/** The title a group shows before any group event brought its real one. */
export function placeholderTitle(ogId: number): string {
  return `OG ${ogId}`;
}

/** Unique, stable machine names; CiviCRM would otherwise derive them from the title. */
export function memberGroupName(ogId: number): string {
  return `og_sync_${ogId}`;
}

export function aclGroupName(ogId: number): string {
  return `og_sync_acl_${ogId}`;
}

/** `Acl.name` is varchar(64) like a group's name, so it is built from the id, not the title. */
export function aclName(ogId: number): string {
  return `OG Sync ACL :${ogId}:`;
}

/** `civicrm_contact.first_name` and `last_name` are varchar(64) (xml/schema/Contact/Contact.xml). */
const PERSON_NAME_MAX = 64;

/**
 * A Drupal name as a new contact's first or last name. CiviCRM refuses a longer one, and with it
 * the contact and every membership of its user (api/v3/utils.php, _civicrm_api3_validate_string).
 */
export function contactName(name: string): string {
  return cut(name, PERSON_NAME_MAX);
}

/** `civicrm_uf_match.uf_name` is varchar(128) (xml/schema/Core/UFMatch.xml). */
const UF_NAME_MAX = 128;

/**
 * A UFMatch's name for a user's email. An email too long for it would refuse the link, and with it
 * the contact; the link goes by `uf_id`, and CiviCRM itself keeps the first 128 characters of a
 * longer one where MySQL is not strict.
 */
export function ufName(email: string): string {
  return cut(email, UF_NAME_MAX);
}

export interface GroupTitles {
  member: string;
  acl: string;
}

/**
 * Titles of the two groups for OG title `title`. With `clash`, another group already
 * holds a wanted title, so both carry ` (OG N)` to stay unique and recognisably paired.
 */
export function groupTitles(ogId: number, title: string, clash: boolean): GroupTitles {
  // Each title is cut from the OG title, so a long one keeps the whole ` (OG N)` in both.
  const tag = clash ? ` (OG ${ogId})` : '';
  return { member: withSuffix(title, tag, TITLE_MAX), acl: withSuffix(title, tag + ADMIN_SUFFIX, TITLE_MAX) };
}

/** Appends `suffix`, cutting `text` so the whole fits `max` characters. */
function withSuffix(text: string, suffix: string, max: number): string {
  return cut(text, max - suffix.length) + suffix;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Cuts to at most `max` characters as CiviCRM counts them (code points), between the characters a
 * reader sees: an accent, a flag or a family emoji goes whole or not at all.
 */
function cut(text: string, max: number): string {
  const trimmed = text.trim();
  if (Array.from(trimmed).length <= max) return trimmed;
  let kept = '';
  let count = 0;
  for (const { segment } of graphemes.segment(trimmed)) {
    count += Array.from(segment).length;
    if (count > max) break;
    kept += segment;
  }
  return kept.trimEnd();
}
