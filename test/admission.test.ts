// The admission rules every event passes before it touches the ledger (src/events/admission.ts).
import { describe, expect, it } from 'vitest';
import { admissionProblem, MAX_FUTURE_MS } from '../src/events/admission.js';
import type { OgChange, OgEvent } from '../src/events/model.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const event = (change: OgChange, occurredAt = NOW): OgEvent => ({ id: 'e', source: 'og', occurredAt, receivedAt: NOW, change });
const group = (title: string, description?: string): OgChange => ({
  type: 'og.group.updated',
  group: { id: 42, title, ...(description !== undefined && { description }) },
});

describe('admissionProblem', () => {
  it('takes changes dated up to a day ahead, and refuses later ones', () => {
    expect(admissionProblem(event(group('Chess'), NOW + MAX_FUTURE_MS))).toBeUndefined();
    expect(admissionProblem(event(group('Chess'), NOW + MAX_FUTURE_MS + 1))).toBe('the change is dated more than a day in the future');
    expect(admissionProblem(event({ type: 'og.membership.deleted', groupId: 42, userId: 7 }, NOW + 2 * MAX_FUTURE_MS))).toMatch(/future/);
  });

  it('refuses blank and overlong titles and descriptions CiviCRM could not keep, in every event that carries a group', () => {
    expect(admissionProblem(event(group(' \t')))).toBe('the group title is blank');
    expect(admissionProblem(event(group('x'.repeat(1025))))).toBe('the group title is longer than 1024 characters');
    expect(admissionProblem(event(group('Chess', 'é'.repeat(40_000))))).toBe('the group description is longer than 65535 bytes');
    expect(admissionProblem(event({ type: 'og.group.snapshot', group: { id: 1, title: '' }, members: [] }))).toMatch(/blank/);
    expect(admissionProblem(event(group('x'.repeat(1024), 'é'.repeat(32_767))))).toBeUndefined();
  });
});
