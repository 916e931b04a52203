/** `--workers` (WORKERS, `workers` in a config file): its values, `auto`, and what it does not go with. */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { OptionError, resolveConfig } from '../src/server/options.js';

const refused = (fn: () => unknown, pattern: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof OptionError && pattern.test(err.message) && !err.message.includes('\n'));

describe('--workers', () => {
  it('is 1 by default, a whole number from a flag, the environment or a file, and `auto` is one per core', () => {
    assert.equal(resolveConfig({}).workers, 1);
    assert.equal(resolveConfig({ flags: { workers: '4' } }).workers, 4);
    assert.equal(resolveConfig({ env: { WORKERS: 'auto' } }).workers, availableParallelism());
    assert.equal(resolveConfig({ file: { name: 'c.json', values: { workers: 3 } } }).workers, 3);
    assert.equal(resolveConfig({ file: { name: 'c.json', values: { workers: 'auto' } } }).workers, availableParallelism());
  });

  it('refuses anything else, naming the option and where it came from', () => {
    refused(() => resolveConfig({ flags: { workers: '0' } }), /^--workers: "0" is not valid, expected auto or a whole number from 1 to 256$/);
    refused(() => resolveConfig({ env: { WORKERS: 'many' } }), /^--workers \(env WORKERS\): "many" is not valid, expected auto/);
    refused(() => resolveConfig({ file: { name: 'c.json', values: { workers: 2.5 } } }), /^--workers \(file c\.json, key "workers"\): 2\.5 is not valid/);
  });

  it('past 1, refuses the memory store (each worker would keep its own log), naming both options', () => {
    refused(() => resolveConfig({ flags: { workers: '2', store: 'memory' } }), /--workers 2 \(from the command line\) needs a store the workers share: --store memory \(from the command line\)/);
    refused(() => resolveConfig({ env: { WORKERS: 'auto', STORE: 'memory' } }), /\(from env WORKERS\).*--store memory \(from env STORE\)/);
    assert.equal(resolveConfig({ flags: { workers: '2' } }).store, 'sqlite');
    assert.equal(resolveConfig({ flags: { workers: '1', store: 'memory' } }).store, 'memory');
  });
});

describe('--worker-accept', () => {
  it('is `primary` by default, `shared` or `address` from a flag, the environment or a file, and refuses anything else', () => {
    assert.equal(resolveConfig({}).workerAccept, 'primary');
    assert.equal(resolveConfig({ flags: { workerAccept: 'shared' } }).workerAccept, 'shared');
    assert.equal(resolveConfig({ env: { WORKER_ACCEPT: 'shared' } }).workerAccept, 'shared');
    assert.equal(resolveConfig({ file: { name: 'c.json', values: { workerAccept: 'shared' } } }).workerAccept, 'shared');
    assert.equal(resolveConfig({ flags: { workerAccept: 'address' } }).workerAccept, 'address');
    refused(() => resolveConfig({ flags: { workerAccept: 'none' } }), /^--worker-accept: "none" is not valid, expected `?primary`?, `?shared`? or `?address`?$/);
  });

  it('refuses `address` behind a proxy or a balancer (every connection would have its address: one worker would take them all)', () => {
    refused(() => resolveConfig({ flags: { workerAccept: 'address', trustProxy: true } }), /^--worker-accept address \(from the command line\) sends the connections of one address to one worker, and behind --trust-proxy \(from the command line\) every connection has the proxy's address: use --worker-accept primary$/);
    refused(() => resolveConfig({ env: { WORKER_ACCEPT: 'address', PROXY_PROTOCOL: '10.0.0.0/8' } }), /behind --proxy-protocol \(from env PROXY_PROTOCOL\)/);
  });
});

describe('--worker-appends', () => {
  it('is `own` by default, `primary` from a flag, the environment or a file; refuses anything else, and `primary` without the SQLite file', () => {
    assert.equal(resolveConfig({}).workerAppends, 'own');
    assert.equal(resolveConfig({ flags: { workerAppends: 'primary' } }).workerAppends, 'primary');
    assert.equal(resolveConfig({ env: { WORKER_APPENDS: 'primary' } }).workerAppends, 'primary');
    assert.equal(resolveConfig({ file: { name: 'c.json', values: { workerAppends: 'primary' } } }).workerAppends, 'primary');
    refused(() => resolveConfig({ flags: { workerAppends: 'all' } }), /^--worker-appends: "all" is not valid, expected `?own`? or `?primary`?$/);
    refused(() => resolveConfig({ flags: { workerAppends: 'primary', store: 'memory' } }), /^--worker-appends primary \(from the command line\) is for the SQLite file the workers share, not with --store memory \(from the command line\)$/);
    refused(() => resolveConfig({ flags: { workerAppends: 'primary', redisUrl: 'redis://127.0.0.1:6379' } }), /not with --redis \(from the command line\), where each worker is a node of its own$/);
  });
});
