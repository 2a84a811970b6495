// The groups the service knows, and one group: its CiviCRM ids, members, and a reconcile.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, type Group, type Member, type ReconcileReport } from './api.js';
import { ErrorLine, StateBadge, useLoad, when } from './ui.js';

const PAGE = 50;

function StateFilter({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  return html`<label>Sync state <select value=${value} onChange=${(e: Event) => onChange((e.target as HTMLSelectElement).value)}>
    <option value="">any</option><option value="clean">clean</option><option value="dirty">dirty</option><option value="dead">dead</option>
  </select></label>`;
}

/** Pages of a cursor listing, one "More" click at a time. */
function usePages<T>(path: (cursor: string | undefined) => string, key: 'groups' | 'members', deps: unknown[]) {
  const [more, setMore] = useState<{ rows: T[]; cursor: string | undefined }>({ rows: [], cursor: undefined });
  const first = useLoad(async () => {
    const page = await api<Record<string, unknown>>('GET', path(undefined));
    setMore({ rows: [], cursor: page.next_cursor as string | undefined });
    return page[key] as T[];
  }, deps);
  const loadMore = async () => {
    const page = await api<Record<string, unknown>>('GET', path(more.cursor));
    setMore({ rows: [...more.rows, ...(page[key] as T[])], cursor: page.next_cursor as string | undefined });
  };
  return { rows: [...(first.data ?? []), ...more.rows], hasMore: more.cursor !== undefined, loadMore, error: first.error, reload: first.reload };
}

export function Groups() {
  const [q, setQ] = useState('');
  const [state, setState] = useState('');
  const query = (cursor: string | undefined) =>
    `/admin/groups?${new URLSearchParams({ limit: String(PAGE), ...(q && { q }), ...(state && { state }), ...(cursor && { cursor }) })}`;
  const pages = usePages<Group>(query, 'groups', [q, state]);
  return html`
    <section aria-labelledby="groups-title">
      <h1 id="groups-title">Groups</h1>
      <form class="toolbar" role="search" onSubmit=${(e: Event) => e.preventDefault()}>
        <label>Find by OG id or title <input type="search" value=${q} onInput=${(e: Event) => setQ((e.target as HTMLInputElement).value.trim())} /></label>
        <${StateFilter} value=${state} onChange=${setState} />
      </form>
      <${ErrorLine} error=${pages.error} />
      <div class="scroll"><table>
        <thead><tr><th scope="col">OG id</th><th scope="col">Title</th><th scope="col">Sync</th><th scope="col">Last error</th></tr></thead>
        <tbody>
          ${pages.rows.map(
            (g) => html`<tr key=${g.ogId}>
              <td>${g.ogId}</td>
              <td><a href=${`#/groups/${g.ogId}`}>${g.title ?? `(group ${g.ogId}, title not seen yet)`}</a>${g.deleted ? ' (deleted)' : ''}</td>
              <td><${StateBadge} state=${g.syncState} /></td>
              <td class="reason">${g.lastError ?? ''}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      ${pages.rows.length === 0 && !pages.error && html`<p>No groups match.</p>`}
      ${pages.hasMore && html`<button type="button" onClick=${pages.loadMore}>More groups</button>`}
    </section>`;
}

export function GroupPage({ ogId }: { ogId: number }) {
  const [state, setState] = useState('');
  const group = useLoad(() => findGroup(ogId), [ogId], 5_000);
  const membersPath = (cursor: string | undefined) =>
    `/admin/groups/${ogId}/members?${new URLSearchParams({ limit: '100', ...(state && { state }), ...(cursor && { cursor }) })}`;
  const members = usePages<Member>(membersPath, 'members', [ogId, state]);
  const g = group.data;
  return html`
    <section aria-labelledby="group-title">
      <p><a href="#/groups">← Groups</a></p>
      <h1 id="group-title">${g?.title ?? `OG group ${ogId}`}</h1>
      <${ErrorLine} error=${group.error} />
      ${g &&
      html`<dl class="facts">
        <dt>OG id</dt><dd>${g.ogId}${g.deleted ? ' (deleted in Drupal)' : ''}</dd>
        <dt>Sync</dt><dd><${StateBadge} state=${g.syncState} /> ${g.attempts > 0 ? `after ${g.attempts} failed attempt(s)` : ''}</dd>
        ${g.lastError && html`<dt>Last error</dt><dd class="error-text">${g.lastError}</dd>`}
        <dt>CiviCRM member group</dt><dd>${g.civi?.memberGroupId ?? 'not made yet'}</dd>
        <dt>CiviCRM ACL group</dt><dd>${g.civi?.aclGroupId ?? 'not made yet'}</dd>
        <dt>ACL role</dt><dd>${g.civi?.roleValue === undefined ? 'not made yet' : `value ${g.civi.roleValue} (option value ${g.civi.roleId})`}</dd>
        <dt>Last synced</dt><dd>${when(g.syncedAt)}</dd>
      </dl>`}
      <${Reconcile} ogId=${ogId} onDone=${() => { group.reload(); members.reload(); }} />
      <h2>Members</h2>
      <div class="toolbar"><${StateFilter} value=${state} onChange=${setState} /></div>
      <${ErrorLine} error=${members.error} />
      <div class="scroll"><table>
        <thead><tr><th scope="col">Drupal uid</th><th scope="col">OG state</th><th scope="col">Admin</th><th scope="col">Sync</th><th scope="col">In CiviCRM</th><th scope="col">Last error</th></tr></thead>
        <tbody>
          ${members.rows.map(
            (m) => html`<tr key=${m.uid}>
              <td>${m.uid}</td><td>${m.state}</td><td>${m.uid === g?.ownerUid ? 'owner' : m.isAdmin ? 'yes' : ''}</td>
              <td><${StateBadge} state=${m.syncState} /></td>
              <td>${[m.civiMemberStatus && `member group: ${m.civiMemberStatus}`, m.civiAclStatus && `ACL group: ${m.civiAclStatus}`].filter(Boolean).join(', ')}</td>
              <td class="reason">${m.lastError ?? ''}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      ${members.rows.length === 0 && !members.error && html`<p>No members${state ? ` in state ${state}` : ''}.</p>`}
      ${members.hasMore && html`<button type="button" onClick=${members.loadMore}>More members</button>`}
    </section>`;
}

/**
 * One group's record without its members (GET /admin/groups/{ogId} holds every member): the
 * listing from just before the id, one row long, starts with the group if it exists.
 */
async function findGroup(ogId: number): Promise<Group> {
  const query = new URLSearchParams({ q: String(ogId), limit: '1', ...(ogId > 1 && { cursor: String(ogId - 1) }) });
  const [group] = (await api<{ groups: Group[] }>('GET', `/admin/groups?${query}`)).groups;
  if (group?.ogId !== ogId) throw new Error(`No OG group ${ogId} is known to the service.`);
  return group;
}

/** Reconcile in two steps: the dry run's differences first, then the repair on confirmation. */
function Reconcile({ ogId, onDone }: { ogId: number; onDone: () => void }) {
  const [step, setStep] = useState<{ kind: 'idle' } | { kind: 'preview'; report: ReconcileReport } | { kind: 'done'; report: ReconcileReport }>({ kind: 'idle' });
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const call = async (dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api<{ report: ReconcileReport }>('POST', `/admin/groups/${ogId}/reconcile${dryRun ? '?dryRun=true' : ''}`);
      setStep({ kind: dryRun ? 'preview' : 'done', report: answer.report });
      if (!dryRun) onDone();
    } catch (err) {
      setError((err as Error).message);
    }
    setBusy(false);
  };
  return html`
    <div class="reconcile">
      <h2>Reconcile</h2>
      <p>Compares CiviCRM's groups, ACL and group contacts with what OG says, and repairs the differences.</p>
      ${step.kind !== 'preview' && html`<button type="button" disabled=${busy} onClick=${() => call(true)}>Reconcile…</button>`}
      <${ErrorLine} error=${error} />
      ${step.kind === 'preview' &&
      html`<div class="confirm" role="alertdialog" aria-labelledby="reconcile-preview">
        <p id="reconcile-preview">Dry run: ${differences(step.report)} difference(s) found. Nothing was changed yet.</p>
        <${Differences} report=${step.report} />
        <button type="button" class="primary" disabled=${busy} onClick=${() => call(false)}>Apply the repair</button>
        <button type="button" onClick=${() => setStep({ kind: 'idle' })}>Cancel</button>
      </div>`}
      ${step.kind === 'done' && html`<p class="notice" role="status">Reconciled: ${differences(step.report)} difference(s) repaired or queued for the worker.</p>`}
    </div>`;
}

function differences(r: ReconcileReport): number {
  return r.groupChanges.length + r.missing.length + r.wrongStatus.length + r.extra.length;
}

function Differences({ report }: { report: ReconcileReport }) {
  const lines = [
    ...report.groupChanges,
    ...report.missing.map((m) => `uid ${m.uid} (contact ${m.contactId}) has no row in the ${m.group} group: will be ${m.wanted}`),
    ...report.wrongStatus.map((m) => `uid ${m.uid} (contact ${m.contactId}) is ${m.actual} in the ${m.group} group: will be ${m.wanted}`),
    ...report.extra.map((m) => `contact ${m.contactId} is ${m.actual} in the ${m.group} group but not in OG: will be Removed`),
    ...report.withoutContact.map((uid) => `uid ${uid} has no CiviCRM contact yet`),
  ];
  return lines.length === 0 ? html`<p>CiviCRM matches OG.</p>` : html`<ul class="differences">${lines.map((l) => html`<li>${l}</li>`)}</ul>`;
}
