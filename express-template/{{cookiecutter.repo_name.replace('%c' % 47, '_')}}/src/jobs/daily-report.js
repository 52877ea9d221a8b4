'use strict';

/**
 * The example batch job run by Rundeck (rundeck/jobs.yaml): report on the
 * previous UTC day. Replace `collect` with the real work.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The previous whole UTC day before `now`.
 *
 * @param {Date} now
 * @returns {object} `{from, to}` Dates: from inclusive, to exclusive.
 */
function reportWindow(now) {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return { from: new Date(to.getTime() - DAY_MS), to };
}

/**
 * Run the job once.
 *
 * @param {object} options
 * @param {import('pino').Logger} options.logger
 * @param {Date} [options.now] defaults to the current time.
 * @param {Function} [options.collect] async `(window) => summary`, the real work.
 * @returns {Promise<{from: string, to: string, summary: object}>}
 */
async function runDailyReport({ logger, now = new Date(), collect = async () => ({ items: 0 }) }) {
  const window = reportWindow(now);
  logger.info({ from: window.from.toISOString(), to: window.to.toISOString() }, 'daily report started');
  const summary = await collect(window);
  logger.info({ summary }, 'daily report finished');
  return { from: window.from.toISOString(), to: window.to.toISOString(), summary };
}

module.exports = { reportWindow, runDailyReport };
