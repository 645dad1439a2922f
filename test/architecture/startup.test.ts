/**
 * Start-up stays fast by a test: a fully cached `kiln build` (the second of two identical ones)
 * must not load what only real work needs. Through bin/kiln and its bundle (the path setup
 * leaves a user on), no heavy Node built-in loads: the bundle loads them on first use. Through
 * the sources (what bin/kiln runs while the bundle is stale), none of kiln's heavy modules loads.
 * Every module the process resolves is recorded by a --import hook (record-modules.mjs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

const repo = resolve(import.meta.dirname, '../..');
const node = join(repo, 'node_modules/.bin/node');
const hook = join(import.meta.dirname, 'record-modules.mjs');

/** Built-ins a cached build has no use for: compression, processes, threads, the network. */
const HEAVY_BUILTINS = [
  'node:zlib',
  'node:child_process',
  'node:worker_threads',
  'node:net',
  'node:tls',
  'node:http',
  'node:https',
];
/** kiln's modules for pulling and pushing, running containers, writing layers and archives. */
const HEAVY_MODULES = [
  'src/registry/client.ts',
  'src/registry/transport.ts',
  'src/registry/pull.ts',
  'src/executor/runc/',
  'src/archive/layer.ts',
  'src/archive/tar/writer.ts',
  'src/archive/compress.ts',
  'src/archive/pgzip.ts',
  'src/layout/',
  'src/tarball/',
];

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-startup-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
  writeFileSync(join(dir, 'a'), 'a\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run a build twice with `command`; the modules the second (fully cached) run loaded. */
function cachedBuildModules(command: string[], name: string): string[] {
  const list = join(dir, `${name}.modules`);
  const root = join(dir, `${name}-root`);
  for (let i = 0; i < 2; i++) {
    execFileSync(
      command[0],
      [...command.slice(1), '--root', root, 'build', '-q', '-t', `startup:${name}`, dir],
      {
        env: { ...process.env, NODE_OPTIONS: `--import=${hook}`, KILN_TEST_MODULES: list },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  }
  return readFileSync(list, 'utf8').split('\n');
}

test('a cached build through bin/kiln and its bundle loads no heavy Node built-in', () => {
  execFileSync(node, [join(repo, 'scripts/bundle.ts')], { stdio: 'ignore' });
  const loaded = cachedBuildModules([join(repo, 'bin/kiln')], 'bundle');
  assert.ok(
    loaded.some((u) => u.endsWith('/bin/kiln.cjs')),
    'the launcher ran',
  );
  assert.ok(!loaded.some((u) => u.includes('/src/')), 'the bundle ran, not the sources');
  assert.deepEqual(
    loaded.filter((u) => HEAVY_BUILTINS.includes(u)),
    [],
  );
});

test('the bundle is one function in ASCII, as the launcher reads it', () => {
  execFileSync(node, [join(repo, 'scripts/bundle.ts')], { stdio: 'ignore' });
  const bundle = readFileSync(join(repo, '.cache/kiln.cjs'));
  // bin/kiln.cjs compiles the file as read, as Latin-1: a wrapper of its own or a UTF-8 byte
  // would start a copy, or a two-byte string, at every start.
  assert.ok(
    bundle
      .subarray(0, 100)
      .toString()
      .startsWith('(function (exports, require, module, __filename, __dirname) {'),
  );
  assert.ok(bundle.subarray(-3).toString().endsWith('\n})'));
  const wide = bundle.findIndex((b) => b > 0x7f);
  assert.equal(wide, -1, `a non-ASCII byte at ${wide}: ${bundle.subarray(Math.max(0, wide - 40), wide + 8)}`);
});

test("a cached build through the sources loads none of kiln's heavy modules", () => {
  const loaded = cachedBuildModules([node, '--no-warnings', join(repo, 'src/cli/main.ts')], 'sources');
  assert.ok(
    loaded.some((u) => u.endsWith('/src/pipeline/build.ts')),
    'the sources ran',
  );
  assert.deepEqual(
    loaded.filter((u) => HEAVY_MODULES.some((m) => u.startsWith(`file://${join(repo, m)}`))),
    [],
  );
});
