/**
 * Form fields as PHP sees them ($_GET, $_POST): `a.b` and `a b` arrive as `a_b`,
 * `a[x]=1` and `a[]=1` build nested arrays (php_register_variable_ex in php-src
 * main/php_variables.c, as read in a PHP 8 copy), and the request body counts only when
 * form-encoded — a JSON body leaves $_POST empty.
 */
export type FormFields = Record<string, unknown>;

function decode(part: string): string {
  const plus = part.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return unescape(plus);
  }
}

/** Splits `name[a][b]` into `name` (PHP-mangled) and the bracketed segments. */
function splitName(raw: string): [string, string[]] {
  const name = raw.replace(/^ +/, '');
  const open = name.indexOf('[');
  const close = open >= 0 ? name.indexOf(']', open) : -1;
  if (open <= 0 || close < 0) return [name.replace(/[ .[]/g, '_'), []];
  const base = name.slice(0, open).replace(/[ .]/g, '_');
  const segments: string[] = [];
  const re = /\[([^\]]*)\]/gy;
  re.lastIndex = open;
  for (let m = re.exec(name); m; m = re.exec(name)) segments.push(m[1]!);
  return [base, segments];
}

type Node = Record<string, unknown>;

function assign(target: Node, key: string, path: readonly string[], value: string): void {
  if (path.length === 0) {
    target[key] = value;
    return;
  }
  let child = target[key];
  if (typeof child !== 'object' || child === null) target[key] = child = {};
  const node = child as Node;
  const [head = '', ...rest] = path;
  const nextKey = head === '' ? String(Object.keys(node).filter((k) => /^\d+$/.test(k)).length) : head;
  assign(node, nextKey, rest, value);
}

/** Objects keyed 0..n-1 become lists, as json_encode would show them. */
function lists(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const node = value as Node;
  const keys = Object.keys(node);
  const converted = Object.fromEntries(keys.map((k) => [k, lists(node[k])]));
  return keys.length > 0 && keys.every((k, i) => k === String(i)) ? keys.map((k) => converted[k]) : converted;
}

export function parseForm(encoded: string): FormFields {
  const fields: Node = {};
  for (const pair of encoded.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const [base, path] = splitName(decode(eq < 0 ? pair : pair.slice(0, eq)));
    if (base === '') continue;
    assign(fields, base, path, eq < 0 ? '' : decode(pair.slice(eq + 1)));
  }
  return lists(fields) as FormFields;
}

/** A field's value when it is a plain string; '' when absent or an array. */
export function textField(fields: FormFields, name: string): string {
  const value = fields[name];
  return typeof value === 'string' ? value : '';
}

/** $_REQUEST as CRM_Utils_Request::exportValues() builds it, $_GET then $_POST: the body's fields win (CRM/Utils/Request.php, 4.7 and 5.69). */
export function requestFields(query: string, body: string, contentType: string | undefined): FormFields {
  const isForm = (contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
  return { ...parseForm(query), ...(isForm ? parseForm(body) : {}) };
}
