'use strict';

// End-to-end checks against a running deployment: BASE_URL=https://... npm run test:e2e
// CI runs them against the idle production environment before swapping it in.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 10_000);

function get(path, init = {}) {
  return fetch(`${BASE_URL}${path}`, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
}

describe(`smoke test of ${BASE_URL}`, () => {
  it('is healthy', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('tags every response with a request id', async () => {
    const res = await get('/healthz', { headers: { 'X-Request-Id': 'e2e-smoke' } });
    assert.equal(res.headers.get('x-request-id'), 'e2e-smoke');
  });

  it('answers unknown paths with a JSON 404', async () => {
    const res = await get('/e2e-this-path-does-not-exist');
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'Not Found');
  });

  it('lists the example resource', async () => {
    const res = await get('/items');
    assert.equal(res.status, 200);
    assert.ok(Array.isArray((await res.json()).items));
  });
});
