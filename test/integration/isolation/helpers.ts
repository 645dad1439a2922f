/**
 * Harness for the isolation suite: a test user with subordinate ids (created once, idempotently),
 * state roots with the busybox base image for root and for that user, `bin/kiln` run as either,
 * and a reader for the ownership of every entry of an image's layers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readLayerFiles } from '../../../src/archive/layer.ts';
import type { Descriptor } from '../../../src/oci/descriptor.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { openStore } from '../../../src/store/store.ts';
import { seedBusybox } from '../../../src/testing/fixtures.ts';

export const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');
export const TEST_USER = 'kilntest';
/** A user without subordinate ids, for the errors that say how to get them. */
export const PLAIN_USER = 'kilnplain';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

function idOf(name: string): TestUser | undefined {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { name, uid: Number(r.stdout.trim()), gid };
}

/** The user, created when missing; with `subids`, given 100000-165535 in /etc/subuid and /etc/subgid. */
export function ensureUser(name: string, subids: boolean): TestUser {
  if (!idOf(name)) execFileSync('useradd', ['-m', name]);
  const ranges = (f: string) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${name}:`))
      .map((l) => l.split(':').map(Number))
      .map(([, start, count]) => `${start}-${start + count - 1}`);
  if (subids) {
    if (!ranges('/etc/subuid').length) execFileSync('usermod', ['--add-subuids', '100000-165535', name]);
    if (!ranges('/etc/subgid').length) execFileSync('usermod', ['--add-subgids', '100000-165535', name]);
  } else {
    // useradd gives a new user ranges of its own (login.defs SUB_UID_COUNT): taken away again.
    for (const r of ranges('/etc/subuid')) execFileSync('usermod', ['--del-subuids', r, name]);
    for (const r of ranges('/etc/subgid')) execFileSync('usermod', ['--del-subgids', r, name]);
  }
  const u = idOf(name);
  assert.ok(u, `cannot create the test user ${name}`);
  return u;
}

/** Every directory from / to the repository must be searchable by the test user to run bin/kiln. */
export function assertRepoReachable(user: TestUser): void {
  const r = spawnSync('runuser', ['-u', user.name, '--', 'test', '-r', KILN], {});
  assert.equal(r.status, 0, `${user.name} cannot read ${KILN}: grant o+x on the path to the worktree`);
}

export interface Dirs {
  /** The test's own directory (0755, so the test user reaches what is inside). */
  dir: string;
  close(): Promise<void>;
}

export async function tempDirs(name: string): Promise<Dirs> {
  const dir = await mkdtemp(join(tmpdir(), `kiln-isolation-${name}-`));
  await chmod(dir, 0o755);
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}

/** A state root with busybox:latest, owned by `owner` (the test user's is chowned to it). */
export async function rootWithBusybox(path: string, owner?: TestUser): Promise<string> {
  await seedBusybox(path);
  if (owner) execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, path]);
  return path;
}

/** Write a context (files relative to `dir`), owned by `owner` when given. */
export async function writeContext(
  dir: string,
  files: Record<string, string>,
  owner?: TestUser,
): Promise<string> {
  for (const [p, data] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), data);
  }
  if (owner) await chownTree(dir, owner);
  return dir;
}

async function chownTree(dir: string, owner: TestUser): Promise<void> {
  await chown(dir, owner.uid, owner.gid);
  execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
}

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/**
 * bin/kiln as root (no user) or as `user` (runuser: its HOME, no capabilities), with `env` added
 * and, as root, started through `wrap` (setpriv limiting capabilities).
 */
export function kilnAs(
  user: TestUser | undefined,
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): Run {
  const vars = Object.entries({ NO_COLOR: '1', ...env }).map(([k, v]) => `${k}=${v}`);
  const [cmd, argv] = user
    ? ['runuser', ['-u', user.name, '--', 'env', ...vars, KILN, ...args]]
    : ['env', [...vars, ...wrap, KILN, ...args]];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: tmpdir() });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export interface Owned {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** Every entry of every layer of the image `ref` in the root: path, uid, gid and mode, in order. */
export async function layerOwnership(root: string, ref: string): Promise<Owned[][]> {
  const store = openStore(root);
  try {
    const rec = await store.images.get(normalizeReference(ref));
    assert.ok(rec, `${ref} is not in ${root}`);
    const m = JSON.parse((await store.content.readBlob(rec.target.digest)).toString('utf8'));
    const out: Owned[][] = [];
    for (const l of m.layers as Descriptor[]) {
      const files = await readLayerFiles(await store.content.openRead(l.digest));
      out.push(files.map((f) => ({ path: f.path, uid: f.uid, gid: f.gid, mode: f.mode })));
    }
    return out;
  } finally {
    store.close();
  }
}
