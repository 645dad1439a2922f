import { createApp } from './app';
import { loadConfig } from './config';
import { logger } from './lib/logger';

const config = loadConfig();
const server = createApp(config).listen(config.PORT, () => {
  logger.info({ port: config.PORT }, 'listening');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
