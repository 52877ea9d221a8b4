'use strict';

/**
 * Runtime settings, read once from the environment.
 *
 * Timeouts are in milliseconds. The keep-alive timeout must be longer than the
 * load balancer's idle timeout (60 s by default on Elastic Beanstalk), otherwise
 * Node closes idle connections the balancer still reuses and clients see 502s.
 */

function intFromEnv(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function loadConfig(env = process.env) {
  const keepAliveTimeoutMs = intFromEnv(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000);
  return {
    serviceName: env.SERVICE_NAME || '{{ cookiecutter.repo_name }}',
    host: env.HOST || '0.0.0.0',
    port: intFromEnv(env, 'PORT', 3000),
    logLevel: env.LOG_LEVEL || 'info',
    keepAliveTimeoutMs,
    // Must exceed keepAliveTimeoutMs so a reused socket is not cut while headers arrive.
    headersTimeoutMs: intFromEnv(env, 'HEADERS_TIMEOUT_MS', keepAliveTimeoutMs + 1_000),
    shutdownTimeoutMs: intFromEnv(env, 'SHUTDOWN_TIMEOUT_MS', 10_000),
  };
}

module.exports = { loadConfig };
