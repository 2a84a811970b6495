// Polling with a generous deadline: tests wait for outcomes, never for a fixed time.

/** The default deadline: generous, so a slow machine never fails a test. */
export const DEADLINE_MS = 30_000;

/** Thrown by a pollUntil check to stop waiting at once (other errors are retried). */
export class GiveUp extends Error {}

/** Calls `check` until it returns a value other than undefined/false, or the deadline passes. */
export async function pollUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? DEADLINE_MS);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${options.what ?? 'a condition'}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/** `pollUntil` with the thing waited for named first, as most tests read best. */
export function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  return pollUntil(probe, { intervalMs: 25, ...options, what });
}
