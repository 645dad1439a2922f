/**
 * `kiln from`: a new working container over an image (resolved and unpacked as a build's base
 * image is: the local store first, a registry when absent or with `pull`) or over scratch. Its
 * base chain is kept from prune by an empty labelled snapshot of its own on top, and the image's
 * blobs by a content-store lease without expiry; both go with `kiln rm`.
 */

import { rm } from 'node:fs/promises';
import { WORKING_CONTAINER_LABEL } from '../cache/prune.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import { hostPlatform, normalizePlatform, type Platform } from '../oci/platform.ts';
import { isoTime } from '../sys/time.ts';
import type { ResolvedImage } from '../worker/images.ts';
import type { FsState } from '../worker/state.ts';
import { ContainerLock } from './lock.ts';
import { type ContainerRecord, defaultName } from './record.ts';
import { containerDirs, ensureDirs, requireOverlay } from './rootfs.ts';
import type { Session } from './session.ts';

export interface FromOptions {
  /** Container name (default `<image>-working-container`, numbered when taken). */
  name?: string;
  platform?: Platform;
  /** Pull the image even when the local store has it. */
  pull?: boolean;
}

export async function createContainer(
  s: Session,
  image: string,
  opts: FromOptions = {},
): Promise<ContainerRecord> {
  requireOverlay(s.sn);
  if (opts.name !== undefined) await checkName(s, opts.name);
  const platform = normalizePlatform(opts.platform ?? hostPlatform());
  const id = s.records.newId();
  await s.records.ensureDir();
  // Held from before the first snapshot until the record exists: fsck's sweep of orphans (what a
  // killed `from` made) skips a container whose lock is taken.
  const lock = new ContainerLock(s.records.lockFile(id), 'a new working container');
  await lock.acquire();
  try {
    const { resolved, state } = await s.store.withLease(async () => {
      if (image === 'scratch') return { resolved: undefined, state: { kind: 'fs', layers: [] } as FsState };
      const images = s.baseImages(opts.pull ?? false);
      const resolved = await images.resolve(image, platform);
      const state = await images.unpack(resolved, s.sn);
      return { resolved, state };
    });
    const lease = s.store.meta.createLease({ labels: { [WORKING_CONTAINER_LABEL]: id } });
    const anchor = `wc-${id}-anchor`;
    try {
      if (resolved) for (const d of imageBlobs(resolved)) s.store.meta.addLeaseBlob(lease.id, d);
      const tmp = `wc-${id}-new`;
      await s.sn.prepare(tmp, state.layers.at(-1)?.snapshot);
      await s.sn.commit(anchor, tmp, { labels: { [WORKING_CONTAINER_LABEL]: id } });
      await ensureDirs(containerDirs(s.records.home(id)));
    } catch (err) {
      await undo(s, id, lease.id, anchor);
      throw err;
    }
    const config: ImageConfig = resolved
      ? structuredClone(resolved.config)
      : {
          architecture: platform.architecture,
          os: platform.os,
          config: {},
          rootfs: { type: 'layers', diff_ids: [] },
        };
    if (!resolved && platform.variant) config.variant = platform.variant;
    const rec: ContainerRecord = {
      version: 1,
      id,
      name: '',
      created: isoTime(),
      fromImage: resolved ? resolved.ref.replace(/@sha256:[0-9a-f]{64}$/, '') : 'scratch',
      ...(resolved
        ? {
            fromImageId: resolved.manifest.config.digest,
            fromImageDigest: resolved.manifestDescriptor.digest,
          }
        : {}),
      platform,
      base: state.layers,
      anchor,
      layers: [],
      config,
      commands: [],
      lease: lease.id,
    };
    // Names are unique: chosen and written under one lock across processes.
    const names = new ContainerLock(`${s.records.dir}/names.lock`, 'the container names');
    await names.acquire({ signal: s.opts.signal });
    try {
      if (opts.name !== undefined) await checkName(s, opts.name);
      rec.name = opts.name ?? (await s.records.freeName(defaultName(image)));
      await s.records.write(rec);
    } catch (err) {
      await undo(s, id, lease.id, anchor);
      throw err;
    } finally {
      names.release();
    }
    return rec;
  } finally {
    lock.release();
  }
}

async function checkName(s: Session, name: string): Promise<void> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new KilnError('CONTAINER_NAME_INVALID', `invalid container name "${name}"`, {
      hint: 'use letters, digits, "_", "." and "-", starting with a letter or digit',
    });
  }
  if ((await s.records.list()).some((c) => c.name === name)) {
    throw new KilnError('CONTAINER_NAME_TAKEN', `a working container named "${name}" already exists`, {
      hint: 'choose another --name, or remove that container with `kiln rm`',
    });
  }
}

/** Remove what a failed `from` made. */
async function undo(s: Session, id: string, lease: string, anchor: string): Promise<void> {
  await s.sn.remove(anchor).catch(() => {});
  s.store.meta.deleteLease(lease);
  await rm(s.records.home(id), { recursive: true, force: true });
}

function imageBlobs(img: ResolvedImage): Digest[] {
  const out = [img.manifestDescriptor.digest, img.manifest.config.digest];
  for (const l of img.manifest.layers) if (!l.urls?.length) out.push(l.digest);
  return out;
}
