/**
 * Writing a build's result where the user asked: the local image store, a registry, an OCI or
 * docker archive (or OCI layout directory), a plain directory, or a rootfs tar. Archive files go
 * through dest.ts (atomic for files, streamed into devices, FIFOs and stdout); directories
 * through local.ts, which never follows a link an image left in dest.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { LayerEntry } from '../archive/entries.ts';
import { completeHeader } from '../archive/tar/header.ts';
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageStore } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { isIndexType } from '../oci/mediatypes.ts';
import { normalizePlatform, type Platform } from '../oci/platform.ts';
import { normalizeReference, parseReference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { withStatePath, withStatePaths } from '../worker/mounted.ts';
import type { FsState } from '../worker/state.ts';
import { prepareDirDest, writeToDest } from './dest.ts';
import { copyTree, exportLocal } from './local.ts';
import type { OutputSpec } from './spec.ts';

export interface ExportTarget {
  /** The image (manifest, or index for several platforms); only image outputs need one. */
  root?: Descriptor;
  /** Per platform: the filesystem, for local/tar outputs. */
  filesystems: { platform: Platform; state: FsState }[];
}

export interface OutputDeps {
  content: BlobProvider;
  images: ImageStore;
  snapshotter: Snapshotter;
  /** Made on first use (loading the registry client then too). */
  registry: () => Promise<RegistryClient>;
  stdout: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** Repositories of the target's registry that may hold a blob (an imported build cache's). */
  mountFrom?: (domain: string, digest: Digest) => string[];
  /** Report a named piece of work as part of the output's step. */
  task?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

/** What an output did, for the CLI and metadata file. */
export interface OutputResult {
  type: OutputSpec['type'];
  names: string[];
  dest?: string;
  pushed?: string[];
  /** Where `--load` put the image: a Docker Engine (its address) or kiln's store. */
  loadedInto?: string;
}

/** An archive to `dest`; build outputs create missing parent directories, as buildx does. */
async function writeExport(dest: string, data: Readable, deps: OutputDeps): Promise<void> {
  if (dest !== '-') await mkdir(dirname(dest), { recursive: true });
  try {
    await writeToDest(dest, data, {
      stdout: deps.stdout,
      signal: deps.signal,
      what: 'the archive',
      hint: 'pass the path of a file to create or replace (e.g. dest=./image.tar), a FIFO, or dest=- for stdout',
    });
  } finally {
    // A refused or failed destination leaves the archive unread: stop making it.
    data.destroy();
  }
}

function platformDir(p: Platform): string {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant].filter(Boolean).join('_');
}

/**
 * Several platforms in one tar, as BuildKit's tar exporter writes them (fsutil.SubDirFS): a
 * top-level directory per platform named like type=local's (`linux_amd64/`), 0755, root-owned,
 * mtime 0, in name order. Every filesystem stays mounted while the tar streams from them.
 */
async function writePlatformsTar(
  dest: string,
  filesystems: ExportTarget['filesystems'],
  deps: OutputDeps,
): Promise<void> {
  const { createLayer, directoryEntries } = await import('../archive/layer.ts');
  const parts = filesystems
    .map((f) => ({ name: platformDir(f.platform), state: f.state }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await withStatePaths(
    deps.snapshotter,
    parts.map((p) => p.state),
    async (dirs) => {
      // Each platform's tree under its directory, streamed: still in layer order, since the
      // directories come sorted and everything of one platform sorts under its name.
      async function* entries(): AsyncGenerator<readonly LayerEntry[]> {
        for (let i = 0; i < parts.length; i++) {
          const name = parts[i].name;
          yield [{ header: completeHeader({ path: name, type: 'directory', mode: 0o755, mtime: 0 }) }];
          for await (const chunk of await directoryEntries(dirs[i]))
            yield chunk.map((e) => {
              const h = e.header;
              const linkname = h.type === 'hardlink' ? `${name}/${h.linkname}` : h.linkname;
              return { ...e, header: { ...h, path: `${name}/${h.path}`, linkname } };
            });
        }
      }
      const tar = createLayer(entries(), { compression: 'uncompressed', presorted: true });
      await writeExport(dest, tar.stream, deps);
    },
  );
}

/**
 * `--load`: into the Docker Engine when one answers (a docker archive streamed to it), as
 * buildx loads; undefined when there is none, and the image goes to kiln's store instead.
 */
async function loadImage(root: Descriptor, names: string[], deps: OutputDeps): Promise<string | undefined> {
  const task = deps.task ?? ((_name, fn) => fn());
  const { loadIntoEngine, reachableEngine } = await import('./docker-engine.ts');
  const engine = await reachableEngine(deps.signal);
  if (!engine) {
    await task("loading image into kiln's store", async () => undefined);
    return undefined;
  }
  if (isIndexType(root.mediaType)) {
    throw new KilnError(
      'ENGINE_LOAD_MULTIPLATFORM',
      `docker (${engine.address}) cannot load an image of several platforms`,
      {
        hint: 'build one --platform to --load it, or use --push or -o type=oci,dest=FILE',
      },
    );
  }
  const { writeArchive } = await import('../tarball/save.ts');
  const images = names.length ? names.map((name) => ({ name, root })) : [{ root }];
  await task('loading image into docker', () =>
    loadIntoEngine(engine, writeArchive(deps.content, images, { format: 'docker' }), deps.signal),
  );
  return engine.address;
}

function imageOf(spec: OutputSpec, target: ExportTarget): Descriptor {
  if (!target.root)
    throw new KilnError('EXPORT_FAILED', `output type=${spec.type} needs an image, and none was exported`);
  return target.root;
}

export async function writeOutput(
  spec: OutputSpec,
  target: ExportTarget,
  deps: OutputDeps,
): Promise<OutputResult> {
  const names = spec.names.map((n) => normalizeReference(n));
  switch (spec.type) {
    case 'image':
    case 'registry': {
      const root = imageOf(spec, target);
      if (spec.load) {
        const loaded = await loadImage(root, names, deps);
        if (loaded) return { type: spec.type, names, loadedInto: loaded };
      }
      if (spec.type === 'image') {
        for (const n of names) await deps.images.put(n, root);
        // Unnamed, the image stays as docker's <none>:<none>, so the ID the build prints works.
        if (names.length === 0) await deps.images.keepUnnamed(root);
      }
      const pushed: string[] = [];
      if (spec.push) {
        const { pushImage } = await import('../registry/push.ts');
        const client = await deps.registry();
        for (const n of names) {
          const domain = parseReference(n).domain;
          const mountFrom = deps.mountFrom;
          const r = await pushImage({ root, blobs: deps.content }, n, {
            client,
            ...(mountFrom ? { mountFrom: (d: Digest) => mountFrom(domain, d) } : {}),
          });
          pushed.push(r.reference);
        }
      }
      return { type: spec.type, names, pushed };
    }
    case 'oci':
    case 'docker': {
      const root = imageOf(spec, target);
      if (spec.type === 'oci' && !spec.tar) {
        const { writeLayout } = await import('../layout/layout.ts');
        await prepareDirDest(spec.dest!, {
          what: 'the OCI layout (type=oci,tar=false)',
          hint: 'pass a directory (new or existing) as dest, or drop tar=false for an archive file',
        });
        // An unnamed result still gets its index.json entry (as in the tar form).
        await writeLayout(
          spec.dest!,
          deps.content,
          names.length ? names.map((name) => ({ name, root })) : [{ root }],
        );
        return { type: spec.type, names, dest: spec.dest };
      }
      const images = names.length ? names.map((name) => ({ name, root })) : [{ root }];
      const { writeArchive } = await import('../tarball/save.ts');
      await writeExport(spec.dest!, writeArchive(deps.content, images, { format: spec.type }), deps);
      return { type: spec.type, names, dest: spec.dest };
    }
    case 'local': {
      const multi = target.filesystems.length > 1;
      await exportLocal(
        spec.dest!,
        target.filesystems.map((fs) => ({
          sub: multi ? platformDir(fs.platform) : '',
          copy: (into) => withStatePath(deps.snapshotter, fs.state, (dir) => copyTree(dir, into)),
        })),
      );
      return { type: 'local', names: [], dest: spec.dest };
    }
    case 'tar': {
      if (target.filesystems.length > 1) {
        await writePlatformsTar(spec.dest!, target.filesystems, deps);
        return { type: 'tar', names: [], dest: spec.dest };
      }
      const { tarDirectory } = await import('../archive/layer.ts');
      const fs = target.filesystems[0];
      await withStatePath(deps.snapshotter, fs.state, (dir) =>
        writeExport(spec.dest!, tarDirectory(dir), deps),
      );
      return { type: 'tar', names: [], dest: spec.dest };
    }
  }
}
