/**
 * Prunes racing builds (security issue 10): `kiln prune --all` and `kiln builder prune --all` run
 * in other processes while builds run. Every blob and snapshot a running build reads or writes is
 * held from the moment it is found, so a build either succeeds with a sound image or fails with a
 * clear error; never a "success" whose image has lost its blobs. KILN_PRUNE_RACE_ROUNDS sets how
 * many rounds of parallel builds the second test runs (default 3).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeReference } from '../../src/reference/reference.ts';
import { ClosureWalker } from '../../src/store/closure.ts';
import { openStore } from '../../src/store/store.ts';
import { seedBusybox } from '../../src/testing/fixtures.ts';
import { sharedRegistry, type TestRegistry } from '../../src/testing/registry.ts';
import { type KilnRun, startKiln } from './helpers.ts';

/** kiln on `root` as these tests run it (--load goes to kiln's store, never into a Docker Engine the machine may run). */
function start(root: string, args: string[]): ReturnType<typeof startKiln> {
  // No time limit of its own: the prune loops run until the test stops them.
  return startKiln(root, args, {
    env: { NO_COLOR: '1', DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    timeoutMs: 600_000,
  });
}

function kiln(root: string, args: string[]): Promise<KilnRun> {
  return start(root, args).done;
}

function assertRan(r: KilnRun, what: string): void {
  assert.equal(r.code, 0, `${what} failed:\n${r.out}\n${r.err}`);
}

/** The host directory behind `RUN --mount=type=cache,id=<id>` (how run-mounts.ts names it). */
function cacheMountDir(root: string, id: string): string {
  return join(root, 'cache-mounts', createHash('sha256').update(id).digest('hex').slice(0, 32), 'data');
}

async function fsckSound(root: string): Promise<void> {
  const r = await kiln(root, ['fsck', '--format', 'json']);
  const report = JSON.parse(r.out || '{}');
  assert.equal(report.sound, true, `fsck of ${root}: ${r.out}\n${r.err}`);
}

/** A host file outside every kiln root that must come through byte-identical. */
function sentinel(dir: string): () => void {
  const path = join(dir, 'sentinel', 'keep.txt');
  mkdirSync(join(dir, 'sentinel'), { recursive: true });
  const data = randomBytes(64).toString('hex');
  writeFileSync(path, data);
  const { mtimeMs } = statSync(path);
  return () => {
    assert.equal(readFileSync(path, 'utf8'), data, 'the sentinel outside the root is unchanged');
    assert.equal(statSync(path).mtimeMs, mtimeMs);
    assert.deepEqual(readdirSync(join(dir, 'sentinel')), ['keep.txt']);
  };
}

function writeContext(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return dir;
}

/** A prune command run again and again in its own processes until stopped; pausable between runs. */
class PruneLoop {
  runs = 0;
  private stopped = false;
  private ended = false;
  private waiting = false;
  private gate?: Promise<void>;
  private open = () => {};
  private readonly done: Promise<void>;

  constructor(root: string, args: string[]) {
    this.done = (async () => {
      try {
        while (!this.stopped) {
          if (this.gate) {
            this.waiting = true;
            await this.gate;
            this.waiting = false;
            continue;
          }
          assertRan(await kiln(root, args), args.join(' '));
          this.runs++;
        }
      } finally {
        this.ended = true;
      }
    })();
    // Reported by stop(), whenever the test gets there.
    this.done.catch(() => {});
  }

  /** Resolves once the run in progress has finished and the loop waits. */
  async pause(): Promise<void> {
    this.gate = new Promise((r) => (this.open = r));
    while (!this.waiting && !this.ended) await sleep(20);
    if (this.ended) await this.done;
  }

  resume(): void {
    this.gate = undefined;
    this.open();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.resume();
    return this.done;
  }
}

describe('prune racing builds', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-prune-race-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a build whose RUN waits while other processes prune everything succeeds with a sound image', async () => {
    const root = join(dir, 'one');
    const unchanged = sentinel(join(dir, 'one-host'));
    await seedBusybox(root, 'busybox:latest');
    const gate = cacheMountDir(root, 'gate');
    const ctx = writeContext(join(dir, 'one-ctx'), {
      Dockerfile: [
        'FROM busybox AS side',
        'RUN echo side > /side',
        'FROM busybox',
        'COPY f /f',
        // Waits for the test, which prunes meanwhile: the base image is resolved and unpacked,
        // the side stage is a cache hit not used yet, and COPY f made a fresh snapshot.
        'RUN --mount=type=cache,id=gate,target=/gate touch /gate/started && while [ ! -e /gate/go ]; do sleep 0.05; done',
        'COPY --from=side /side /side',
      ].join('\n'),
      f: '1',
    });
    // A first build fills the cache (its gate open from the start).
    mkdirSync(gate, { recursive: true });
    writeFileSync(join(gate, 'go'), '');
    assertRan(await kiln(root, ['build', '-q', ctx]), 'the first build');
    rmSync(join(gate, 'go'));
    rmSync(join(gate, 'started'));
    // As if that cache were an hour old (builder prune used to spare snapshots for ten minutes).
    const metadata = join(root, 'snapshots', 'metadata');
    for (const name of readdirSync(metadata).filter((n) => n.endsWith('.json'))) {
      const rec = JSON.parse(readFileSync(join(metadata, name), 'utf8'));
      rec.created = new Date(Date.now() - 3600_000).toISOString();
      writeFileSync(join(metadata, `${name}.tmp`), JSON.stringify(rec));
      renameSync(join(metadata, `${name}.tmp`), join(metadata, name));
    }

    writeFileSync(join(ctx, 'f'), '2');
    const build = start(root, ['build', '--progress', 'plain', '-t', 'race:1', ctx]);
    let exited = false;
    void build.done.then(() => (exited = true));
    while (!existsSync(join(gate, 'started'))) {
      if (exited) assert.fail(`the build ended before its RUN started:\n${(await build.done).err}`);
      await sleep(50);
    }
    const pruned = await kiln(root, ['prune', '--all', '-f']);
    const builderPruned = await kiln(root, ['builder', 'prune', '--all', '-f']);
    writeFileSync(join(gate, 'go'), '');
    const built = await build.done;

    assertRan(pruned, 'prune --all');
    assert.match(pruned.out, /Untagged: .*busybox:latest/, 'prune --all removed the base image name');
    assertRan(builderPruned, 'builder prune --all');
    assertRan(built, 'the build racing the prunes');
    await fsckSound(root);
    const store = openStore(root);
    try {
      const rec = await store.images.get(normalizeReference('race:1'));
      assert.ok(rec, 'the build named its image');
      const closure = new ClosureWalker(store.content).walk([rec.target]);
      assert.deepEqual(closure.missing, [], 'every blob of the image is present');
      assert.ok(closure.blobs.size >= 6, 'manifest, config and the layers, the base layer among them');
    } finally {
      store.close();
    }
    assert.match(builderPruned.out, /\(\d+ in use by running builds kept\)/);
    const saved = join(dir, 'one-saved.tar');
    assertRan(await kiln(root, ['image', 'save', '-o', saved, 'race:1']), 'image save');
    assert.ok(statSync(saved).size > 0);
    unchanged();
  });

  describe('with a registry to pull from', () => {
    let reg: TestRegistry;
    let base: string;
    before(async () => {
      reg = await sharedRegistry();
      base = `${reg.host}/prune-race/busybox:latest`;
      const origin = join(dir, 'origin');
      await seedBusybox(origin, base);
      assertRan(await kiln(origin, ['push', base]), 'pushing the base image');
    });

    it('a base image whose blobs went between finding and holding it is pulled again; with no registry, the build fails saying so', async () => {
      const root = join(dir, 'gone');
      const unchanged = sentinel(join(dir, 'gone-host'));
      const ctx = writeContext(join(dir, 'gone-ctx'), { Dockerfile: `FROM ${base}\nRUN echo ok > /ok` });
      assertRan(await kiln(root, ['pull', base]), 'pulling the base');
      // What a prune racing the build leaves: the name, the manifest and config, no layer.
      const store = openStore(root);
      let layer: string;
      try {
        const rec = await store.images.get(normalizeReference(base));
        const manifest = JSON.parse((await store.content.readBlob(rec!.target.digest)).toString('utf8'));
        layer = manifest.layers[0].digest;
        rmSync(store.content.blobPath(manifest.layers[0].digest));
      } finally {
        store.close();
      }
      assertRan(await kiln(root, ['build', '-q', '-t', 'gone:1', ctx]), 'the build');
      await fsckSound(root);
      assert.ok(existsSync(join(root, 'blobs', 'sha256', layer.slice('sha256:'.length))), 'pulled again');

      // The same, for an image no registry serves (nothing listens on port 1).
      const unreachable = '127.0.0.1:1/prune-race/busybox:latest';
      await seedBusybox(root, unreachable);
      const store2 = openStore(root);
      try {
        const rec = await store2.images.get(normalizeReference(unreachable));
        const index = JSON.parse((await store2.content.readBlob(rec!.target.digest)).toString('utf8'));
        const amd64 = index.manifests.find(
          (m: { platform: { architecture: string } }) => m.platform.architecture === 'amd64',
        );
        const manifest = JSON.parse((await store2.content.readBlob(amd64.digest)).toString('utf8'));
        rmSync(store2.content.blobPath(manifest.config.digest));
      } finally {
        store2.close();
      }
      writeFileSync(join(ctx, 'Dockerfile'), `FROM ${unreachable}\nRUN echo ok > /ok`);
      const failed = await kiln(root, ['build', '-q', '--platform', 'linux/amd64', ctx]);
      assert.equal(failed.code, 1);
      assert.match(
        failed.err,
        /^error: .*base image 127\.0\.0\.1:1\/prune-race\/busybox:latest was removed from the local store while this build used it, and pulling it again failed/m,
      );
      assert.match(failed.err, /^hint: run the build again/m);
      unchanged();
    });

    it('8 builds at once, with prune --all and builder prune --all looping in other processes', async () => {
      const rounds = Number(process.env.KILN_PRUNE_RACE_ROUNDS ?? 3);
      const root = join(dir, 'race');
      const unchanged = sentinel(join(dir, 'race-host'));
      // Four Dockerfiles on one base: RUN, COPY, multi-stage, and one that stays cached.
      const dockerfiles = [
        [`FROM ${base}`, 'COPY nonce /nonce', 'RUN cat /nonce > /copied && sleep 0.2'],
        [
          `FROM ${base} AS tool`,
          'RUN echo tool > /tool',
          `FROM ${base}`,
          'COPY --from=tool /tool /tool',
          'COPY nonce /nonce',
          'RUN cat /tool /nonce > /out',
        ],
        [`FROM ${base}`, 'RUN echo cached > /c', 'COPY c.txt /c.txt'],
        [
          `FROM ${base} AS one`,
          'RUN echo 1 > /1',
          'FROM one AS two',
          'RUN echo 2 > /2',
          `FROM ${base}`,
          'COPY --from=two /1 /2 /',
          'COPY nonce /nonce',
          'RUN ls / > /ls',
        ],
      ];
      const stats = { builds: 0, failed: 0 };
      const failures: string[] = [];
      const prunes = [
        new PruneLoop(root, ['prune', '--all', '-f']),
        new PruneLoop(root, ['builder', 'prune', '--all', '-f']),
      ];
      try {
        for (let round = 1; round <= rounds; round++) {
          const builds = Array.from({ length: 8 }, (_, i) => {
            const ctx = writeContext(join(dir, `race-ctx-${round}-${i}`), {
              Dockerfile: dockerfiles[i % 4].join('\n'),
              nonce: `${round}-${i}`,
              'c.txt': 'cached',
            });
            const archive = join(dir, `race-${round}-${i}.tar`);
            const name = i < 4 ? `race-${i}:r${round}` : `${reg.host}/prune-race/out-${i}:r${round}`;
            const outputs = i < 4 ? ['--load'] : ['--push'];
            const args = [
              'build',
              '--progress',
              'plain',
              '-t',
              name,
              '-o',
              `type=oci,dest=${archive}`,
              ...outputs,
            ];
            return { name, archive, pushed: i >= 4, run: kiln(root, [...args, ctx]) };
          });
          for (const b of builds) {
            const r = await b.run;
            stats.builds++;
            if (r.code !== 0) {
              // A failure must be a clear one: kiln's error line with a hint, no stack trace.
              stats.failed++;
              failures.push(r.err.trim().split('\n').slice(-2).join(' / '));
              assert.match(r.err, /^error: .+$/m, `an unclear failure:\n${r.err}`);
              assert.match(r.err, /^hint: .+$/m, `a failure without a hint:\n${r.err}`);
              assert.doesNotMatch(r.err, /^\s+at /m);
              continue;
            }
            // What the build exported was whole when it said so: its archive loads and checks out.
            const check = join(dir, `check-${round}-${b.name.replace(/[/:]/g, '_')}`);
            assertRan(await kiln(check, ['image', 'load', '-i', b.archive]), `loading ${b.archive}`);
            if (b.pushed) assertRan(await kiln(check, ['pull', b.name]), `pulling ${b.name}`);
            await fsckSound(check);
            rmSync(check, { recursive: true, force: true });
          }
          // The store is sound after each round (fsck with the prunes paused between two runs).
          await Promise.all(prunes.map((p) => p.pause()));
          await fsckSound(root);
          for (const p of prunes) p.resume();
        }
      } finally {
        await Promise.allSettled(prunes.map((p) => p.stop()));
      }
      for (const p of prunes) await p.stop();
      await fsckSound(root);
      unchanged();
      const runs = prunes.map((p) => p.runs);
      process.stdout.write(
        `# prune race: ${rounds} rounds, ${stats.builds} builds, ${stats.failed} failed, prune runs ${runs.join(' + ')}${failures.length ? `; failures: ${[...new Set(failures)].join(' | ')}` : ''}\n`,
      );
      assert.ok(
        runs.every((n) => n >= rounds),
        'the prunes ran throughout',
      );
      assert.equal(stats.failed, 0, `builds failed: ${[...new Set(failures)].join(' | ')}`);
    });
  });
});
