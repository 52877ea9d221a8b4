'use strict';

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const request = require('supertest');

const { createApp } = require('../src/app');
const { createLogger } = require('../src/logger');

const newApp = () => createApp({ logger: createLogger({ level: 'silent' }) });

describe('/items', () => {
  it('creates, reads, updates, lists and deletes an item', async () => {
    const app = newApp();
    const created = await request(app).post('/items').send({ name: '  first  ' });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'first');
    assert.equal(created.headers.location, `/items/${created.body.id}`);

    const read = await request(app).get(created.headers.location);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, created.body);

    const updated = await request(app).put(created.headers.location).send({ name: 'renamed' });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.name, 'renamed');

    const list = await request(app).get('/items');
    assert.deepEqual(list.body.items.map((item) => item.name), ['renamed']);

    const deleted = await request(app).delete(created.headers.location);
    assert.equal(deleted.status, 204);
    const gone = await request(app).get(created.headers.location);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error, `item ${created.body.id} not found`);
  });

  it('rejects an item without a name', async () => {
    for (const body of [{}, { name: '' }, { name: 7 }, [1]]) {
      const res = await request(newApp()).post('/items').send(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body.error, /name must be|body must be/);
    }
  });

  it('keeps each app instance separate', async () => {
    const first = newApp();
    await request(first).post('/items').send({ name: 'only here' });
    const res = await request(newApp()).get('/items');
    assert.deepEqual(res.body, { items: [] });
  });
});
