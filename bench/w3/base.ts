/**
 * W3's base image: Debian bookworm made from Debian's packages by `mmdebstrap --variant=minbase`
 * (with bookworm-updates and bookworm-security in its sources, as Debian's own images have, and
 * image/base.sh's path excludes for docs, man pages and locales), cached as a rootfs tarball under
 * /var/tmp/kiln-bench-cache/w3 keyed by the UTC day, so a second run the same day does not run
 * mmdebstrap again. The bench imports it with kiln and pushes it to its local registry once per
 * run; every builder pulls it from there.
 *
 * A machine whose egress intercepts TLS (this one: its CA is in /usr/local/share/ca-certificates)
 * needs its CA inside the builds, as a company's base image carries the company's: those .crt
 * files go into the base's /usr/local/share/ca-certificates (update-ca-certificates picks them up
 * when the Dockerfile installs ca-certificates) and, concatenated, into /usr/local/share/host-extra-ca.pem
 * with NODE_EXTRA_CA_CERTS pointing at it (npm uses Node's CA list). The cache key includes their
 * hash. On a machine without such CAs the base is plain minbase.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall, KILN } from '../../test/fidelity/builders.ts';
import { untimed } from '../measure.ts';

export const CACHE_DIR = '/var/tmp/kiln-bench-cache/w3';
const SOURCES = [
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
];

const HOST_CAS = '/usr/local/share/ca-certificates';
const EXTRA_CA = '/usr/local/share/host-extra-ca.pem';

function hostCas(): string[] {
  try {
    return readdirSync(HOST_CAS)
      .filter((f) => f.endsWith('.crt'))
      .sort()
      .map((f) => join(HOST_CAS, f));
  } catch {
    return [];
  }
}

export interface Base {
  tar: string;
  /** `kiln image import --change` instructions for the image config. */
  changes: string[];
}

/** The cached rootfs tarball for today (UTC), made when missing; older days' tarballs are removed. */
export function baseTarball(): Base {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const cas = hostCas();
  const hash = createHash('sha256');
  for (const f of cas) hash.update(readFileSync(f));
  const key = cas.length ? hash.digest('hex').slice(0, 8) : 'noca';
  const tar = join(CACHE_DIR, `debian-bookworm-minbase-${day}-${key}.tar`);
  const base = { tar, changes: cas.length ? [`ENV NODE_EXTRA_CA_CERTS=${EXTRA_CA}`] : [] };
  if (existsSync(tar)) return base;
  mkdirSync(CACHE_DIR, { recursive: true });
  if (!existsSync('/usr/bin/mmdebstrap')) aptInstall(['mmdebstrap']);
  console.log(`W3 base: mmdebstrap --variant=minbase bookworm -> ${tar} ...`);
  const t0 = Date.now();
  untimed('mmdebstrap', [
    '--variant=minbase',
    '--format=tar',
    '--quiet',
    '--aptopt=Acquire::Languages "none"',
    '--dpkgopt=path-exclude=/usr/share/man/*',
    '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    '--dpkgopt=path-exclude=/usr/share/locale/*',
    ...(cas.length
      ? [
          `--customize-hook=mkdir -p "$1${HOST_CAS}" && cp ${cas.map((f) => `'${f}'`).join(' ')} "$1${HOST_CAS}/" && cat ${cas.map((f) => `'${f}'`).join(' ')} > "$1${EXTRA_CA}"`,
        ]
      : []),
    'bookworm',
    `${tar}.tmp`,
    ...SOURCES,
  ]);
  renameSync(`${tar}.tmp`, tar);
  for (const f of readdirSync(CACHE_DIR))
    if (f.startsWith('debian-bookworm-minbase-') && join(CACHE_DIR, f) !== tar) rmSync(join(CACHE_DIR, f));
  console.log(`W3 base: made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return base;
}

/** Import the tarball with kiln (a throwaway root) and push it to `registryHost`; returns the reference. */
export function pushBase(base: Base, registryHost: string, scratch: string): string {
  const ref = `${registryHost}/w3/debian:bookworm`;
  const root = mkdtempSync(join(scratch, 'kiln-base-root-'));
  try {
    untimed(KILN, [
      '--root',
      root,
      'image',
      'import',
      ...base.changes.flatMap((c) => ['--change', c]),
      base.tar,
      ref,
    ]);
    untimed(KILN, ['--root', root, 'push', '-q', ref]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return ref;
}
