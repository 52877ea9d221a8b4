'use strict';

// Monitoring first: the agents must load before express and http are required.
const { enabled: monitoring } = require('./instrument');

const { createApp } = require('./app');
const { loadConfig } = require('./config');
const { createLogger } = require('./logger');

/**
 * Listen on `config.host:config.port` and stop cleanly on SIGTERM/SIGINT.
 *
 * Shutdown stops accepting connections, lets in-flight requests finish and
 * closes idle keep-alive sockets; whatever is still open after
 * `config.shutdownTimeoutMs` is cut.
 *
 * @param {ReturnType<typeof loadConfig>} config
 * @param {import('pino').Logger} logger
 * @returns {Promise<{server: import('http').Server, shutdown: (signal?: string) => Promise<void>}>}
 */
function startServer(config = loadConfig(), logger = createLogger({ level: config.logLevel, serviceName: config.serviceName })) {
  const app = createApp({ logger });
  const server = app.listen(config.port, config.host);
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.headersTimeoutMs;

  let closing;
  function shutdown(signal = 'shutdown') {
    if (closing) {
      return closing;
    }
    logger.info({ signal }, 'shutting down');
    closing = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout: closing open connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      timer.unref();
      server.close((err) => {
        clearTimeout(timer);
        if (err) {
          reject(err);
        } else {
          logger.info('stopped');
          resolve();
        }
      });
      server.closeIdleConnections();
    });
    return closing;
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address();
      logger.info({ host: address.address, port: address.port, monitoring }, 'listening');
      resolve({ server, shutdown });
    });
  });
}

async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, serviceName: config.serviceName });
  const { shutdown } = await startServer(config, logger);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      shutdown(signal).then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (require.main === module) {
  main().catch((err) => {
    // The logger may not exist yet (bad configuration): write plain JSON.
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'startup failed', err: String(err) })}\n`);
    process.exit(1);
  });
}

module.exports = { startServer };
