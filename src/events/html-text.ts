// Plain text of a Drupal formatted-text value (a group node's `body`), for CiviCRM's group
// description. Any editor of group content controls this HTML, so it goes through a
// streaming tokenizer (htmlparser2) whose work grows linearly with the input, whatever its
// shape: no backtracking regular expression ever sees the markup.
import { Parser } from 'htmlparser2';

// Elements that start a new line where a browser would start a new block.
const BLOCKS = new Set([
  'p', 'div', 'br', 'li', 'ul', 'ol', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'blockquote', 'pre', 'tr', 'table', 'section', 'article',
]);
// Their content is code, not text.
const HIDDEN = new Set(['script', 'style', 'template']);

/**
 * Tags dropped, character references decoded as a browser decodes them, white space
 * collapsed as HTML renders it, one line per block.
 */
export function htmlToText(html: string): string {
  const pieces: string[] = [];
  let hidden = 0;
  const parser = new Parser(
    {
      onopentagname(name) {
        if (HIDDEN.has(name)) hidden++;
        else if (BLOCKS.has(name)) pieces.push('\n');
      },
      onclosetag(name) {
        if (HIDDEN.has(name)) hidden = Math.max(0, hidden - 1);
        else if (BLOCKS.has(name)) pieces.push('\n');
      },
      ontext(text) {
        // Line breaks in the source are mere spaces in HTML; block boundaries are the real ones.
        if (hidden === 0) pieces.push(text.replace(/\s+/g, ' '));
      },
    },
    { decodeEntities: true },
  );
  parser.end(html);
  return pieces
    .join('')
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter((line) => line !== '')
    .join('\n');
}
