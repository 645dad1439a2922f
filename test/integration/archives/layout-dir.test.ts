/**
 * OCI layout directories through the CLI: `kiln image save --format oci-dir -o DIR` writes a
 * layout that umoci (an independent tool) unpacks, and `kiln image load -i DIR` reads it back
 * into another store with the same digest and name.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';
import { type BusyboxImages, ensureBusyboxImages } from '../../../src/testing/fixtures.ts';

const KILN = join(import.meta.dirname, '../../../bin/kiln');
const kiln = (root: string, args: string[]) =>
  execFileSync(KILN, ['--root', root, ...args], { encoding: 'utf8' });

describe('OCI layout directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-layout-dir-'));
  let bb: BusyboxImages;
  before(async () => {
    execFileSync('umoci', ['--version']);
    const store = openStore(join(dir, 'a'));
    try {
      bb = await ensureBusyboxImages(store);
    } finally {
      store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('save --format oci-dir writes a layout umoci unpacks, and load -i DIR reads it back', () => {
    const layout = join(dir, 'layout');
    kiln(join(dir, 'a'), ['image', 'save', '--format', 'oci-dir', '-o', layout, 'kiln-test/busybox:amd64']);
    const bundle = join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:amd64`, bundle], { stdio: 'pipe' });
    assert.ok(existsSync(join(bundle, 'rootfs', 'bin', 'busybox')), 'umoci unpacked the busybox binary');
    assert.ok(existsSync(join(bundle, 'rootfs', 'etc', 'passwd')));

    assert.match(
      kiln(join(dir, 'b'), ['image', 'load', '-i', layout]),
      /Loaded image: kiln-test\/busybox:amd64/,
    );
    const inspected = JSON.parse(kiln(join(dir, 'b'), ['image', 'inspect', 'kiln-test/busybox:amd64']));
    assert.equal(inspected[0].Descriptor.digest, bb.manifests.amd64.digest);
  });
});
