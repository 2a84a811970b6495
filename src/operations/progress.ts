// Progress of a long sync for an operator: one rewritten line on a terminal, a plain line
// every few seconds otherwise (logs, CI).
import type { WorkCounts } from '../ledger/store.js';

export interface ProgressSample {
  at: number;
  work: WorkCounts;
}

/** "members 1,200/10,000 · groups 3/50 · 240/s · ETA 37s" from two samples. */
export function describeProgress(first: ProgressSample, latest: ProgressSample): string {
  const { groups, members } = latest.work;
  const membersDone = members.total - members.dirty;
  const doneSinceStart = membersDone - (first.work.members.total - first.work.members.dirty);
  const seconds = Math.max((latest.at - first.at) / 1000, 0.001);
  const rate = Math.max(doneSinceStart, 0) / seconds;
  const eta = rate > 0 ? `ETA ${duration(members.dirty / rate)}` : members.dirty > 0 ? 'ETA unknown' : 'done';
  const dead = members.dead + groups.dead;
  return [
    `members ${fmt(membersDone)}/${fmt(members.total)}`,
    `groups ${fmt(groups.total - groups.dirty)}/${fmt(groups.total)}`,
    `${fmt(Math.round(rate))}/s`,
    eta,
    ...(dead > 0 ? [`${fmt(dead)} dead`] : []),
  ].join(' · ');
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 90) return `${Math.ceil(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

export interface ProgressLine {
  update(text: string): void;
  done(text: string): void;
}

export function progressLine(stream: NodeJS.WriteStream): ProgressLine {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  return {
    update(text) {
      if (tty) {
        stream.write(`\r\x1b[2K${text}`);
      } else if (Date.now() - lastPlain >= 5_000) {
        lastPlain = Date.now();
        stream.write(`${text}\n`);
      }
    },
    done(text) {
      stream.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    },
  };
}
