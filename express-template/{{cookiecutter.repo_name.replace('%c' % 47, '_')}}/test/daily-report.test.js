'use strict';

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');

const { createLogger } = require('../src/logger');
const { reportWindow, runDailyReport } = require('../src/jobs/daily-report');

describe('daily report job', () => {
  it('covers the previous whole UTC day', () => {
    const { from, to } = reportWindow(new Date('2024-03-01T00:30:00+09:00'));
    assert.equal(from.toISOString(), '2024-02-28T00:00:00.000Z');
    assert.equal(to.toISOString(), '2024-02-29T00:00:00.000Z');
  });

  it('passes the window to the work and returns its summary', async () => {
    const seen = [];
    const result = await runDailyReport({
      logger: createLogger({ level: 'silent' }),
      now: new Date('2024-01-02T12:00:00Z'),
      collect: async (window) => {
        seen.push(window.from.toISOString());
        return { items: 3 };
      },
    });
    assert.deepEqual(seen, ['2024-01-01T00:00:00.000Z']);
    assert.deepEqual(result, { from: '2024-01-01T00:00:00.000Z', to: '2024-01-02T00:00:00.000Z', summary: { items: 3 } });
  });
});
