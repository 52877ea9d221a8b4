'use strict';

const assert = require('node:assert/strict');
const { Writable } = require('node:stream');
const { describe, it } = require('node:test');
const express = require('express');
const pinoHttp = require('pino-http');
const request = require('supertest');

const { createApp } = require('../src/app');
const { errorHandler } = require('../src/errors');
const { createLogger } = require('../src/logger');

/** A logger whose JSON lines are kept in `lines` instead of going to stdout. */
function captureLogger() {
  const lines = [];
  const destination = new Writable({
    write(chunk, encoding, callback) {
      lines.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line)));
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('app', () => {
  it('answers /healthz with 200 and JSON', async () => {
    const { logger } = captureLogger();
    const res = await request(createApp({ logger })).get('/healthz');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('answers unknown paths with a JSON 404', async () => {
    const { logger } = captureLogger();
    const res = await request(createApp({ logger })).get('/no/such/page');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'Not Found', path: '/no/such/page' });
  });

  it('answers malformed JSON bodies with a JSON 400', async () => {
    const { logger } = captureLogger();
    const res = await request(createApp({ logger }))
      .post('/items')
      .set('Content-Type', 'application/json')
      .send('{"name": ');
    assert.equal(res.status, 400);
    assert.equal(typeof res.body.error, 'string');
    assert.equal(res.body.requestId, res.headers['x-request-id']);
  });

  it('answers unexpected errors with a JSON 500 that hides the cause, and logs it', async () => {
    const { lines, logger } = captureLogger();
    const app = express();
    app.use(pinoHttp({ logger }));
    app.get('/boom', () => {
      throw new Error('database password is hunter2');
    });
    app.use(errorHandler);
    const res = await request(app).get('/boom');
    assert.equal(res.status, 500);
    assert.equal(res.body.error, 'Internal Server Error');
    assert.doesNotMatch(res.text, /hunter2/);
    assert.ok(lines.some((line) => line.err && line.err.message === 'database password is hunter2'));
  });

  it('sets security headers and hides the framework', async () => {
    const { logger } = captureLogger();
    const res = await request(createApp({ logger })).get('/healthz');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  it('reuses a well-formed X-Request-Id and replaces a malformed one', async () => {
    const { logger } = captureLogger();
    const app = createApp({ logger });
    const kept = await request(app).get('/healthz').set('X-Request-Id', 'abc-123');
    assert.equal(kept.headers['x-request-id'], 'abc-123');
    const replaced = await request(app).get('/healthz').set('X-Request-Id', 'bad id with spaces');
    assert.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  it('logs requests as JSON with the request id and redacts credentials', async () => {
    const { lines, logger } = captureLogger();
    await request(createApp({ logger }))
      .get('/items')
      .set('Authorization', 'Bearer secret-token')
      .set('Cookie', 'session=secret-cookie')
      .set('X-Request-Id', 'req-42');
    const entry = lines.find((line) => line.req && line.req.url === '/items');
    assert.ok(entry, 'a request log line');
    assert.equal(entry.req.id, 'req-42');
    assert.equal(entry.res.statusCode, 200);
    assert.equal(entry.req.headers.authorization, '[REDACTED]');
    assert.equal(entry.req.headers.cookie, '[REDACTED]');
    assert.doesNotMatch(JSON.stringify(lines), /secret-(token|cookie)/);
  });
});
