/** `kiln push REF`: upload a local image to its registry (blobs checked, mounted or uploaded). */
import type { Command } from 'commander';
import { compressImage } from '../../image/convert.ts';
import { findImage } from '../../imagestore/query.ts';
import { parseReference, repositoryName } from '../../reference/reference.ts';
import { mountSourcesFromNames } from '../../registry/mount-sources.ts';
import { pushImage } from '../../registry/pull.ts';
import { withStore } from './images.ts';
import { addRegistryConfigOption, blobProgress, registryClient } from './pull.ts';

export function register(program: Command): void {
  addRegistryConfigOption(
    program
      .command('push')
      .description('Push an image from the local store to a registry')
      .argument('<ref>', 'local image name, e.g. registry.example.com/app:1.0')
      .option('--mount-from <repo...>', 'repositories on the same registry to mount shared blobs from')
      .option('-q, --quiet', 'print only the pushed digest reference'),
  ).action(async (refText: string, opts, c: Command) => {
    const ref = parseReference(refText);
    const client = registryClient(c);
    if (!opts.quiet) process.stderr.write(`The push refers to repository [${repositoryName(ref)}]\n`);
    const result = await withStore(c, async (store) => {
      const rec = await findImage(store, refText);
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
