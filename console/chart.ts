// Events accepted per minute (bars) and the backlog (line) over the last hour, as plain SVG.
import { html } from 'htm/preact';
import type { Minute } from './api.js';

const W = 600;
const H = 120;

export function ActivityChart({ minutes }: { minutes: Minute[] }) {
  const peak = Math.max(1, ...minutes.map((m) => m.accepted));
  const peakBacklog = Math.max(1, ...minutes.map((m) => m.backlog ?? 0));
  const step = W / Math.max(1, minutes.length);
  const points = minutes
    .map((m, i) => (m.backlog === null ? null : `${(i + 0.5) * step},${H - (m.backlog / peakBacklog) * (H - 4)}`))
    .filter((p): p is string => p !== null)
    .join(' ');
  const total = minutes.reduce((sum, m) => sum + m.accepted, 0);
  const last = [...minutes].reverse().find((m) => m.backlog !== null)?.backlog;
  return html`
    <figure class="chart">
      <svg viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${`${total} events accepted in the last hour; backlog ${last ?? 'not read yet'}`}>
        ${minutes.map((m, i) => {
          const h = (m.accepted / peak) * (H - 4);
          return html`<rect class="bar" x=${i * step + 1} y=${H - h} width=${Math.max(1, step - 2)} height=${h}><title>${`${new Date(m.at).toLocaleTimeString()}: ${m.accepted} accepted`}</title></rect>`;
        })}
        ${points ? html`<polyline class="backlog" points=${points} />` : null}
      </svg>
      <figcaption>
        <span class="key bar"></span> events accepted per minute (peak ${peak}) ·
        <span class="key backlog"></span> backlog (peak ${peakBacklog}), last hour
      </figcaption>
    </figure>`;
}
