/**
 * `kiln pull --unpack` by a user with subordinate ids: the unpacking happens inside kiln's user
 * namespace, as a build's does, into the snapshots that user's builds then find (the FROM step is
 * cached); without the flag the build unpacks the base itself.
 */
import assert from 'node:assert/strict';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { seedBusybox } from '../../../src/testing/fixtures.ts';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import {
  assertRepoReachable,
  type Dirs,
  ensureUser,
  kilnAs,
  TEST_USER,
  type TestUser,
  tempDirs,
  writeContext,
} from './helpers.ts';

let dirs: Dirs;
let user: TestUser;
let ref: string;
let context: string;

before(async () => {
  user = ensureUser(TEST_USER, true);
  assertRepoReachable(user);
  dirs = await tempDirs('pull-unpack');
  const seed = join(dirs.dir, 'seed');
  await seedBusybox(seed);
  ref = `${(await sharedRegistry()).host}/rootless-unpack/busybox:1`;
  const pushed = kilnAs(undefined, ['push', '-q', 'busybox:latest', ref], { KILN_ROOT: seed });
  assert.equal(pushed.code, 0, pushed.err);
  context = await writeContext(join(dirs.dir, 'ctx'), { Dockerfile: `FROM ${ref}\nRUN true\n` }, user);
});
after(() => dirs?.close());

/** An empty state root the user owns. */
function userRoot(name: string): string {
  const root = join(dirs.dir, name);
  mkdirSync(root);
  chownSync(root, user.uid, user.gid);
  return root;
}

/** A build's FROM line in plain progress: `CACHED` when the base snapshots were there. */
function fromCached(root: string): boolean {
  const built = kilnAs(user, ['build', '--network=none', '--progress=plain', context], { KILN_ROOT: root });
  assert.equal(built.code, 0, built.err);
  const from = /#(\d+) \[1\/2\] FROM /.exec(built.err);
  assert.ok(from, built.err);
  return new RegExp(`#${from[1]} CACHED`).test(built.err);
}

test('a rootless pull --unpack makes the snapshots the same user build uses', () => {
  const plain = userRoot('plain-root');
  const pulled = kilnAs(user, ['pull', ref], { KILN_ROOT: plain });
  assert.equal(pulled.code, 0, pulled.err);
  assert.equal(fromCached(plain), false, 'without --unpack the build unpacks the base');

  const unpacked = userRoot('unpacked-root');
  const pull = kilnAs(user, ['pull', '--unpack', ref], { KILN_ROOT: unpacked });
  assert.equal(pull.code, 0, pull.err);
  assert.match(pull.err, /Unpacked 1 layer\n/);
  assert.equal(fromCached(unpacked), true, 'the build found the base unpacked');
});
