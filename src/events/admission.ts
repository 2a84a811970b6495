// The rules every event must pass before it touches the ledger, whatever brought it: a webhook,
// the operator API, a backfill line. The stores apply them in accept(), so no path can skip them.
import { DESCRIPTION_MAX_BYTES, type OgEvent, type OgGroup } from './model.js';

/** Far enough ahead for any honest clock; a change dated later would outrank every real one for ever. */
export const MAX_FUTURE_MS = 24 * 60 * 60_000;
/** The longest group title taken (CiviCRM keeps 255 characters of it: see sync/naming.ts). */
export const MAX_TITLE_LENGTH = 1024;

/** An event the rules refuse; nothing of it is stored. */
export class Refused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Refused';
  }
}

/** Why the event may not enter the ledger, or undefined when it may. */
export function admissionProblem(event: OgEvent): string | undefined {
  if (event.occurredAt > event.receivedAt + MAX_FUTURE_MS) return 'the change is dated more than a day in the future';
  const group = groupOf(event);
  if (group) {
    if (group.title.trim() === '') return 'the group title is blank';
    if (group.title.length > MAX_TITLE_LENGTH) return `the group title is longer than ${MAX_TITLE_LENGTH} characters`;
    if (group.description !== undefined && Buffer.byteLength(group.description, 'utf8') > DESCRIPTION_MAX_BYTES) {
      return `the group description is longer than ${DESCRIPTION_MAX_BYTES} bytes`;
    }
  }
  return undefined;
}

/** Throws Refused when the rules refuse the event. */
export function admit(event: OgEvent): void {
  const problem = admissionProblem(event);
  if (problem !== undefined) throw new Refused(problem);
}

function groupOf(event: OgEvent): OgGroup | undefined {
  const { change } = event;
  return 'group' in change ? change.group : undefined;
}
