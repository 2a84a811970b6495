// Small pieces every view uses: loading data, showing an error, formatting times.
import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

/** Loads with `load` now, again whenever `deps` change, and every `everyMs` when given. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  // `load` is a new closure on every render; what it reads is listed in `deps`.
  const reload = useCallback(() => {
    load().then(
      (value) => {
        setData(value);
        setError(undefined);
      },
      (err: Error) => setError(err.message),
    );
  }, deps);
  useEffect(() => {
    reload();
    if (everyMs === undefined) return undefined;
    const timer = setInterval(reload, everyMs);
    return () => clearInterval(timer);
  }, [reload]);
  return { data, error, reload };
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error === undefined ? null : html`<p class="error" role="alert">${error}</p>`;
}

export function when(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return 'never';
  return new Date(iso).toLocaleString();
}

export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}

export function StateBadge({ state }: { state: string }) {
  return html`<span class=${`badge ${state}`}>${state}</span>`;
}
