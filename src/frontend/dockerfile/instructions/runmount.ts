/**
 * `RUN --mount`, `--network`, `--security` and `--device` values (BuildKit
 * commands_runmount.go / _runnetwork / _runsecurity / _rundevice), parsed into typed values with
 * BuildKit's defaults and error messages.
 */
import { suggest } from './suggest.ts';
import type {
  CacheSharing,
  DeviceSpec,
  Mount,
  MountType,
  NetworkMode,
  SecurityMode,
  WordExpander,
} from './types.ts';

/** A bad --mount/--network/--security/--device value (the instruction layer adds the location). */
export class RunFlagError extends Error {}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type',
  'from',
  'source',
  'target',
  'readonly',
  'id',
  'sharing',
  'required',
  'mode',
  'uid',
  'gid',
  'src',
  'dst',
  'ro',
  'rw',
  'readwrite',
  'env',
];

/** Go encoding/csv, one record: `,`-separated, `"`-quoted fields with `""` escapes. */
export function parseCsvRecord(s: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length)
          throw new RunFlagError('failed to parse csv mounts: extraneous or missing " in quoted-field');
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') {
        throw new RunFlagError('failed to parse csv mounts: extraneous or missing " in quoted-field');
      }
    } else {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"') throw new RunFlagError('failed to parse csv mounts: bare " in non-quoted-field');
        field += s[i++];
      }
    }
    fields.push(field);
    if (i >= s.length) return fields;
    i++; // comma
  }
}

/** Go strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** docker/go-units RAMInBytes: `64m`, `1.5g`, `512kb` (binary multiples). */
export function ramInBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) return undefined;
  const n = Number.parseFloat(m[1]!);
  if (!Number.isFinite(n)) return undefined;
  const pow = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.trunc(n * 1024 ** pow);
}

function parseUint(v: string, radix: 8 | 10): number | undefined {
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(v)) return undefined;
  const n = Number.parseInt(v, radix);
  return n <= 0xffffffff ? n : undefined;
}

const basename = (p: string) => {
  const parts = p.replace(/\/+$/, '').split('/');
  const b = parts[parts.length - 1] ?? '';
  return b === '' ? (p.startsWith('/') ? '/' : '.') : b;
};

/**
 * Parse one `--mount` value. `expand` is applied to every value (BuildKit expands them at dispatch
 * time); `sshIndex` numbers ssh mounts for their default target.
 */
export function parseMount(spec: string, expand: WordExpander = (w) => w, sshIndex = 0): Mount {
  const fields = parseCsvRecord(spec);
  let type: MountType = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target = '';
  let readOnly = false;
  let roAuto = true;
  let required = false;
  let size: number | undefined;
  let id = '';
  let sharing: CacheSharing | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let env: string | undefined;

  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      switch (key) {
        case 'readonly':
        case 'ro':
          readOnly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          readOnly = false;
          roAuto = false;
          continue;
        case 'required':
          if (type === 'secret' || type === 'ssh') {
            required = true;
            continue;
          }
          throw new RunFlagError(`unexpected key '${key}' for mount type '${type}'`);
        default:
          throw new RunFlagError(`invalid field '${field}' must be a key=value pair`);
      }
    }
    const raw = field.slice(eq + 1);
    if (key === 'from' && /\$./su.test(raw)) {
      throw new RunFlagError(`'${key}' doesn't support variable expansion, define alias stage instead`);
    }
    const value = expand(raw);
    switch (key) {
      case 'type': {
        const v = value.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(v)) {
          throw new RunFlagError(suggest(`unsupported mount type "${value}"`, value, MOUNT_TYPES, true));
        }
        type = v;
        break;
      }
      case 'from':
        from = value;
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'readonly':
      case 'ro':
      case 'readwrite':
      case 'rw': {
        const b = parseGoBool(value);
        if (b === undefined) throw new RunFlagError(`invalid value for ${key}: ${value}`);
        readOnly = key === 'readonly' || key === 'ro' ? b : !b;
        roAuto = false;
        break;
      }
      case 'required': {
        if (type !== 'secret' && type !== 'ssh') {
          throw new RunFlagError(`unexpected key '${key}' for mount type '${type}'`);
        }
        const b = parseGoBool(value);
        if (b === undefined) throw new RunFlagError(`invalid value for ${key}: ${value}`);
        required = b;
        break;
      }
      case 'size':
        if (type !== 'tmpfs') throw new RunFlagError(`unexpected key '${key}' for mount type '${type}'`);
        size = ramInBytes(value);
        if (size === undefined) throw new RunFlagError(`invalid value for ${key}: ${value}`);
        break;
      case 'id':
        id = value;
        break;
      case 'sharing': {
        const v = value.toLowerCase() as CacheSharing;
        if (!SHARING.includes(v)) {
          throw new RunFlagError(suggest(`unsupported sharing value "${value}"`, value, SHARING, true));
        }
        sharing = v;
        break;
      }
      case 'mode':
        mode = parseUint(value, 8);
        if (mode === undefined) throw new RunFlagError(`invalid value ${value} for mode`);
        break;
      case 'uid':
        uid = parseUint(value, 10);
        if (uid === undefined) throw new RunFlagError(`invalid value ${value} for uid`);
        break;
      case 'gid':
        gid = parseUint(value, 10);
        if (gid === undefined) throw new RunFlagError(`invalid value ${value} for gid`);
        break;
      case 'env':
        if (type !== 'secret') throw new RunFlagError(`unexpected key '${key}' for mount type '${type}'`);
        env = value;
        break;
      default:
        throw new RunFlagError(suggest(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS, true));
    }
  }

  // validateMount
  const fileInfoAllowed = type === 'secret' || type === 'ssh' || type === 'cache';
  if (!fileInfoAllowed) {
    if (mode !== undefined) throw new RunFlagError(`mode not allowed for "${type}" type mounts`);
    if (uid !== undefined) throw new RunFlagError(`uid not allowed for "${type}" type mounts`);
    if (gid !== undefined) throw new RunFlagError(`gid not allowed for "${type}" type mounts`);
  }
  if (roAuto) readOnly = !(type === 'cache' || type === 'tmpfs');
  if (type === 'secret') {
    if (from !== undefined && from !== '') throw new RunFlagError('secret mount should not have a from');
    if (sharing !== undefined) throw new RunFlagError('secret mount should not define sharing');
    if (!source && !target && !id && !env) {
      throw new RunFlagError('invalid secret mount. one of source, target required');
    }
    if (source && id) throw new RunFlagError("both source and id can't be set");
  }
  if (sharing !== undefined && type !== 'cache')
    throw new RunFlagError(`invalid cache sharing set for ${type} mount`);

  switch (type) {
    case 'bind':
      return { type, target, readOnly, source, from };
    case 'cache':
      return {
        type,
        target,
        readOnly,
        id: id || target,
        sharing: sharing ?? 'shared',
        from,
        source,
        mode,
        uid,
        gid,
      };
    case 'tmpfs':
      return { type, target, readOnly, size };
    case 'secret': {
      const sid = source || id || basename(target);
      const starget = target || (env !== undefined && !id && !source ? '' : `/run/secrets/${basename(sid)}`);
      return {
        type,
        id: sid,
        target: starget,
        readOnly,
        env,
        required,
        mode: mode ?? 0o400,
        uid: uid ?? 0,
        gid: gid ?? 0,
      };
    }
    case 'ssh':
      return {
        type,
        id: id || source || 'default',
        target: target || `/run/buildkit/ssh_agent.${sshIndex}`,
        readOnly,
        required,
        mode: mode ?? 0o600,
        uid: uid ?? 0,
        gid: gid ?? 0,
      };
  }
}

/** Parse all `--mount` values of one RUN, numbering ssh mounts. */
export function parseMounts(specs: readonly string[], expand?: WordExpander): Mount[] {
  let ssh = 0;
  return specs.map((s) => {
    const m = parseMount(s, expand, ssh);
    if (m.type === 'ssh') ssh++;
    return m;
  });
}

export function parseNetwork(v: string): NetworkMode {
  if (v === 'default' || v === 'none' || v === 'host') return v;
  throw new RunFlagError(suggest(`unsupported network mode "${v}"`, v, ['default', 'none', 'host'], true));
}

export function parseSecurity(v: string): SecurityMode {
  if (v === 'sandbox' || v === 'insecure') return v;
  throw new RunFlagError(suggest(`unsupported security mode "${v}"`, v, ['sandbox', 'insecure'], true));
}

/** `--device=name[,required[=bool]]` or `name=...`. */
export function parseDevice(v: string): DeviceSpec {
  const fields = parseCsvRecord(v);
  let name = '';
  let required = false;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (key === 'name' && eq >= 0) {
      if (name !== '') throw new RunFlagError(`device name already set to ${name}`);
      name = value;
    } else if (key === 'required') {
      if (eq < 0) required = true;
      else {
        const b = parseGoBool(value);
        if (b === undefined) throw new RunFlagError(`invalid value for required: ${value}`);
        required = b;
      }
    } else {
      if (name !== '') throw new RunFlagError(`device name already set to ${name}`);
      name = field;
    }
  }
  if (name === '') throw new RunFlagError(`invalid device: ${v}`);
  return { name, required };
}
