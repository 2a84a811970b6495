import { describe, expect, it } from 'vitest';
import { Activity } from '../src/activity.js';

const MINUTE = 60_000;

describe('Activity', () => {
  it('counts per minute, keeps the largest backlog read, and forgets minutes older than the span', () => {
    let now = Date.UTC(2026, 11, 2, 10, 0, 30);
    const activity = new Activity(3, () => now);
    activity.accepted();
    activity.accepted();
    activity.backlog(5);
    activity.backlog(3);
    now += MINUTE;
    activity.accepted();
    expect(activity.view()).toEqual([
      { at: '2026-12-02T09:59:00.000Z', accepted: 0, backlog: null },
      { at: '2026-12-02T10:00:00.000Z', accepted: 2, backlog: 5 },
      { at: '2026-12-02T10:01:00.000Z', accepted: 1, backlog: null },
    ]);
    // Three minutes on, the slot of 10:00 is reused and starts from nothing.
    now += 2 * MINUTE;
    activity.backlog(1);
    expect(activity.view()).toEqual([
      { at: '2026-12-02T10:01:00.000Z', accepted: 1, backlog: null },
      { at: '2026-12-02T10:02:00.000Z', accepted: 0, backlog: null },
      { at: '2026-12-02T10:03:00.000Z', accepted: 0, backlog: 1 },
    ]);
    now += 10 * MINUTE;
    expect(activity.view().every((m) => m.accepted === 0 && m.backlog === null)).toBe(true);
  });
});
