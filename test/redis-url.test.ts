import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isClusterUrl, parseClusterUrl } from '../src/server/redis-url.js';

describe('parseClusterUrl', () => {
  it('reads seed nodes, credentials and TLS', () => {
    assert.deepEqual(parseClusterUrl('redis-cluster://10.0.0.1:7000,10.0.0.2:7001'), { nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], tls: false });
    assert.deepEqual(parseClusterUrl('rediss-cluster://app:p%40ss@cache.example:6379/'), { nodes: [{ host: 'cache.example', port: 6379 }], tls: true, username: 'app', password: 'p@ss' });
    assert.deepEqual(parseClusterUrl('redis-cluster://:secret@[::1]:7000'), { nodes: [{ host: '::1', port: 7000 }], tls: false, password: 'secret' });
  });

  it('refuses what is not a cluster URL', () => {
    for (const url of ['redis://h:6379', 'redis-cluster://h', 'redis-cluster://h:7000,h2', 'redis-cluster://', 'http://h:1']) {
      assert.equal(parseClusterUrl(url), undefined, url);
      assert.equal(isClusterUrl(url), false, url);
    }
  });
});
