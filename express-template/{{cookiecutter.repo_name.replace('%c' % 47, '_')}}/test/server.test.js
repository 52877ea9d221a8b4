'use strict';

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');

const { loadConfig } = require('../src/config');
const { createLogger } = require('../src/logger');
const { startServer } = require('../src/server');

const quiet = createLogger({ level: 'silent' });

describe('server', () => {
  it('keeps connections alive longer than the load balancer idle timeout (60 s)', async () => {
    const config = loadConfig({ HOST: '127.0.0.1', PORT: '0' });
    const { server, shutdown } = await startServer(config, quiet);
    try {
      assert.equal(server.keepAliveTimeout, 65_000);
      assert.ok(server.headersTimeout > server.keepAliveTimeout);
    } finally {
      await shutdown('test');
    }
  });

  it('serves requests until shut down, then stops listening', async () => {
    const config = loadConfig({ HOST: '127.0.0.1', PORT: '0' });
    const { server, shutdown } = await startServer(config, quiet);
    const url = `http://127.0.0.1:${server.address().port}/healthz`;
    const res = await fetch(url);
    assert.equal(res.status, 200);
    await shutdown('SIGTERM');
    assert.equal(server.listening, false);
    await assert.rejects(fetch(url));
  });

  it('refuses a malformed port', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), /PORT must be a non-negative integer/);
  });
});
