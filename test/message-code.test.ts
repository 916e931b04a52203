import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mentionTest, splitCode, textOutsideCode } from '../src/protocol/message-code.js';

describe('code in a message (shared by the web app and the server)', () => {
  it('cuts a text into prose, code spans and fenced code blocks, in order', () => {
    assert.deepEqual(splitCode('a `b` c\n```sh\nd `e`\n```\n``f`g`` h'), [
      { kind: 'text', text: 'a ' },
      { kind: 'code', text: 'b' },
      { kind: 'text', text: ' c' },
      { kind: 'block', text: 'd `e`', lang: 'sh' },
      { kind: 'code', text: 'f`g' },
      { kind: 'text', text: ' h' },
    ]);
    assert.deepEqual(splitCode('no code'), [{ kind: 'text', text: 'no code' }]);
    assert.deepEqual(splitCode(''), []);
    // Unclosed: prose, backticks and all.
    assert.deepEqual(splitCode('```\nnever closed `x'), [{ kind: 'text', text: '```\nnever closed `x' }]);
  });

  it('the prose outside code is where a mention is looked for', () => {
    assert.equal(textOutsideCode('hi `@ann` and\n```\n@bob\n```\n@cy'), 'hi   and\n@cy');
    assert.equal(textOutsideCode('plain @ann'), 'plain @ann');
  });

  it('a mention: @name (a space in it too) or @member, any case, not inside a word nor in code', () => {
    const ann = mentionTest('Ann Lee', 'm-ann.1');
    for (const text of ['hi @Ann Lee', '@ann lee!', '(@ANN LEE)', 'ping @m-ann.1', '`x` then @Ann Lee']) assert.ok(ann(text), text);
    for (const text of ['hi @Ann', '@Ann Leeds', 'mail@ann lee.example', 'a @m-ann.12', '`@Ann Lee`', '```\n@Ann Lee\n```', 'no at sign', '@m-ann-1']) assert.ok(!ann(text), text);
  });
});
