// Dead and pending events with their reasons; replay one, or every dead one after a confirmation.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, type EventSummary } from './api.js';
import { ErrorLine, useLoad, when } from './ui.js';

type Listed = 'dead' | 'pending';

export function Events() {
  const [status, setStatus] = useState<Listed>('dead');
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const list = useLoad(() => api<{ events: EventSummary[] }>('GET', `/admin/events?status=${status}&limit=200`), [status], 5_000);
  const events = list.data?.events ?? [];

  const run = async (what: () => Promise<string>) => {
    setFailure(undefined);
    try {
      setNotice(await what());
    } catch (error) {
      setFailure((error as Error).message);
    }
    setConfirming(false);
    list.reload();
  };
  const replayOne = (id: string) =>
    run(async () => {
      await api('POST', `/admin/events/${encodeURIComponent(id)}/replay`);
      return `Event ${id} is pending again.`;
    });
  const replayAll = () =>
    run(async () => {
      const answer = await api<{ replayed: number; more: boolean }>('POST', '/admin/events/replay-dead');
      return `${answer.replayed} dead event(s) put back to be applied${answer.more ? '; more are left, replay again' : ''}.`;
    });

  return html`
    <section aria-labelledby="events-title">
      <h1 id="events-title">Events</h1>
      <div class="toolbar">
        <label>Show <select value=${status} onChange=${(e: Event) => setStatus((e.target as HTMLSelectElement).value as Listed)}>
          <option value="dead">dead</option>
          <option value="pending">pending and retrying</option>
        </select></label>
        ${status === 'dead' && events.length > 0 && !confirming && html`<button type="button" onClick=${() => setConfirming(true)}>Replay all dead…</button>`}
      </div>
      ${confirming &&
      html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text">
        <p id="confirm-text">Replay ${events.length === 200 ? 'every one of the 200 or more' : `all ${events.length}`} dead event(s)?</p>
        <button type="button" class="primary" onClick=${replayAll}>Replay ${events.length === 200 ? 'all' : events.length}</button>
        <button type="button" onClick=${() => setConfirming(false)}>Cancel</button>
      </div>`}
      ${notice && html`<p class="notice" role="status">${notice}</p>`}
      <${ErrorLine} error=${failure ?? list.error} />
      ${list.data && events.length === 0 && html`<p>No ${status} events.</p>`}
      ${events.length > 0 &&
      html`<div class="scroll"><table>
        <thead><tr><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Received</th><th scope="col">Attempts</th><th scope="col">Reason</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${events.map(
            (e) => html`<tr key=${e.id}>
              <td class="mono">${e.id}</td>
              <td>${e.type}</td>
              <td>${when(e.received_at)}</td>
              <td>${e.attempts}</td>
              <td class="reason">${e.last_error ?? ''}</td>
              <td>${e.status === 'dead' && html`<button type="button" aria-label=${`Replay event ${e.id}`} onClick=${() => replayOne(e.id)}>Replay</button>`}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
    </section>`;
}
