/**
 * `GET /events`: what this server did to images and the build cache, in dockerd's event shape
 * (`Type`, `Action`, `Actor`, `time`, `timeNano`, and the legacy `status`/`id`/`from` fields the
 * 20.10 CLI still prints). A bounded ring of recent events answers `since`; subscribers get new
 * ones as they happen until `until` passes or the client leaves. Events come from this server's
 * requests only: a `kiln` command run beside it changes the store without telling it.
 */
import type { ServerResponse } from 'node:http';
import { HttpError } from './api.ts';

export type EventType = 'image' | 'builder';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Legacy fields (API < 1.22 clients and the 20.10 CLI's default format read them). */
  status?: string;
  id?: string;
  from?: string;
}

/** How many past events `since` can reach back over (dockerd keeps 256). */
const HISTORY = 256;

type Listener = (e: EngineEvent) => void;

export class EventLog {
  private readonly past: EngineEvent[] = [];
  private readonly listeners = new Set<Listener>();

  /** Record an event and hand it to every subscriber. `name` is the image name the action was on. */
  emit(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
    const nano = BigInt(Date.now()) * 1_000_000n;
    const e: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nano / 1_000_000_000n),
      timeNano: Number(nano),
    };
    if (type === 'image') {
      e.status = action;
      e.id = id;
      if (attributes.name) e.from = attributes.name;
    }
    this.past.push(e);
    if (this.past.length > HISTORY) this.past.shift();
    for (const l of this.listeners) l(e);
  }

  since(nanos: number): EngineEvent[] {
    return this.past.filter((e) => e.timeNano >= nanos);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/** docker's --since/--until: unix seconds (with an optional fraction), or RFC 3339. */
export function parseEventTime(text: string | null, name: string): number | undefined {
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) {
    const [s, frac = ''] = text.split('.');
    return Number(BigInt(s) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9)));
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new HttpError(400, 'INVALID_QUERY', `${name} "${text}" is not a unix time or an RFC 3339 time`);
  return ms * 1_000_000;
}

export interface EventFilters {
  type?: string[];
  event?: string[];
  image?: string[];
}

const FILTERS = new Set(['type', 'event', 'image']);

export function checkEventFilters(filters: Record<string, string[]>): EventFilters {
  for (const k of Object.keys(filters)) {
    if (!FILTERS.has(k))
      throw new HttpError(
        400,
        'INVALID_FILTER',
        `kiln serve has no "${k}" event filter`,
        'filter on type, event or image (kiln has no containers, volumes or networks)',
      );
  }
  return filters;
}

export function matches(e: EngineEvent, f: EventFilters): boolean {
  if (f.type?.length && !f.type.includes(e.Type)) return false;
  if (f.event?.length && !f.event.includes(e.Action)) return false;
  if (f.image?.length) {
    const names = [e.Actor.ID, e.Actor.Attributes.name].filter(Boolean);
    if (!f.image.some((i) => names.some((n) => n === i || n.startsWith(`${i}:`) || n === `sha256:${i}`)))
      return false;
  }
  return true;
}

/**
 * Stream events to `res`: the past ones from `since`, then live ones until `until` (now or in
 * the future; without it, until the client leaves or the signal aborts).
 */
export async function streamEvents(
  log: EventLog,
  res: ServerResponse,
  opts: { since?: number; until?: number; filters: EventFilters; signal: AbortSignal },
): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const send = (e: EngineEvent) => {
    if (matches(e, opts.filters) && (opts.until === undefined || e.timeNano <= opts.until))
      res.write(`${JSON.stringify(e)}\n`);
  };
  if (opts.since !== undefined) for (const e of log.since(opts.since)) send(e);
  const now = Date.now() * 1_000_000;
  if (opts.until !== undefined && opts.until <= now) {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const unsubscribe = log.subscribe(send);
    const done = () => {
      unsubscribe();
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', done);
      resolve();
    };
    const timer =
      opts.until !== undefined ? setTimeout(done, Math.ceil((opts.until - now) / 1_000_000)) : undefined;
    opts.signal.addEventListener('abort', done, { once: true });
    res.on('close', done);
  });
  if (!res.writableEnded) res.end();
}
