import { Router } from 'express';
import { z } from 'zod';
import { TodoStore } from '../lib/store';

const body = z.object({ title: z.string().min(1).max(200) });

export function todosRouter(store = new TodoStore()): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.json(store.list());
  });
  router.post('/', (req, res) => {
    const parsed = body.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: parsed.error.flatten() });
      return;
    }
    res.status(201).json(store.add(parsed.data.title));
  });
  router.post('/:id/toggle', (req, res) => {
    const todo = store.toggle(req.params.id);
    if (todo) res.json(todo);
    else res.status(404).end();
  });
  router.delete('/:id', (req, res) => {
    res.status(store.remove(req.params.id) ? 204 : 404).end();
  });
  return router;
}
