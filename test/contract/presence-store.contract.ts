import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recordId, type PresenceConnection, type PresenceStore } from '../../src/server/presence/presence-store.js';

/** What every PresenceStore must do; `make` gives two handles on one shared backend (two nodes). */
export function presenceStoreContract(name: string, make: () => Promise<{ a: PresenceStore; b: PresenceStore; cleanup: () => Promise<void> }>): void {
  describe(`PresenceStore contract: ${name}`, () => {
    let a: PresenceStore;
    let b: PresenceStore;
    let cleanup: () => Promise<void>;
    before(async () => ({ a, b, cleanup } = await make()));
    after(async () => cleanup());
    const conn = (id: string, member: string, transport: 'websocket' | 'sse' | 'polling' = 'websocket') => ({ id, member, name: `name-${member}`, transport });

    it('a member arrives once, whatever the number of connections and nodes', async () => {
      const later = Date.now() + 60_000;
      assert.equal(await a.add('r1', conn('c1', 'm1'), later), 'arrived');
      assert.equal(await b.add('r1', conn('c2', 'm1', 'sse'), later), 'changed');
      assert.equal(await a.add('r1', conn('c3', 'm1'), later), 'changed');
      const members = await b.members('r1', Date.now());
      assert.equal(members.length, 1);
      assert.equal(members[0]!.name, 'name-m1');
      assert.deepEqual([...members[0]!.transports].sort(), ['sse', 'websocket', 'websocket']);
    });

    it('with `nodes`, the node of each connection, in the order of transports; without, none', async () => {
      const later = Date.now() + 60_000;
      await a.add('rn', { ...conn('n1', 'mn'), node: 'node-a' }, later);
      await b.add('rn', { ...conn('n2', 'mn', 'sse'), node: 'node-b' }, later);
      await b.add('rn', conn('n3', 'other'), later);
      const detailed = await a.members('rn', Date.now(), undefined, true);
      const mn = detailed.find((m) => m.member === 'mn')!;
      const pairs = mn.transports.map((t, i) => `${t}@${mn.nodes?.[i]}`).sort();
      assert.deepEqual(pairs, ['sse@node-b', 'websocket@node-a']);
      assert.deepEqual(detailed.find((m) => m.member === 'other')!.nodes, [''], 'a connection added without a node');
      for (const m of await b.members('rn', Date.now())) assert.equal(m.nodes, undefined, 'not asked: not listed');
      for (const [id, member] of [['n1', 'mn'], ['n2', 'mn'], ['n3', 'other']] as const) await a.remove('rn', member, id);
    });

    it('a member leaves once, with its last connection', async () => {
      assert.equal(await a.remove('r1', 'm1', 'c1'), 'changed');
      assert.equal(await a.remove('r1', 'm1', 'c3'), 'changed');
      assert.equal(await b.remove('r1', 'm1', 'c2'), 'left');
      assert.equal(await a.remove('r1', 'm1', 'c2'), 'none', 'removing twice removes nothing');
      assert.equal(await a.remove('r1', 'nobody', 'c9'), 'none');
      assert.deepEqual(await a.members('r1', Date.now()), []);
    });

    it("a dead node's connections expire and are reaped by one node only", async () => {
      const soon = Date.now() + 100;
      assert.equal(await a.add('r2', conn('x1', 'ghost'), soon), 'arrived');
      assert.equal(await a.add('r2', conn('x2', 'alive'), Date.now() + 60_000), 'arrived');
      await new Promise((r) => setTimeout(r, 150));
      const [fromA, fromB] = await Promise.all([a.reap(Date.now()), b.reap(Date.now())]);
      const all = [...fromA, ...fromB];
      assert.equal(all.length, 1);
      assert.deepEqual({ room: all[0]!.room, member: all[0]!.member, name: all[0]!.name }, { room: 'r2', member: 'ghost', name: 'name-ghost' });
      assert.deepEqual((await b.members('r2', Date.now())).map((m) => m.member), ['alive']);
    });

    it('refresh keeps connections alive past their first expiry', async () => {
      assert.equal(await a.add('r3', conn('k1', 'keep'), Date.now() + 100), 'arrived');
      await a.refresh([{ room: 'r3', member: 'keep', id: 'k1' }], Date.now() + 60_000);
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual(await b.reap(Date.now()), []);
      assert.equal((await a.members('r3', Date.now())).length, 1);
      assert.equal(await b.add('r3', conn('k2', 'keep'), Date.now() + 60_000), 'changed');
    });
  
    it('with a limit, lists that many live members (a big room is not read whole to show a hundred)', async () => {
      const now = Date.now();
      // Expired members first, so a store that counts them against the limit lists too few.
      for (let i = 0; i < 30; i++) await a.add('lim', conn(`gone${i}`, `gone-${i}`), now + 50);
      for (let i = 0; i < 250; i++) await (i % 2 ? a : b).add('lim', conn(`c${i}`, `m-${i}`), now + 60_000);
      await b.add('lim', conn('c0-second', 'm-0'), now + 60_000);
      await new Promise((r) => setTimeout(r, 80));
      const some = await b.members('lim', Date.now(), 101);
      assert.equal(some.length, 101);
      assert.equal(new Set(some.map((m) => m.member)).size, 101, 'each member once');
      assert.ok(some.every((m) => m.member.startsWith('m-')), 'only live members');
      const m0 = some.find((m) => m.member === 'm-0');
      if (m0) assert.equal(m0.transports.length, 2, 'a listed member comes with every connection');
      assert.equal((await a.members('lim', Date.now())).length, 250, 'no limit: all of them');
      assert.equal((await a.members('lim', Date.now(), 1000)).length, 250);
      assert.equal((await a.reap(Date.now())).length, 30, 'the expired ones, reaped here and not by a later test');
    });

    it('lookup: the named members present (whole), and the live count, exact up to the cap', async () => {
      const now = Date.now();
      await a.add('lk', conn('l1', 'ann'), now + 60_000);
      await b.add('lk', conn('l2', 'ann', 'sse'), now + 60_000);
      await b.add('lk', conn('l3', 'bob'), now + 60_000);
      await a.add('lk', conn('l4', 'expired'), now + 50);
      await new Promise((r) => setTimeout(r, 80));
      const found = await b.lookup('lk', ['ann', 'expired', 'never'], Date.now(), 100);
      assert.equal(found.count, 2, 'a member whose connections expired is not counted, reaped or not');
      assert.deepEqual(found.members.map((m) => ({ ...m, transports: [...m.transports].sort() })), [{ member: 'ann', name: 'name-ann', transports: ['sse', 'websocket'] }]);
      assert.deepEqual(await a.lookup('nobody-here', ['x'], Date.now(), 100), { count: 0, members: [] });
      const over = await a.lookup('lk', [], Date.now(), 1);
      assert.ok(over.count > 1, `over the cap: more than it (${over.count})`);
      assert.deepEqual(over.members, []);
      for (const [id, member] of [['l1', 'ann'], ['l2', 'ann'], ['l3', 'bob']] as const) await a.remove('lk', member, id);
      assert.equal((await a.reap(Date.now())).length, 1);
    });

    it('counts the members of many rooms at once', async () => {
      await a.add('c1', conn('q1', 'x'), Date.now() + 60_000);
      await b.add('c1', conn('q2', 'y'), Date.now() + 60_000);
      await a.add('c2', conn('q3', 'x'), Date.now() + 60_000);
      const counts = await b.counts(['c1', 'c2', 'empty'], Date.now());
      assert.deepEqual([counts.get('c1'), counts.get('c2'), counts.get('empty')], [2, 1, 0]);
    });

    it("with a node, remove and refresh touch a connection only while that node holds it (a poller's record moves to the node of its latest poll)", async () => {
      const later = Date.now() + 60_000;
      const ref = [{ room: 'moves', member: 'poller', id: 'p1' }];
      assert.equal(await a.add('moves', { ...conn('p1', 'poller', 'polling'), node: 'node-a' }, later), 'arrived');
      assert.equal(await b.add('moves', { ...conn('p1', 'poller', 'polling'), node: 'node-b' }, later), 'unchanged', 'a poll on node b: it holds the record now');
      assert.deepEqual(await a.refresh(ref, later + 1000, 'node-a'), ref, 'not refreshed for node a');
      assert.deepEqual(await b.refresh(ref, later + 1000, 'node-b'), []);
      assert.equal(await a.remove('moves', 'poller', 'p1', 'node-a'), 'none');
      const held = await a.members('moves', Date.now(), undefined, true);
      assert.deepEqual(held.map((m) => [m.member, m.nodes]), [['poller', ['node-b']]], 'node a removed nothing');
      assert.equal(await b.remove('moves', 'poller', 'p1', 'node-b'), 'left');
      assert.deepEqual(await b.refresh(ref, later, 'node-b'), ref, 'gone: not refreshed');
      await b.add('moves', { ...conn('p1', 'poller', 'polling'), node: 'node-b' }, later);
      assert.equal(await a.remove('moves', 'poller', 'p1'), 'left', 'without a node, removed whoever holds it');
    });

    it("add says what the room sees: the same connection recorded again, by another node too, is 'unchanged'; another name or transport, a new connection or an expired one is a change", async () => {
      const later = Date.now() + 60_000;
      const cy = (node: string, over: Partial<PresenceConnection> = {}): PresenceConnection => ({ id: 'u1', member: 'cy', name: 'cy', transport: 'polling', node, ...over });
      assert.equal(await a.add('same', cy('node-a'), later), 'arrived');
      assert.equal(await a.add('same', cy('node-a'), later + 1000), 'unchanged', 'refreshed where it is');
      assert.equal(await b.add('same', cy('node-b'), later), 'unchanged', "moved to node b as it was (a poller's latest poll went there)");
      assert.deepEqual((await a.members('same', Date.now(), undefined, true)).map((m) => [m.member, m.nodes]), [['cy', ['node-b']]], 'held by node b now');
      assert.equal(await a.add('same', cy('node-a', { transport: 'long-polling' }), later), 'changed', 'another transport');
      assert.equal(await b.add('same', cy('node-b', { transport: 'long-polling', name: 'Cy' }), later), 'changed', 'another name');
      assert.equal(await b.add('same', cy('node-b', { id: 'u2', transport: 'long-polling', name: 'Cy' }), later), 'changed', 'a second connection');
      assert.equal(await a.add('same', cy('node-a', { id: 'u3', transport: 'sse', name: 'Cy' }), Date.now() + 50), 'changed');
      assert.equal(await a.add('same', { id: 'd1', member: 'dee', name: 'dee', transport: 'polling' }, Date.now() + 50), 'arrived');
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(await b.add('same', cy('node-b', { id: 'u3', transport: 'sse', name: 'Cy' }), later), 'changed', 'expired, unreaped: no longer listed, so listed again is a change');
      assert.equal(await b.add('same', { id: 'd1', member: 'dee', name: 'dee', transport: 'polling', node: 'node-b' }, later), 'arrived', "a member whose only connection expired arrives again, though the store still has it");
      assert.equal(await a.add('same', { id: 'd1', member: 'dee', name: 'dee', transport: 'polling' }, later), 'unchanged', 'recorded without a node after with one: the same to its room');
      for (const [id, member] of [['u1', 'cy'], ['u2', 'cy'], ['u3', 'cy'], ['d1', 'dee']] as const) await a.remove('same', member, id);
      assert.deepEqual(await a.members('same', Date.now()), []);
    });

    it('records of one connection id (one client on two transports): each listed; a released one goes at once while another lives, else stays for the grace; an add replaces the released ones and the live one on its transport', async () => {
      const later = Date.now() + 60_000;
      const ws = (attachment: string, node: string): PresenceConnection => ({ id: recordId('sw', attachment), member: 'sw', name: 'sw', transport: 'websocket', node });
      const poller = (node: string): PresenceConnection => ({ id: 'sw', member: 'sw', name: 'sw', transport: 'long-polling', node });
      const listed = async (nodes = false) => {
        const m = (await (nodes ? b : a).members('share', Date.now(), undefined, nodes)).find((x) => x.member === 'sw');
        return m ? (nodes ? m.transports.map((t, i) => `${t}@${m.nodes?.[i]}`) : [...m.transports]).sort() : [];
      };
      assert.equal(await a.add('share', ws('x1', 'node-a'), later), 'arrived');
      assert.equal(await b.add('share', poller('node-b'), later), 'changed', 'a switch opens the new transport first: two live records');
      assert.deepEqual(await listed(), ['long-polling', 'websocket']);
      assert.equal(await a.release('share', 'sw', recordId('sw', 'x1')), 'changed', 'the old transport closes: removed at once, the poller lives');
      assert.deepEqual(await listed(), ['long-polling']);
      assert.equal(await a.remove('share', 'sw', recordId('sw', 'x1'), 'node-a'), 'none', 'its grace ends: nothing left to remove');

      assert.equal(await b.release('share', 'sw', 'sw'), 'none', 'the last record of the connection id: kept for the grace');
      assert.deepEqual(await listed(), ['long-polling'], 'still listed meanwhile');
      assert.equal(await a.add('share', ws('x2', 'node-a'), later), 'changed', 'back within the grace on another transport: it replaces the released record');
      assert.deepEqual(await listed(), ['websocket']);
      assert.equal(await b.remove('share', 'sw', 'sw', 'node-b'), 'none', 'replaced: the grace of the old one removes nothing');

      assert.equal(await a.release('share', 'sw', recordId('sw', 'x2')), 'none');
      assert.equal(await b.add('share', ws('x3', 'node-b'), later), 'unchanged', 'a reconnection on the same transport, on another node: its room sees nothing');
      assert.deepEqual(await listed(true), ['websocket@node-b']);
      assert.equal(await a.remove('share', 'sw', recordId('sw', 'x2'), 'node-a'), 'none');

      assert.equal(await a.add('share', ws('x4', 'node-a'), later), 'unchanged', "a second live WebSocket of one connection id: a reconnection whose old socket's close was not seen yet, which it replaces");
      assert.deepEqual(await listed(true), ['websocket@node-a'], 'listed once, on its new node');
      assert.equal(await b.release('share', 'sw', recordId('sw', 'x3')), 'none', 'the old socket closes at last: nothing to release, nothing to tell');
      assert.equal(await b.add('share', ws('x3', 'node-b'), later, true), 'superseded', 'the old node, finding its record gone, does not take the client back');
      assert.deepEqual(await listed(true), ['websocket@node-a']);
      assert.equal(await b.remove('share', 'sw', recordId('sw', 'x3'), 'node-b'), 'none', 'nor does its grace remove anything');

      assert.equal(await a.add('share', { ...ws('y1', 'node-a'), id: recordId('other', 'y1') }, later), 'changed', 'a second connection of the member');
      assert.equal(await a.release('share', 'sw', recordId('sw', 'x4')), 'none', 'a record of another connection id is no other transport of this one');
      assert.deepEqual(await listed(), ['websocket', 'websocket']);
      assert.equal(await a.add('share', ws('x4', 'node-a'), later), 'unchanged', 'recorded again (resubscribed): not released any more');
      assert.equal(await a.add('share', { ...ws('x5', 'node-a'), transport: 'sse' }, later), 'changed', 'another transport of it does not replace it');
      assert.deepEqual(await listed(), ['sse', 'websocket', 'websocket']);

      assert.equal(await a.release('share', 'sw', 'nothing-here'), 'none');
      assert.equal(await a.remove('share', 'sw', recordId('sw', 'x5')), 'changed');
      assert.equal(await a.release('share', 'sw', recordId('sw', 'x4')), 'none');
      assert.equal(await b.add('share', ws('x9', 'node-b'), later, true), 'unchanged', 'restore replaces a released record as add does');
      assert.deepEqual(await listed(true), ['websocket@node-a', 'websocket@node-b']);
      assert.equal(await b.remove('share', 'sw', recordId('other', 'y1')), 'changed');
      assert.equal(await b.release('share', 'sw', recordId('sw', 'x9')), 'none');
      assert.equal(await b.remove('share', 'sw', recordId('sw', 'x9')), 'left', 'a released record is the member while it is listed: removing it, the member leaves');
      assert.deepEqual(await a.members('share', Date.now()), []);
    });

    it('refresh reports the connections it no longer has (reaped during an outage)', async () => {
      assert.equal(await a.add('r4', conn('g1', 'gone'), Date.now() + 50), 'arrived');
      await new Promise((r) => setTimeout(r, 80));
      assert.equal((await b.reap(Date.now())).length, 1);
      const lost = await a.refresh([{ room: 'r4', member: 'gone', id: 'g1' }, { room: 'r3', member: 'keep', id: 'k1' }], Date.now() + 60_000);
      assert.deepEqual(lost, [{ room: 'r4', member: 'gone', id: 'g1' }]);
    });
  });
}
