import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLIENT_ERRORS, ERRORS, SwitchboardError, type ErrorCode } from '../src/protocol/errors.js';
import { join } from 'node:path';
import { ROOT } from './fixtures/built.js';

/** docs/protocol.md's error table and the catalog must say the same thing. */
describe('error catalog', () => {
  const doc = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Error codes'), doc.indexOf('## Close codes'));
  const rows = new Map<string, { status: number; close: number | undefined }>();
  for (const line of section.split('\n')) {
    const m = /^\| ([A-Z0-9_]+) \| (\d{3}) \| ?(\d*) ?\|/.exec(line);
    if (m) rows.set(m[1]!, { status: Number(m[2]), close: m[3] ? Number(m[3]) : undefined });
  }

  it('documents every code with its HTTP status and close code', () => {
    for (const [code, entry] of Object.entries(ERRORS) as [ErrorCode, { status: number; close?: number }][]) {
      const row = rows.get(code);
      assert.ok(row, `${code} is missing from docs/protocol.md`);
      assert.equal(row.status, entry.status, `${code}: HTTP status`);
      assert.equal(row.close, entry.close, `${code}: close code`);
    }
  });

  it('documents no code the catalog does not have', () => {
    for (const code of rows.keys()) assert.ok(code in ERRORS, `${code} is documented but not in the catalog`);
  });

  it('errors carry their code, status and close code', () => {
    const e = new SwitchboardError('MESSAGE_TOO_LARGE', 'limit is 10 bytes');
    assert.equal(e.status, 413);
    assert.equal(e.closeCode, 1009);
    assert.deepEqual(Object.keys(e.toBody()), ['code', 'message', 'error']);
  });

  it('close codes of the catalog are documented in the close code table', () => {
    const closeSection = doc.slice(doc.indexOf('## Close codes'));
    for (const [code, entry] of Object.entries(ERRORS) as [string, { close?: number }][]) {
      if (entry.close === undefined) continue;
      assert.ok(closeSection.includes(String(entry.close)) || (entry.close >= 4000 && closeSection.includes(code)), `close ${entry.close} (${code})`);
    }
  });

  it('documents every client-side code with its meaning', () => {
    const client = doc.slice(doc.indexOf('### Client-side codes'), doc.indexOf('## Close codes'));
    for (const [code, message] of Object.entries(CLIENT_ERRORS)) assert.ok(client.includes(`| ${code} | ${message} |`), code);
  });
});
