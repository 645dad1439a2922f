import compression from 'compression';
import cors from 'cors';
import express from 'express';
import helmet from 'helmet';
import type { Config } from './config';
import { logger } from './lib/logger';
import { healthRouter } from './routes/health';
import { packagesRouter } from './routes/proxy';
import { todosRouter } from './routes/todos';

export function createApp(config: Config): express.Express {
  const app = express();
  app.use(helmet());
  app.use(cors());
  app.use(compression());
  app.use(express.json({ limit: '100kb' }));
  app.use((req, _res, next) => {
    logger.debug({ method: req.method, url: req.url }, 'request');
    next();
  });
  app.use(healthRouter());
  app.use('/todos', todosRouter());
  app.use('/packages', packagesRouter(config.UPSTREAM_URL));
  return app;
}
