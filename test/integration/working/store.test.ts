/**
 * Working containers and the store: one command at a time per container (another waits, other
 * containers run in parallel), `kill -9` mid-run and mid-commit leaves a usable container and a
 * sound store, and prune never takes what a working container needs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliRoot, cliRoot } from '../cli/helpers.ts';

const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');

let r: CliRoot;
before(async () => {
  r = await cliRoot('working-store');
});
after(() => r.close());

/** bin/kiln in the background: its output so far and a promise of its exit. */
function background(args: string[]) {
  const child = spawn(KILN, args, { env: { ...process.env, KILN_ROOT: r.root, NO_COLOR: '1' } });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c) => (out.stdout += c));
  child.stderr.on('data', (c) => (out.stderr += c));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return { child, out, exited };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function fsckSound(): void {
  const res = r.kiln(['fsck']);
  assert.equal(res.code, 0, res.out + res.err);
  assert.match(res.out, /checked: sound\n$/);
}

function removeAllImages(): void {
  const ids = new Set(r.ok(['images', '-q']).trim().split('\n').filter(Boolean));
  for (const id of ids) r.ok(['rmi', '-f', id]);
  assert.equal(r.ok(['images', '-q']), '');
}

describe('working containers and the store', () => {
  it('a second command on a busy container waits; another container runs meanwhile', async () => {
    const a = r.ok(['from', '--name', 'lock-a', 'busybox']).trim();
    const b = r.ok(['from', '--name', 'lock-b', 'busybox']).trim();
    const first = background(['run', a, '--', 'sh', '-c', 'echo started; sleep 3; echo one >> /log']);
    await until(() => first.out.stdout.includes('started'), 'the first run to start');
    const second = background(['run', a, '--', 'sh', '-c', 'echo two >> /log']);
    // The other container is not held up by the first one's lock.
    const other = r.kiln(['run', b, '--', 'true']);
    assert.equal(other.code, 0, other.err);
    assert.doesNotMatch(other.err, /waiting/);
    await until(() => second.out.stderr.includes('waiting'), 'the second run to wait');
    assert.match(
      second.out.stderr,
      /^waiting for working container "lock-a": another kiln command is using it\n/,
    );
    assert.equal(await first.exited, 0, first.out.stderr);
    assert.equal(await second.exited, 0, second.out.stderr);
    assert.equal(r.ok(['run', a, '--', 'cat', '/log']), 'one\ntwo\n');
    r.ok(['rm', a, b]);
  });

  it('kill -9 mid-run leaves the container usable and the store sound', async () => {
    const ctr = r.ok(['from', '--name', 'killed-run', 'busybox']).trim();
    const run = background(['run', ctr, '--', 'sh', '-c', 'echo partial > /partial; echo started; sleep 60']);
    await until(() => run.out.stdout.includes('started'), 'the run to start');
    run.child.kill('SIGKILL');
    await run.exited;
    // What the command wrote before it died stays, as in buildah; the container takes new commands.
    assert.equal(r.ok(['run', ctr, '--', 'cat', '/partial']), 'partial\n');
    r.ok(['commit', '--rm', ctr, 'after-kill:run']);
    fsckSound();
  });

  it('kill -9 mid-commit leaves the container usable; the next commit has every change', async () => {
    const ctr = r.ok(['from', '--name', 'killed-commit', 'busybox']).trim();
    r.ok(['run', ctr, '--', 'sh', '-c', 'for i in $(seq 1 3000); do echo $i > /f$i; done; rm /bin/vi']);
    // Killed at a range of moments: before, during and after the upper dir becomes a snapshot.
    for (const delay of [50, 150, 300, 600]) {
      const commit = background(['commit', ctr, `half:${delay}`]);
      await sleep(delay);
      commit.child.kill('SIGKILL');
      await commit.exited;
      assert.equal(
        r.ok(['run', ctr, '--', 'sh', '-c', 'cat /f3000; test -e /bin/vi || echo gone']),
        '3000\ngone\n',
      );
    }
    r.ok(['commit', ctr, 'whole:1']);
    // A killed commit that got as far as its image is a commit like any other: its image is whole.
    const committed = r.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n');
    for (const img of ['whole:1', ...committed.filter((n) => n.startsWith('half:'))]) {
      const ctx = await r.context({
        Dockerfile: `FROM ${img}\nRUN test "$(cat /f1234)" = 1234 && ! test -e /bin/vi\n`,
      });
      r.ok(['build', '-q', ctx]);
    }
    r.ok(['rm', ctr]);
    fsckSound();
  });

  it('fsck checks working containers and says which one is damaged', async () => {
    const ctr = r.ok(['from', '--name', 'damaged', 'busybox']).trim();
    fsckSound();
    const id = JSON.parse(r.ok(['inspect', ctr])).ContainerID;
    await rm(join(r.root, 'containers', id, 'upper'), { recursive: true });
    const res = r.kiln(['fsck']);
    assert.equal(res.code, 1);
    assert.match(res.out, /^working container damaged: its upper dir is missing$/m);
    r.ok(['rm', ctr]);
    fsckSound();
  });

  it('prune keeps what a working container needs, even with its image removed', async () => {
    // A root of its own: a commit killed above leaves its lease (24 h) holding blobs.
    const shared = r;
    r = await cliRoot('working-prune');
    try {
      await pruneWhileWorking();
    } finally {
      await r.close();
      r = shared;
    }
  });
});

async function pruneWhileWorking(): Promise<void> {
  {
    const ctr = r.ok(['from', '--name', 'pruned', 'busybox']).trim();
    r.ok(['run', ctr, '--', 'sh', '-c', 'echo one > /one']);
    r.ok(['commit', ctr, 'pruned:1']);
    r.ok(['run', ctr, '--', 'sh', '-c', 'echo two > /two']);
    // The base image's name and the committed image go; then every prune there is.
    removeAllImages();
    r.ok(['builder', 'prune', '-a', '-f']);
    r.ok(['prune', '-a', '-f']);
    r.ok(['image', 'prune', '-a', '-f']);
    assert.equal(r.ok(['run', ctr, '--', 'cat', '/one', '/two']), 'one\ntwo\n');
    r.ok(['commit', ctr, 'pruned:2']);
    const ctx = await r.context({
      Dockerfile: 'FROM pruned:2\nRUN cat /one /two /bin/busybox > /dev/null\n',
    });
    r.ok(['build', '-q', ctx]);
    fsckSound();
    // Once the container is removed, prune takes its snapshots and the base image's blobs.
    r.ok(['rm', ctr]);
    removeAllImages();
    r.ok(['prune', '-a', '-f']);
    const gc = r.ok(['builder', 'prune', '-a', '-f']);
    assert.doesNotMatch(gc, /removed \d+ cache results and 0 snapshots/);
    assert.equal(r.ok(['fsck']).trim(), '0 blobs (0B) checked: sound');
  }
}
