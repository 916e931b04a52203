import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry, PollResult } from '../src/protocol/types.js';
import { pollResultJson } from '../src/server/transports/polling.js';

const from = { id: 'c1', name: 'Zoë "z" \u2028' };
const entries: Entry[] = [
  { type: 'message', room: 'r', seq: 1, ts: 1, from, text: 'a "quoted" \\ line\nnext 🎉' },
  { type: 'message', room: 'r', seq: 2, ts: 2, from, text: 'b', clientId: 'k', data: { n: [1, null, { x: 'y' }] } },
  { type: 'join', room: 'r', seq: 3, ts: 3, from } as Entry,
];

describe('pollResultJson', () => {
  it('is JSON of the whole result, entries from their cached encodings', () => {
    const results: PollResult[] = [
      { room: 'r', epoch: 'e1', entries, cursor: 'e1:3', more: false, typing: [] },
      { room: 'r', epoch: 'e1', entries: [], cursor: 'e1:3', more: false, typing: [from], presenceAt: 5, typingAt: 6 },
      { room: 'r', epoch: 'e1', entries: entries.slice(1), cursor: 'e1:3', more: true, reset: 'expired', typing: [] },
      { entries: [entries[0]!] } as unknown as PollResult,
    ];
    for (const result of results) {
      const json = pollResultJson(result);
      assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(result)));
      // The same entry objects in another answer: the same bytes for them.
      assert.equal(pollResultJson(result), json);
    }
  });
});
