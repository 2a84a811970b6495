// A bare Fastify route answering 202, with the service's body limit, in a process of its own:
// the yardstick of bench/ingest.ts. Answers "cpu" with its process.cpuUsage().
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.post('/webhooks/og', async (_request, reply) => reply.code(202).send({ status: 'accepted' }));
process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.send!({ ready: true });
