import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseText, safeHref } from '../web/src/rich-text.js';

describe('rich text of a message (links and mentions)', () => {
  it('marks http and https links, leaving the sentence punctuation out', () => {
    assert.deepEqual(parseText('see https://example.com/a?b=1. or (http://x.org/p_(1)) now'), [
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: '. or (' },
      { kind: 'link', text: 'http://x.org/p_(1)', href: 'http://x.org/p_(1)' },
      { kind: 'text', text: ') now' },
    ]);
  });

  it('never makes a link of another scheme, whatever the text says', () => {
    for (const text of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', 'file:///etc/passwd', 'https//nope', 'ftp://x.org']) {
      assert.ok(parseText(text).every((p) => p.kind !== 'link'), text);
    }
    assert.equal(safeHref('javascript:alert(1)'), undefined);
    assert.equal(safeHref('https://ok.example/'), 'https://ok.example/');
  });

  it('a URL with markup in it stays text: the href is the parsed URL, escaped by the parser', () => {
    const [link] = parseText('https://x.org/<script>').filter((p) => p.kind === 'link');
    // < ends the URL: nothing after it is part of the link.
    assert.deepEqual(link, { kind: 'link', text: 'https://x.org/', href: 'https://x.org/' });
  });

  it('marks @mentions at the start of a word, not e-mail addresses', () => {
    assert.deepEqual(parseText('hi @ann, mail bob@example.com @bob-2.'), [
      { kind: 'text', text: 'hi ' },
      { kind: 'mention', text: '@ann', name: 'ann' },
      { kind: 'text', text: ', mail bob@example.com ' },
      { kind: 'mention', text: '@bob-2', name: 'bob-2' },
      { kind: 'text', text: '.' },
    ]);
  });

  it('keeps every character of the text, in order', () => {
    for (const text of ['', 'plain', 'a https://b.c d @e f', '@@x https://y.z/(a', 'ünïcödé @Zoë https://ü.example/ö']) {
      assert.equal(parseText(text).map((p) => p.text).join(''), text);
    }
  });
});
