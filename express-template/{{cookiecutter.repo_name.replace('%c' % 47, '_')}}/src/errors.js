'use strict';

/** An error whose message may be shown to the client, with its HTTP status. */
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

function notFoundHandler(req, res) {
  res.status(404).json({ error: 'Not Found', path: req.path });
}

// Express recognises error handlers by their four parameters: keep `next`.
// eslint-disable-next-line no-unused-vars
function errorHandler(err, req, res, next) {
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status < 600 ? err.status : 500;
  if (status >= 500) {
    req.log.error({ err }, 'request failed');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  // Client errors (bad JSON, validation) explain themselves; server errors do not leak details.
  const message = status < 500 && err.expose !== false ? err.message : 'Internal Server Error';
  res.status(status).json({ error: message, requestId: req.id });
}

module.exports = { HttpError, notFoundHandler, errorHandler };
