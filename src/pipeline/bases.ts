/**
 * Where a build's base images come from: the local image store first, a registry when absent
 * (or always with `--pull`). The registry client loads on first use: a fully cached build needs
 * none, and is mostly start-up. `kiln build` and `kiln debug graph` resolve alike.
 */
import type { Isolation } from '../isolation/mode.ts';
import { namespaceNeeded } from '../isolation/outside.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { parseReference } from '../reference/reference.ts';
import type { CredentialLookup } from '../registry/auth.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Store } from '../store/store.ts';
import { BaseImages } from '../worker/images.ts';

export interface Bases {
  images: BaseImages;
  /** The build's one registry client (pushes use it too), made when first asked for. */
  registry: () => Promise<RegistryClient>;
}

export function baseImages(
  store: Store,
  opts: {
    pull: boolean;
    signal?: AbortSignal;
    credentials?: CredentialLookup;
    /** Never a registry: rootless kiln outside its user namespace (isolation/outside.ts). */
    localOnly?: boolean;
  },
  /** Progress of pulling `ref` (byte counts), if wanted. */
  onPull?: (ref: string) => ProgressSink,
): Bases {
  let client: Promise<RegistryClient> | undefined;
  const registry = () => {
    client ??= Promise.all([import('../registry/client.ts'), import('../registry/hosts.ts')]).then(
      ([{ RegistryClient }, hosts]) =>
        new RegistryClient({
          config: hosts.loadRegistryConfig(hosts.defaultRegistryConfigPath(store.root)),
          // Default: the user's docker config; a server passes its client's, never its own.
          credentials: opts.credentials,
          signal: opts.signal,
        }),
    );
    return client;
  };
  const images = new BaseImages(
    store,
    {
      source: async (ref) => {
        if (opts.localOnly) throw namespaceNeeded(`pulling ${ref}`);
        return (await import('../registry/source.ts')).resolveImage(await registry(), parseReference(ref), {
          platform: 'all',
          onProgress: onPull?.(ref),
        });
      },
    },
    { pull: opts.pull },
  );
  return { images, registry };
}

/**
 * `kiln pull --unpack`: unpack `ref`'s layers for `platform`, from the local store only, into the
 * snapshots a build's first use of it would make, by the build's own path (BaseImages.unpack: the
 * same chain-id names, size limits, diff_id check and confined extraction) and into the snapshot
 * store a build in `mode` uses, so that a later build FROM it finds them and unpacks nothing.
 * Call under a content lease. Like a build's base layers, they stay until a prune finds no cached
 * result on them. Returns the number of layers.
 */
export async function unpackStored(
  store: Store,
  ref: string,
  platform: Platform,
  mode: Isolation,
): Promise<number> {
  const { openModeSnapshotter } = await import('./isolation.ts');
  const sn = await openModeSnapshotter(store.root, mode);
  try {
    const images = new BaseImages(store, undefined, { pull: false });
    const state = await images.unpack(await images.resolve(ref, platform), sn);
    return state.layers.length;
  } finally {
    await sn.release();
  }
}
