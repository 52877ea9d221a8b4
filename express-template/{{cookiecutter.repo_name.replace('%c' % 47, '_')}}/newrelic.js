'use strict';

/**
 * New Relic agent configuration, read by `require('newrelic')` in src/instrument.js.
 * The agent starts only when NEW_RELIC_LICENSE_KEY is set; every setting here can be
 * overridden by its NEW_RELIC_* environment variable.
 */
exports.config = {
  app_name: [process.env.NEW_RELIC_APP_NAME || '{{ cookiecutter.repo_name }}'],
  license_key: process.env.NEW_RELIC_LICENSE_KEY,
  distributed_tracing: { enabled: true },
  logging: { level: 'info', filepath: 'stdout' },
  application_logging: { forwarding: { enabled: false } },
  // Credentials never leave the process.
  attributes: {
    exclude: [
      'request.headers.authorization',
      'request.headers.cookie',
      'request.headers.proxyAuthorization',
      'request.headers.setCookie*',
      'request.headers.x*',
      'response.headers.setCookie*',
    ],
  },
};
