import { describe, expect, it } from 'vitest';
import {
  NAME_MAX,
  TITLE_MAX,
  aclGroupName,
  aclName,
  aclSource,
  contactName,
  groupTitles,
  memberGroupName,
  memberSource,
  placeholderTitle,
} from '../src/sync/naming.js';
import { objectTableFor } from '../src/sync/records.js';

/** Characters as MySQL's utf8mb4 varchar counts them: code points, not UTF-16 units. */
const chars = (text: string) => Array.from(text).length;

/** True when `text` holds a lone surrogate, i.e. an emoji was cut in half. */
const splitsSurrogate = (text: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

const OG_IDS = [1, 7, 42, 999, 123_456_789, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER];

describe('sources', () => {
  it('are exactly those of the CiviCRM Drupal OG sync module', () => {
    expect(memberSource(42)).toBe('OG Sync Group :42:');
    expect(aclSource(42)).toBe('OG Sync Group ACL :42:');
    expect(memberSource(1)).toBe('OG Sync Group :1:');
    expect(aclSource(1)).toBe('OG Sync Group ACL :1:');
  });

  it('fit the source column (varchar 64) for any OG id', () => {
    for (const id of OG_IDS) {
      expect(memberSource(id).length).toBeLessThanOrEqual(64);
      expect(aclSource(id).length).toBeLessThanOrEqual(64);
    }
  });

  it('differ between the two groups and between OG ids, also ids that are prefixes of each other', () => {
    const all = [1, 12, 123, 21].flatMap((id) => [memberSource(id), aclSource(id)]);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('placeholder title', () => {
  it('is `OG N`', () => {
    expect(placeholderTitle(42)).toBe('OG 42');
    expect(placeholderTitle(1)).toBe('OG 1');
  });

  it('gives `OG N` and `OG N: Administrator` as group titles', () => {
    expect(groupTitles(42, placeholderTitle(42), false)).toEqual({ member: 'OG 42', acl: 'OG 42: Administrator' });
  });
});

describe('machine names', () => {
  it('are at most 64 characters for any OG id', () => {
    expect(NAME_MAX).toBe(64);
    for (const id of OG_IDS) {
      expect(memberGroupName(id).length).toBeLessThanOrEqual(64);
      expect(aclGroupName(id).length).toBeLessThanOrEqual(64);
      expect(aclName(id).length).toBeLessThanOrEqual(64);
    }
  });

  it('do not depend on the title (a long title cannot break the name column)', () => {
    expect(memberGroupName(42)).not.toContain(' ');
    expect(memberGroupName(42)).toBe(memberGroupName(42));
  });

  it('are unique per group and kind', () => {
    const ids = [1, 2, 10, 11, 12, 21, 100, 111, 1_000_000, Number.MAX_SAFE_INTEGER];
    const groupNames = ids.flatMap((id) => [memberGroupName(id), aclGroupName(id)]);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    // CiviCRM compares names case-insensitively.
    expect(new Set(groupNames.map((n) => n.toLowerCase())).size).toBe(groupNames.length);
    const aclNames = ids.map(aclName);
    expect(new Set(aclNames).size).toBe(aclNames.length);
  });

  it('are only made of characters CiviCRM keeps in a group name', () => {
    for (const id of OG_IDS) {
      expect(memberGroupName(id)).toMatch(/^[A-Za-z0-9_]+$/);
      expect(aclGroupName(id)).toMatch(/^[A-Za-z0-9_]+$/);
    }
  });
});

describe('group titles', () => {
  it('are `T` and `T: Administrator`', () => {
    expect(groupTitles(42, 'Chess Club', false)).toEqual({ member: 'Chess Club', acl: 'Chess Club: Administrator' });
  });

  it('trim surrounding blanks of the OG title', () => {
    expect(groupTitles(42, '  Chess Club \n', false)).toEqual({ member: 'Chess Club', acl: 'Chess Club: Administrator' });
  });

  it('leave a 240-character title whole in both groups', () => {
    const title = 'a'.repeat(240);
    expect(groupTitles(42, title, false)).toEqual({ member: title, acl: `${title}: Administrator` });
    expect(chars(`${title}: Administrator`)).toBe(TITLE_MAX);
  });

  it('keep a 255-character title whole for the member group and cut it for the ACL group', () => {
    const title = 'b'.repeat(TITLE_MAX);
    const { member, acl } = groupTitles(42, title, false);
    expect(member).toBe(title);
    expect(acl).toBe(`${'b'.repeat(240)}: Administrator`);
    expect(chars(acl)).toBe(TITLE_MAX);
  });

  it('cut a 300-character title so each whole title fits 255 characters', () => {
    const title = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const { member, acl } = groupTitles(42, title, false);
    expect(member).toBe(title.slice(0, 255));
    expect(acl).toBe(`${title.slice(0, 240)}: Administrator`);
    expect(chars(member)).toBeLessThanOrEqual(TITLE_MAX);
    expect(chars(acl)).toBeLessThanOrEqual(TITLE_MAX);
  });

  it('do not end a cut title on a blank before the suffix', () => {
    const title = `${'c'.repeat(239)} ${'d'.repeat(60)}`;
    expect(groupTitles(42, title, false).acl).toBe(`${'c'.repeat(239)}: Administrator`);
  });

  it('count emoji as one character and never split a surrogate pair', () => {
    // 300 emoji: 600 UTF-16 units.
    const title = '\u{1F600}'.repeat(300);
    const { member, acl } = groupTitles(42, title, false);
    expect(chars(member)).toBe(TITLE_MAX);
    expect(member).toBe('\u{1F600}'.repeat(255));
    expect(chars(acl)).toBe(TITLE_MAX);
    expect(acl).toBe(`${'\u{1F600}'.repeat(240)}: Administrator`);
    expect(splitsSurrogate(member)).toBe(false);
    expect(splitsSurrogate(acl)).toBe(false);
  });

  it('cut between the characters a reader sees: an accent or a flag goes whole or not at all', () => {
    // "e" and a combining acute accent at code points 255 and 256; a flag of two code points at 240-241.
    expect(groupTitles(42, `${'a'.repeat(254)}e\u0301 club`, false).member).toBe('a'.repeat(254));
    expect(groupTitles(42, `${'a'.repeat(239)}\u{1F1E9}\u{1F1EA} club`, false).acl).toBe(`${'a'.repeat(239)}: Administrator`);
    expect(contactName(`${'b'.repeat(63)}\u{1F468}\u200D\u{1F469}\u200D\u{1F467}`)).toBe('b'.repeat(63));
  });

  it('never split a surrogate pair that straddles the cut, whatever the offset', () => {
    for (let lead = 230; lead <= 260; lead++) {
      const title = 'x'.repeat(lead) + '\u{1F3C6}\u{1F947}'.repeat(30);
      for (const clash of [false, true]) {
        const { member, acl } = groupTitles(7, title, clash);
        expect(splitsSurrogate(member)).toBe(false);
        expect(splitsSurrogate(acl)).toBe(false);
        expect(chars(member)).toBeLessThanOrEqual(TITLE_MAX);
        expect(chars(acl)).toBeLessThanOrEqual(TITLE_MAX);
      }
    }
  });
});

describe('clash suffix', () => {
  it('is `T (OG N)` and `T (OG N): Administrator`', () => {
    expect(groupTitles(42, 'Chess Club', true)).toEqual({
      member: 'Chess Club (OG 42)',
      acl: 'Chess Club (OG 42): Administrator',
    });
  });

  it('is used on the placeholder too', () => {
    expect(groupTitles(42, placeholderTitle(42), true)).toEqual({ member: 'OG 42 (OG 42)', acl: 'OG 42 (OG 42): Administrator' });
  });

  it('keeps a 255-character title within 255 with the whole suffix on both groups', () => {
    const title = 'e'.repeat(TITLE_MAX);
    const { member, acl } = groupTitles(42, title, true);
    expect(member).toBe(`${'e'.repeat(TITLE_MAX - ' (OG 42)'.length)} (OG 42)`);
    expect(acl).toBe(`${'e'.repeat(TITLE_MAX - ' (OG 42): Administrator'.length)} (OG 42): Administrator`);
    expect(chars(member)).toBe(TITLE_MAX);
    expect(chars(acl)).toBe(TITLE_MAX);
  });

  it('keeps a 300-character title within 255 with the whole suffix on both groups', () => {
    const title = 'f'.repeat(300);
    for (const id of [5, 123_456]) {
      const { member, acl } = groupTitles(id, title, true);
      expect(member.endsWith(` (OG ${id})`)).toBe(true);
      expect(acl.endsWith(` (OG ${id}): Administrator`)).toBe(true);
      expect(chars(member)).toBe(TITLE_MAX);
      expect(chars(acl)).toBe(TITLE_MAX);
      expect(member.startsWith('f'.repeat(200))).toBe(true);
      expect(acl.startsWith('f'.repeat(200))).toBe(true);
    }
  });

  it('keeps emoji titles whole at the cut with the suffix', () => {
    const title = '\u{1F600}'.repeat(300);
    const { member, acl } = groupTitles(42, title, true);
    expect(member).toBe(`${'\u{1F600}'.repeat(TITLE_MAX - 8)} (OG 42)`);
    expect(acl).toBe(`${'\u{1F600}'.repeat(TITLE_MAX - 23)} (OG 42): Administrator`);
    expect(splitsSurrogate(member)).toBe(false);
    expect(splitsSurrogate(acl)).toBe(false);
  });

  it('differs from the plain titles, so the clashing group keeps its own', () => {
    const plain = groupTitles(42, 'Chess Club', false);
    const clash = groupTitles(42, 'Chess Club', true);
    expect(clash.member).not.toBe(plain.member);
    expect(clash.acl).not.toBe(plain.acl);
  });
});

describe('objectTableFor', () => {
  it.each([
    ['5.63.2', 'civicrm_saved_search'],
    ['5.63.0', 'civicrm_saved_search'],
    ['5.9', 'civicrm_saved_search'],
    ['5.9.1', 'civicrm_saved_search'],
    ['4.7.31', 'civicrm_saved_search'],
    ['5.64.0', 'civicrm_group'],
    ['5.64', 'civicrm_group'],
    ['5.64.beta1', 'civicrm_group'],
    ['5.65.1', 'civicrm_group'],
    ['5.100.0', 'civicrm_group'],
    ['6.1', 'civicrm_group'],
    ['6.0.0', 'civicrm_group'],
  ] as const)('%s → %s', (version, table) => {
    expect(objectTableFor(version)).toBe(table);
  });
});
