'use strict';

const pino = require('pino');

/** Header and cookie paths never written to the logs. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];

/**
 * JSON logger writing one line per event to stdout (or `destination`).
 *
 * @param {object} [options]
 * @param {string} [options.level] pino level name, e.g. 'info' or 'silent'.
 * @param {string} [options.serviceName] written as `service` on every line.
 * @param {import('stream').Writable} [options.destination] defaults to stdout.
 */
function createLogger({ level = 'info', serviceName = '{{ cookiecutter.repo_name }}', destination } = {}) {
  return pino(
    {
      level,
      base: { service: serviceName },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: {
        level: (label) => ({ level: label }),
      },
    },
    // Synchronous writes: lines keep their order and none is lost when the process exits.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

module.exports = { createLogger, REDACT_PATHS };
