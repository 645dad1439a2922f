/**
 * Every long command is cancellable (security issue 10, item 9): the first SIGTERM or SIGINT
 * aborts it — runc kills the RUN's container, mounts and bundles are cleaned up — and kiln
 * exits 143 or 130 within seconds with the store sound; a second signal exits at once, and the
 * next kiln command cleans (and fsck reports) what that left. A registry transfer that hangs
 * stops at once too, not after the grace period.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kiln, makeContext, openSuite, type Suite, scratch } from '../integration/build/helpers.ts';
import {
  assertNoStack,
  entries,
  filesContaining,
  forceClean,
  mountsUnder,
  runcContainers,
  startKiln,
  until,
} from './harness.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('sec-signals');
});
after(async () => {
  forceClean(suite.root);
  await suite.close();
});

/** Nothing a RUN made is left: no container, no mount, no bundle, no scratch; fsck is sound. */
function assertClean(): void {
  assert.deepEqual(runcContainers(suite.root), [], 'no runc container');
  assert.deepEqual(mountsUnder(suite.root), [], 'no mount under the root');
  assert.deepEqual(entries(join(suite.root, 'bundles')), [], 'no bundle');
  assert.deepEqual(entries(join(suite.root, 'run')), [], 'no secrets tmpfs, ssh socket or bind copy');
  const fsck = kiln(suite, ['fsck']);
  assert.equal(fsck.code, 0, fsck.out + fsck.err);
  assert.match(fsck.out, /: sound\n$/);
}

/** Start a build whose RUN sleeps 60 s, and wait until its container runs. */
async function buildSleeping(extra: string[] = [], mount = '') {
  const ctx = await makeContext(suite, {
    Dockerfile: `FROM busybox\nRUN ${mount}sleep 60 # ${randomBytes(4).toString('hex')}\n`,
  });
  const run = startKiln(suite, ['build', '--progress', 'plain', ...extra, ctx]);
  await run.stderrShows('sleep 60');
  await until(() => runcContainers(suite.root).length === 1, 30_000, 'the RUN container');
  return run;
}

describe('a signal during a RUN', () => {
  it('SIGTERM: kiln kills the container, cleans up and exits 143 within seconds', async (t) => {
    const run = await buildSleeping();
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 143, r.err);
    t.diagnostic(`exited ${Date.now() - sent} ms after SIGTERM`);
    assert.ok(Date.now() - sent < 8_000, `exited ${Date.now() - sent} ms after SIGTERM`);
    assert.match(r.err, /terminated: cleaning up/);
    assert.match(r.err, /error: .*canceled/);
    assertNoStack(r.err);
    assertClean();
  });

  it('SIGINT with a secret mounted: exit 130, and the plaintext is unmounted by kiln itself', async () => {
    const token = randomBytes(24).toString('hex');
    const dir = await scratch(suite, 'sigint');
    await writeFile(join(dir, 'token'), token);
    const run = await buildSleeping(
      ['--secret', `id=tok,src=${join(dir, 'token')}`],
      '--mount=type=secret,id=tok ',
    );
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.err);
    // Checked before any other kiln command runs: nothing was left for a sweep.
    assert.deepEqual(mountsUnder(suite.root), []);
    assert.deepEqual(entries(join(suite.root, 'run')), []);
    assert.deepEqual(filesContaining(suite.root, Buffer.from(token)), []);
    assertClean();
  });

  it('a second signal exits at once; the next command cleans what was left, and fsck reports it', async (t) => {
    const run = await buildSleeping();
    const sent = Date.now();
    run.child.kill('SIGTERM');
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 143, r.err);
    assert.ok(Date.now() - sent < 3_000, `exited ${Date.now() - sent} ms after the second signal`);
    const left = [
      ...entries(join(suite.root, 'run')).map((n) => join(suite.root, 'run', n)),
      ...entries(join(suite.root, 'bundles')).map((n) => join(suite.root, 'bundles', n)),
    ];
    t.diagnostic(`left by the second signal: ${left.join(', ') || 'nothing'}`);
    const fsck = kiln(suite, ['fsck', '--format', 'json']);
    assert.equal(fsck.code, 0, fsck.out + fsck.err);
    const report = JSON.parse(fsck.out) as { removedLeftovers: string[] };
    for (const p of left) assert.ok(report.removedLeftovers.includes(p), `fsck reports ${p} removed`);
    assertClean();
  });
});

describe('a signal during a registry transfer', () => {
  it('a pull from a registry that never answers stops at once on SIGTERM', async () => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const run = startKiln(suite, ['pull', `127.0.0.1:${port}/stalled/image:1`]);
      await until(() => held.length > 0, 30_000, 'the pull to connect');
      const sent = Date.now();
      run.child.kill('SIGTERM');
      const r = await run.done;
      assert.equal(r.code, 143, r.err);
      // The grace period is 10 s: well under it means the request itself was aborted.
      assert.ok(Date.now() - sent < 5_000, `exited ${Date.now() - sent} ms after SIGTERM`);
      assertNoStack(r.err);
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});
