import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkRoot, defaultRoot, resolveRoot } from './root.ts';
import { openStore } from './store.ts';

describe('state root', () => {
  it('root uses /var/lib/kiln', () => assert.equal(defaultRoot({}, 0), '/var/lib/kiln'));
  it('others use $XDG_DATA_HOME/kiln', () =>
    assert.equal(defaultRoot({ XDG_DATA_HOME: '/x/data', HOME: '/h' }, 1000), '/x/data/kiln'));
  it('others without XDG_DATA_HOME use ~/.local/share/kiln', () =>
    assert.equal(defaultRoot({ HOME: '/home/u' }, 1000), '/home/u/.local/share/kiln'));
  it('a relative XDG_DATA_HOME is ignored', () =>
    assert.equal(defaultRoot({ XDG_DATA_HOME: 'rel', HOME: '/home/u' }, 1000), '/home/u/.local/share/kiln'));
  it('--root beats KILN_ROOT, which beats the default', () => {
    assert.equal(resolveRoot('/opt/a', { KILN_ROOT: '/opt/b' }), '/opt/a');
    assert.equal(resolveRoot(undefined, { KILN_ROOT: '/opt/b' }), '/opt/b');
  });
});

describe('checkRoot', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-root-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('accepts an existing directory and a path that does not exist yet', () => {
    checkRoot(tmp);
    checkRoot(join(tmp, 'new', 'deeper'));
  });

  // /proc/self made Node's recursive mkdir spin forever; the others failed later or obscurely.
  for (const [name, root, why] of [
    ['/proc/self', () => '/proc/self', /under \/proc/],
    ['a path under /sys', () => '/sys/kernel/kiln', /under \/sys/],
    ['/dev/null', () => '/dev/null', /exists and is not a directory/],
    ['a regular file', () => writeFileIn(tmp, 'file'), /exists and is not a directory/],
    ['a path below a regular file', () => join(writeFileIn(tmp, 'file2'), 'sub'), /file2 is not a directory/],
    ['a symlink to /proc', () => linkIn(tmp, 'plink', '/proc/self'), /leads to \/proc\//],
    [
      'a path below a symlink to /sys',
      () => join(linkIn(tmp, 'slink', '/sys/kernel'), 'x'),
      /leads to \/sys\//,
    ],
  ] as const) {
    it(`refuses ${name} with STORE_ROOT_INVALID`, () => {
      const r = root();
      assert.throws(
        () => checkRoot(r),
        (err: Error & { code?: string; hint?: string }) => {
          assert.equal(err.code, 'STORE_ROOT_INVALID');
          assert.match(err.message, why);
          assert.ok(err.message.startsWith(`${r} cannot be kiln's state root`));
          assert.match(err.hint ?? '', /--root/);
          return true;
        },
      );
    });
  }

  it('openStore refuses /proc/self at once instead of spinning', () => {
    assert.throws(() => openStore('/proc/self'), { code: 'STORE_ROOT_INVALID' });
  });
});

function writeFileIn(dir: string, name: string): string {
  writeFileSync(join(dir, name), 'x');
  return join(dir, name);
}

function linkIn(dir: string, name: string, target: string): string {
  symlinkSync(target, join(dir, name));
  return join(dir, name);
}
