/**
 * Shared harness for the `kiln build` end-to-end suite: one temp KILN_ROOT per test file with the
 * busybox base image, a way to write a context and build it through the library with every
 * progress event captured, and readers for what came out (image config, layers, exported files).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type LayerFile, readLayerFiles } from '../../../src/archive/layer.ts';
import type { SourceLocation } from '../../../src/errors/errors.ts';
import type { Descriptor } from '../../../src/oci/descriptor.ts';
import { type BuildResult, build } from '../../../src/pipeline/build.ts';
import type { BuildOptions, OutputSpec } from '../../../src/pipeline/options.ts';
import { parseOutput } from '../../../src/pipeline/output-spec.ts';
import type { ProgressEvent, VertexEvent } from '../../../src/progress/events.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { ensureBusyboxImages } from '../../../src/testing/fixtures.ts';

export const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');

export interface Suite {
  /** Scratch directory for contexts and outputs; removed by close(). */
  dir: string;
  /** The KILN_ROOT of this test file. */
  root: string;
  store: Store;
  close(): Promise<void>;
}

/** A fresh KILN_ROOT under /tmp with busybox:latest (amd64 + arm64) in its image store. */
export async function openSuite(name: string): Promise<Suite> {
  for (const tool of ['runc']) {
    const r = spawnSync('which', [tool]);
    assert.equal(r.status, 0, `${tool} is required for the build suite: run bash scripts/setup.sh`);
  }
  const dir = await mkdtemp(join(tmpdir(), `kiln-build-${name}-`));
  const root = join(dir, 'root');
  const store = openStore(root);
  const { index } = await ensureBusyboxImages(store);
  await store.images.put(normalizeReference('busybox:latest'), index);
  return {
    dir,
    root,
    store,
    close: async () => {
      store.close();
      // Right after the builds: their detached syncs may still run, and add nothing to the root
      // (snapshot/durability.ts), so one removal is enough.
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type FileSpec = string | Buffer | { data: string | Buffer; mode?: number };

/** Write files (paths relative to `dir`, parents created) into a context directory. */
export async function writeFiles(dir: string, files: Record<string, FileSpec>): Promise<void> {
  for (const [path, spec] of Object.entries(files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    const s = typeof spec === 'string' || Buffer.isBuffer(spec) ? { data: spec } : spec;
    await writeFile(full, s.data);
    if (s.mode !== undefined) await chmod(full, s.mode);
  }
}

let contexts = 0;
/** A new context directory holding `files`. */
export async function makeContext(suite: Suite, files: Record<string, FileSpec>): Promise<string> {
  const dir = join(suite.dir, `ctx-${++contexts}`);
  await mkdir(dir, { recursive: true });
  await writeFiles(dir, files);
  return dir;
}

export interface ImageView {
  manifest: {
    mediaType?: string;
    config: Descriptor;
    layers: Descriptor[];
  };
  // biome-ignore lint/suspicious/noExplicitAny: image configs are checked field by field
  config: any;
  /** Each layer's entries, in order. */
  layers: LayerFile[][];
}

/** Read a manifest, its config and every layer's entries from the store's content. */
export async function readImage(suite: Suite, manifest: Descriptor): Promise<ImageView> {
  const m = JSON.parse((await suite.store.content.readBlob(manifest.digest)).toString('utf8'));
  const config = JSON.parse((await suite.store.content.readBlob(m.config.digest)).toString('utf8'));
  const layers: LayerFile[][] = [];
  for (const l of m.layers as Descriptor[])
    layers.push(await readLayerFiles(await suite.store.content.openRead(l.digest)));
  return { manifest: m, config, layers };
}

export interface Built {
  result: BuildResult;
  events: ProgressEvent[];
  /** The exported filesystem (type=local), when asked for. */
  fs: string;
  /** The single-platform image (undefined for multi-platform builds). */
  image: ImageView;
  /** Names of instruction steps that ran / were cache hits. */
  started: string[];
  cached: string[];
  /** Every RUN's output, joined. */
  logs: string;
}

export interface BuildRequest extends Partial<BuildOptions> {
  /** Extra --output specs (buildx syntax); a type=local export to `fs` is always added unless noLocal. */
  output?: string[];
  noLocal?: boolean;
  /** Make no image output (by default an unnamed type=image is added when none is asked for). */
  noImage?: boolean;
  stdin?: NodeJS.ReadableStream;
}

let exports = 0;
/** Build `context` with the library, capturing progress; exports to a local dir too. */
export async function buildContext(suite: Suite, context: string, req: BuildRequest = {}): Promise<Built> {
  const events: ProgressEvent[] = [];
  const fs = join(suite.dir, `out-${++exports}`);
  const outputs: OutputSpec[] = (req.output ?? []).map((o) => parseOutput(o, req.tags ?? []));
  if (!req.noLocal) outputs.push(parseOutput(`type=local,dest=${fs}`));
  // An image (unnamed unless tagged) is always made, so every test can read the result's layers,
  // unless the test is about builds that make none.
  const imageOutput = outputs.some((o) => o.type !== 'local' && o.type !== 'tar');
  if (!req.noImage && (!imageOutput || req.tags?.length))
    outputs.push(parseOutput('type=image', req.tags ?? []));
  const { output: _o, noLocal: _n, noImage: _i, stdin, ...rest } = req;
  const result = await build(
    {
      context,
      tags: [],
      buildArgs: {},
      labels: {},
      platforms: [],
      noCache: false,
      noCacheFilter: [],
      pull: false,
      secrets: [],
      ssh: [],
      network: 'default',
      buildContexts: {},
      parallelism: 2,
      ...rest,
      outputs,
      progress: (e) => events.push(e),
    },
    { store: suite.store, stdin },
  );
  // Instruction steps: not the steps every build reports (`[internal] load …`, `exporting to …`).
  const vertices = events.filter(
    (e): e is VertexEvent =>
      e.type === 'vertex' && !/^\[(?:[^\]]* )?internal\]/.test(e.name) && !e.name.startsWith('exporting to'),
  );
  const image =
    result.root && result.platforms.length === 1
      ? await readImage(suite, result.root)
      : (undefined as unknown as ImageView);
  return {
    result,
    events,
    fs,
    image,
    started: vertices.filter((v) => v.status === 'started').map((v) => v.name),
    cached: vertices.filter((v) => v.status === 'cached').map((v) => v.name),
    logs: events
      .filter((e) => e.type === 'log')
      .map((e) => (e as { data: string }).data)
      .join(''),
  };
}

/** Write a Dockerfile (and files) into a new context and build it. */
export async function buildDockerfile(
  suite: Suite,
  dockerfile: string,
  files: Record<string, FileSpec> = {},
  req: BuildRequest = {},
): Promise<Built> {
  const ctx = await makeContext(suite, { Dockerfile: dockerfile, ...files });
  return buildContext(suite, ctx, req);
}

/** Build and return the error it fails with. */
export async function buildError(
  suite: Suite,
  dockerfile: string,
  files: Record<string, FileSpec> = {},
  req: BuildRequest = {},
): Promise<Error & { code?: string; hint?: string; location?: SourceLocation }> {
  try {
    await buildDockerfile(suite, dockerfile, files, req);
  } catch (err) {
    return err as Error & { code?: string };
  }
  assert.fail('the build was expected to fail');
}

export interface Stat {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  target?: string;
}

/** What a path in an exported filesystem is: type, permission bits, owner, content or link target. */
export function stat(root: string, path: string): Stat {
  const full = join(root, path);
  const st = lstatSync(full);
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    content: type === 'file' ? readFileSync(full, 'utf8') : undefined,
    target: type === 'symlink' ? readlinkSync(full) : undefined,
  };
}

export function exists(root: string, path: string): boolean {
  try {
    lstatSync(join(root, path));
    return true;
  } catch {
    return false;
  }
}

export function read(root: string, path: string): string {
  return readFileSync(join(root, path), 'utf8');
}

/** Paths of one layer's entries. */
export function layerPaths(layer: LayerFile[]): string[] {
  return layer.map((f) => f.path);
}

export function entry(layer: LayerFile[], path: string): LayerFile {
  const e = layer.find((f) => f.path === path);
  assert.ok(e, `layer has no ${path}; it has ${layerPaths(layer).join(', ')}`);
  return e;
}

/** Run bin/kiln with this suite's root. */
export function kiln(
  suite: Suite,
  args: string[],
  opts: { input?: string | Buffer; cwd?: string; env?: Record<string, string> } = {},
): { code: number | null; out: string; err: string } {
  const r = spawnSync(KILN, args, {
    encoding: 'utf8',
    input: opts.input,
    cwd: opts.cwd,
    env: { ...process.env, KILN_ROOT: suite.root, NO_COLOR: '1', ...opts.env },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A scratch path in the suite dir. */
export async function scratch(suite: Suite, name: string): Promise<string> {
  return mkdtemp(join(suite.dir, `${name}-`));
}
