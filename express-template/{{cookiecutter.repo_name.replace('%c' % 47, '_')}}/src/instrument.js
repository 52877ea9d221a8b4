'use strict';

/**
 * Monitoring agents, loaded before anything else so they can patch modules.
 *
 * Each agent starts only when its environment variable is set, so local runs
 * and tests never talk to a monitoring service.
{%- if cookiecutter.use_newrelic == 'yes' %}
 *
 * New Relic: NEW_RELIC_LICENSE_KEY (settings in newrelic.js, NEW_RELIC_* variables win).
{%- endif %}
{%- if cookiecutter.use_sentry == 'yes' %}
 *
 * Sentry: SENTRY_DSN (plus SENTRY_ENVIRONMENT and SENTRY_RELEASE if wanted).
{%- endif %}
 */

const enabled = [];
{%- if cookiecutter.use_newrelic == 'yes' %}

if (process.env.NEW_RELIC_LICENSE_KEY) {
  // The agent reads newrelic.js from NEW_RELIC_HOME, else the working directory.
  process.env.NEW_RELIC_HOME ??= require('node:path').join(__dirname, '..');
  require('newrelic');
  enabled.push('newrelic');
}
{%- endif %}
{%- if cookiecutter.use_sentry == 'yes' %}

if (process.env.SENTRY_DSN) {
  const Sentry = require('@sentry/node');
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    environment: process.env.SENTRY_ENVIRONMENT || process.env.APP_ENV || 'development',
    release: process.env.SENTRY_RELEASE,
    tracesSampleRate: Number(process.env.SENTRY_TRACES_SAMPLE_RATE || 0),
  });
  enabled.push('sentry');
}
{%- endif %}

module.exports = { enabled };
