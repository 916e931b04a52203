import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createSwitchboard } from '../src/server/server.js';
import { WsProbe } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

describe('what an open WebSocket keeps alive', () => {
  it('not its upgrade request: once upgraded, the IncomingMessage is garbage (it was kept by a closure context shared with the socket\'s error listener, about 1 KiB a connection)', async () => {
    const sb = createSwitchboard({ store: 'memory', logLevel: 'silent' });
    await sb.start();
    const server = http.createServer();
    const requests: WeakRef<http.IncomingMessage>[] = [];
    // Before attach: this listener runs first and keeps nothing but a weak reference.
    server.on('upgrade', (req: http.IncomingMessage) => void requests.push(new WeakRef(req)));
    sb.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const probes = Array.from({ length: 20 }, (_, i) => new WsProbe(`ws://127.0.0.1:${port}/api/ws?name=r${i}`));
    try {
      await Promise.all(probes.map((p) => p.opened));
      // Past the handshake's async steps (the session, its presence) on the server side too.
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(requests.length, 20);
      const alive = requests.filter((r) => r.deref() !== undefined).length;
      assert.equal(alive, 0, `${alive} of 20 upgrade requests still reachable while their WebSockets are open`);
    } finally {
      for (const p of probes) p.close();
      await sb.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
