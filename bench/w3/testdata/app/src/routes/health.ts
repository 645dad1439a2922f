import { Router } from 'express';

const started = Date.now();

/** Liveness and a version string; the bench's incremental phase edits VERSION. */
export const VERSION = 'w3-0';

export function healthRouter(): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true, version: VERSION, uptimeSeconds: Math.round((Date.now() - started) / 1000) });
  });
  return router;
}
