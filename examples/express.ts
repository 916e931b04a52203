/**
 * Switchboard inside an Express app, on one port: the app's own routes, and Switchboard (its
 * four transports, the REST API and the web app) under /chat. In your project:
 * `import { createSwitchboard } from 'switchboard'`.
 *
 * Run: npx tsx examples/express.ts   then open http://localhost:3000/chat/
 */
import http from 'node:http';
import express from 'express';
import { createSwitchboard } from '../src/server/index.js';

export async function start(port = 3000): Promise<{ url: string; close: () => Promise<void> }> {
  const switchboard = createSwitchboard({ path: '/chat', store: 'memory', logLevel: process.env.LOG_LEVEL ?? 'info' });
  await switchboard.start();

  const app = express();
  app.use(express.json());
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'from express' });
  });
  // Your backend publishes into a room: as the system, or on behalf of a member.
  app.post('/announce', async (req, res) => {
    const ack = await switchboard.publish('lobby', { text: String((req.body as { text?: unknown }).text ?? 'announcement') });
    res.json(ack);
  });

  const server = http.createServer(app);
  switchboard.attach(server); // /chat/... (and WebSocket upgrades there) are Switchboard's; the rest is Express's
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    close: async () => {
      await switchboard.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await start(Number(process.env.PORT ?? 3000));
  console.log(`Express on ${url}/hello, Switchboard on ${url}/chat/`);
}
