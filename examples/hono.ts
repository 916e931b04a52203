/**
 * Switchboard beside a Hono app on Node (@hono/node-server), on one port: Hono's routes, and
 * Switchboard under /chat. In your project: `import { createSwitchboard } from 'switchboard'`.
 *
 * Run: npx tsx examples/hono.ts   then open http://localhost:3000/chat/
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createSwitchboard } from '../src/server/index.js';

export async function start(port = 3000): Promise<{ url: string; close: () => Promise<void> }> {
  const switchboard = createSwitchboard({ path: '/chat', store: 'memory', logLevel: process.env.LOG_LEVEL ?? 'info' });
  await switchboard.start();

  const app = new Hono();
  app.get('/hello', (c) => c.json({ hello: 'from hono' }));
  app.post('/announce', async (c) => {
    const body = await c.req.json<{ text?: string }>().catch(() => ({ text: undefined }));
    return c.json(await switchboard.publish('lobby', { text: body.text ?? 'announcement' }));
  });

  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  switchboard.attach(server);
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
  console.log(`Hono on ${url}/hello, Switchboard on ${url}/chat/`);
}
