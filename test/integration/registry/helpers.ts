/**
 * Helpers for registry integration tests: a fresh local store in a temp dir, and small synthetic
 * images (random layers, a config, a manifest; optionally an index over two platforms).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Digest, sha256 } from '../../../src/digest/digest.ts';
import type { Descriptor } from '../../../src/oci/descriptor.ts';
import { MediaType } from '../../../src/oci/mediatypes.ts';
import type { Platform } from '../../../src/oci/platform.ts';
import { openStore, type Store } from '../../../src/store/store.ts';

export function tempStore(): Store & { cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-reg-store-'));
  const store = openStore(dir);
  return Object.assign(store, {
    cleanup() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export interface MadeImage {
  manifest: Descriptor;
  layers: Descriptor[];
  config: Descriptor;
}

/** Write an image with layers of the given (uncompressed, random) sizes into a store. */
export async function makeImage(
  store: Store,
  layerSizes: number[],
  platform: Platform = { os: 'linux', architecture: 'amd64' },
  docker = false,
): Promise<MadeImage> {
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const n of layerSizes) {
    const raw = randomBytes(n);
    const gz = gzipSync(raw, { level: 1 });
    diffIds.push(sha256(raw));
    const info = await store.content.writeBlob(gz);
    layers.push({
      mediaType: docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
      digest: info.digest,
      size: info.size,
    });
  }
  const cfgBytes = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      rootfs: { type: 'layers', diff_ids: diffIds },
      config: { Env: ['A=1'] },
    }),
  );
  const ci = await store.content.writeBlob(cfgBytes);
  const config: Descriptor = {
    mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig,
    digest: ci.digest,
    size: ci.size,
  };
  const mt = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const mBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, config, layers }));
  const mi = await store.content.writeBlob(mBytes);
  return { manifest: { mediaType: mt, digest: mi.digest, size: mi.size, platform }, layers, config };
}

/** Write an OCI index over the given manifests. */
export async function makeIndex(store: Store, manifests: Descriptor[]): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  const info = await store.content.writeBlob(bytes);
  return { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size };
}

/** Credentials for the rig's registry, which asks for none. */
export const anonymous = async (): Promise<undefined> => undefined;

/** Retries quick enough for a test's faults. */
export const fastRetry = { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 };
