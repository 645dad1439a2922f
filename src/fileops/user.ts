/**
 * `--chown user[:group]` resolution against the destination rootfs's /etc/passwd and
 * /etc/group (read through root-confined resolution), as BuildKit's file ops do: a numeric
 * user without a group uses the same number as gid; a named user defaults to its primary group.
 */
import { KilnError } from '../errors/errors.ts';
import { readGroup, readPasswd } from '../userdb/userdb.ts';

export interface ChownSpec {
  user: string;
  group?: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

const NUMERIC = /^[0-9]+$/;

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
    const entry = readPasswd(destRoot).find((e) => e.name === spec.user);
    if (!entry) {
      throw new KilnError(
        'CHOWN_UNKNOWN_USER',
        `unable to find user ${spec.user}: no matching entries in /etc/passwd of the destination`,
        {
          hint: 'create the user in an earlier step (e.g. RUN useradd) or use a numeric uid',
        },
      );
    }
    uid = parseId(String(entry.uid), 'user');
    gid = parseId(String(entry.gid), 'group');
  }
  if (spec.group !== undefined && spec.group !== '') {
    if (NUMERIC.test(spec.group)) gid = parseId(spec.group, 'group');
    else {
      const entry = readGroup(destRoot).find((e) => e.name === spec.group);
      if (!entry) {
        throw new KilnError(
          'CHOWN_UNKNOWN_GROUP',
          `unable to find group ${spec.group}: no matching entries in /etc/group of the destination`,
          {
            hint: 'create the group in an earlier step or use a numeric gid',
          },
        );
      }
      gid = parseId(String(entry.gid), 'group');
    }
  }
  return { uid, gid };
}
