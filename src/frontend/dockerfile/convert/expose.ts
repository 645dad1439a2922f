/**
 * EXPOSE port specs (`[ip:]hostPort[-end]:containerPort[-end][/proto]`) to `port/proto` keys, as
 * BuildKit's convert_expose.go (after docker/go-connections nat.ParsePortSpecs) does.
 */
import { isIP } from 'node:net';
import { KilnError } from '../../../errors/errors.ts';

function portError(spec: string, why: string): KilnError {
  return new KilnError('DOCKERFILE_INVALID_PORT', `invalid port: "${spec}": ${why}`, {
    hint: 'write a port as 80, 80/udp, 8000-8010/tcp or [ip:]hostPort:containerPort[/proto]',
  });
}

function parseRange(spec: string, r: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(r);
  if (!m) throw portError(spec, `invalid port range "${r}"`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) throw portError(spec, `invalid port range "${r}"`);
  return [start, end];
}

/** Split off `ip:hostPort:` the way nat.ParsePortSpec does (IPv6 with or without brackets). */
function splitSpec(spec: string): { ip: string; container: string } {
  const raw = spec;
  let ip = '';
  let rest = raw;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) throw portError(spec, 'unbalanced brackets');
    ip = raw.slice(1, close);
    rest = raw.slice(close + 1);
    if (rest.startsWith(':')) rest = rest.slice(1);
    const i = rest.indexOf(':');
    return { ip, container: i >= 0 ? rest.slice(i + 1) : rest };
  }
  const parts = raw.split(':');
  if (parts.length === 1) return { ip: '', container: parts[0] };
  if (parts.length === 2) return { ip: '', container: parts[1] };
  // ip:host:container, where ip may itself contain colons (bare IPv6).
  const container = parts[parts.length - 1];
  ip = parts.slice(0, parts.length - 2).join(':');
  return { ip, container };
}

/** One spec → its `port/proto` keys, in order. */
export function parsePort(spec: string): string[] {
  const { ip, container } = splitSpec(spec);
  if (ip !== '' && isIP(ip) === 0) throw portError(spec, `invalid IP address "${ip}"`);
  const slash = container.indexOf('/');
  const portPart = slash >= 0 ? container.slice(0, slash) : container;
  const proto = slash >= 0 ? container.slice(slash + 1).toLowerCase() || 'tcp' : 'tcp';
  if (portPart === '') throw portError(spec, 'no port specified');
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp')
    throw portError(spec, `invalid proto: ${container.slice(slash + 1)}`);
  const [start, end] = parseRange(spec, portPart);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/** Many specs → the `port/proto` keys, in order (BuildKit keeps duplicates; the config map merges them). */
export function parsePorts(specs: readonly string[]): string[] {
  return specs.flatMap((s) => parsePort(s));
}

/** BuildKit's EXPOSE lint checks: upper-case protocols and IP / host-port parts. */
export function exposeLint(spec: string): { rule: string; message: string }[] {
  const out: { rule: string; message: string }[] = [];
  const { ip, container } = splitSpec(spec);
  const proto = container.includes('/') ? container.slice(container.indexOf('/') + 1) : '';
  if (proto !== proto.toLowerCase()) {
    out.push({
      rule: 'ExposeProtoCasing',
      message: `Defined protocol '${spec}' in EXPOSE instruction should be lowercase`,
    });
  }
  if (ip !== '' || spec.replace(/^\[[^\]]*\]/, '').includes(':')) {
    out.push({
      rule: 'ExposeInvalidFormat',
      message: `EXPOSE instruction should not define an IP address or host-port mapping, found '${spec}'`,
    });
  }
  return out;
}
