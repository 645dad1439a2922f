import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_LIMITS, scanPackages } from './packages.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function rootfs(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-attest-'));
  dirs.push(root);
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), data);
  }
  return root;
}

const names = (root: string) => scanPackages(root).map((p) => `${p.type}:${p.name}@${p.version}`);

describe('scanPackages', () => {
  it('reads Alpine apk, Python dist-info and npm lockfiles (v3 and v1)', () => {
    const root = rootfs({
      'lib/apk/db/installed': 'C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n',
      'usr/lib/python3/site-packages/requests-2.32.3.dist-info/METADATA':
        'Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n\nName: not-this\n',
      'srv/a/package-lock.json': JSON.stringify({
        lockfileVersion: 3,
        packages: { '': { name: 'app' }, 'node_modules/ms': { version: '2.1.3' } },
      }),
      'srv/b/package-lock.json': JSON.stringify({
        lockfileVersion: 1,
        dependencies: { debug: { version: '4.3.4' } },
      }),
    });
    assert.deepEqual(names(root), [
      'apk:busybox@1.36.1-r29',
      'apk:musl@1.2.5-r0',
      'npm:debug@4.3.4',
      'npm:ms@2.1.3',
      'pypi:requests@2.32.3',
    ]);
  });

  it('a package seen in a lockfile and in node_modules is listed once', () => {
    const root = rootfs({
      'app/package-lock.json': JSON.stringify({ packages: { 'node_modules/ms': { version: '2.1.3' } } }),
      'app/node_modules/ms/package.json': JSON.stringify({ name: 'ms', version: '2.1.3' }),
    });
    assert.deepEqual(names(root), ['npm:ms@2.1.3']);
  });

  it('never follows a symlink out of the root, nor reads a FIFO', () => {
    const host = rootfs({
      'node_modules/secret/package.json': JSON.stringify({ name: 'secret', version: '1' }),
    });
    const root = rootfs({ 'var/lib/dpkg/.keep': '' });
    symlinkSync(host, join(root, 'app'));
    symlinkSync(join(host, 'node_modules'), join(root, 'node_modules'));
    execFileSync('mkfifo', [join(root, 'var/lib/dpkg/status')]);
    assert.deepEqual(names(root), []);
  });

  it('a dpkg status symlinked to the host is read inside the root', () => {
    const host = rootfs({ status: 'Package: hostpkg\nStatus: install ok installed\nVersion: 1\n' });
    const root = rootfs({ 'var/lib/dpkg/.keep': '' });
    symlinkSync(join(host, 'status'), join(root, 'var/lib/dpkg/status'));
    assert.deepEqual(names(root), []);
  });

  it('stops at its bounds: an oversized manifest is skipped, a big tree is walked partly', () => {
    const root = rootfs({
      'node_modules/big/package.json': JSON.stringify({ name: 'big', version: '1', pad: 'x'.repeat(2048) }),
      'node_modules/small/package.json': JSON.stringify({ name: 'small', version: '1' }),
    });
    assert.deepEqual(
      scanPackages(root, { ...DEFAULT_LIMITS, maxFileBytes: 1024 }).map((p) => p.name),
      ['small'],
    );
    assert.deepEqual(scanPackages(root, { ...DEFAULT_LIMITS, maxEntries: 2 }), []);
  });
});
