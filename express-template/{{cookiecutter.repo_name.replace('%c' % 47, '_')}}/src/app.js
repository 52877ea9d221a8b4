'use strict';

const { randomUUID } = require('node:crypto');
const express = require('express');
const helmet = require('helmet');
const pinoHttp = require('pino-http');

const { createLogger } = require('./logger');
const { errorHandler, notFoundHandler } = require('./errors');
const { itemsRouter } = require('./routes/items');

const REQUEST_ID_HEADER = 'x-request-id';
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Reuse the load balancer's request id when it looks sane, else make one. */
function requestId(req, res) {
  const incoming = req.headers[REQUEST_ID_HEADER];
  const id = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/**
 * Build the Express application without listening on a port (tests import this).
 *
 * @param {object} [options]
 * @param {import('pino').Logger} [options.logger] where request logs go; defaults to a JSON logger on stdout.
 * @returns {import('express').Express}
 */
function createApp({ logger = createLogger() } = {}) {
  const app = express();
  app.disable('x-powered-by');
  // One hop: the Elastic Beanstalk load balancer sets X-Forwarded-For.
  app.set('trust proxy', 1);

  app.use(helmet());
  app.use(
    pinoHttp({
      logger,
      genReqId: requestId,
      customLogLevel: (req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      autoLogging: { ignore: (req) => req.url === '/healthz' },
    }),
  );
  app.use(express.json({ limit: '100kb' }));

  app.get('/healthz', (req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/items', itemsRouter());

  app.use(notFoundHandler);
{%- if cookiecutter.use_sentry == 'yes' %}
  if (process.env.SENTRY_DSN) {
    // Sentry sees the error first, then our handler answers in JSON.
    require('@sentry/node').setupExpressErrorHandler(app);
  }
{%- endif %}
  app.use(errorHandler);
  return app;
}

module.exports = { createApp };
