'use strict';

const express = require('express');
const { HttpError } = require('../errors');

/**
 * The example resource: a small in-memory collection of items.
 *
 * Replace the Map with your data store; keep the handlers thin.
 *
 * @returns {import('express').Router}
 */
function itemsRouter() {
  const router = express.Router();
  const items = new Map();
  let nextId = 1;

  function parseItem(body) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(400, 'body must be a JSON object');
    }
    const { name } = body;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 200) {
      throw new HttpError(400, 'name must be a non-empty string of at most 200 characters');
    }
    return { name: name.trim() };
  }

  function findItem(id) {
    const item = items.get(id);
    if (!item) {
      throw new HttpError(404, `item ${id} not found`);
    }
    return item;
  }

  router.get('/', (req, res) => {
    res.json({ items: [...items.values()] });
  });

  router.post('/', (req, res) => {
    const item = { id: String(nextId++), ...parseItem(req.body), createdAt: new Date().toISOString() };
    items.set(item.id, item);
    res.status(201).location(`${req.baseUrl}/${item.id}`).json(item);
  });

  router.get('/:id', (req, res) => {
    res.json(findItem(req.params.id));
  });

  router.put('/:id', (req, res) => {
    const item = { ...findItem(req.params.id), ...parseItem(req.body) };
    items.set(item.id, item);
    res.json(item);
  });

  router.delete('/:id', (req, res) => {
    findItem(req.params.id);
    items.delete(req.params.id);
    res.status(204).end();
  });

  return router;
}

module.exports = { itemsRouter };
