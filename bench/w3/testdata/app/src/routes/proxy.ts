import axios from 'axios';
import { Router } from 'express';

/** Looks a package up in an upstream registry: the service's one outbound call. */
export function packagesRouter(upstream: string): Router {
  const router = Router();
  router.get('/:name', async (req, res) => {
    try {
      const r = await axios.get(`${upstream}/${encodeURIComponent(req.params.name)}`, { timeout: 5000 });
      res.json({ name: r.data.name, latest: r.data['dist-tags']?.latest });
    } catch (err) {
      res.status(502).json({ error: (err as Error).message });
    }
  });
  return router;
}
