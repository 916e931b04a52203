import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PresenceMember, ServerFrame } from '../src/protocol/types.js';
import { presenceFrameJson } from '../src/server/presence-json.js';

describe('presenceFrameJson', () => {
  const members: PresenceMember[] = [
    { member: 'ann', name: 'Ann "A" \u2028', transports: ['websocket'] },
    { member: 'bob', name: 'Bob', transports: ['sse', 'long-polling'] },
  ];

  it('is the JSON of the frame, presence last', () => {
    const frame = { type: 'subscribed', id: 'r1', room: 'lobby', epoch: 'e', cursor: 'e:3', presence: members, presenceTruncated: true } satisfies ServerFrame;
    const json = presenceFrameJson(frame);
    assert.deepEqual(JSON.parse(json), frame);
    assert.ok(json.endsWith(`"presence":${JSON.stringify(members)}}`), json);
    assert.deepEqual(JSON.parse(presenceFrameJson({ presence: [] })), { presence: [] });
    assert.deepEqual(JSON.parse(presenceFrameJson({ presence: members })), { presence: members });
  });

  it('serializes each member object once, whatever the number of frames it is in', () => {
    let calls = 0;
    const counted = members.map((m) => ({ ...m, toJSON: () => (calls++, { member: m.member, name: m.name, transports: m.transports }) }));
    const me: PresenceMember = { member: 'cy', name: 'Cy', transports: ['websocket'] };
    for (let i = 0; i < 50; i++) assert.deepEqual(JSON.parse(presenceFrameJson({ type: 'subscribed', presence: [me, ...counted] })).presence.length, 3);
    assert.equal(calls, 2, 'the shared members were serialized once each');
  });
});
