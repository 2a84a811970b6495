// The service as `npm start` runs it, in a process of its own, for bench/ingest.ts: it answers
// the bench's "cpu" message with its process.cpuUsage().
import { serve } from '../src/serve.js';

process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
});
await serve();
process.send!({ ready: true });
