// A bare Fastify route answering 202, with the service's body limit, in a process of its own:
// the yardstick of bench/ingest.ts. Answers "cpu" with its process.cpuUsage().
//
// BARE_COMMIT (a file path): each request is first committed as one row to SQLite there, in WAL
// mode with synchronous FULL as the service's store: what a durable answer costs on this disk and
// this Node, before any work of the service's own.
import Database from 'better-sqlite3';
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 1024 * 1024 });
const commit = committer(process.env.BARE_COMMIT);
app.post('/webhooks/og', async (request, reply) => {
  commit?.(request.headers['webhook-id'], JSON.stringify(request.body));
  return reply.code(202).send({ status: 'accepted' });
});
process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.send!({ ready: true });

function committer(path: string | undefined) {
  if (!path) return undefined;
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO events (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING');
  return (id: unknown, body: string) => void insert.run(String(id), body);
}
