/**
 * `kiln push IMAGE [DESTINATION]`: upload a local image (by name or ID) to its registry, or to
 * DESTINATION as podman and buildah accept it (a reference, optionally `docker://`); blobs are
 * checked, mounted from other repositories or uploaded.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { compressImage } from '../../image/convert.ts';
import { findImage } from '../../imagestore/query.ts';
import { parseReference, type Reference, repositoryName } from '../../reference/reference.ts';
import { mountSourcesFromNames } from '../../registry/mount-sources.ts';
import { pushImage } from '../../registry/push.ts';
import { withStore } from './images.ts';
import { addRegistryConfigOption, blobProgress, registryClient } from './pull.ts';

/** containers/image transports podman also takes as a destination, which are not registries. */
const NOT_REGISTRIES = ['oci', 'oci-archive', 'docker-archive', 'docker-daemon', 'dir', 'containers-storage'];

/** Where to push: DESTINATION (a reference, `docker://` allowed), else the image's own name. */
export function pushTarget(image: string, destination?: string): Reference {
  if (destination !== undefined) {
    const transport = /^([a-z-]+):/.exec(destination)?.[1];
    if (transport && NOT_REGISTRIES.includes(transport)) {
      throw new KilnError('PUSH_DESTINATION', `kiln push sends images to registries, not to ${transport}:`, {
        hint: 'write archives and layouts with `kiln image save` (--format docker, oci or oci-dir)',
      });
    }
    return parseReference(destination.replace(/^docker:\/\//, ''));
  }
  try {
    return parseReference(image);
  } catch (cause) {
    throw new KilnError('PUSH_DESTINATION', `"${image}" is not a name to push to`, {
      cause,
      hint: 'give a destination: kiln push IMAGE registry.example.com/repo:tag',
    });
  }
}

export function register(program: Command): void {
  addRegistryConfigOption(
    program
      .command('push')
      .description('Push an image from the local store to a registry')
      .argument('<image>', 'local image name or ID, e.g. app:1 or registry.example.com/app:1.0')
      .argument('[destination]', 'where to push it (default: the image name), e.g. localhost:5000/app:1')
      .option('--mount-from <repo...>', 'repositories on the same registry to mount shared blobs from')
      .option('-q, --quiet', 'print only the pushed digest reference'),
  ).action(async (image: string, destination: string | undefined, opts, c: Command) => {
    const ref = pushTarget(image, destination);
    const client = registryClient(c);
    const result = await withStore(c, async (store) => {
      const rec = await findImage(store, image);
      if (destination === undefined && (await store.images.get(image).catch(() => undefined)) === undefined) {
        throw new KilnError('PUSH_DESTINATION', `"${image}" is an image ID, not a name to push to`, {
          hint: 'give a destination: kiln push IMAGE registry.example.com/repo:tag',
        });
      }
      if (!opts.quiet) process.stderr.write(`The push refers to repository [${repositoryName(ref)}]\n`);
      const guess = await mountSourcesFromNames(store.images, store.content, ref);
      // Built images keep uncompressed layers locally; registries get them gzipped, as docker
      // push does. The compressed blobs are held by a lease until the push is over.
      return await store.withLease(async () => {
        const root = await compressImage(store.content, rec.target);
        return await pushImage({ root, blobs: store.content }, ref, {
          client,
          mountFrom: (d) => [...((opts.mountFrom as string[] | undefined) ?? []), ...guess(d)],
          onProgress: blobProgress('Pushed', Boolean(opts.quiet)),
        });
      });
    });
    if (!opts.quiet) {
      process.stderr.write(
        `${ref.tag ?? 'digest'}: digest: ${result.descriptor.digest} size: ${result.descriptor.size}\n`,
      );
    }
    process.stdout.write(`${result.reference}\n`);
  });
}
