/**
 * Importing travelling caches: each `--cache-from` source's record is read before the build
 * solves (a source that is missing, unauthorized, corrupt or foreign is a warning naming it,
 * and the build goes on without it); on a cache-key hit the result's layers are fetched into
 * the content store, verified by digest as they are written, and unpacked into snapshots by the
 * caller's `unpack`, so the step does not run. A layer that fails verification turns that hit
 * (and every other that needs it) into a miss with a warning: the step is built instead.
 */
import type { BlobHolder, BlobProvider, Ingester } from '../../content/content.ts';
import type { Digest } from '../../digest/digest.ts';
import type { Platform } from '../../oci/platform.ts';
import { errorText, type ProgressSink } from '../../progress/events.ts';
import { ReportedStep } from '../../progress/step.ts';
import type { CacheLayer, CacheMount } from './record.ts';
import { type CacheSpec, describeCacheSpec } from './spec.ts';
import { cacheReference, openCacheSource, readRecord, type WhereDeps } from './where.ts';

/** A hit: the layers of a result with their history times, and where to read them. */
export interface RemoteHit {
  layers: CacheLayer[];
  created: (string | null)[];
}

/** What an import needs from the build. */
export interface ImportDeps extends WhereDeps {
  content: Ingester & BlobHolder & BlobProvider;
  progress: ProgressSink;
  /** A warning for the user (shown, and returned with the build's result). */
  warn(message: string): void;
  /** The platform whose manifest an inline-cache image gives. */
  platform: Platform;
}

interface Entry {
  hit: RemoteHit;
  blobs: BlobProvider;
  where: string;
}

export class RemoteImports {
  private readonly deps: ImportDeps;
  private readonly byKey = new Map<string, Entry>();
  private readonly links = new Map<string, string>();
  private readonly fetched = new Map<string, Promise<void>>();
  private readonly broken = new Set<string>();
  /** Registry sources read, with the blobs each holds: cross-repository mount sources on push. */
  readonly repos: { domain: string; path: string; digests: Set<string> }[] = [];
  /** Cache mounts the sources carry, by id (the first source naming an id wins). */
  readonly mounts = new Map<
    string,
    { layer: CacheLayer; mount: CacheMount; blobs: BlobProvider; where: string }
  >();

  private constructor(deps: ImportDeps) {
    this.deps = deps;
  }

  /** Read every source's record; failures are warnings. */
  static async open(specs: readonly CacheSpec[], deps: ImportDeps): Promise<RemoteImports> {
    const imports = new RemoteImports(deps);
    await Promise.all(specs.map((s) => imports.load(s)));
    return imports;
  }

  get size(): number {
    return this.byKey.size;
  }

  private async load(spec: CacheSpec): Promise<void> {
    const where = describeCacheSpec(spec);
    const step = new ReportedStep(
      this.deps.progress,
      `importing cache manifest from ${where}`,
      spec.type,
    ).start();
    try {
      const source = await openCacheSource(spec, this.deps);
      const { record } = await readRecord(spec, source, this.deps.platform);
      for (const r of record.results) {
        if (this.byKey.has(r.key)) continue;
        this.byKey.set(r.key, {
          hit: { layers: r.layers.map((i) => record.layers[i]), created: r.created },
          blobs: source.blobs,
          where,
        });
      }
      for (const l of record.links ?? []) if (!this.links.has(l.key)) this.links.set(l.key, l.target);
      if (spec.type !== 'local') {
        const ref = cacheReference(spec);
        this.repos.push({
          domain: ref.domain,
          path: ref.path,
          digests: new Set(record.layers.map((l) => l.digest)),
        });
      }
      for (const m of record.mounts as CacheMount[])
        if (!this.mounts.has(m.id))
          this.mounts.set(m.id, { layer: record.layers[m.layer], mount: m, blobs: source.blobs, where });
      step.note(
        `${record.results.length} results, ${record.layers.length} layers, ${record.mounts.length} cache mounts`,
      );
      step.done();
    } catch (err) {
      // buildx: an unusable cache source is a warning, and the build goes on cold.
      this.deps.warn(`cache import from ${where} failed, building without it: ${errorText(err)}`);
      step.done();
    }
  }

  /**
   * The result a key names, its layers present in the content store (and held by the build),
   * or undefined: no source has it, or a layer it needs could not be fetched and verified.
   */
  async lookup(key: string): Promise<RemoteHit | undefined> {
    const entry = this.byKey.get(key);
    if (!entry) return undefined;
    for (const l of entry.hit.layers) if (this.broken.has(l.digest)) return undefined;
    try {
      await Promise.all(entry.hit.layers.map((l) => this.fetch(l, entry.blobs)));
      return entry.hit;
    } catch (err) {
      this.byKey.delete(key);
      this.deps.warn(`cache from ${entry.where} is unusable for a step, building it: ${errorText(err)}`);
      return undefined;
    }
  }

  /** The key an imported record says a cheap key leads to (solver ContentInputs). */
  link(key: string): string | undefined {
    return this.links.get(key);
  }

  /** The hit a key names, without fetching anything (a lazy hit). */
  find(key: string): RemoteHit | undefined {
    const entry = this.byKey.get(key);
    if (!entry || entry.hit.layers.some((l) => this.broken.has(l.digest))) return undefined;
    return entry.hit;
  }

  private readonly deferred = new Map<string, { layer: CacheLayer; blobs: BlobProvider }>();

  /** Remember where a lazy hit's layers come from, for a later read. */
  deferFetch(hit: RemoteHit): void {
    const entry = [...this.byKey.values()].find((e) => e.hit === hit);
    if (!entry) return;
    for (const l of hit.layers)
      if (!this.deferred.has(l.digest)) this.deferred.set(l.digest, { layer: l, blobs: entry.blobs });
  }

  /** Fetch a deferred blob now (verified); nothing when it is not one. */
  async fetchDeferred(digest: string): Promise<void> {
    const d = this.deferred.get(digest);
    if (d) await this.fetch(d.layer, d.blobs);
  }

  /** A deferred blob's size, as the content store would report it once fetched. */
  deferredInfo(digest: string): { digest: Digest; size: number } | undefined {
    const d = this.deferred.get(digest);
    return d ? { digest: digest as Digest, size: d.layer.size } : undefined;
  }

  /** Bring one layer blob into the content store, verified against its digest and size. */
  fetch(layer: CacheLayer, blobs: BlobProvider): Promise<void> {
    let p = this.fetched.get(layer.digest);
    if (!p) {
      p = (async () => {
        const content = this.deps.content;
        const absent = await content.hold([layer.digest as Digest]);
        if (absent.length === 0) return;
        await content.ingest(await blobs.openRead(layer.digest as Digest), {
          digest: layer.digest as Digest,
          size: layer.size,
        });
      })();
      p.catch(() => this.broken.add(layer.digest));
      this.fetched.set(layer.digest, p);
    }
    return p;
  }
}
