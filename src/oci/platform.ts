/**
 * Platforms (`os/arch[/variant]`): parsing, normalization and matching with containerd's rules,
 * e.g. `linux/aarch64` = `linux/arm64` = `linux/arm64/v8`, and `linux/arm` means `linux/arm/v7`.
 */
import { KilnError } from '../errors/errors.ts';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

const KNOWN_OS = new Set([
  'linux',
  'windows',
  'darwin',
  'freebsd',
  'netbsd',
  'openbsd',
  'solaris',
  'illumos',
  'android',
  'aix',
  'plan9',
  'dragonfly',
  'ios',
  'js',
  'wasip1',
]);

/** Normalize an architecture and variant as containerd's `platforms.Normalize` does. */
export function normalizeArch(arch: string, variant = ''): { architecture: string; variant: string } {
  const a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
    case 'i686':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? '' : v };
    case 'aarch64':
    case 'arm64':
      if (v === '8' || v === 'v8') v = '';
      return { architecture: 'arm64', variant: v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: p.os.toLowerCase(), architecture };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']) out['os.features'] = p['os.features'];
  return out;
}

/** The platform this process runs on. */
export function hostPlatform(): Platform {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  const arch = map[process.arch] ?? process.arch;
  return normalizePlatform({
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: arch,
  });
}

/**
 * Parse `os/arch[/variant]`, `arch` alone (linux assumed, as docker does) or `local`.
 * Throws INVALID_PLATFORM with the text and a hint.
 */
export function parsePlatform(spec: string): Platform {
  const s = spec.trim();
  if (s === 'local') return hostPlatform();
  const parts = s.split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new KilnError('INVALID_PLATFORM', `invalid platform "${spec}"`, {
      hint: 'write a platform as os/arch[/variant], e.g. linux/amd64 or linux/arm/v7',
    });
  }
  if (parts.length === 1) {
    if (KNOWN_OS.has(parts[0].toLowerCase()))
      return normalizePlatform({ os: parts[0], architecture: hostPlatform().architecture });
    return normalizePlatform({ os: 'linux', architecture: parts[0] });
  }
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

/** `os/arch[/variant]` of a platform, normalized. */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

/** True when `have` (e.g. an index entry) satisfies `want` after normalization. */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  // An unspecified wanted variant accepts any; arm defaults are already filled in by normalization.
  return !w.variant || w.variant === (h.variant ?? '');
}

/** Pick the best entry for `want` from candidates (exact variant first, then any compatible). */
export function selectPlatform<T extends { platform?: Platform }>(
  want: Platform,
  candidates: T[],
): T | undefined {
  const w = normalizePlatform(want);
  const exact = candidates.find((c) => c.platform && formatPlatform(c.platform) === formatPlatform(w));
  return exact ?? candidates.find((c) => platformMatches(w, c.platform));
}

/** The values of BuildKit's automatic platform build args for a platform. */
export function platformArgs(prefix: 'TARGET' | 'BUILD', p: Platform): Record<string, string> {
  const n = normalizePlatform(p);
  return {
    [`${prefix}PLATFORM`]: formatPlatform(n),
    [`${prefix}OS`]: n.os,
    [`${prefix}ARCH`]: n.architecture,
    [`${prefix}VARIANT`]: n.variant ?? '',
  };
}
