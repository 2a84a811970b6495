// The plain text kept from a group node's HTML body: what it reads like, and that no shape of
// hostile markup makes it slow or wrong. Random inputs come from a seeded PRNG.
import { describe, expect, it } from 'vitest';
import { htmlToText } from '../src/events/html-text.js';
import { DESCRIPTION_MAX_BYTES, fitDescription } from '../src/events/model.js';
import { Random } from './support/random.js';

const SEED = 20_261_202;

describe('htmlToText', () => {
  it('drops tags, scripts, styles, templates and comments', () => {
    expect(htmlToText('<h2>About</h2><!-- draft --><p class="lead">Strong <b>play</b>.<script>alert(1)</script></p><style>p{}</style><template><p>x</p></template>'))
      .toBe('About\nStrong play.');
  });

  it('decodes character references as a browser does, the whole HTML table included', () => {
    expect(htmlToText('<p>Tom&#39;s &lt;club&gt; &#x2014; &quot;open&quot; &amp; free&hellip; &spades; &AMP;</p>')).toBe('Tom\'s <club> — "open" & free… ♠ &');
  });

  it('turns impossible numeric references into U+FFFD and leaves unknown names as written', () => {
    expect(htmlToText('<p>&#0; &#x110000; &bogus;</p>')).toBe('\uFFFD \uFFFD &bogus;');
  });

  it('keeps a lone < or & that starts no tag or reference', () => {
    expect(htmlToText('a < b & c')).toBe('a < b & c');
  });

  it('keeps blocks and line breaks on separate lines and collapses spaces', () => {
    expect(htmlToText('<ul>\n  <li>Tuesdays</li>\n  <li>Thursdays</li>\n</ul>Ask   <em>Ann</em><br>or Bo')).toBe('Tuesdays\nThursdays\nAsk Ann\nor Bo');
  });

  it('joins the source lines of one paragraph, as a browser would', () => {
    expect(htmlToText('<p>We meet\r\nevery   Tuesday.</p>\r\n<p>Welcome!</p>')).toBe('We meet every Tuesday.\nWelcome!');
  });

  it('keeps plain text untouched and empty paragraphs out', () => {
    expect(htmlToText('Just text')).toBe('Just text');
    expect(htmlToText('<p>&nbsp;</p>\n<p> </p>')).toBe('');
  });

  it('reads escaped text back as it was written, for any text', () => {
    const random = new Random(SEED);
    const alphabet = ['a', 'é', ' ', '\n', '<', '>', '&', '"', "'", '/', '-', '!', '#', ';', '😀'];
    for (let i = 0; i < 500; i++) {
      const text = Array.from({ length: random.int(0, 40) }, () => random.pick(alphabet)).join('');
      const escaped = text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
      expect(htmlToText(`<p>${escaped}</p>`)).toBe(text.replace(/\s+/g, ' ').trim());
    }
  });
});

// Shapes that make backtracking or re-scanning parsers quadratic: something opened and never closed.
const HOSTILE = ['<', '<a', '<a ', '<a x="', "<a x='", '</', '<!--', '<!-- <!--', '-->', '<![CDATA[', '<!', '<?', '<script>', '<style>', '&', '&#', '&#x', '&amp', '&#x1F600', '\u0000', '<p>', '<br/>'];

describe('hostile markup', () => {
  it('floods of every shape, 1 MiB each, come out in full and bounded (each would take minutes if quadratic)', () => {
    for (const shape of HOSTILE) {
      const html = shape.repeat(Math.ceil(1024 * 1024 / shape.length));
      const text = htmlToText(html);
      expect(text.length).toBeLessThanOrEqual(html.length);
      expect(text).not.toMatch(/^\s|\s$|\n\n/);
    }
  });

  it('random compositions of the shapes, entities and text always give clean text', () => {
    const random = new Random(SEED);
    const words = ['Chess', ' club ', '\t', '\r\n', '&nbsp;', '&lt;', '&#233;', '"', 'é', '</p>', '<b>', '</script>', '-->'];
    for (let i = 0; i < 2_000; i++) {
      const html = Array.from({ length: random.int(1, 60) }, () => random.pick(random.int(0, 1) ? HOSTILE : words)).join('');
      const text = htmlToText(html);
      expect(text.length).toBeLessThanOrEqual(html.length);
      expect(text, html).not.toMatch(/^\s|\s$|\n\n|[ \t\r]{2}/);
    }
  });
});

describe('fitDescription', () => {
  it('keeps a description CiviCRM can store as it is', () => {
    const text = 'é'.repeat(DESCRIPTION_MAX_BYTES / 2 - 1) + 'a';
    expect(fitDescription(text)).toBe(text);
  });

  it('cuts a longer one to 65,535 bytes of UTF-8 without splitting a character', () => {
    for (const char of ['a', 'é', '€', '😀']) {
      const fitted = fitDescription(char.repeat(70_000));
      const bytes = Buffer.byteLength(fitted, 'utf8');
      expect(bytes).toBeLessThanOrEqual(DESCRIPTION_MAX_BYTES);
      expect(bytes).toBeGreaterThan(DESCRIPTION_MAX_BYTES - 4);
      expect(fitted).toBe(char.repeat([...fitted].length));
    }
  });
});
