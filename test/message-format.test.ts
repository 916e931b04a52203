import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DELIMITERS, parseInline, parseMessage, plainText, type Inline } from '../web/src/message-format.js';

const t = (text: string): Inline => ({ kind: 'text', text });

describe('formatting of a message (bold, italic, strikethrough, code, code blocks)', () => {
  it('marks bold, italic (both ways), strikethrough and code, with links and mentions inside', () => {
    assert.deepEqual(parseInline('**b** *i* _j_ ~~s~~ ~t~ `c` **@ann https://x.org/a_b**'), [
      { kind: 'strong', children: [t('b')] },
      t(' '),
      { kind: 'em', children: [t('i')] },
      t(' '),
      { kind: 'em', children: [t('j')] },
      t(' '),
      { kind: 'del', children: [t('s')] },
      t(' '),
      { kind: 'del', children: [t('t')] },
      t(' '),
      { kind: 'code', text: 'c' },
      t(' '),
      { kind: 'strong', children: [{ kind: 'mention', text: '@ann', name: 'ann' }, t(' '), { kind: 'link', text: 'https://x.org/a_b', href: 'https://x.org/a_b' }] },
    ]);
    assert.deepEqual(parseInline('***both***'), [{ kind: 'em', children: [{ kind: 'strong', children: [t('both')] }] }]);
    assert.deepEqual(parseInline('_https://x.org/p_'), [{ kind: 'em', children: [{ kind: 'link', text: 'https://x.org/p', href: 'https://x.org/p' }] }]);
  });

  it('leaves what is not formatting as it was written', () => {
    for (const text of ['snake_case_name', '2 * 3 * 4', '**unclosed', '* not*', '~~~three~~~', 'a ~5 min or ~10', 'price: $5 * 2', '_', '**', '``', 'file_name_*.ts', '~~a~']) {
      assert.deepEqual(parseInline(text), [t(text)], text);
    }
  });

  it('shows code as written: no formatting, no links or mentions, markup as text', () => {
    assert.deepEqual(parseInline('`**a** https://x.org @bob <b>`'), [{ kind: 'code', text: '**a** https://x.org @bob <b>' }]);
    // A longer run of backticks holds a shorter one; a space each side is padding.
    assert.deepEqual(parseInline('`` a`b ``'), [{ kind: 'code', text: 'a`b' }]);
    assert.deepEqual(parseInline('x ```one line``` y'), [t('x '), { kind: 'code', text: 'one line' }, t(' y')]);
    // Code binds first: a star inside code never closes one outside.
    assert.deepEqual(parseInline('*a `*` b*'), [{ kind: 'em', children: [t('a '), { kind: 'code', text: '*' }, t(' b')] }]);
  });

  it('takes fenced code blocks out of the text between, with their language', () => {
    assert.deepEqual(parseMessage('look:\n```ts\nconst a = 1; // **no**\n\n  indented\n```\nafter *it*'), [
      { kind: 'inline', children: [t('look:')] },
      { kind: 'pre', text: 'const a = 1; // **no**\n\n  indented', lang: 'ts' },
      { kind: 'inline', children: [t('after '), { kind: 'em', children: [t('it')] }] },
    ]);
    assert.deepEqual(parseMessage('```\nonly code\n```'), [{ kind: 'pre', text: 'only code' }]);
    // No closing fence: text, as typed.
    assert.deepEqual(parseMessage('```\nnot closed\n*x*'), [{ kind: 'inline', children: [t('```\nnot closed\n'), { kind: 'em', children: [t('x')] }] }]);
    // Emphasis does not reach across a block.
    assert.deepEqual(parseMessage('*a\n```\nb\n```\nc*'), [
      { kind: 'inline', children: [t('*a')] },
      { kind: 'pre', text: 'b' },
      { kind: 'inline', children: [t('c*')] },
    ]);
  });

  it('plain text: what a reader sees, for quotes and search results', () => {
    assert.equal(plainText('**hi** _there_ `x*y` ~~no~~\n```\ncode\n```\nend'), 'hi there x*y no\ncode\nend');
    assert.equal(plainText('plain words'), 'plain words');
    assert.equal(plainText(''), '');
  });

  it(`formats the first ${MAX_DELIMITERS} delimiter runs of a text and leaves the rest as text`, () => {
    const pairs = (n: number): string => '*a* '.repeat(n);
    const parts = parseInline(pairs(MAX_DELIMITERS / 2 + 3));
    assert.equal(parts.filter((p) => p.kind === 'em').length, MAX_DELIMITERS / 2);
    assert.equal(plainText(pairs(MAX_DELIMITERS / 2 + 3)), `${'a '.repeat(MAX_DELIMITERS / 2)}${pairs(3)}`);
  });

  it('keeps every character a reader sees, in order, whatever the text', () => {
    const alphabet = ['*', '_', '~', '`', 'a', ' ', '\n', '@b', 'https://x.org/', '(', ')', '.', 'é', '👋'];
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    for (let n = 0; n < 500; n++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const shown = plainText(text);
      // Only markers go (and the space that pads code, and the line breaks next to a block).
      const strip = (s: string): string => s.replace(/[*_~`\n ]/g, '');
      assert.equal(strip(shown), strip(text), JSON.stringify(text));
    }
  });
});
