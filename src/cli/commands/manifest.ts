/**
 * `kiln manifest inspect|create|annotate|push|rm`: docker's manifest-list commands. Lists are
 * assembled locally (under the state root) from images already in registries, then pushed.
 */
import type { Command } from 'commander';
import {
  annotateList,
  createList,
  deleteList,
  inspectRemote,
  listIndex,
  loadList,
  pushList,
} from '../../registry/manifest-list.ts';
import { resolveRoot } from '../../store/root.ts';
import { addRegistryConfigOption, registryClient } from './pull.ts';

function rootOf(c: Command): string {
  return resolveRoot(c.optsWithGlobals().root as string | undefined);
}

function json(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 3)}\n`);
}

export function register(program: Command): void {
  const manifest = program
    .command('manifest')
    .description('Manage manifest lists (multi-platform images) in registries');

  addRegistryConfigOption(
    manifest
      .command('inspect')
      .description('Show a manifest or manifest list (a local list being edited, else from its registry)')
      .argument('<ref>', 'image or list reference')
      .option('-v, --verbose', 'also show each platform manifest of a list')
      .option('--raw', 'print the exact bytes the registry serves'),
  ).action(async (ref: string, opts, c: Command) => {
    const local = loadList(rootOf(c), ref);
    if (local && !opts.verbose) {
      const { bytes } = listIndex(local);
      process.stdout.write(opts.raw ? bytes : `${JSON.stringify(JSON.parse(bytes.toString()), null, 3)}\n`);
      return;
    }
    const r = await inspectRemote(registryClient(c), ref, Boolean(opts.verbose));
    if (opts.raw) {
      process.stdout.write(r.raw);
      return;
    }
    if (!opts.verbose) return json(r.document);
    const entry = (refText: string, descriptor: unknown, raw: Buffer, document: { mediaType?: string }) => ({
      Ref: refText,
      Descriptor: descriptor,
      Raw: raw.toString('base64'),
      [document.mediaType?.includes('docker') ? 'SchemaV2Manifest' : 'OCIManifest']: document,
    });
    if (r.children)
      return json(
        r.children.map((ch) => entry(ch.ref, ch.descriptor, ch.raw, ch.document as { mediaType?: string })),
      );
    json(entry(ref, r.descriptor, r.raw, r.document as { mediaType?: string }));
  });

  addRegistryConfigOption(
    manifest
      .command('create')
      .description('Create a local manifest list from images in registries')
      .argument('<list>', 'name of the list, e.g. registry.example.com/app:1.0')
      .argument('<images...>', 'images to include (one per platform)')
      .option('-a, --amend', 'add to an existing local list'),
  ).action(async (name: string, images: string[], opts, c: Command) => {
    const list = await createList(registryClient(c), rootOf(c), name, images, Boolean(opts.amend));
    process.stdout.write(`Created manifest list ${list.name}\n`);
  });

  addRegistryConfigOption(
    manifest
      .command('annotate')
      .description('Set the platform of an image in a local manifest list')
      .argument('<list>', 'the list')
      .argument('<image>', 'an image in the list')
      .option('--os <os>', 'operating system')
      .option('--arch <arch>', 'architecture')
      .option('--variant <variant>', 'architecture variant')
      .option('--os-version <version>', 'operating system version')
      .option('--os-features <features>', 'comma-separated OS features'),
  ).action(async (name: string, image: string, opts, c: Command) => {
    await annotateList(registryClient(c), rootOf(c), name, image, {
      os: opts.os,
      arch: opts.arch,
      variant: opts.variant,
      osVersion: opts.osVersion,
      osFeatures: opts.osFeatures ? String(opts.osFeatures).split(',') : undefined,
    });
  });

  addRegistryConfigOption(
    manifest
      .command('push')
      .description('Push a local manifest list to its registry')
      .argument('<list>', 'the list')
      .option('-p, --purge', 'remove the local list after pushing'),
  ).action(async (name: string, opts, c: Command) => {
    const desc = await pushList(registryClient(c), rootOf(c), name, Boolean(opts.purge));
    process.stdout.write(`${desc.digest}\n`);
  });

  manifest
    .command('rm')
    .description('Delete local manifest lists')
    .argument('<lists...>', 'the lists')
    .action(async (names: string[], _opts, c: Command) => {
      for (const n of names) deleteList(rootOf(c), n);
    });
}
