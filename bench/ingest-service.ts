// The service as `npm start` runs it, in a process of its own, for bench/ingest.ts: it answers
// the bench's "cpu" message with its process.cpuUsage(). BENCH_WORKER=off: the intake alone,
// storing events without syncing them.
import { serve } from '../src/serve.js';

process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
});
await serve({ worker: process.env.BENCH_WORKER !== 'off' });
process.send!({ ready: true });
