import { describe, expect, it } from 'vitest';
import { receivedEvent } from '../src/events/dating.js';

const received = Date.parse('2026-12-01T12:00:00Z');
const change = { type: 'og.membership.deleted', groupId: 42, userId: 7 } as const;

describe('receivedEvent', () => {
  it('keeps a time of its own, and is not dated again by the store', () => {
    expect(receivedEvent({ id: 'a', source: 'og', change }, received - 5, {}, received)).toEqual({
      id: 'a',
      source: 'og',
      change,
      occurredAt: received - 5,
      receivedAt: received,
    });
  });

  it("without one, carries this host's time until the store dates it by its own clock", () => {
    expect(receivedEvent({ id: 'b', source: 'drupal', change }, undefined, { after: received + 60_000 }, received)).toEqual({
      id: 'b',
      source: 'drupal',
      change,
      occurredAt: received,
      receivedAt: received,
      atReceipt: { after: received + 60_000 },
    });
  });
});
