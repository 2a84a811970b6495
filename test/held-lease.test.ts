// A held lease as its holder sees it: kept while renewals are answered, lost when one is refused,
// fails, or hangs past the lease's length.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseLost, type Lease } from '../src/ledger/store.js';
import { fencedClient, HeldLease, type CiviApi } from '../src/sync/lease.js';

const LEASE: Lease = { ogId: 42, owner: 'w1', token: 1 };
const LEASE_MS = 15_000;

let clock = 0;
const now = () => clock;
/** Moves the monotonic clock and the renewal timer together. */
async function pass(ms: number) {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  clock = 0;
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

// Never reached: a lost lease refuses before the call.
const unreachable = async () => {
  throw new Error('sent to CiviCRM under a lost lease');
};
const civi: CiviApi = { call: unreachable, batch: unreachable, getAll: unreachable, version: async () => '5.69.0' };

describe('HeldLease', () => {
  it('is kept past its length while renewals are answered', async () => {
    const held = new HeldLease(LEASE, { renewLease: async () => true }, LEASE_MS, { now });
    const stop = held.keepAlive();
    await pass(60_000);
    expect(held.lost).toBe(false);
    stop();
  });

  it('is lost at once when a renewal is refused, and the fenced client sends nothing more', async () => {
    const held = new HeldLease(LEASE, { renewLease: async () => false }, LEASE_MS, { now });
    const stop = held.keepAlive();
    await pass(LEASE_MS / 3);
    expect(held.lost).toBe(true);
    expect(() => fencedClient(civi, held).call('Group', 'get', {})).toThrow(LeaseLost);
    stop();
  });

  it('is lost when a renewal fails', async () => {
    const held = new HeldLease(LEASE, { renewLease: async () => Promise.reject(new Error('connection reset')) }, LEASE_MS, { now });
    const stop = held.keepAlive();
    await pass(LEASE_MS / 3);
    expect(held.lost).toBe(true);
    stop();
  });

  it('is lost before the store could hand it to another when renewals hang unanswered', async () => {
    const held = new HeldLease(LEASE, { renewLease: () => new Promise<boolean>(() => {}) }, LEASE_MS, { now });
    const stop = held.keepAlive();
    await pass(LEASE_MS * 0.85);
    expect(held.lost).toBe(false);
    await pass(LEASE_MS * 0.05);
    expect(held.lost).toBe(true);
    expect(() => fencedClient(civi, held).batch([])).toThrow(LeaseLost);
    stop();
  });

  it('runs from when the claim was sent, however long its answer took', async () => {
    clock = 2_000; // the claim's durable commit took two seconds to answer
    const held = new HeldLease(LEASE, { renewLease: () => new Promise<boolean>(() => {}) }, LEASE_MS, { now, askedAt: 0 });
    const stop = held.keepAlive();
    await pass(11_499);
    expect(held.lost).toBe(false);
    await pass(1);
    expect(held.lost).toBe(true);
    stop();
  });

  it('dates a renewal from when it was sent, not when its answer came', async () => {
    let answer: (renewed: boolean) => void = () => {};
    const held = new HeldLease(LEASE, { renewLease: () => new Promise<boolean>((resolve) => (answer = resolve)) }, LEASE_MS, { now });
    const stop = held.keepAlive();
    await pass(5_000); // a renewal sent at 5 s
    await pass(4_999);
    answer(true); // answered at 9.999 s; the renewals sent after it hang
    await pass(1);
    // Good until 5 s + 90 % of 15 s = 18.5 s, however late the answer came.
    await pass(8_499);
    expect(held.lost).toBe(false);
    await pass(1);
    expect(held.lost).toBe(true);
    stop();
  });
});
