#!/usr/bin/env node
// Copies the client's documents into the client package (packages/client/docs/, built, not kept
// in git), so that the README's links resolve where npm users read them: in the installed
// package and on the registry's page. docs/client.md and docs/protocol.md go in; a link to any
// other file of the repository becomes its text and its path (there is no repository address to
// link to), so no link of the package points outside it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'packages/client/docs');
const SHIPPED = ['client.md', 'protocol.md'];

mkdirSync(out, { recursive: true });
for (const name of SHIPPED) {
  const text = readFileSync(path.join(root, 'docs', name), 'utf8').replace(/\[([^\]]+)\]\(([^)#\s][^)\s]*)\)/g, (link, label, target) => {
    if (/^[a-z]+:/i.test(target)) return link; // an absolute address
    const file = target.split('#')[0];
    if (SHIPPED.includes(file)) return link;
    const inRepo = path.posix.normalize(path.posix.join('docs', target));
    return label === file || label === target ? `${inRepo} in the Switchboard repository` : `${label} (${inRepo} in the Switchboard repository)`;
  });
  writeFileSync(path.join(out, name), text);
}
