// Every problem the service answers with, declared once: its HTTP status, how long to wait before
// a retry where one helps, and what it means. The routes throw them by name and declare the ones
// they answer with; openapi.yaml lists them from here. The name is the last part of the problem's
// `type` and the metrics reason label.
import { Type } from 'typebox';
import { ref } from './schemas.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

export interface ProblemType {
  status: number;
  /** Sent as Retry-After: the problem passes by itself. */
  retryAfterSeconds?: number;
  description: string;
}

export const PROBLEM_TYPES = {
  'bad-url': { status: 400, description: 'The URL has a malformed percent-escape.' },
  'malformed-request': { status: 400, description: 'The request is not well-formed HTTP/1.1 (e.g. Content-Length with Transfer-Encoding).' },
  'invalid-content-length': { status: 400, description: 'The Content-Length does not match the body.' },
  'invalid-json': { status: 400, description: 'The body is empty, not strict UTF-8, or not JSON.' },
  'invalid-event': { status: 400, description: 'The event does not match its schema; the detail names the field.' },
  'invalid-request': { status: 400, description: 'A path or query parameter is out of range, malformed, or not allowed with the others.' },
  'missing-delivery-id': { status: 400, description: 'The delivery id header (webhook-id, or the Drupal module\'s delivery header) is missing.' },
  'invalid-delivery-id': { status: 400, description: 'The delivery id header is not 1 to 255 printable ASCII characters.' },
  'request-error': { status: 400, description: 'Another refusal of the request by the HTTP framework (the status says which).' },
  'bad-signature': { status: 401, description: 'The signature is missing, wrong, or too old: check WEBHOOK_SECRETS on both sides.' },
  unauthorized: { status: 401, description: 'The operator API needs Authorization: Bearer <ADMIN_TOKEN>.' },
  'not-found': { status: 404, description: 'No such route; /admin/* and /console/ do not exist while ADMIN_TOKEN is unset.' },
  'unknown-event': { status: 404, description: 'No event with this id is stored (it may have been pruned).' },
  'unknown-group': { status: 404, description: 'The service has seen no event of this OG group.' },
  'request-timeout': { status: 408, description: 'The request did not arrive within REQUEST_TIMEOUT.' },
  'group-busy': { status: 409, description: 'The group is being synced right now; retry shortly.' },
  'body-too-large': { status: 413, description: 'The body is larger than 1 MiB.' },
  'uri-too-long': { status: 414, description: 'A path segment of the URL is too long.' },
  'unsupported-media-type': { status: 415, description: 'The body must be application/json.' },
  overloaded: { status: 429, retryAfterSeconds: 1, description: 'Too many deliveries in flight at once.' },
  'headers-too-large': { status: 431, description: 'The request headers are too large.' },
  internal: { status: 500, description: 'An unexpected failure; the log has the details.' },
  'store-unavailable': { status: 503, retryAfterSeconds: 5, description: 'The store cannot take writes (database down, disk full); nothing was stored.' },
  'shutting-down': { status: 503, retryAfterSeconds: 5, description: 'The service is stopping; another replica or the restarted one will answer.' },
  'civicrm-unavailable': { status: 503, retryAfterSeconds: 30, description: 'CiviCRM could not be read for a reconcile.' },
} as const satisfies Record<string, ProblemType>;

export type ProblemName = keyof typeof PROBLEM_TYPES;

/** The `type` URI of a problem. */
export function problemTypeUri(name: string): string {
  return `urn:og-civicrm-sync:problem:${name}`;
}

/**
 * What Node, the router and the service as a whole may answer on any route, before or around the
 * route's own work: declared as every route's `default` answer.
 */
const ANY_ROUTE: ProblemName[] = [
  'internal',
  'request-timeout',
  'bad-url',
  'uri-too-long',
  'headers-too-large',
  'malformed-request',
  'request-error',
  'shutting-down',
];

export const Problem = Type.Object(
  {
    type: Type.Enum(
      Object.keys(PROBLEM_TYPES).map(problemTypeUri),
      {
        format: 'uri-reference',
        description:
          'Names the problem:\n\n' +
          Object.entries(PROBLEM_TYPES)
            .map(([name, type]: [string, ProblemType]) =>
              `- \`${name}\` (${type.status}${type.retryAfterSeconds === undefined ? '' : `, Retry-After ${type.retryAfterSeconds}`}): ${type.description}`,
            )
            .join('\n'),
        examples: [problemTypeUri('bad-signature')],
      },
    ),
    title: Type.String({ description: 'The HTTP status phrase', examples: ['Unauthorized'] }),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String({ examples: ['message timestamp too old (more than 5 minutes off)'] }),
  },
  { $id: 'Problem', description: `An RFC 9457 problem document; every error answer is one (\`${PROBLEM_MEDIA_TYPE}\`).` },
);

const RetryAfter = Type.Integer({ minimum: 1, description: 'Seconds to wait before trying again' });

/**
 * The response schemas of the problems a route answers with, by status. Those any route may
 * answer with join the route's own of the same status, or else the `default` answer. Each
 * answer's description names its problems.
 */
export function problemResponses(...names: ProblemName[]) {
  const byStatus = new Map<string, ProblemName[]>();
  const add = (key: string, name: ProblemName) => byStatus.set(key, [...(byStatus.get(key) ?? []), name]);
  for (const name of names) add(String(PROBLEM_TYPES[name].status), name);
  for (const name of ANY_ROUTE) {
    const status = String(PROBLEM_TYPES[name].status);
    add(byStatus.has(status) ? status : 'default', name);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, problems]) => [
      status,
      {
        description: problems.map((name) => `\`${name}\`: ${PROBLEM_TYPES[name].description}`).join(' '),
        ...(problems.some((name) => 'retryAfterSeconds' in PROBLEM_TYPES[name]) && { headers: { 'Retry-After': RetryAfter } }),
        content: { [PROBLEM_MEDIA_TYPE]: { schema: ref(Problem) } },
      },
    ]),
  );
}
