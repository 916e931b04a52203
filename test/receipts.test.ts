/**
 * Read receipts of a room go out together: what its members' clients mark within one window
 * (Hub.receipt, RECEIPT_WINDOW_MS) reaches each subscriber as one write of `receipt` frames,
 * each member's latest position once, not a frame written per member (in a room of M readers
 * who each mark once a second, M² writes a second). A quiet room's first receipt goes at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RECEIPT_WINDOW_MS } from '../src/server/hub.js';
import { WsProbe, postJson, rawWsSubscriber, startServer, waitFor } from './helpers.js';

describe('read receipts, a room window at a time', () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    // Thirty members' marks from one address: a guest's `typing` budget (which marks spend) is its address's.
    s = await startServer({ typingRatePerSecond: 1000 });
  });
  after(() => s.server.close());

  /** The receipts (member and seq) in the bytes a raw WebSocket subscriber read, in order. */
  const receiptsIn = (bytes: Buffer, room = 'r'): { member: string; seq: number }[] =>
    [...bytes.toString('latin1').matchAll(new RegExp(`\\{"type":"receipt","room":"${room}","member":"([^"]+)","name":"[^"]*","seq":(\\d+)\\}`, 'g'))].map((m) => ({ member: m[1]!, seq: Number(m[2]) }));

  it("a window's receipts reach a subscriber in one write, each member's latest once; a quiet room's first at once", async () => {
    await fetch(`${s.url}/api/rooms/r`, { method: 'PUT' });
    const seqs: number[] = [];
    for (const text of ['one', 'two']) seqs.push(((await (await postJson(`${s.url}/api/rooms/r/messages`, { text })).json()) as { seq: number }).seq);
    const observer = await rawWsSubscriber(s.port, 'obs', 'r');
    await waitFor(() => observer.received().includes(Buffer.from('"subscribed"')), 5000, 'subscribed');
    const members = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const p = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=M${i}&member=m${i}`);
        await p.opened;
        return p;
      }),
    );
    const primer = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=P&member=p`);
    await primer.opened;
    // Quiet room: the first receipt goes at once, and opens the room's window.
    const asked = performance.now();
    primer.send({ type: 'mark-read', id: 'p', room: 'r', seq: seqs[0] });
    await waitFor(() => receiptsIn(observer.received()).some((r) => r.member === 'p'), 5000, "the primer's receipt");
    assert.ok(performance.now() - asked < RECEIPT_WINDOW_MS, `at once (${Math.round(performance.now() - asked)} ms)`);
    let writes = 0;
    // Reads that carry receipts (a presence notice, a ping may come between).
    observer.socket.on('data', (d: Buffer) => void (receiptsIn(d).length > 0 && writes++));
    const before = receiptsIn(observer.received()).length;
    // Thirty members mark within the window; m0 twice: only its latest goes out.
    members[0]!.send({ type: 'mark-read', id: 'a', room: 'r', seq: seqs[0] });
    for (const p of members) p.send({ type: 'mark-read', id: 'b', room: 'r', seq: seqs[1] });
    for (const p of members) await p.next('marked', (f) => f.id === 'b');
    await waitFor(() => receiptsIn(observer.received()).length - before >= 30, 5000, 'thirty receipts');
    await new Promise((r) => setTimeout(r, RECEIPT_WINDOW_MS * 2));
    const got = receiptsIn(observer.received()).slice(before);
    assert.deepEqual(
      got.map((r) => r.member).sort(),
      members.map((_, i) => `m${i}`).sort(),
      'each member once',
    );
    assert.ok(got.every((r) => r.seq === seqs[1]), "each member's latest position");
    // One write for the window (two if the members' marks straddled a window's end).
    assert.ok(writes <= 2, `${writes} writes for 30 receipts`);
    for (const p of [...members, primer]) p.close();
    observer.socket.destroy();
  });

  it("a member who comes and marks at once is in a presence notice before its receipt, as its messages would be", async () => {
    await fetch(`${s.url}/api/rooms/r2`, { method: 'PUT' });
    const seq = ((await (await postJson(`${s.url}/api/rooms/r2/messages`, { text: 'one' })).json()) as { seq: number }).seq;
    // The observer's own arrival is the room's last notice: the next waits PRESENCE_NOTICE_GAP_MS.
    const observer = await rawWsSubscriber(s.port, 'obs', 'r2');
    await waitFor(() => observer.received().includes(Buffer.from('"type":"presence"')), 5000, "the observer's arrival");
    const nia = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=Nia&member=nia`);
    await nia.opened;
    nia.send({ type: 'subscribe', id: 's', room: 'r2' });
    await nia.next('subscribed');
    nia.send({ type: 'mark-read', id: 'm', room: 'r2', seq });
    await waitFor(() => receiptsIn(observer.received(), 'r2').some((r) => r.member === 'nia'), 5000, "nia's receipt");
    const text = observer.received().toString('latin1');
    const arrival = text.search(/"type":"presence","room":"r2"[^}]*"member":"nia"/);
    assert.ok(arrival >= 0 && arrival < text.indexOf('"type":"receipt","room":"r2","member":"nia"'), "nia's arrival told before her receipt");
    nia.close();
    observer.socket.destroy();
  });
});
