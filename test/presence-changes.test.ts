import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collapsedLine, presenceChanges } from '../web/src/presence-changes.js';

const m = (member: string, name = member) => ({ member, name, transports: ['websocket' as const] });

describe('the web app tells joins and leaves from presence notices', () => {
  it('finds who arrived and who went, by member, never the user', () => {
    assert.deepEqual(presenceChanges([m('me'), m('ann'), m('bob')], [m('me'), m('bob'), m('cy', 'Cy'), m('dee')], 'me'), { joined: ['Cy', 'dee'], left: ['ann'] });
    assert.deepEqual(presenceChanges([], [m('me')], 'me'), { joined: [], left: [] });
    assert.deepEqual(presenceChanges([m('ann')], [m('ann', 'Ann renamed')]), { joined: [], left: [] }, 'a rename is no arrival');
  });

  it('collapses many names into one line', () => {
    assert.equal(collapsedLine([], 'joined'), '');
    assert.equal(collapsedLine(['ann'], 'joined'), 'ann joined');
    assert.equal(collapsedLine(['ann', 'bob'], 'left'), 'ann and bob left');
    assert.equal(collapsedLine(['ann', 'bob', 'cy'], 'joined'), 'ann, bob and 1 other joined');
    assert.equal(collapsedLine(['ann', 'bob', 'cy', 'd', 'e', 'f', 'g', 'h'], 'joined'), 'ann, bob and 6 others joined');
  });
});
