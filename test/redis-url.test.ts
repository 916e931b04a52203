import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isClusterUrl, isSentinelUrl, parseClusterUrl, parseSentinelUrl } from '../src/server/redis-url.js';

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

describe('parseSentinelUrl', () => {
  it('reads sentinels, the master name, credentials, the sentinels\' own credentials and TLS', () => {
    assert.deepEqual(parseSentinelUrl('redis-sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster'), { sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26380 }], name: 'mymaster', tls: false });
    assert.deepEqual(parseSentinelUrl('rediss-sentinel://app:p%40ss@[::1]:26379/main/?sentinelPassword=s%20p&sentinelUsername=watch'), {
      sentinels: [{ host: '::1', port: 26379 }],
      name: 'main',
      tls: true,
      username: 'app',
      password: 'p@ss',
      sentinelPassword: 's p',
      sentinelUsername: 'watch',
    });
    assert.equal(isSentinelUrl('redis-sentinel://h:26379/m'), true);
  });

  it('refuses what is not a Sentinel URL', () => {
    for (const url of ['redis://h:6379', 'redis-sentinel://h:26379', 'redis-sentinel://h/m', 'redis-sentinel://h:26379/m?db=1', 'redis-sentinel://h:99999/m', 'redis-sentinel://%zz@h:1/m', 'redis-cluster://h:7000']) {
      assert.equal(parseSentinelUrl(url), undefined, url);
      assert.equal(isSentinelUrl(url), false, url);
    }
  });
});
