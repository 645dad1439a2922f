/**
 * `kiln image inspect|history|save|load|import|ls|rm|tag|prune`: thin commands over imagestore/,
 * tarball/save and tarball/load; inspect, history and prune have their own modules.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { prepareDirDest, writeToDest } from '../../exporter/dest.ts';
import { importRootfs } from '../../imagestore/import.ts';
import { findImage, imageId, resolveImage } from '../../imagestore/query.ts';
import { entryName, LayoutBlobs, readLayoutIndex, writeLayout } from '../../layout/layout.ts';
import type { Descriptor } from '../../oci/descriptor.ts';
import { hostPlatform, parsePlatform } from '../../oci/platform.ts';
import { familiarName, normalizeReference, parseReference } from '../../reference/reference.ts';
import type { Store } from '../../store/store.ts';
import { loadArchive } from '../../tarball/load.ts';
import { type ArchiveFormat, writeArchive } from '../../tarball/save.ts';
import { enterNamespace, needsNamespace, unpackIsolation } from '../isolation.ts';
import { commandSignal } from '../signals.ts';
import { configureHistory } from './image-history.ts';
import { configureInspect } from './image-inspect.ts';
import { configurePrune } from './image-prune.ts';
import { configureImages, withStore } from './images.ts';
import { configureRmi } from './rmi.ts';
import { configureTag } from './tag.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

function configureSave(cmd: Command): Command {
  return cmd
    .description(
      'Save images to a tar archive (docker save format, an OCI layout tar) or an OCI layout directory',
    )
    .argument('<image...>', 'image names')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option(
      '--format <format>',
      'docker (docker load, skopeo docker-archive:), oci (OCI image layout tar) or oci-dir (a layout directory at -o)',
      'docker',
    )
    .option('--platform <platform>', 'docker format: which manifest of a multi-platform image to save')
    .action(async (names: string[], opts, c: Command) => {
      const format = opts.format as ArchiveFormat | 'oci-dir';
      if (format !== 'docker' && format !== 'oci' && format !== 'oci-dir') {
        throw new KilnError('INVALID_FORMAT', `unknown archive format "${opts.format}"`, {
          hint: 'use --format docker, oci or oci-dir',
        });
      }
      if (format === 'oci-dir') {
        if (!opts.output)
          throw new KilnError('INVALID_FORMAT', '--format oci-dir needs -o DIR', {
            hint: 'e.g. -o ./layout',
          });
        await prepareDirDest(opts.output, {
          what: 'the OCI layout (--format oci-dir)',
          hint: 'pass a directory (new or existing) with -o, or use --format oci for an archive file',
        });
        await withStore(c, async (store) => {
          const images = [];
          for (const n of names) {
            const rec = await findImage(store, n);
            const byName = (await store.images.get(n).catch(() => undefined)) !== undefined;
            images.push({ root: rec.target, name: byName ? rec.name : undefined });
          }
          await writeLayout(opts.output, store.content, images);
        });
        return;
      }
      if (!opts.output && process.stdout.isTTY) {
        throw new KilnError('OUTPUT_IS_TERMINAL', 'refusing to write an archive to a terminal', {
          hint: 'pass -o FILE or redirect stdout',
        });
      }
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      await withStore(c, async (store) => {
        const images = [];
        for (const n of names) {
          const rec = await findImage(store, n);
          // Given by ID: save without a name, as docker does.
          const byName = (await store.images.get(n).catch(() => undefined)) !== undefined;
          images.push({ name: byName ? rec.name : undefined, root: rec.target });
        }
        // A file is written to a temp name and renamed, so a failed save never leaves a
        // truncated archive under the name; stdout, a FIFO or a device is streamed into.
        const archive = writeArchive(store.content, images, { format, platform });
        try {
          await writeToDest(opts.output ?? '-', archive, {
            stdout: process.stdout,
            signal: commandSignal(),
            what: 'the archive',
            hint: 'pass -o with the path of a file to create or replace, or pipe stdout',
          });
        } finally {
          archive.destroy();
        }
      });
    });
}

/** Every image an OCI layout directory's index.json lists, named by its annotations (or --tag). */
async function loadLayoutDir(
  store: Store,
  dir: string,
  tag?: string,
): Promise<{ images: { names: string[]; root: Descriptor }[] }> {
  const index = await readLayoutIndex(dir);
  const images: { names: string[]; root: Descriptor }[] = [];
  for (const entry of index.manifests) {
    const name =
      entryName(entry) ?? (tag && index.manifests.length === 1 ? normalizeReference(tag) : undefined);
    await store.withLease(async () => {
      await store.importImage({ root: entry, blobs: new LayoutBlobs(dir) }, { tag: name });
      if (!name) await store.images.keepUnnamed(entry);
    });
    images.push({ names: name ? [name] : [], root: entry });
  }
  return { images };
}

function configureLoad(cmd: Command): Command {
  return cmd
    .description('Load images from a docker or OCI archive (plain or compressed) or an OCI layout directory')
    .option('-i, --input <path>', 'read this archive file or layout directory instead of stdin')
    .option('-t, --tag <name>', 'name for the image when the archive names none')
    .option('-q, --quiet', 'print nothing')
    .action(async (opts, c: Command) => {
      if (!opts.input && process.stdin.isTTY) {
        throw new KilnError('INPUT_IS_TERMINAL', 'no archive given and stdin is a terminal', {
          hint: 'pass -i FILE or pipe an archive in',
        });
      }
      const isDir = opts.input ? (await stat(opts.input)).isDirectory() : false;
      const res = await withStore(c, async (store) => {
        const loaded = isDir
          ? await loadLayoutDir(store, opts.input, opts.tag)
          : await store.withLease(async (content) => {
              const r = await loadArchive(
                opts.input ? createReadStream(opts.input) : process.stdin,
                content,
                store.images,
                { tag: opts.tag },
              );
              // Unnamed images stay as docker's <none>:<none>, under the ID printed for them.
              for (const img of r.images) if (!img.names.length) await store.images.keepUnnamed(img.root);
              return r;
            });
        const ids = new Map<string, string>();
        for (const img of loaded.images) {
          if (img.names.length) continue;
          const r = await resolveImage(store.content, { name: '', target: img.root, updatedAt: '' }).catch(
            () => undefined,
          );
          ids.set(img.root.digest, r ? imageId(r) : img.root.digest);
        }
        return { images: loaded.images, ids };
      });
      if (opts.quiet) return;
      for (const img of res.images) {
        if (img.names.length)
          for (const n of img.names)
            process.stdout.write(`Loaded image: ${familiarName(parseReference(n))}\n`);
        else process.stdout.write(`Loaded image ID: ${res.ids.get(img.root.digest)}\n`);
      }
    });
}

/** A rootfs downloaded by `kiln import URL` of more than this is refused. */
const IMPORT_URL_MAX_BYTES = 16 * 1024 ** 3;

function configureImport(cmd: Command): Command {
  return cmd
    .description('Create an image from a root filesystem tarball (like docker import)')
    .argument('<file>', 'tarball (tar, tar.gz, tar.zst), an http(s) URL of one, or - for stdin')
    .argument('[name]', 'name for the image, e.g. myrootfs:latest')
    .option('--platform <platform>', 'platform the image is for (default: this host)')
    .option(
      '-c, --change <instruction>',
      'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL)',
      collect,
      [],
    )
    .option('-m, --message <text>', 'commit message for the history entry')
    .option(
      '--unpack',
      'also unpack the layer into the snapshot a build FROM the image uses, as docker import stores it; otherwise the first build unpacks it',
    )
    .action(async (file: string, name: string | undefined, opts, c: Command) => {
      // Snapshots of a rootless kiln are made inside its user namespace, as a build makes them.
      if (opts.unpack && needsNamespace()) return enterNamespace();
      // The isolation a build here would use decides the snapshot store; checked before the import.
      const mode = opts.unpack ? unpackIsolation() : undefined;
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      const source =
        file === '-'
          ? process.stdin
          : /^https?:\/\//.test(file)
            ? (
                await (
                  await import('../../context/remote.ts')
                ).openDownload(file, {
                  maxBytes: IMPORT_URL_MAX_BYTES,
                  signal: commandSignal(),
                })
              ).stream
            : createReadStream(file);
      const res = await withStore(c, (store) =>
        store.withLease(async (content) => {
          const imported = await importRootfs(source, content, store.images, {
            name,
            platform,
            changes: opts.change,
            message: opts.message,
            sourceName: file,
          });
          if (mode) {
            const { unpackStored } = await import('../../pipeline/bases.ts');
            // Pinned by digest: an image imported without a name is found by it too.
            const pinned = `${imported.name ?? 'imported'}@${imported.manifest.digest}`;
            await unpackStored(store, pinned, platform ?? hostPlatform(), mode);
          }
          return imported;
        }),
      );
      process.stdout.write(`${res.config.digest}\n`);
    });
}

export function register(program: Command): void {
  const image = program.command('image').description('Manage images in the local store');
  configureInspect(image.command('inspect'));
  configureHistory(image.command('history'));
  configureSave(image.command('save'));
  configureLoad(image.command('load'));
  configureImport(image.command('import'));
  configureImages(image.command('ls').alias('list'));
  configureRmi(image.command('rm').alias('remove'));
  configureTag(image.command('tag'));
  configurePrune(image.command('prune'));
}
