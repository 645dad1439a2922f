/**
 * Docker Engine as a judge of what kiln builds: a kiln-built image saved in docker format loads
 * with `docker load` and runs with `docker run`, printing what its CMD says. Docker is an oracle
 * here, never a dependency: the test runs where Debian's dockerd is installed (it is started if
 * needed) and says so plainly where it is not.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from '../../../src/pipeline/build.ts';
import { parseOutput } from '../../../src/pipeline/output-spec.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { ensureBusyboxImages } from '../../../src/testing/fixtures.ts';
import { DOCKER, ensureDocker } from '../../fidelity/builders.ts';

const DOCKERD = '/usr/sbin/dockerd';
const EXAMPLE = fileURLToPath(new URL('../../../examples/hello', import.meta.url));
const TAG = 'kiln-docker-load-test:latest';

describe('docker load accepts kiln images', {
  skip: existsSync(DOCKERD) ? false : 'dockerd is not installed here',
}, () => {
  let dir: string;
  let store: Store;

  before(async () => {
    ensureDocker();
    dir = await mkdtemp(join(tmpdir(), 'kiln-docker-load-'));
    store = openStore(join(dir, 'root'));
    const { index } = await ensureBusyboxImages(store);
    await store.images.put(normalizeReference('busybox:latest'), index);
  });
  after(async () => {
    store?.close();
    execFileSync(DOCKER, ['rmi', '-f', TAG], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });

  it('examples/hello built by kiln loads into docker and runs its CMD', async () => {
    const archive = join(dir, 'hello.tar');
    await build(
      {
        context: EXAMPLE,
        tags: [TAG],
        buildArgs: {},
        labels: {},
        buildContexts: {},
        platforms: [],
        outputs: [parseOutput(`type=docker,dest=${archive}`, [TAG])],
        noCache: false,
        noCacheFilter: [],
        pull: false,
        secrets: [],
        ssh: [],
        network: 'none',
      },
      { store },
    );
    const loaded = execFileSync(DOCKER, ['load', '-i', archive], { encoding: 'utf8' });
    assert.match(loaded, /Loaded image: kiln-docker-load-test:latest/);
    const out = execFileSync(DOCKER, ['run', '--rm', '--network', 'none', TAG], { encoding: 'utf8' });
    assert.equal(out, 'hello, world\n');
    const env = execFileSync(DOCKER, ['image', 'inspect', '--format', '{{json .Config.Env}}', TAG], {
      encoding: 'utf8',
    });
    assert.ok(JSON.parse(env).includes('GREETING=hello'));
  });
});
