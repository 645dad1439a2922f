/**
 * Helpers for the hostile-input suites: images with hand-made (broken, bombed) layers pushed to
 * a real registry, bin/kiln run as a user runs it (asserting a clean `error:` and no stack
 * trace), and sentinels — host files outside every root that must stay byte-identical.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../../src/digest/digest.ts';
import type { Descriptor } from '../../src/oci/descriptor.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { pushImage } from '../../src/registry/push.ts';
import { openStore, type Store } from '../../src/store/store.ts';

export const KILN = join(import.meta.dirname, '..', '..', 'bin', 'kiln');

/** A scratch directory removed by `cleanup`. */
export function scratchDir(name: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `kiln-sec-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface HostileLayer {
  /** The blob as the registry serves it (its digest is computed from these bytes). */
  blob: Buffer;
  /** What the config claims the layer unpacks to. */
  diffId: Digest;
  mediaType?: string;
}

/** Write an image made of `layers` into `store` and return its manifest descriptor. */
export async function writeImage(store: Store, layers: HostileLayer[]): Promise<Descriptor> {
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const info = await store.content.writeBlob(l.blob);
    descs.push({ mediaType: l.mediaType ?? MediaType.OciLayerGzip, digest: info.digest, size: info.size });
  }
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      config: { Env: ['PATH=/bin'] },
    }),
  );
  const ci = await store.content.writeBlob(cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: ci.digest, size: ci.size },
      layers: descs,
    }),
  );
  const mi = await store.content.writeBlob(manifest);
  return { mediaType: MediaType.OciManifest, digest: mi.digest, size: mi.size };
}

/** Push an image made of `layers` to `ref` on a registry (through a throwaway store). */
export async function pushHostileImage(ref: string, layers: HostileLayer[]): Promise<Descriptor> {
  const tmp = scratchDir('push');
  const store = openStore(tmp.dir);
  try {
    const root = await writeImage(store, layers);
    await pushImage({ root, blobs: store.content }, ref, {
      client: new RegistryClient({ credentials: async () => undefined }),
    });
    return root;
  } finally {
    store.close();
    tmp.cleanup();
  }
}

export interface KilnRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
}

/**
 * Start bin/kiln with `--root root`, its output gathered; `done` resolves when it exits (after
 * `timeoutMs` it is killed). Never blocks the event loop (in-process servers keep serving).
 */
export function startKiln(
  root: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): { child: ChildProcess; done: Promise<KilnRun> } {
  const started = Date.now();
  const child = spawn(KILN, ['--root', root, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const done = new Promise<KilnRun>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      err += d;
    });
    // kiln may stop reading early (a size cap): the rest of the input is not an error here.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - started });
    });
  });
  return { child, done };
}

/** Run bin/kiln with `--root root` to its end (startKiln). */
export function runKiln(
  root: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<KilnRun> {
  return startKiln(root, args, opts).done;
}

/**
 * The run failed the way a user should see it: a non-zero exit, an `error:` line matching
 * `message`, and no stack trace or Node crash banner.
 */
export function assertCleanFailure(r: KilnRun, message: RegExp): void {
  assert.equal(r.signal, null, `kiln died of ${r.signal} (killed when it hung, or aborted by V8)\n${r.err}`);
  assert.notEqual(r.code, 0, `kiln succeeded:\n${r.err}`);
  assert.match(r.err, /^error: /m, r.err);
  assert.match(r.err, message);
  assert.doesNotMatch(r.err, /^\s+at .+(:\d+:\d+\)?|\(native\))$/m, `a stack trace was printed:\n${r.err}`);
  assert.doesNotMatch(r.err, /Node\.js v\d+|Unhandled 'error' event|FATAL ERROR/, r.err);
}

/** `kiln fsck` on `root` reports a sound store. */
export async function assertSound(root: string): Promise<void> {
  const r = await runKiln(root, ['fsck']);
  assert.equal(r.code, 0, `fsck failed:\n${r.out}${r.err}`);
  assert.match(r.out + r.err, /sound/);
}

/**
 * A host directory outside every root with a few files; `assertUntouched` checks that its tree
 * (names, modes, bytes) is exactly as written and nothing was added beside it.
 */
export function sentinel(parent: string): { dir: string; assertUntouched(): void } {
  // Its own parent, so that "nothing was added beside it" is checkable.
  const host = join(parent, 'host');
  const dir = join(host, 'sentinel');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'secret'), 'HOST SECRET\n');
  writeFileSync(join(dir, 'sub', 'data'), Buffer.alloc(4096, 7));
  const before = treeHash(dir);
  const siblings = readdirSync(host).sort().join('\n');
  return {
    dir,
    assertUntouched() {
      assert.equal(treeHash(dir), before, `the sentinel ${dir} changed`);
      assert.equal(readdirSync(host).sort().join('\n'), siblings, `something was created beside ${dir}`);
    },
  };
}

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      h.update(`${rel}/${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : 'f'}\n`);
      if (e.isDirectory()) walk(p, `${rel}/${e.name}`);
      else if (e.isFile()) h.update(readFileSync(p));
    }
  };
  walk(dir, '');
  return h.digest('hex');
}
