// At a glance: is all well? Backlog, dead items, CiviCRM, the store, the last hour.
import { html } from 'htm/preact';
import { api, type Minute, type Status } from './api.js';
import { ActivityChart } from './chart.js';
import { duration, ErrorLine, useLoad, when } from './ui.js';

const REFRESH_MS = 5_000;

export function Overview() {
  const status = useLoad(() => api<Status>('GET', '/admin/status'), [], REFRESH_MS);
  const activity = useLoad(() => api<{ minutes: Minute[] }>('GET', '/admin/activity'), [], REFRESH_MS);
  const s = status.data;
  return html`
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <${ErrorLine} error=${status.error ?? activity.error} />
      ${s &&
      html`
        <div class="cards">
          <${Card} label="Pending" value=${s.pending} tone=${s.pending > 0 ? 'busy' : 'ok'} />
          <${Card} label="Retrying" value=${s.retrying} tone=${s.retrying > 0 ? 'warn' : 'ok'} />
          <${Card} label="Dead" value=${s.dead} tone=${s.dead > 0 ? 'bad' : 'ok'} href=${s.dead > 0 ? '#/events' : undefined} />
          <${Card}
            label="CiviCRM"
            value=${s.civicrm.reachable === null ? 'not asked yet' : s.civicrm.reachable ? 'reachable' : 'unreachable'}
            tone=${s.civicrm.reachable === false ? 'bad' : 'ok'}
          />
        </div>
        <dl class="facts">
          <dt>CiviCRM version</dt><dd>${s.civicrm.version ?? 'unknown'}</dd>
          <dt>CiviCRM last answered</dt><dd>${when(s.civicrm.lastContactAt)}</dd>
          ${s.civicrm.lastError && html`<dt>CiviCRM last error</dt><dd class="error-text">${s.civicrm.lastError}</dd>`}
          <dt>Store</dt><dd>${s.database}, ${s.store.available ? 'available' : `unavailable since ${when(s.store.since)}`}</dd>
          <dt>Work</dt><dd>${s.work.groups.total} groups (${s.work.groups.dirty} to sync, ${s.work.groups.dead} dead), ${s.work.members.total} memberships (${s.work.members.dirty} to sync, ${s.work.members.dead} dead)</dd>
          <dt>Service</dt><dd>version ${s.version}, up ${duration(s.uptimeSeconds)}${s.accepting ? '' : ', shutting down'}</dd>
        </dl>
      `}
      ${activity.data && html`<${ActivityChart} minutes=${activity.data.minutes} />`}
    </section>`;
}

function Card(props: { label: string; value: string | number; tone: string; href?: string }) {
  const body = html`<span class="label">${props.label}</span><span class="value">${props.value}</span>`;
  return props.href
    ? html`<a class=${`card ${props.tone}`} href=${props.href}>${body}</a>`
    : html`<div class=${`card ${props.tone}`}>${body}</div>`;
}
