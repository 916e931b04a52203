/**
 * The packages as users get them: `npm pack` of the server (`switchboard`, with the CLI) and of
 * the client SDK (`switchboard-client`), installed from their tarballs into empty projects. The
 * client installs without the server's dependencies and without a compiler, and the Node quick
 * start of docs/client.md runs from there; `npx switchboard --help` runs from the server's.
 * `npm test` builds first; the tarballs are packed from that build.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { startServer } from './helpers.js';
import { ROOT } from './fixtures/built.js';

const run = promisify(execFile);

/**
 * The browser build's budget, min+gzip (docs/client.md states the size). 17 KiB since issue 11
 * (edits, reactions, read positions, search, FoldedMessages: about 1.9 KiB); 17.25 KiB since the
 * polling transports hold an answer's entries for the member list its `presenceAt` asked to read
 * (a member who speaks as it arrives is seen arriving first: about 0.15 KiB); 17.375 KiB since
 * `markRead` sends at most one position a second (a reader of a busy room spent its typing
 * budget on them: 47 bytes).
 */
const BROWSER_BUDGET_BYTES = 17 * 1024 + 384;

/**
 * A directory holding better-sqlite3's native module, built for this repository's install, as
 * the prebuilt tarball its installer (prebuild-install) would download from GitHub: named as it
 * asks (`better-sqlite3-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`), found there through
 * `npm_config_better_sqlite3_local_prebuilds`. Users get such a prebuild from GitHub; this machine
 * may reach only npm, where the installer's fallback compiles SQLite from source: some 80 s of the
 * CI's two cores. Same version and same node, or the installer does not take it (and compiles).
 */
async function sqlitePrebuild(dir: string): Promise<string> {
  const pkg = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string };
  const prebuilds = path.join(dir, 'prebuilds');
  await run('mkdir', ['-p', prebuilds]);
  const file = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', path.join(prebuilds, file), '-C', pkg, 'build/Release/better_sqlite3.node']);
  return prebuilds;
}

describe('packages', { timeout: 240_000 }, () => {
  let dir: string;
  let serverTgz: string;
  let clientTgz: string;
  let clientFiles: string[];
  let serverFiles: string[];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-pack-'));
    const pack = async (args: string[]): Promise<{ file: string; files: string[] }> => {
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
      const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
      return { file: path.join(dir, info!.filename), files: info!.files.map((f) => f.path) };
    };
    const server = await pack([]);
    const client = await pack(['--workspace', 'packages/client']);
    serverTgz = server.file;
    clientTgz = client.file;
    clientFiles = client.files;
    serverFiles = server.files;
    // What each tarball holds: its build, not the repository.
    assert.ok(server.files.includes('dist/src/server/index.js') && server.files.includes('dist/src/cli/index.js') && server.files.includes('bin/switchboard.js'));
    assert.ok(server.files.includes('dist/public/index.html'), 'the web app');
    assert.ok(server.files.includes('CHANGELOG.md'), 'what may need a change on the user\'s side');
    assert.ok(!server.files.some((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.startsWith('test/')), 'no tests or sources');
    assert.ok(client.files.includes('dist/client/index.js') && client.files.includes('dist/client/index.d.ts') && client.files.includes('dist/browser/switchboard-client.js'));
    assert.ok(!client.files.some((f) => f.includes('server/') || f.includes('cli/')), `no server code in the client: ${client.files.filter((f) => f.includes('server/')).join(', ')}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the client installs alone (two small dependencies, no native build) and the Node quick start of docs/client.md runs', async () => {
    const app = path.join(dir, 'client-app');
    await run('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'client-app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', clientTgz], { cwd: app });
    const installed = readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    assert.deepEqual(installed.sort(), ['eventsource-parser', 'switchboard-client', 'ws'], 'only the SDK and its two dependencies');
    assert.ok(!existsSync(path.join(app, 'node_modules/better-sqlite3')));

    const doc = readFileSync(path.join(ROOT, 'docs/client.md'), 'utf8');
    const quickStart = /### Node[\s\S]*?```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(quickStart?.includes("from 'switchboard-client'"), 'the quick start imports the client package');
    const s = await startServer();
    try {
      writeFileSync(path.join(app, 'quick-start.mjs'), quickStart!.replace('http://localhost:3000', s.url));
      const { stdout } = await run('node', ['quick-start.mjs'], { cwd: app, timeout: 20_000 });
      assert.match(stdout, /^\[connected over websocket\]$/m);
      assert.match(stdout, /^stored as #\d+$/m);
    } finally {
      await s.server.close();
    }
  });

  it("each package's README and documents ship with it, and none of their links points outside the package", () => {
    const clientDocs = clientFiles.filter((f) => f.endsWith('.md'));
    assert.deepEqual(clientDocs.sort(), ['README.md', 'docs/client.md', 'docs/protocol.md']);
    const serverDocs = serverFiles.filter((f) => f.endsWith('.md'));
    assert.ok(['README.md', 'docs/operations.md', 'docs/protocol.md', 'docs/embedding.md', 'docs/security.md'].every((f) => serverDocs.includes(f)), serverDocs.join(', '));
    for (const [dir, files, docs] of [['packages/client', clientFiles, clientDocs], ['.', serverFiles, serverDocs]] as const) {
      for (const doc of docs) {
        const text = readFileSync(path.join(ROOT, dir, doc), 'utf8');
        for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
          if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
          const file = path.posix.normalize(path.posix.join(path.posix.dirname(doc), target!.split('#')[0]!));
          assert.ok(files.includes(file) || files.some((f) => f.startsWith(`${file}/`)), `${dir}/${doc} links to ${target}, which the package does not hold`);
        }
      }
    }
  });

  it(`the browser build is within its budget (${BROWSER_BUDGET_BYTES} bytes min+gzip)`, () => {
    const bundle = readFileSync(path.join(ROOT, 'packages/client/dist/browser/switchboard-client.js'));
    const gzipped = gzipSync(bundle, { level: 9 }).length;
    console.log(`switchboard-client browser build: ${bundle.length} bytes minified, ${gzipped} bytes gzipped`);
    assert.ok(gzipped <= BROWSER_BUDGET_BYTES, `${gzipped} bytes gzipped`);
  });

  it('the server installs from its tarball and `npx switchboard --help` runs', async () => {
    const app = path.join(dir, 'server-app');
    await run('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'server-app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', serverTgz], { cwd: app, timeout: 200_000, env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: await sqlitePrebuild(dir) } });
    // The native module loads (from the prebuild, or built from source when it did not match).
    assert.equal((await run('node', ['-e', "const D = require('better-sqlite3'); console.log(new D(':memory:').prepare('select 1 as one').get().one)"], { cwd: app })).stdout.trim(), '1');
    const { stdout } = await run('npx', ['--no-install', 'switchboard', '--help'], { cwd: app });
    for (const command of ['serve', 'chat', 'send', 'tail', 'token']) assert.match(stdout, new RegExp(`\\b${command}\\b`));
    // The library entry point resolves too.
    writeFileSync(path.join(app, 'embed.mjs'), "import { createSwitchboard } from 'switchboard'; console.log(typeof createSwitchboard);");
    assert.equal((await run('node', ['embed.mjs'], { cwd: app })).stdout.trim(), 'function');
  });
});
