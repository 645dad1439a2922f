/**
 * A build report (`kiln build --report`, `kiln report ID`): a past build from history with its
 * timeline (each step's wait for a free slot, its run, the export tasks, the critical path), its
 * cache hits and misses with their reasons, and the image's layers and config as stored now.
 * The same data is JSON for dashboards or one self-contained HTML page (html.ts).
 */
import { join } from 'node:path';
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { renderHtml } from './html.ts';
import { analyseImage, type ImageView } from './layers.ts';
import { openHistory } from './records.ts';
import type { BuildRecord, StepView } from './session.ts';

export interface TimedStep extends StepView {
  /** Milliseconds from the build's start: when its inputs were done, when it started and ended. */
  ready: number;
  start: number;
  end: number;
  /** `export` for the exporting steps, `internal` for BuildKit's internal ones. */
  kind: 'step' | 'internal' | 'export';
  critical: boolean;
}

export interface Report {
  kind: 'kiln-build-report';
  version: 1;
  build: Omit<BuildRecord, 'steps'>;
  steps: TimedStep[];
  images: ImageView[];
  totals: {
    durationMs: number;
    steps: number;
    hits: number;
    misses: number;
    cacheRatio: number;
    /** Summed over platforms: compressed layer bytes, file bytes, wasted bytes. */
    layerBytes: number;
    contentBytes: number;
    wastedBytes: number;
  };
  notes: string[];
}

/** Open history in `root` and find a build by id or unique prefix. */
export function loadBuild(root: string, id: string): BuildRecord {
  const db = openHistory(join(root, 'history.db'));
  try {
    const b = db.build<BuildRecord>(id);
    if (!b)
      throw new KilnError('BUILD_NOT_FOUND', `no build "${id}" in the build history`, {
        hint: 'list recent builds with `kiln history`',
      });
    return b;
  } finally {
    db.close();
  }
}

/** The report of a build: its record, timings and the image's layers. */
export async function buildReport(
  store: { root: string; content: BlobProvider },
  id: string,
): Promise<Report> {
  const b = loadBuild(store.root, id);
  const notes: string[] = [];
  let images: ImageView[] = [];
  if (b.image) {
    try {
      images = await analyseImage(store.content, b.image.digest as Digest);
    } catch (err) {
      notes.push(`the image's layers could not be read: ${(err as Error).message}`);
    }
  } else notes.push('the build exported no image: there are no layers to show');
  for (const i of images) if (i.missing) notes.push(`${i.platform}: ${i.missing}`);
  const steps = timeline(b);
  const { steps: _s, ...build } = b;
  const layers = images.flatMap((i) => i.layers);
  const looked = b.hits + b.misses;
  return {
    kind: 'kiln-build-report',
    version: 1,
    build,
    steps,
    images,
    totals: {
      durationMs: (b.finished ?? b.started) - b.started,
      steps: steps.length,
      hits: b.hits,
      misses: b.misses,
      cacheRatio: looked ? b.hits / looked : 0,
      layerBytes: layers.reduce((n, l) => n + l.size, 0),
      contentBytes: layers.reduce((n, l) => n + l.contentBytes, 0),
      wastedBytes: layers.reduce((n, l) => n + l.wasted, 0),
    },
    notes,
  };
}

/** The report as JSON or as an HTML page. */
export async function renderReport(
  store: { root: string; content: BlobProvider },
  id: string,
  format: 'json' | 'html',
): Promise<string> {
  const r = await buildReport(store, id);
  return format === 'json' ? `${JSON.stringify(r, null, 2)}\n` : renderHtml(r);
}

/**
 * Each step's times relative to the build's start, and the critical path: from the step that
 * ended last, back through the input that ended last, to the start.
 */
export function timeline(b: BuildRecord): TimedStep[] {
  const t0 = b.started;
  const byId = new Map(b.steps.map((s) => [s.id, s]));
  const out: TimedStep[] = b.steps.map((s) => {
    const end = (s.completed ?? b.finished ?? t0) - t0;
    const start = Math.min(end, (s.started ?? s.completed ?? t0) - t0);
    const inputsDone = (s.inputs ?? []).map((i) => byId.get(i)?.completed ?? t0).map((t) => t - t0);
    const ready = Math.min(start, inputsDone.length ? Math.max(...inputsDone) : start);
    const kind = /^export/i.test(s.name) ? 'export' : s.name.startsWith('[internal]') ? 'internal' : 'step';
    return { ...s, ready, start, end, kind, critical: false };
  });
  const timed = new Map(out.map((s) => [s.id, s]));
  let cur = out
    .filter((s) => s.kind !== 'export')
    .reduce<TimedStep | undefined>((a, s) => (!a || s.end > a.end ? s : a), undefined);
  const seen = new Set<string>();
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    cur.critical = true;
    const ins = (cur.inputs ?? []).map((i) => timed.get(i)).filter((s): s is TimedStep => s !== undefined);
    cur = ins.reduce<TimedStep | undefined>((a, s) => (!a || s.end > a.end ? s : a), undefined);
  }
  for (const s of out) if (s.kind === 'export') s.critical = true;
  return out;
}
