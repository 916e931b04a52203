/**
 * Switchboard beside a Fastify app, on one port: Fastify's routes, and Switchboard under /chat.
 * In your project: `import { createSwitchboard } from 'switchboard'`.
 *
 * Run: npx tsx examples/fastify.ts   then open http://localhost:3000/chat/
 */
import Fastify from 'fastify';
import { createSwitchboard } from '../src/server/index.js';

export async function start(port = 3000): Promise<{ url: string; close: () => Promise<void> }> {
  const switchboard = createSwitchboard({ path: '/chat', store: 'memory', logLevel: process.env.LOG_LEVEL ?? 'info' });
  await switchboard.start();

  const app = Fastify();
  app.get('/hello', async () => ({ hello: 'from fastify' }));
  app.post<{ Body: { text?: string } }>('/announce', async (req) => switchboard.publish('lobby', { text: req.body?.text ?? 'announcement' }));

  // Fastify's raw Node server: requests and upgrades under /chat go to Switchboard.
  switchboard.attach(app.server);
  await app.listen({ port, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    url,
    close: async () => {
      await switchboard.close();
      await app.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await start(Number(process.env.PORT ?? 3000));
  console.log(`Fastify on ${url}/hello, Switchboard on ${url}/chat/`);
}
