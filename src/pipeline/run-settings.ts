/**
 * `--add-host`, `--shm-size`, `--ulimit` and `--cgroup-parent` as `docker buildx build` reads
 * them, and the check of the library's options that become every RUN's settings: `host-gateway`
 * resolved to the host's address, and any bad value a KilnError naming the flag and the value.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { KilnError } from '../errors/errors.ts';
import { type ExtraHost, ULIMIT_NAMES, type Ulimit } from '../executor/executor.ts';
import type { RunSettings } from '../frontend/dockerfile/convert/types.ts';
import type { BuildOptions } from './options.ts';

/** The `--add-host` address that stands for the host (Docker's name for it). */
export const HOST_GATEWAY = 'host-gateway';

function invalid(flag: string, value: string, why: string, hint: string): KilnError {
  return new KilnError('INVALID_FLAG', `invalid ${flag} "${value}": ${why}`, { hint });
}

const ADD_HOST_HINT = 'use --add-host NAME:IP or NAME=IP (IP an IPv4 or IPv6 address, or host-gateway)';

/**
 * `--add-host host:ip` or `host=ip`, several separated by commas as buildx's string-slice flag
 * splits them; an IPv6 address may be written in brackets (`host=[::1]`).
 */
export function parseAddHost(text: string): ExtraHost[] {
  return text.split(',').map((entry) => {
    // `=` first: `host:ip` splits at the first colon, so `h:::1` is h and ::1.
    let sep = entry.indexOf('=');
    if (sep < 0) sep = entry.indexOf(':');
    const host = sep < 0 ? '' : entry.slice(0, sep);
    let ip = sep < 0 ? '' : entry.slice(sep + 1);
    if (!host || !ip) throw invalid('--add-host', entry, 'expected NAME:IP or NAME=IP', ADD_HOST_HINT);
    if (ip.length > 2 && ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
    return checkHost({ host, ip }, entry);
  });
}

function checkHost(h: ExtraHost, text = `${h.host}=${h.ip}`): ExtraHost {
  // A name becomes one field of an /etc/hosts line: blanks, '#' or a line break would make it
  // other fields, a comment or another line.
  if (!h.host || /[\s#\p{Cc}]/u.test(h.host))
    throw invalid('--add-host', text, `"${h.host}" is not a host name`, ADD_HOST_HINT);
  if (h.ip !== HOST_GATEWAY && isIP(h.ip) === 0)
    throw invalid('--add-host', text, `"${h.ip}" is not an IP address`, ADD_HOST_HINT);
  return { host: h.host, ip: h.ip };
}

/**
 * What `host-gateway` stands for: the host's first IPv4 address that is not loopback. Docker
 * maps it to its bridge's gateway; kiln's RUN steps reach the host through slirp4netns, which
 * keeps them off the host's loopback, so this is the address they reach it at (podman's choice
 * for host.containers.internal too).
 */
export function hostGatewayAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new KilnError(
    'HOST_GATEWAY_UNKNOWN',
    `--add-host …:${HOST_GATEWAY}: this host has no IPv4 address but loopback`,
    {
      hint: 'give the address instead of host-gateway',
    },
  );
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** `--shm-size`: bytes, or a number with a binary unit (`64m`, `2g`, `1.5GiB`), as docker's RAMInBytes. */
export function parseShmSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]) : Number.NaN;
  if (!Number.isSafeInteger(bytes))
    throw invalid('--shm-size', text, 'not a size', 'give bytes or a size with a unit: 64m, 2g, 1073741824');
  return bytes;
}

const ULIMIT_HINT = `use --ulimit TYPE=SOFT[:HARD] (TYPE one of ${ULIMIT_NAMES.join(', ')}; -1 for unlimited)`;

/** `--ulimit type=soft[:hard]` (docker's go-units syntax; no hard means hard = soft). */
export function parseUlimit(text: string): Ulimit {
  const eq = text.indexOf('=');
  if (eq < 0) throw invalid('--ulimit', text, 'expected TYPE=SOFT[:HARD]', ULIMIT_HINT);
  const values = text.slice(eq + 1).split(':');
  if (values.length > 2) throw invalid('--ulimit', text, 'more than SOFT:HARD', ULIMIT_HINT);
  const num = (v: string) => (/^-?\d+$/.test(v) ? Number(v) : Number.NaN);
  const soft = num(values[0]);
  return checkUlimit(
    { name: text.slice(0, eq), soft, hard: values.length === 2 ? num(values[1]) : soft },
    text,
  );
}

function checkUlimit(u: Ulimit, text = `${u.name}=${u.soft}:${u.hard}`): Ulimit {
  if (!(ULIMIT_NAMES as readonly string[]).includes(u.name))
    throw invalid('--ulimit', text, `unknown type "${u.name}"`, ULIMIT_HINT);
  for (const v of [u.soft, u.hard]) {
    if (!Number.isSafeInteger(v) || v < -1)
      throw invalid('--ulimit', text, 'a limit must be a whole number of at least 0, or -1', ULIMIT_HINT);
  }
  if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard))
    throw invalid('--ulimit', text, 'the soft limit is above the hard limit', ULIMIT_HINT);
  return { name: u.name, soft: u.soft, hard: u.hard };
}

/** `--cgroup-parent`: a cgroup path (kiln's runc manages cgroups as directories, not systemd units). */
export function checkCgroupParent(parent: string): string {
  const hint = 'give a cgroup path such as build or /ci/builds (created when missing)';
  if (/[\p{Cc}]/u.test(parent) || parent.split('/').some((c) => c === '.' || c === '..'))
    throw invalid('--cgroup-parent', parent, 'not a cgroup path', hint);
  if (/\.slice:/.test(parent))
    throw invalid(
      '--cgroup-parent',
      parent,
      "systemd's slice:prefix:name form needs the systemd cgroup driver",
      hint,
    );
  return parent;
}

type RunOptions = Pick<BuildOptions, 'extraHosts' | 'shmSize' | 'ulimits' | 'cgroupParent'>;

/** The build's RUN settings, checked; `host-gateway` becomes an address (which enters the cache key, as in buildx). */
export function runSettings(opts: RunOptions, gateway: () => string = hostGatewayAddress): RunSettings {
  const out: RunSettings = {};
  if (opts.extraHosts?.length)
    out.extraHosts = opts.extraHosts.map((h) => {
      const c = checkHost(h);
      return c.ip === HOST_GATEWAY ? { host: c.host, ip: gateway() } : c;
    });
  if (opts.shmSize !== undefined) {
    if (!Number.isSafeInteger(opts.shmSize) || opts.shmSize < 0)
      throw invalid(
        '--shm-size',
        String(opts.shmSize),
        'not a size in bytes',
        'give a whole number of bytes',
      );
    if (opts.shmSize > 0) out.shmSize = opts.shmSize;
  }
  if (opts.ulimits?.length) out.ulimits = opts.ulimits.map((u) => checkUlimit(u));
  if (opts.cgroupParent) out.cgroupParent = checkCgroupParent(opts.cgroupParent);
  return out;
}
