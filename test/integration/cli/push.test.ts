/**
 * `kiln push IMAGE [DESTINATION]` as podman and buildah take it: a local name or ID pushed under
 * another name (plain or `docker://`), which a fresh root then pulls back as the same image.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { type CliRoot, cliRoot } from './helpers.ts';

let r: CliRoot;
let reg: TestRegistry;
before(async () => {
  r = await cliRoot('push');
  reg = await sharedRegistry();
});
after(() => r.close());

describe('kiln push IMAGE DESTINATION', () => {
  it('pushes a local name to another repository, as the README shows', async () => {
    const ctx = await r.context({ Dockerfile: 'FROM busybox\nRUN echo pushed > /p\n' });
    const id = r.ok(['build', '-q', '-t', 'app:1', ctx]).trim();
    const dest = `${reg.host}/push/app:1`;
    const pushed = r.kiln(['push', 'app:1', dest]);
    assert.equal(pushed.code, 0, pushed.err);
    assert.match(pushed.err, new RegExp(`The push refers to repository \\[${reg.host}/push/app\\]`));
    assert.match(pushed.out, new RegExp(`^${dest}@sha256:[0-9a-f]{64}\\n$`));
    // The local name is not changed by where it was pushed.
    assert.equal(r.kiln(['image', 'inspect', dest]).code, 1);

    const other = r.kiln(['pull', dest], { env: { KILN_ROOT: join(r.dir, 'other') } });
    assert.equal(other.code, 0, other.err);
    const inspect = r.kiln(['image', 'inspect', '--format', '{{.Id}}', dest], {
      env: { KILN_ROOT: join(r.dir, 'other') },
    });
    assert.equal(inspect.out, `${id}\n`, inspect.err);
  });

  it('takes docker:// destinations and refuses archive transports with a hint', () => {
    const pushed = r.kiln(['push', '-q', 'app:1', `docker://${reg.host}/push/app:2`]);
    assert.equal(pushed.code, 0, pushed.err);
    assert.match(pushed.out, new RegExp(`^${reg.host}/push/app:2@sha256:`));
    const archive = r.kiln(['push', 'app:1', 'oci-archive:/tmp/x.tar']);
    assert.equal(archive.code, 1);
    assert.match(
      archive.err,
      /error: kiln push sends images to registries, not to oci-archive:\nhint: .*kiln image save/,
    );
  });
});
