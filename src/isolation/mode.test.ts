/** Isolation modes from flags and the environment, and /etc/subuid parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../errors/errors.ts';
import { checkIsolation, chooseIsolation, IN_USERNS_ENV, parseIsolation } from './mode.ts';
import { parseSubIds } from './subid.ts';

describe('isolation modes', () => {
  it('takes buildah names from the flag before KILN_ISOLATION, and says where it came from', () => {
    assert.deepEqual(chooseIsolation('chroot', { KILN_ISOLATION: 'oci' }), {
      mode: 'chroot',
      why: 'from --isolation',
    });
    assert.deepEqual(chooseIsolation(undefined, { KILN_ISOLATION: ' Rootless ' }), {
      mode: 'rootless',
      why: 'from KILN_ISOLATION',
    });
    assert.equal(chooseIsolation(undefined, { [IN_USERNS_ENV]: '1' }).mode, 'rootless');
  });

  it('refuses an unknown name, naming the three', () => {
    assert.throws(
      () => parseIsolation('docker', '--isolation'),
      (e: unknown) =>
        e instanceof KilnError && e.code === 'INVALID_FLAG' && /oci .*rootless .*chroot/.test(e.hint ?? ''),
    );
  });

  it('chooses by privilege when nothing says', () => {
    const mode = chooseIsolation(undefined, {}).mode;
    // The test runs as root with all capabilities (the rig needs them), or as a user.
    assert.equal(mode, process.getuid?.() === 0 ? 'oci' : 'rootless');
  });
});

describe('isolation checks', () => {
  /** CapEff of a `docker run` without --privileged or --cap-add: Docker's default set. */
  const DOCKER_DEFAULT = 0xa80425fbn;
  const inContainer = { uid: 0, caps: DOCKER_DEFAULT };

  it("lets root with a container's default capabilities build in chroot mode only", () => {
    assert.doesNotThrow(() => checkIsolation('chroot', {}, inContainer));
    for (const mode of ['oci', 'rootless'] as const) {
      assert.throws(
        () => checkIsolation(mode, {}, inContainer),
        (e: unknown) =>
          e instanceof KilnError &&
          e.code === 'ISOLATION_UNAVAILABLE' &&
          /needs (root with )?CAP_SYS_ADMIN.*root without CAP_SYS_ADMIN/.test(e.message) &&
          /--isolation chroot/.test(e.hint ?? ''),
        mode,
      );
    }
  });

  it('lets root with CAP_SYS_ADMIN (the host, or --privileged) use oci and rootless', () => {
    const all = { uid: 0, caps: (1n << 41n) - 1n };
    assert.doesNotThrow(() => checkIsolation('oci', {}, all));
    assert.doesNotThrow(() => checkIsolation('rootless', {}, all));
  });
});

describe('subordinate ids', () => {
  it('finds the first range of the user by name or by uid, skipping malformed lines', () => {
    const text = 'other:100000:65536\nbad line\nme:x:5\nme:200000:1000\n1001:300000:10\n';
    assert.deepEqual(parseSubIds(text, new Set(['me', '1000'])), { start: 200000, count: 1000 });
    assert.deepEqual(parseSubIds(text, new Set(['nobody-here', '1001'])), { start: 300000, count: 10 });
    assert.equal(parseSubIds(text, new Set(['absent'])), undefined);
    assert.equal(parseSubIds('me:5:0\n', new Set(['me'])), undefined);
  });
});
