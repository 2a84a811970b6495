// Backfill: existing groups with all their members, one og.group.snapshot `data` object
// per line, written into the ledger through the same door as webhooks. Re-running a file
// is safe and cheap: each line's event id is derived from its content, so lines already
// taken are duplicates and work already synced is not repeated.
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Refused } from '../events/admission.js';
import type { OgEvent } from '../events/model.js';
import { parseNativeEvent } from '../events/native.js';
import type { AcceptOutcome, EventLog } from '../ledger/store.js';

export interface LineProblem {
  line: number;
  error: string;
}

export interface IntakeSummary {
  groups: number;
  members: number;
  accepted: number;
  duplicates: number;
  /** Lines not taken: malformed, or refused by the admission rules. */
  skipped: LineProblem[];
}

/**
 * Turns one line into a snapshot event. `defaultAt` dates lines without a `timestamp`
 * (the time of the export), so a later webhook still wins over the snapshot.
 */
export function snapshotEventOf(line: string, defaultAt: Date, receivedAt: number): OgEvent | { error: string } {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return { error: 'not valid JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { error: 'not a JSON object' };
  const stamp = (data as { timestamp?: unknown }).timestamp;
  const timestamp = typeof stamp === 'string' ? stamp : defaultAt.toISOString();
  const parsed = parseNativeEvent({ type: 'og.group.snapshot', timestamp, data });
  if (!parsed.ok) return { error: parsed.detail.replace(/^\/data/, '') || 'does not match a snapshot' };
  const { change, occurredAt } = parsed.value;
  const digest = createHash('sha256').update(line).digest('hex').slice(0, 32);
  const ogId = change.type === 'og.group.snapshot' ? change.group.id : 0;
  return { id: `backfill-${ogId}-${digest}`, source: 'og', occurredAt: occurredAt!, receivedAt, change };
}

/** Reads every line into the store; lines malformed or refused are reported with their number and skipped. */
export async function ingestSnapshots(input: Readable, store: Pick<EventLog, 'accept'>, defaultAt: Date, onLine?: (s: IntakeSummary) => void) {
  const summary: IntakeSummary = { groups: 0, members: 0, accepted: 0, duplicates: 0, skipped: [] };
  let lineNo = 0;
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    const event = snapshotEventOf(line, defaultAt, Date.now());
    if ('error' in event) {
      summary.skipped.push({ line: lineNo, error: event.error });
      continue;
    }
    let outcome: AcceptOutcome;
    try {
      outcome = await store.accept(event);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      summary.skipped.push({ line: lineNo, error: error.message });
      continue;
    }
    summary[outcome === 'accepted' ? 'accepted' : 'duplicates']++;
    summary.groups++;
    if (event.change.type === 'og.group.snapshot') summary.members += event.change.members.length;
    onLine?.(summary);
  }
  return summary;
}
