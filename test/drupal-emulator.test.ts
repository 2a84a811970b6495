// The Drupal side of the tests speaks as Drupal does: its JSON encoder's bytes, and the
// fixtures written in them.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { drupalJsonEncode } from './drupal-emulator/json.js';

describe("Drupal's JSON encoder", () => {
  it("writes a title as PHP's json_encode with Drupal's flags does", () => {
    // The bytes PHP 8.2 writes with JSON_HEX_TAG | JSON_HEX_APOS | JSON_HEX_AMP | JSON_HEX_QUOT.
    expect(drupalJsonEncode({ title: [{ value: `Tom & Jerry's <Club> "A/B" café` }] })).toBe(
      String.raw`{"title":[{"value":"Tom \u0026 Jerry\u0027s \u003CClub\u003E \u0022A\/B\u0022 caf\u00e9"}]}`,
    );
  });

  it('escapes control characters and characters beyond the BMP, keeps DEL, writes empty maps as lists', () => {
    expect(drupalJsonEncode(['\n\t\u0001\\', '😀', '\u007f', {}, [], null, true, 1.5, 42])).toBe(
      String.raw`["\n\t\u0001\\","\ud83d\ude00","` + '\u007f' + String.raw`",[],[],null,true,1.5,42]`,
    );
  });
});

describe('the Drupal fixtures', () => {
  const dir = new URL('./fixtures/drupal/', import.meta.url);
  it.each(readdirSync(dir))('%s holds the bytes Drupal writes', (name) => {
    const bytes = readFileSync(new URL(name, dir), 'utf8');
    expect(drupalJsonEncode(JSON.parse(bytes))).toBe(bytes);
  });
});
