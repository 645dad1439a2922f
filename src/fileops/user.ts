/**
 * `--chown user[:group]` resolution against the destination rootfs's /etc/passwd and
 * /etc/group (read through root-confined resolution), as BuildKit's file ops do: a numeric
 * user without a group uses the same number as gid; a named user defaults to its primary group.
 */
import { readFileSync } from 'node:fs';
import { resolveInRoot } from '../context/resolve.ts';
import { KilnError } from '../errors/errors.ts';

export interface ChownSpec {
  user: string;
  group?: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

const NUMERIC = /^[0-9]+$/;

function readDbFile(root: string, file: string): string[][] {
  const r = resolveInRoot(root, file, true);
  if (!r.exists) return [];
  try {
    return readFileSync(r.abs, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function parseId(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
    throw new KilnError('CHOWN_INVALID', `invalid ${what} id "${s}"`, {
      hint: 'ids are integers from 0 to 4294967295',
    });
  }
  return n;
}

/** Parse `user[:group]` as written on the command line. */
export function parseChown(s: string): ChownSpec {
  const i = s.indexOf(':');
  if (s === '' || i === 0)
    throw new KilnError('CHOWN_INVALID', `invalid --chown value "${s}"`, {
      hint: 'use user, user:group, uid or uid:gid',
    });
  return i < 0 ? { user: s } : { user: s.slice(0, i), group: s.slice(i + 1) || undefined };
}

/** Resolve a ChownSpec to numeric ids using the destination root's user and group databases. */
export function resolveChown(destRoot: string, spec: ChownSpec): Owner {
  let uid: number;
  let gid: number;
  if (NUMERIC.test(spec.user)) {
    uid = parseId(spec.user, 'user');
    gid = uid;
  } else {
    const entry = readDbFile(destRoot, '/etc/passwd').find((f) => f[0] === spec.user);
    if (!entry || entry.length < 4) {
      throw new KilnError(
        'CHOWN_UNKNOWN_USER',
        `unable to find user ${spec.user}: no matching entries in /etc/passwd of the destination`,
        {
          hint: 'create the user in an earlier step (e.g. RUN useradd) or use a numeric uid',
        },
      );
    }
    uid = parseId(entry[2], 'user');
    gid = parseId(entry[3], 'group');
  }
  if (spec.group !== undefined && spec.group !== '') {
    if (NUMERIC.test(spec.group)) gid = parseId(spec.group, 'group');
    else {
      const entry = readDbFile(destRoot, '/etc/group').find((f) => f[0] === spec.group);
      if (!entry || entry.length < 3) {
        throw new KilnError(
          'CHOWN_UNKNOWN_GROUP',
          `unable to find group ${spec.group}: no matching entries in /etc/group of the destination`,
          {
            hint: 'create the group in an earlier step or use a numeric gid',
          },
        );
      }
      gid = parseId(entry[2], 'group');
    }
  }
  return { uid, gid };
}
