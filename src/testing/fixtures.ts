/**
 * Test fixtures: busybox rootfs tarballs for amd64 and arm64 built from the Debian busybox-static
 * binaries scripts/setup.sh installs in /var/cache/kiln-fixtures, and the images made from them
 * (`kiln-test/busybox:{amd64,arm64}` and the multi-platform index `kiln-test/busybox:latest`).
 * Everything is deterministic (fixed mtimes and created times), so digests are stable.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { KilnError } from '../errors/errors.ts';
import { importRootfs } from '../imagestore/import.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest, type Index } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { normalizeReference } from '../reference/reference.ts';
import { openStore, type Store } from '../store/store.ts';
import { tarBytes } from './tar.ts';

export type FixtureArch = 'amd64' | 'arm64';

export const FIXTURES_DIR = '/var/cache/kiln-fixtures';
export const BUSYBOX_IMAGE = 'kiln-test/busybox:latest';
/** Every fixture file's mtime and every fixture image's created time: 2024-01-01T00:00:00Z. */
export const FIXTURE_EPOCH = 1704067200;

export function busyboxBinaryPath(arch: FixtureArch): string {
  return `${FIXTURES_DIR}/busybox-${arch}`;
}

function readBinary(arch: FixtureArch): Buffer {
  try {
    return readFileSync(busyboxBinaryPath(arch));
  } catch (cause) {
    throw new KilnError('FIXTURE_MISSING', `busybox fixture ${busyboxBinaryPath(arch)} is missing`, {
      cause,
      hint: 'run: sudo bash scripts/setup.sh',
    });
  }
}

let applets: string[] | undefined;
/** Applet install paths (e.g. `usr/bin/awk`), from the amd64 binary's `--list-full`. */
export function busyboxApplets(): string[] {
  if (!applets) {
    const out = execFileSync(busyboxBinaryPath('amd64'), ['--list-full'], { encoding: 'utf8' });
    applets = out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && l !== 'bin/busybox' && l.includes('/'))
      .sort();
  }
  return applets;
}

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n';

/**
 * A rootfs tarball: /bin/busybox, a symlink per applet, /etc/passwd and /etc/group (root, app
 * uid 1000, nobody), /tmp (1777), /root, /home/app (owned by app), and empty dev/proc/sys.
 */
export async function busyboxRootfsTar(arch: FixtureArch): Promise<Buffer> {
  const binary = readBinary(arch);
  const links = busyboxApplets();
  const dirs = new Set([
    'bin',
    'sbin',
    'usr',
    'usr/bin',
    'usr/sbin',
    'etc',
    'dev',
    'proc',
    'sys',
    'var',
    'root',
    'home',
  ]);
  for (const l of links) {
    const parts = l.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const mtime = FIXTURE_EPOCH;
  return tarBytes(async (tar) => {
    for (const d of [...dirs].sort())
      await tar.add({ path: `${d}/`, type: 'directory', mode: d === 'root' ? 0o700 : 0o755, mtime });
    await tar.add({ path: 'tmp/', type: 'directory', mode: 0o1777, mtime });
    await tar.add({ path: 'home/app/', type: 'directory', mode: 0o755, uid: 1000, gid: 1000, mtime });
    await tar.add({ path: 'bin/busybox', type: 'file', mode: 0o755, mtime }, binary);
    await tar.add({ path: 'etc/passwd', type: 'file', mode: 0o644, mtime }, Buffer.from(PASSWD));
    await tar.add({ path: 'etc/group', type: 'file', mode: 0o644, mtime }, Buffer.from(GROUP));
    for (const l of links)
      await tar.add({ path: l, type: 'symlink', linkname: '/bin/busybox', mode: 0o777, mtime });
  });
}

export interface BusyboxImages {
  /** The multi-platform index named kiln-test/busybox:latest. */
  index: Descriptor;
  /** Per-architecture manifests (with platform), also named kiln-test/busybox:<arch>. */
  manifests: Record<FixtureArch, Descriptor>;
  /** Index bytes (exactly what is stored), for pushing. */
  indexBytes: Buffer;
}

/** Import both busybox rootfs tarballs and the index into `store` (idempotent; same digests every time). */
export async function ensureBusyboxImages(store: Store): Promise<BusyboxImages> {
  return store.withLease(async (content) => {
    const manifests = {} as Record<FixtureArch, Descriptor>;
    for (const arch of ['amd64', 'arm64'] as const) {
      const tar = await busyboxRootfsTar(arch);
      const res = await importRootfs(Readable.from([tar]), content, store.images, {
        name: `kiln-test/busybox:${arch}`,
        platform: { os: 'linux', architecture: arch },
        changes: ['CMD ["sh"]', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        created: new Date(FIXTURE_EPOCH * 1000),
        sourceName: `busybox-${arch}.tar`,
      });
      manifests[arch] = { ...res.manifest, platform: { architecture: arch, os: 'linux' } };
    }
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [manifests.amd64, manifests.arm64],
    };
    const indexBytes = encodeManifest(index);
    const info = await content.writeBlob(indexBytes);
    const desc: Descriptor = { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size };
    await store.images.put(BUSYBOX_IMAGE, desc);
    return { index: desc, manifests, indexBytes };
  });
}

/** A state root at `root` (made if absent) whose store names busybox (amd64 + arm64) `name`. */
export async function seedBusybox(root: string, name = 'busybox:latest'): Promise<void> {
  const store = openStore(root);
  try {
    const { index } = await ensureBusyboxImages(store);
    await store.images.put(normalizeReference(name), index);
  } finally {
    store.close();
  }
}
