/**
 * kiln's errors for everyday build mistakes say at least what BuildKit's say: each case of
 * mistakes.ts is built with bin/kiln and its message checked for every fact BuildKit's recorded
 * message states (testdata/buildkit-mistakes.json, from scripts/record-mistakes.ts), plus the facts
 * BuildKit leaves out, a hint, a non-zero exit and no stack trace. No dockerd is needed here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seedBusybox } from '../../src/testing/fixtures.ts';
import { freePort, sharedRegistry } from '../../src/testing/registry.ts';
import { BASE_REPOSITORY, fill, MISTAKES, type Mistake, unfill } from './mistakes.ts';

const KILN = join(import.meta.dirname, '..', '..', 'bin', 'kiln');
const FIXTURE = join(import.meta.dirname, 'testdata', 'buildkit-mistakes.json');

interface Recording {
  recordedWith: { dockerClient: string; dockerServer: string };
  cases: Record<string, { exitCode: number; stderr: string }>;
}

let dir: string;
let root: string;
let registry: string;
let closedPort: number;
let recording: Recording;

function kiln(args: string[]): { code: number | null; err: string } {
  const env = { ...process.env, KILN_ROOT: root, NO_COLOR: '1' };
  const r = spawnSync(KILN, args, { encoding: 'utf8', input: '', env, maxBuffer: 64 << 20 });
  return { code: r.status, err: r.stderr };
}

before(async () => {
  recording = JSON.parse(await readFile(FIXTURE, 'utf8'));
  dir = await mkdtemp(join(tmpdir(), 'kiln-parity-mistakes-'));
  root = join(dir, 'root');
  await seedBusybox(root);
  registry = (await sharedRegistry()).host;
  closedPort = await freePort();
  const push = kiln(['push', 'busybox:latest', `${registry}/${BASE_REPOSITORY}:latest`]);
  assert.equal(push.code, 0, push.err);
  // The bases come from the registry, as BuildKit's did: nothing named so in the store.
  const rmi = kiln(['rmi', `${registry}/${BASE_REPOSITORY}:latest`]);
  assert.ok(rmi.code === 0 || /no image named/i.test(rmi.err), rmi.err);
});
after(() => rm(dir, { recursive: true, force: true }));

async function buildMistake(m: Mistake): Promise<{ code: number | null; err: string }> {
  const ctx = join(dir, `ctx-${m.name}`);
  for (const [path, text] of Object.entries(m.files)) {
    await mkdir(dirname(join(ctx, path)), { recursive: true });
    await writeFile(join(ctx, path), fill(text, registry, closedPort));
  }
  for (const d of m.dirs ?? []) await mkdir(join(ctx, d), { recursive: true });
  const r = kiln(['build', '--progress', 'plain', ...(m.args ?? []), ctx]);
  return { code: r.code, err: unfill(r.err, registry, closedPort, ctx) };
}

describe('kiln’s errors for build mistakes state at least what BuildKit’s do', () => {
  for (const m of MISTAKES) {
    it(`${m.name}: ${m.title}`, async () => {
      const theirs = recording.cases[m.name];
      assert.ok(theirs, `no BuildKit recording for ${m.name}: run scripts/record-mistakes.ts`);
      const ours = await buildMistake(m);
      if (theirs.exitCode === 0) {
        assert.equal(ours.code, 0, `BuildKit builds this; kiln failed:\n${ours.err}`);
        return;
      }
      assert.ok(ours.code !== 0 && ours.code !== null, `kiln must fail (exit ${ours.code}):\n${ours.err}`);
      assert.doesNotMatch(ours.err, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
      assert.match(ours.err, /^hint: \S/m, `a hint says how to fix it:\n${ours.err}`);
      for (const f of m.shared) {
        assert.match(
          theirs.stderr,
          f.pattern,
          `BuildKit ${recording.recordedWith.dockerServer} states ${f.what}`,
        );
        assert.match(ours.err, f.pattern, `kiln states ${f.what}, as BuildKit does:\n${ours.err}`);
      }
      for (const f of m.kilnOnly) assert.match(ours.err, f.pattern, `kiln states ${f.what}:\n${ours.err}`);
    });
  }
});
