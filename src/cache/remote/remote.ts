/**
 * The travelling cache of one build (`--cache-from`, `--cache-to`): it stands in front of the
 * local instruction cache, answering a local miss from the imported records, and records every
 * result the build hits or makes (cache key → chain of snapshots) for the export after it.
 * The solver sees only a ResultCache; what a hit becomes (snapshots) is the caller's `unpack`.
 */
import type { BlobProvider } from '../../content/content.ts';
import type { Digest } from '../../digest/digest.ts';
import { errorText } from '../../progress/events.ts';
import type { ResultCache } from '../../solver/solver.ts';
import {
  type CarriedResult,
  type ChainResult,
  type ExportDeps,
  exportCaches,
  selectResults,
} from './export.ts';
import { type ImportDeps, type RemoteHit, RemoteImports } from './import.ts';
import { restoreMount } from './mounts.ts';
import type { CacheSpec } from './spec.ts';

export type { RemoteHit } from './import.ts';
export { INLINE_ANNOTATION } from './record.ts';
export type { CacheSpec } from './spec.ts';

export class TravellingCache {
  private readonly imports?: RemoteImports;
  private readonly deps: ImportDeps;
  private readonly to: readonly CacheSpec[];
  /** Every result this build hit or made, by cache key. */
  readonly recorded = new Map<string, ChainResult>();
  /** Cheap keys → the keys results are stored under, as this build used them (solver ContentInputs). */
  readonly links = new Map<string, string>();
  /**
   * Keys whose results only go to outputs that read layer blobs (a push, an archive): a hit on
   * one is neither downloaded nor unpacked; its blobs are fetched (verified) only if an output
   * reads them, and a push to the cache's registry mounts them instead.
   */
  readonly lazyKeys = new Set<string>();
  /** Cache keys of every step of the build (mode=max carries imported results for them). */
  readonly graphKeys = new Set<string>();
  /** Cache keys of the steps the final images are made of (mode=min carries those). */
  readonly finalKeys = new Set<string>();

  /** The content store, with the blobs of lazy hits fetched from their cache on first read. */
  content(base: BlobProvider): BlobProvider {
    const imports = this.imports;
    if (!imports) return base;
    const ready = async (d: Digest) => {
      if (!(await base.info(d))) await imports.fetchDeferred(d);
    };
    return {
      info: async (d: Digest) => (await base.info(d)) ?? imports.deferredInfo(d),
      openRead: async (d: Digest) => {
        await ready(d);
        return base.openRead(d);
      },
      readBlob: async (d: Digest) => {
        await ready(d);
        return base.readBlob(d);
      },
    };
  }

  private constructor(deps: ImportDeps, to: readonly CacheSpec[], imports?: RemoteImports) {
    this.deps = deps;
    this.to = to;
    this.imports = imports;
  }

  /** Read the `from` sources' records (warnings for those that cannot be used). */
  static async open(
    from: readonly CacheSpec[],
    to: readonly CacheSpec[],
    deps: ImportDeps,
  ): Promise<TravellingCache> {
    const imports = from.length ? await RemoteImports.open(from, deps) : undefined;
    return new TravellingCache(deps, to, imports);
  }

  /**
   * `inner` (the local cache), with imported results behind it: a key the local cache lacks and
   * an import has is fetched, unpacked by `unpack` and stored locally too. Every hit and put is
   * recorded for the export.
   */
  wrap<R extends { kind: string }>(
    inner: ResultCache<R>,
    unpack: (hit: RemoteHit, key: string) => Promise<R>,
  ): ResultCache<R> {
    const record = (key: string, r: R) => {
      if (r.kind === 'fs') this.recorded.set(key, r as unknown as ChainResult);
    };
    return {
      get: async (key) => {
        let r = await inner.get(key);
        if (r === undefined && this.imports) {
          const lazy = this.lazyKeys.has(key);
          const hit = lazy ? this.imports.find(key) : await this.imports.lookup(key);
          if (hit) {
            try {
              r = await unpack(hit, key);
              if (lazy) this.imports.deferFetch(hit);
              await inner.put(key, r);
            } catch (err) {
              this.deps.warn(
                `an imported cache layer could not be used, building the step: ${errorText(err)}`,
              );
              r = undefined;
            }
          }
        }
        if (r !== undefined) record(key, r);
        return r;
      },
      // Asked before solving a step ahead of need: an import's hit is only looked up, not fetched.
      has: async (key) =>
        (inner.has ? await inner.has(key) : (await inner.get(key)) !== undefined) ||
        this.imports?.find(key) !== undefined,
      put: async (key, r) => {
        await inner.put(key, r);
        record(key, r);
      },
      // Which key a cheap key leads to (solver ContentInputs): local first, then imports.
      getLink: async (key) => {
        const target = (await inner.getLink?.(key)) ?? this.imports?.link(key);
        if (target === undefined) return undefined;
        this.links.set(key, target);
        // A lazy root (markRoot) is named by its cheap key: what it leads to is taken lazily too.
        if (this.lazyKeys.has(key)) this.lazyKeys.add(target);
        return target;
      },
      putLink: async (key, target) => {
        await inner.putLink?.(key, target);
        this.links.set(key, target);
      },
    };
  }

  /**
   * Fill the build's cache mounts (`ids`) the imports carry and this root has empty. Failures
   * are warnings: the RUN steps then start from an empty cache, as on a fresh machine.
   */
  async restoreMounts(
    stateRoot: string,
    ids: readonly string[],
    maxBytes: (compressedSize: number) => number,
  ): Promise<void> {
    const imports = this.imports;
    if (!imports) return;
    for (const id of ids) {
      const found = imports.mounts.get(id);
      if (!found) continue;
      try {
        await imports.fetch(found.layer, found.blobs);
        await restoreMount(
          stateRoot,
          id,
          found.layer,
          this.deps.content,
          maxBytes(found.layer.size),
          found.mount,
        );
      } catch (err) {
        this.deps.warn(`cache mount "${id}" from ${found.where} could not be restored: ${errorText(err)}`);
      }
    }
  }

  /**
   * The inline record of an image whose filesystem is `final` (`--cache-to type=inline`): the
   * results it is made of, their layers named by position in the image's own layer list. It goes
   * into the image's manifest as an annotation; undefined when no inline cache is asked for.
   */
  inlineRecord(final: ChainResult): string | undefined {
    if (!this.to.some((s) => s.type === 'inline')) return undefined;
    const results = selectResults(this.recorded, [final], 'min')
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([key, r]) => ({
        key,
        layers: r.layers.map((_, i) => i),
        created: r.layers.map((l) => l.created ?? null),
      }));
    const have = new Set(results.map((r) => r.key));
    const links = [...this.links]
      .filter(([, t]) => have.has(t))
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([key, target]) => ({ key, target }));
    return JSON.stringify(links.length ? { results, links } : { results });
  }

  /**
   * Repositories on `domain` an imported record says hold `digest`: a push there mounts the blob
   * across repositories instead of uploading it.
   */
  mountSources(domain: string, digest: string): string[] {
    return (this.imports?.repos ?? [])
      .filter((r) => r.domain === domain && r.digests.has(digest))
      .map((r) => r.path);
  }

  /** Export to every `--cache-to`; `finals` are the built images' filesystems (mode=min). */
  async export(finals: readonly ChainResult[], deps: Omit<ExportDeps, keyof ImportDeps>): Promise<void> {
    if (!this.to.length) return;
    const imports = this.imports;
    await exportCaches(this.to, this.recorded, finals, {
      ...this.deps,
      ...deps,
      links: this.links,
      content: this.content(this.deps.content),
      mountFrom: (domain, digest) => this.mountSources(domain, digest),
      carried: (mode) => {
        if (!imports) return [];
        const out: CarriedResult[] = [];
        for (const cheap of mode === 'max' ? this.graphKeys : this.finalKeys) {
          // A step this build never looked up is known by its cheap key: an import may link it.
          const key = imports.find(cheap) ? cheap : (imports.link(cheap) ?? cheap);
          if (this.recorded.has(key)) continue;
          const hit = imports.find(key);
          if (!hit) continue;
          if (key !== cheap) this.links.set(cheap, key);
          imports.deferFetch(hit);
          out.push({ key, layers: hit.layers, created: hit.created });
        }
        return out;
      },
    });
  }
}
