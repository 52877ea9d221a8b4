#!/usr/bin/env node
'use strict';

// Batch entry point: `node scripts/daily-report.js` (Rundeck runs it in the service image).
// Exit code 0 on success, 1 on failure; logs are JSON lines on stdout.

require('../src/instrument');
const { loadConfig } = require('../src/config');
const { createLogger } = require('../src/logger');
const { runDailyReport } = require('../src/jobs/daily-report');

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, serviceName: `${config.serviceName}-batch` });

runDailyReport({ logger }).then(
  () => process.exit(0),
  (err) => {
    logger.error({ err }, 'daily report failed');
    process.exit(1);
  },
);
