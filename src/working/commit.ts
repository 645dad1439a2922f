/**
 * `kiln commit`: the container's changes since its last commit become one layer (its upper dir,
 * turned into a committed snapshot of its own by one rename; deletions are overlay whiteouts,
 * exported as `.wh.` entries), on top of the base image's and earlier commits' layers, with one
 * history entry; `squash` makes one layer of the whole filesystem instead. A commit killed
 * midway is finished or undone by the next command on the container (recoverPending).
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildCache, type LayerRecord } from '../cache/build-cache.ts';
import { WORKING_CONTAINER_LABEL } from '../cache/prune.ts';
import type { Digest } from '../digest/digest.ts';
import { writeImage } from '../exporter/image.ts';
import { LayerExports } from '../exporter/layers.ts';
import type { HistoryEntry, ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Compression } from '../oci/mediatypes.ts';
import { isoTime } from '../sys/time.ts';
import { withStatePath } from '../worker/mounted.ts';
import type { FsState } from '../worker/state.ts';
import type { ContainerRecord } from './record.ts';
import { containerDirs, ensureDirs, moveUpperInto, upperEmpty } from './rootfs.ts';
import type { Session } from './session.ts';

export interface CommitOptions {
  /** One layer holding the whole filesystem (base image included). */
  squash?: boolean;
  /** OCI media types (default) or Docker's. */
  format?: 'oci' | 'docker';
  /** Write no history entries into the image config. */
  omitHistory?: boolean;
  /** Layer compression (default none: the local store keeps layers uncompressed, as build does). */
  compression?: Compression;
}

export interface CommitResult {
  /** The image manifest. */
  manifest: Descriptor;
  /** docker's image ID (the config digest). */
  imageId: Digest;
}

/** Finish (or forget) a commit that was killed between writing `pending` and clearing it. */
export async function recoverPending(s: Session, rec: ContainerRecord): Promise<ContainerRecord> {
  if (!rec.pending) return rec;
  const dirs = containerDirs(s.records.home(rec.id));
  const key = rec.pending.snapshot;
  const exists = await s.sn.stat(key).then(
    () => true,
    () => false,
  );
  const out: ContainerRecord = { ...rec, pending: undefined };
  if (exists) {
    const own = (await s.sn.ownDir(key))!;
    const moved = !(await stat(dirs.upper).catch(() => undefined)) || (await readdir(own)).length > 0;
    if (!moved) await moveUpperInto(s.sn, key, dirs);
    await ensureDirs(dirs);
    out.layers = [...rec.layers, { snapshot: key, created: isoTime(), imaged: false }];
  }
  await s.records.write(out);
  return out;
}

/** The container's upper dir as its next committed snapshot (see the module comment). */
async function snapshotUpper(s: Session, rec: ContainerRecord): Promise<ContainerRecord> {
  const dirs = containerDirs(s.records.home(rec.id));
  const last = rec.layers.at(-1);
  // A commit killed after its snapshot and before its image: that snapshot is this commit's layer.
  if (last && !last.imaged && (await upperEmpty(dirs))) return rec;
  const key = `wc-${rec.id}-${rec.layers.length + 1}`;
  let cur: ContainerRecord = { ...rec, pending: { snapshot: key } };
  await s.records.write(cur);
  const tmp = `${key}-new`;
  await s.sn.prepare(tmp, last?.snapshot ?? rec.anchor);
  await s.sn.commit(key, tmp, { labels: { [WORKING_CONTAINER_LABEL]: rec.id } });
  await moveUpperInto(s.sn, key, dirs);
  cur = {
    ...cur,
    pending: undefined,
    layers: [...rec.layers, { snapshot: key, created: isoTime(), imaged: false }],
  };
  await s.records.write(cur);
  return cur;
}

/** One layer of the whole tree at the top of `state` (for --squash). */
async function squashedLayer(s: Session, state: FsState, compression: Compression): Promise<LayerRecord> {
  const empty = await mkdtemp(join(s.store.root, 'containers', '.empty-'));
  try {
    return await withStatePath(s.sn, state, async (dir) => {
      const { createLayer, diffDirectories } = await import('../archive/layer.ts');
      const layer = createLayer(await diffDirectories(empty, dir), { compression, presorted: true });
      const [made, kept] = await Promise.allSettled([layer.info, s.store.content.ingest(layer.stream)]);
      if (kept.status === 'rejected') throw kept.reason;
      if (made.status === 'rejected') throw made.reason;
      const { digest, diffID, size, mediaType, uncompressedSize } = made.value;
      return { digest, diffID, size, mediaType, uncompressedSize, created: isoTime() };
    });
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}

function historyEntry(rec: ContainerRecord): HistoryEntry {
  const e: HistoryEntry = {
    created_by: rec.createdBy ?? (rec.commands.length ? rec.commands.join('; ') : 'kiln commit'),
  };
  if (rec.config.author) e.author = rec.config.author as string;
  if (rec.historyComment) e.comment = rec.historyComment;
  return e;
}

/**
 * Commit the container into an image in the content store (held by the caller's lease) and
 * return it with the record as it is afterwards (layers marked as in an image, history
 * extended, commands cleared). The caller names or sends the image.
 */
export async function commitContainer(
  s: Session,
  rec0: ContainerRecord,
  opts: CommitOptions = {},
): Promise<{ result: CommitResult; rec: ContainerRecord }> {
  const rec = await snapshotUpper(s, rec0);
  const compression = opts.compression ?? 'uncompressed';
  const state: FsState = {
    kind: 'fs',
    layers: [...rec.base, ...rec.layers.map((l) => ({ snapshot: l.snapshot, created: l.created }))],
  };
  const entry = historyEntry(rec);
  const history = [...(rec.config.history ?? []), entry];
  let layers: LayerRecord[];
  let config: ImageConfig = { ...rec.config, history };
  if (opts.squash) {
    const top: FsState = { kind: 'fs', layers: state.layers.slice(-1) };
    layers = [await squashedLayer(s, top, compression)];
    config = { ...rec.config, history: [entry] };
  } else {
    const cache = new BuildCache(join(s.store.root, 'buildcache.db'));
    try {
      const exports = new LayerExports({
        snapshotter: s.sn,
        content: s.store.content,
        cache,
        progress: () => {},
      });
      layers = await exports.all(state, { compression });
    } finally {
      cache.close();
    }
  }
  if (opts.omitHistory) delete config.history;
  const written = await writeImage(
    s.store.content,
    { config, layers, platform: rec.platform },
    {
      oci: (opts.format ?? 'oci') === 'oci',
      annotations: { manifest: rec.annotations ?? {}, descriptor: {} },
    },
  );
  const after: ContainerRecord = {
    ...rec,
    layers: rec.layers.map((l) => ({ ...l, imaged: true })),
    config: { ...rec.config, history },
    commands: [],
    createdBy: undefined,
    historyComment: undefined,
  };
  return { result: { manifest: written.manifest, imageId: written.configDigest }, rec: after };
}
